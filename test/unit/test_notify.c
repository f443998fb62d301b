/*
 * test_notify.c -- notify_send against real AF_UNIX datagram sockets:
 * one bound to a temporary path and (on Linux) one bound to an abstract
 * name, each receiving exactly the bytes sent; plus the quiet cases (no
 * NOTIFY_SOCKET) and every refused address.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

/* Binds a datagram socket to sa; returns the fd or -1. */
static int
listen_dgram(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)sa, len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Receives one datagram within 2 s into out (NUL-terminated); its length or -1. */
static ssize_t
recv_one(int fd, char *out, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, 2000) != 1)
		return -1;
	n = recv(fd, out, cap - 1, 0);
	if (n >= 0)
		out[n] = '\0';
	return n;
}

/* True when nothing is waiting on fd. */
static int
nothing_waiting(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 50) == 0;
}

static const char *const states[] = {
	"READY=1",
	"STOPPING=1",
	"READY=1\nSTATUS=serving on 127.0.0.1:8080\nMAINPID=42",
	"STATUS=a value with spaces, = signs and UTF-8: \xc3\xa9",
};
#define NSTATES (sizeof(states) / sizeof(states[0]))

/* Sends every state and checks each arrives whole, in order. */
static void
roundtrip(int fd, const char *what)
{
	char got[512];
	size_t i;
	ssize_t n;

	for (i = 0; i < NSTATES; i++) {
		ok(notify_send(states[i]) == 0, "%s: send state %zu", what, i);
		n = recv_one(fd, got, sizeof(got));
		ok(n == (ssize_t)strlen(states[i]) && strcmp(got, states[i]) == 0,
		    "%s: state %zu arrives byte for byte (%zd bytes)", what, i, n);
	}
	ok(nothing_waiting(fd), "%s: one datagram per call", what);
}

static void
test_path(void)
{
	char dir[] = "/tmp/kvd-notify.XXXXXX", path[64];
	struct sockaddr_un sa;
	int fd;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/notify.sock", dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = listen_dgram(&sa, (socklen_t)sizeof(sa));
	ok(fd >= 0, "bind a datagram socket at %s", path);
	if (fd >= 0) {
		setenv("NOTIFY_SOCKET", path, 1);
		roundtrip(fd, "path socket");
		close(fd);
	}
	/* The socket file is gone: the send fails and says why. */
	unlink(path);
	errno = 0;
	ok(notify_send("READY=1") == -1 && (errno == ENOENT ||
	    errno == ECONNREFUSED), "missing socket file: -1 (errno %d %s)",
	    errno, strerror(errno));
	rmdir(dir);
}

static void
test_abstract(void)
{
#ifdef __linux__
	struct sockaddr_un sa;
	char name[64], env[80];
	size_t n;
	int fd;

	n = (size_t)snprintf(name, sizeof(name), "kvd-test-notify-%ld",
	    (long)getpid());
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name, n);	/* sun_path[0] stays NUL */
	fd = listen_dgram(&sa, (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + 1 + n));
	ok(fd >= 0, "bind an abstract datagram socket @%s", name);
	if (fd < 0)
		return;
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	roundtrip(fd, "abstract socket");
	/*
	 * The address length must count the name exactly: one byte more
	 * (a trailing NUL) would name a different abstract socket.  A name
	 * that is a prefix of ours must not reach us either.
	 */
	name[n - 1] = '\0';
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	errno = 0;
	ok(notify_send("READY=1") == -1 && errno == ECONNREFUSED,
	    "abstract name of another socket: -1 ECONNREFUSED (errno %d)", errno);
	ok(nothing_waiting(fd), "a prefix of the name does not reach our socket");
	close(fd);
#else
	setenv("NOTIFY_SOCKET", "@kvd-test", 1);
	errno = 0;
	ok(notify_send("READY=1") == -1 && errno == EAFNOSUPPORT,
	    "abstract socket off Linux: EAFNOSUPPORT");
#endif
}

static void
test_refusals(void)
{
	char longpath[300];
	int rc;

	unsetenv("NOTIFY_SOCKET");
	ok(notify_send("READY=1") == 0, "no NOTIFY_SOCKET: 0, nothing to do");
	setenv("NOTIFY_SOCKET", "", 1);
	ok(notify_send("READY=1") == 0, "empty NOTIFY_SOCKET: 0, nothing to do");

	setenv("NOTIFY_SOCKET", "/tmp/whatever", 1);
	errno = 0;
	ok(notify_send(NULL) == -1 && errno == EINVAL, "NULL state: EINVAL");
	errno = 0;
	ok(notify_send("") == -1 && errno == EINVAL, "empty state: EINVAL");

	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	errno = 0;
	ok(notify_send("READY=1") == -1 && errno == EAFNOSUPPORT,
	    "vsock address: EAFNOSUPPORT");
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	errno = 0;
	ok(notify_send("READY=1") == -1 && errno == EAFNOSUPPORT,
	    "relative path: EAFNOSUPPORT");
	setenv("NOTIFY_SOCKET", "@", 1);
	errno = 0;
	ok(notify_send("READY=1") == -1 && errno == EAFNOSUPPORT,
	    "bare '@' (no name): EAFNOSUPPORT");

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longpath, 1);
	errno = 0;
	rc = notify_send("READY=1");
	ok(rc == -1 && errno == ENAMETOOLONG, "path longer than sun_path: "
	    "ENAMETOOLONG");
#ifdef __linux__
	longpath[0] = '@';
	setenv("NOTIFY_SOCKET", longpath, 1);
	errno = 0;
	ok(notify_send("READY=1") == -1 && errno == ENAMETOOLONG,
	    "abstract name longer than sun_path: ENAMETOOLONG");
#endif
	unsetenv("NOTIFY_SOCKET");
}

/* Every call closes its socket: the lowest free descriptor stays put. */
static void
test_no_fd_leak(void)
{
	int before, after, i;

	before = open("/dev/null", O_RDONLY);
	close(before);
	setenv("NOTIFY_SOCKET", "/nonexistent-dir/sock", 1);
	for (i = 0; i < 100; i++)
		(void)notify_send("READY=1");
	unsetenv("NOTIFY_SOCKET");
	after = open("/dev/null", O_RDONLY);
	close(after);
	ok(before == after, "no descriptor leaked by failed sends (%d, %d)",
	    before, after);
}

int
main(void)
{
	test_refusals();
	test_path();
	test_abstract();
	test_no_fd_leak();
	return tap_done();
}
