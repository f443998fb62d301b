#!/usr/bin/env bash
# test/run.sh -- runs every unit test program and every bats file, prints
# their TAP, and ends with one line CI can count: "N passed, N failed, N skipped".
# Usage: sh test/run.sh [FILE...]   (default: test/unit/test_* and test/*.bats,
# or the files named in $TESTS)
# A program that exits non-zero without a "not ok" line (a crash, a
# sanitizer report) counts as one failure.
#
# Files run TEST_JOBS at a time (default 2): the integration tests spend
# most of their time waiting on timeouts, and every file has its own
# temporary directory, and ports from a range of its own (TEST_PORT_RANGE,
# a slot of the ports below the kernel's ephemeral ones, which
# contrib/free-ports.py picks from), so two files do not meet.  Each file's TAP is printed whole when it ends, so the output is
# in the order files finish; the bats files with the most tests start
# first, as they take longest.  TEST_JOBS=1 runs them one by one in the
# order given.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
cd "$(dirname "$0")/.." || exit 2
passed=0 failed=0 skipped=0
jobs=${TEST_JOBS:-2}
case "$jobs" in '' | *[!0-9]* | 0)
	echo "test/run.sh: TEST_JOBS must be a number of files at a time, not '$jobs'" >&2
	exit 2 ;;
esac
outdir=$(mktemp -d "${TMPDIR:-/tmp}/kvd-test.XXXXXX") || exit 2
failures=$outdir/failures	# every failure, printed again at the end
: >"$failures"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$outdir"' EXIT
trap 'exit 130' INT TERM

if [ $# -eq 0 ] && [ -n "${TESTS:-}" ]; then
	set -- $TESTS
elif [ $# -eq 0 ]; then
	set -- $(ls test/unit/test_* 2>/dev/null | grep -v '\.c$') test/*.bats
fi
if ! command -v bats >/dev/null 2>&1; then
	echo "test/run.sh: bats is not installed (apt-get install bats)" >&2
	exit 2
fi

# longest_first FILE...: bats files by their number of tests, most first,
# then the unit programs in the order given.
longest_first() {
	local t
	for t in "$@"; do
		case "$t" in
		*.bats) echo "$(grep -c '^@test' "$t") $t" ;;
		esac
	done | sort -s -k1,1nr | cut -d' ' -f2-
	for t in "$@"; do
		case "$t" in *.bats) ;; *) echo "$t" ;; esac
	done
}

# run_one FILE OUT: runs FILE, its output in OUT, its exit status in
# OUT.rc and its seconds in OUT.took (written last: the file is done).
run_one() {
	local t=$1 out=$2 started rc
	started=$(date +%s)
	case "$t" in
	*.bats) bats --tap "$t" >"$out" 2>&1; rc=$? ;;
	*) "./$t" >"$out" 2>&1; rc=$? ;;
	esac
	echo "$rc" >"$out.rc"
	echo $(($(date +%s) - started)) >"$out.took"
}

# report FILE OUT: prints FILE's output and adds up its results.
report() {
	local t=$1 out=$2 rc p f s
	rc=$(cat "$out.rc")
	echo "# ---- $t"
	cat "$out"
	echo "# $t took $(cat "$out.took") s"
	s=$(grep -Eci '^ok [0-9]+.*# skip' "$out")
	p=$(grep -Ec '^ok [0-9]+' "$out")
	f=$(grep -Ec '^not ok [0-9]+' "$out")
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $t exited with status $rc"
		echo "$t: exited with status $rc, no test failed (a crash?)" >>"$failures"
		f=1
	fi
	[ "$f" -gt 0 ] && failed_lines "$t" "$out" >>"$failures"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

# failed_lines FILE OUT: each "not ok" line of OUT, named by FILE, with
# the first three comment lines after it (bats says there which line
# and which command failed).
failed_lines() {
	awk -v t="$1" '/^not ok [0-9]+/ { print t ": " $0; n = 3; next }
	    n > 0 && /^#/ { print "    " $0; n--; next } { n = 0 }' "$2"
}

files=()
for t in "$@"; do
	[ -e "$t" ] && files+=("$t")
done
if [ "$jobs" -gt 1 ]; then
	mapfile -t files < <(longest_first "${files[@]}")
fi

# Port slots: the ports from 10000 to below the ephemeral ones, in $jobs
# ranges; a file runs with a slot no other running file has.
read -r ephemeral _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
    ephemeral=32768
slot_size=$(((ephemeral - 10000) / jobs))
if [ "$slot_size" -lt 100 ]; then
	echo "test/run.sh: TEST_JOBS=$jobs leaves under 100 ports a file" >&2
	exit 2
fi
free_slots=$(seq 0 $((jobs - 1)))
declare -A slot_of	# index into files -> its slot

# Start a file whenever fewer than $jobs run; report each one that ended.
running=()	# indexes into files
next=0
while [ "$next" -lt "${#files[@]}" ] || [ "${#running[@]}" -gt 0 ]; do
	while [ "$next" -lt "${#files[@]}" ] && [ "${#running[@]}" -lt "$jobs" ]; do
		read -r slot free_slots <<<"$(echo $free_slots)"
		slot_of[$next]=$slot
		lo=$((10000 + slot * slot_size))
		TEST_PORT_RANGE="$lo-$((lo + slot_size - 1))" \
		    run_one "${files[next]}" "$outdir/$next" &
		running+=("$next")
		next=$((next + 1))
	done
	wait -n
	still=()
	for i in "${running[@]}"; do
		if [ -e "$outdir/$i.took" ]; then
			report "${files[i]}" "$outdir/$i"
			free_slots="$free_slots ${slot_of[$i]}"
		else
			still+=("$i")
		fi
	done
	running=("${still[@]}")
done
# The failures once more, where the last lines of a long run show them.
if [ -s "$failures" ]; then
	echo "# the failures:"
	sed 's/^/# /' "$failures"
fi
echo "$passed passed, $failed failed, $skipped skipped"
# .ci/run adds up several runs (plain and sanitized) into one final line,
# and names their failures above it (TEST_FAILURES, each under its stage).
[ -n "${TEST_TOTALS:-}" ] && echo "$passed $failed $skipped" >> "$TEST_TOTALS"
[ -n "${TEST_FAILURES:-}" ] && [ -s "$failures" ] &&
    sed "s|^|${TEST_STAGE:-run}: |" "$failures" >>"$TEST_FAILURES"
[ "$failed" -eq 0 ]
