/*
 * client.c -- one keep-alive HTTP/1.1 client connection.
 *
 * Response framing, in the order RFC 9112 section 6.3 gives it: no body
 * for HEAD, 1xx, 204 and 304; chunked when Transfer-Encoding says so;
 * Content-Length bytes when given; otherwise everything up to EOF (and
 * the connection is not reused).  Interim 1xx responses (100 Continue)
 * are skipped.  That framing is written once, as the client_reader: a
 * state machine fed whatever bytes have arrived, which never reads a
 * socket itself.  client_do's blocking read loop drives it, and so does
 * lib/bench's event loop, which receives on non-blocking sockets; the
 * request head is likewise written in one place (client_request_head)
 * for both.
 *
 * A caller that has somewhere else to go (kvctl's next --server) can ask
 * to be told of a server that accepted the connection but does not
 * answer, as a stopped process's kernel does for it: c->stalled is
 * called while no byte of the answer has come, first after
 * stalled_after_ms, then after twice as long each time it said to keep
 * waiting, and a reason to give up ends the request at once (ETIMEDOUT,
 * c->error that reason).  A first
 * byte ends the checks; the body may take as long as the deadline lets.
 *
 * A caller that may have to drop a call before its deadline (peer.c's
 * background calls, when the node stops) sets c->cancel_fd: every wait
 * (connect, send, receive) polls it beside the socket, and the call ends
 * with ECANCELED as soon as it is readable.  An abandoned call is not
 * resent on a fresh connection, as a reused one that died is.
 *
 * The event loop also needs to connect without blocking, so connecting
 * comes in steps here too: a server's name is resolved once
 * (client_resolve), and client_connect_next / client_connect_check walk
 * its addresses with net_connect's own steps (net.h), leaving the wait
 * for the socket to the caller's poll(2).
 *
 * DEADLINES.  client_do's is fixed: connect, send and the whole response
 * before it.  client_do_progress's moves: every receipt of response bytes
 * puts it timeout_ms after that receipt, up to a limit max_ms after the
 * start, so a caller can wait for a large answer as long as it keeps
 * coming without waiting as long for a server that sends nothing.
 */
#include "client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"

#define MAX_RESPONSE_HEAD	65536
#define MAX_RESPONSE_BODY	(256u * 1024 * 1024)

int
client_init(struct client_conn *c, const char *host, const char *port,
    int connect_timeout_ms)
{
	if (strlen(host) >= sizeof(c->host) || strlen(port) >= sizeof(c->port))
		return -1;
	strcpy(c->host, host);
	strcpy(c->port, port);
	c->fd = -1;
	buf_init(&c->in);
	c->connect_timeout_ms = connect_timeout_ms;
	c->gai_error = 0;
	c->error = NULL;
	c->stalled = NULL;
	c->stalled_arg = NULL;
	c->stalled_after_ms = 0;
	c->cancel_fd = -1;
	return 0;
}

void
client_close(struct client_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}

void
client_response_init(struct client_response *r)
{
	buf_init(&r->head);
	buf_init(&r->body);
	memset(&r->http, 0, sizeof(r->http));
}

void
client_response_free(struct client_response *r)
{
	buf_free(&r->head);
	buf_free(&r->body);
}

/* Reads more into c->in.  >0 bytes, 0 EOF, -1 error. */
static ssize_t
fill(struct client_conn *c, int64_t deadline)
{
	ssize_t n;

	buf_grow(&c->in, 16384);
	n = net_read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1,
	    deadline, c->cancel_fd);
	if (n > 0) {
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
	}
	return n;
}

/* ---- reading a response, a receipt at a time ---- */

enum { READ_HEAD, READ_LENGTH, READ_CHUNKED, READ_TO_EOF, READ_DONE };

void
client_reader_start(struct client_reader *rd, bool is_head)
{
	memset(rd, 0, sizeof(*rd));
	rd->state = READ_HEAD;
	rd->is_head = is_head;
}

/*
 * Moves a complete head from in into res->head (where its slices stay
 * valid) and decides how the body is framed.  0, or -1 (EPROTO) for a
 * Content-Length above MAX_RESPONSE_BODY.
 */
static int
take_head(struct client_reader *rd, struct buf *in, size_t hlen,
    struct client_response *res)
{
	int status;

