/*
 * metrics.h -- a small Prometheus registry: counters, gauges and
 * histograms, rendered in the text exposition format 0.0.4.
 *
 * One process-wide registry.  A family is a metric name with its HELP
 * text, TYPE and label names; a series (struct metric) is one member of
 * a family with fixed label values.  Families are registered at start-up
 * (registration and metrics_write take the registry's mutex); series are
 * found or created lock-free, and every update is a C11 atomic, so the
 * request path never takes a lock.  Look a series up once and keep the
 * pointer where the hot path can afford nothing more.
 *
 * Ownership: the registry copies every name, help text, label name,
 * label value and bucket bound it is given.  Pointers it returns stay
 * valid until metrics_free_all(), which may only run once no other thread
 * uses the registry.  Every update function accepts NULL and does nothing,
 * so a module can be used without metrics (or after a failed
 * registration) unchanged.
 *
 * Label values must come from a small, fixed set (route names, status
 * codes, peer ids): each distinct combination is a series that lives
 * until metrics_free_all().  Map anything a client controls (an unknown
 * method, say) to "other" before using it as a label value.
 */
#ifndef KVD_METRICS_H
#define KVD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The Content-Type of a metrics_write() rendering. */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_LABELS_MAX	8	/* label names per family */
#define METRICS_BUCKETS_MAX	64	/* histogram bounds, +Inf not counted */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metric_family;	/* a name, HELP, TYPE, label names, its series */
struct metric;		/* one series: a family with fixed label values */
struct metrics_sink;	/* where a collector writes its samples */

/*
 * Registers a family.  labels is a NULL-terminated list of label names
 * (NULL or empty for none); buckets (histograms only) the strictly
 * increasing finite upper bounds, +Inf implied (a trailing +Inf is
 * dropped).  Returns the family, or NULL with errno EINVAL (a bad metric
 * or label name, "le" on a histogram, bad buckets, too many labels) or
 * EEXIST (the name is taken).
 */
struct metric_family *metrics_family(const char *name, const char *help,
	    enum metrics_type type, const char *const *labels,
	    const double *buckets, size_t nbuckets);

/*
 * The series of f with these label values (exactly one per label name of
 * f, in order), created on first use.  Lock-free.  NULL when f is NULL,
 * a value is NULL, or out of memory.
 */
struct metric	*metrics_labels(struct metric_family *f,
	    const char *const *values);
/* The same with the values as arguments: metrics_with(f, "GET", "200"). */
struct metric	*metrics_with(struct metric_family *f, ...);

/* Shorthands for a family without labels; they return its one series. */
struct metric	*metrics_counter(const char *name, const char *help);
struct metric	*metrics_gauge(const char *name, const char *help);
struct metric	*metrics_histogram(const char *name, const char *help,
	    const double *buckets, size_t nbuckets);

/*
 * A counter or gauge without labels whose value fn(arg) computes at each
 * scrape (under the registry mutex: fn must not register metrics).
 * 0, or -1 with errno as for metrics_family.
 */
int	metrics_gauge_fn(const char *name, const char *help,
	    double (*fn)(void *arg), void *arg);
int	metrics_counter_fn(const char *name, const char *help,
	    double (*fn)(void *arg), void *arg);

/*
 * A counter or gauge family whose series are produced at each scrape:
 * fn(sink, arg) calls metrics_sink_put() once per series (for a set
 * that changes, such as the members of a cluster).  Same rules as for
 * metrics_gauge_fn.  0, or -1 with errno.
 */
int	metrics_collector(const char *name, const char *help,
	    enum metrics_type type, const char *const *labels,
	    void (*fn)(struct metrics_sink *sink, void *arg), void *arg);
/* One sample from a collector; values as for metrics_labels. */
void	metrics_sink_put(struct metrics_sink *sink, const char *const *values,
	    double v);

/* Counters: add n (or 1).  Lock-free. */
void	metrics_add(struct metric *m, uint64_t n);
void	metrics_inc(struct metric *m);
/* Gauges: set, or add a (possibly negative) delta.  Lock-free. */
void	metrics_set(struct metric *m, double v);
void	metrics_gauge_add(struct metric *m, double delta);
/* Histograms: one observation (NaN is ignored).  Lock-free. */
void	metrics_observe(struct metric *m, double v);

/* Current values, for tests and for kvd's own use; 0 for NULL. */
uint64_t metrics_counter_value(const struct metric *m);
double	metrics_gauge_value(const struct metric *m);
/* A histogram's observation count and sum. */
uint64_t metrics_histogram_count(const struct metric *m);
double	metrics_histogram_sum(const struct metric *m);

/*
 * Appends every family to out in the text exposition format 0.0.4:
 * "# HELP" and "# TYPE" lines, then one line per series (histograms:
 * cumulative _bucket lines ending with le="+Inf", then _sum and _count),
 * families in registration order, series in creation order.
 */
void	metrics_write(struct buf *out);

/* Frees every family and series; no other thread may use them now. */
void	metrics_free_all(void);

#endif
