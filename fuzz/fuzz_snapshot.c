/*
 * fuzz_snapshot.c -- libFuzzer harness for the snapshot reader
 * (snapshot_load on a damaged or hostile snapshot.json).
 *
 * The input's first byte holds flags, the rest is written as
 * snapshot.json in a fresh directory (fuzz.h), then snapshot_load reads
 * it.  Flags: bit 0 reseals every line shaped like a sealed one
 * (fuzz_fix_crcs; without it the fuzzer never gets past the checksums);
 * bit 1 makes the key callback refuse the second key; bit 2 leaves a
 * snapshot.json.tmp beside it, as a crash while writing one would.
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - the answer is 1 (loaded) or -1 with an error message; never 0,
 *     since the file is there;
 *   - a leftover snapshot.json.tmp is gone afterwards, and snapshot.json
 *     is left byte for byte as it was (a reader never writes);
 *   - presize comes at most once, before the first key;
 *   - every key handed over is non-empty and its version is one that
 *     record_to_json writes and record_parse reads back the same;
 *   - a load whose callback refused a key fails;
 *   - on success presize came, with the number of keys handed over.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#include "buf.h"
#include "record.h"
#include "snapshot.h"
#include "version.h"

static char dir[256];
static char file[512];
static char tmp[512];
static struct record_scratch sc;

struct load {
	bool		 refuse_second;
	bool		 presized, refused;
	uint64_t	 presize_keys;
	uint64_t	 keys;
};

static void
presize_cb(void *arg, uint64_t keys)
{
	struct load *ld = arg;

	CHECK(!ld->presized && ld->keys == 0);
	ld->presized = true;
	ld->presize_keys = keys;
}

/* The version written out and read back is the same one. */
static void
check_version(const char *key, size_t klen, const struct version *v)
{
	struct buf rec;
	struct version back;
	const char *k;
	size_t kl;

	buf_init(&rec);
	version_init(&back);
	record_to_json(key, klen, v, &rec);
	CHECK(record_parse(&sc, rec.data, rec.len, &k, &kl, &back) == 0);
	CHECK(kl == klen && memcmp(k, key, klen) == 0);
	CHECK(version_cmp(v, &back) == 0);
	version_free(&back);
	buf_free(&rec);
}

static int
key_cb(void *arg, const char *key, size_t klen, const struct version *v,
    const int64_t *rcv)
{
	struct load *ld = arg;

	(void)rcv;
	CHECK(klen > 0);
	check_version(key, klen, v);
	ld->keys++;
	if (ld->refuse_second && ld->keys == 2) {
		ld->refused = true;
		return 1;
	}
	return 0;
}

/* Whether the file at path holds exactly p[0..n). */
static bool
file_is(const char *path, const char *p, size_t n)
{
	struct buf got;
	char b[4096];
	ssize_t r;
	bool same;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return false;
	buf_init(&got);
	while ((r = read(fd, b, sizeof(b))) > 0)
		buf_append(&got, b, (size_t)r);
	close(fd);
	same = got.len == n && (n == 0 || memcmp(got.data, p, n) == 0);
	buf_free(&got);
	return same;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "snapshot");
	snprintf(file, sizeof(file), "%s/" SNAPSHOT_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s/" SNAPSHOT_TMP, dir);
	record_scratch_init(&sc);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot_reader r;
	struct load ld;
	char err[512], *in;
	uint64_t seq = 99;
	int64_t mtime = 0;
	size_t len;
	int rc;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	memset(&ld, 0, sizeof(ld));
	ld.refuse_second = (data[0] & 2) != 0;
	r.presize = presize_cb;
	r.key = key_cb;
	r.arg = &ld;

	fuzz_clean_dir(dir);
	fuzz_write_file(file, in, len);
	if (data[0] & 4)
		fuzz_write_file(tmp, "{\"kvd_snapshot\":1", 17);
	err[0] = '\0';
	rc = snapshot_load(dir, &r, &seq, &mtime, err, sizeof(err));
	CHECK(rc == 1 || rc == -1);
	CHECK(access(tmp, F_OK) != 0);
	CHECK(file_is(file, in, len));
	if (rc == -1) {
		CHECK(err[0] != '\0');
	} else {
		CHECK(!ld.refused);
		CHECK(ld.presized && ld.presize_keys == ld.keys);
	}
	fuzz_clean_dir(dir);
	free(in);
	return 0;
}
