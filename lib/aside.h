/*
 * aside.h -- records a peer refused for good, set aside where an operator
 * can see them: DIR/refused.jsonl, one JSON line per record (the format
 * is pinned in aside.c).
 *
 * A record that a peer answers 400 or 413 when it is sent alone will
 * never be taken as it is (lib/push.h reports it).  Its sender -- hinted
 * handoff, anti-entropy, a transfer -- sets it aside here and goes on
 * with the next record, so one bad record never blocks the others.
 * aside_add returns once the line is on disk (fsync), so the caller may
 * then drop its own copy: a hint leaves the hint log only after its copy
 * here is durable.  Every record set aside is logged (a warning with
 * "set aside", the path, peer, status and key) and counted per path.
 *
 * Bound: the file takes full copies of records until it holds max_bytes;
 * past that a line keeps only who refused what ("record":null), so a
 * peer that refuses everything cannot fill the disk.  A record already
 * copied in this run (same path, peer and bytes: anti-entropy offers the
 * same record every round until the replicas agree) is counted and
 * logged again but not copied again.  To empty the file, move or delete
 * it; the next record starts a new one.
 *
 * Ownership: aside_add copies what it keeps; nothing here points into
 * the caller's memory after a call.  Thread-safe: one mutex serialises
 * appends (held across this module's own fsync, never across another
 * module's call or the network).
 */
#ifndef KVD_ASIDE_H
#define KVD_ASIDE_H

#include <stddef.h>
#include <stdint.h>

#define ASIDE_FILE		"refused.jsonl"
#define ASIDE_MAX_BYTES_DEFAULT	(64u << 20)

/* Who set a record aside; aside_path_name gives the name in the file. */
enum aside_path { ASIDE_HINT, ASIDE_ANTI_ENTROPY, ASIDE_TRANSFER, ASIDE_NPATHS };

struct aside_stats {
	uint64_t	set_aside[ASIDE_NPATHS];	/* since start, per path */
	uint64_t	total;		/* the sum of set_aside */
	uint64_t	repeated;	/* of them, already copied in this run */
	uint64_t	omitted;	/* of them, written without the record: file full */
	uint64_t	failed;		/* aside_add calls that failed (disk) */
	uint64_t	file_lines;	/* lines in the file now (counted at open) */
	uint64_t	file_bytes;	/* its size after the last append */
};

struct aside;

/*
 * Opens dir/refused.jsonl for appending (created on first use) and
 * counts the lines it already holds.  max_bytes 0 means
 * ASIDE_MAX_BYTES_DEFAULT.  0, or -1 with a message in err.
 */
int	aside_open(struct aside **out, const char *dir, size_t max_bytes,
	    char *err, size_t errlen);
void	aside_close(struct aside *a);	/* NULL ok */

/*
 * Sets aside rec[0..len), one record as it was sent (a {"key":..,"v":..}
 * object, perhaps with extra members such as a hint's "at"), that peer
 * refused with status.  Returns 0 once the line is durable (or an
 * identical one from this run already was), or -1 with errno (EIO,
 * ENOSPC, ...) when it could not be written: the caller must keep its
 * copy.  a NULL: logged and counted nowhere, returns 0.
 */
int	aside_add(struct aside *a, enum aside_path path, const char *peer,
	    int status, const char *rec, size_t len);

/* Counters and file size (zeroes for a NULL a). */
void	aside_stats(struct aside *a, struct aside_stats *st);

/* "hint", "anti-entropy", "transfer"; "?" out of range. */
const char *aside_path_name(enum aside_path path);

/* The file's path (for messages); valid until aside_close. */
const char *aside_file(struct aside *a);

#endif
