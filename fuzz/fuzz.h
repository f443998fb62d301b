/*
 * fuzz.h -- what every libFuzzer harness in fuzz/ shares.
 *
 *	CHECK(cond)               an oracle: on failure prints the file, line
 *	                          and condition ("check failed", which
 *	                          fuzz/run.sh greps for) and aborts, so
 *	                          libFuzzer keeps the input
 *	fuzz_inside(p, n, b, len) whether the slice p[0..n) lies inside
 *	                          b[0..len)
 *	fuzz_fix_crcs(p, n)       reseals every line of p[0..n) shaped like
 *	                          a sealed line (crc32c.c), so that inputs
 *	                          get past the checksum the fuzzer cannot
 *	                          forge
 *	fuzz_sealed_copy(d, n, &len)  the input after its first byte (the
 *	                          harness's options), copied, resealed
 *	                          when option bit 0 is set; NULL when
 *	                          there is no first byte
 *	fuzz_write_file(path, p, n)  writes p[0..n) as the whole file at
 *	                          path (a failure is a CHECK)
 *	fuzz_scratch_dir(dir, n, name)  makes a fresh directory (under
 *	                          /dev/shm when it exists) into dir,
 *	                          removed with its files at exit
 *	fuzz_clean_dir(dir)       unlinks every file in dir, and removes
 *	                          its directories with what they hold
 *	fuzz_node_open(fn, dir)   a node's store (no fsync), hints (no
 *	                          delivery thread) and replica in dir,
 *	                          without cluster or peers: what the
 *	                          node-to-node endpoints serve from
 *	fuzz_node_close(fn)       closes them in reverse
 *
 * Header-only so each harness stays one file that run.sh builds alone.
 */
#ifndef KVD_FUZZ_H
#define KVD_FUZZ_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "hints.h"
#include "replica.h"
#include "store.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static inline bool
fuzz_inside(const char *p, size_t n, const char *b, size_t len)
{
	return p >= b && n <= len && p + n <= b + len;
}

/*
 * Reseals every line ending `,"crc":"????????"}` (any 8 bytes as digits):
 * its crc member is rewritten as crc32c_line_end writes it.
 */
static inline void
fuzz_fix_crcs(char *p, size_t n)
{
	static const char sfx[] = ",\"crc\":\"";
	char end[CRC32C_END_LEN];
	size_t a = 0, e, body;

	while (a < n) {
		char *nl = memchr(p + a, '\n', n - a);

		e = nl ? (size_t)(nl - p) : n;
		if (e - a >= CRC32C_SUFFIX_LEN &&
		    memcmp(p + e - CRC32C_SUFFIX_LEN, sfx, 8) == 0 &&
		    p[e - 2] == '"' && p[e - 1] == '}') {
			body = e - a - CRC32C_SUFFIX_LEN;
			crc32c_line_end(end, crc32c(0, p + a, body));
			memcpy(p + a + body, end, CRC32C_SUFFIX_LEN);
		}
		a = e + 1;
	}
}

/* The caller frees the copy; *len is its length (0 allowed). */
static inline char *
fuzz_sealed_copy(const uint8_t *data, size_t size, size_t *len)
{
	char *in;

	if (size < 1)
		return NULL;
	*len = size - 1;
	in = malloc(*len ? *len : 1);
	CHECK(in != NULL);
	memcpy(in, data + 1, *len);
	if (data[0] & 1)
		fuzz_fix_crcs(in, *len);
	return in;
}

static inline void
fuzz_write_file(const char *path, const char *p, size_t n)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static inline void
fuzz_clean_dir(const char *dir)
{
	char path[600];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			fuzz_clean_dir(path);
			(void)rmdir(path);
		} else
			(void)unlink(path);
	}
	closedir(d);
}

static char fuzz_dir_made[256];

static inline void
fuzz_remove_dir(void)
{
	fuzz_clean_dir(fuzz_dir_made);
	(void)rmdir(fuzz_dir_made);
}

/* Exits on failure: a harness without its directory cannot run. */
static inline void
fuzz_scratch_dir(char *dir, size_t n, const char *name)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";

	snprintf(fuzz_dir_made, sizeof(fuzz_dir_made), "%s/kvd-fuzz-%s.XXXXXX",
	    base, name);
	if (mkdtemp(fuzz_dir_made) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(dir, n, "%s", fuzz_dir_made);
	atexit(fuzz_remove_dir);
}

struct fuzz_node {
	struct store	*store;
	struct hints	*hints;
	struct replica	*replica;
};

/* Exits on failure: a harness without its node cannot run. */
static inline void
fuzz_node_open(struct fuzz_node *fn, const char *dir)
{
	static const struct store_options nosync = { .fsync = false };
	struct hints_config hc;
	struct replica_config rc;
	char err[512];

	memset(&hc, 0, sizeof(hc));
	hc.dir = dir;
	hc.self_id = "n1";
	if (store_open(&fn->store, dir, &nosync, err, sizeof(err)) != 0)
		goto fail;
	hc.store = fn->store;
	if (hints_open(&fn->hints, &hc, err, sizeof(err)) != 0)
		goto fail;
	memset(&rc, 0, sizeof(rc));
	rc.store = fn->store;
	rc.hints = fn->hints;
	rc.self_id = "n1";
	rc.actor = "n1.00000001";
	if ((fn->replica = replica_new(&rc)) == NULL) {
		snprintf(err, sizeof(err), "replica_new: %s", strerror(errno));
		goto fail;
	}
	return;
fail:
	fprintf(stderr, "fuzz_node_open: %s\n", err);
	exit(1);
}

static inline void
fuzz_node_close(struct fuzz_node *fn)
{
	replica_free(fn->replica);
	hints_close(fn->hints);
	store_close(fn->store);
}

#endif
