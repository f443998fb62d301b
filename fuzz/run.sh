#!/bin/sh
# fuzz/run.sh -- builds the libFuzzer harnesses with clang and runs each one
# for FUZZ_SECONDS (default 30) over a scratch copy of its seed corpus,
# printing TAP:
#   ok N - fuzz <name>: <execs> execs, no crash
#   not ok N - fuzz <name>: ...   (the crashing input and log are kept)
# and a last line "N passed, N failed".  Without clang or libFuzzer every
# harness is reported as "ok N - # SKIP clang not found".
#
# Usage: sh fuzz/run.sh [HARNESS...]   (default: all; names as below)
#   FUZZ_SECONDS=0   only replays the seed corpus (a quick regression run)
#   CLANG=clang-18   the compiler to use
#   FUZZ_JOBS=2      parallel compiles of lib/*.c
#   FUZZ_KEEP=1      keep the scratch directory (corpus grown, logs)
#
# The seed corpora (fuzz/corpus/<name>/) are never written to; inputs the
# fuzzer finds go to the scratch directory.  A crash or failed oracle
# leaves its input there and prints the path: add it to the seed corpus
# as a regression case once fixed.
cd "$(dirname "$0")/.." || exit 2

CLANG=${CLANG:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
COMMON="-std=c11 -Wall -Wextra -g -O1 -fno-omit-frame-pointer \
-D_POSIX_C_SOURCE=200809L -pthread -fno-sanitize-recover=undefined -Ilib"
LIBFLAGS="$COMMON -fsanitize=fuzzer-no-link,address,undefined"
FLAGS="$COMMON -fsanitize=fuzzer,address,undefined"

if [ $# -eq 0 ]; then
	set -- http_request http_response chunked json wal record snapshot codec \
	    members batch paxos peer_batch digests hints stream_answer
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kvd-fuzz.XXXXXX") || exit 2
keep=${FUZZ_KEEP:-0}
trap 'if [ "$keep" = 0 ]; then rm -rf "$work"; fi' EXIT
trap 'exit 130' INT TERM

n=0 passed=0 failed=0

# Is there a clang that links -fsanitize=fuzzer?
have_fuzzer=no
if command -v "$CLANG" >/dev/null 2>&1; then
	printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	    >"$work/probe.c"
	if "$CLANG" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" \
	    >/dev/null 2>&1; then
		have_fuzzer=yes
	fi
fi

# Every lib/*.c goes into one instrumented archive; each harness links it
# and the linker takes only the modules that harness reaches, so a module
# gaining a dependency needs no change here.  A file that does not compile
# is left out (it only matters if a harness needs it: the link says so).
if [ "$have_fuzzer" = yes ]; then
	mkdir -p "$work/lib"
	{
		echo '#!/bin/sh'
		echo "\"$CLANG\" $LIBFLAGS -c \"\$1\" -o \"$work/lib/\$(basename \"\$1\" .c).o\" >>\"$work/lib.log\" 2>&1 ||"
		echo "    echo \"# fuzz/run.sh: cannot compile \$1\""
	} >"$work/cc1.sh"
	ls lib/*.c | xargs -n 1 -P "${FUZZ_JOBS:-2}" sh "$work/cc1.sh"
	ar rcs "$work/libkvd-fuzz.a" "$work"/lib/*.o
fi

for h in "$@"; do
	n=$((n + 1))
	if [ "$have_fuzzer" = no ]; then
		echo "ok $n - # SKIP clang not found (fuzz $h)"
		passed=$((passed + 1))
		continue
	fi
	if [ ! -f "fuzz/fuzz_$h.c" ]; then
		echo "not ok $n - fuzz $h: no fuzz/fuzz_$h.c"
		failed=$((failed + 1))
		continue
	fi
	bin="$work/fuzz_$h" log="$work/$h.log"
	if ! "$CLANG" $FLAGS -o "$bin" "fuzz/fuzz_$h.c" "$work/libkvd-fuzz.a" \
	    >"$log" 2>&1; then
		echo "not ok $n - fuzz $h: build failed"
		sed 's/^/#   /' "$log" | head -20
		failed=$((failed + 1))
		keep=1
		continue
	fi
	mkdir -p "$work/corpus-$h" "$work/crash-$h"
	if [ "$FUZZ_SECONDS" -gt 0 ] 2>/dev/null; then
		limit="-max_total_time=$FUZZ_SECONDS"
	else
		limit="-runs=0"
	fi
	# New inputs go to the scratch corpus (first directory); seeds are read.
	"$bin" $limit -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	    -max_len=16384 -artifact_prefix="$work/crash-$h/" \
	    "$work/corpus-$h" "fuzz/corpus/$h" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "ok $n - fuzz $h: $execs execs, no crash"
		passed=$((passed + 1))
	else
		echo "not ok $n - fuzz $h: exit status $rc after ${execs:-?} execs"
		grep -E 'ERROR|check failed|SUMMARY|Test unit written|runtime error' \
		    "$log" | head -20 | sed 's/^/#   /'
		echo "#   log and input kept in $work"
		failed=$((failed + 1))
		keep=1
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
