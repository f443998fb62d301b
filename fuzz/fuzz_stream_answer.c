/*
 * fuzz_stream_answer.c -- libFuzzer harness for how a stream hands a
 * peer's answer to the records of the request that carried them
 * (stream.c's stream_answer_split): each record its own line when the
 * answer has one line per record, else none.
 *
 * The first byte's bits 2-7 are n, the records the request carried (0
 * to 63), bit 1 whether the peer answered 200 (bit 0 reseals crcs, as
 * in every harness: fuzz_sealed_copy); the rest is the answer body, in
 * a buffer of exactly its length, so a line read past it is a
 * sanitizer report.
 *
 * Oracles, beyond "no crash, no sanitizer report, no leak":
 *   - every record is called back exactly once, in order;
 *   - the answer is split exactly when the peer answered 200 and the
 *     body is n lines: n newlines (counted here on their own), the
 *     last its last byte;
 *   - split, record i's line lies inside the body, holds no newline,
 *     starts right after the newline that ends line i - 1 (line 0 at
 *     the body's start) and is itself followed by a newline;
 *   - not split, no record gets a line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "stream.h"

/* What the callbacks saw of one input. */
struct seen {
	const char	*body;
	size_t		 len;
	size_t		 calls;		/* so far; also the next i expected */
	const char	*next;		/* where the next line must start */
	bool		 split;		/* every call so far had a line */
};

static void
each(void *arg, size_t i, bool split, const char *line, size_t len)
{
	struct seen *s = arg;

	CHECK(i == s->calls);
	s->calls++;
	if (i == 0)
		s->split = split;
	CHECK(split == s->split);	/* all split, or none */
	if (!split) {
		CHECK(line == NULL && len == 0);
		return;
	}
	CHECK(line == s->next);
	CHECK(fuzz_inside(line, len + 1, s->body, s->len));
	CHECK(memchr(line, '\n', len) == NULL && line[len] == '\n');
	s->next = line + len + 1;
}

/* The newlines in p[0..n), counted apart from stream.c. */
static size_t
newlines(const char *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s;
	size_t len, n;
	bool ok;
	char *in;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	n = data[0] >> 2;
	ok = (data[0] & 2) != 0;
	memset(&s, 0, sizeof(s));
	s.body = in;
	s.len = len;
	s.next = in;
	s.split = true;
	stream_answer_split(ok, in, len, n, each, &s);
	CHECK(s.calls == n);
	if (n > 0)
		CHECK(s.split == (ok && newlines(in, len) == n &&
		    in[len - 1] == '\n'));
	free(in);
	return 0;
}
