/*
 * failpoint.c -- named crash and error points for the durability tests,
 * and delay points for the start-up and read-load ones.
 *
 * WHAT FOR.  The WAL and the snapshot code promise that a crash at any
 * instant loses no acknowledged write and never leaves a file that a
 * restart would load half-written, and that a disk error is reported
 * rather than papered over.  Killing a process from outside hits those
 * instants only by luck; a failpoint hits one on purpose.  The storage
 * code calls failpoint("name") at each instant worth testing; a test
 * arms some of them through the environment of the process it starts.
 *
 * SYNTAX.  KVD_FAILPOINTS is a comma-separated list of entries
 *
 *	name		fire at the first hit
 *	name@N		fire at the N-th hit only (N from 1)
 *	name@N+		fire at the N-th hit and at every hit after it
 *
 * e.g. KVD_FAILPOINTS="wal-after-write@5" or "wal-write-enospc@2+".  A
 * later entry for the same name replaces an earlier one.  The variable
 * is read once, at the first point reached.  A malformed value or an
 * unknown name is logged (one line) and arms nothing: the process runs
 * as if the variable were unset.
 *
 * THE POINTS.  Crash points (a hit that fires logs
 *	level=error msg="failpoint hit" point=NAME hit=N action=abort
 * on stderr and calls abort(), so the process dies by SIGABRT, exit
 * status 134 in a shell, without running atexit handlers or flushing
 * stdio: what the disk holds is exactly what a crash there would leave.
 * abort() rather than _exit() so a test can tell a failpoint death from a
 * kill -9 or a clean exit):
 *
 *	wal-before-write		a WAL batch is formed, nothing written
 *	wal-after-write			written, before fdatasync
 *	wal-after-fsync			synced, before the waiters are told
 *	snapshot-after-tmp-write	snapshot.json.tmp written, before fsync
 *	snapshot-after-tmp-fsync	tmp synced and closed, before rename
 *	snapshot-after-rename		renamed, before the directory fsync
 *	snapshot-before-wal-drop	directory synced, no segment unlinked
 *	snapshot-mid-wal-drop		after each covered segment is unlinked
 *					(between two, or after the last and
 *					before the directory fsync)
 *
 * Error points (a hit that fires logs the same line with action=error
 * and failpoint() returns true; the caller fakes the failure):
 *
 *	wal-fsync-eio		the WAL's fdatasync reports EIO
 *	wal-write-enospc	a WAL batch write stops half-way with ENOSPC
 *	gossip-members-ignore	a gossip message's (or a pushed join's or
 *				leave's) member list is not merged, its
 *				heartbeats are: armed @1+, the node keeps the
 *				members it started with (cluster.c), as one
 *				that has not heard of a join yet
 *	transfer-refill-fail	a hollow (wiped) node does not ask
 *				anti-entropy for its refill (transfer.c:
 *				HOLLOW): armed @1+, it stays hollow
 *	transfer-look-skip	the transfer thread's poll that finds the
 *				owners changed skips its look (transfer.c):
 *				armed @1+, the node never places for a
 *				change, nor learns at a poll that others lag,
 *				as in the moments before its next poll
 *	transfer-look-hold	every poll of the transfer thread skips
 *				its look (transfer.c): armed @1+, the node
 *				stays as it started, its reads as before
 *				its first look
 *
 * Delay points (a hit that fires logs the same line with action=delay,
 * sleeps FP_DELAY_MS and returns false: the caller goes on as usual, late,
 * so a test sees the state before it for certain, not by a race):
 *
 *	index-build-delay	the key index build at open, before its
 *				first key (/ready answers "building the key
 *				index" meanwhile)
 *	full-read-delay		a full read after a digest read, before it
 *				calls the owners (replica.c, FULL READS): a
 *				test fills the full reads' threads and queue
 *	transfer-pass-delay	a placement pass, once its stats say it
 *				started, before its walk (transfer.c): a
 *				test reads the stats of a pass under way
 *
 * COST.  failpoint() in the header loads failpoint_active (relaxed) and
 * returns when it is 0: one predictable branch.  It starts at 1 so the
 * first point reached comes here, reads the environment under
 * pthread_once and stores 0 when nothing is armed.  The armed set and
 * the hit counts are guarded by mu; only processes with armed points
 * ever take it.
 */
#include "failpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define FP_MAX	32		/* armed entries at once */
#define FP_NMAX	1000000000ULL	/* largest N in name@N */
#define FP_DELAY_MS	2000	/* what a delay point sleeps */

enum fp_kind { FP_CRASH, FP_ERROR, FP_DELAY };

struct fp_known {
	const char	*name;
	enum fp_kind	 kind;
};

static const struct fp_known known[] = {
	{ "wal-before-write", FP_CRASH },
	{ "wal-after-write", FP_CRASH },
	{ "wal-after-fsync", FP_CRASH },
	{ "snapshot-after-tmp-write", FP_CRASH },
	{ "snapshot-after-tmp-fsync", FP_CRASH },
	{ "snapshot-after-rename", FP_CRASH },
	{ "snapshot-before-wal-drop", FP_CRASH },
	{ "snapshot-mid-wal-drop", FP_CRASH },
	{ "wal-fsync-eio", FP_ERROR },
	{ "wal-write-enospc", FP_ERROR },
	{ "gossip-members-ignore", FP_ERROR },
	{ "transfer-refill-fail", FP_ERROR },
	{ "transfer-look-skip", FP_ERROR },
	{ "transfer-look-hold", FP_ERROR },
	{ "index-build-delay", FP_DELAY },
	{ "full-read-delay", FP_DELAY },
	{ "transfer-pass-delay", FP_DELAY },
};
#define NKNOWN	(sizeof(known) / sizeof(known[0]))

