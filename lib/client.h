/*
 * client.h -- an HTTP/1.1 client connection with deadlines, used by
 * kvctl and by node-to-node calls.
 *
 * A struct client_conn is one keep-alive connection to one host:port,
 * owned by one thread at a time.  client_do() (re)connects when needed,
 * sends a request, reads the whole response and keeps the connection for
 * the next call when the server allows it.  If a reused connection turns
 * out to have been closed by the server before any response byte arrived,
 * the request is sent once more on a fresh connection (callers only send
 * requests that are safe to repeat: reads, and writes whose apply is
 * idempotent).
 *
 * For a caller that drives many connections from one thread with poll(2)
 * (lib/bench), the steps of client_do are exported too, none of which
 * blocks: client_request_head writes the head client_do would send,
 * client_resolve and client_connect_* connect a non-blocking socket, and a
 * struct client_reader frames the response from whatever bytes the caller
 * has received.  The caller owns the socket and does its own send(2) and
 * recv(2); the HTTP stays here.
 */
#ifndef KVD_CLIENT_H
#define KVD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "http.h"
#include "net.h"

struct client_conn {
	char		host[NET_HOST_MAX];
	char		port[NET_PORT_MAX];
	int		fd;		/* -1 when not connected */
	struct buf	in;		/* bytes read past the last response */
	int		connect_timeout_ms;
	int		gai_error;	/* getaddrinfo's code when the last
					   client_do failed with ENXIO, else 0 */
	const char	*error;		/* why the last client_do failed with
					   EPROTO, ECONNRESET for a close in
					   mid-response, or ETIMEDOUT when
					   stalled gave up (a static string),
					   else NULL */
	/*
	 * A check for a server that accepted the connection but does not
	 * answer (a stopped process: the kernel accepts for it).  NULL (as
	 * client_init leaves it) for none.  While no byte of a response
	 * has come, stalled(c, stalled_arg) is called stalled_after_ms
	 * after the request was sent, then after twice as long each time
	 * it returned NULL (keep waiting); when it returns a reason (a
	 * static string), client_do fails at once with ETIMEDOUT and
	 * c->error that reason.  It runs on client_do's thread and must not
	 * use c's socket.
	 */
	const char	*(*stalled)(const struct client_conn *c, void *arg);
	void		*stalled_arg;
	int		stalled_after_ms;
	/*
	 * A way to abandon a client_do in progress from another thread:
	 * a descriptor (a pipe's read end) every wait of the call polls
	 * beside the socket (net.h); once it is readable the call fails at
	 * once with ECANCELED, and resends nothing.  -1 (as client_init
	 * leaves it) for none.  Whoever sets it owns the descriptor.
	 */
	int		cancel_fd;
};

struct client_response {
	struct buf	head;		/* the raw response head */
	struct http_response http;	/* parsed; slices point into head */
	struct buf	body;		/* decoded body */
};

/*
 * Sets up c for host:port (not connected yet).  0, or -1 when the address
 * is too long.
 */
int	client_init(struct client_conn *c, const char *host, const char *port,
	    int connect_timeout_ms);
/* Closes the socket and frees buffers; c can be client_init'ed again. */
void	client_close(struct client_conn *c);

void	client_response_init(struct client_response *r);
void	client_response_free(struct client_response *r);

/*
 * Sends one request and reads the response before timeout_ms.  body may be
 * NULL (no body, no Content-Length unless method is PUT/POST, which get
 * Content-Length: 0).  extra is preformatted header lines or NULL.
 * Returns 0 with res filled (any HTTP status), or -1 with errno:
 * ECONNREFUSED/EHOSTUNREACH/ETIMEDOUT/ECONNRESET for transport failures
 * (ETIMEDOUT too when c->stalled gave up on the server),
 * ENXIO when the host name did not resolve (c->gai_error says why),
 * EPROTO for an unparsable response (c->error says what was wrong with
 * it, as it does for a connection closed in mid-response).
 */
int	client_do(struct client_conn *c, const char *method, const char *target,
	    const char *content_type, const void *body, size_t body_len,
	    const char *extra, int timeout_ms, struct client_response *res);

/*
 * client_do for a response whose size makes its time unknown: the call
 * fails (ETIMEDOUT) once timeout_ms pass without a byte of the response
 * arriving -- the first counted from the call's start, connect and send
 * included -- or once max_ms have passed in all.  A hung server thus
 * costs timeout_ms, and a large response that keeps arriving gets up to
 * max_ms.  client_do is this with max_ms equal to timeout_ms.
 */
int	client_do_progress(struct client_conn *c, const char *method,
	    const char *target, const char *content_type, const void *body,
	    size_t body_len, const char *extra, int timeout_ms, int max_ms,
	    struct client_response *res);

/*
 * Appends to out the request head client_do sends for these arguments to
 * host:port: request line, Host, Content-Type when not NULL,
 * Content-Length when there is a body (body not NULL, or method PUT or
 * POST), extra, the blank line.  The body itself is not appended.
 */
