/*
 * file.h -- the few durable-file steps every on-disk format here needs.
 *
 * A file is durable when its bytes were fsynced AND the directory entry
 * naming it was: creating, renaming or unlinking a file is only safe
 * after a crash once its directory has been fsynced too.  These helpers
 * keep that sequence in one place.  No state; thread-safe.
 */
#ifndef KVD_FILE_H
#define KVD_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* fdatasync where it exists (Linux), fsync elsewhere.  0 or -1. */
int	file_sync(int fd);

/*
 * fsyncs directory dir, so that creates, renames and unlinks in it last.
 * Systems that cannot sync a directory (EINVAL, EBADF) count as done.
 * 0, or -1 with errno.
 */
int	file_sync_dir(const char *dir);

/*
 * Where a sequence of file operations failed: the step ("create",
 * "write", "rename", ...) and the path it failed on, for the one log line
 * that says so.  Filled by the call that fails (file_failed), left alone
 * on success.
 */
struct file_failure {
	const char	*step;	/* a literal */
	char		 path[4096];
};

/* Fills ff (NULL: nothing) with step and path; errno is kept. */
void	file_failed(struct file_failure *ff, const char *step, const char *path);

/*
 * True for the errors of a write that found no room (ENOSPC, EDQUOT): a
 * full disk, which space freed later mends, unlike the others.
 */
bool	file_no_space(int err);

/*
 * Whether a new file can be made in directory dir: creates dir/FILE_PROBE
 * and removes it again.  For start-up, so that a directory kvd must
 * create files in later (a WAL segment, a snapshot's tmp) fails the start
 * and not the first rotation hours on.  A full disk (ENOSPC, EDQUOT) is
 * no such fault: kvd starts on one, serves reads and resumes writes once
 * space is freed.  0, or -1 with errno.
 */
#define FILE_PROBE	".kvd-write-check"
int	file_dir_writable(const char *dir);

/* Writes all n bytes of p to fd, retrying on EINTR.  0, or -1 with errno. */
int	file_write_all(int fd, const void *p, size_t n);

/*
 * Replaces path with p[0..n) so that a crash leaves the old or the new
 * contents, never a mix: path.tmp is written and fsynced, renamed over
 * path, and path's directory fsynced.  0, or -1 with errno and, when
 * what is not NULL, *what naming the step that failed; a failure before
 * the rename leaves path as it was and removes path.tmp.
 */
int	file_replace(const char *path, const void *p, size_t n,
	    const char **what);

/*
 * Appends the whole of the small file at path to out.  0, or -1 with
 * errno (ENOENT when there is none; out may then hold part of it).
 */
int	file_read(const char *path, struct buf *out);

/*
 * Removes path and everything below it (not following symbolic links).
 * Best effort: what cannot be removed stays.  For directories this
 * program created itself (a failed start, a test's temporary tree).
 */
void	file_remove_tree(const char *path);

#endif