	buf_reset(&res->head);
	buf_append(&res->head, in->data, hlen);
	http_parse_response(res->head.data, res->head.len, MAX_RESPONSE_HEAD,
	    &res->http);
	buf_consume(in, hlen);
	buf_reset(&res->body);
	rd->reusable = res->http.keep_alive;
	status = res->http.status;
	if (rd->is_head || status == 204 || status == 304) {
		rd->state = READ_DONE;
	} else if (res->http.chunked) {
		rd->state = READ_CHUNKED;
	} else if (res->http.content_length >= 0) {
		if ((uint64_t)res->http.content_length > MAX_RESPONSE_BODY)
			return -1;
		rd->need = (size_t)res->http.content_length;
		rd->state = READ_LENGTH;
	} else {
		rd->reusable = false;
		rd->state = READ_TO_EOF;
	}
	return 0;
}

int
client_reader_feed(struct client_reader *rd, struct buf *in,
    struct client_response *res)
{
	ssize_t n;
	int hlen, status;

	for (;;) {
		switch (rd->state) {
		case READ_HEAD:
			hlen = http_parse_response(in->data, in->len,
			    MAX_RESPONSE_HEAD, &res->http);
			if (hlen == HTTP_INCOMPLETE)
				return 0;
			if (hlen < 0) {
				rd->error = res->http.error;
				goto bad;
			}
			if (res->http.status >= 100 && res->http.status < 200) {
				buf_consume(in, (size_t)hlen);	/* 100 Continue */
				continue;
			}
			if (take_head(rd, in, (size_t)hlen, res) != 0) {
				rd->error = "body larger than a response may be";
				goto bad;
			}
			continue;
		case READ_LENGTH:
			if (in->len < rd->need)
				return 0;
			buf_append(&res->body, in->data, rd->need);
			buf_consume(in, rd->need);
			rd->state = READ_DONE;
			continue;
		case READ_CHUNKED:
			n = http_chunked_decode(&rd->chunked, in->data, in->len,
			    MAX_RESPONSE_BODY, &res->body, &status);
			if (n < 0) {
				rd->error = status == 413 ? "body larger than a "
				    "response may be" : rd->chunked.error;
				goto bad;
			}
			buf_consume(in, (size_t)n);
			if (!rd->chunked.done)
				return 0;
			rd->state = READ_DONE;
			continue;
		case READ_TO_EOF:
			buf_append(&res->body, in->data, in->len);
			buf_reset(in);
			return 0;
		default:
			return 1;
		}
	}
bad:
	errno = EPROTO;
	return -1;
}

int
client_reader_eof(struct client_reader *rd)
{
	if (rd->state == READ_TO_EOF || rd->state == READ_DONE) {
		rd->state = READ_DONE;
		rd->reusable = false;
		return 0;
	}
	rd->error = rd->state == READ_HEAD ? "connection closed in the "
	    "middle of a response head" : "connection closed before the "
	    "response body ended";
	errno = ECONNRESET;
	return -1;
}

/*
 * Reads one final response, blocking until *deadline.  Each receipt moves
 * *deadline to idle_ms from now, but never past limit (limit at or below
 * *deadline: it never moves).  Until the first byte, c->stalled is asked
 * at its times (client.h) whether to go on waiting.  Returns 0, -1 on
 * transport error (errno), -2 when the connection closed before any byte
 * (safe to retry).
 */
static int
read_response(struct client_conn *c, bool is_head, int64_t *deadline,
    int64_t limit, int idle_ms, struct client_response *res, bool *reusable)
{
	struct client_reader rd;
	bool got_any = c->in.len > 0;
	int64_t check = 0, every = c->stalled_after_ms, moved;
	const char *why;
	ssize_t n;
	int rc;

	if (c->stalled != NULL && every > 0)
		check = clock_now_ms() + every;
	client_reader_start(&rd, is_head);
	for (;;) {
		if ((rc = client_reader_feed(&rd, &c->in, res)) != 0) {
			*reusable = rd.reusable;
			c->error = rd.error;
			return rc > 0 ? 0 : -1;
		}
		if (check != 0 && (got_any || check >= *deadline))
			check = 0;	/* it answers, or the deadline is first */
		n = fill(c, check != 0 ? check : *deadline);
		if (n > 0) {
			got_any = true;
			if (limit > *deadline) {
				moved = clock_now_ms() + idle_ms;
				*deadline = moved < limit ? moved : limit;
			}
			continue;
		}
		if (n < 0 && errno == ETIMEDOUT && check != 0) {
			if ((why = c->stalled(c, c->stalled_arg)) != NULL) {
				c->error = why;
				errno = ETIMEDOUT;
				return -1;
			}
			every *= 2;
			check = clock_now_ms() + every;
			continue;
		}
		if (!got_any && (n == 0 || errno == ECONNRESET))
			return -2;
		if (n < 0)
			return -1;
		rc = client_reader_eof(&rd);
		*reusable = rd.reusable;
		c->error = rd.error;
		return rc;
	}
}

