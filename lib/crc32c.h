/*
 * crc32c.h -- CRC-32C (Castagnoli), and the crc member that seals a line
 * of JSON: the framing every WAL and snapshot line shares (crc32c.c pins
 * its bytes).  The CPU's CRC instruction where it has one, else tables;
 * no state, no allocation; thread-safe.  It
 * needs nothing but libc, so contrib/bench/benchtool.c links it alone.
 */
#ifndef KVD_CRC32C_H
#define KVD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the member that seals a line: ,"crc":"xxxxxxxx"} */
#define CRC32C_SUFFIX_LEN	18

/* Continues crc over p[0..n); start with crc = 0.  crc32c("123456789") = 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

/* The same, by tables alone: what crc32c does on a CPU without a CRC
 * instruction (crc32c.c); for tests that compare the two. */
uint32_t crc32c_portable(uint32_t crc, const void *p, size_t n);

/* Bytes that end a sealed line: the suffix and its newline. */
#define CRC32C_END_LEN		(CRC32C_SUFFIX_LEN + 1)

/*
 * Writes the CRC32C_END_LEN bytes ,"crc":"xxxxxxxx"}\n (crc in 8
 * lowercase hex digits; no NUL) at out and returns CRC32C_END_LEN: the
 * end of a line whose body, every byte before it, has checksum crc.
 * For writers that checksum a body they hold in pieces.
 */
size_t	crc32c_line_end(char *out, uint32_t crc);

/*
 * Seals the line whose body is line[0..n) (a JSON object left open, no
 * newline): writes crc32c_line_end for the body's checksum at line[n],
 * which needs room for CRC32C_END_LEN more bytes.  Returns the sealed
 * line's length, n + CRC32C_END_LEN.
 */
size_t	crc32c_line_seal(char *line, size_t n);

/*
 * Checks the sealed line p[0..n) (without its newline): 0 with *body =
 * n - CRC32C_SUFFIX_LEN when it ends in the suffix exactly as
 * crc32c_line_end writes it, over a body of at least one byte whose
 * checksum it holds; -1 for anything else.
 */
int	crc32c_line_check(const char *p, size_t n, size_t *body);

#endif
