/*
 * test_metrics.c -- the registry's exposition output, byte for byte, and
 * its lock-free updates under contention (run it under TSan too).
 *
 * A small strict checker reads every rendered line back: HELP and TYPE
 * once per family and before its samples, names and label names by the
 * format's grammar, label values properly escaped, values that parse as
 * floats, histogram buckets with increasing le, cumulative counts, a
 * final +Inf bucket equal to _count.
 */
#include <errno.h>
#include <math.h>	/* INFINITY, NAN */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "metrics.h"
#include "tap.h"

/* ---- a strict reader of the exposition format -------------------------- */

static bool
is_name(const char *s, size_t n, bool colon)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		    (colon && c == ':') || (i > 0 && c >= '0' && c <= '9'))
			continue;
		return false;
	}
	return true;
}

static bool
is_value(const char *s)
{
	char *end;

	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 ||
	    strcmp(s, "NaN") == 0)
		return true;
	if (*s == '\0' || strchr(s, ' ') != NULL)
		return false;
	errno = 0;
	(void)strtod(s, &end);
	return *end == '\0' && strcmp(s, "inf") != 0 && strcmp(s, "nan") != 0;
}

struct check {
	char	family[128];	/* the family of the last TYPE line */
	char	type[16];
	char	seen[64][128];	/* families with a TYPE line already */
	int	nseen;
	bool	help_for_family;
	double	last_le;	/* histogram: last bucket bound in a series */
	double	last_cum;
	char	series[512];	/* labels of the current histogram series */
	double	inf_count;
	char	err[256];
};

/* Parses `name{a="x",...} value`; copies the name, labels minus le, le. */
static bool
parse_sample(const char *line, char *name, size_t nsz, char *labels,
    size_t lsz, char *le, size_t lesz, char *value, size_t vsz)
{
	const char *p = line, *q;
	size_t n, ll = 0;

	le[0] = labels[0] = '\0';
	n = strcspn(p, "{ ");
	if (n >= nsz || !is_name(p, n, true))
		return false;
	memcpy(name, p, n);
	name[n] = '\0';
	p += n;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			char lname[128], lval[256];
			size_t vl = 0;

			n = strcspn(p, "=");
			if (n >= sizeof(lname) || !is_name(p, n, false) ||
			    p[n] != '=' || p[n + 1] != '"')
				return false;
			memcpy(lname, p, n);
			lname[n] = '\0';
			p += n + 2;
			for (; *p != '"'; p++) {
				if (*p == '\0' || *p == '\n' || vl + 2 >= sizeof(lval))
					return false;
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						return false;
				}
				lval[vl++] = *p;
			}
			lval[vl] = '\0';
			p++;
			if (strcmp(lname, "le") == 0)
				snprintf(le, lesz, "%.*s", (int)(lesz - 1), lval);
			else
				ll += (size_t)snprintf(labels + ll, lsz - ll,
				    "%s=%s;", lname, lval);
			if (ll >= lsz)
				return false;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return false;
		}
		p++;
	}
	if (*p != ' ')
		return false;
	p++;
	q = p + strlen(p);
	if ((size_t)(q - p) >= vsz)
		return false;
	memcpy(value, p, (size_t)(q - p));
	value[q - p] = '\0';
	return is_value(value);
}

/* Records why the rendering is bad in c->err; false, for "return setbad()". */
static bool __attribute__((format(printf, 2, 3)))
setbad(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return false;
}

/* Whether name is the current family's name followed by suffix. */
static bool
family_sample(const struct check *c, const char *name, const char *suffix)
{
	size_t n = strlen(c->family);

	return strncmp(name, c->family, n) == 0 && strcmp(name + n, suffix) == 0;
}

