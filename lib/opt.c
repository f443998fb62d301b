/*
 * opt.c -- how an option's value is found in argv, and how a number in it
 * is read.
 *
 * WHY A MODULE.  kvctl reads its global flags (--server, --timeout,
 * --retry, ...) and the options of `kvctl bench` and `kvctl verify`; each
 * used to carry its own copy of "find NAME's value", with different
 * argument orders and different answers for a missing value, and its own
 * strtoull/strtod range check.  The rules are one contract -- which forms
 * an option may take, what "missing" means, which strings are numbers --
 * so they live once, here, where test/unit/test_opt.c pins them without a
 * process to spawn.  They stay out of kvctl.c because they print nothing
 * and decide nothing: the one usage error (its wording, "try 'kvctl
 * --help'", exit 2) is kvctl.c's, as STYLE says of everything that talks.
 *
 * THE FORMS.  "NAME VALUE" and "NAME=VALUE", for short and long names
 * alike; a value may start with '-' ("--ratio -1" is read, then judged by
 * the caller).  No bundling ("-n5" is not "-n 5"): an argument that only
 * starts with NAME is another option.  A NAME that ends the line has no
 * value; the caller learns it through *missing, once, after trying every
 * name it knows.  Nor has a NAME followed by another of the program's
 * long options: "kvctl put k v --if-match --server URL" took "--server"
 * for the ETag and then refused URL as an unexpected argument, far from
 * the mistake.  A value that really is "--server" is written
 * "--if-match=--server".  Only long options are refused: "-1" is a
 * number.  kvd and kvctl pass their own lists, so the rule is one and
 * the names are each program's.
 *
 * NUMBERS.  Counts are decimal digits and nothing else, so "1e3", "+5",
 * " 5" and "0x10" are refused rather than guessed at.  The digits are
 * read by opt_digits, which the parsers that meet decimal numbers on the
 * wire (HTTP's Content-Length, auth's date, JSON's integers) share: one
 * loop, one overflow check.  Durations and other real numbers are
 * whatever strtod reads in full, bounded on both sides (the comparison
 * is written so that NaN fails it).
 *
 * HELP.  "--help" or "-h" anywhere before "--" asks for help, however
 * wrong the rest of the line is: one asking how to write the line
 * should not first have to write it right ("kvctl put --ttl x --help"
 * refused the TTL before it saw the question).  That is decided before
 * any value is read, so it holds in a value's place too.
 *
 * BOOLEANS.  1, true and yes; 0, false and no: what kvd took for a
 * boolean flag and kvctl for its variables (kvctl took yes, kvd did
 * not: both do now), so a KVD_ and a KVCTL_ variable read alike.
 * Anything else is refused, never read as false: a "maybe" that
 * silently meant off hid the mistake.
 *
 * THE ENVIRONMENT.  kvd takes every flag as KVD_<FLAG> and kvctl its
 * global ones as KVCTL_<FLAG>; a misspelt name is not an error (the
 * environment holds what other programs put there too) but would
 * silently leave a default in place, so both warn about a name with
 * their prefix that they do not read, and name the nearest one they do.
 * Which names are unknown, and which known one is nearest, is decided
 * here once; the warning's words are each program's (kvd logs it, kvctl
 * prints it).  Nearness is the optimal-string-alignment distance (a
 * swap of two neighbours is one edit, as in a typo), computed only for
 * names of at most NEAR_MAX bytes.
 */
#include "opt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NEAR_MAX	64	/* longest name opt_nearest measures */

/* True when a is one of longs[] (NULL-ended), alone or as NAME=VALUE. */
static bool
is_long(const char *a, const char *const *longs)
{
	size_t n = strcspn(a, "=");

	if (longs == NULL || strncmp(a, "--", 2) != 0)
		return false;
	for (; *longs != NULL; longs++)
		if (strlen(*longs) == n && strncmp(*longs, a, n) == 0)
			return true;
	return false;
}

const char *
opt_value(int argc, char **argv, int *i, const char *name,
    const char *const *longs, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc || is_long(argv[*i + 1], longs)) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

bool
opt_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int
opt_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
opt_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (opt_digits(s, strlen(s), &v) != 0 || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
opt_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

int
opt_bool(const char *s, bool *out)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "yes") == 0)
		*out = true;
	else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "no") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

size_t
opt_env_unknown(const char *e, const char *prefix, const char *const *known,
    size_t n)
{
	size_t len = strcspn(e, "="), i;

	if (strncmp(e, prefix, strlen(prefix)) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (strlen(known[i]) == len && strncmp(known[i], e, len) == 0)
			return 0;
	return len;
}

/*
 * The edits from a[0..an) to b[0..bn) (optimal string alignment: insert,
 * delete, replace, swap of neighbours), both at most NEAR_MAX + OPT_NEAR_EDITS
 * and NEAR_MAX bytes long.  Three rows of the table, row i in d[i % 3].
 */
static size_t
edits(const char *a, size_t an, const char *b, size_t bn)
{
	size_t d[3][NEAR_MAX + 1], i, j, v, *cur, *up, *up2;

	for (j = 0; j <= bn; j++)
		d[0][j] = j;
	for (i = 1; i <= an; i++) {
		cur = d[i % 3];
		up = d[(i - 1) % 3];
		up2 = d[(i + 1) % 3];	/* row i - 2 */
		cur[0] = i;
		for (j = 1; j <= bn; j++) {
			v = up[j - 1] + (a[i - 1] != b[j - 1]);
			if (up[j] + 1 < v)
				v = up[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && up2[j - 2] + 1 < v)
				v = up2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return d[an % 3][bn];
}

int
opt_nearest(const char *s, size_t len, const char *const *names, size_t n)
{
	size_t i, nlen, d, best = OPT_NEAR_EDITS + 1;
	int at = -1;

	for (i = 0; i < n; i++) {
		nlen = strlen(names[i]);
		if (nlen > NEAR_MAX || len > nlen + OPT_NEAR_EDITS ||
		    nlen > len + OPT_NEAR_EDITS)
			continue;	/* too long to measure, or too far */
		if ((d = edits(s, len, names[i], nlen)) < best) {
			best = d;
			at = (int)i;
		}
	}
	return at;
}
