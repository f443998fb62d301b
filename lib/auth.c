/*
 * auth.c -- peer authentication: every node-to-node request is signed
 * with a secret all members share, and every signed route (below)
 * refuses a request that is not.
 *
 * WHY.  The internal routes write straight into the store (replicate),
 * read any key (fetch) and rewrite the member list (members).  Anyone who
 * can reach the port could otherwise do the same.  With
 * --cluster-secret-file, only holders of the secret can; the public
 * routes (/kv/, /health, /cluster/nodes, ...) are unchanged.
 *
 * WHICH ROUTES ARE SIGNED, AND BY WHOM.  auth_route_signer owns the
 * list: every path under /internal/ (node to node: the peers sign
 * them), every path under /admin/ (kvctl hints and repair) and the
 * three membership changes, /cluster/join, /cluster/leave and
 * /cluster/cleanup (a join could otherwise add a node that receives
 * copies of the data, a leave cut a member off: operators sign them
 * through kvctl), whatever the method.  api.c verifies the signature of
 * these routes and of no other, and gives the ones peers sign the
 * peers' body limit and reserve; peer.c reads the same list to know
 * which answers can say whether a peer accepts this node's signature.
 * One list, so none of them can disagree about a route added later.
 *
 * THE SECRET.  The file's bytes, less one trailing "\n" if there is one,
 * are the HMAC key: AUTH_KEY_MIN (16) to AUTH_KEY_MAX (4096) bytes of
 * anything (`openssl rand -hex 32 > F` is a good way to make one).  The
 * file must be a regular file with no group or other permission bits
 * (mode 0600, or 0400): a secret the whole machine can read is not one.
 * The checks are made on the opened descriptor (fstat), so the file
 * checked is the file read.
 *
 * THE WIRE FORMAT.  A signed request carries three header fields:
 *
 *	X-Kvd-Date: <Unix seconds, decimal, no sign>
 *	X-Kvd-Nonce: <16 lowercase hex digits: 8 random bytes>
 *	X-Kvd-Signature: <64 hex digits: HMAC-SHA256(key, string-to-sign)>
 *
 * and the string-to-sign is exactly these bytes, with "\n" a single LF and
 * no newline after the last field:
 *
 *	"KVD1\n" METHOD "\n" TARGET "\n" DATE "\n" NONCE "\n" BODYHASH
 *
 * METHOD is the request method ("POST"), TARGET the request-target exactly
 * as sent on the request line (path and query, still percent-encoded:
 * "/internal/fetch/a%2Fb?x=1"), DATE and NONCE the header values exactly
 * as sent, BODYHASH the 64 lowercase hex digits of SHA-256 over the body
 * as the handler sees it (after chunked decoding; the empty body hashes
 * to e3b0c442...b855).  "KVD1" versions the scheme.  Every field ends at
 * a "\n" and none may contain one (a request line and header values
 * cannot), so two different requests never give the same string.
 *
 * VERIFICATION, in this order; the first failure is the reason given:
 *  1. all three fields present, once each ("missing signature"), and well
 *     formed: date 1-18 digits, nonce 16 lowercase hex digits, signature
 *     64 hex digits ("malformed signature");
 *  2. |now - date| <= skew, default 300 s ("stale: clocks differ by 412 s
 *     (the caller is ahead); nodes must agree within 300 s", naming the
 *     difference and the side ahead, "the caller" or "this node", so the
 *     operator who reads the 401 or the log line knows which clock to fix;
 *     the text is formatted per thread, see auth_verify in auth.h);
 *  3. the HMAC recomputed over the received method, target, date, nonce
 *     and body equals the decoded signature, compared with
 *     sha256_ct_equal, whose time depends only on the length, so timing
 *     tells an attacker nothing about how many bytes matched
 *     ("bad signature");
 *  4. the nonce was not accepted before ("replayed"), after which it is
 *     remembered.  Only requests that passed 1-3 reach the cache, so
 *     without the secret nobody can fill it or aim at its hash chains.
 *
 * auth_check_head makes steps 1 and 2 and step 4's lookup (nothing is
 * remembered) on a head whose body has not come yet: all a head proves,
 * for a server that must not hold a connection open waiting for the
 * body of a request that will never verify (server.c's peers' reserve).
 *
 * THE REPLAY CACHE.  A valid request can be captured and sent again
 * within the skew window; the cache makes that second copy fail.  It is a
 * ring of (nonce, date) entries in the order they were accepted, plus a
 * chained hash table over the same entries for lookup.  An entry is kept
 * until its date is more than 2 x skew in the past: a request with that
 * date is refused as stale after 1 x skew, and the second skew is margin
 * for this node's clock stepping back.  Eviction takes entries from the
 * ring's head while they are that old (dates in the ring are not sorted,
 * so an entry may outlive its time behind an older one, by at most
 * 2 x skew; that costs room, never safety).  The ring starts small and
 * doubles up to cache_max entries (default 2^20, 24 bytes each, about
 * 1700 signed requests a second sustained at the default skew).  When it
 * is full of entries still in their window, verification fails with
 * "replay cache full": refusing is safe, accepting a request whose
 * replay could not be detected is not.  One mutex guards the cache; it is
 * held only for table operations.
 *
 * NONCES come from /dev/urandom (opened once, read 8 bytes per request).
 * Should that fail, a counter, the clocks and the pid are mixed through
 * HMAC under the secret, which keeps them unique within this process and
 * unpredictable to anyone without the secret.
 *
 * NOT COVERED.  Responses are not signed and nothing is encrypted: the
 * secret proves who sent a request, not what the network did to the
 * answer.  Run the cluster on a private network (or under TLS) when that
 * matters.  A request whose connection dies after it was accepted but
 * before its answer, and that the client then resends on a fresh
 * connection, is refused as replayed; the client resends only when the
 * server closed a reused connection before answering, which a kvd that
 * accepted the request does only when it crashes or stops.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "opt.h"
#include "sha256.h"

#define NONCE_BYTES	8
#define NONCE_HEX	(2 * NONCE_BYTES)
#define DATE_DIGITS_MAX	18
#define CACHE_START	1024
#define NIL		UINT32_MAX
#define WHY_MAX		160	/* a "stale" reason with its numbers */

