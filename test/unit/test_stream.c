/*
 * test_stream.c -- tests of lib/stream.c's answer split
 * (stream_answer_split), without a network: a table of answer bodies
 * for requests of n records, each checked for whether it is split into
 * one line per record, and for the lines each record gets.  Each body
 * is copied into a buffer of exactly its length, so a line read past it
 * shows under ASan.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "tap.h"

/* What the callbacks got: "a|b|c" for three lines, "-" per record without. */
struct got {
	size_t		 calls;
	bool		 in_order;
	char		 text[256];
};

static void
collect(void *arg, size_t i, bool split, const char *line, size_t len)
{
	struct got *g = arg;
	size_t used = strlen(g->text);

	g->in_order = g->in_order && i == g->calls;
	g->calls++;
	snprintf(g->text + used, sizeof(g->text) - used, "%s%.*s",
	    i > 0 ? "|" : "", split ? (int)len : 1, split ? line : "-");
}

/* s with each newline written as \\n, for a test's name. */
static const char *
shown(const char *s, char *out, size_t n)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < n; s++) {
		if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

int
main(void)
{
	static const struct {
		const char	*body;
		size_t		 n;
		bool		 ok;
		const char	*want;	/* collect's text */
	} cases[] = {
		{ "a\n", 1, true, "a" },
		{ "a\nb\n", 2, true, "a|b" },
		{ "{\"ok\":true}\n{\"ok\":false,\"beat\":5}\n", 2, true,
		    "{\"ok\":true}|{\"ok\":false,\"beat\":5}" },
		{ "\n\n", 2, true, "|" },		/* two empty lines */
		{ "a\nb\n", 2, false, "-|-" },		/* not a 200 */
		{ "a\nb", 2, true, "-|-" },		/* the last not ended */
		{ "a", 1, true, "-" },
		{ "", 1, true, "-" },
		{ "a\nb\nc\n", 2, true, "-|-" },	/* more lines */
		{ "a\nb\nc", 2, true, "-|-" },	/* more, the last not ended */
		{ "a\nb\n ", 2, true, "-|-" },
		{ "a\n", 2, true, "-|-" },		/* fewer */
		{ "a\nb\n", 0, true, "" },		/* no record: no call */
	};
	struct got g;
	char *body, name[128];
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].body);
		body = malloc(len ? len : 1);
		if (body == NULL)
			return 1;
		memcpy(body, cases[i].body, len);
		memset(&g, 0, sizeof(g));
		g.in_order = true;
		stream_answer_split(cases[i].ok, body, len, cases[i].n, collect,
		    &g);
		ok(g.calls == cases[i].n && g.in_order &&
		    strcmp(g.text, cases[i].want) == 0, "answer \"%s\" to %zu "
		    "records%s: %s (got %s)", shown(cases[i].body, name,
		    sizeof(name)), cases[i].n,
		    cases[i].ok ? "" : " (not 200)", cases[i].want, g.text);
		free(body);
	}
	return tap_done();
}
