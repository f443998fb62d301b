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
#   FUZZ_KEEP=1      keep the scratch directory (corpus grown, logs)
#
# The seed corpora (fuzz/corpus/<name>/) are never written to; inputs the
# fuzzer finds go to the scratch directory.  A crash or failed oracle
# leaves its input there and prints the path: add it to the seed corpus
# as a regression case once fixed.
cd "$(dirname "$0")/.." || exit 2

CLANG=${CLANG:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FLAGS="-std=c11 -Wall -Wextra -g -O1 -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L \
-pthread -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
-Ilib"

# The lib sources each harness links (optional ones only when present).
srcs() {
	case "$1" in
	http_request|http_response|chunked)
		echo lib/http.c lib/buf.c ;;
	json)	echo lib/json.c lib/buf.c ;;
	wal)	echo lib/wal.c lib/crc32c.c lib/json.c lib/buf.c
		[ -f lib/failpoint.c ] && echo lib/failpoint.c ;;
	esac
}

if [ $# -eq 0 ]; then
	set -- http_request http_response chunked json wal
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
	# shellcheck disable=SC2046
	if ! "$CLANG" $FLAGS -o "$bin" "fuzz/fuzz_$h.c" $(srcs "$h") \
	    >"$log" 2>&1; then
		echo "not ok $n - fuzz $h: build failed"
		sed 's/^/#   /' "$log"
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
