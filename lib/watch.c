/*
 * watch.c -- a table of parked watchers by key.
 *
 * Watchers hang in NBUCKETS lists chosen by the key's FNV-1a hash, under
 * one mutex (mu): registering, removing and notifying are short list
 * walks, and a node parks thousands of watchers, not millions.  Each
 * watcher has its own condition variable (monotonic, clock.h), so a
 * change wakes only the watchers of its key.  changed is set under mu by
 * watch_notify and cleared by the wait that reports it, so a change that
 * comes between a watcher's read and its sleep is not lost.
 *
 * count is also kept as an atomic so that watch_notify, which runs for
 * every version the store installs, returns after one relaxed load while
 * nobody watches.
 */
#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fnv.h"

#define NBUCKETS 1024

struct watcher {
	struct watcher	*next;
	pthread_cond_t	 cv;
	bool		 changed;
	uint32_t	 hash;
	size_t		 klen;
	char		 key[];
};

struct watch {
	pthread_mutex_t	 mu;
	struct watcher	*bucket[NBUCKETS];
	size_t		 max;
	atomic_bool	 stopped;	/* set under mu, read by watch_stopped without */
	atomic_size_t	 count;
};

struct watch *
watch_new(size_t max)
{
	struct watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	w->max = max;
	atomic_init(&w->count, 0);
	atomic_init(&w->stopped, false);
	return w;
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int
watch_add(struct watch *w, const char *key, size_t klen, struct watcher **out)
{
	struct watcher *wt;
	size_t b;

	if ((wt = calloc(1, sizeof(*wt) + klen)) == NULL)
		return -1;
	if (clock_cond_init(&wt->cv) != 0) {
		free(wt);
		errno = ENOMEM;
		return -1;
	}
	wt->hash = fnv1a32(key, klen);
	wt->klen = klen;
	memcpy(wt->key, key, klen);
	pthread_mutex_lock(&w->mu);
	if (w->stopped || atomic_load(&w->count) >= w->max) {
		errno = w->stopped ? ESHUTDOWN : EBUSY;
		pthread_mutex_unlock(&w->mu);
		pthread_cond_destroy(&wt->cv);
		free(wt);
		return -1;
	}
	b = wt->hash % NBUCKETS;
	wt->next = w->bucket[b];
	w->bucket[b] = wt;
	atomic_fetch_add(&w->count, 1);
	pthread_mutex_unlock(&w->mu);
	*out = wt;
	return 0;
}

bool
watch_wait(struct watch *w, struct watcher *wt, int64_t deadline_ms)
{
	bool changed;

	pthread_mutex_lock(&w->mu);
	while (!wt->changed && !w->stopped &&
	    clock_cond_wait_until(&wt->cv, &w->mu, deadline_ms) != ETIMEDOUT)
		;
	changed = wt->changed && !w->stopped;
	wt->changed = false;
	pthread_mutex_unlock(&w->mu);
	return changed;
}

void
watch_remove(struct watch *w, struct watcher *wt)
{
	struct watcher **pp;

	pthread_mutex_lock(&w->mu);
	for (pp = &w->bucket[wt->hash % NBUCKETS]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == wt) {
			*pp = wt->next;
			atomic_fetch_sub(&w->count, 1);
			break;
		}
	pthread_mutex_unlock(&w->mu);
	pthread_cond_destroy(&wt->cv);
	free(wt);
}

void
watch_notify(void *arg, const char *key, size_t klen)
{
	struct watch *w = arg;
	struct watcher *wt;
	uint32_t h;

	if (atomic_load_explicit(&w->count, memory_order_relaxed) == 0)
		return;
	h = fnv1a32(key, klen);
	pthread_mutex_lock(&w->mu);
	for (wt = w->bucket[h % NBUCKETS]; wt != NULL; wt = wt->next)
		if (wt->hash == h && wt->klen == klen &&
		    memcmp(wt->key, key, klen) == 0) {
			wt->changed = true;
			pthread_cond_signal(&wt->cv);
		}
	pthread_mutex_unlock(&w->mu);
}

void
watch_stop(struct watch *w)
{
	struct watcher *wt;
	size_t b;

	pthread_mutex_lock(&w->mu);
	w->stopped = true;
	for (b = 0; b < NBUCKETS; b++)
		for (wt = w->bucket[b]; wt != NULL; wt = wt->next)
			pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&w->mu);
}

bool
watch_stopped(struct watch *w)
{
	return atomic_load(&w->stopped);
}

size_t
watch_count(struct watch *w)
{
	return atomic_load(&w->count);
}
