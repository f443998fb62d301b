/*
 * test_aside.c -- the set-aside log: the exact line format (members,
 * their order, "record" last and byte for byte), keys that are not
 * UTF-8, records that do not parse, a repeat that is counted but not
 * copied again, the size bound (record omitted, still counted), counts
 * per path, lines counted again at open, a file moved away by an
 * operator, a failing disk, a NULL log, and concurrent appends.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aside.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "tap.h"

static char dir[64];

static const char *rec1 =
    "{\"at\":1764158187123,\"key\":\"k1\",\"v\":{\"clock\":{\"a\":1},"
    "\"ts\":5,\"actor\":\"a\",\"tombstone\":false,\"value\":\"hello\"}}";

#define THREADS	4
#define EACH	50
#define MAXLINES (THREADS * EACH + 1)

/* The log file's lines, as read_lines last found them. */
static char lines[MAXLINES][8192];

/* The log file's path. */
static const char *
file_path(void)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, ASIDE_FILE);
	return path;
}

/* Reads the file into lines[]; returns how many (at most MAXLINES). */
static int
read_lines(void)
{
	FILE *f;
	int n = 0;

	if ((f = fopen(file_path(), "r")) == NULL)
		return 0;
	while (n < MAXLINES && fgets(lines[n], sizeof(lines[n]), f) != NULL)
		n++;
	fclose(f);
	return n;
}

/* The string member name of the JSON object line, into out. */
static bool
member(const char *line, const char *name, struct buf *out)
{
	struct json_tok t[64];
	int n, i;

	buf_reset(out);
	n = json_parse(line, strlen(line), t, 64, JSON_DEPTH_DEFAULT, NULL);
	if (n < 1 || t[0].type != JSON_OBJECT)
		return false;
	if ((i = json_object_get(line, t, 0, name)) < 0)
		return false;
	if (t[i].type == JSON_STRING)
		json_string_decode(line, &t[i], out);
	else
		buf_append(out, line + t[i].start, t[i].end - t[i].start);
	return true;
}

static void
test_format(void)
{
	struct aside *a;
	struct aside_stats st;
	struct buf m = BUF_INIT, want = BUF_INIT;
	char err[256];
	const char *badkey = "{\"key_b64\":\"/w==\",\"v\":{\"clock\":{},\"ts\":1,"
	    "\"actor\":\"a\",\"tombstone\":true}}";
	int n;

	ok(aside_open(&a, dir, 0, err, sizeof(err)) == 0, "open: %s", err);
	aside_stats(a, &st);
	ok(st.total == 0 && st.file_lines == 0 && st.file_bytes == 0,
	    "open: nothing yet, no file");
	ok(aside_add(a, ASIDE_HINT, "node3", 413, rec1, strlen(rec1)) == 0,
	    "add: a hint refused with 413");
	n = read_lines();
	ok(n == 1, "add: one line");
	buf_printf(&want, "\"status\":413,\"key\":\"k1\",\"bytes\":%zu,"
	    "\"record\":%s}\n", strlen(rec1), rec1);
	ok(strncmp(lines[0], "{\"at\":", 6) == 0 &&
	    strstr(lines[0], ",\"path\":\"hint\",\"peer\":\"node3\",") != NULL &&
	    strlen(lines[0]) > want.len && strcmp(lines[0] + strlen(lines[0]) -
	    want.len, want.data) == 0,
	    "format: at, path, peer, status, key, bytes, then the record as "
	    "sent, last (%.80s...)", lines[0]);
	ok(member(lines[0], "record", &m) && strcmp(m.data, rec1) == 0,
	    "format: the line is JSON and .record is the record");

	ok(aside_add(a, ASIDE_ANTI_ENTROPY, "node2", 400, badkey,
	    strlen(badkey)) == 0, "add: a key that is not UTF-8");
	ok(aside_add(a, ASIDE_TRANSFER, "node2", 400, "not json", 8) == 0,
	    "add: a record that does not parse");
	n = read_lines();
	ok(n == 3 && member(lines[1], "key_b64", &m) &&
	    strcmp(m.data, "/w==") == 0 && member(lines[1], "path", &m) &&
	    strcmp(m.data, "anti-entropy") == 0,
	    "format: key_b64 for a non-UTF-8 key, path anti-entropy");
	ok(member(lines[2], "key", &m) && strcmp(m.data, "null") == 0 &&
	    member(lines[2], "record", &m) && strcmp(m.data, "not json") == 0 &&
	    member(lines[2], "path", &m) && strcmp(m.data, "transfer") == 0,
	    "format: key null, the bytes as a JSON string");

	/* The same record again for the same path and peer: not copied. */
	ok(aside_add(a, ASIDE_HINT, "node3", 413, rec1, strlen(rec1)) == 0,
	    "repeat: 0");
	n = read_lines();
	aside_stats(a, &st);
	ok(n == 3 && st.repeated == 1 && st.set_aside[ASIDE_HINT] == 2 &&
	    st.total == 4 && st.file_lines == 3,
	    "repeat: counted (hint 2, total 4), not copied (3 lines)");
	ok(aside_add(a, ASIDE_HINT, "node1", 413, rec1, strlen(rec1)) == 0 &&
	    read_lines() == 4, "repeat: another peer is a new line");
	aside_stats(a, &st);
	ok(st.set_aside[ASIDE_HINT] == 3 && st.set_aside[ASIDE_ANTI_ENTROPY] ==
	    1 && st.set_aside[ASIDE_TRANSFER] == 1 && st.failed == 0 &&
	    st.omitted == 0, "stats: per path 3, 1, 1");
	ok(strcmp(aside_path_name(ASIDE_HINT), "hint") == 0 &&
	    strcmp(aside_path_name(ASIDE_ANTI_ENTROPY), "anti-entropy") == 0 &&
	    strcmp(aside_path_name(ASIDE_TRANSFER), "transfer") == 0 &&
	    strcmp(aside_path_name(ASIDE_NPATHS), "?") == 0, "path names");
	errno = 0;
	ok(aside_add(a, ASIDE_NPATHS, "x", 400, rec1, 3) == -1 &&
	    errno == EINVAL, "add: a bad path is EINVAL");
	aside_close(a);

	/* Reopen: the lines are counted. */
	ok(aside_open(&a, dir, 0, err, sizeof(err)) == 0, "reopen");
	aside_stats(a, &st);
	ok(st.file_lines == 4 && st.total == 0 && st.file_bytes > 0,
	    "reopen: 4 lines in the file, nothing set aside in this run");
	aside_close(a);
	aside_close(NULL);
	buf_free(&m);
	buf_free(&want);
}