struct nonce_ent {
	uint64_t	nonce;
	int64_t		date;
	uint32_t	next;	/* next entry in the same hash chain, or NIL */
};

struct auth {
	uint8_t		*key;
	size_t		 klen;
	int64_t		 skew;
	int		 rand_fd;	/* /dev/urandom, or -1 */

	pthread_mutex_t	 mu;		/* guards everything below */
	uint64_t	 counter;	/* fallback nonces */
	struct nonce_ent *ent;		/* ring of cap entries */
	size_t		 cap, max;
	size_t		 head, count;	/* oldest entry, entries in use */
	uint32_t	*bucket;	/* nbucket chain heads */
	size_t		 nbucket;	/* a power of two >= cap */
	int		 shift;		/* 64 - log2(nbucket) */
};

static void
wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0)
		*v++ = 0;
}

/* ---- the nonce cache (caller holds a->mu) ----------------------------- */

static size_t
do_slot(struct auth *a, uint64_t nonce)
{
	return (size_t)((nonce * 0x9e3779b97f4a7c15ULL) >> a->shift);
}

static bool
do_seen(struct auth *a, uint64_t nonce)
{
	uint32_t i;

	for (i = a->bucket[do_slot(a, nonce)]; i != NIL; i = a->ent[i].next)
		if (a->ent[i].nonce == nonce)
			return true;
	return false;
}

