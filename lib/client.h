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
 * ECONNREFUSED/EHOSTUNREACH/ETIMEDOUT/ECONNRESET for transport failures,
 * ENXIO when the host name did not resolve (c->gai_error says why),
 * EPROTO for an unparsable response.
 */
int	client_do(struct client_conn *c, const char *method, const char *target,
	    const char *content_type, const void *body, size_t body_len,
	    const char *extra, int timeout_ms, struct client_response *res);

/*
 * What went wrong, in a person's words, when client_do on c failed with
 * errno err: "timed out", "name does not resolve (GAI TEXT)" or
 * strerror(err).  Written into out (always NUL-terminated); returns out.
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
