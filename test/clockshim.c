/*
 * clockshim.c -- an LD_PRELOAD shim that sets this process's wall clock
 * ahead or behind, for tests of clock skew between nodes (test/skew.bats).
 *
 *	cc -shared -fPIC -o clockshim.so test/clockshim.c -ldl
 *	LD_PRELOAD=./clockshim.so CLOCKSHIM_OFFSET_MS=3000 ./kvd ...
 *
 * CLOCKSHIM_OFFSET_MS (a signed number of milliseconds, read once at load;
 * absent, empty or malformed means 0) is added to what clock_gettime
 * answers for CLOCK_REALTIME and CLOCK_REALTIME_COARSE, to gettimeofday
 * and to time().  CLOCK_MONOTONIC and every other clock are left alone, so
 * deadlines, timed waits and sleeps keep their real lengths: only what the
 * process believes the date is moves.  The variable is deliberately not
 * named KVD_*: kvd warns about KVD_ variables it does not know.
 *
 * The real functions are found with dlsym(RTLD_NEXT), so the shim works
 * for programs that call libc through its dynamic symbols (glibc, musl);
 * calls libc makes to itself internally are not moved.  It is test code
 * for Linux: macOS would need DYLD_INSERT_LIBRARIES and interposing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/select.h>		/* struct timeval, without gettimeofday's prototype */
#include <time.h>

int	gettimeofday(struct timeval *restrict, void *restrict);

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *restrict, void *restrict);

static long long offset_ms;		/* set once, before main() */
static clock_gettime_fn real_clock_gettime;
static gettimeofday_fn real_gettimeofday;

/* Resolves the real functions; idempotent, so a call before the
 * constructor (from another library's constructor) is safe too. */
static void
resolve(void)
{
	if (real_clock_gettime == NULL)
		real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT,
		    "clock_gettime");
	if (real_gettimeofday == NULL)
		real_gettimeofday = (gettimeofday_fn)dlsym(RTLD_NEXT,
		    "gettimeofday");
}

__attribute__((constructor)) static void
clockshim_init(void)
{
	const char *s = getenv("CLOCKSHIM_OFFSET_MS");
	char *end;
	long long v;

	resolve();
	if (s == NULL || *s == '\0')
		return;
	v = strtoll(s, &end, 10);
	if (*end == '\0')
		offset_ms = v;
}

/* Moves (sec, nsec) by offset_ms, keeping 0 <= nsec < 1e9. */
static void
shift(time_t *sec, long *nsec)
{
	long long ns = (long long)*nsec + offset_ms % 1000 * 1000000LL;
	long long s = (long long)*sec + offset_ms / 1000;

	while (ns < 0) {
		ns += 1000000000LL;
		s--;
	}
	while (ns >= 1000000000LL) {
		ns -= 1000000000LL;
		s++;
	}
	*sec = (time_t)s;
	*nsec = (long)ns;
}

static int
is_wall(clockid_t id)
{
#ifdef CLOCK_REALTIME_COARSE
	if (id == CLOCK_REALTIME_COARSE)
		return 1;
#endif
	return id == CLOCK_REALTIME;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc;

	resolve();
	if (real_clock_gettime == NULL)
		return -1;
	rc = real_clock_gettime(id, ts);
	if (rc == 0 && offset_ms != 0 && is_wall(id))
		shift(&ts->tv_sec, &ts->tv_nsec);
	return rc;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	long usec_as_nsec;
	int rc;

	resolve();
	if (real_gettimeofday == NULL)
		return -1;
	rc = real_gettimeofday(tv, tz);
	if (rc == 0 && tv != NULL && offset_ms != 0) {
		usec_as_nsec = (long)tv->tv_usec * 1000;
		shift(&tv->tv_sec, &usec_as_nsec);
		tv->tv_usec = (suseconds_t)(usec_as_nsec / 1000);
	}
	return rc;
}

time_t
time(time_t *out)
{
	struct timespec ts;
	time_t t;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t)-1;
	t = ts.tv_sec;
	if (out != NULL)
		*out = t;
	return t;
}
