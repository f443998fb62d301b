/*
 * notify.c -- the sd_notify protocol in a few lines, without libsystemd.
 *
 * A service started with Type=notify finds the manager's socket in
 * $NOTIFY_SOCKET and reports its state by sending it datagrams: one
 * datagram per call, its payload newline-separated VAR=VALUE lines
 * ("READY=1" once it serves, "STOPPING=1" when it begins to shut down).
 * The address is either a filesystem path (starting with '/') or, on
 * Linux, a name in the abstract namespace, written "@name": the '@'
 * becomes the leading NUL byte of sun_path and the address length counts
 * exactly the bytes of the name (no terminating NUL), as the kernel and
 * systemd expect.  Anything else (systemd also knows "vsock:") is refused
 * with EAFNOSUPPORT rather than guessed at.
 *
 * The socket is opened, used once and closed, close-on-exec and
 * non-blocking: a manager whose queue is full makes the call fail with
 * EAGAIN instead of holding up start-up or shutdown.  kvd never forks, so
 * the manager sees the datagram come from its main process, which is
 * what NotifyAccess=main wants.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/*
 * Fills sa from the $NOTIFY_SOCKET text; *len gets the address length to
 * pass to sendto.  0, or -1 with errno.
 */
static int
notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (name[0] == '/') {
		if (n >= sizeof(sa->sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sa->sun_path, name, n + 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
#ifdef __linux__
	if (name[0] == '@' && n >= 2) {
		if (n > sizeof(sa->sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		sa->sun_path[0] = '\0';
		memcpy(sa->sun_path + 1, name + 1, n - 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return 0;
	}
#endif
	errno = EAFNOSUPPORT;
	return -1;
}

int
notify_send(const char *state)
{
	struct sockaddr_un sa;
	socklen_t salen;
	const char *name;
	size_t len;
	ssize_t n;
	int fd = -1, saved, flags;

	if (state == NULL || *state == '\0') {
		errno = EINVAL;
		return -1;
	}
	name = getenv("NOTIFY_SOCKET");
	if (name == NULL || *name == '\0')
		return 0;
	if (notify_addr(name, &sa, &salen) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    (flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		goto fail;
	len = strlen(state);
	do
		n = sendto(fd, state, len, 0, (struct sockaddr *)&sa, salen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		goto fail;
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
