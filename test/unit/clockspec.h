/*
 * clockspec.h -- a vector clock written as a test reads it.
 *
 *	clockspec(&c, "n1=2,n2=1")  frees c, then increments n1 twice and n2
 *	                            once (actors in any order)
 *
 * The clock is built through vclock_increment, so it keeps every
 * invariant lib/vclock.c keeps.  Header-only, like tap.h.
 */
#ifndef KVD_CLOCKSPEC_H
#define KVD_CLOCKSPEC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vclock.h"

static inline void
clockspec(struct vclock *c, const char *spec)
{
	char actor[VCLOCK_ACTOR_MAX + 1];
	const char *p = spec;
	unsigned long n;
	size_t len;

	vclock_free(c);
	while (*p) {
		len = strcspn(p, "=");
		snprintf(actor, sizeof(actor), "%.*s", (int)len, p);
		p += len + 1;
		n = strtoul(p, (char **)&p, 10);
		while (n-- > 0)
			vclock_increment(c, actor);
		if (*p == ',')
			p++;
	}
}

#endif
