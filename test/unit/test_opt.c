/*
 * test_opt.c -- lib/opt: which arguments carry an option's value (both
 * forms, short and long names, a missing value, another long option in
 * its place, look-alike options),
 * which lines ask for help,
 * which strings are numbers in range, and which are booleans; which
 * environment entries are misspelt variables, and the nearest name.
 */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "opt.h"
#include "tap.h"

/* One opt_value case: argv (NULL-ended), the name, what comes back. */
static const struct {
	const char	*argv[4];
	const char	*name;
	const char	*want;		/* NULL: no value */
	int		 next;		/* *i afterwards */
	bool		 missing;
} cases[] = {
	{ { "-c", "5", NULL }, "-c", "5", 1, false },
	{ { "-c=5", NULL }, "-c", "5", 0, false },
	{ { "--size", "10", NULL }, "--size", "10", 1, false },
	{ { "--size=10", NULL }, "--size", "10", 0, false },
	{ { "--size=", NULL }, "--size", "", 0, false },
	{ { "--size=a=b", NULL }, "--size", "a=b", 0, false },
	{ { "--ratio", "-1", NULL }, "--ratio", "-1", 1, false },
	{ { "--size", "", NULL }, "--size", "", 1, false },
	/* the name ends the line: no value, and *missing says so */
	{ { "-c", NULL }, "-c", NULL, 0, true },
	{ { "--read-r", NULL }, "--read-r", NULL, 0, true },
	/* other options, however alike */
	{ { "-n5", NULL }, "-n", NULL, 0, false },
	{ { "--sizes", "1", NULL }, "--size", NULL, 0, false },
	{ { "--read-budget", "1", NULL }, "--read-r", NULL, 0, false },
	{ { "--siz", "1", NULL }, "--size", NULL, 0, false },
	{ { "-d", "1", NULL }, "-c", NULL, 0, false },
	{ { "5", NULL }, "-c", NULL, 0, false },
	/* another of the program's long options (longs[]) is no value */
	{ { "--prefix", "--all", NULL }, "--prefix", NULL, 0, true },
	{ { "--prefix", "--server=x", NULL }, "--prefix", NULL, 0, true },
	{ { "-c", "--size", "5", NULL }, "-c", NULL, 0, true },
	{ { "--size", "--size", NULL }, "--size", NULL, 0, true },
	/* ... but NAME=VALUE carries it, and unknown ones are values */
	{ { "--prefix=--all", NULL }, "--prefix", "--all", 0, false },
	{ { "--prefix=--server=x", NULL }, "--prefix", "--server=x", 0, false },
	{ { "--prefix", "--alls", NULL }, "--prefix", "--alls", 1, false },
	{ { "--prefix", "--al", NULL }, "--prefix", "--al", 1, false },
	{ { "--prefix", "--", NULL }, "--prefix", "--", 1, false },
	{ { "--prefix", "-all", NULL }, "--prefix", "-all", 1, false },
	{ { "--prefix", "all", NULL }, "--prefix", "all", 1, false },
};

/* The long options of the program the cases above are read for. */
static const char *const longs[] = { "--size", "--server", "--all", NULL };

/* The variables of the environment cases (a kvctl-like program). */
static const char *const known[] = {
	"KVCTL_SERVER", "KVCTL_TIMEOUT", "KVCTL_CONNECT_TIMEOUT", "KVCTL_JSON",
	"KVCTL_QUIET", "KVCTL_RETRY"
};
#define NKNOWN	(sizeof(known) / sizeof(known[0]))

/* One opt_env_unknown case, then opt_nearest on what it found. */
static const struct {
	const char	*entry;
	size_t		 len;		/* 0: not a misspelt variable */
	int		 near;		/* index in known[], or -1 */
} envs[] = {
	{ "KVCTL_JSON=1", 0, -1 },
	{ "KVCTL_SERVER=", 0, -1 },
	{ "KVCTL_JSON", 0, -1 },		/* no '=' at all */
	{ "PATH=/bin", 0, -1 },			/* not the prefix */
	{ "KVD_JSON=1", 0, -1 },
	{ "kvctl_json=1", 0, -1 },		/* names are case-sensitive */
	{ "XKVCTL_JSON=1", 0, -1 },
	{ "KVCTL_JSNO=1", 10, 3 },		/* a swap: one edit */
	{ "KVCTL_JSO=1", 9, 3 },		/* a byte left out */
	{ "KVCTL_JSONN=1", 11, 3 },		/* one too many */
	{ "KVCTL_JSAN=1", 10, 3 },		/* one replaced */
	{ "KVCTL_JS=1", 8, 3 },			/* two edits */
	{ "KVCTL_J=1", 7, -1 },			/* three: too far */
	{ "KVCTL_JSON_=1", 11, 3 },
	{ "KVCTL_JSON=x=y", 0, -1 },		/* NAME ends at the first '=' */
	{ "KVCTL_JSONX=KVCTL_JSON", 11, 3 },
	{ "KVCTL_RETRIES=3", 13, -1 },		/* three from KVCTL_RETRY */
	{ "KVCTL_TIMOUT=5", 12, 1 },
	{ "KVCTL_CONECT_TIMEOUT=5", 20, 2 },
	{ "KVCTL_SERVERS=x", 13, 0 },
	{ "KVCTL_=1", 6, -1 },
	{ "KVCTL_FOO=1", 9, -1 },
	{ "KVCTL_" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=1",
	  134, -1 },				/* longer than any name */
};

