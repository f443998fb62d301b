/*
 * node.c -- the lifecycle of one node: what opens in which order, what
 * closes in which order, and the node directory.
 *
 * THE ORDER is the steps[] table below, and nothing else: node_open runs
 * the opens top to bottom, node_close runs the closes bottom to top.  A
 * module opens after every module it calls and closes before them:
 *
 *	listener	bind the port first, so a port in use fails before
 *			anything is written to disk
 *	directory	DATA_DIR/ID: LOCK, incarnation, the away check
 *	pause check	the away check for a node that runs: a thread that
 *			stops the process once it finds it did not run
 *			longer than the grace (below); before every module
 *			that sends or serves data, and closes after them
 *	watch		parked ?wait= requests; the store tells it of changes
 *	store		the data (close: the final snapshot if it changed, then close)
 *	paxos		the acceptor's state and log (DATA_DIR/ID/paxos)
 *	aside		refused.jsonl: records peers refuse for good
 *	peers		the connection pool every node-to-node call uses
 *	cluster		membership, and liveness by gossip (heartbeats,
 *			suspicion, probes: lib/liveness); uses peers
 *	hints		writes held for members that are down (cluster,
 *			peers, store)
 *	replica		quorum reads and writes; its worker pool's tasks use
 *			all of the above, so it drains them when it closes
 *	cas		conditional writes and serial reads: Paxos rounds
 *			over the owners (store, paxos, cluster, peers,
 *			hints, replica's counters); drains its pool too
 *	transfer	data handoff on membership change
 *	anti-entropy	hash-tree exchanges
 *	housekeeping	snapshots, tombstone collection, the alive stamp
 *			(written once more as it closes: a clean stop)
 *	api		the routes (api.h), over every module above
 *	server		HTTP: requests reach every module above, so it opens
 *			after them and closes before them (in-flight requests
 *			finish within shutdown_grace_ms; when some do not,
 *			their threads still use every module above, and
 *			node_close closes nothing more)
 *	stop calling	opens nothing (the loops started with their
 *			modules); closes first, before the server's grace:
 *			gossip, hint delivery, transfers and anti-entropy
 *			start no new round and the pool refuses their calls
 *			and abandons those in flight (peers_stop_background),
 *			so no hung peer holds the stop for a peer timeout
 *			and gossip declares nobody down while the node
 *			stops; the requests served in the grace keep their
 *			calls (quorum reads and writes, relays, CAS rounds).
 *			What a cut call carried stays: hints on disk, a
 *			transfer pass failed (not placed, sent again at the
 *			next start), anti-entropy at its next round
 *
 * The shutdown fault of issue 10 was one of these out of order (the
 * cluster closed while the hint thread still read its views); with one
 * table there is one order.  A failed open closes the steps already open,
 * in reverse, and when this node_open created the node directory it
 * removes it again, so a start that fails leaves nothing behind.
 *
 * THE NODE DIRECTORY DATA_DIR/ID holds LOCK (an fcntl lock held for the
 * life of the process, with the pid in it, so a second kvd on the same
 * directory refuses to start), incarnation (8 hex digits chosen when the
 * directory is created; with the id it names this node in vector clocks,
 * so a node that lost its data never reuses counters), alive (the wall
 * clock at which the pause check last found the node running, written
 * every minute, or every quarter of a shorter --tombstone-grace, and at
 * a clean stop, when the housekeeping thread ends: at start it tells how
 * long the node was away, and one there that cannot be read stops the
 * start; one that cannot be written, as on a full disk, ages, and so
 * does one while the log refuses writes, logged: stamp_alive; a new
 * directory's is written first, before the incarnation, or the start
 * fails: stamp_new_node), and the files of the store, cluster and
 * hints.  A node killed (kill -9, a crash) leaves a stamp at most that
 * interval and a pause check's wake old, so one started again at once is
 * not taken for away, even with a grace of seconds.
 *
 * THE PAUSE CHECK.  A node stopped (SIGSTOP, a suspended VM) longer
 * than --tombstone-grace resumes holding values whose deletes its
 * replicas have meanwhile collected, and would push them back (anti-
 * entropy, read repair, /internal/fetch); the start-up check cannot see
 * a pause.  So one thread does nothing but sleep on a stopper, at most a
 * second (a quarter of the grace when that is shorter), and compare the
 * wall clock with its last wake's: a gap longer than the grace is a
 * node that was away, judged by the same clock and rule as check_away at
 * a restart.  It then calls cfg.stale, which ends the process at once
 * (kvd.c: exit 1) without the alive stamp or a final snapshot, so the
 * next start is refused as after a restart; --allow-stale only warns,
 * as at start.  The stamp writes the check's last wake, never the clock
 * of its own round, so a housekeeping round that runs after a pause and
 * before the check still stamps the time before it.  The window: from
 * the resume until the check runs, other threads may send what they
 * were doing when stopped.  The check runs first thing after a SIGSTOP
 * (its monotonic deadline is past, and it does nothing else), and
 * within a second of a VM's resume; server.c's stall guard (client_left)
 * keeps writes whose clients left from being served meanwhile.  A wall
 * clock stepped forward by more than the grace stops the node too.
 *
 * WRITES REFUSED.  A node whose log refuses writes misses deletes the
 * same way: a replicated delete, a hint, anti-entropy's tombstones are
 * all writes, and the 503 they get leaves the tombstone on the other
 * replicas only, to be collected there after the grace.  "Refused" is
 * precise: the store's WAL is out of WAL_OK (wal.h), from the batch that
 * first found the disk full (or the failure) until a batch is written
 * again: store_wal_refusing_since, on the monotonic clock.  A full disk
 * with no write to refuse refuses nothing; a spell that outlasts the
 * freed space until a retry is retried once before it counts.  While it
 * lasts the alive stamp is not renewed (stamp_alive), so a restart after
 * longer than the grace is refused by check_away; and the running node
 * stops itself as after a pause: the housekeeping thread looks when the
 * spell is a grace old (check_refused_writes; it sees a spell begin
 * within an alive interval, under a quarter of the grace) and calls
 * cfg.stale, exit 1, with the advice check_away gives; --allow-stale
 * only warns.  It does not wait for the disk to be freed: a node that
 * missed collected deletes pushes their values back while its disk is
 * still full too (anti-entropy and read repair write to the others).
 * Only the store's WAL counts, not the acceptor's log (paxos/), and it
 * need not: every delete this node takes, a conditional one's decided
 * tombstone too, is a write to the store (cas.c applies a commit to the
 * store, durably, before the acceptor records it), so a refusing Paxos
 * log misses none.  It refuses promises, accepts and ballot
 * reservations only: rounds find their majority on the other owners or
 * answer 503, and nothing it holds is a value the others collected.  The
 * store's log, on the same disk, starts its own spell at the first
 * write that finds it full.
 *
 * HOUSEKEEPING is one thread sleeping on a stopper (clock.h): a snapshot
 * every snapshot_interval_s when the store changed since the last one
 * (store_snapshot_if_changed), every minute tombstone collection (so a
 * tombstone lives up to a minute past the grace), the alive stamp every
 * minute or quarter of a shorter grace and again as it ends, the check
 * of WRITES REFUSED when a refusing spell turns a grace old, and every
 * minute (a quarter of --cas-window when that is shorter) the consensus
 * state's upkeep: rounds that settle proposals
 * left in progress (cas_repair), collection and compaction (paxos.h).
 */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "thread.h"

