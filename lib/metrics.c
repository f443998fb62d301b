/*
 * metrics.c -- a Prometheus registry small enough to read in one sitting.
 *
 * What it renders (text exposition format 0.0.4, one family after
 * another in registration order):
 *
 *	# HELP kvd_requests_total Requests answered, by route, method and status.
 *	# TYPE kvd_requests_total counter
 *	kvd_requests_total{route="/kv/",method="GET",status="200"} 12
 *	# HELP kvd_request_duration_seconds Time to answer a request.
 *	# TYPE kvd_request_duration_seconds histogram
 *	kvd_request_duration_seconds_bucket{route="/kv/",le="0.001"} 10
 *	kvd_request_duration_seconds_bucket{route="/kv/",le="+Inf"} 12
 *	kvd_request_duration_seconds_sum{route="/kv/"} 0.0131
 *	kvd_request_duration_seconds_count{route="/kv/"} 12
 *
 * Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and never start with "__" (reserved); a
 * histogram may not use "le".  HELP text escapes backslash and newline;
 * label values escape backslash, double quote and newline.  Values are
 * integers where they are integral, otherwise the shortest %g form that
 * reads back as the same double, and "+Inf", "-Inf", "NaN".  Bucket
 * counts are kept per bucket and made cumulative while rendering, and
 * _count is the +Inf bucket, so the two always agree in one scrape.
 *
 * Concurrency: the family list belongs to the registry mutex, taken by
 * registration (start-up) and by metrics_write (a scrape).  A family's
 * series form a singly linked list that only grows: a lookup walks it
 * with acquire loads, and a missing series is appended by a
 * compare-and-swap on the last next pointer; losing that race means
 * someone else appended first, so the walk simply goes on (and may find
 * the very series it was about to add, which it then discards).  A
 * series is fully built before it is published, and never changes or
 * moves afterwards except through its atomic counters.  Counter values
 * are atomic 64-bit integers; gauges and histogram sums are doubles kept
 * as their bit patterns in atomic 64-bit integers and updated by a CAS
 * loop.  Updates use relaxed ordering: a scrape sees each number whole,
 * not a snapshot of all of them at one instant.
 */
#include <errno.h>
#include <float.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "metrics.h"

struct metric {
	struct metric *_Atomic	 next;
	struct metric_family	*fam;
	char			**values;	/* fam->nlabels copies */
	_Atomic uint64_t	 v;	/* counter value, or gauge double bits */
	_Atomic uint64_t	 sum;	/* histogram: double bits */
	_Atomic uint64_t	*counts; /* histogram: nbuckets + 1, not cumulative */
};

struct metric_family {
	struct metric_family	*next;		/* registry order; registry mutex */
	char			*name;
	char			*help;
	enum metrics_type	 type;
	size_t			 nlabels;
	char			*labels[METRICS_LABELS_MAX];
	size_t			 nbuckets;
	double			*buckets;
	struct metric *_Atomic	 first;
	double			(*fn)(void *);
	void			(*collect)(struct metrics_sink *, void *);
	void			*arg;
};

struct metrics_sink {
	struct buf		*out;
	struct metric_family	*fam;
};

static pthread_mutex_t		 reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct metric_family	*reg_head;

/* ---- doubles in atomic integers ------------------------------------- */

static uint64_t
d2u(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double
u2d(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/*
 * A relaxed read of one of a metric's words.  The accessors take const
 * metrics (a scrape only reads); the cast is for compilers that refuse
 * an atomic load through a const pointer.
 */
static uint64_t
relaxed(const _Atomic uint64_t *p)
{
	return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_relaxed);
}

static void
atomic_add_double(_Atomic uint64_t *p, double delta)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(p, &old,
	    d2u(u2d(old) + delta), memory_order_relaxed, memory_order_relaxed))
		;
}

/* ---- names ------------------------------------------------------------ */

