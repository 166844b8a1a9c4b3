#!/bin/sh
# The manual pages render without warnings.
set -u
src=${top_srcdir:-.}
status=0
pass=0
for m in "$src"/man/*.[1-8]; do
    out=$(LC_ALL=C.UTF-8 groff -man -ww -z "$m" 2>&1)
    if [ -n "$out" ]; then
        echo "FAIL: $m"; echo "$out"; status=1
    else
        pass=$((pass + 1))
    fi
done
echo "$pass passed, $status failed"
exit $status
