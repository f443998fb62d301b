/*
 * aside.c -- the set-aside log of records a peer refused for good.
 *
 * ON DISK.  DIR/refused.jsonl (DIR is the node directory), one JSON
 * object per line, appended, never rewritten:
 *
 *	{"at":1764158187123,"path":"hint","peer":"node3","status":413,
 *	 "key":"big800","bytes":1066732,"record":{"at":..,"key":..,"v":{..}}}
 *
 *  at      wall-clock ms when it was set aside
 *  path    who sent it: "hint", "anti-entropy" or "transfer"
 *  peer    the member id that refused it
 *  status  the HTTP status it was refused with (400 or 413)
 *  key     the record's key; "key_b64" (base64) when the key is not
 *          UTF-8; null when the record could not be parsed
 *  bytes   the record's length as sent
 *  record  last: the record exactly as it was sent (for a hint, with its
 *          "at"); a JSON string holding those bytes when they are not a
 *          JSON object; null when the file already held max_bytes
 *
 * `jq -c .record refused.jsonl` gives records that POST /internal/batch
 * takes, once the refusing peer can take them (a larger --max-body).
 *
 * DURABILITY.  Each line is written with one write(2) loop and fsynced
 * (fdatasync) before aside_add returns; when the file is new, its
 * directory is fsynced too.  A write that fails part-way is cut back
 * (ftruncate to the size before it), so a line is either whole or
 * absent.  The file is opened for each append (O_APPEND), which is cheap
 * at the rate records are set aside (rare, and each one logged), and
 * lets an operator move the file away at any time.
 *
 * BOUND.  A line copies its record only while the file is below
 * max_bytes; past it, the line keeps everything but the record (null),
 * and the count, the log line and the "omitted" counter still tell.
 * Without the bound, a peer that refuses everything (a much smaller
 * --max-body) would have the file grow by every record sent to it, and
 * anti-entropy offers the same record again every round.  That repeat is
 * also kept out of the file: the SHA-256 of (path, peer, record) of the
 * last ASIDE_SEEN lines copied in this run is remembered (direct-mapped:
 * a collision of slots only forgets, never invents, a match), and a
 * record seen there is counted and logged but not copied again.
 *
 * LOCKS.  a->mu guards the counters, the seen table and the appends; it
 * is held across this module's own write and fsync (appends are rare;
 * serialising them keeps lines whole and in order), and never across
 * another module's call.
 */
#include "aside.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "clock.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "record.h"
#include "sha256.h"
#include "version.h"

#define ASIDE_SEEN	1024	/* copied records remembered in this run */
#define LOG_KEY_MAX	200	/* key bytes shown in the log line */

struct aside {
	pthread_mutex_t	 mu;
	char		 dir[4096];
	char		 path[4200];
	size_t		 max_bytes;
	struct aside_stats st;
	uint8_t		 seen[ASIDE_SEEN][SHA256_LEN];
	bool		 seen_used[ASIDE_SEEN];
};

static const char *const path_names[ASIDE_NPATHS] = {
	"hint", "anti-entropy", "transfer"
};

const char *
aside_path_name(enum aside_path path)
{
	return (unsigned)path < ASIDE_NPATHS ? path_names[path] : "?";
}

const char *
aside_file(struct aside *a)
{
	return a != NULL ? a->path : "";
}

/* Counts the lines and bytes of an existing file.  0, or -1 with errno. */
static int
count_lines(const char *path, uint64_t *lines, uint64_t *bytes)
{
	char chunk[65536];
	ssize_t n, i;
	int fd, e;

	*lines = *bytes = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		*bytes += (uint64_t)n;
		for (i = 0; i < n; i++)
			*lines += chunk[i] == '\n';
	}
	close(fd);
	return 0;
}

int
aside_open(struct aside **out, const char *dir, size_t max_bytes, char *err,
    size_t errlen)
{
	struct aside *a;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->max_bytes = max_bytes > 0 ? max_bytes : ASIDE_MAX_BYTES_DEFAULT;
	if (snprintf(a->dir, sizeof(a->dir), "%s", dir) >= (int)sizeof(a->dir)) {
		snprintf(err, errlen, "directory path too long");
		goto fail;
	}
	snprintf(a->path, sizeof(a->path), "%s/%s", dir, ASIDE_FILE);
	if (count_lines(a->path, &a->st.file_lines, &a->st.file_bytes) != 0) {
		snprintf(err, errlen, "cannot read %s: %s", a->path,
		    strerror(errno));
		goto fail;
	}
	if (a->st.file_lines > 0)
		log_event(LOG_WARN, "records set aside earlier are waiting in "
		    "the refused-records file", "file=%s records=%llu bytes=%llu",
		    a->path, (unsigned long long)a->st.file_lines,
		    (unsigned long long)a->st.file_bytes);
	*out = a;
	return 0;
fail:
	aside_close(a);
	return -1;
}