static bool
name_valid(const char *s, bool colon)
{
	const char *p;

	if (s == NULL || *s == '\0')
		return false;
	for (p = s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    *p == '_' || (colon && *p == ':'))
			continue;
		if (p != s && *p >= '0' && *p <= '9')
			continue;
		return false;
	}
	return true;
}

static struct metric_family *
family_find(const char *name)
{
	struct metric_family *f;

	for (f = reg_head; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* ---- series ----------------------------------------------------------- */

static void
series_free(struct metric *m)
{
	size_t i;

	if (m == NULL)
		return;
	if (m->values != NULL)
		for (i = 0; i < m->fam->nlabels; i++)
			free(m->values[i]);
	free(m->values);
	free((void *)m->counts);
	free(m);
}

static struct metric *
series_new(struct metric_family *f, const char *const *values)
{
	struct metric *m;
	size_t i;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->fam = f;
	atomic_init(&m->next, NULL);
	atomic_init(&m->v, f->type == METRICS_GAUGE ? d2u(0.0) : 0);
	atomic_init(&m->sum, d2u(0.0));
	if (f->nlabels > 0 &&
	    (m->values = calloc(f->nlabels, sizeof(*m->values))) == NULL)
		goto fail;
	for (i = 0; i < f->nlabels; i++)
		if ((m->values[i] = strdup(values[i])) == NULL)
			goto fail;
	if (f->type == METRICS_HISTOGRAM) {
		m->counts = calloc(f->nbuckets + 1, sizeof(*m->counts));
		if (m->counts == NULL)
			goto fail;
		for (i = 0; i <= f->nbuckets; i++)
			atomic_init(&m->counts[i], 0);
	}
	return m;
fail:
	series_free(m);
	return NULL;
}

static bool
series_is(const struct metric *m, const char *const *values)
{
	size_t i;

	for (i = 0; i < m->fam->nlabels; i++)
		if (strcmp(m->values[i], values[i]) != 0)
			return false;
	return true;
}

/*
 * Find or append, without a lock: walk the list; at its end try to hang
 * our new series on the last next pointer; if another thread got there
 * first, continue the walk from what it appended.
 */
struct metric *
metrics_labels(struct metric_family *f, const char *const *values)
{
	struct metric *_Atomic *link;
	struct metric *m, *fresh = NULL, *expected;
	size_t i;

	if (f == NULL || f->fn != NULL || f->collect != NULL)
		return NULL;
	for (i = 0; i < f->nlabels; i++)
		if (values == NULL || values[i] == NULL)
			return NULL;
	link = &f->first;
	for (;;) {
		m = atomic_load_explicit(link, memory_order_acquire);
		if (m == NULL) {
			if (fresh == NULL &&
			    (fresh = series_new(f, values)) == NULL)
				return NULL;
			expected = NULL;
			if (atomic_compare_exchange_strong_explicit(link,
			    &expected, fresh, memory_order_acq_rel,
			    memory_order_acquire))
				return fresh;
			m = expected;
		}
		if (series_is(m, values)) {
			series_free(fresh);
			return m;
		}
		link = &m->next;
	}
}

struct metric *
metrics_with(struct metric_family *f, ...)
{
	const char *values[METRICS_LABELS_MAX];
	va_list ap;
	size_t i;

	if (f == NULL)
		return NULL;
	va_start(ap, f);
	for (i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metrics_labels(f, values);
}

/* ---- registration ----------------------------------------------------- */

static void
family_free(struct metric_family *f)
{
	struct metric *m, *next;
	size_t i;

	if (f == NULL)
		return;
	for (m = atomic_load(&f->first); m != NULL; m = next) {
		next = atomic_load(&m->next);
		series_free(m);
	}
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f->buckets);
	free(f);
}

/* Checks and copies everything; the caller links the result in. */
static struct metric_family *
family_new(const char *name, const char *help, enum metrics_type type,
    const char *const *labels, const double *buckets, size_t nbuckets)
{
	struct metric_family *f;
	size_t i, j, nl = 0;

	if (!name_valid(name, true) || (type != METRICS_COUNTER &&
	    type != METRICS_GAUGE && type != METRICS_HISTOGRAM))
		goto inval;
	while (labels != NULL && labels[nl] != NULL) {
		if (nl == METRICS_LABELS_MAX || !name_valid(labels[nl], false) ||
		    strncmp(labels[nl], "__", 2) == 0 ||
		    (type == METRICS_HISTOGRAM && strcmp(labels[nl], "le") == 0))
			goto inval;
		for (j = 0; j < nl; j++)
			if (strcmp(labels[j], labels[nl]) == 0)
				goto inval;
		nl++;
	}
	if (type == METRICS_HISTOGRAM) {
		if (buckets == NULL)
			goto inval;
		if (nbuckets > 0 && buckets[nbuckets - 1] > DBL_MAX)
			nbuckets--;	/* +Inf is always there */
		if (nbuckets == 0 || nbuckets > METRICS_BUCKETS_MAX)
			goto inval;
		for (i = 0; i < nbuckets; i++)
			if (buckets[i] != buckets[i] || buckets[i] < -DBL_MAX ||
			    buckets[i] > DBL_MAX ||
			    (i > 0 && !(buckets[i] > buckets[i - 1])))
				goto inval;
	} else
		nbuckets = 0;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->type = type;
	atomic_init(&f->first, NULL);
	if ((f->name = strdup(name)) == NULL ||
	    (f->help = strdup(help ? help : "")) == NULL)
		goto fail;
	for (; f->nlabels < nl; f->nlabels++)
		if ((f->labels[f->nlabels] = strdup(labels[f->nlabels])) == NULL)
			goto fail;
	if (nbuckets > 0) {
		if ((f->buckets = calloc(nbuckets, sizeof(double))) == NULL)
			goto fail;
		memcpy(f->buckets, buckets, nbuckets * sizeof(double));
		f->nbuckets = nbuckets;
	}
	return f;
fail:
	family_free(f);
	errno = ENOMEM;
	return NULL;
inval:
	errno = EINVAL;
	return NULL;
}

/* Links f in after the name check; frees it and returns NULL on EEXIST. */
static struct metric_family *
family_link(struct metric_family *f)
{
	struct metric_family **tail;

	pthread_mutex_lock(&reg_mu);
	if (family_find(f->name) != NULL) {
		pthread_mutex_unlock(&reg_mu);
		family_free(f);
		errno = EEXIST;
		return NULL;
	}
	for (tail = &reg_head; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = f;
	pthread_mutex_unlock(&reg_mu);
	return f;
}

struct metric_family *
metrics_family(const char *name, const char *help, enum metrics_type type,
    const char *const *labels, const double *buckets, size_t nbuckets)
{
	struct metric_family *f;

	f = family_new(name, help, type, labels, buckets, nbuckets);
	if (f == NULL)
		return NULL;
	/* A family without labels has its one series from the start. */
	if (f->nlabels == 0 && metrics_labels(f, NULL) == NULL) {
		family_free(f);
		errno = ENOMEM;
		return NULL;
	}
	return family_link(f);
}

struct metric *
metrics_counter(const char *name, const char *help)
{
	return metrics_labels(metrics_family(name, help, METRICS_COUNTER, NULL,
	    NULL, 0), NULL);
}

struct metric *
metrics_gauge(const char *name, const char *help)
{
	return metrics_labels(metrics_family(name, help, METRICS_GAUGE, NULL,
	    NULL, 0), NULL);
}

struct metric *
metrics_histogram(const char *name, const char *help, const double *buckets,
    size_t nbuckets)
{
	return metrics_labels(metrics_family(name, help, METRICS_HISTOGRAM, NULL,
	    buckets, nbuckets), NULL);
}

static int
register_fn(const char *name, const char *help, enum metrics_type type,
    const char *const *labels, double (*fn)(void *),
    void (*collect)(struct metrics_sink *, void *), void *arg)
{
	struct metric_family *f;

	if ((fn == NULL && collect == NULL) || type == METRICS_HISTOGRAM) {
		errno = EINVAL;
		return -1;
	}
	if ((f = family_new(name, help, type, labels, NULL, 0)) == NULL)
		return -1;
	f->fn = fn;
	f->collect = collect;
	f->arg = arg;
	return family_link(f) == NULL ? -1 : 0;
}

int
metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *),
    void *arg)
{
	return register_fn(name, help, METRICS_GAUGE, NULL, fn, NULL, arg);
}

int
metrics_counter_fn(const char *name, const char *help, double (*fn)(void *),
    void *arg)
{
	return register_fn(name, help, METRICS_COUNTER, NULL, fn, NULL, arg);
}

int
metrics_collector(const char *name, const char *help, enum metrics_type type,
    const char *const *labels, void (*fn)(struct metrics_sink *, void *),
    void *arg)
{
	return register_fn(name, help, type, labels, NULL, fn, arg);
}

void
metrics_free_all(void)
{
	struct metric_family *f, *next;

	pthread_mutex_lock(&reg_mu);
	for (f = reg_head; f != NULL; f = next) {
		next = f->next;
		family_free(f);
	}
	reg_head = NULL;
	pthread_mutex_unlock(&reg_mu);
}

/* ---- updates ---------------------------------------------------------- */

void
metrics_add(struct metric *m, uint64_t n)
{
	if (m != NULL && m->fam->type == METRICS_COUNTER)
		atomic_fetch_add_explicit(&m->v, n, memory_order_relaxed);
}

void
metrics_inc(struct metric *m)
{
	metrics_add(m, 1);
}

void
metrics_set(struct metric *m, double v)
{
	if (m != NULL && m->fam->type == METRICS_GAUGE)
		atomic_store_explicit(&m->v, d2u(v), memory_order_relaxed);
}

void
metrics_gauge_add(struct metric *m, double delta)
{
	if (m != NULL && m->fam->type == METRICS_GAUGE)
		atomic_add_double(&m->v, delta);
}

void
metrics_observe(struct metric *m, double v)
{
	const struct metric_family *f;
	size_t i;

	if (m == NULL || m->fam->type != METRICS_HISTOGRAM || v != v)
		return;
	f = m->fam;
	for (i = 0; i < f->nbuckets && v > f->buckets[i]; i++)
		;
	atomic_fetch_add_explicit(&m->counts[i], 1, memory_order_relaxed);
	atomic_add_double(&m->sum, v);
}

uint64_t
metrics_counter_value(const struct metric *m)
{
	if (m == NULL || m->fam->type != METRICS_COUNTER)
		return 0;
	return relaxed(&m->v);
}

double
metrics_gauge_value(const struct metric *m)
{
	if (m == NULL || m->fam->type != METRICS_GAUGE)
		return 0;
	return u2d(relaxed(&m->v));
}

uint64_t
metrics_histogram_count(const struct metric *m)
{
	uint64_t n = 0;
	size_t i;

	if (m == NULL || m->fam->type != METRICS_HISTOGRAM)
		return 0;
	for (i = 0; i <= m->fam->nbuckets; i++)
		n += relaxed(&m->counts[i]);
	return n;
}

double
metrics_histogram_sum(const struct metric *m)
{
	if (m == NULL || m->fam->type != METRICS_HISTOGRAM)
		return 0;
	return u2d(relaxed(&m->sum));
}

/* ---- rendering -------------------------------------------------------- */

/* The exposition format's float: integral, shortest %g, or Inf / NaN. */
static void
put_double(struct buf *b, double v)
{
	char tmp[64];
	int prec;

	if (v != v) {
		buf_puts(b, "NaN");
		return;
	}
	if (v > DBL_MAX || v < -DBL_MAX) {
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v >= -1e15 && v <= 1e15 && v == (double)(long long)v) {
		buf_printf(b, "%lld", (long long)v);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof(tmp), "%.17g", v);
	buf_puts(b, tmp);
}

/* Escapes \ and newline, and " too when quote is set (label values). */
static void
put_escaped(struct buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (quote && *s == '"')
			buf_puts(b, "\\\"");
		else
			buf_putc(b, *s);
	}
}

