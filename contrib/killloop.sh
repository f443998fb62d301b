#!/bin/sh
# contrib/killloop.sh -- the long version of test/crash.bats, by hand:
# more crash rounds per failpoint and many more kill -9 cycles than
# `make test` runs.  Builds kvd first.
#
#   contrib/killloop.sh [KILL_CYCLES [CRASH_ROUNDS]]   (default 500 and 10)
#   contrib/killloop.sh --kill-only [KILL_CYCLES]      just the kill -9 loop
#
# Every cycle starts kvd, writes from 4 threads, kills it (a failpoint's
# abort() or kill -9 at a random moment), restarts it and checks that
# every acknowledged write reads back.  Needs bats, curl, python3.
set -e
cd "$(dirname "$0")/.."
filter=
if [ "${1:-}" = --kill-only ]; then
	filter="kill -9 loop"
	shift
fi
KILL_CYCLES=${1:-500}
CRASH_ROUNDS=${2:-10}
export KILL_CYCLES CRASH_ROUNDS
make kvd kvctl >/dev/null
echo "killloop: $KILL_CYCLES kill -9 cycles, $CRASH_ROUNDS rounds per failpoint"
if [ -n "$filter" ]; then
	exec bats --tap -f "$filter" test/crash.bats
fi
exec bats --tap test/crash.bats