void
aside_close(struct aside *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void
aside_stats(struct aside *a, struct aside_stats *st)
{
	if (a == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&a->mu);
	*st = a->st;
	pthread_mutex_unlock(&a->mu);
}

/* The slot of a digest in the seen table. */
static size_t
seen_slot(const uint8_t *d)
{
	return ((size_t)d[0] << 8 | d[1]) % ASIDE_SEEN;
}

/*
 * Appends line to the file and fsyncs it (and the directory when the
 * file is new).  Caller holds mu.  *size gets the file's size after.
 * 0, or -1 with errno; a failed write is cut back first.
 */
static int
do_append(struct aside *a, const struct buf *line, uint64_t *size,
    bool *fresh)
{
	struct stat sb;
	bool created = false;
	int fd, e;

	fd = open(a->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0644);
		created = true;
	}
	if (fd == -1)
		return -1;
	if (fstat(fd, &sb) != 0)
		goto fail;
	*fresh = sb.st_size == 0;
	if (file_write_all(fd, line->data, line->len) != 0) {
		e = errno;
		(void)ftruncate(fd, sb.st_size);
		errno = e;
		goto fail;
	}
	if (file_sync(fd) != 0)
		goto fail;
	if (close(fd) != 0)
		return -1;
	if (created && file_sync_dir(a->dir) != 0)
		return -1;
	*size = (uint64_t)sb.st_size + line->len;
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/*
 * Writes the line's members before "record": at, path, peer, status, the
 * key (parsed from rec; key_str gets it JSON-quoted for the log), bytes.
 */
static void
line_head(struct buf *line, enum aside_path path, const char *peer,
    int status, const char *rec, size_t len, struct buf *key_str)
{
	struct record_scratch sc;
	struct version v;
	const char *key;
	size_t klen;

	record_scratch_init(&sc);
	version_init(&v);
	buf_printf(line, "{\"at\":%lld,\"path\":\"%s\",\"peer\":",
	    (long long)clock_wall_ms(), aside_path_name(path));
	json_emit_string(line, peer, strlen(peer));
	buf_printf(line, ",\"status\":%d,", status);
	if (record_parse(&sc, rec, len, &key, &klen, &v) != 0) {
		buf_puts(line, "\"key\":null");
		buf_puts(key_str, "null");
	} else if (json_utf8_valid(key, klen)) {
		buf_puts(line, "\"key\":");
		json_emit_string(line, key, klen);
		json_emit_string(key_str, key, klen > LOG_KEY_MAX ? LOG_KEY_MAX :
		    klen);
	} else {
		buf_puts(line, "\"key_b64\":\"");
		base64_encode(key, klen, line);
		buf_putc(line, '"');
		buf_puts(key_str, "\"(b64)");
		base64_encode(key, klen > LOG_KEY_MAX ? LOG_KEY_MAX : klen,
		    key_str);
		buf_putc(key_str, '"');
	}
	buf_printf(line, ",\"bytes\":%zu,\"record\":", len);
	version_free(&v);
	record_scratch_free(&sc);
}

/* True when rec[0..len) is exactly one JSON object. */
static bool
is_object(const char *rec, size_t len)
{
	return len > 0 && rec[0] == '{' &&
	    json_parse(rec, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL) >= 1;
}

/* The file's size now (0 when it is missing); caller holds mu. */
static uint64_t
file_size(const struct aside *a)
{
	struct stat sb;

	return stat(a->path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

int
aside_add(struct aside *a, enum aside_path path, const char *peer,
    int status, const char *rec, size_t len)
{
	struct buf line = BUF_INIT, key = BUF_INIT;
	struct sha256 h;
	uint8_t d[SHA256_LEN], p = (uint8_t)path;
	uint64_t size = 0;
	size_t slot;
	bool repeat, omit, fresh = false;
	int rc = -1, e = 0;

	if ((unsigned)path >= ASIDE_NPATHS || peer == NULL ||
	    (rec == NULL && len > 0)) {
		errno = EINVAL;
		return -1;
	}
	line_head(&line, path, peer, status, rec, len, &key);
	sha256_init(&h);
	sha256_update(&h, &p, 1);
	sha256_update(&h, peer, strlen(peer) + 1);
	sha256_update(&h, rec, len);
	sha256_final(&h, d);
	slot = seen_slot(d);

	if (a == NULL) {
		log_event(LOG_WARN, "record set aside: the peer refused it for "
		    "good (no set-aside file: dropped)", "path=%s peer=%s "
		    "status=%d key=%s bytes=%zu", aside_path_name(path), peer,
		    status, key.data, len);
		rc = 0;
		goto out;
	}
	pthread_mutex_lock(&a->mu);
	repeat = a->seen_used[slot] && memcmp(a->seen[slot], d, SHA256_LEN) == 0;
	omit = !repeat && file_size(a) + line.len + len >= a->max_bytes;
	if (!repeat) {
		if (omit)
			buf_puts(&line, "null");
		else if (is_object(rec, len))
			buf_append(&line, rec, len);
		else
			json_emit_string(&line, rec, len);
		buf_puts(&line, "}\n");
		if (do_append(a, &line, &size, &fresh) != 0) {
			e = errno;
			a->st.failed++;
			pthread_mutex_unlock(&a->mu);
			log_event(LOG_ERROR, "cannot set a refused record aside; "
			    "its sender keeps it", "file=%s path=%s peer=%s "
			    "key=%s err=%s", a->path, aside_path_name(path),
			    peer, key.data, strerror(e));
			errno = e;
			goto out;
		}
		if (fresh)	/* moved away by an operator: a new file */
			a->st.file_lines = 0;
		a->st.file_lines++;
		a->st.file_bytes = size;
		if (omit)
			a->st.omitted++;
		else {
			memcpy(a->seen[slot], d, SHA256_LEN);
			a->seen_used[slot] = true;
		}
	} else
		a->st.repeated++;
	a->st.set_aside[path]++;
	a->st.total++;
	pthread_mutex_unlock(&a->mu);
	log_event(LOG_WARN, "record set aside: the peer refused it for good",
	    "path=%s peer=%s status=%d key=%s bytes=%zu file=%s copy=%s",
	    aside_path_name(path), peer, status, key.data, len, a->path,
	    repeat ? "already-in-file" : omit ? "omitted-file-full" : LOG_OMIT);
	rc = 0;
out:
	buf_free(&line);
	buf_free(&key);
	return rc;
}
