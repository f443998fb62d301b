/*
 * buf.h -- the one growable byte buffer every module writes output into.
 *
 * After buf_init() a buffer is never NULL: data always points at len bytes
 * followed by a NUL, so it can be handed to printf-style code directly.
 * Allocation failure is fatal (logged, then abort()): like git's strbuf, a
 * server that cannot grow a small buffer cannot do anything useful, and
 * checking every append would hide the logic of every caller.
 * A buf is owned by one thread at a time; it has no lock.
 * buf_reserve grows the other kind of array, of any element type, the
 * same way.
 */
#ifndef KVD_BUF_H
#define KVD_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char	*data;	/* len bytes, then a NUL; never NULL after buf_init */
	size_t	 len;
	size_t	 cap;	/* 0 while data points at the shared empty string */
};

#define BUF_INIT { (char *)buf_empty, 0, 0 }
extern const char buf_empty[1];

void	buf_init(struct buf *b);
/* Makes room for at least extra more bytes (plus the NUL). */
void	buf_grow(struct buf *b, size_t extra);
static inline void buf_append(struct buf *b, const void *p, size_t n);
static inline void buf_puts(struct buf *b, const char *s);
static inline void buf_putc(struct buf *b, char c);
void	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends v in decimal (a fast path for the hot paths; no printf). */
void	buf_put_u64(struct buf *b, uint64_t v);
void	buf_put_i64(struct buf *b, int64_t v);
/* Drops the first n bytes, moving the rest to the front. */
void	buf_consume(struct buf *b, size_t n);
/* Empties the buffer but keeps its memory. */
void	buf_reset(struct buf *b);
/* Hands the memory to the caller (who free()s it) and re-inits b. */
char	*buf_detach(struct buf *b, size_t *len);
void	buf_free(struct buf *b);	/* leaves b initialised and empty */

/*
 * Makes room for n elements of size bytes each in the array that arrp
 * points to (a T **), whose capacity is *cap elements: the capacity
 * doubles, starting from first.  0, or -1 with errno ENOMEM, the array
 * and *cap untouched.  Unlike the byte buffer it fails softly: the arrays
 * it grows sit on paths that answer "out of memory" themselves.
 */
int	buf_reserve(void *arrp, size_t *cap, size_t n, size_t size,
	    size_t first);

/*
 * The three appends are inline: every byte of every answer and record
 * goes through them, and a call apiece cost more than most copies (a
 * literal's strlen folds away too).  Only a full buffer calls out.
 */
static inline void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->cap == 0 || n >= b->cap - b->len)
		buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static inline void
buf_putc(struct buf *b, char c)
{
	if (b->cap == 0 || b->cap - b->len < 2)
		buf_grow(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

#endif