void	client_request_head(struct buf *out, const char *host, const char *port,
	    const char *method, const char *target, const char *content_type,
	    const void *body, size_t body_len, const char *extra);

/*
 * Reads one response from bytes as they arrive, without doing any I/O:
 * the caller receives into a struct buf of its own (kept across
 * responses of a connection) and calls client_reader_feed after each
 * receipt.  Framing is client_do's (see client.c).  One reader per
 * response in flight; it keeps no pointer between calls.
 */
struct client_reader {
	int		 state;		/* private */
	bool		 is_head;	/* the request was HEAD: no body */
	bool		 reusable;	/* once complete: the connection may
					   carry the next request */
	size_t		 need;		/* private: Content-Length */
	struct http_chunked chunked;	/* private */
	const char	*error;		/* after -1: why (a static string) */
};

/* Makes rd ready for the response to one request (HEAD when is_head). */
void	client_reader_start(struct client_reader *rd, bool is_head);
/*
 * Takes from in the bytes that belong to the response, parsing them into
 * res (slices into res->head, as client_do's).  Returns 1 when the
 * response is complete (bytes past it stay in in, for the next one), 0
 * when it needs more bytes, -1 with errno EPROTO when they are no valid
 * response.  Interim 1xx responses are consumed and skipped.
 */
int	client_reader_feed(struct client_reader *rd, struct buf *in,
	    struct client_response *res);
/*
 * Tells rd that the peer closed the connection after the bytes fed so
 * far.  0 when that completes the response (a body delimited by the
 * close; rd->reusable is then false), or -1 with errno ECONNRESET when
 * the response was cut short.
 */
int	client_reader_eof(struct client_reader *rd);

/*
 * A server's addresses, resolved once so that connecting never waits on
 * a name lookup.  Read-only once made: any number of threads may connect
 * with one at the same time.
 */
struct client_addrs;
/*
 * Resolves host:port (every address, IPv6 and IPv4, as net_connect
 * tries them).  A malloc'd result for client_addrs_free, or NULL with
 * errno ENOMEM, or ENXIO when the name did not resolve (*gai then holds
 * getaddrinfo's code; otherwise *gai is 0).
 */
struct client_addrs *client_resolve(const char *host, const char *port,
	    int *gai);
void	client_addrs_free(struct client_addrs *a);	/* NULL is a no-op */

/*
 * One connect in progress over a server's addresses, tried in order.
 * addrs is borrowed and must outlive it; NULL stands for a name that did
 * not resolve, which every step then fails with ENXIO.
 */
struct client_connect {
	const struct client_addrs *addrs;
	int		 next;	/* the address to try next */
	int		 err;	/* the last address's error */
};

void	client_connect_init(struct client_connect *cc,
	    const struct client_addrs *addrs);
/*
 * Starts connecting to the next address not yet tried.  Returns a socket
 * the caller owns -- non-blocking, close-on-exec, TCP_NODELAY -- whose
 * connect has completed (*pending false) or is under way (*pending true:
 * poll it for POLLOUT, then call client_connect_check).  -1 when no
 * address is left, with errno the last address's error (ECONNREFUSED,
 * EHOSTUNREACH, ...; ENXIO for a name that did not resolve).  How long
 * to wait is the caller's: it closes the socket at its deadline.
 */
int	client_connect_next(struct client_connect *cc, bool *pending);
/*
 * After a pending socket polled writable (or reported an error): 0 when
 * it is connected, or -1 with errno the connect's error; the caller then
 * closes fd and calls client_connect_next for the next address.
 */
int	client_connect_check(struct client_connect *cc, int fd);

/*
 * What went wrong, in a person's words, when client_do on c failed with
 * errno err: "timed out" (c->error when stalled gave up), "name does not
 * resolve (GAI TEXT)", "bad response: WHY" (EPROTO), c->error for a
 * close in mid-response, or strerror(err).  Written into out (always NUL-terminated); returns out.
 */
const char *client_strerror(const struct client_conn *c, int err, char *out,
	    size_t outlen);

/*
 * Splits a server URL s[0..len) -- "http://host:port/", with the scheme,
 * the port (80) and the trailing slash optional; an empty host means
 * 127.0.0.1 -- into host and port.  0, or -1 when malformed (https, a
 * path, a bad port).
 */
int	client_parse_url(const char *s, size_t len, char *host, size_t hostlen,
	    char *port, size_t portlen);

/* One server of a --server list. */
struct client_server {
	char	host[NET_HOST_MAX];
	char	port[NET_PORT_MAX];
};

/*
 * Parses a comma-separated list of server URLs (client_parse_url; empty
 * entries are skipped) into a malloc'd array the caller frees.  Returns
 * how many (>= 1), or -1: then *bad and *badlen name the malformed entry,
 * or *badlen is 0 for an empty list or ENOMEM.
 */
int	client_parse_servers(const char *list, struct client_server **out,
	    const char **bad, size_t *badlen);

/* The value of header name in res (NUL-terminated copy into out), or NULL. */
const char *client_header(const struct client_response *res, const char *name,
	    char *out, size_t outlen);

#endif
