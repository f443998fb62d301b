/*
 * fuzz_wal.c -- libFuzzer harness for the WAL record decoder and
 * recovery (wal_open on a damaged or hostile segment file).
 *
 * The input's first byte holds flags, the rest is written as the segment
 * file wal-0000000000000001.log in a fresh directory (under /dev/shm when
 * it exists), then wal_open replays it.  Flags: bit 0 repairs the crc of
 * every line shaped like a record (the fuzzer cannot forge CRC-32C, and
 * without this it would never get past the checksum to the seq and replay
 * logic); bits 1-2 pick after_seq (0, 1, 2 or 5, as if a snapshot
 * covered that much).
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - the replay callback sees seqs strictly increasing by one, each above
 *     after_seq, each record non-empty and without a newline;
 *   - the callback rejects a record that is not valid JSON (json_parse),
 *     as the store does; wal_open must then fail, so on success every
 *     replayed record was valid JSON;
 *   - on failure an error message is set and the file is left unchanged
 *     ("an operator decides; we never drop data");
 *   - on success the file, if still there, is a prefix of the input (only
 *     a torn tail is ever cut); a record appended then is replayed, after
 *     the same records as before, when the log is opened again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#include "buf.h"
#include "json.h"
#include "wal.h"

#define SEG_NAME	"wal-0000000000000001.log"
#define APPENDED	"{\"fz\":[1,\"x\"]}"

static char dir[256];
static char seg[512];

struct replay {
	uint64_t	after, last;
	bool		bad_json;
	struct buf	seen;	/* "seq len bytes" per record */
};

static int
replay_cb(void *arg, uint64_t seq, const char *rec, size_t len)
{
	struct replay *rp = arg;

	CHECK(seq > rp->after);
	CHECK(rp->last == 0 || seq == rp->last + 1);
	CHECK(len > 0 && memchr(rec, '\n', len) == NULL);
	rp->last = seq;
	if (json_parse(rec, len, NULL, 0, JSON_DEPTH_DEFAULT, NULL) < 0) {
		rp->bad_json = true;
		return -1;
	}
	buf_printf(&rp->seen, "%llu %zu ", (unsigned long long)seq, len);
	buf_append(&rp->seen, rec, len);
	return 0;
}

/* Reads the segment back; -1 when it is gone. */
static int
read_file(struct buf *out)
{
	char tmp[4096];
	ssize_t r;
	int fd;

	if ((fd = open(seg, O_RDONLY)) < 0)
		return -1;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(out, tmp, (size_t)r);
	close(fd);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "wal");
	snprintf(seg, sizeof(seg), "%s/" SEG_NAME, dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t afters[4] = { 0, 1, 2, 5 };
	struct replay r1, r2;
	struct wal *w = NULL;
	struct buf file, expect;
	char err[512], *in;
	uint64_t seq;
	size_t len;
	int rc;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	r1.after = r2.after = afters[(data[0] >> 1) & 3];
	buf_init(&r1.seen);
	buf_init(&r2.seen);
	buf_init(&file);
	buf_init(&expect);

	fuzz_clean_dir(dir);
	fuzz_write_file(seg, in, len);
	err[0] = '\0';
	rc = wal_open(&w, dir, r1.after, replay_cb, &r1, false, err,
	    sizeof(err));
	if (rc != 0) {
		CHECK(w == NULL);
		CHECK(err[0] != '\0');
		CHECK(read_file(&file) == 0);
		CHECK(file.len == len && memcmp(file.data, in, len) == 0);
		goto out;
	}
	CHECK(!r1.bad_json);
	if (read_file(&file) == 0)
		CHECK(file.len <= len && memcmp(file.data, in, file.len) == 0);

	/* Append one record, reopen: same records, then the new one. */
	CHECK(wal_append(w, APPENDED, sizeof(APPENDED) - 1, &seq) == 0);
	CHECK(seq > r1.after && (r1.last == 0 || seq == r1.last + 1));
	wal_close(w);
	w = NULL;
	buf_append(&expect, r1.seen.data, r1.seen.len);
	buf_printf(&expect, "%llu %zu " APPENDED, (unsigned long long)seq,
	    sizeof(APPENDED) - 1);
	rc = wal_open(&w, dir, r2.after, replay_cb, &r2, false, err,
	    sizeof(err));
	if (rc != 0)
		fprintf(stderr, "fuzz_wal: reopen failed: %s\n", err);
	CHECK(rc == 0);
	CHECK(r2.seen.len == expect.len &&
	    memcmp(r2.seen.data, expect.data, expect.len) == 0);
	wal_close(w);
out:
	fuzz_clean_dir(dir);
	buf_free(&r1.seen);
	buf_free(&r2.seen);
	buf_free(&file);
	buf_free(&expect);
	free(in);
	return 0;
}
