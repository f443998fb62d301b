/*
 * fuzz_hints.c -- libFuzzer harness for the hints' log (hints.c): an
 * owner's WAL of hint lines, each a record behind the time its hint was
 * first taken ({"at":N, then the record's members), read at start
 * (hints_open: the prefix gives each hint's age), and written by
 * hints_add (take: a record's own leading "at" kept, else now).
 *
 * The input after its first byte (bit 0 reseals crcs, fuzz_sealed_copy)
 * is the file hints/n3/wal-0000000000000001.log of a fresh directory.
 *
 * Oracles, beyond "no crash, no sanitizer report, no leak":
 *   - the hints load, or the open fails with a message; loaded, they are
 *     the records the WAL replays (count and bytes), the same again on
 *     a second open;
 *   - each loaded line that is a record, kept again for owner n4 by
 *     hints_add, is logged as a line that reads as the same record,
 *     starting {"at":N, with N in HINTS_AT_MIN_MS..now: the line's own N
 *     when it started with one in that range, the time it was taken
 *     when its N was ahead of the clock or before HINTS_AT_MIN_MS; the
 *     oldest of them is the time n4's hints report once loaded again;
 *   - a second open reports the same oldest time, but where the first
 *     dated it as read (none, or ahead of the clock): then a later one.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#include "buf.h"
#include "clock.h"
#include "hints.h"
#include "record.h"
#include "version.h"
#include "wal.h"

static char dir[256];
static struct record_scratch scratch;

/* The lines a WAL replays. */
struct lines {
	struct buf	*v;
	size_t		 n;
	uint64_t	 bytes;
};

static int
keep_line(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct lines *ls = arg;

	(void)seq;
	ls->v = realloc(ls->v, (ls->n + 1) * sizeof(*ls->v));
	CHECK(ls->v != NULL);
	buf_init(&ls->v[ls->n]);
	buf_append(&ls->v[ls->n++], rec, len);
	ls->bytes += len;
	return 0;
}

static void
lines_free(struct lines *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		buf_free(&ls->v[i]);
	free(ls->v);
}

/* The lines of owner's log, replayed; false when the log does not open. */
static bool
replay(const char *owner, struct lines *ls)
{
	struct wal *w;
	char path[400], err[512];

	memset(ls, 0, sizeof(*ls));
	snprintf(path, sizeof(path), "%s/hints/%s", dir, owner);
	if (wal_open(&w, path, 0, keep_line, ls, false, err, sizeof(err)) != 0)
		return false;
	wal_close(w);
	return true;
}

static struct hints *
open_hints(void)
{
	struct hints_config hc;
	struct hints *h = NULL;
	char err[512] = "";

	memset(&hc, 0, sizeof(hc));
	hc.dir = dir;
	hc.self_id = "n1";
	if (hints_open(&h, &hc, err, sizeof(err)) != 0) {
		CHECK(err[0] != '\0');
		return NULL;
	}
	return h;
}

/* The N of a line starting {"at":N, (N decimal, no sign), or 0. */
static int64_t
leading_at(const char *s, size_t n)
{
	char want[40];
	int64_t at = 0;
	size_t i;

	if (n < 8 || memcmp(s, "{\"at\":", 6) != 0)
		return 0;
	for (i = 6; i < n && i < 6 + 18 && s[i] >= '0' && s[i] <= '9'; i++)
		at = at * 10 + (s[i] - '0');
	snprintf(want, sizeof(want), "{\"at\":%" PRId64 ",", at);
	return strlen(want) <= n && memcmp(want, s, strlen(want)) == 0 ? at : 0;
}

/* kept reads as the record rec, behind the "at" the rules give it. */
static int64_t
check_kept(const struct buf *rec, const struct buf *kept, int64_t t0,
    int64_t t1)
{
	struct version a, b;
	const char *ka, *kb;
	size_t la, lb;
	int64_t own = leading_at(rec->data, rec->len),
	    at = leading_at(kept->data, kept->len);
	char *key;

	version_init(&a);
	version_init(&b);
	CHECK(record_parse(&scratch, rec->data, rec->len, &ka, &la, &a) == 0);
	key = malloc(la + 1);
	CHECK(key != NULL);
	memcpy(key, ka, la);
	CHECK(record_parse(&scratch, kept->data, kept->len, &kb, &lb, &b) == 0);
	CHECK(lb == la && memcmp(kb, key, la) == 0);
	CHECK(version_cmp(&a, &b) == 0 &&
	    (a.value == NULL) == (b.value == NULL));
	CHECK(at >= HINTS_AT_MIN_MS && at <= t1);
	if (own >= HINTS_AT_MIN_MS && own <= t0)
		CHECK(at == own);
	else if (own > t1 || own < HINTS_AT_MIN_MS)
		CHECK(at >= t0);
	free(key);
	version_free(&a);
	version_free(&b);
	return at;
}

/* Keeps every record of ls for n4, then checks what n4's log holds. */
static void
check_take(struct hints *h, const struct lines *ls)
{
	struct version v;
	struct hints_stats st;
	struct lines kept;
	const char *k;
	size_t kl, i, j, n = 0;
	int64_t t0 = clock_wall_ms(), t1, oldest = 0, at;
	bool *taken = calloc(ls->n + 1, sizeof(*taken));

	CHECK(taken != NULL);
	version_init(&v);
	for (i = 0; i < ls->n; i++) {
		if (record_parse(&scratch, ls->v[i].data, ls->v[i].len, &k,
		    &kl, &v) != 0 || kl == 0)
			continue;
		taken[i] = hints_add(h, "n4", ls->v[i].data, ls->v[i].len) == 0;
		n += taken[i];
	}
	version_free(&v);
	t1 = clock_wall_ms();
	hints_close(h);
	if (n == 0) {
		free(taken);
		return;
	}
	CHECK(replay("n4", &kept) && kept.n == n);
	for (i = 0, j = 0; i < ls->n; i++)
		if (taken[i]) {
			at = check_kept(&ls->v[i], &kept.v[j++], t0, t1);
			oldest = oldest == 0 || at < oldest ? at : oldest;
		}
	CHECK((h = open_hints()) != NULL);
	hints_stats(h, "n4", &st);
	CHECK(st.pending == n && st.oldest_ms == oldest);
	hints_close(h);
	lines_free(&kept);
	free(taken);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "hints");
	record_scratch_init(&scratch);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hints_stats st, again;
	struct hints *h;
	struct lines ls;
	char path[400];
	char *in;
	size_t len;
	int64_t t0;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	fuzz_clean_dir(dir);
	snprintf(path, sizeof(path), "%s/hints", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/hints/n3", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/hints/n3/wal-0000000000000001.log",
	    dir);
	fuzz_write_file(path, in, len);
	free(in);
	t0 = clock_wall_ms();
	if ((h = open_hints()) == NULL)
		return 0;
	hints_stats(h, "n3", &st);
	hints_close(h);
	CHECK(replay("n3", &ls));
	CHECK(st.pending == ls.n && st.bytes == ls.bytes);
	CHECK((h = open_hints()) != NULL);
	hints_stats(h, "n3", &again);
	/*
	 * A time ahead of the clock reads as now, and a hint with no time is
	 * dated as read: each open's own now.
	 */
	CHECK(again.pending == st.pending && again.bytes == st.bytes &&
	    (again.oldest_ms == st.oldest_ms || (st.oldest_ms >= t0 &&
	    again.oldest_ms > st.oldest_ms)));
	CHECK(st.oldest_age_ms >= 0 && again.oldest_age_ms >= 0);
	check_take(h, &ls);
	lines_free(&ls);
	return 0;
}
