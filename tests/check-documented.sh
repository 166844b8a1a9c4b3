#!/bin/sh
# Every configuration parameter rampartd knows must be documented in
# man/rampart.conf.5 (as a .TP entry) and listed in conf/rampart.conf
# (set or commented out); and neither may document a parameter that does
# not exist. In the manual a parameter entry is ".TP" then ".B name".
set -u
src=${top_srcdir:-.}
bld=${top_builddir:-.}
rampartd=$bld/milter/rampartd
status=0
params=$("$rampartd" -d | sed 's/ = .*//')
documented=$(awk 'prev == ".TP" && $1 == ".B" && NF == 2 { print $2 } { prev = $0 }' "$src/man/rampart.conf.5")
[ -n "$params" ] || { echo "FAIL: rampartd -d printed nothing"; exit 1; }
for p in $params; do
    echo "$documented" | grep -qx "$p" ||
        { echo "FAIL: $p is not documented in man/rampart.conf.5"; status=1; }
    grep -Eq "^#?$p =" "$src/conf/rampart.conf" ||
        { echo "FAIL: $p is missing from conf/rampart.conf"; status=1; }
done
for p in $(echo "$documented" | sort -u); do
    echo "$params" | grep -qx "$p" ||
        { echo "FAIL: man/rampart.conf.5 documents unknown parameter $p"; status=1; }
done
for p in $(sed -n 's/^#\{0,1\}\([a-z0-9_]*\) =.*/\1/p' "$src/conf/rampart.conf" | sort -u); do
    echo "$params" | grep -qx "$p" ||
        { echo "FAIL: conf/rampart.conf lists unknown parameter $p"; status=1; }
done
# The sample file itself must load.
"$rampartd" -t -c "$src/conf/rampart.conf" >/dev/null || { echo "FAIL: conf/rampart.conf does not load"; status=1; }
n=$(echo "$params" | wc -l)
if [ $status -eq 0 ]; then echo "$n passed, 0 failed"; else echo "documentation check failed"; fi
exit $status