static bool
check_line(struct check *c, const char *line)
{
	char name[128], labels[512], le[64], value[64];
	int i;

	if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
		const char *p = line + 7;
		size_t n = strcspn(p, " ");

		if (!is_name(p, n, true) || p[n] != ' ' || n >= sizeof(name))
			return setbad(c, "bad comment '%s'", line);
		memcpy(name, p, n);
		name[n] = '\0';
		if (line[2] == 'H') {
			/* HELP comes first; the only escapes are \\ and \n. */
			const char *h;
			for (h = p + n + 1; *h; h++)
				if (*h == '\\' && (h[1] != '\\' && h[1] != 'n'))
					return setbad(c, "bad escape in '%s'",
					    line);
				else if (*h == '\\')
					h++;
			for (i = 0; i < c->nseen; i++)
				if (strcmp(c->seen[i], name) == 0)
					return setbad(c, "second HELP for %s",
					    name);
			snprintf(c->family, sizeof(c->family), "%s", name);
			c->help_for_family = true;
			c->type[0] = '\0';
			return true;
		}
		if (strcmp(name, c->family) != 0 || c->type[0] != '\0')
			return setbad(c, "TYPE for %s without its HELP, or twice",
			    name);
		p += n + 1;
		if (strcmp(p, "counter") && strcmp(p, "gauge") &&
		    strcmp(p, "histogram"))
			return setbad(c, "bad type '%s'", p);
		snprintf(c->type, sizeof(c->type), "%s", p);
		if (c->nseen < 64)
			snprintf(c->seen[c->nseen++], sizeof(c->seen[0]), "%s",
			    name);
		c->last_le = -INFINITY;
		c->last_cum = 0;
		c->series[0] = '\0';
		return true;
	}
	if (line[0] == '#' || line[0] == '\0')
		return setbad(c, "stray line '%s'", line);
	if (!parse_sample(line, name, sizeof(name), labels, sizeof(labels), le,
	    sizeof(le), value, sizeof(value)))
		return setbad(c, "bad sample '%s'", line);
	if (c->type[0] == '\0')
		return setbad(c, "sample before TYPE: '%s'", line);
	if (strcmp(c->type, "histogram") != 0) {
		if (strcmp(name, c->family) != 0 || le[0] != '\0')
			return setbad(c, "sample '%s' outside family %s", line,
			    c->family);
		if (strcmp(c->type, "counter") == 0 && (value[0] == '-' ||
		    strcmp(value, "NaN") == 0))
			return setbad(c, "negative counter '%s'", line);
		return true;
	}
	if (family_sample(c, name, "_bucket")) {
		double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
		double v = strtod(value, NULL);

		if (le[0] == '\0' || !is_value(le))
			return setbad(c, "bucket without le: '%s'", line);
		if (strcmp(c->series, labels) != 0 || c->last_le == INFINITY) {
			/* A new series starts at its first bucket. */
			snprintf(c->series, sizeof(c->series), "%s", labels);
			c->last_le = -INFINITY;
			c->last_cum = 0;
		}
		if (!(bound > c->last_le) || v < c->last_cum)
			return setbad(c, "bucket not increasing or not "
			    "cumulative: '%s'", line);
		c->last_le = bound;
		c->last_cum = v;
		if (bound == INFINITY)
			c->inf_count = v;
		return true;
	}
	if (family_sample(c, name, "_sum")) {
		if (c->last_le != INFINITY || strcmp(c->series, labels) != 0)
			return setbad(c, "_sum before +Inf: '%s'", line);
		return true;
	}
	if (family_sample(c, name, "_count")) {
		if (c->last_le != INFINITY || strcmp(c->series, labels) != 0 ||
		    strtod(value, NULL) != c->inf_count)
			return setbad(c, "_count not equal to the +Inf bucket: "
			    "'%s'", line);
		return true;
	}
	return setbad(c, "sample '%s' outside histogram %s", line, c->family);
}

/* Checks a whole rendering; on failure err says which line and why. */
static bool
check_text(const char *text, char *err, size_t errlen)
{
	struct check c;
	char line[1024];
	const char *p = text, *nl;

	memset(&c, 0, sizeof(c));
	if (*text != '\0' && text[strlen(text) - 1] != '\n') {
		snprintf(err, errlen, "no final newline");
		return false;
	}
	while (*p) {
		nl = strchr(p, '\n');
		if ((size_t)(nl - p) >= sizeof(line)) {
			snprintf(err, errlen, "line too long");
			return false;
		}
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (!check_line(&c, line)) {
			snprintf(err, errlen, "%s", c.err);
			return false;
		}
		p = nl + 1;
	}
	return true;
}

/* ---- tests ------------------------------------------------------------ */

