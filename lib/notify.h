/*
 * notify.h -- tell a service manager (systemd, or anything that speaks its
 * sd_notify protocol) how start-up and shutdown are going.
 *
 * The protocol is one datagram of newline-separated VAR=VALUE assignments
 * ("READY=1", "STOPPING=1", "STATUS=...") sent to the AF_UNIX datagram
 * socket named by $NOTIFY_SOCKET: a filesystem path ("/run/...") or, on
 * Linux, an abstract name written with a leading '@'.  No libsystemd is
 * needed and nothing is kept open between calls.  Thread-safe (each call
 * uses its own socket); reads the environment, so do not call it while
 * another thread runs setenv().
 */
#ifndef KVD_NOTIFY_H
#define KVD_NOTIFY_H

/*
 * Sends state (e.g. "READY=1" or "STOPPING=1\nSTATUS=draining") as one
 * datagram to $NOTIFY_SOCKET.  Returns 0 when it was sent or when
 * NOTIFY_SOCKET is unset or empty (not running under a service manager),
 * or -1 with errno: EINVAL for a NULL or empty state, EAFNOSUPPORT for a
 * socket address other than "/path" or "@name" (or "@name" off Linux),
 * ENAMETOOLONG when it does not fit a sockaddr_un, or the error of
 * socket(2)/sendto(2).
 */
int	notify_send(const char *state);

#endif
