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
 * name it knows.
 *
 * NUMBERS.  Counts are decimal digits and nothing else, so "1e3", "+5",
 * " 5" and "0x10" are refused rather than guessed at.  The digits are
 * read by opt_digits, which the parsers that meet decimal numbers on the
 * wire (HTTP's Content-Length, auth's date, JSON's integers) share: one
 * loop, one overflow check.  Durations and other real numbers are
 * whatever strtod reads in full, bounded on both sides (the comparison
 * is written so that NaN fails it).
 *
 * BOOLEANS.  1, true and yes; 0, false and no: what kvd took for a
 * boolean flag and kvctl for its variables (kvctl took yes, kvd did
 * not: both do now), so a KVD_ and a KVCTL_ variable read alike.
 * Anything else is refused, never read as false: a "maybe" that
 * silently meant off hid the mistake.
 */
#include "opt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *
opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
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
