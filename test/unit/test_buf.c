/* test_buf.c -- the growable buffer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

/* buf_reserve: growth by doubling from first, contents kept, refusal. */
static void
test_reserve(void)
{
	uint64_t *a = NULL, *keep;
	size_t cap = 0, i;
	int bad = 0;

	ok(buf_reserve(&a, &cap, 0, sizeof(*a), 8) == 0 && a == NULL &&
	    cap == 0, "reserve 0: nothing allocated");
	ok(buf_reserve(&a, &cap, 1, sizeof(*a), 8) == 0 && a != NULL &&
	    cap == 8, "reserve 1: first capacity 8");
	for (i = 0; i < 8; i++)
		a[i] = i * 3;
	ok(buf_reserve(&a, &cap, 8, sizeof(*a), 8) == 0 && cap == 8,
	    "reserve within the capacity: unchanged");
	ok(buf_reserve(&a, &cap, 9, sizeof(*a), 8) == 0 && cap == 16,
	    "reserve 9: doubled to 16");
	ok(buf_reserve(&a, &cap, 100, sizeof(*a), 8) == 0 && cap == 128,
	    "reserve 100: doubled to 128");
	for (i = 0; i < 8; i++)
		bad += a[i] != i * 3;
	ok(bad == 0, "growth keeps the elements");
	keep = a;
	errno = 0;
	ok(buf_reserve(&a, &cap, SIZE_MAX / 4, sizeof(*a), 8) == -1 &&
	    errno == ENOMEM && a == keep && cap == 128,
	    "an impossible size: -1 ENOMEM, array and capacity untouched");
	free(a);
}

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
	test_reserve();
	return tap_done();
}
