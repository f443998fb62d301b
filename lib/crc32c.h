/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum of WAL and snapshot
 * records.  Table-driven, no state; thread-safe.
 */
#ifndef KVD_CRC32C_H
#define KVD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over p[0..n); start with crc = 0.  crc32c("123456789") = 0xe3069283. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