static const double lat[] = { .0001, .00025, .0005, .001, .0025, .005, .01,
	.025, .05, .1, .25, .5, 1, 2.5 };

/* A bucket array and its length: two initializers. */
#define BUCKETS(a)	a, sizeof(a) / sizeof((a)[0])

static void
test_registration(void)
{
	static const char *const ok_labels[] = { "route", "method", NULL };
	static const char *const le_label[] = { "le", NULL };
	static const char *const reserved[] = { "__name", NULL };
	static const char *const dup[] = { "a", "a", NULL };
	static const char *const digit[] = { "1a", NULL };
	static const char *const colon[] = { "a:b", NULL };
	static const char *const nine[] = { "a", "b", "c", "d", "e", "f", "g",
		"h", "i", NULL };
	static const double inc[] = { 1, 2, 2 };
	static const double dec[] = { 2, 1 };
	static const double withinf[] = { 1, 2, INFINITY };
	static const double nan1[] = { NAN };
	static const double onlyinf[] = { INFINITY };
	/* Names that are not Prometheus metric names. */
	static const char *const bad_names[] = {
		"", "9starts_with_digit", "has-dash", "has space", "h\xc3\xa9",
	};
	static const struct {
		const char		*name;
		enum metrics_type	 type;
		const char *const	*labels;
		const double		*b;
		size_t			 nb;
		int			 err;	/* 0: accepted */
	} cases[] = {
		{ "kvd_ok_total", METRICS_COUNTER, ok_labels, NULL, 0, 0 },
		{ "ns:sub_name_9", METRICS_GAUGE, NULL, NULL, 0, 0 },
		{ "_leading", METRICS_GAUGE, NULL, NULL, 0, 0 },
		{ "hist_ok", METRICS_HISTOGRAM, ok_labels, BUCKETS(lat), 0 },
		{ "hist_trailing_inf", METRICS_HISTOGRAM, NULL,
		  BUCKETS(withinf), 0 },
		{ "reserved_label", METRICS_COUNTER, reserved, NULL, 0, EINVAL },
		{ "dup_label", METRICS_COUNTER, dup, NULL, 0, EINVAL },
		{ "digit_label", METRICS_COUNTER, digit, NULL, 0, EINVAL },
		{ "colon_label", METRICS_COUNTER, colon, NULL, 0, EINVAL },
		{ "too_many_labels", METRICS_COUNTER, nine, NULL, 0, EINVAL },
		{ "le_on_histogram", METRICS_HISTOGRAM, le_label, BUCKETS(lat),
		  EINVAL },
		{ "le_on_gauge", METRICS_GAUGE, le_label, NULL, 0, 0 },
		{ "hist_no_buckets", METRICS_HISTOGRAM, NULL, NULL, 0, EINVAL },
		{ "hist_equal", METRICS_HISTOGRAM, NULL, BUCKETS(inc), EINVAL },
		{ "hist_decreasing", METRICS_HISTOGRAM, NULL, BUCKETS(dec),
		  EINVAL },
		{ "hist_nan", METRICS_HISTOGRAM, NULL, BUCKETS(nan1), EINVAL },
		{ "hist_only_inf", METRICS_HISTOGRAM, NULL, BUCKETS(onlyinf),
		  EINVAL },
		{ "kvd_ok_total", METRICS_GAUGE, NULL, NULL, 0, EEXIST },
		{ "hist_ok", METRICS_COUNTER, NULL, NULL, 0, EEXIST },
	};
	struct metric_family *f;
	size_t i;

	metrics_free_all();
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		errno = 0;
		f = metrics_family(bad_names[i], "h", METRICS_COUNTER, NULL,
		    NULL, 0);
		ok(f == NULL && errno == EINVAL,
		    "register '%s' refused with EINVAL (errno %d)", bad_names[i],
		    errno);
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = 0;
		f = metrics_family(cases[i].name, "h", cases[i].type,
		    cases[i].labels, cases[i].b, cases[i].nb);
		if (cases[i].err == 0)
			ok(f != NULL, "register '%s' accepted", cases[i].name);
		else
			ok(f == NULL && errno == cases[i].err,
			    "register '%s' refused with %s (errno %d)",
			    cases[i].name, cases[i].err == EEXIST ? "EEXIST" :
			    "EINVAL", errno);
	}
	errno = 0;
	ok(metrics_gauge_fn("kvd_ok_total", "h", NULL, NULL) == -1 &&
	    errno == EINVAL, "gauge_fn without a function: EINVAL");
	ok(metrics_collector("coll_hist", "h", METRICS_HISTOGRAM, NULL, NULL,
	    NULL) == -1 && errno == EINVAL, "a histogram collector: EINVAL");
	metrics_free_all();
	ok(metrics_counter("kvd_ok_total", "again") != NULL,
	    "after metrics_free_all a name can be registered again");
	metrics_free_all();
}

