/*
 * test_failpoint.c -- the KVD_FAILPOINTS syntax (every malformed class),
 * hit counting (@N, @N+), the unarmed fast path and its cost, many
 * threads hitting one point, and, in child processes, the environment
 * read at first use, crash points dying by SIGABRT with one log line, and
 * an unknown name in the code.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "failpoint.h"
#include "tap.h"

static const char *argv0;

/* The unarmed cost bound: sanitizers instrument every atomic load. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define COST_NS	250.0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define COST_NS	250.0
#endif
#endif
#ifndef COST_NS
#define COST_NS	25.0
#endif

/* ---- parsing ---- */

static void
test_parse(void)
{
	static const struct {
		const char	*spec;
		int		 rc;
	} cases[] = {
		{ "", 0 },
		{ "wal-after-write", 0 },
		{ "wal-after-write@5", 0 },
		{ "wal-after-write@5+", 0 },
		{ "wal-after-write@1,snapshot-after-rename@2", 0 },
		{ "wal-fsync-eio@1+,wal-write-enospc@3", 0 },
		{ "wal-after-write@1,wal-after-write@9", 0 },	/* last wins */
		{ "wal-after-write@1000000000", 0 },
		{ "wal-after-write@1000000001", -1 },		/* N too large */
		{ "wal-after-write@99999999999999999999999", -1 },
		{ "nope", -1 },					/* unknown */
		{ "wal-after-writ", -1 },			/* prefix */
		{ "wal-after-writes", -1 },
		{ "WAL-AFTER-WRITE", -1 },			/* case */
		{ "wal-after-write@", -1 },			/* no count */
		{ "wal-after-write@0", -1 },			/* from 1 */
		{ "wal-after-write@-1", -1 },
		{ "wal-after-write@x", -1 },
		{ "wal-after-write@5x", -1 },
		{ "wal-after-write@5++", -1 },
		{ "wal-after-write@+", -1 },
		{ "wal-after-write@5@6", -1 },
		{ "@5", -1 },					/* no name */
		{ ",wal-after-write", -1 },			/* empty entry */
		{ "wal-after-write,", -1 },
		{ "wal-after-write,,wal-before-write", -1 },
		{ " wal-after-write", -1 },			/* no spaces */
		{ "wal-after-write ", -1 },
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = 0;
		rc = failpoint_arm(cases[i].spec);
		ok(rc == cases[i].rc && (rc == 0 || errno == EINVAL),
		    "arm \"%s\" -> %d", cases[i].spec, cases[i].rc);
	}
	ok(failpoint_arm(NULL) == 0, "arm NULL disarms");

	/* A rejected spec leaves the armed set as it was. */
	failpoint_arm("wal-fsync-eio@2");
	ok(failpoint_arm("wal-fsync-eio,bogus") == -1, "half-bad spec rejected");
	ok(!failpoint("wal-fsync-eio") && failpoint("wal-fsync-eio"),
	    "the previous set (@2) is still armed");
	failpoint_arm("wal-after-write@1,wal-fsync-eio@9,wal-fsync-eio@3");
	ok(!failpoint("wal-fsync-eio") && !failpoint("wal-fsync-eio") &&
	    failpoint("wal-fsync-eio"), "a repeated name: the last entry wins");
	failpoint_arm(NULL);

	ok(failpoint_known("wal-before-write") &&
	    failpoint_known("snapshot-mid-wal-drop") &&
	    failpoint_known("wal-write-enospc") && !failpoint_known("x") &&
	    failpoint_known("index-build-delay") &&
	    !failpoint_known(NULL), "failpoint_known");
}

/* ---- counting ---- */

/* Arms spec, then hits point n times: '1' where it fired, '0' where not. */
static const char *
fire_pattern(const char *spec, const char *point, int n)
{
	static char got[32];
	int i;

	failpoint_arm(spec);
	for (i = 0; i < n; i++)
		got[i] = failpoint(point) ? '1' : '0';
	got[i] = '\0';
	return got;
}

