/*
 * net.h -- sockets with deadlines.
 *
 * Every blocking call takes an absolute deadline on the monotonic clock
 * (clock_now_ms() + timeout); it waits with poll(2) and fails with
 * ETIMEDOUT when the deadline passes, so no peer can hold a thread
 * forever.  Deadline 0 means "no deadline"; NET_NOW, a deadline long
 * passed, means "at once": the call does what the socket allows without
 * waiting and fails with ETIMEDOUT for the rest.  Sockets are left
 * blocking; poll is what bounds the wait.  Thread-safe (no shared state).
 *
 * A call that waits may be abandoned before its deadline: cancel_fd, when
 * not -1, is a descriptor its poll watches beside the socket (a pipe's
 * read end another thread writes to), and once it is readable the call
 * fails with ECANCELED instead of waiting on.  -1: no such way out.  Only
 * a wait with a deadline polls, so a call with deadline 0 ignores it.
 */
#ifndef KVD_NET_H
#define KVD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NET_HOST_MAX 256
#define NET_PORT_MAX 16
#define NET_NOW 1	/* a deadline long passed: no wait (above) */

/*
 * Splits "host:port", ":port", "[v6]:port" into host (empty for ":port")
 * and port.  0, or -1 when malformed.
 */
int	net_split_hostport(const char *s, char *host, size_t hostlen,
	    char *port, size_t portlen);

/*
 * Listens on addr (as net_split_hostport; empty host = all interfaces,
 * IPv6 and IPv4 where possible).  Returns the socket and stores the bound
 * port in *port (useful for port 0), or -1 with a message in err.
 */
int	net_listen(const char *addr, int backlog, int *port, char *err,
	    size_t errlen);

/*
 * Connects to host:port within timeout_ms (trying every address the name
 * resolves to), with TCP_NODELAY set.  The socket, or -1 with errno.
 * When the name does not resolve, errno is ENXIO and *gai (when gai is
 * not NULL) getaddrinfo's code, for gai_strerror(3); otherwise *gai is 0.
 * ENXIO comes from nowhere else here, so a caller that only has errno
 * still tells a name that did not resolve from a host that did not answer.
 */
int	net_connect(const char *host, const char *port, int timeout_ms,
	    int *gai, int cancel_fd);

/*
 * Whether host:port resolves to an address to connect to: 0, or
 * getaddrinfo's non-zero code (gai_strerror(3) names it).
 */
int	net_resolve(const char *host, const char *port);

/*
 * Whether host names this machine: one of its addresses binds (a
 * loopback or a local interface's address).  False when it does not
 * resolve.
 */
bool	net_is_local(const char *host);

/*
 * The steps of net_connect, for a caller that waits on many sockets
 * itself (lib/client's connect steps, kvctl bench).  net_lookup resolves
 * host:port as net_connect does: 0 with *out for freeaddrinfo(3), or
 * getaddrinfo's code.  net_connect_start opens a socket for ai --
 * non-blocking, close-on-exec, TCP_NODELAY -- and starts connecting: the
 * socket, connected (*pending false) or under way (*pending true: poll
 * it for POLLOUT, then ask net_connect_result), or -1 with errno.
 * net_connect_result: 0 when fd is connected, or -1 with errno the
 * connect's error.
 */
struct addrinfo;
int	net_lookup(const char *host, const char *port, struct addrinfo **out);
int	net_connect_start(const struct addrinfo *ai, bool *pending);
int	net_connect_result(int fd);

/*
 * Reads at most n bytes before deadline.  Bytes read, 0 at EOF, or -1
 * with errno (ETIMEDOUT, ECONNRESET, ...).
 */
ssize_t	net_read(int fd, void *p, size_t n, int64_t deadline,
	    int cancel_fd);

/* Writes all n bytes before deadline.  0, or -1 with errno. */
int	net_write_all(int fd, const void *p, size_t n, int64_t deadline,
	    int cancel_fd);

/*
 * Writes all the iovecs before deadline: 0, or -1 with errno (ETIMEDOUT
 * when the deadline passed).  It updates iov in place as it goes (an
 * entry sent whole gets length 0, one sent in part its rest), so another
 * call with the same iov after -1 goes on where this one stopped.
 */
int	net_writev_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline,
	    int cancel_fd);

/* Formats the peer address of fd as "ip:port" into out. */
void	net_peer_name(int fd, char *out, size_t outlen);

#endif