static double
fixed_fn(void *arg)
{
	return *(double *)arg;
}

static void
peers_collect(struct metrics_sink *s, void *arg)
{
	const char *v1[] = { "node2" }, *v2[] = { "node\"3\\" };

	(void)arg;
	metrics_sink_put(s, v1, 1);
	metrics_sink_put(s, v2, 0);
	metrics_sink_put(s, NULL, 5);	/* ignored: no values */
}

static const char expected[] =
	"# HELP kvd_requests_total Requests answered, by route, method and status.\n"
	"# TYPE kvd_requests_total counter\n"
	"kvd_requests_total{route=\"/kv/\",method=\"GET\",status=\"200\"} 3\n"
	"kvd_requests_total{route=\"/kv/\",method=\"PUT\",status=\"201\"} 1\n"
	"kvd_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 10000000000\n"
	"# HELP kvd_keys Live keys (not tombstones) in this node's store.\n"
	"# TYPE kvd_keys gauge\n"
	"kvd_keys 42\n"
	"# HELP kvd_connections Open client connections.\n"
	"# TYPE kvd_connections gauge\n"
	"kvd_connections 1.5\n"
	"# HELP kvd_snapshot_age_seconds Seconds since the last snapshot.\n"
	"# TYPE kvd_snapshot_age_seconds gauge\n"
	"kvd_snapshot_age_seconds 12.25\n"
	"# HELP kvd_wal_bytes_total Bytes appended to the WAL.\n"
	"# TYPE kvd_wal_bytes_total counter\n"
	"kvd_wal_bytes_total 4096\n"
	"# HELP kvd_peer_up 1 when the peer answers, 0 when down or unknown.\n"
	"# TYPE kvd_peer_up gauge\n"
	"kvd_peer_up{peer=\"node2\"} 1\n"
	"kvd_peer_up{peer=\"node\\\"3\\\\\"} 0\n"
	"# HELP kvd_request_duration_seconds Time to answer a request.\n"
	"# TYPE kvd_request_duration_seconds histogram\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.0001\"} 1\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.00025\"} 1\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.0005\"} 1\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.001\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.0025\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.005\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.01\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.025\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.05\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.1\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.25\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"0.5\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"1\"} 2\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"2.5\"} 3\n"
	"kvd_request_duration_seconds_bucket{route=\"/kv/\",le=\"+Inf\"} 4\n"
	"kvd_request_duration_seconds_sum{route=\"/kv/\"} 12.50105\n"
	"kvd_request_duration_seconds_count{route=\"/kv/\"} 4\n"
	"# HELP kvd_group_commit_batch_size Records made durable by one fsync.\n"
	"# TYPE kvd_group_commit_batch_size histogram\n"
	"kvd_group_commit_batch_size_bucket{le=\"1\"} 0\n"
	"kvd_group_commit_batch_size_bucket{le=\"2\"} 0\n"
	"kvd_group_commit_batch_size_bucket{le=\"+Inf\"} 0\n"
	"kvd_group_commit_batch_size_sum 0\n"
	"kvd_group_commit_batch_size_count 0\n"
	"# HELP kvd_empty_family A family whose series have not appeared yet.\n"
	"# TYPE kvd_empty_family counter\n"
	"# HELP kvd_escapes Help with a backslash \\\\ and a\\nnewline and \"quotes\".\n"
	"# TYPE kvd_escapes gauge\n"
	"kvd_escapes{v=\"a\\\"b\\\\c\\nd\"} 1\n"
	"# HELP kvd_build_info Build information; the value is always 1.\n"
	"# TYPE kvd_build_info gauge\n"
	"kvd_build_info{version=\"0.1.0\"} 1\n";

