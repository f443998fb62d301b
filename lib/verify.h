/*
 * verify.h -- `kvctl verify`, a lost-write checker to run against a live
 * cluster, also while nodes are being killed, paused and restarted
 * (contrib/chaos.sh drives it that way).
 *
 * verify_main() owns everything it starts: a write phase of concurrent
 * writer threads, each with its own keep-alive connections (lib/client)
 * and its own record of which writes were acknowledged, then a read-back
 * phase that checks every acknowledged write at a chosen read quorum.
 * Threads share nothing during the write phase; results are merged after
 * they are joined.  The report goes to stdout (text, or one JSON object);
 * progress messages go to stderr.  Not reentrant with itself only in the
 * sense that it writes to stdout/stderr; it keeps no global state.
 */
#ifndef KVD_VERIFY_H
#define KVD_VERIFY_H

#include <stdbool.h>

/*
 * Runs `kvctl verify`.  servers is the comma-separated --server list,
 * json selects the JSON report, timeout_ms is the deadline of each
 * request; argv[0] is "verify" and the rest are its own options (see
 * `kvctl verify --help`).  Returns the exit status: 0 no acknowledged
 * write lost, 1 lost, stale, corrupt or unreadable writes found, 2 usage
 * error, 3 no server reachable at all.
 */
int	verify_main(const char *servers, bool json, int timeout_ms, int argc,
	    char **argv);

#endif