/* ---- a whole request, blocking ---- */

void
client_request_head(struct buf *out, const char *host, const char *port,
    const char *method, const char *target, const char *content_type,
    const void *body, size_t body_len, const char *extra)
{
	char hostport[NET_HOST_MAX + NET_PORT_MAX + 4];
	bool has_body;

	has_body = body != NULL || strcmp(method, "PUT") == 0 ||
	    strcmp(method, "POST") == 0;
	if (strchr(host, ':') != NULL)
		snprintf(hostport, sizeof(hostport), "[%s]:%s", host, port);
	else
		snprintf(hostport, sizeof(hostport), "%s:%s", host, port);
	http_write_request_head(out, method, target, hostport, content_type,
	    has_body ? body_len : (size_t)-1, extra);
}

int
client_do(struct client_conn *c, const char *method, const char *target,
    const char *content_type, const void *body, size_t body_len,
    const char *extra, int timeout_ms, struct client_response *res)
{
	return client_do_progress(c, method, target, content_type, body,
	    body_len, extra, timeout_ms, timeout_ms, res);
}

int
client_do_progress(struct client_conn *c, const char *method,
    const char *target, const char *content_type, const void *body,
    size_t body_len, const char *extra, int timeout_ms, int max_ms,
    struct client_response *res)
{
	struct buf head = BUF_INIT;
	struct iovec iov[2];
	int64_t start = clock_now_ms();
	int64_t deadline = start + timeout_ms;
	int64_t limit = start + (max_ms > timeout_ms ? max_ms : timeout_ms);
	bool reused, reusable = false;
	int attempt, rc = -1, saved = 0;