static void
test_render(void)
{
	static const char *const rms[] = { "route", "method", "status", NULL };
	static const char *const route[] = { "route", NULL };
	static const char *const peer[] = { "peer", NULL };
	static const char *const v[] = { "v", NULL };
	static const char *const version[] = { "version", NULL };
	static const double batch[] = { 1, 2 };
	static double age = 12.25, walbytes = 4096;
	struct metric_family *req, *dur, *esc, *bi;
	struct metric *get, *keys, *conns, *kvdur;
	struct buf out = BUF_INIT;
	char err[256];
	size_t i;

	metrics_free_all();
	req = metrics_family("kvd_requests_total", "Requests answered, by route, "
	    "method and status.", METRICS_COUNTER, rms, NULL, 0);
	keys = metrics_gauge("kvd_keys", "Live keys (not tombstones) in this "
	    "node's store.");
	conns = metrics_gauge("kvd_connections", "Open client connections.");
	ok(metrics_gauge_fn("kvd_snapshot_age_seconds", "Seconds since the "
	    "last snapshot.", fixed_fn, &age) == 0, "gauge_fn registered");
	ok(metrics_counter_fn("kvd_wal_bytes_total", "Bytes appended to the "
	    "WAL.", fixed_fn, &walbytes) == 0, "counter_fn registered");
	ok(metrics_collector("kvd_peer_up", "1 when the peer answers, 0 when "
	    "down or unknown.", METRICS_GAUGE, peer, peers_collect, NULL) == 0,
	    "collector registered");
	dur = metrics_family("kvd_request_duration_seconds", "Time to answer a "
	    "request.", METRICS_HISTOGRAM, route, BUCKETS(lat));
	ok(metrics_histogram("kvd_group_commit_batch_size", "Records made "
	    "durable by one fsync.", batch, 2) != NULL, "unlabelled histogram");
	ok(metrics_family("kvd_empty_family", "A family whose series have not "
	    "appeared yet.", METRICS_COUNTER, route, NULL, 0) != NULL,
	    "labelled family");
	esc = metrics_family("kvd_escapes", "Help with a backslash \\ and a\n"
	    "newline and \"quotes\".", METRICS_GAUGE, v, NULL, 0);
	bi = metrics_family("kvd_build_info", "Build information; the value is "
	    "always 1.", METRICS_GAUGE, version, NULL, 0);
	ok(req && keys && conns && dur && esc && bi, "every family registered");

	get = metrics_with(req, "/kv/", "GET", "200");
	ok(get != NULL && metrics_with(req, "/kv/", "GET", "200") == get,
	    "the same label values give the same series");
	metrics_inc(get);
	metrics_add(get, 2);
	metrics_inc(metrics_with(req, "/kv/", "PUT", "201"));
	metrics_add(metrics_with(req, "/health", "GET", "200"), 10000000000ULL);
	metrics_set(keys, 40);
	metrics_gauge_add(keys, 2);
	metrics_set(conns, 3);
	metrics_gauge_add(conns, -1.5);
	kvdur = metrics_with(dur, "/kv/");
	metrics_observe(kvdur, 0.0001);	/* on a bound: le is inclusive */
	metrics_observe(kvdur, 0.00095);
	metrics_observe(kvdur, 2.5);
	metrics_observe(kvdur, 10);	/* above every bound: +Inf only */
	metrics_observe(kvdur, NAN);	/* ignored */
	metrics_set(metrics_with(esc, "a\"b\\c\nd"), 1);
	metrics_set(metrics_with(bi, "0.1.0"), 1);

	/* Wrong-type and NULL updates change nothing. */
	metrics_set(get, 99);
	metrics_observe(get, 1);
	metrics_inc(keys);
	metrics_inc(kvdur);
	metrics_inc(NULL);
	metrics_add(NULL, 5);
	metrics_set(NULL, 1);
	metrics_gauge_add(NULL, 1);
	metrics_observe(NULL, 1);
	ok(metrics_with(NULL, "x") == NULL, "metrics_with(NULL) is NULL");
	ok(metrics_labels(req, NULL) == NULL, "labels missing: NULL");

	ok(metrics_counter_value(get) == 3, "counter value 3");
	ok(metrics_gauge_value(keys) == 42, "gauge value 42");
	ok(metrics_histogram_count(kvdur) == 4, "histogram count 4 (NaN ignored)");
	ok(metrics_histogram_sum(kvdur) - 12.50105 < 1e-12 &&
	    12.50105 - metrics_histogram_sum(kvdur) < 1e-12,
	    "histogram sum 12.50105");

	metrics_write(&out);
	ok(strcmp(out.data, expected) == 0, "rendering matches byte for byte");
	if (strcmp(out.data, expected) != 0) {
		for (i = 0; out.data[i] && out.data[i] == expected[i]; i++)
			;
		printf("# first difference at byte %zu:\n# got:  %.80s\n"
		    "# want: %.80s\n", i, out.data + i, expected + i);
	}
	err[0] = '\0';
	ok(check_text(out.data, err, sizeof(err)), "rendering passes the "
	    "checker %s", err);

	/* The checker itself must catch what it claims to. */
	{
		static const char *const bad[] = {
			"x 1\n",
			"# HELP x h\n# TYPE x counter\nx -1\n",
			"# HELP x h\n# TYPE x gauge\nx{a=\"b\"\"} 1\n",
			"# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",
			"# HELP x h\n# TYPE x gauge\nx{9=\"1\"} 1\n",
			"# HELP x h\n# TYPE x gauge\nx one\n",
			"# HELP x h\n# TYPE x gauge\ny 1\n",
			"# HELP x h\n# TYPE x counter\n# HELP x h\n# TYPE x counter\n",
			"# HELP x h\n# TYPE x nonsense\n",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
			    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\n"
			    "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
			    "h_sum 1\nh_count 1\n",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
			    "h_sum 1\nh_count 1\n",
			"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\n"
			    "h_sum 1\nh_count 3\n",
			"# HELP x h\n# TYPE x gauge\nx 1",
		};
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ok(!check_text(bad[i], err, sizeof(err)), "checker "
			    "rejects bad text %zu (%s)", i, err);
	}
	buf_free(&out);
	metrics_free_all();
}