static void
test_counts(void)
{
	const char *got;

	got = fire_pattern("wal-fsync-eio@3", "wal-fsync-eio", 6);
	ok(strcmp(got, "001000") == 0, "@3 fires at the third hit only (%s)",
	    got);
	ok(failpoint_hits("wal-fsync-eio") == 6, "6 hits counted (%llu)",
	    (unsigned long long)failpoint_hits("wal-fsync-eio"));
	ok(failpoint_hits("wal-write-enospc") == 0, "an unarmed point: 0 hits");
	ok(!failpoint("wal-write-enospc"), "an unarmed point beside an armed "
	    "one does not fire");
	got = fire_pattern("wal-write-enospc@2+", "wal-write-enospc", 5);
	ok(strcmp(got, "01111") == 0, "@2+ fires from the second hit on (%s)",
	    got);
	got = fire_pattern("wal-write-enospc", "wal-write-enospc", 3);
	ok(strcmp(got, "100") == 0, "a bare name fires at the first hit (%s)",
	    got);

	failpoint_arm("wal-write-enospc");
	ok(failpoint_hits("wal-write-enospc") == 0 &&
	    failpoint("wal-write-enospc"), "re-arming resets the count");
	failpoint_arm(NULL);
	ok(failpoint_hits("wal-write-enospc") == 0, "disarmed: 0 hits");
}

/* ---- the unarmed path ---- */

static void
test_unarmed(void)
{
	volatile int sink = 0;
	double t0, per;
	long i, n = 20 * 1000 * 1000;

	failpoint_arm(NULL);
	ok(atomic_load(&failpoint_active) == 0,
	    "nothing armed: failpoint_active is 0 (the one branch)");
	ok(!failpoint("wal-after-write") && failpoint_hits("wal-after-write")
	    == 0, "an unarmed crash point returns and counts nothing");
	t0 = tap_now_s();
	for (i = 0; i < n; i++)
		if (failpoint("wal-after-write"))
			sink++;
	per = (tap_now_s() - t0) * 1e9 / (double)n;
	ok(sink == 0 && per < COST_NS, "unarmed cost %.2f ns per point (< %.0f)",
	    per, COST_NS);
	failpoint_arm("wal-fsync-eio@1000000000");
	ok(atomic_load(&failpoint_active) != 0, "armed: the slow path is on");
	failpoint_arm("");
	ok(atomic_load(&failpoint_active) == 0, "disarmed again");
}

/* ---- threads ---- */

#define NTHREADS	8
#define NHITS		2000

static int fired_total;
static pthread_mutex_t fired_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
hitter(void *arg)
{
	int i, fired = 0;

	(void)arg;
	for (i = 0; i < NHITS; i++)
		if (failpoint("wal-write-enospc"))
			fired++;
	pthread_mutex_lock(&fired_mu);
	fired_total += fired;
	pthread_mutex_unlock(&fired_mu);
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[NTHREADS];
	int i;

	failpoint_arm("wal-write-enospc@7777");
	for (i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, hitter, NULL);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	ok(fired_total == 1, "%d threads x %d hits: exactly one fired (%d)",
	    NTHREADS, NHITS, fired_total);
	ok(failpoint_hits("wal-write-enospc") == NTHREADS * NHITS,
	    "every hit counted (%llu)",
	    (unsigned long long)failpoint_hits("wal-write-enospc"));
	failpoint_arm(NULL);
}

/* ---- child processes: the environment and crashes ---- */

/* Child mode: hit name count times, printing what happened after each. */
static int
child(const char *name, int count)
{
	int i;

	for (i = 1; i <= count; i++) {
		printf("%s %d\n", failpoint(name) ? "fired" : "passed", i);
		fflush(stdout);
	}
	return 0;
}

/*
 * Runs this program as a child hitting name count times with
 * KVD_FAILPOINTS=env (NULL: unset).  Its stdout and stderr end up in out
 * and errout; returns the wait status.
 */
