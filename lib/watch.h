/*
 * watch.h -- requests parked until a key changes on this node.
 *
 * A watcher is one parked request (GET /kv/KEY?wait=ETAG): it registers
 * for its key, reads the key, and when the version is still the one the
 * client has, sleeps until the store installs a new version of that key
 * (watch_notify, the store's hook: every path a version reaches this node
 * by -- a local write, replication, read repair, hints, anti-entropy, a
 * transfer -- goes through it) or until its deadline.  Registering before
 * reading means no change is missed between the read and the sleep.
 *
 * A watcher costs its parked connection and nothing else: no polling.
 * Their number is bounded (watch_new's max); watch_stop wakes every one,
 * for shutdown.  watch_notify costs one relaxed load while nobody
 * watches.  Thread-safe.
 */
#ifndef KVD_WATCH_H
#define KVD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watch;
struct watcher;

/* A registry for at most max watchers.  NULL with errno. */
struct watch *watch_new(size_t max);
/* Frees the registry; every watcher must have been removed.  NULL ok. */
void	watch_free(struct watch *w);

/*
 * Registers a watcher for key.  0, or -1 with errno EBUSY (max watchers
 * already), ESHUTDOWN (after watch_stop) or ENOMEM.
 */
int	watch_add(struct watch *w, const char *key, size_t klen,
	    struct watcher **out);
/*
 * Sleeps until key changed since watch_add (or since the last wait that
 * returned true), or until the monotonic deadline, or watch_stop.  true
 * when woken by a change.
 */
bool	watch_wait(struct watch *w, struct watcher *wt, int64_t deadline_ms);
void	watch_remove(struct watch *w, struct watcher *wt);

/* The store's hook: a new version of key was installed.  arg is a watch. */
void	watch_notify(void *arg, const char *key, size_t klen);

/* Wakes every watcher (their waits return false) and refuses new ones. */
void	watch_stop(struct watch *w);
/* True once watch_stop was called (a watch relayed elsewhere ends then). */
bool	watch_stopped(struct watch *w);

/* Watchers registered now. */
size_t	watch_count(struct watch *w);

#endif