#define HOUSEKEEPING_MS	60000	/* tombstone collection */
#define ALIVE_MS	60000	/* the alive stamp, at most; see alive_interval_ms */
#define ALIVE_MIN_MS	1000	/* the alive stamp, at least */
#define AWAKE_MS	1000	/* the pause check's wake, at most */
#define PAUSE_MIN_MS	3000	/* a shorter gap is a busy machine, not a pause */
#define REFUSED_RETRY_MS 2000	/* a full disk's last retry before a stop */
#define PEER_POOL_IDLE	64	/* idle connections kept per peer */
#define HINT_INTERVAL_MS 1000
#define PAXOS_UPKEEP_MS	60000	/* at most; a quarter of the window if less */
#define PAXOS_REPAIR_MAX 16	/* keys settled per upkeep */

/* ---- the node directory ---------------------------------------------- */

/*
 * Creates path and its parents.  *created is set when path itself did
 * not exist.  0, or -1 with errno.
 */
static int
mkdir_p(const char *path, bool *created)
{
	char tmp[PATH_MAX], *p;

	*created = false;
	if (strlen(path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(tmp, path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -1;
	return 0;
}

/* Takes DIR/LOCK.  0, or -1 with a message in err. */
static int
lock_dir(struct node *nd, char *err, size_t errlen)
{
	char path[PATH_MAX + 64], pid[32];
	struct flock fl;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/LOCK", nd->dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		snprintf(err, errlen, "cannot open lock file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "node directory %s is in use by another "
		    "kvd (pid %s); each node needs its own --id or --data-dir",
		    nd->dir, pid[0] ? pid : "unknown");
		close(fd);
		return -1;
	}
	if (ftruncate(fd, 0) == 0) {
		n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (pwrite(fd, pid, (size_t)n, 0) != n)
			log_event(LOG_WARN, "cannot write pid to lock file",
			    "file=%s", path);
	}
	nd->lock_fd = fd;
	return 0;
}

/*
 * Reads DIR/incarnation, creating it on first start: 8 hex digits from
 * /dev/urandom (time and pid when that is missing), written to a
 * temporary file, fsynced and renamed so it is never half-written.
 * 0, or -1 with a message in err.
 */
static int
load_incarnation(const char *dir, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char path[PATH_MAX + 64], text[32];
	const char *what;
	uint32_t r = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/incarnation", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
		text[n > 0 ? n : 0] = '\0';
		text[strcspn(text, "\n")] = '\0';
		if (strlen(text) == 8 && strspn(text, "0123456789abcdef") == 8) {
			snprintf(out, outlen, "%.8s", text);
			return 0;
		}
		snprintf(err, errlen, "%s is corrupt (want 8 hex digits); move "
		    "it away only if this node's data is gone too", path);
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		r = (uint32_t)clock_wall_ms() ^ ((uint32_t)getpid() << 16) ^
		    (uint32_t)clock_now_ms();
	if (fd >= 0)
		close(fd);
	snprintf(out, outlen, "%08x", r);
	n = snprintf(text, sizeof(text), "%s\n", out);
	if (file_replace(path, text, (size_t)n, &what) != 0) {
		snprintf(err, errlen, "cannot write %s (%s): %s", path, what,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * How often the alive stamp is written: every ALIVE_MS, or every quarter
 * of a shorter grace (ALIVE_MIN_MS at least), so that the stamp a killed
 * node leaves is far younger than the grace and an immediate restart is
 * never refused: it is refused only after being down longer than the
 * grace less this interval and a pause check's wake (and less whatever
 * the housekeeping thread was doing instead: a long snapshot delays the
 * stamp behind it).
 */
static int64_t
alive_interval_ms(const struct node *nd)
{
	int64_t q = nd->cfg.tombstone_grace_s * 1000 / 4;

	return q < ALIVE_MIN_MS ? ALIVE_MIN_MS : q < ALIVE_MS ? q : ALIVE_MS;
}

/*
 * Replaces the alive stamp at path with wall_ms, whole (file_replace):
 * what parse_stamp reads.  0, or -1 with errno and the step that failed
 * in *what.
 */
static int
write_alive(const char *path, int64_t wall_ms, const char **what)
{
	char text[32];
	int n;

	n = snprintf(text, sizeof(text), "%lld\n", (long long)wall_ms);
	return file_replace(path, text, (size_t)n, what);
}

/*
 * Writes to DIR/alive the wall clock at which the pause check last found
 * the node running (at most a second ago, unless it found a pause),
 * every alive_interval_ms and as the housekeeping thread ends on a clean
 * stop.  At start it tells how long this node was away (check_away).
 * The file is replaced whole (file_replace), never cut and rewritten in
 * place: a process that ends in the middle (the pause check's exit right
 * after a SIGCONT, when this thread's round was due during the stop too;
 * kill -9) leaves the stamp before, not an empty file, which check_away
 * would take for no stamp at all.
 *
 * A stamp that cannot be written (a full disk, a directory that turned
 * read-only) is not forced, and while the store's log refuses writes (a
 * full disk, a failed WAL: store_wal_ready, which first retries what a
 * full disk's log keeps) the stamp is not renewed even when its small
 * file would fit: a node that refuses writes refuses replicated deletes
 * too, so its stamp ages with the deletes it missed, and a start after
 * longer than the grace is refused for the same reason as a node's that
 * was down (check_away says both; the running node stops itself then:
 * check_refused_writes).  It is logged once when the stamp stops being
 * renewed, saying why and what happens next, and once when it is written
 * again.  The housekeeping thread alone calls this (its last call after
 * the loop has ended), so alive_unwritten_ms needs no lock.
 */
static void
stamp_alive(struct node *nd)
{
	char path[PATH_MAX + 64];
	const char *what = "write";
	int64_t stamp = atomic_load(&nd->awake_wall_ms);
	enum wal_state ws;

	snprintf(path, sizeof(path), "%s/alive", nd->dir);
	if ((ws = store_wal_ready(nd->store)) != WAL_OK) {
		if (nd->alive_unwritten_ms == 0) {
			nd->alive_unwritten_ms = stamp;
			log_event(LOG_ERROR, "alive stamp not renewed while the "
			    "disk refuses writes: once they have been refused "
			    "longer than --tombstone-grace the node stops, and "
			    "its next start is refused (a node that takes no "
			    "writes takes no deletes either)", "file=%s "
			    "storage=%s grace_s=%lld", path, wal_state_name(ws),
			    (long long)nd->cfg.tombstone_grace_s);
		}
		return;
	}
	if (write_alive(path, stamp, &what) != 0) {
		if (nd->alive_unwritten_ms == 0) {
			nd->alive_unwritten_ms = stamp;
			log_event(LOG_ERROR, "cannot write the alive stamp: once "
			    "the stamp is older than --tombstone-grace, the next "
			    "start is refused (a node that cannot write to its "
			    "disk takes no deletes either)", "file=%s step=%s "
			    "err=%s grace_s=%lld", path, what, strerror(errno),
			    (long long)nd->cfg.tombstone_grace_s);
		}
		return;
	}
	if (nd->alive_unwritten_ms != 0) {
		log_event(LOG_INFO, "alive stamp written again", "file=%s "
		    "unwritten_s=%lld", path,
		    (long long)((stamp - nd->alive_unwritten_ms) / 1000));
		nd->alive_unwritten_ms = 0;
	}
}

/*
 * The message for a node away longer than the grace: how it was away and
 * for how long ("this node did not run for 45 s"), the grace, the danger,
 * what the node does about it ("" or ", so it stops now"), then what the
 * operator does: the one advice check_away and the pause check give.
 */
static void
away_message(const struct node *nd, const char *what, const char *then,
    char *out, size_t outlen)
{
	snprintf(out, outlen, "%s, longer than --tombstone-grace "
	    "%lld s: keys deleted meanwhile on nodes that stayed up could come "
	    "back from it%s. If every node was down too (a single node, a whole "
	    "cluster stopped), or no key was deleted meanwhile, start it with "
	    "--allow-stale; otherwise wipe %s and restart, and it rejoins empty "
	    "and gets its keys from the other replicas (a node with no other "
	    "replica would lose them)", what,
	    (long long)nd->cfg.tombstone_grace_s, then, nd->dir);
}

/*
 * What stamp_alive writes: a positive number of wall ms and a newline.
 * True with it in *last.
 */
static bool
parse_stamp(const char *text, long long *last)
{
	char *end;

	if (*text < '0' || *text > '9')
		return false;
	errno = 0;
	*last = strtoll(text, &end, 10);
	return errno == 0 && *last > 0 && (*end == '\0' ||
	    (end[0] == '\n' && end[1] == '\0'));
}

/*
 * Reads the alive stamp at path into *last: the wall ms it holds, or 0
 * when there is none (no file: a node directory from a kvd before the
 * stamp existed, or one whose stamp the operator removed; a new node's
 * is written before its incarnation, stamp_new_node).  A stamp that is there but cannot be read (no permission, an
 * I/O error, a directory or other non-regular file in its place) or
 * holds no time (empty, garbled: stamp_alive replaces it whole, so
 * neither comes from a crash) is no "no stamp": starting would skip the
 * one check that keeps deleted keys from coming back, so it is an error
 * like any other unreadable state file.  0, or -1 with a message in err.
 */
static int
read_alive(const char *path, long long *last, char *err, size_t errlen)
{
	const char *why = NULL;
	char text[32];
	struct stat sb;
	ssize_t n = -1;
	int fd;

	*last = 0;
	/* O_NONBLOCK: a FIFO in its place must not hang the start. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		if (errno == ENOENT)
			return 0;
		why = strerror(errno);
	} else if (fstat(fd, &sb) != 0)
		why = strerror(errno);
	else if (S_ISDIR(sb.st_mode))
		why = strerror(EISDIR);
	else if (!S_ISREG(sb.st_mode))
		why = "not a regular file";
	else {
		do
			n = read(fd, text, sizeof(text) - 1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			why = strerror(errno);
	}
	if (fd >= 0)
		close(fd);
	if (why == NULL && n >= 0) {
		text[n] = '\0';
		if (!parse_stamp(text, last))
			why = n == 0 ? "it is empty" : "it holds no time";
	}
	if (why != NULL) {
		snprintf(err, errlen, "cannot %s the alive stamp %s: %s; it "
		    "tells how long this node was away (--tombstone-grace): "
		    "%sremove it only if this node last ran less than the grace "
		    "ago", n < 0 ? "read" : "use", path, why, n < 0 ?
		    "restore read access to it, or " : "");
		return -1;
	}
	return 0;
}

/*
 * Refuses to start a node that was away longer than the tombstone grace
 * period: its replicas may have collected tombstones of deletes it never
 * saw, and its old values would come back through anti-entropy and read
 * repair.  The operator wipes the node directory (it then rejoins empty
 * and receives its data from the other replicas) or, knowing no deletes
 * happened (or that every node was down too: a single node, a whole
 * cluster), starts it with --allow-stale.  A stamp that cannot be read
 * refuses too, whatever --allow-stale says (read_alive).  0, or -1 with
 * a message in err.
 */
static int
check_away(const struct node *nd, char *err, size_t errlen)
{
	char path[PATH_MAX + 64], what[PATH_MAX + 256];
	long long last;
	int64_t away;

	snprintf(path, sizeof(path), "%s/alive", nd->dir);
	if (read_alive(path, &last, err, errlen) != 0)
		return -1;
	away = clock_wall_ms() - last;
	if (last <= 0 || away <= nd->cfg.tombstone_grace_s * 1000)
		return 0;
	if (nd->cfg.allow_stale) {
		char msg[160];

		snprintf(msg, sizeof(msg), "node was away longer than the "
		    "tombstone grace period; starting anyway (%s)",
		    nd->cfg.allow_stale_name ? nd->cfg.allow_stale_name :
		    "--allow-stale");
		log_event(LOG_WARN, msg, "away_s=%lld", (long long)(away / 1000));
		return 0;
	}
	snprintf(what, sizeof(what), "this node's alive stamp %s is %lld s "
	    "old: the node was stopped, or could not write to its disk (and "
	    "took no deletes either), that long", path,
	    (long long)(away / 1000));
	away_message(nd, what, "", err, errlen);
	return -1;
}

/*
 * A new node directory (neither an incarnation nor an alive stamp in it)
 * gets its stamp before anything else, so that a node of this build
 * never runs without one: a start that cannot write it (a full disk)
 * fails, as one that cannot write its incarnation does, and leaves no
 * node behind (open_directory).  Otherwise a node whose first stamp
 * found no room ran with none, and its next start, however long after,
 * took it for a first start: check_away reads no stamp as nothing to
 * check, which it must for a directory from a kvd before the stamp
 * existed (an incarnation, no stamp) and for one whose stamp the
 * operator removed.  A directory with either file is not new: one with
 * a stamp and no incarnation keeps its stamp for check_away to judge.
 * 0, or -1 with a message in err.
 */
static int
stamp_new_node(const struct node *nd, char *err, size_t errlen)
{
	char path[PATH_MAX + 64];
	const char *what = "write";
	struct stat sb;

	snprintf(path, sizeof(path), "%s/incarnation", nd->dir);
	if (lstat(path, &sb) == 0 || errno != ENOENT)
		return 0;	/* load_incarnation reads it, or says why not */
	snprintf(path, sizeof(path), "%s/alive", nd->dir);
	if (lstat(path, &sb) == 0 || errno != ENOENT)
		return 0;	/* check_away reads it, or says why not */
	if (write_alive(path, clock_wall_ms(), &what) != 0) {
		snprintf(err, errlen, "cannot write %s (%s): %s; a new node "
		    "writes its alive stamp first (it tells each later start "
		    "how long the node was away), then its incarnation",
		    path, what, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- the pause check -------------------------------------------------- */

/* How often the pause check wakes: a second, a quarter of a shorter grace. */
static int64_t
awake_interval_ms(const struct node *nd)
{
	int64_t q = nd->cfg.tombstone_grace_s * 1000 / 4;

	return q < 100 ? 100 : q < AWAKE_MS ? q : AWAKE_MS;
}

/*
 * The pause check's thread (the essay's THE PAUSE CHECK).  Cheap on
 * purpose: after a stop it is the first thing to run that notices, and
 * whatever else it did would come before the check.
 */
static void *
awake_main(void *arg)
{
	struct node *nd = arg;
	int64_t grace_ms = nd->cfg.tombstone_grace_s * 1000, now, gap;
	char what[128], msg[PATH_MAX + 1024];

	/*
	 * Only with a grace of seconds (tests) can a loaded machine that
	 * did not schedule this thread for a second look like a pause.
	 */
	if (grace_ms < PAUSE_MIN_MS)
		grace_ms = PAUSE_MIN_MS;

	thread_name("kvd-awake");
	while (!stopper_sleep_ms(&nd->awake_stop, awake_interval_ms(nd))) {
		now = clock_wall_ms();
		gap = now - atomic_load(&nd->awake_wall_ms);
		if (gap > grace_ms && nd->cfg.allow_stale) {
			char warn[160];

			snprintf(warn, sizeof(warn), "node did not run longer than "
			    "the tombstone grace period (stopped, or its machine "
			    "suspended); serving on (%s)",
			    nd->cfg.allow_stale_name ? nd->cfg.allow_stale_name :
			    "--allow-stale");
			log_event(LOG_WARN, warn, "away_s=%lld",
			    (long long)(gap / 1000));
		} else if (gap > grace_ms) {
			snprintf(what, sizeof(what), "this node did not run "
			    "for %lld s "
			    "(stopped, or its machine suspended)",
			    (long long)(gap / 1000));
			away_message(nd, what, ", so it stops now and its next "
			    "start is refused", msg, sizeof(msg));
			if (nd->cfg.stale != NULL)
				nd->cfg.stale(nd->cfg.stale_arg, "stopping: this "
				    "node did not run longer than "
				    "--tombstone-grace", msg);
			log_event(LOG_ERROR, "node did not run longer than the "
			    "tombstone grace; its alive stamp is no longer "
			    "renewed", "err=%s", msg);
			break;
		}
		atomic_store(&nd->awake_wall_ms, now);
	}
	return NULL;
}

/* ---- housekeeping ----------------------------------------------------- */

/* How often the consensus state is looked after. */
static int64_t
paxos_upkeep_ms(const struct node *nd)
{
	int64_t q = paxos_window_ms(nd->paxos) / 4;

	return q < 1000 ? 1000 : q < PAXOS_UPKEEP_MS ? q : PAXOS_UPKEEP_MS;
}

/*
 * The consensus state's upkeep: settles proposals a dead round left in
 * progress for longer than an upkeep interval, forgets settled state
 * older than the window, and compacts the acceptor's log.
 */
static void
paxos_upkeep(struct node *nd)
{
	size_t n;

	n = cas_repair(nd->cas, paxos_upkeep_ms(nd), PAXOS_REPAIR_MAX,
	    &nd->house_stop);
	if (n > 0)
		log_event(LOG_INFO, "paxos: settled proposals left in progress",
		    "count=%zu", n);
	n = paxos_collect(nd->paxos);
	if (n > 0)
		log_event(LOG_DEBUG, "paxos: state collected", "keys=%zu", n);
	if (paxos_compact(nd->paxos, false) != 0)
		log_event(LOG_ERROR, "paxos: compaction failed", "err=%s",
		    strerror(errno));
}

/*
 * The essay's WRITES REFUSED: once the store's log has refused writes
 * (store_wal_refusing_since) for longer than the grace, and one retry of
 * a full disk's kept records finds no room either (space freed with no
 * write since to find it is not a refusal), stops the node through
 * cfg.stale, as the pause check does; with --allow-stale warns once per
 * spell instead.  Returns the monotonic ms at which to look again: when
 * the spell on now passes the grace, or INT64_MAX when none is on (the
 * alive round, at most a quarter of the grace away, comes first).
 */
static int64_t
check_refused_writes(struct node *nd)
{
	int64_t grace_ms = nd->cfg.tombstone_grace_s * 1000, since, now;
	char what[192], msg[PATH_MAX + 1024];
	enum wal_state ws;

	since = store_wal_refusing_since(nd->store);
	if (since == 0 || since == nd->refused_reported_since)
		return INT64_MAX;
	if ((now = clock_now_ms()) - since <= grace_ms)
		return since + grace_ms + 1;
	ws = store_wal_retry_until(nd->store, now + REFUSED_RETRY_MS);
	since = store_wal_refusing_since(nd->store);
	if (ws == WAL_OK || since == 0)
		return INT64_MAX;
	if ((now = clock_now_ms()) - since <= grace_ms)
		return since + grace_ms + 1;	/* a new spell */
	nd->refused_reported_since = since;
	if (nd->cfg.allow_stale) {
		char warn[192];

		snprintf(warn, sizeof(warn), "node refused writes longer than "
		    "the tombstone grace period (its disk full, or its log "
		    "failed); serving on (%s)", nd->cfg.allow_stale_name ?
		    nd->cfg.allow_stale_name : "--allow-stale");
		log_event(LOG_WARN, warn, "refused_s=%lld storage=%s",
		    (long long)((now - since) / 1000), wal_state_name(ws));
		return INT64_MAX;
	}
	snprintf(what, sizeof(what), "this node's log refused every write, "
	    "replicated deletes included, for %lld s (%s)",
	    (long long)((now - since) / 1000), ws == WAL_DISK_FULL ?
	    "its disk is full: no retry found room" :
	    "it failed: an I/O error, until a restart");
	away_message(nd, what, ", so it stops now and its next start is "
	    "refused", msg, sizeof(msg));
	if (nd->cfg.stale != NULL)
		nd->cfg.stale(nd->cfg.stale_arg, "stopping: this node's disk "
		    "refused writes longer than --tombstone-grace", msg);
	log_event(LOG_ERROR, "node refused writes longer than the tombstone "
	    "grace; its alive stamp stays unrenewed until it takes them",
	    "err=%s", msg);
	return INT64_MAX;
}

static void *
housekeeping_main(void *arg)
{
	struct node *nd = arg;
	int64_t now, next_snap, next_house, next_alive, next_paxos, next;
	int64_t next_refused;
	uint64_t n;

	thread_name("kvd-house");
	now = clock_now_ms();
	next_snap = nd->cfg.snapshot_interval_s > 0 ?
	    now + (int64_t)nd->cfg.snapshot_interval_s * 1000 : INT64_MAX;
	next_house = now;
	next_alive = now;
	next_paxos = now + paxos_upkeep_ms(nd);
	next_refused = INT64_MAX;
	for (;;) {
		next = next_snap < next_house ? next_snap : next_house;
		if (next_alive < next)
			next = next_alive;
		if (next_paxos < next)
			next = next_paxos;
		if (next_refused < next)
			next = next_refused;
		if (stopper_sleep_until(&nd->house_stop, next))
			break;
		now = clock_now_ms();
		if (now >= next_paxos) {
			paxos_upkeep(nd);
			next_paxos = clock_now_ms() + paxos_upkeep_ms(nd);
		}
		if (now >= next_house) {
			n = store_collect(nd->store, clock_wall_ms() -
			    nd->cfg.tombstone_grace_s * 1000);
			if (n > 0)
				log_event(LOG_INFO, "tombstones and expired "
				    "values collected", "count=%llu grace_s=%lld",
				    (unsigned long long)n,
				    (long long)nd->cfg.tombstone_grace_s);
			next_house = now + HOUSEKEEPING_MS;
		}
		if (now >= next_alive) {
			stamp_alive(nd);
			next_alive = now + alive_interval_ms(nd);
		}
		if (now >= next_snap) {
			/* A failure is logged by the store, with its file. */
			(void)store_snapshot_if_changed(nd->store);
			next_snap = now + (int64_t)nd->cfg.snapshot_interval_s * 1000;
		}
		next_refused = check_refused_writes(nd);
	}
	/*
	 * A clean stop: the node ran until now (the pause check's last
	 * wake), so a restart at once is not taken for a node away since
	 * the last stamp, up to an interval ago.
	 */
	stamp_alive(nd);
	return NULL;
}

/* ---- the steps -------------------------------------------------------- */

/*
 * The address other nodes reach this one at: --advertise, else --addr
 * with "localhost" for an empty or wildcard host and the bound port.
 */
static void
advertise_address(struct node *nd)
{
	char host[NET_HOST_MAX], portstr[NET_PORT_MAX];

	if (nd->cfg.advertise != NULL) {
		snprintf(nd->advertise, sizeof(nd->advertise), "%s",
		    nd->cfg.advertise);
		return;
	}
	if (net_split_hostport(nd->cfg.addr, host, sizeof(host), portstr,
	    sizeof(portstr)) != 0)
		host[0] = '\0';
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "localhost");
	if (strchr(host, ':') != NULL)
		snprintf(nd->advertise, sizeof(nd->advertise), "[%s]:%d", host,
		    nd->port);
	else
		snprintf(nd->advertise, sizeof(nd->advertise), "%s:%d", host,
		    nd->port);
}

/* True when addr listens on a loopback address only. */
static bool
loopback_only(const char *addr)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];

	if (net_split_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0)
		return false;
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "localhost") == 0;
}

static int
open_listener(struct node *nd, char *err, size_t errlen)
{
	nd->listen_fd = net_listen(nd->cfg.addr, 1024, &nd->port, err, errlen);
	if (nd->listen_fd < 0)
		return -1;
	advertise_address(nd);
	if (nd->cfg.auth == NULL && !loopback_only(nd->cfg.addr))
		log_event(LOG_WARN, "listening beyond loopback without "
		    "--cluster-secret-file: anyone who can reach this port can "
		    "write through the internal routes", "addr=%s", nd->cfg.addr);
	return 0;
}

/* The server owns the socket once it started (and closes it). */
static void
close_listener(struct node *nd)
{
	if (nd->listen_fd >= 0)
		close(nd->listen_fd);
	nd->listen_fd = -1;
}

static int
open_directory(struct node *nd, char *err, size_t errlen)
{
	char inc[16];

	if (snprintf(nd->dir, sizeof(nd->dir), "%s/%s", nd->cfg.data_dir,
	    nd->cfg.id) >= (int)sizeof(nd->dir)) {
		snprintf(err, errlen, "data directory path too long");
		return -1;
	}
	if (mkdir_p(nd->dir, &nd->dir_created) != 0) {
		snprintf(err, errlen, "cannot create node directory %s: %s",
		    nd->dir, strerror(errno));
		return -1;
	}
	if (lock_dir(nd, err, errlen) != 0)
		goto fail;
	if (stamp_new_node(nd, err, errlen) != 0 ||
	    load_incarnation(nd->dir, inc, sizeof(inc), err, errlen) != 0 ||
	    check_away(nd, err, errlen) != 0)
		goto fail;
	snprintf(nd->actor, sizeof(nd->actor), "%s.%s", nd->cfg.id, inc);
	return 0;
fail:
	if (nd->lock_fd >= 0)
		close(nd->lock_fd);
	nd->lock_fd = -1;
	if (nd->dir_created)
		file_remove_tree(nd->dir);
	return -1;
}

/*
 * Runs last, when nothing else writes to the directory any more: drops
 * the lock, and removes the directory when a failed node_open created it.
 */
static void
close_directory(struct node *nd)
{
	close(nd->lock_fd);
	nd->lock_fd = -1;
	if (nd->dir_created)
		file_remove_tree(nd->dir);
}

static int
open_awake(struct node *nd, char *err, size_t errlen)
{
	int rc;

	atomic_store(&nd->awake_wall_ms, clock_wall_ms());
	if ((rc = stopper_init(&nd->awake_stop)) != 0)
		goto fail;
	if ((rc = pthread_create(&nd->awake, NULL, awake_main, nd)) != 0) {
		stopper_destroy(&nd->awake_stop);
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot start the pause check thread: %s",
	    strerror(rc));
	return -1;
}

static void
close_awake(struct node *nd)
{
	stopper_stop(&nd->awake_stop);
	pthread_join(nd->awake, NULL);
	stopper_destroy(&nd->awake_stop);
}

static int
open_watch(struct node *nd, char *err, size_t errlen)
{
	if ((nd->watch = watch_new(nd->cfg.max_watchers)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
close_watch(struct node *nd)
{
	watch_free(nd->watch);
	nd->watch = NULL;
}

static int
open_store(struct node *nd, char *err, size_t errlen)
{
	struct store_options sopt;
	char msg[512];

	static const double batch[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
	static struct metric *commit_batches, *snapshot_failures;

	/* One series each per process (the registry is), one store per node. */
	if (commit_batches == NULL)
		commit_batches = metrics_histogram("kvd_group_commit_batch_size",
		    "WAL records made durable by one fsync (group commit).",
		    batch, sizeof(batch) / sizeof(batch[0]));
	if (snapshot_failures == NULL)
		snapshot_failures = metrics_counter("kvd_snapshot_failures_total",
		    "Snapshots that failed (the log says the step and file); "
		    "the WAL segments they would have dropped stay.");
	memset(&sopt, 0, sizeof(sopt));
	sopt.commit_batches = commit_batches;
	sopt.snapshot_failures = snapshot_failures;
	sopt.fsync = true;
	sopt.notify = watch_notify;
	sopt.notify_arg = nd->watch;
	if (store_open(&nd->store, nd->dir, &sopt, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "cannot open the store in %s: %s", nd->dir,
		    msg);
		return -1;
	}
	return 0;
}

static void
close_store(struct node *nd)
{
	store_close(nd->store);
	nd->store = NULL;
}

static int
open_paxos(struct node *nd, char *err, size_t errlen)
{
	struct paxos_config pc;
	char dir[PATH_MAX + 16], msg[512];

	snprintf(dir, sizeof(dir), "%s/paxos", nd->dir);
	memset(&pc, 0, sizeof(pc));
	pc.dir = dir;
	pc.window_ms = (nd->cfg.cas_window_s > 0 ? nd->cfg.cas_window_s :
	    3600) * 1000;
	pc.fsync = true;
	if (paxos_open(&nd->paxos, &pc, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "cannot open the consensus state in %s: %s",
		    dir, msg);
		return -1;
	}
	return 0;
}

static void
close_paxos(struct node *nd)
{
	paxos_close(nd->paxos);
	nd->paxos = NULL;
}

static int
open_aside(struct node *nd, char *err, size_t errlen)
{
	return aside_open(&nd->aside, nd->dir, 0, err, errlen);
}

static void
close_aside(struct node *nd)
{
	aside_close(nd->aside);
	nd->aside = NULL;
}

static int
open_peers(struct node *nd, char *err, size_t errlen)
{
	int connect_ms = nd->cfg.peer_timeout_ms < 1000 ?
	    nd->cfg.peer_timeout_ms : 1000;

	if ((nd->peers = peers_new(connect_ms, PEER_POOL_IDLE)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	peers_set_auth(nd->peers, nd->cfg.auth);
	return 0;
}

static void
close_peers(struct node *nd)
{
	peers_free(nd->peers);
	nd->peers = NULL;
}

static int
open_cluster(struct node *nd, char *err, size_t errlen)
{
	struct cluster_config c;

	memset(&c, 0, sizeof(c));
	c.dir = nd->dir;
	c.self_id = nd->cfg.id;
	c.self_address = nd->advertise;
	c.self_address_given = nd->cfg.advertise != NULL;
	c.listen_port = nd->port;
	c.peers = nd->cfg.peers;
	c.apply_peers = nd->cfg.apply_peers;
	c.peers_name = nd->cfg.peers_name;
	c.apply_peers_name = nd->cfg.apply_peers_name;
	c.n = nd->cfg.n;
	c.w = nd->cfg.w;
	c.r = nd->cfg.r;
	c.vnodes = nd->cfg.vnodes;
	c.gossip_ms = nd->cfg.gossip_interval_ms;
	c.timeout_ms = nd->cfg.peer_timeout_ms;
	c.peers_pool = nd->peers;
	return cluster_open(&nd->cluster, &c, err, errlen);
}

static void
close_cluster(struct node *nd)
{
	cluster_close(nd->cluster);
	nd->cluster = NULL;
}

static int
open_hints(struct node *nd, char *err, size_t errlen)
{
	struct hints_config h;

	memset(&h, 0, sizeof(h));
	h.dir = nd->dir;
	h.self_id = nd->cfg.id;
	h.cluster = nd->cluster;
	h.peers = nd->peers;
	h.store = nd->store;
	h.aside = nd->aside;
	h.max_count = nd->cfg.hint_max;
	h.interval_ms = HINT_INTERVAL_MS;
	h.timeout_ms = nd->cfg.peer_timeout_ms;
	return hints_open(&nd->hints, &h, err, errlen);
}

static void
close_hints(struct node *nd)
{
	hints_close(nd->hints);
	nd->hints = NULL;
}

/*
 * replica.h's applied: a record from another node changed the store; the
 * transfer thread forwards it when this node does not own its key
 * (transfer.c: STRAYS).  The transfer opens after the replica, but
 * before the server that brings records, and closes after it.
 */
static void
record_applied(void *arg, const char *key, size_t klen)
{
	struct node *nd = arg;

	transfer_applied(nd->transfer, key, klen);
}

/* replica.h's moving: transfer.h's transfer_moving. */
static bool
data_moving(void *arg, const struct cluster_view *v)
{
	struct node *nd = arg;

	return transfer_moving(nd->transfer, v);
}

/* replica.h's hollow: transfer.h's transfer_hollow. */
static bool
member_hollow(void *arg, const struct cluster_view *v, size_t member)
{
	struct node *nd = arg;

	return transfer_hollow(nd->transfer, v, member);
}

static int
open_replica(struct node *nd, char *err, size_t errlen)
{
	struct replica_config r;

	memset(&r, 0, sizeof(r));
	r.store = nd->store;
	r.cluster = nd->cluster;
	r.peers = nd->peers;
	r.hints = nd->hints;
	r.self_id = nd->cfg.id;
	r.actor = nd->actor;
	r.timeout_ms = nd->cfg.peer_timeout_ms;
	r.applied = record_applied;
	r.applied_arg = nd;
	r.moving = data_moving;
	r.moving_arg = nd;
	r.hollow = member_hollow;
	r.hollow_arg = nd;
	if ((nd->replica = replica_new(&r)) == NULL) {
		snprintf(err, errlen, "cannot start the coordinator: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
close_replica(struct node *nd)
{
	replica_free(nd->replica);
	nd->replica = NULL;
}

/* cas.h's unique counters are replica.c's (one owner). */
static void
unique_counter(void *arg, struct vclock *c)
{
	replica_unique_counter(arg, c);
}

static int
open_cas(struct node *nd, char *err, size_t errlen)
{
	struct cas_config c;

	memset(&c, 0, sizeof(c));
	c.store = nd->store;
	c.paxos = nd->paxos;
	c.actor = nd->actor;
	c.timeout_ms = nd->cfg.peer_timeout_ms;
	c.unique = unique_counter;
	c.unique_arg = nd->replica;
	c.cluster = nd->cluster;
	c.peers = nd->peers;
	c.hints = nd->hints;
	c.hollow = member_hollow;
	c.hollow_arg = nd;
	if ((nd->cas = cas_new(&c)) == NULL) {
		snprintf(err, errlen, "cannot start the consensus coordinator: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
close_cas(struct node *nd)
{
	cas_free(nd->cas);
	nd->cas = NULL;
}

static int
open_transfer(struct node *nd, char *err, size_t errlen)
{
	struct transfer_config t;

	memset(&t, 0, sizeof(t));
	t.dir = nd->dir;
	t.store = nd->store;
	t.cluster = nd->cluster;
	t.peers = nd->peers;
	t.aside = nd->aside;
	t.ae = nd->ae;		/* opens first: the refill's repairs */
	t.poll_ms = 500;
	t.timeout_ms = nd->cfg.peer_timeout_ms * 5;
	if (transfer_start(&nd->transfer, &t) != 0) {
		snprintf(err, errlen, "cannot start the transfer thread: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
close_transfer(struct node *nd)
{
	transfer_stop(nd->transfer);
	nd->transfer = NULL;
}

static int
open_ae(struct node *nd, char *err, size_t errlen)
{
	struct ae_config a;

	memset(&a, 0, sizeof(a));
	a.store = nd->store;
	a.cluster = nd->cluster;
	a.peers = nd->peers;
	a.self_id = nd->cfg.id;
	a.aside = nd->aside;
	a.interval_ms = nd->cfg.anti_entropy_interval_s * 1000;
	a.timeout_ms = nd->cfg.peer_timeout_ms * 5;
	if (ae_start(&nd->ae, &a) != 0) {
		snprintf(err, errlen, "cannot start anti-entropy: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
close_ae(struct node *nd)
{
	ae_stop(nd->ae);
	nd->ae = NULL;
}

static int
open_housekeeping(struct node *nd, char *err, size_t errlen)
{
	int rc;

	if ((rc = stopper_init(&nd->house_stop)) != 0 ||
	    (rc = pthread_create(&nd->house, NULL, housekeeping_main, nd)) != 0) {
		snprintf(err, errlen, "cannot start the housekeeping thread: %s",
		    strerror(rc));
		return -1;
	}
	return 0;
}

static void
close_housekeeping(struct node *nd)
{
	stopper_stop(&nd->house_stop);
	pthread_join(nd->house, NULL);
	stopper_destroy(&nd->house_stop);
}

static int
open_api(struct node *nd, char *err, size_t errlen)
{
	if ((nd->api = api_new(nd)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
close_api(struct node *nd)
{
	api_free(nd->api);
	nd->api = NULL;
}

static int
open_server(struct node *nd, char *err, size_t errlen)
{
	struct server_config s = nd->cfg.server;

	s.listen_fd = nd->listen_fd;
	s.handler = api_handle;
	s.precheck = api_precheck;
	s.is_peer_request = api_is_peer_request;
	s.self_answered = api_self_answered;
	s.later_free = api_later_free;
	s.arg = nd->api;
	if (server_start(&nd->server, &s) != 0) {
		snprintf(err, errlen, "cannot start the server: %s",
		    strerror(errno));
		nd->server = NULL;
		return -1;
	}
	return 0;
}

/* Stops accepting and waits for in-flight requests; closes the socket. */
static void
close_server(struct node *nd)
{
	watch_stop(nd->watch);	/* parked requests answer now, not in 300 s */
	nd->requests_left = !server_stop(nd->server,
	    nd->cfg.shutdown_grace_ms);
	nd->server = NULL;
	nd->listen_fd = -1;
}

/* The background loops started with their modules: nothing to open. */
static int
open_stop_calls(struct node *nd, char *err, size_t errlen)
{
	(void)nd;
	(void)err;
	(void)errlen;
	return 0;
}

/*
 * A stop's first step (the essay's "stop calling"): the loops first, so
 * none takes the calls cut next for a peer's failure (a probe's down
 * verdict, a hint's retry), then the pool's background calls.
 */
static void
close_stop_calls(struct node *nd)
{
	cluster_stop_calls(nd->cluster);
	hints_stop_calls(nd->hints);
	transfer_stop_calls(nd->transfer);
	ae_stop_calls(nd->ae);
	peers_stop_background(nd->peers);
	log_event(LOG_DEBUG, "background calls stopped: gossip, hint "
	    "delivery, transfers and anti-entropy call no peer", NULL);
}

/*
 * Writes the bound port to cfg.port_file (--port-file), once the node
 * serves: a script that waits for the file finds a node that answers.
 * Written last, so that a failure to write it still removes a node
 * directory this start created, as any failed start does.
 */
static int
open_port_file(struct node *nd, char *err, size_t errlen)
{
	const char *what = NULL;
	char line[16];
	int n;

	if (nd->cfg.port_file == NULL)
		return 0;
	n = snprintf(line, sizeof(line), "%d\n", nd->port);
	if (file_replace(nd->cfg.port_file, line, (size_t)n, &what) != 0) {
		snprintf(err, errlen, "cannot write the port file %s (%s): %s",
		    nd->cfg.port_file, what != NULL ? what : "write",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The port file stays: it names the port until the next start. */
static void
close_port_file(struct node *nd)
{
	(void)nd;
}

static const struct step {
	const char	*name;
	int		(*open)(struct node *, char *, size_t);
	void		(*close)(struct node *);
} steps[] = {
	{ "listener",		open_listener,		close_listener },
	{ "directory",		open_directory,		close_directory },
	{ "pause check",	open_awake,		close_awake },
	{ "watch",		open_watch,		close_watch },
	{ "store",		open_store,		close_store },
	{ "paxos",		open_paxos,		close_paxos },
	{ "aside",		open_aside,		close_aside },
	{ "peers",		open_peers,		close_peers },
	{ "cluster",		open_cluster,		close_cluster },
	{ "hints",		open_hints,		close_hints },
	{ "replica",		open_replica,		close_replica },
	{ "cas",		open_cas,		close_cas },
	{ "anti-entropy",	open_ae,		close_ae },
	{ "transfer",		open_transfer,		close_transfer },
	{ "housekeeping",	open_housekeeping,	close_housekeeping },
	{ "api",		open_api,		close_api },
	{ "server",		open_server,		close_server },
	{ "stop calling",	open_stop_calls,	close_stop_calls },
	{ "port file",		open_port_file,		close_port_file },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

int
node_open(struct node *nd, const struct node_config *cfg, char *err,
    size_t errlen)
{
	memset(nd, 0, sizeof(*nd));
	nd->cfg = *cfg;
	nd->listen_fd = -1;
	nd->lock_fd = -1;
	nd->started_ms = clock_now_ms();
	nd->started_wall_ms = clock_wall_ms();
	for (nd->opened = 0; nd->opened < NSTEPS; nd->opened++) {
		if (steps[nd->opened].open(nd, err, errlen) != 0) {
			log_event(LOG_DEBUG, "start-up step failed", "step=%s",
			    steps[nd->opened].name);
			node_close(nd);
			return -1;
		}
	}
	nd->dir_created = false;	/* from now on the directory is kept */
	return 0;
}

int
node_close(struct node *nd)
{
	bool snapshot;

	/*
	 * The final snapshot needs the store open and nothing writing: it
	 * runs right before the store's own close, after every writer
	 * (server, replica, hints, transfer, anti-entropy) has stopped,
	 * when the store changed since the last one.
	 */
	if (nd->requests_left)
		return -1;	/* closed as far as it can be, before */
	snapshot = nd->opened == NSTEPS;
	while (nd->opened > 0) {
		nd->opened--;
		/*
		 * A final snapshot that fails (a full disk) loses nothing:
		 * the WAL holds every acknowledged write and the next start
		 * replays it.  So the stop is still a clean one, exit 0;
		 * the store logged the step and the file.
		 */
		if (steps[nd->opened].close == close_store && snapshot &&
		    store_snapshot_if_changed(nd->store) != 0)
			log_event(LOG_WARN, "final snapshot failed; the WAL "
			    "holds every acknowledged write and the next start "
			    "replays it", "err=%s", strerror(errno));
		steps[nd->opened].close(nd);
		if (nd->requests_left) {
			/*
			 * Their threads use every module opened before the
			 * server, so those stay open; no final snapshot
			 * either: it could wait on the disk that held them up.
			 */
			log_event(LOG_WARN, "requests still running after the "
			    "shutdown grace: the modules stay open and no final "
			    "snapshot is taken; every acknowledged write is "
			    "durable where it was acknowledged", NULL);
			return -1;
		}
	}
	return 0;
}

enum node_membership
node_membership(struct node *nd)
{
	const struct cluster_view *v;
	enum node_membership m;

	v = cluster_view_get(nd->cluster);
	m = v->self >= 0 ? NODE_MEMBER : NODE_LEFT;
	cluster_view_put(nd->cluster, v);
	return m;
}