/* opt_help: argv (NULL-ended, argv[0] the program), asked or not. */
static const struct {
	const char	*argv[6];
	bool		 want;
} helps[] = {
	{ { "kvctl", "--help", NULL }, true },
	{ { "kvctl", "-h", "put", NULL }, true },
	{ { "kvctl", "put", "--ttl", "x", "--help", NULL }, true },
	{ { "kvctl", "put", "--ttl", "-h", NULL }, true },	/* a value's place */
	{ { "kvctl", "put", "k", "v", NULL }, false },
	{ { "-h", "put", NULL }, false },		/* argv[0] is no argument */
	{ { "kvctl", "put", "k", "--", "-h", NULL }, false },
	{ { "kvctl", "--", "--help", NULL }, false },
	{ { "kvctl", "--prefix=-h", NULL }, false },
	{ { "kvctl", "--helper", "-hh", "--help=1", NULL }, false },
	{ { "kvctl", NULL }, false },
};

int
main(void)
{
	static const char *const bad_u64[] = {
		"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1.0", "abc",
		"18446744073709551616", "99999999999999999999999"
	};
	/* opt_digits over all of in; a refused input leaves *out at 42. */
	static const struct {
		const char	*in;
		int		 rc;
		uint64_t	 want;
	} digits[] = {
		{ "0", 0, 0 }, { "007", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -1, 42 },
		{ "123x", -1, 42 }, { "", -1, 42 }, { "-1", -1, 42 },
		{ "+1", -1, 42 }, { " 1", -1, 42 }, { "1 ", -1, 42 },
	};
	static const char *const bad_double[] = {
		"", "abc", "1s", "nan", "inf", "-inf", "1e999", "3601", "-0.5",
		"1e-400"
	};
	/* opt_bool: exactly these six; a refused input leaves *out alone. */
	static const struct {
		const char	*s;
		bool		 want;
	} bools[] = {
		{ "1", true }, { "true", true }, { "yes", true },
		{ "0", false }, { "false", false }, { "no", false },
	};
	static const char *const bad_bool[] = {
		"", "maybe", "2", "on", "off", "TRUE", "False", "Yes", " 1",
		"1 ", "true ", "01", "t", "-1"
	};
	uint64_t u;
	double d;
	size_t k;
	bool b;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *argv[4];
		const char *got;
		int argc = 0, i = 0;
		bool missing = false;

		while (cases[k].argv[argc] != NULL) {
			argv[argc] = (char *)cases[k].argv[argc];
			argc++;
		}
		argv[argc] = NULL;
		got = opt_value(argc, argv, &i, cases[k].name, longs, &missing);
		ok((got == NULL ? cases[k].want == NULL : cases[k].want != NULL &&
		    strcmp(got, cases[k].want) == 0) && i == cases[k].next &&
		    missing == cases[k].missing,
		    "opt_value %s in '%s%s%s': %s%s%s, i %d, missing %d",
		    cases[k].name, argv[0], argc > 1 ? " " : "",
		    argc > 1 ? argv[1] : "", got ? "'" : "", got ? got : "NULL",
		    got ? "'" : "", i, missing);
	}

	{
		/* *missing is only ever set: one flag serves a chain of calls. */
		char *argv[] = { "-c", NULL };
		bool missing = true;
		int i = 0;

		ok(opt_value(1, argv, &i, "-d", longs, &missing) == NULL &&
		    missing, "a mismatch leaves *missing as it was");
	}
	{
		/* No list: every next argument is a value. */
		char *argv[] = { "--prefix", "--all", NULL };
		bool missing = false;
		const char *got;
		int i = 0;

		got = opt_value(2, argv, &i, "--prefix", NULL, &missing);
		ok(got != NULL && strcmp(got, "--all") == 0 && i == 1 && !missing,
		    "with no long options, '--all' is a value");
	}

	for (k = 0; k < sizeof(helps) / sizeof(helps[0]); k++) {
		char *argv[6];
		int argc = 0;

		while (helps[k].argv[argc] != NULL) {
			argv[argc] = (char *)helps[k].argv[argc];
			argc++;
		}
		argv[argc] = NULL;
		ok(opt_help(argc, argv) == helps[k].want, "help: case %zu is %s",
		    k, helps[k].want ? "help" : "no help");
	}

	ok(opt_u64("0", 0, 10, &u) == 0 && u == 0, "u64: 0");
	ok(opt_u64("10", 0, 10, &u) == 0 && u == 10, "u64: the maximum is in");
	ok(opt_u64("11", 0, 10, &u) != 0, "u64: above the maximum is out");
	ok(opt_u64("0", 1, 10, &u) != 0, "u64: below the minimum is out");
	ok(opt_u64("007", 0, 10, &u) == 0 && u == 7, "u64: leading zeros");
	ok(opt_u64("18446744073709551615", 0, UINT64_MAX, &u) == 0 &&
	    u == UINT64_MAX, "u64: 2^64-1");
	for (k = 0; k < sizeof(bad_u64) / sizeof(bad_u64[0]); k++) {
		u = 42;
		ok(opt_u64(bad_u64[k], 0, UINT64_MAX, &u) != 0 && u == 42,
		    "u64: '%s' is refused, *out untouched", bad_u64[k]);
	}

	for (k = 0; k < sizeof(digits) / sizeof(digits[0]); k++) {
		int rc;

		u = 42;
		rc = opt_digits(digits[k].in, strlen(digits[k].in), &u);
		ok(rc == digits[k].rc && u == digits[k].want,
		    "digits: '%s' -> %d, %llu", digits[k].in, rc,
		    (unsigned long long)u);
	}
	ok(opt_digits("123x", 3, &u) == 0 && u == 123,
	    "digits: only the n bytes given are read");
	ok(opt_digits("12", 0, &u) == -1 && u == 123,
	    "digits: none at all is refused");

	ok(opt_double("1.5", 0, 10, &d) == 0 && d == 1.5, "double: 1.5");
	ok(opt_double("2e1", 0, 3600, &d) == 0 && d == 20, "double: 2e1");
	ok(opt_double("0", 0, 1, &d) == 0 && d == 0, "double: the minimum is in");
	ok(opt_double("3600", 0, 3600, &d) == 0 && d == 3600,
	    "double: the maximum is in");
	ok(opt_double("0.0009", 0.001, 1, &d) != 0, "double: below the minimum");
	for (k = 0; k < sizeof(bad_double) / sizeof(bad_double[0]); k++) {
		d = 42;
		ok(opt_double(bad_double[k], 0, 3600, &d) != 0 && d == 42,
		    "double: '%s' is refused, *out untouched", bad_double[k]);
	}

	for (k = 0; k < sizeof(bools) / sizeof(bools[0]); k++) {
		b = !bools[k].want;
		ok(opt_bool(bools[k].s, &b) == 0 && b == bools[k].want,
		    "bool: '%s' is %s", bools[k].s, bools[k].want ? "true" :
		    "false");
	}
	for (k = 0; k < sizeof(bad_bool) / sizeof(bad_bool[0]); k++) {
		b = true;
		ok(opt_bool(bad_bool[k], &b) != 0 && b,
		    "bool: '%s' is refused, *out untouched", bad_bool[k]);
	}

	for (k = 0; k < sizeof(envs) / sizeof(envs[0]); k++) {
		size_t len = opt_env_unknown(envs[k].entry, "KVCTL_", known,
		    NKNOWN);
		int near = len ? opt_nearest(envs[k].entry, len, known,
		    NKNOWN) : -1;

		ok(len == envs[k].len && near == envs[k].near,
		    "env: '%s' unknown for %zu bytes, nearest %s", envs[k].entry,
		    len, near >= 0 ? known[near] : "none");
	}
	ok(opt_env_unknown("KVCTL_JSNO=1", "KVCTL_", known, 0) == 10,
	    "env: with no known names, every prefixed one is unknown");
	{
		/* Ties go to the first; a name longer than 64 is never near. */
		static const char *const tie[] = { "AB", "BA", "AC" };
		static const char *const lng[] = {
			"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
			"XXXXXXXXXX"
		};

		ok(opt_nearest("AA", 2, tie, 3) == 0, "nearest: the first of "
		    "equals");
		ok(opt_nearest("BA", 2, tie, 3) == 1, "nearest: an exact name");
		ok(opt_nearest("ACX", 2, tie, 3) == 2, "nearest: only len bytes "
		    "of s are read");
		ok(opt_nearest(lng[0], strlen(lng[0]), lng, 1) == -1,
		    "nearest: a name over 64 bytes is not measured");
		ok(opt_nearest("", 0, tie, 3) == 0, "nearest: empty is two "
		    "from AB");
		ok(opt_nearest("x", 1, tie, 0) == -1, "nearest: no names");
	}
	return tap_done();
}
