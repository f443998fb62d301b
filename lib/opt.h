/*
 * opt.h -- the one reader of command-line option values, and of the
 * numbers they carry (and of decimal digits wherever they are read).
 *
 * Pure functions over strings the caller owns: nothing is allocated,
 * printed or kept, so any thread may call them.  A returned value points
 * into argv (or into the NAME=VALUE argument itself) and lives as long as
 * argv does.  Saying what went wrong is the caller's business: kvctl.c
 * owns the one usage error.  opt.c's essay says why this is a module.
 */
#ifndef KVD_OPT_H
#define KVD_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Matches option name ("-c", "--size") at argv[*i], as "NAME VALUE" (two
 * arguments) or "NAME=VALUE" (one).  Returns the value, having advanced *i
 * past a separate one.  Returns NULL when argv[*i] is not this option, and
 * also when it is but no value follows: then *missing is set to true (and
 * otherwise left alone, so one flag can serve a whole chain of calls).
 * No value follows when argv[*i] ends the line, or when the next argument
 * is one of the program's long options, longs[] (NULL-ended, "--server";
 * NULL for none), alone or as NAME=VALUE: *i + 1 < argc tells the two
 * apart.  The NAME=VALUE form carries any value, "--prefix=--all" too.
 */
const char *opt_value(int argc, char **argv, int *i, const char *name,
	    const char *const *longs, bool *missing);

/*
 * True when argv[1..argc) asks for help: "--help" or "-h" is one of the
 * arguments before the first "--" (after which all are plain ones),
 * wherever it stands, even where a value is expected ("--ttl -h"; the
 * NAME=VALUE form still carries any value).  Help wins over whatever
 * else the line holds: a caller that reads the rest of the line reads
 * it for the command word only.
 */
bool	opt_help(int argc, char **argv);

/*
 * Reads s as a decimal integer in [min, max]: digits only, no sign, no
 * space, no overflow.  0 with *out set, or -1.
 */
int	opt_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Reads all of s[0..n) as a decimal integer: one digit or more and
 * nothing else, no overflow.  The one digit reader: opt_u64, HTTP's
 * Content-Length, the signature date, JSON numbers.  0 with *out set,
 * or -1.
 */
int	opt_digits(const char *s, size_t n, uint64_t *out);

/*
 * Reads all of s as a number (strtod: "1.5", "2e3") in [min, max].  0
 * with *out set, or -1 (also for NaN, infinities and out-of-range input).
 */
int	opt_double(const char *s, double min, double max, double *out);

/*
 * Reads s as a boolean: "1", "true" or "yes" is true, "0", "false" or
 * "no" is false, exactly, and nothing else is either (not "", "on",
 * "TRUE").  The one reader of kvd's FLAG_BOOL values (--request-log=V,
 * KVD_REQUEST_LOG) and kvctl's KVCTL_JSON, KVCTL_QUIET and
 * KVCTL_VERBOSE.  0 with *out set, or -1.
 */
int	opt_bool(const char *s, bool *out);

/*
 * Reads an environment entry e ("NAME=VALUE", as in environ) against
 * the variables a program reads, known[0..n): the length of NAME when
 * it starts with prefix ("KVD_", "KVCTL_") yet is none of them -- a
 * misspelt variable, which would silently leave a default in place --
 * and 0 otherwise (one of them, or not the program's at all).
 */
size_t	opt_env_unknown(const char *e, const char *prefix,
	    const char *const *known, size_t n);

/*
 * The index in names[0..n) of the name nearest to s[0..len) when it is
 * at most OPT_NEAR_EDITS edits away (a byte inserted, deleted or
 * replaced, two neighbours swapped: KVCTL_JSNO is one from KVCTL_JSON);
 * the first of equals wins.  -1 when none is that near.
 */
#define OPT_NEAR_EDITS	2
int	opt_nearest(const char *s, size_t len, const char *const *names,
	    size_t n);

#endif