/* name+suffix, then {labels} (plus le when given), then a space. */
static void
put_series(struct buf *b, const struct metric_family *f, const char *suffix,
    const char *const *values, const char *le)
{
	size_t i;

	buf_puts(b, f->name);
	buf_puts(b, suffix);
	if (f->nlabels > 0 || le != NULL) {
		buf_putc(b, '{');
		for (i = 0; i < f->nlabels; i++) {
			buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
			put_escaped(b, values[i], true);
			buf_putc(b, '"');
		}
		if (le != NULL)
			buf_printf(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
		buf_putc(b, '}');
	}
	buf_putc(b, ' ');
}

static void
put_histogram(struct buf *b, const struct metric *m)
{
	const struct metric_family *f = m->fam;
	const char *const *values = (const char *const *)m->values;
	struct buf le = BUF_INIT;
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= f->nbuckets; i++) {
		cum += relaxed(&m->counts[i]);
		buf_reset(&le);
		if (i < f->nbuckets)
			put_double(&le, f->buckets[i]);
		else
			buf_puts(&le, "+Inf");
		put_series(b, f, "_bucket", values, le.data);
		buf_printf(b, "%llu\n", (unsigned long long)cum);
	}
	put_series(b, f, "_sum", values, NULL);
	put_double(b, metrics_histogram_sum(m));
	buf_putc(b, '\n');
	put_series(b, f, "_count", values, NULL);
	buf_printf(b, "%llu\n", (unsigned long long)cum);
	buf_free(&le);
}

