/* test_buf.c -- the growable buffer. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

int
main(void)
{
	struct buf b = BUF_INIT;
	char *p;
	size_t n, i;

	ok(b.data != NULL && b.len == 0 && b.data[0] == '\0', "init: empty, not NULL");
	buf_puts(&b, "hello");
	ok(b.len == 5 && strcmp(b.data, "hello") == 0, "puts");
	buf_printf(&b, " %d %s", 42, "x");
	ok(strcmp(b.data, "hello 42 x") == 0, "printf appends");
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%04zu", i);
	ok(b.len == 10 + 4000 && memcmp(b.data + 10, "0000", 4) == 0 &&
	    memcmp(b.data + b.len - 4, "0999", 4) == 0, "printf grows across many calls");
	buf_consume(&b, 10);
	ok(b.len == 4000 && memcmp(b.data, "0000", 4) == 0, "consume moves the rest");
	buf_append(&b, "\0z", 2);
	ok(b.len == 4002 && b.data[4000] == '\0' && b.data[4001] == 'z' &&
	    b.data[4002] == '\0', "binary append keeps a NUL terminator");
	p = buf_detach(&b, &n);
	ok(n == 4002 && b.len == 0 && b.data[0] == '\0', "detach hands over memory");
	free(p);
	buf_reset(&b);
	ok(b.len == 0, "reset of an empty buffer");
	p = buf_detach(&b, &n);
	ok(p != NULL && n == 0 && p[0] == '\0', "detach of an empty buffer");
	free(p);
	buf_putc(&b, 'a');
	buf_consume(&b, 5);
	ok(b.len == 0 && b.data[0] == '\0', "consume past the end empties");
	buf_free(&b);
	buf_free(&b);
	ok(b.len == 0, "double free is safe");
	return tap_done();
}
