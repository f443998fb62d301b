/*
 * net.c -- sockets with deadlines.
 *
 * Writes use send(MSG_NOSIGNAL) where it exists; kvd also ignores SIGPIPE,
 * so a peer that went away costs an EPIPE, never the process.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/*
 * Waits until fd is ready for events or the deadline passes: 0, or -1
 * with errno (ETIMEDOUT; ECANCELED once cancel_fd, when >= 0, is
 * readable, checked with fd in the same poll).
 */
static int
wait_fd(int fd, short events, int64_t deadline, int cancel_fd)
{
	struct pollfd pfd[2];
	int64_t left;
	int rc;

	for (;;) {
		left = -1;
		if (deadline) {
			left = deadline - clock_now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		pfd[0].fd = fd;
		pfd[0].events = events;
		pfd[0].revents = 0;
		pfd[1].fd = cancel_fd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		rc = poll(pfd, cancel_fd >= 0 ? 2 : 1,
		    left > 1000000 ? 1000000 : (int)left);
		if (rc > 0 && cancel_fd >= 0 && pfd[1].revents != 0) {
			errno = ECANCELED;
			return -1;
		}
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/*
 * After a send or receive on fd failed: 0 to try it again (it was
 * interrupted, or fd is now ready for events), -1 to give up (a real
 * error, or the deadline passed with ETIMEDOUT).
 */
static int
retry_io(int fd, short events, int64_t deadline, int cancel_fd)
{
	if (errno == EINTR)
		return 0;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	return wait_fd(fd, events, deadline, cancel_fd);
}

int
net_split_hostport(const char *s, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon, *h;
	size_t hl, pl;

	if (s[0] == '[') {
		h = strchr(s, ']');
		if (h == NULL || h[1] != ':')
			return -1;
		colon = h + 1;
		hl = (size_t)(h - s - 1);
		s++;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl) != NULL)
			return -1;
	}
	pl = strlen(colon + 1);
	if (hl >= hostlen || pl == 0 || pl >= portlen)
		return -1;
	for (h = colon + 1; *h; h++)
		if (*h < '0' || *h > '9')
			return -1;
	if (pl > 5 || strtol(colon + 1, NULL, 10) > 65535)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl + 1);
	return 0;
}

int
net_listen(const char *addr, int backlog, int *port, char *err, size_t errlen)
{
	char host[NET_HOST_MAX], portstr[NET_PORT_MAX];
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, rc, saved = 0;

	if (net_split_hostport(addr, host, sizeof(host), portstr,
	    sizeof(portstr)) != 0) {
		snprintf(err, errlen, "bad listen address '%s' (want HOST:PORT or :PORT)",
		    addr);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve '%s': %s", addr,
		    gai_strerror(rc));
		return -1;
	}
	/* With no host, prefer the IPv6 wildcard (dual-stack), else IPv4. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (!host[0] && ai->ai_family != AF_INET6)
			continue;
		break;
	}
	if (ai == NULL)
		ai = res;
	for (; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			int zero = 0;
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
		if (saved == ECANCELED)
			break;	/* no other address either */
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", addr,
		    strerror(saved));
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6)
			*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

/* The hints of every outgoing name lookup: a TCP peer, a numeric port. */
static void
connect_hints(struct addrinfo *hints)
{
	memset(hints, 0, sizeof(*hints));
	hints->ai_family = AF_UNSPEC;
	hints->ai_socktype = SOCK_STREAM;
	hints->ai_flags = AI_NUMERICSERV;
}

int
net_lookup(const char *host, const char *port, struct addrinfo **out)
{
	struct addrinfo hints;

	connect_hints(&hints);
	*out = NULL;
	return getaddrinfo(host, port, &hints, out);
}

int
net_resolve(const char *host, const char *port)
{
	struct addrinfo *res;
	int rc;

	if ((rc = net_lookup(host, port, &res)) == 0)
		freeaddrinfo(res);
	return rc;
}

bool
net_is_local(const char *host)
{
	struct addrinfo hints, *res, *ai;
	bool local = false;
	int fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, "0", &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL && !local; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype, 0)) < 0)
			continue;
		local = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return local;
}

int
net_connect_start(const struct addrinfo *ai, bool *pending)
{
	int fd, e, one = 1;

	if ((fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0)
		return -1;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		*pending = false;
		return fd;
	}
	if (errno == EINPROGRESS || errno == EINTR) {
		*pending = true;
		return fd;
	}
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
net_connect_result(int fd)
{
	socklen_t sl = sizeof(int);
	int soerr = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		soerr = errno;
	if (soerr == 0)
		return 0;
	errno = soerr;
	return -1;
}

int
net_connect(const char *host, const char *port, int timeout_ms, int *gai,
    int cancel_fd)
{
	struct addrinfo *res, *ai;
	int64_t deadline = clock_now_ms() + timeout_ms;
	int fd = -1, saved = ECONNREFUSED, rc;
	bool pending;

	if (gai != NULL)
		*gai = 0;
	if ((rc = net_lookup(host, port, &res)) != 0) {
		/* Not EHOSTUNREACH: that says a route is missing, not a name. */
		if (gai != NULL)
			*gai = rc;
		errno = ENXIO;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = net_connect_start(ai, &pending)) < 0) {
			saved = errno;
			continue;
		}
		if ((!pending || wait_fd(fd, POLLOUT, deadline,
		    cancel_fd) == 0) &&
		    net_connect_result(fd) == 0) {
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
		if (saved == ECANCELED)
			break;	/* no other address either */
	}
	freeaddrinfo(res);
	if (fd < 0)
		errno = saved;
	return fd;
}

ssize_t
net_read(int fd, void *p, size_t n, int64_t deadline, int cancel_fd)
{
	ssize_t r;

	/*
	 * Try first, wait only when nothing is there: with keep-alive and
	 * pipelining the bytes are often already in the socket, and this
	 * saves a poll(2) per request.
	 */
	for (;;) {
		r = recv(fd, p, n, deadline ? MSG_DONTWAIT : 0);
		if (r >= 0)
			return r;
		if (retry_io(fd, POLLIN, deadline, cancel_fd) != 0)
			return -1;
	}
}

int
net_write_all(int fd, const void *p, size_t n, int64_t deadline,
    int cancel_fd)
{
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	return net_writev_all(fd, &iov, 1, deadline, cancel_fd);
}

int
net_writev_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline,
    int cancel_fd)
{
	struct msghdr mh;
	ssize_t w;

	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = iovcnt;
		w = sendmsg(fd, &mh, MSG_NOSIGNAL | (deadline ? MSG_DONTWAIT : 0));
		if (w < 0) {
			if (retry_io(fd, POLLOUT, deadline, cancel_fd) != 0)
				return -1;
			continue;
		}
		while (w > 0 && iovcnt > 0) {
			if ((size_t)w >= iov->iov_len) {
				w -= (ssize_t)iov->iov_len;
				iov->iov_len = 0;
				iov++;
				iovcnt--;
			} else {
				iov->iov_base = (char *)iov->iov_base + w;
				iov->iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}

void
net_peer_name(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[1025], serv[32];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
	    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outlen, "?");
		return;
	}
	if (strncmp(host, "::ffff:", 7) == 0)
		memmove(host, host + 7, strlen(host + 7) + 1);
	snprintf(out, outlen, "%s:%s", host, serv);
}