/* The number formats of the exposition format, through a gauge. */
static void
test_values(void)
{
	static const struct {
		double		 v;
		const char	*text;
	} cases[] = {
		{ 0, "0" }, { -0.0, "0" }, { 1, "1" }, { -7, "-7" },
		{ 0.1, "0.1" }, { -1.5, "-1.5" }, { 1e-9, "1e-09" },
		{ 123456789012.0, "123456789012" }, { 1e300, "1e+300" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ 1.0 / 3.0, "0.3333333333333333" },
		{ INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" },
	};
	struct metric *g;
	struct buf out = BUF_INIT, want = BUF_INIT;
	size_t i;

	metrics_free_all();
	g = metrics_gauge("g", "h");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		metrics_set(g, cases[i].v);
		buf_reset(&out);
		buf_reset(&want);
		metrics_write(&out);
		buf_printf(&want, "# HELP g h\n# TYPE g gauge\ng %s\n",
		    cases[i].text);
		ok(strcmp(out.data, want.data) == 0, "value %s renders as "
		    "'%s'", cases[i].text, cases[i].text);
		if (cases[i].v == cases[i].v && cases[i].v < INFINITY &&
		    cases[i].v > -INFINITY)
			ok(strtod(strrchr(out.data, ' ') + 1, NULL) == cases[i].v,
			    "value %s reads back exactly", cases[i].text);
	}
	buf_free(&out);
	buf_free(&want);
	metrics_free_all();
}

/* ---- concurrency ------------------------------------------------------ */

#define THREADS	8
#define ROUNDS	20000

static struct metric_family *cfam, *hfam;
static struct metric *ccount, *cgauge;

