/*
 * buf.c -- growable byte buffer.
 *
 * The capacity doubles so appends are amortised O(1); a buffer that has
 * never grown points at a shared read-only empty string, so an idle
 * connection or an empty reply costs no allocation.
 */
#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char buf_empty[1] = "";

void
buf_init(struct buf *b)
{
	b->data = (char *)buf_empty;
	b->len = 0;
	b->cap = 0;
}

void
buf_grow(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > (size_t)-1 / 2 - b->len)
		log_fatal("out of memory", "bytes", (long long)extra);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	p = realloc(b->cap ? b->data : NULL, cap);
	if (p == NULL)
		log_fatal("out of memory", "bytes", (long long)cap);
	if (b->cap == 0)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(b->cap ? b->data + b->len : NULL,
	    b->cap ? b->cap - b->len : 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if (b->cap == 0 || (size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
buf_put_u64(struct buf *b, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	buf_append(b, tmp + sizeof(tmp) - n, n);
}

void
buf_put_i64(struct buf *b, int64_t v)
{
	if (v < 0) {
		buf_putc(b, '-');
		buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else
		buf_put_u64(b, (uint64_t)v);
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char *p;

	if (b->cap == 0) {
		p = malloc(1);
		if (p == NULL)
			log_fatal("out of memory", "bytes", 1);
		p[0] = '\0';
	} else
		p = b->data;
	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}

void
buf_free(struct buf *b)
{
	if (b->cap)
		free(b->data);
	buf_init(b);
}

int
buf_reserve(void *arrp, size_t *cap, size_t n, size_t size, size_t first)
{
	void *p, *np;
	size_t ncap;

	if (n <= *cap)
		return 0;
	ncap = *cap ? *cap : first ? first : 1;
	while (ncap < n && ncap <= SIZE_MAX / 2)
		ncap *= 2;
	if (ncap < n || ncap > SIZE_MAX / size)
		goto nomem;
	/* arrp is a T **: its pointer is read and written as bytes. */
	memcpy(&p, arrp, sizeof(p));
	if ((np = realloc(p, ncap * size)) == NULL)
		goto nomem;
	memcpy(arrp, &np, sizeof(np));
	*cap = ncap;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}
