/*
 * thread.c -- naming the calling thread.
 *
 * kvd's threads, by role: kvd-accept takes connections and kvd-conn
 * serves them (server.c); kvd-commit syncs the WAL and answers the
 * writes it made durable (wal.c); kvd-index builds the key index after
 * a restart (store.c) and kvd-replay applies WAL records then;
 * kvd-house runs snapshots and housekeeping (node.c); kvd-gossip
 * probes peers (cluster.c), kvd-bcast carries membership changes;
 * kvd-replica sends writes and reads to peers (replica.c, stream.c);
 * kvd-cas runs consensus rounds (cas.c); kvd-hints delivers hints;
 * kvd-antientropy compares replicas; kvd-transfer moves keys on a
 * join or leave; kvd-batch and kvd-list fan one request out.
 *
 * Linux names a thread with prctl(PR_SET_NAME), which takes 16 bytes
 * with the NUL.  pthread_setname_np does the same but is not POSIX and
 * differs between systems (macOS names only the caller, FreeBSD spells
 * it pthread_set_name_np), so other systems keep their threads unnamed.
 */
#include "thread.h"

#ifdef __linux__
#include <string.h>
#include <sys/prctl.h>
#endif

void
thread_name(const char *name)
{
#ifdef __linux__
	char cut[THREAD_NAME_MAX + 1];
	size_t n = strlen(name);

	if (n > THREAD_NAME_MAX)
		n = THREAD_NAME_MAX;
	memcpy(cut, name, n);
	cut[n] = '\0';
	(void)prctl(PR_SET_NAME, (unsigned long)cut, 0UL, 0UL, 0UL);
#else
	(void)name;
#endif
}