void
metrics_sink_put(struct metrics_sink *sink, const char *const *values, double v)
{
	size_t i;

	if (sink == NULL)
		return;
	for (i = 0; i < sink->fam->nlabels; i++)
		if (values == NULL || values[i] == NULL)
			return;
	put_series(sink->out, sink->fam, "", values, NULL);
	put_double(sink->out, v);
	buf_putc(sink->out, '\n');
}

static const char *
type_name(enum metrics_type t)
{
	return t == METRICS_COUNTER ? "counter" : t == METRICS_GAUGE ? "gauge" :
	    "histogram";
}

void
metrics_write(struct buf *out)
{
	const struct metric_family *f;
	const struct metric *m;
	struct metrics_sink sink;

	pthread_mutex_lock(&reg_mu);
	for (f = reg_head; f != NULL; f = f->next) {
		buf_printf(out, "# HELP %s ", f->name);
		put_escaped(out, f->help, false);
		buf_printf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
		if (f->fn != NULL) {
			put_series(out, f, "", NULL, NULL);
			put_double(out, f->fn(f->arg));
			buf_putc(out, '\n');
			continue;
		}
		if (f->collect != NULL) {
			sink.out = out;
			sink.fam = (struct metric_family *)f;
			f->collect(&sink, f->arg);
			continue;
		}
		for (m = atomic_load_explicit(&((struct metric_family *)f)->first,
		    memory_order_acquire); m != NULL;
		    m = atomic_load_explicit(&((struct metric *)m)->next,
		    memory_order_acquire)) {
			if (f->type == METRICS_HISTOGRAM) {
				put_histogram(out, m);
				continue;
			}
			put_series(out, f, "", (const char *const *)m->values,
			    NULL);
			if (f->type == METRICS_COUNTER)
				buf_printf(out, "%llu\n", (unsigned long long)
				    metrics_counter_value(m));
			else {
				put_double(out, metrics_gauge_value(m));
				buf_putc(out, '\n');
			}
		}
	}
	pthread_mutex_unlock(&reg_mu);
}
