# fuzz/common.sh - shared by fuzz/run-smoke and fuzz/run-long (sourced).
#
# fuzz_build builds the fuzzing tree: a second configure of the sources in
# $FUZZ_BUILDDIR with clang and -fsanitize=fuzzer-no-link,address,undefined,
# then lib/librampart.a and every harness (linked with -fsanitize=fuzzer).
# fuzz_run NAME SECONDS [ARGS...] runs one harness on its seeds plus a
# work corpus of its own (and fuzz/dict/NAME.dict if there is one),
# prints one line with its executions and result, and returns non-zero
# if it found something (the crashing input is kept in the work
# directory; the line says where).
#
# Environment: FUZZ_SRCDIR (default: this script's tree), FUZZ_BUILDDIR
# (default: ./fuzz/build), FUZZ_CC (clang), FUZZ_JOBS (make jobs),
# FUZZ_TIMEOUT (seconds per input, 10), FUZZ_RSS_MB (memory limit, 2048).

FUZZ_SRCDIR=${FUZZ_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
FUZZ_BUILDDIR=${FUZZ_BUILDDIR:-$PWD/fuzz/build}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
FUZZ_SAN_CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"

# Every harness, from the sources.
fuzz_names() {
    for f in "$FUZZ_SRCDIR"/fuzz/fuzz_*.c; do
        f=${f##*/fuzz_}
        echo "${f%.c}"
    done
}

# Configure (once) and build the library and the harnesses; output in build.log.
fuzz_build() {
    src=$FUZZ_SRCDIR
    mkdir -p "$FUZZ_BUILDDIR" || return 1
    FUZZ_BUILDDIR=$(cd "$FUZZ_BUILDDIR" && pwd)
    log=$FUZZ_BUILDDIR/build.log
    : >"$log"
    if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
        echo "fuzz: $FUZZ_CC not found (Debian packages: clang, libclang-rt-14-dev)" >&2
        return 1
    fi
    if [ -f "$src/config.status" ]; then
        # A source tree configured in place refuses a second build
        # directory: build from a copy of the distributed files.
        echo "fuzz: $src is configured in place; building from a copy" >>"$log"
        rm -rf "$FUZZ_BUILDDIR/src"
        make -C "$src" distdir distdir="$FUZZ_BUILDDIR/src" >>"$log" 2>&1 || { tail -20 "$log" >&2; return 1; }
        src=$FUZZ_BUILDDIR/src
    fi
    if [ ! -f "$FUZZ_BUILDDIR/Makefile" ]; then
        echo "fuzz: configuring $FUZZ_BUILDDIR with $FUZZ_CC and sanitizers" >&2
        (cd "$FUZZ_BUILDDIR" && "$src/configure" -q CC="$FUZZ_CC" CFLAGS="$FUZZ_SAN_CFLAGS" \
            --disable-werror --without-hiredis --without-microhttpd) >>"$log" 2>&1 \
            || { tail -30 "$log" >&2; rm -f "$FUZZ_BUILDDIR/Makefile"
                 echo "fuzz: configure failed (the sanitizer runtimes: libclang-rt-14-dev)" >&2; return 1; }
    fi
    progs=
    for n in $(fuzz_names); do
        progs="$progs fuzz/fuzz_$n"
    done
    echo "fuzz: building $FUZZ_BUILDDIR" >&2
    # The library is built without -Werror (clang warns about other things
    # than gcc does); the harnesses with it. A harness that does not build
    # is reported by fuzz_run; the others still run (no stale binaries).
    # shellcheck disable=SC2086
    (cd "$FUZZ_BUILDDIR" && rm -f $progs)
    if ! make -C "$FUZZ_BUILDDIR" -j"$FUZZ_JOBS" lib/librampart.a >>"$log" 2>&1; then
        grep -E 'error|Error' "$log" | head -20 >&2
        echo "fuzz: library build failed, see $log" >&2
        return 1
    fi
    # shellcheck disable=SC2086
    if ! make -k -C "$FUZZ_BUILDDIR" -j"$FUZZ_JOBS" FUZZ_LINK=-fsanitize=fuzzer FUZZ_WERROR=-Werror \
            $progs >>"$log" 2>&1; then
        grep -E 'error|Error' "$log" | head -20 >&2
        echo "fuzz: some harnesses did not build, see $log" >&2
    fi
    return 0
}

# Longest input libFuzzer makes for a harness (messages and bodies are bigger).
fuzz_max_len() {
    case $1 in
        uri) echo 65536 ;;
        msg|dkim) echo 16384 ;;
        config|spf|dmarc) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

# Run one harness for a number of seconds; one result line on stdout.
fuzz_run() {
    name=$1 secs=$2
    shift 2
    bin=$FUZZ_BUILDDIR/fuzz/fuzz_$name
    work=$FUZZ_BUILDDIR/work/$name
    seeds=$FUZZ_SRCDIR/fuzz/corpus/$name
    mkdir -p "$work/corpus" "$work/artifacts"
    [ -d "$seeds" ] || seeds=
    dict=$FUZZ_SRCDIR/fuzz/dict/$name.dict
    [ -f "$dict" ] || dict=
    log=$work/fuzz.log
    if [ ! -x "$bin" ]; then
        printf '%-10s %12s  FAIL (not built)\n' "$name" "-"
        return 1
    fi
    # The work corpus comes first: libFuzzer adds what it finds there, never to the seeds.
    rc=0
    RAMPART_FUZZ_PSL=${RAMPART_FUZZ_PSL:-$FUZZ_SRCDIR/tests/dmarc/public_suffix_list.dat} \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -max_total_time="$secs" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
        -max_len="$(fuzz_max_len "$name")" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        ${dict:+"-dict=$dict"} "$@" "$work/corpus" ${seeds:+"$seeds"} >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
    [ -n "$execs" ] || execs=0
    if [ "$rc" -eq 0 ]; then
        printf '%-10s %12s execs in %ss  ok\n' "$name" "$execs" "$secs"
        return 0
    fi
    printf '%-10s %12s execs  FAIL (exit %s)\n' "$name" "$execs" "$rc"
    grep -E 'ERROR: |SUMMARY: |invariant failed|runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
    echo "    log: $log"
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    [ -z "$artifact" ] || echo "    reproduce: $bin $artifact"
    return 1
}
