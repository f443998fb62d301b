/*
 * snapshot.c -- snapshot.json: the store's keys in one file, so that a
 * restart replays only the WAL written since.
 *
 * FORMAT.  JSON lines, each sealed by its crc member exactly as a WAL
 * line is (crc32c.c, THE SEALED LINE: CRC-32C in 8 lowercase hex digits
 * over every byte of the line before `,"crc":`):
 *
 *	{"kvd_snapshot":1,"seq":S,"crc":"xxxxxxxx"}
 *	{"key":"k1","v":{...},"crc":"xxxxxxxx"}	(one line per key, any order,
 *	...					 key_b64 as in the WAL)
 *	{"key":"k2","v":{...,"tombstone":true},"rcv":R,"crc":"xxxxxxxx"}
 *	{"end":true,"keys":K,"crc":"xxxxxxxx"}
 *
 * S is the WAL seq the snapshot covers (every record <= S is reflected in
 * it); K is the number of key lines.  A key line is the record (record.h,
 * as in the WAL) with its final `}` replaced by its members: a line may
 * carry one more, R, the time in milliseconds since the Unix epoch at
 * which this node received the version (the store gives it for
 * tombstones and values with a TTL: store.c, TOMBSTONE COLLECTION).  rcv is always the last
 * member before crc, written exactly as `,"rcv":R` with R a plain decimal
 * integer (no leading zero, no "-0"), and the crc covers it like any
 * other byte before `,"crc":`.  Values without a TTL never carry rcv.  Snapshots
 * written before rcv existed have no rcv member and still load: the
 * reader reports "none" and the store picks the stand-in.  An rcv
 * anywhere but last is ignored as an unknown member (the same safe
 * default).  Inside a line that parses as JSON, the bytes `,"rcv":R`
 * just before the crc can only be a member of the top object: the `"`
 * after a comma opens a string, and no bracket closes between them and
 * the crc.
 *
 * VALIDITY.  A snapshot is valid only when the header is first, every
 * line's crc matches, every key line is a record that record_parse
 * accepts (and the store takes), the trailer is the last line and K
 * matches; anything else makes snapshot_load fail naming the file and the
 * byte offset of the bad line.  We never load half a snapshot: a load
 * that fails fails the store's open.  (The header carries a crc too: a
 * flipped digit in S would otherwise silently skip WAL records.)
 *
 * READING.  The file is mapped and read line by line.  A key line goes
 * to record_parse_view whole (its rcv and crc members are members like
 * any other to record.c, whose fast path takes them as the line's
 * tail), so the key and the version handed to the callback borrow the
 * mapping and the scratch: no allocation per line.  rcv is read from the
 * end of the line before that.  The trailer gives the key count, read
 * first so the store can size its tables before the lines load.
 *
 * CRASH SAFETY.  A snapshot is written to SNAPSHOT_TMP, fsynced, renamed
 * over SNAPSHOT_FILE, and the directory fsynced; only after that may the
 * store drop the WAL segments it covers.  A crash before the rename
 * leaves the old snapshot (plus a .tmp that the next load removes);
 * after it, the new one.  The failpoints snapshot-after-tmp-write,
 * -after-tmp-fsync and -after-rename (failpoint.c) crash at each of those
 * steps (the store has the WAL-drop ones); test/crash.bats does.
 *
 * DISK ERRORS.  A snapshot that fails (disk full included) unlinks its
 * tmp file and leaves SNAPSHOT_FILE as it was.  Lines are buffered and
 * written a megabyte at a time by snapshot_flush, which the store calls
 * between stripes, so no stripe lock is held across a write.
 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "failpoint.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "record.h"

#define FLUSH_AT	(1 << 20)	/* write buffer */
#define RCV_MEMBER	",\"rcv\":"	/* a key line's receipt time */
#define END_PREFIX	"{\"end\":"	/* how a trailer starts */

struct snapshot_writer {
	char		 dir[4096], tmp[4096], final[4096];
	int		 fd;
	bool		 fsync;
	uint64_t	 keys;
	struct buf	 out;
};

/* Ends the line started at b->data[start] with its crc member. */
static void
seal(struct buf *b, size_t start)
{
	char end[CRC32C_END_LEN];

	buf_append(b, end, crc32c_line_end(end, crc32c(0, b->data + start,
	    b->len - start)));
}

