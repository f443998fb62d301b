/*
 * thread.h -- names for kvd's threads, so that an operator can tell them
 * apart in `top -H`, `ps -L`, /proc/PID/task/TID/comm, gdb and perf.
 *
 * Every thread kvd starts names itself first thing, with one of the
 * names of thread.c's table (README, "Threads").  A name is at most
 * THREAD_NAME_MAX bytes: the kernel keeps 15.  Naming is a Linux
 * feature (prctl PR_SET_NAME); elsewhere it does nothing.  Thread-safe:
 * it touches only the calling thread.
 */
#ifndef KVD_THREAD_H
#define KVD_THREAD_H

#define THREAD_NAME_MAX	15

/*
 * Names the calling thread.  name is a literal of at most
 * THREAD_NAME_MAX bytes; a longer one is cut there.
 */
void	thread_name(const char *name);

#endif