static void
test_bound(void)
{
	struct aside *a;
	struct aside_stats st;
	struct buf big = BUF_INIT, m = BUF_INIT;
	char err[256];
	int i;

	unlink(file_path());
	ok(aside_open(&a, dir, 1500, err, sizeof(err)) == 0,
	    "bound: open with 1500 bytes");
	buf_puts(&big, "{\"key\":\"big\",\"v\":{\"clock\":{},\"ts\":1,\"actor\":"
	    "\"a\",\"tombstone\":false,\"value\":\"");
	for (i = 0; i < 2000; i++)
		buf_putc(&big, 'x');
	buf_puts(&big, "\"}}");
	ok(aside_add(a, ASIDE_HINT, "node3", 413, rec1, strlen(rec1)) == 0 &&
	    aside_add(a, ASIDE_HINT, "node3", 413, big.data, big.len) == 0,
	    "bound: a small record, then one over the bound");
	ok(read_lines() == 2 && member(lines[0], "record", &m) &&
	    strcmp(m.data, rec1) == 0, "bound: the small one copied");
	ok(member(lines[1], "record", &m) && strcmp(m.data, "null") == 0 &&
	    member(lines[1], "key", &m) && strcmp(m.data, "big") == 0 &&
	    member(lines[1], "bytes", &m) && atoi(m.data) == (int)big.len,
	    "bound: the big one logged with key and size, record null");
	aside_stats(a, &st);
	ok(st.omitted == 1 && st.set_aside[ASIDE_HINT] == 2,
	    "bound: counted, 1 omitted");

	/* An operator moves the file away: the next record starts anew. */
	ok(rename(file_path(), "/tmp/test_aside_moved.jsonl") == 0, "moved away");
	unlink("/tmp/test_aside_moved.jsonl");
	ok(aside_add(a, ASIDE_TRANSFER, "node4", 400, rec1, strlen(rec1)) ==
	    0 && read_lines() == 1, "moved: a new file, one line");
	aside_stats(a, &st);
	ok(st.file_lines == 1, "moved: the count follows the new file");

	/* The directory is gone: the caller must keep its copy. */
	unlink(file_path());
	rmdir(dir);
	errno = 0;
	ok(aside_add(a, ASIDE_HINT, "node5", 413, rec1, strlen(rec1)) == -1 &&
	    errno == ENOENT, "disk: -1 with errno when it cannot be written");
	aside_stats(a, &st);
	ok(st.failed == 1 && st.set_aside[ASIDE_HINT] == 2,
	    "disk: counted as failed, not as set aside");
	aside_close(a);
	mkdir(dir, 0755);

	ok(aside_add(NULL, ASIDE_HINT, "node3", 413, rec1, strlen(rec1)) == 0,
	    "NULL: logged only, 0");
	buf_free(&big);
	buf_free(&m);
}

static struct aside *shared;

static void *
adder(void *arg)
{
	struct buf r = BUF_INIT;
	int t = (int)(intptr_t)arg, i, fails = 0;

	for (i = 0; i < EACH; i++) {
		buf_reset(&r);
		buf_printf(&r, "{\"key\":\"t%d-%d\",\"v\":{\"clock\":{},\"ts\":1,"
		    "\"actor\":\"a\",\"tombstone\":true}}", t, i);
		fails += aside_add(shared, (enum aside_path)(i % ASIDE_NPATHS),
		    "node9", 413, r.data, r.len) != 0;
	}
	buf_free(&r);
	return (void *)(intptr_t)fails;
}

static void
test_threads(void)
{
	struct aside_stats st;
	pthread_t th[THREADS];
	struct buf m = BUF_INIT;
	char err[256];
	void *ret;
	int i, fails = 0, good = 0, n;

	unlink(file_path());
	if (!ok(aside_open(&shared, dir, 0, err, sizeof(err)) == 0,
	    "threads: open"))
		return;
	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, adder, (void *)(intptr_t)i);
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], &ret);
		fails += (int)(intptr_t)ret;
	}
	n = read_lines();
	for (i = 0; i < n; i++)
		good += member(lines[i], "record", &m) && m.data[0] == '{';
	aside_stats(shared, &st);
	ok(fails == 0 && n == THREADS * EACH && good == n &&
	    st.total == THREADS * EACH && st.file_lines == (uint64_t)n,
	    "threads: %d concurrent adds, %d whole lines", THREADS * EACH,
	    good);
	aside_close(shared);
	buf_free(&m);
}

int
main(void)
{
	log_set_level(LOG_ERROR);	/* every add logs a warning */
	snprintf(dir, sizeof(dir), "/tmp/test_aside.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	test_format();
	test_bound();
	test_threads();
	tap_rm_rf(dir);
	return tap_done();
}