	c->error = NULL;
	client_request_head(&head, c->host, c->port, method, target,
	    content_type, body, body_len, extra);
	for (attempt = 0; attempt < 2; attempt++) {
		reused = c->fd >= 0;
		if (c->fd < 0) {
			int left = (int)(deadline - clock_now_ms());
			if (left <= 0) {
				saved = ETIMEDOUT;
				break;
			}
			c->fd = net_connect(c->host, c->port,
			    left < c->connect_timeout_ms ? left : c->connect_timeout_ms,
			    &c->gai_error, c->cancel_fd);
			if (c->fd < 0) {
				saved = errno;
				break;
			}
			buf_reset(&c->in);
		}
		iov[0].iov_base = head.data;
		iov[0].iov_len = head.len;
		iov[1].iov_base = (void *)(uintptr_t)(body ? body : "");
		iov[1].iov_len = body ? body_len : 0;
		if (net_writev_all(c->fd, iov, 2, deadline,
		    c->cancel_fd) != 0) {
			saved = errno;
			close(c->fd);
			c->fd = -1;
			if (reused && (saved == EPIPE || saved == ECONNRESET))
				continue;
			break;
		}
		rc = read_response(c, strcmp(method, "HEAD") == 0, &deadline,
		    limit, timeout_ms, res, &reusable);
		if (rc == 0)
			break;
		saved = rc == -2 ? ECONNRESET : errno;
		close(c->fd);
		c->fd = -1;
		if (rc == -2 && reused)
			continue;
		rc = -1;
		break;
	}
	if (rc == 0 && !reusable && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	buf_free(&head);
	if (rc != 0) {
		errno = saved ? saved : EIO;
		return -1;
	}
	return 0;
}

/* ---- connecting without blocking ---- */

struct client_addrs {
	struct addrinfo	*list;
};

struct client_addrs *
client_resolve(const char *host, const char *port, int *gai)
{
	struct client_addrs *a;

	*gai = 0;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if ((*gai = net_lookup(host, port, &a->list)) != 0) {
		free(a);
		errno = ENXIO;
		return NULL;
	}
	return a;
}

void
client_addrs_free(struct client_addrs *a)
{
	if (a == NULL)
		return;
	freeaddrinfo(a->list);
	free(a);
}

void
client_connect_init(struct client_connect *cc, const struct client_addrs *a)
{
	cc->addrs = a;
	cc->next = 0;
	cc->err = a != NULL ? ECONNREFUSED : ENXIO;
}

int
client_connect_next(struct client_connect *cc, bool *pending)
{
	struct addrinfo *ai;
	int i = 0, fd;

	for (ai = cc->addrs ? cc->addrs->list : NULL; ai != NULL;
	    ai = ai->ai_next, i++) {
		if (i < cc->next)
			continue;
		cc->next = i + 1;
		if ((fd = net_connect_start(ai, pending)) >= 0)
			return fd;
		cc->err = errno;
	}
	errno = cc->err;
	return -1;
}

int
client_connect_check(struct client_connect *cc, int fd)
{
	if (net_connect_result(fd) == 0)
		return 0;
	cc->err = errno;
	return -1;
}

const char *
client_strerror(const struct client_conn *c, int err, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	if (err == ETIMEDOUT && c != NULL && c->error != NULL)
		snprintf(out, outlen, "%s", c->error);
	else if (err == ETIMEDOUT)
		snprintf(out, outlen, "timed out");
	else if (err == ENXIO && c != NULL && c->gai_error != 0)
		snprintf(out, outlen, "name does not resolve (%s)",
		    gai_strerror(c->gai_error));
	else if (err == ENXIO)
		snprintf(out, outlen, "name does not resolve");
	else if (err == EPROTO && c != NULL && c->error != NULL)
		snprintf(out, outlen, "bad response: %s", c->error);
	else if (err == ECONNRESET && c != NULL && c->error != NULL)
		snprintf(out, outlen, "%s", c->error);
	else
		snprintf(out, outlen, "%s", strerror(err));
	return out;
}

const char *
client_header(const struct client_response *res, const char *name, char *out,
    size_t outlen)
{
	const struct http_header *h;
	size_t n;

	h = http_find_header(res->http.headers, res->http.nheaders, name);
	if (h == NULL || outlen == 0)
		return NULL;
	n = h->value_len < outlen - 1 ? h->value_len : outlen - 1;
	memcpy(out, h->value, n);
	out[n] = '\0';
	return out;
}

int
client_parse_url(const char *url, size_t len, char *host, size_t hostlen,
    char *port, size_t portlen)
{
	char tmp[NET_HOST_MAX + NET_PORT_MAX + 16];

	if (len > 7 && strncmp(url, "http://", 7) == 0) {
		url += 7;
		len -= 7;
	} else if (len >= 8 && strncmp(url, "https://", 8) == 0)
		return -1;
	while (len > 0 && url[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(tmp) - 4 || memchr(url, '/', len) != NULL)
		return -1;
	memcpy(tmp, url, len);
	tmp[len] = '\0';
	if (net_split_hostport(tmp, host, hostlen, port, portlen) != 0) {
		/* No port: "localhost" or "[::1]". */
		if (strchr(tmp, ':') != NULL && tmp[0] != '[')
			return -1;
		snprintf(tmp + len, sizeof(tmp) - len, ":80");
		if (net_split_hostport(tmp, host, hostlen, port, portlen) != 0)
			return -1;
	}
	if (host[0] == '\0')
		snprintf(host, hostlen, "127.0.0.1");
	return 0;
}

int
client_parse_servers(const char *list, struct client_server **out,
    const char **bad, size_t *badlen)
{
	struct client_server *srv;
	const char *p = list, *comma;
	size_t len;
	int n = 1, got = 0;

	*bad = list;
	*badlen = 0;
	for (comma = list; (comma = strchr(comma, ',')) != NULL; comma++)
		n++;
	if ((srv = calloc((size_t)n, sizeof(*srv))) == NULL)
		return -1;
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len > 0 && client_parse_url(p, len, srv[got].host,
		    sizeof(srv[got].host), srv[got].port,
		    sizeof(srv[got].port)) != 0) {
			*bad = p;
			*badlen = len;
			free(srv);
			return -1;
		}
		if (len > 0)
			got++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (got == 0) {
		free(srv);
		return -1;
	}
	*out = srv;
	return got;
}