static void *
worker(void *arg)
{
	long id = (long)arg;
	static const char *const statuses[] = { "200", "201", "404", "503" };
	char mine[16];
	int i;

	snprintf(mine, sizeof(mine), "t%ld", id);
	for (i = 0; i < ROUNDS; i++) {
		metrics_inc(ccount);
		metrics_gauge_add(cgauge, 1);
		metrics_gauge_add(cgauge, -0.5);
		/* Everyone races to create the same few series... */
		metrics_inc(metrics_with(cfam, "shared", statuses[i % 4]));
		/* ...and each thread has one of its own. */
		metrics_inc(metrics_with(cfam, mine, "200"));
		metrics_observe(metrics_with(hfam, statuses[(i + id) % 4]),
		    (double)(i % 8) * 0.25);
	}
	return NULL;
}

static atomic_int scraping;

static void *
scraper(void *arg)
{
	struct buf out = BUF_INIT;
	char err[256];
	int *bad = arg, n = 0;

	while (atomic_load(&scraping) || n == 0) {
		buf_reset(&out);
		metrics_write(&out);
		if (!check_text(out.data, err, sizeof(err))) {
			printf("# scrape %d: %s\n", n, err);
			(*bad)++;
		}
		n++;
	}
	buf_free(&out);
	return NULL;
}

static void
test_concurrency(void)
{
	static const char *const two[] = { "who", "status", NULL };
	static const char *const st[] = { "status", NULL };
	static const double b[] = { 0.5, 1, 1.5 };
	pthread_t t[THREADS], s;
	struct buf out = BUF_INIT;
	uint64_t total = 0, hcount = 0;
	int bad = 0, lines = 0;
	long i;
	const char *p;

	metrics_free_all();
	cfam = metrics_family("c_total", "h", METRICS_COUNTER, two, NULL, 0);
	hfam = metrics_family("c_hist", "h", METRICS_HISTOGRAM, st, b, 3);
	ccount = metrics_counter("c_plain_total", "h");
	cgauge = metrics_gauge("c_gauge", "h");
	atomic_store(&scraping, 1);
	ok(pthread_create(&s, NULL, scraper, &bad) == 0, "scraper started");
	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&scraping, 0);
	pthread_join(s, NULL);
	ok(bad == 0, "every scrape during the updates is well-formed (%d bad)",
	    bad);

	ok(metrics_counter_value(ccount) == (uint64_t)THREADS * ROUNDS,
	    "no lost counter increments (%llu)",
	    (unsigned long long)metrics_counter_value(ccount));
	ok(metrics_gauge_value(cgauge) == THREADS * ROUNDS * 0.5,
	    "no lost gauge updates (%g)", metrics_gauge_value(cgauge));
	for (i = 0; i < 4; i++) {
		static const char *const sts[] = { "200", "201", "404", "503" };
		total += metrics_counter_value(metrics_with(cfam, "shared", sts[i]));
		hcount += metrics_histogram_count(metrics_with(hfam, sts[i]));
	}
	ok(total == (uint64_t)THREADS * ROUNDS, "racing series creation lost "
	    "no increment (%llu)", (unsigned long long)total);
	ok(hcount == (uint64_t)THREADS * ROUNDS, "no lost observations (%llu)",
	    (unsigned long long)hcount);
	ok(metrics_histogram_sum(metrics_with(hfam, "200")) +
	    metrics_histogram_sum(metrics_with(hfam, "201")) +
	    metrics_histogram_sum(metrics_with(hfam, "404")) +
	    metrics_histogram_sum(metrics_with(hfam, "503")) ==
	    THREADS * (ROUNDS / 8) * (0 + .25 + .5 + .75 + 1 + 1.25 + 1.5 + 1.75),
	    "histogram sums add up");
	metrics_write(&out);
	for (p = out.data; (p = strstr(p, "\nc_total{")) != NULL; p++)
		lines++;
	ok(lines == 4 + THREADS, "exactly one series per label set (%d)",
	    lines);
	ok(strstr(out.data, "c_total{who=\"shared\",status=\"200\"} 40000\n") !=
	    NULL, "shared series value rendered");
	buf_free(&out);
	metrics_free_all();
}

static void
test_clock(void)
{
	uint64_t a = clock_now_ns(), b = clock_now_ns();

	ok(a > 0 && b >= a, "monotonic clock does not go back");
}

int
main(void)
{
	test_registration();
	test_render();
	test_values();
	test_concurrency();
	test_clock();
	return tap_done();
}
