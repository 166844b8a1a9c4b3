#!/bin/sh
# make-db.sh - build the test signature database for tests/test_av and bench/av.
#
# Usage: make-db.sh DIR [TESTFILES]
#
# Writes into DIR (created if needed):
#   rampart-test.ndb  a body signature for the EICAR test string (any file type,
#                     any offset), named Rampart.Test.EICAR
#   rampart-test.hdb  an MD5 hash signature of TESTFILES/clam.exe (from Debian's
#                     clamav-testfiles), made with sigtool --md5, named
#                     Rampart.Test.ClamExe
#   rampart-test.hsb  the same file as a SHA-256 signature (sigtool --sha256),
#                     named Rampart.Test.ClamExe256
# The .hdb and .hsb files are left out when TESTFILES/clam.exe is missing.
#
# The EICAR string is never stored whole in the source tree: it is put
# together here from two halves, so that no scanner flags the repository.
set -eu

dir=${1:?usage: make-db.sh DIR [TESTFILES]}
testfiles=${2:-/usr/share/clamav-testfiles}
mkdir -p "$dir"

half1='X5O!P%@AP[4\PZX54(P^)7CC)7}$'
half2='EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
hex=$(printf '%s%s' "$half1" "$half2" | od -An -v -tx1 | tr -d ' \n')
[ ${#hex} -eq 136 ] || { echo "make-db.sh: bad EICAR length" >&2; exit 1; }
printf 'Rampart.Test.EICAR:0:*:%s\n' "$hex" > "$dir/rampart-test.ndb.tmp"
mv "$dir/rampart-test.ndb.tmp" "$dir/rampart-test.ndb"

if [ -r "$testfiles/clam.exe" ]; then
    if command -v sigtool >/dev/null 2>&1; then
        md5=$(cd "$testfiles" && sigtool --md5 clam.exe)
        sha=$(cd "$testfiles" && sigtool --sha256 clam.exe)
    else
        # sigtool prints hash:size:name; the same from coreutils.
        size=$(wc -c < "$testfiles/clam.exe" | tr -d ' ')
        md5="$(md5sum < "$testfiles/clam.exe" | cut -d' ' -f1):$size:clam.exe"
        sha="$(sha256sum < "$testfiles/clam.exe" | cut -d' ' -f1):$size:clam.exe"
    fi
    printf '%s\n' "$md5" | sed 's/:[^:]*$/:Rampart.Test.ClamExe/' > "$dir/rampart-test.hdb.tmp"
    printf '%s\n' "$sha" | sed 's/:[^:]*$/:Rampart.Test.ClamExe256/' > "$dir/rampart-test.hsb.tmp"
    mv "$dir/rampart-test.hdb.tmp" "$dir/rampart-test.hdb"
    mv "$dir/rampart-test.hsb.tmp" "$dir/rampart-test.hsb"
else
    rm -f "$dir/rampart-test.hdb" "$dir/rampart-test.hsb"
fi
