/*
 * auth.h -- the cluster secret: signing node-to-node requests and
 * verifying them (HMAC-SHA256 over method, target, date, nonce and body
 * digest; the exact bytes are pinned in auth.c).
 *
 * A struct auth holds the secret, the clock skew it tolerates and a
 * bounded cache of recently seen nonces.  It is made once at start-up
 * (auth_load or auth_new) and then shared: auth_sign and auth_verify are
 * safe to call from any number of threads at once (the nonce cache has
 * its own mutex, held only for a few table operations, never during I/O).
 * auth_free must come after the last call.
 */
#ifndef KVD_AUTH_H
#define KVD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h"
#include "http.h"

#define AUTH_KEY_MIN		16	/* bytes of secret, at least */
#define AUTH_KEY_MAX		4096	/* bytes of secret, at most */
#define AUTH_SKEW_DEFAULT	CLOCK_SKEW_MAX_S	/* seconds either way */
#define AUTH_CACHE_DEFAULT	(1 << 20)	/* nonces remembered, at most */

/* The header names a signed request carries. */
#define AUTH_HDR_DATE		"X-Kvd-Date"
#define AUTH_HDR_NONCE		"X-Kvd-Nonce"
#define AUTH_HDR_SIGNATURE	"X-Kvd-Signature"

struct auth;

/*
 * Reads the secret from path: a regular file with no group or other
 * permission bits (mode 0600 or stricter), whose contents less one
 * trailing newline are AUTH_KEY_MIN..AUTH_KEY_MAX bytes.  Default skew
 * and cache size.  0 with *out set, or -1 with a message naming the file
 * in err ("... must be mode 0600 (it is 0644)").
 */
int	auth_load(struct auth **out, const char *path, char *err, size_t errlen);

/*
 * Makes an auth from key[0..klen) (copied), tolerating skew_s seconds of
 * clock difference (<= 0: AUTH_SKEW_DEFAULT) and remembering at most
 * cache_max nonces (0: AUTH_CACHE_DEFAULT).  0, or -1 with err filled.
 */
int	auth_new(struct auth **out, const void *key, size_t klen, int skew_s,
	    size_t cache_max, char *err, size_t errlen);

/* Wipes the secret and frees everything; NULL is a no-op. */
void	auth_free(struct auth *a);

/*
 * Appends the three header lines ("X-Kvd-Date: ...\r\n" and so on) that
 * sign one request to out.  target is the request-target exactly as it
 * will be sent (path and query); body may be NULL when len is 0.
 * auth_sign_at takes the date (Unix seconds) instead of reading the clock.
 */
void	auth_sign(struct auth *a, const char *method, const char *target,
	    const void *body, size_t len, struct buf *out);
void	auth_sign_at(struct auth *a, int64_t now, const char *method,
	    const char *target, const void *body, size_t len, struct buf *out);

/*
 * Checks a received request's signature against its head and its decoded
 * body[0..len).  0 when it is signed with this secret, fresh and not seen
 * before (its nonce is then remembered, and *why set to NULL); -1
 * otherwise, with *why set to a reason: "missing signature", "malformed
 * signature", "bad signature", "replayed" or "replay cache full" (static
 * strings), or, for a date more than the skew away from now, one that
 * starts "stale: " and names the difference in seconds and the side ahead
 * ("stale: clocks differ by 412 s (the caller is ahead); nodes must agree
 * within 300 s").  That one is in a buffer of the calling thread's, valid
 * until the thread's next auth_verify: copy it to keep it.
 * auth_verify_at takes the current time instead of reading the clock.
 */
int	auth_verify(struct auth *a, const struct http_request *req,
	    const char *body, size_t len, const char **why);
int	auth_verify_at(struct auth *a, int64_t now,
	    const struct http_request *req, const char *body, size_t len,
	    const char **why);

/*
 * What the head of a signed request proves before its body is read: the
 * three fields present once each and well formed, the date within the
 * skew, the nonce not accepted before.  0, or -1 with *why set as
 * auth_verify sets it ("bad signature" excepted: the signature covers
 * the body).  Remembers nothing: auth_verify still decides.  For a
 * server that would otherwise hold a place open for the body of a
 * request that can never verify.
 */
int	auth_check_head(struct auth *a, const struct http_request *req,
	    const char **why);
int	auth_check_head_at(struct auth *a, int64_t now,
	    const struct http_request *req, const char **why);

/* Who signs the requests to a route when the cluster has a secret. */
enum auth_signer {
	AUTH_UNSIGNED,		/* nobody: the public routes */
	AUTH_SIGNER_PEERS,	/* the other nodes: the node-to-node routes */
	AUTH_SIGNER_OPERATORS	/* kvctl with --cluster-secret-file */
};

/*
 * Who signs a request to target[0..len) (a path, or a request-target:
 * its query, from the first '?', is ignored), for every method: the
 * other nodes for the paths under /internal/, which only nodes call;
 * operators for the paths under /admin/ and /cluster/join,
 * /cluster/leave and /cluster/cleanup; nobody for the others.  A node
 * checks the signature of the signed ones and of no other path, and
 * gives the peers' body limit and reserve to those the peers sign
 * (api.c).
 */
enum auth_signer auth_route_signer(const char *target, size_t len);
/*
 * Whether auth_route_signer has someone sign target[0..len): only an
 * answer on such a route can say whether a peer accepts this node's
 * signature (peer.c).
 */
bool	auth_route_signed(const char *target, size_t len);

/* How many nonces are remembered now (for tests and stats). */
size_t	auth_cache_count(struct auth *a);

#endif
