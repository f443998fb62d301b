#!/bin/sh
# test/run.sh -- runs every unit test program and every bats file, prints
# their TAP, and ends with one line CI can count: "N passed, N failed, N skipped".
# Usage: sh test/run.sh [FILE...]   (default: test/unit/test_* and test/*.bats,
# or the files named in $TESTS)
# A program that exits non-zero without a "not ok" line (a crash, a
# sanitizer report) counts as one failure.
cd "$(dirname "$0")/.." || exit 2
passed=0 failed=0 skipped=0
out=$(mktemp "${TMPDIR:-/tmp}/kvd-test.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT INT TERM

if [ $# -eq 0 ] && [ -n "${TESTS:-}" ]; then
	set -- $TESTS
elif [ $# -eq 0 ]; then
	set -- $(ls test/unit/test_* 2>/dev/null | grep -v '\.c$') test/*.bats
fi
if ! command -v bats >/dev/null 2>&1; then
	echo "test/run.sh: bats is not installed (apt-get install bats)" >&2
	exit 2
fi

for t in "$@"; do
	[ -e "$t" ] || continue
	echo "# ---- $t"
	started=$(date +%s)
	case "$t" in
	*.bats) bats --tap "$t" >"$out" 2>&1; rc=$? ;;
	*) "./$t" >"$out" 2>&1; rc=$? ;;
	esac
	cat "$out"
	echo "# $t took $(($(date +%s) - started)) s"
	s=$(grep -Eci '^ok [0-9]+.*# skip' "$out")
	p=$(grep -Ec '^ok [0-9]+' "$out")
	f=$(grep -Ec '^not ok [0-9]+' "$out")
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $t exited with status $rc"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
# .ci/run adds up several runs (plain and sanitized) into one final line.
[ -n "${TEST_TOTALS:-}" ] && echo "$passed $failed $skipped" >> "$TEST_TOTALS"
[ "$failed" -eq 0 ]