int
snapshot_begin(struct snapshot_writer **out, const char *dir, uint64_t seq,
    bool fsync, struct file_failure *ff)
{
	struct snapshot_writer *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		errno = ENOMEM;
		file_failed(ff, "allocate", dir);
		return -1;
	}
	if (snprintf(w->dir, sizeof(w->dir), "%s", dir) >= (int)sizeof(w->dir) ||
	    snprintf(w->tmp, sizeof(w->tmp), "%s/" SNAPSHOT_TMP, dir) >=
	    (int)sizeof(w->tmp) ||
	    snprintf(w->final, sizeof(w->final), "%s/" SNAPSHOT_FILE, dir) >=
	    (int)sizeof(w->final)) {
		free(w);
		errno = ENAMETOOLONG;
		file_failed(ff, "name", dir);
		return -1;
	}
	if ((w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1) {
		file_failed(ff, "create", w->tmp);
		free(w);
		return -1;
	}
	w->fsync = fsync;
	buf_init(&w->out);
	buf_printf(&w->out, "{\"kvd_snapshot\":1,\"seq\":%" PRIu64, seq);
	seal(&w->out, 0);
	*out = w;
	return 0;
}

void
snapshot_add(struct snapshot_writer *w, const char *key, size_t klen,
    const struct version *v, const int64_t *rcv)
{
	size_t start = w->out.len;

	record_to_json(key, klen, v, &w->out);
	w->out.len--;		/* reopen the object for its members */
	if (rcv != NULL) {
		buf_puts(&w->out, RCV_MEMBER);
		buf_put_i64(&w->out, *rcv);
	}
	seal(&w->out, start);
	w->keys++;
}

int
snapshot_flush(struct snapshot_writer *w, struct file_failure *ff)
{
	if (w->out.len < FLUSH_AT)
		return 0;
	if (file_write_all(w->fd, w->out.data, w->out.len) == -1) {
		file_failed(ff, "write", w->tmp);
		return -1;
	}
	buf_reset(&w->out);
	return 0;
}

void
snapshot_abort(struct snapshot_writer *w)
{
	int e = errno;

	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	(void)unlink(w->tmp);
	buf_free(&w->out);
	free(w);
	errno = e;
}

int
snapshot_commit(struct snapshot_writer *w, struct file_failure *ff)
{
	size_t start = w->out.len;
	int rc = -1;

	buf_printf(&w->out, END_PREFIX "true,\"keys\":%" PRIu64, w->keys);
	seal(&w->out, start);
	if (file_write_all(w->fd, w->out.data, w->out.len) == -1) {
		file_failed(ff, "write", w->tmp);
		goto fail;
	}
	(void)failpoint("snapshot-after-tmp-write");
	if (w->fsync && fsync(w->fd) == -1) {
		file_failed(ff, "fsync", w->tmp);
		goto fail;
	}
	if (close(w->fd) == -1) {
		w->fd = -1;
		file_failed(ff, "close", w->tmp);
		goto fail;
	}
	w->fd = -1;
	(void)failpoint("snapshot-after-tmp-fsync");
	if (rename(w->tmp, w->final) == -1) {
		file_failed(ff, "rename", w->tmp);
		goto fail;
	}
	(void)failpoint("snapshot-after-rename");
	rc = 0;
	if (w->fsync && file_sync_dir(w->dir) == -1) {
		file_failed(ff, "fsync directory", w->dir);
		rc = -1;
	}
	buf_free(&w->out);
	free(w);
	return rc;

fail:
	snapshot_abort(w);
	return -1;
}

/* ---- reading ---- */

/* Reads a small line (header or trailer) as JSON; the object's member. */
static int
small_member(const char *p, size_t n, const char *name, struct json_tok *toks,
    int ntoks)
{
	int r = json_parse(p, n, toks, ntoks, JSON_DEPTH_DEFAULT, NULL);

	if (r < 1 || toks[0].type != JSON_OBJECT)
		return -1;
	return json_object_get(p, toks, 0, name);
}

/* The member name (an unsigned integer) of the sealed line p[0..n). */
static int
line_u64(const char *p, size_t n, const char *name, uint64_t *out)
{
	struct json_tok t[16];
	int i = small_member(p, n, name, t, 16);

	return i < 0 ? -1 : json_get_u64(p, &t[i], out);
}

/*
 * The key count in the trailer of data[0..size), or -1 when the last
 * line is not a trailer that checks out (the loader will say why).
 */
static int
trailer_keys(const char *data, size_t size, uint64_t *keys)
{
	const char *p;
	size_t n, body;

	if (size < 2 || data[size - 1] != '\n')
		return -1;
	for (p = data + size - 1; p > data && p[-1] != '\n' &&
	    data + size - p < 128; p--)
		;
	n = (size_t)(data + size - 1 - p);
	if (n <= sizeof(END_PREFIX) - 1 ||
	    memcmp(p, END_PREFIX, sizeof(END_PREFIX) - 1) != 0 ||
	    crc32c_line_check(p, n, &body) == -1)
		return -1;
	return line_u64(p, n, "keys", keys);
}

/*
 * The receipt time on key line p[0..n), whose seal has been checked: the
 * `,"rcv":R` that comes last before it (FORMAT).  0 with *rcv, or -1
 * when there is none in that place, or R is not written as we write it.
 */
