/*
 * transfer.h -- data handoff when membership changes.
 *
 * When the member list changes, the owners of some keys change with it.
 * A thread here notices each new view and walks this node's store: every
 * key whose new preference list names members that were not owners
 * before is sent to them (POST /internal/batch), so a joining node
 * receives the keys it now owns and a leaving node hands its keys to
 * their new owners.  Every node that holds a key sends it, so one node
 * missing a key does not lose it; the receivers apply through the one
 * apply rule, so copies from several senders change nothing.  Writes
 * during the change go to the new owners directly; nothing waits for the
 * transfer.  A transfer that fails (a receiver down) is retried from the
 * start after a pause; a newer view restarts it.  Progress is visible
 * through transfer_stats.  Thread-safe.
 */
#ifndef KVD_TRANSFER_H
#define KVD_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "peer.h"
#include "store.h"

struct transfer_config {
	struct store	*store;
	struct cluster	*cluster;
	struct peers	*peers;
	int		 poll_ms;	/* how often to look for a new view */
	int		 timeout_ms;	/* one batch call */
};

struct transfer_stats {
	bool		 running;
	uint64_t	 from_version;	/* view the data was placed for */
	uint64_t	 to_version;	/* view being placed for */
	uint64_t	 keys_scanned;	/* in the current or last run */
	uint64_t	 keys_sent;	/* key copies sent in the current or last run */
	uint64_t	 failures;	/* runs that had to be retried */
	int64_t		 started_ms;	/* wall clock */
	int64_t		 finished_ms;	/* wall clock, 0 while running */
};

struct transfer;

int	transfer_start(struct transfer **out, const struct transfer_config *cfg);
void	transfer_stop(struct transfer *t);	/* NULL ok */
void	transfer_stats(struct transfer *t, struct transfer_stats *st);

#endif