/* Drops the oldest entries while their date is more than 2 x skew ago. */
static void
do_evict(struct auth *a, int64_t now)
{
	struct nonce_ent *e;
	uint32_t *pp;

	while (a->count > 0 && now - a->ent[a->head].date > 2 * a->skew) {
		e = &a->ent[a->head];
		for (pp = &a->bucket[do_slot(a, e->nonce)]; *pp != NIL;
		    pp = &a->ent[*pp].next) {
			if (*pp == (uint32_t)a->head) {
				*pp = e->next;
				break;
			}
		}
		a->head = (a->head + 1) % a->cap;
		a->count--;
	}
}

/*
 * Makes room for newcap entries: new arrays, entries copied oldest first
 * to index 0.., chains rebuilt.  0, or -1 when out of memory (the old
 * cache is untouched).
 */
static int
do_resize(struct auth *a, size_t newcap)
{
	struct nonce_ent *ent;
	uint32_t *bucket;
	size_t nb = 1, i, s;
	int bits = 0;

	while (nb < newcap) {
		nb <<= 1;
		bits++;
	}
	if (bits == 0) {	/* keep the shift below 64 */
		nb = 2;
		bits = 1;
	}
	ent = calloc(newcap, sizeof(*ent));
	bucket = malloc(nb * sizeof(*bucket));
	if (ent == NULL || bucket == NULL) {
		free(ent);
		free(bucket);
		return -1;
	}
	for (i = 0; i < a->count; i++)
		ent[i] = a->ent[(a->head + i) % a->cap];
	free(a->ent);
	free(a->bucket);
	a->ent = ent;
	a->bucket = bucket;
	a->cap = newcap;
	a->head = 0;
	a->nbucket = nb;
	a->shift = 64 - bits;
	for (i = 0; i < nb; i++)
		bucket[i] = NIL;
	for (i = 0; i < a->count; i++) {
		s = do_slot(a, ent[i].nonce);
		ent[i].next = bucket[s];
		bucket[s] = (uint32_t)i;
	}
	return 0;
}

/* Remembers nonce.  0, or -1 when the cache is full. */
static int
do_insert(struct auth *a, uint64_t nonce, int64_t date)
{
	size_t i, s, newcap;

	if (a->count == a->cap) {
		if (a->cap >= a->max)
			return -1;
		newcap = a->cap * 2 < a->max ? a->cap * 2 : a->max;
		if (do_resize(a, newcap) != 0)
			return -1;
	}
	i = (a->head + a->count) % a->cap;
	s = do_slot(a, nonce);
	a->ent[i].nonce = nonce;
	a->ent[i].date = date;
	a->ent[i].next = a->bucket[s];
	a->bucket[s] = (uint32_t)i;
	a->count++;
	return 0;
}

/* ---- making and freeing ----------------------------------------------- */

int
auth_new(struct auth **out, const void *key, size_t klen, int skew_s,
    size_t cache_max, char *err, size_t errlen)
{
	struct auth *a = NULL;
	bool mu = false;

	*out = NULL;
	if (klen < AUTH_KEY_MIN || klen > AUTH_KEY_MAX) {
		snprintf(err, errlen, "the cluster secret must be %d to %d bytes "
		    "(it is %zu)", AUTH_KEY_MIN, AUTH_KEY_MAX, klen);
		return -1;
	}
	if (cache_max == 0)
		cache_max = AUTH_CACHE_DEFAULT;
	if (cache_max > NIL - 1)	/* indices are 32-bit */
		cache_max = NIL - 1;
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->key = malloc(klen)) == NULL)
		goto nomem;
	memcpy(a->key, key, klen);
	a->klen = klen;
	a->skew = skew_s > 0 ? skew_s : AUTH_SKEW_DEFAULT;
	a->max = cache_max;
	if (pthread_mutex_init(&a->mu, NULL) != 0)
		goto nomem;
	mu = true;
	if (do_resize(a, cache_max < CACHE_START ? cache_max : CACHE_START) != 0)
		goto nomem;
#ifdef O_CLOEXEC
	a->rand_fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
#else
	a->rand_fd = open("/dev/urandom", O_RDONLY);