struct fp_armed {
	size_t		 k;		/* index into known[] */
	uint64_t	 at;		/* fire at this hit ... */
	bool		 onward;	/* ... and every later one */
	uint64_t	 hits;
};

atomic_int failpoint_active = 1;

static pthread_once_t	 env_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static struct fp_armed	 armed[FP_MAX];	/* under mu */
static size_t		 narmed;	/* under mu */

static int
known_index(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NKNOWN; i++)
		if (strlen(known[i].name) == len &&
		    memcmp(known[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/*
 * Parses spec into out[]; 0 with *nout, or -1 with a reason in why.
 * Touches no shared state.
 */
static int
parse_spec(const char *spec, struct fp_armed *out, size_t *nout,
    char *why, size_t whylen)
{
	const char *p = spec, *end, *at;
	struct fp_armed e;
	size_t n = 0, i, len;
	int k;

	*nout = 0;
	if (spec == NULL)
		return 0;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		at = memchr(p, '@', (size_t)(end - p));
		len = (size_t)((at != NULL ? at : end) - p);
		if (len == 0) {
			snprintf(why, whylen, "empty entry");
			return -1;
		}
		if ((k = known_index(p, len)) < 0) {
			snprintf(why, whylen, "unknown failpoint '%.*s'",
			    (int)len, p);
			return -1;
		}
		memset(&e, 0, sizeof(e));
		e.k = (size_t)k;
		e.at = 1;
		if (at != NULL) {
			e.at = 0;
			for (at++; at < end && *at >= '0' && *at <= '9'; at++) {
				e.at = e.at * 10 + (uint64_t)(*at - '0');
				if (e.at > FP_NMAX)
					break;
			}
			if (at < end && *at == '+') {
				e.onward = true;
				at++;
			}
			if (at != end || e.at == 0 || e.at > FP_NMAX) {
				snprintf(why, whylen, "bad count in '%.*s' "
				    "(use name, name@N or name@N+, N >= 1)",
				    (int)(end - p), p);
				return -1;
			}
		}
		for (i = 0; i < n && out[i].k != e.k; i++)
			;
		if (i == n) {
			if (n == FP_MAX) {
				snprintf(why, whylen, "too many entries");
				return -1;
			}
			n++;
		}
		out[i] = e;
		p = *end == ',' ? end + 1 : end;
		if (*end == ',' && *p == '\0') {
			snprintf(why, whylen, "empty entry");
			return -1;
		}
	}
	*nout = n;
	return 0;
}

/* Installs a parsed set; mu held. */
static void
install(const struct fp_armed *v, size_t n)
{
	memcpy(armed, v, n * sizeof(*v));
	narmed = n;
	atomic_store(&failpoint_active, n > 0 ? 1 : 0);
}

static void
read_env(void)
{
	struct fp_armed v[FP_MAX];
	const char *spec = getenv("KVD_FAILPOINTS");
	char why[160];
	size_t n = 0;

	pthread_mutex_lock(&mu);
	if (spec != NULL && parse_spec(spec, v, &n, why, sizeof(why)) == -1) {
		log_event(LOG_ERROR, "KVD_FAILPOINTS ignored", "reason=%s",
		    why);
		n = 0;
	} else if (n > 0)
		log_event(LOG_WARN, "failpoints armed", "KVD_FAILPOINTS=%s",
		    spec);
	install(v, n);
	pthread_mutex_unlock(&mu);
}

bool
failpoint_eval(const char *name)
{
	struct fp_armed *a;
	struct timespec ts;
	enum fp_kind kind;
	uint64_t hit = 0;
	bool fire = false;
	size_t i;
	int k;

	pthread_once(&env_once, read_env);
	if (atomic_load(&failpoint_active) == 0)
		return false;
	if ((k = known_index(name, strlen(name))) < 0) {
		log_event(LOG_ERROR, "failpoint: unknown name in the code",
		    "point=%s", name);
		abort();
	}
	kind = known[k].kind;
	pthread_mutex_lock(&mu);
	for (i = 0; i < narmed; i++) {
		a = &armed[i];
		if (a->k != (size_t)k)
			continue;
		hit = ++a->hits;
		fire = hit == a->at || (a->onward && hit > a->at);
		break;
	}
	pthread_mutex_unlock(&mu);
	if (!fire)
		return false;
	log_event(LOG_ERROR, "failpoint hit", "point=%s hit=%llu action=%s",
	    name, (unsigned long long)hit, kind == FP_CRASH ? "abort" :
	    kind == FP_DELAY ? "delay" : "error");
	if (kind == FP_CRASH)
		abort();
	if (kind == FP_DELAY) {
		ts.tv_sec = FP_DELAY_MS / 1000;
		ts.tv_nsec = FP_DELAY_MS % 1000 * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		return false;
	}
	return true;
}

int
failpoint_arm(const char *spec)
{
	struct fp_armed v[FP_MAX];
	char why[160];
	size_t n;

	pthread_once(&env_once, read_env);
	if (parse_spec(spec, v, &n, why, sizeof(why)) == -1) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&mu);
	install(v, n);
	pthread_mutex_unlock(&mu);
	return 0;
}

uint64_t
failpoint_hits(const char *name)
{
	uint64_t h = 0;
	size_t i;
	int k;

	if ((k = known_index(name, strlen(name))) < 0)
		return 0;
	pthread_once(&env_once, read_env);
	pthread_mutex_lock(&mu);
	for (i = 0; i < narmed; i++)
		if (armed[i].k == (size_t)k)
			h = armed[i].hits;
	pthread_mutex_unlock(&mu);
	return h;
}

bool
failpoint_known(const char *name)
{
	return name != NULL && known_index(name, strlen(name)) >= 0;
}