static int
line_rcv(const char *p, size_t n, int64_t *rcv)
{
	const char *end = p + n - CRC32C_SUFFIX_LEN, *q = end;
	size_t ml = sizeof(RCV_MEMBER) - 1;
	struct json_tok t;

	while (q > p && ((q[-1] >= '0' && q[-1] <= '9') || q[-1] == '-'))
		q--;
	if ((size_t)(q - p) < ml || memcmp(q - ml, RCV_MEMBER, ml) != 0)
		return -1;
	if (end - q >= 2 && q[0] == '-' && q[1] == '0')
		return -1;	/* "-0": not a number we write */
	if (json_parse(q, (size_t)(end - q), &t, 1, JSON_DEPTH_DEFAULT,
	    NULL) != 1 || t.type != JSON_NUMBER ||
	    json_get_i64(q, &t, rcv) == -1)
		return -1;
	return 0;
}

/* One key line: parsed and handed to the reader.  0, or -1 corrupt. */
static int
load_key(const struct snapshot_reader *r, struct record_scratch *sc,
    const char *p, size_t n)
{
	const struct version *v;
	const char *key;
	size_t klen;
	int64_t rcv;
	bool has = line_rcv(p, n, &rcv) == 0;

	if (record_parse_view(sc, p, n, &key, &klen, &v) == -1)
		return -1;
	return r->key(r->arg, key, klen, v, has ? &rcv : NULL) == 0 ? 0 : -1;
}

/* Reads the mapped file data[0..size); 0, or -1 with *bad its offset. */
static int
load_lines(const struct snapshot_reader *r, const char *data, size_t size,
    uint64_t *seq, size_t *bad)
{
	struct record_scratch sc;
	const char *p, *nl;
	uint64_t count = 0, want;
	size_t off = 0, n, body;
	bool ended = false;
	int rc = -1;

	record_scratch_init(&sc);
	if (r->presize != NULL && trailer_keys(data, size, &want) == 0)
		r->presize(r->arg, want);
	while (off < size) {
		p = data + off;
		if (ended || (nl = memchr(p, '\n', size - off)) == NULL)
			goto done;
		n = (size_t)(nl - p);
		if (crc32c_line_check(p, n, &body) == -1)
			goto done;
		if (off == 0) {
			if (line_u64(p, n, "kvd_snapshot", &want) == -1 ||
			    want != 1 || line_u64(p, n, "seq", seq) == -1)
				goto done;
		} else if (n > sizeof(END_PREFIX) - 1 &&
		    memcmp(p, END_PREFIX, sizeof(END_PREFIX) - 1) == 0) {
			if (line_u64(p, n, "keys", &want) == -1 || want != count)
				goto done;
			ended = true;
		} else {
			if (load_key(r, &sc, p, n) == -1)
				goto done;
			count++;
		}
		off += n + 1;
	}
	if (ended)
		rc = 0;
done:
	*bad = off;
	record_scratch_free(&sc);
	return rc;
}

int
snapshot_load(const char *dir, const struct snapshot_reader *r,
    uint64_t *seq, int64_t *mtime_ms, char *err, size_t errlen)
{
	char path[4096];
	struct stat sb;
	const char *data = NULL;
	size_t size = 0, bad = 0;
	int fd, rc = -1;

	*seq = 0;
	/* A snapshot that never reached its rename is garbage. */
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_TMP, dir);
	if (unlink(path) == 0)
		log_event(LOG_WARN, "removed unfinished snapshot", "file=%s",
		    path);
	else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: unlink: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_FILE, dir);
	/* O_NONBLOCK: a FIFO in its place must not hang the start. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "%s: stat: %s", path, strerror(errno));
		goto done;
	}
	/* Not a snapshot at all, so not a corrupt one (wipe-and-refill). */
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s, not a snapshot (kvd writes it "
		    "as a regular file): move it away", path,
		    S_ISDIR(sb.st_mode) ? strerror(EISDIR) :
		    "not a regular file");
		goto done;
	}
	size = (size_t)sb.st_size;
	if (size == 0) {
		snprintf(err, errlen, "%s: corrupt snapshot at offset 0 "
		    "(empty)", path);
		goto done;
	}
	if ((data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
	    MAP_FAILED) {
		data = NULL;
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		goto done;
	}
	(void)posix_madvise((void *)data, size, POSIX_MADV_SEQUENTIAL);
	if (load_lines(r, data, size, seq, &bad) == -1) {
		snprintf(err, errlen, "%s: corrupt snapshot at offset %zu%s",
		    path, bad, bad >= size ? " (no trailer: truncated)" :
		    memchr(data + bad, '\n', size - bad) == NULL ?
		    " (its last line is cut short: truncated)" : "");
		goto done;
	}
	*mtime_ms = (int64_t)sb.st_mtime * 1000;
	rc = 1;
done:
	if (data != NULL)
		munmap((void *)data, size);
	close(fd);
	return rc;
}