#endif
	*out = a;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
	if (a != NULL) {
		if (mu)
			pthread_mutex_destroy(&a->mu);
		if (a->key != NULL)
			wipe(a->key, klen);
		free(a->key);
		free(a->ent);
		free(a->bucket);
		free(a);
	}
	return -1;
}

int
auth_load(struct auth **out, const char *path, char *err, size_t errlen)
{
	uint8_t data[AUTH_KEY_MAX + 2];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = -1, rc = -1;

	*out = NULL;
#ifdef O_CLOEXEC
	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
#else
	fd = open(path, O_RDONLY | O_NOCTTY);
#endif
	if (fd < 0) {
		snprintf(err, errlen, "cannot open cluster secret file %s: %s",
		    path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot stat cluster secret file %s: %s",
		    path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cluster secret file %s is not a regular "
		    "file", path);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "cluster secret file %s must be mode 0600 "
		    "(it is %04o): chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	/* Read one byte past the longest allowed file to notice a longer one. */
	while (len < sizeof(data)) {
		n = read(fd, data + len, sizeof(data) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read cluster secret file "
			    "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len < AUTH_KEY_MIN) {
		snprintf(err, errlen, "cluster secret file %s is too short (%zu "
		    "bytes; at least %d)", path, len, AUTH_KEY_MIN);
		goto fail;
	}
	if (len > AUTH_KEY_MAX) {
		snprintf(err, errlen, "cluster secret file %s is too long (at "
		    "most %d bytes)", path, AUTH_KEY_MAX);
		goto fail;
	}
	if (auth_new(out, data, len, 0, 0, err, errlen) != 0)
		goto fail;
	rc = 0;

fail:
	wipe(data, sizeof(data));
	if (fd >= 0)
		close(fd);
	return rc;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	if (a->rand_fd >= 0)
		close(a->rand_fd);
	wipe(a->key, a->klen);
	free(a->key);
	free(a->ent);
	free(a->bucket);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* The signed paths and their signers (WHICH ROUTES ARE SIGNED): prefixes
 * end in '/'. */
static const struct {
	const char		*path;
	enum auth_signer	 signer;
} signed_paths[] = {
	{ "/internal/",		AUTH_SIGNER_PEERS },
	{ "/admin/",		AUTH_SIGNER_OPERATORS },
	{ "/cluster/join",	AUTH_SIGNER_OPERATORS },
	{ "/cluster/leave",	AUTH_SIGNER_OPERATORS },
	{ "/cluster/cleanup",	AUTH_SIGNER_OPERATORS },
};

enum auth_signer
auth_route_signer(const char *target, size_t len)
{
	const char *query = memchr(target, '?', len), *path;
	size_t i, n;

	if (query != NULL)
		len = (size_t)(query - target);
	for (i = 0; i < sizeof(signed_paths) / sizeof(signed_paths[0]); i++) {
		path = signed_paths[i].path;
		n = strlen(path);
		if (len < n || memcmp(target, path, n) != 0)
			continue;
		if (path[n - 1] == '/' || len == n)
			return signed_paths[i].signer;
	}
	return AUTH_UNSIGNED;
}

bool
auth_route_signed(const char *target, size_t len)
{
	return auth_route_signer(target, len) != AUTH_UNSIGNED;
}

size_t
auth_cache_count(struct auth *a)
{
	size_t n;

	pthread_mutex_lock(&a->mu);
	n = a->count;
	pthread_mutex_unlock(&a->mu);
	return n;
}

/* ---- signing ---------------------------------------------------------- */

/*
 * The HMAC of the string-to-sign (see the top of the file).  The message
 * is built in a heap buffer: targets can be kilobytes and connection
 * threads have small stacks.
 */
static void
compute_mac(struct auth *a, const char *method, size_t mlen,
    const char *target, size_t tlen, const char *date, size_t dlen,
    const char *nonce, size_t nlen, const void *body, size_t blen,
    uint8_t mac[SHA256_LEN])
{
	struct buf msg = BUF_INIT;
	uint8_t digest[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];

	sha256(body, blen, digest);
	hex_encode(digest, SHA256_LEN, hex);
	buf_puts(&msg, "KVD1\n");
	buf_append(&msg, method, mlen);
	buf_putc(&msg, '\n');
	buf_append(&msg, target, tlen);
	buf_putc(&msg, '\n');
	buf_append(&msg, date, dlen);
	buf_putc(&msg, '\n');
	buf_append(&msg, nonce, nlen);
	buf_putc(&msg, '\n');
	buf_append(&msg, hex, 2 * SHA256_LEN);
	hmac_sha256(a->key, a->klen, msg.data, msg.len, mac);
	buf_free(&msg);
}

/* Fills out with 8 bytes no other request of this process will carry. */
static void
make_nonce(struct auth *a, uint8_t out[NONCE_BYTES])
{
	struct {
		uint64_t	counter;
		struct timespec	wall, mono;
		pid_t		pid;
	} mix;
	uint8_t mac[SHA256_LEN];
	size_t got = 0;
	ssize_t n;

	while (a->rand_fd >= 0 && got < NONCE_BYTES) {
		n = read(a->rand_fd, out + got, NONCE_BYTES - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == NONCE_BYTES)
		return;
	memset(&mix, 0, sizeof(mix));
	pthread_mutex_lock(&a->mu);
	mix.counter = ++a->counter;
	pthread_mutex_unlock(&a->mu);
	clock_gettime(CLOCK_REALTIME, &mix.wall);
	clock_gettime(CLOCK_MONOTONIC, &mix.mono);
	mix.pid = getpid();
	hmac_sha256(a->key, a->klen, &mix, sizeof(mix), mac);
	memcpy(out, mac, NONCE_BYTES);
}

void
auth_sign_at(struct auth *a, int64_t now, const char *method,
    const char *target, const void *body, size_t len, struct buf *out)
{
	uint8_t nonce[NONCE_BYTES], mac[SHA256_LEN];
	char date[24], nhex[NONCE_HEX + 1], shex[2 * SHA256_LEN + 1];

	snprintf(date, sizeof(date), "%lld", (long long)(now < 0 ? 0 : now));
	make_nonce(a, nonce);
	hex_encode(nonce, NONCE_BYTES, nhex);
	compute_mac(a, method, strlen(method), target, strlen(target), date,
	    strlen(date), nhex, NONCE_HEX, len > 0 ? body : NULL, len, mac);
	hex_encode(mac, SHA256_LEN, shex);
	buf_printf(out, AUTH_HDR_DATE ": %s\r\n" AUTH_HDR_NONCE ": %s\r\n"
	    AUTH_HDR_SIGNATURE ": %s\r\n", date, nhex, shex);
}

void
auth_sign(struct auth *a, const char *method, const char *target,
    const void *body, size_t len, struct buf *out)
{
	auth_sign_at(a, (int64_t)time(NULL), method, target, body, len, out);
}

/* ---- verifying -------------------------------------------------------- */

/* The only field called name: 0 found, 1 absent, -1 present twice. */
static int
find_one(const struct http_request *req, const char *name,
    const struct http_header **out)
{
	const struct http_header *h;

	*out = http_find_header(req->headers, req->nheaders, name);
	if (*out == NULL)
		return 1;
	h = *out + 1;
	if (http_find_header(h, req->nheaders - (size_t)(h - req->headers),
	    name) != NULL)
		return -1;
	return 0;
}

/*
 * The reason for a date outside the skew: how far apart the two clocks
 * are and which is ahead.  The text lives in a per-thread buffer, valid
 * until this thread's next auth_verify (auth.h).
 */
static const char *
stale_why(const struct auth *a, int64_t now, int64_t date)
{
	static _Thread_local char why[WHY_MAX];
	int64_t d = date > now ? date - now : now - date;

	snprintf(why, sizeof(why), "stale: clocks differ by %lld s (%s is "
	    "ahead); nodes must agree within %lld s", (long long)d,
	    date > now ? "the caller" : "this node", (long long)a->skew);
	return why;
}

/* A decimal date of 1..DATE_DIGITS_MAX digits into *date.  0, or -1. */
static int
parse_date(const char *s, size_t n, int64_t *date)
{
	uint64_t v;

	if (n > DATE_DIGITS_MAX || opt_digits(s, n, &v) != 0)
		return -1;
	*date = (int64_t)v;
	return 0;
}

/*
 * VERIFICATION's steps 1 and 2: fills the three fields, the date, the
 * decoded nonce and signature.  0, or -1 with *why set.
 */
static int
check_head(struct auth *a, int64_t now, const struct http_request *req,
    const struct http_header *h[3], int64_t *date, uint64_t *nv,
    uint8_t sig[SHA256_LEN], const char **why)
{
	uint8_t nonce[NONCE_BYTES];
	int rd, rn, rs, i;

	rd = find_one(req, AUTH_HDR_DATE, &h[0]);
	rn = find_one(req, AUTH_HDR_NONCE, &h[1]);
	rs = find_one(req, AUTH_HDR_SIGNATURE, &h[2]);
	if (rd == 1 || rn == 1 || rs == 1) {
		*why = "missing signature";
		return -1;
	}
	if (rd != 0 || rn != 0 || rs != 0 ||
	    parse_date(h[0]->value, h[0]->value_len, date) != 0 ||
	    hex_decode(h[1]->value, h[1]->value_len, true, nonce,
	    NONCE_BYTES) != 0 ||
	    hex_decode(h[2]->value, h[2]->value_len, false, sig,
	    SHA256_LEN) != 0) {
		*why = "malformed signature";
		return -1;
	}
	if (*date < now - a->skew || *date > now + a->skew) {
		*why = stale_why(a, now, *date);
		return -1;
	}
	*nv = 0;
	for (i = 0; i < NONCE_BYTES; i++)
		*nv = *nv << 8 | nonce[i];
	return 0;
}

int
auth_check_head_at(struct auth *a, int64_t now,
    const struct http_request *req, const char **why)
{
	const struct http_header *h[3];
	uint8_t sig[SHA256_LEN];
	int64_t date;
	uint64_t nv;
	bool seen;

	if (check_head(a, now, req, h, &date, &nv, sig, why) != 0)
		return -1;
	pthread_mutex_lock(&a->mu);
	seen = do_seen(a, nv);
	pthread_mutex_unlock(&a->mu);
	*why = seen ? "replayed" : NULL;
	return seen ? -1 : 0;
}

int
auth_check_head(struct auth *a, const struct http_request *req,
    const char **why)
{
	return auth_check_head_at(a, (int64_t)time(NULL), req, why);
}

int
auth_verify_at(struct auth *a, int64_t now, const struct http_request *req,
    const char *body, size_t len, const char **why)
{
	const struct http_header *h[3];
	uint8_t sig[SHA256_LEN], mac[SHA256_LEN];
	int64_t date;
	uint64_t nv;
	int rc;

	if (check_head(a, now, req, h, &date, &nv, sig, why) != 0)
		return -1;
	compute_mac(a, req->method, req->method_len, req->target,
	    req->target_len, h[0]->value, h[0]->value_len, h[1]->value,
	    h[1]->value_len, len > 0 ? body : NULL, len, mac);
	if (!sha256_ct_equal(mac, sig, SHA256_LEN)) {
		*why = "bad signature";
		return -1;
	}
	pthread_mutex_lock(&a->mu);
	do_evict(a, now);
	if (do_seen(a, nv)) {
		*why = "replayed";
		rc = -1;
	} else if (do_insert(a, nv, date) != 0) {
		*why = "replay cache full";
		rc = -1;
	} else {
		*why = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int
auth_verify(struct auth *a, const struct http_request *req, const char *body,
    size_t len, const char **why)
{
	return auth_verify_at(a, (int64_t)time(NULL), req, body, len, why);
}