static int
run_child(const char *env, const char *name, int count, char *out,
    size_t outlen, char *errout, size_t errlen)
{
	char cnt[16], path_o[] = "/tmp/test_fp.oXXXXXX",
	    path_e[] = "/tmp/test_fp.eXXXXXX";
	int fo, fe, st = -1;
	ssize_t n;
	pid_t pid;

	out[0] = errout[0] = '\0';
	if ((fo = mkstemp(path_o)) == -1 || (fe = mkstemp(path_e)) == -1)
		return -1;
	snprintf(cnt, sizeof(cnt), "%d", count);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		if (env != NULL)
			setenv("KVD_FAILPOINTS", env, 1);
		else
			unsetenv("KVD_FAILPOINTS");
		execl(argv0, argv0, "--hit", name, cnt, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	n = pread(fo, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(fe, errout, errlen - 1, 0);
	errout[n > 0 ? n : 0] = '\0';
	close(fo);
	close(fe);
	unlink(path_o);
	unlink(path_e);
	return st;
}

/* Prints s as TAP comments; false, so `cond || diag(s)` fails as cond. */
static bool
diag(const char *s)
{
	const char *nl;

	while (*s != '\0') {
		nl = strchr(s, '\n');
		if (nl == NULL)
			nl = s + strlen(s);
		printf("# %.*s\n", (int)(nl - s), s);
		s = *nl ? nl + 1 : nl;
	}
	return false;
}

static bool
aborted(int st)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static bool
exited0(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void
test_children(void)
{
	char out[4096], err[4096];
	int64_t t0, ms;
	int st;

	st = run_child("wal-after-write@3", "wal-after-write", 5, out,
	    sizeof(out), err, sizeof(err));
	ok(aborted(st), "a crash point armed @3 kills the process by SIGABRT");
	ok(strcmp(out, "passed 1\npassed 2\n") == 0 || diag(out),
	    "it survived hits 1 and 2 only");
	ok(strstr(err, "msg=\"failpoint hit\" point=wal-after-write hit=3 "
	    "action=abort\n") != NULL || diag(err),
	    "one log line names the point");

	st = run_child("snapshot-after-rename", "wal-after-write", 3, out,
	    sizeof(out), err, sizeof(err));
	ok(exited0(st) && strcmp(out, "passed 1\npassed 2\npassed 3\n") == 0,
	    "another point armed: this one passes");
	ok(strstr(err, "failpoints armed") != NULL || diag(err),
	    "arming is logged");

	st = run_child(NULL, "snapshot-mid-wal-drop", 3, out, sizeof(out),
	    err, sizeof(err));
	ok(exited0(st) && strcmp(out, "passed 1\npassed 2\npassed 3\n") == 0 &&
	    err[0] == '\0', "no KVD_FAILPOINTS: nothing fires, nothing logged");

	st = run_child("wal-fsync-eio@2+", "wal-fsync-eio", 3, out,
	    sizeof(out), err, sizeof(err));
	ok((exited0(st) && strcmp(out, "passed 1\nfired 2\nfired 3\n") ==
	    0) || diag(out), "an error point from the environment returns true");
	ok(strstr(err, "point=wal-fsync-eio hit=2 action=error") != NULL ||
	    diag(err), "and logs each firing");

	t0 = clock_now_ms();
	st = run_child("index-build-delay@2", "index-build-delay", 3, out,
	    sizeof(out), err, sizeof(err));
	ms = clock_now_ms() - t0;
	ok((exited0(st) && strcmp(out, "passed 1\npassed 2\npassed 3\n") ==
	    0) || diag(out), "a delay point returns false, fired or not");
	ok(ms >= 1900 || diag(err), "and sleeps about 2 s when it fires "
	    "(%lld ms)", (long long)ms);
	ok(strstr(err, "point=index-build-delay hit=2 action=delay") != NULL ||
	    diag(err), "and logs the firing");

	st = run_child("wal-after-write@x", "wal-after-write", 2, out,
	    sizeof(out), err, sizeof(err));
	ok(exited0(st) && strcmp(out, "passed 1\npassed 2\n") == 0,
	    "a malformed KVD_FAILPOINTS arms nothing");
	ok((strstr(err, "KVD_FAILPOINTS ignored") != NULL &&
	    strstr(err, "bad count") != NULL) || diag(err), "and says why");

	st = run_child("bogus-point", "wal-after-write", 1, out,
	    sizeof(out), err, sizeof(err));
	ok((exited0(st) && strstr(err, "unknown failpoint 'bogus-point'") !=
	    NULL) || diag(err), "an unknown name in KVD_FAILPOINTS is named");

	st = run_child("wal-after-write@99", "wal-aftr-write", 1, out,
	    sizeof(out), err, sizeof(err));
	ok(aborted(st) && strstr(err, "unknown name in the code") != NULL,
	    "an unknown name in the code aborts once points are armed");
}

int
main(int argc, char **argv)
{
	argv0 = argv[0];
	if (argc == 4 && strcmp(argv[1], "--hit") == 0)
		return child(argv[2], atoi(argv[3]));
	unsetenv("KVD_FAILPOINTS");
	test_parse();
	test_counts();
	test_unarmed();
	test_threads();
	test_children();
	return tap_done();
}
