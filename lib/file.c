/*
 * file.c -- durable file steps: fsync a file, fsync its directory, and
 * replace a small file atomically (tmp + fsync + rename + dir fsync),
 * and read a small file whole.
 */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
file_sync(int fd)
{
#if defined(__linux__) && defined(_POSIX_SYNCHRONIZED_IO) && \
    _POSIX_SYNCHRONIZED_IO > 0
	return fdatasync(fd);
#else
	return fsync(fd);
#endif
}

int
file_sync_dir(const char *dir)
{
	int fd, rc, e;

	if ((fd = open(dir, O_RDONLY)) == -1)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	if (rc == -1 && (e == EINVAL || e == EBADF))
		rc = 0;		/* some systems cannot sync a directory */
	errno = e;
	return rc;
}

int
file_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
file_replace(const char *path, const void *p, size_t n, const char **what)
{
	char tmp[PATH_MAX + 8], dir[PATH_MAX];
	const char *step = "create", *slash;
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto fail_nofd;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		goto fail_nofd;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	step = "write";
	if (file_write_all(fd, p, n) == -1)
		goto fail;
	step = "fsync";
	if (file_sync(fd) == -1)
		goto fail;
	step = "close";
	if (close(fd) == -1)
		goto fail_unlink;
	step = "rename";
	if (rename(tmp, path) == -1)
		goto fail_unlink;
	step = "fsync directory";
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 :
		    slash - path), path);
	if (file_sync_dir(dir) == -1)
		goto fail_nofd;
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
fail_unlink:
	/* path is as it was: the tmp file is nobody's now. */
	e = errno;
	(void)unlink(tmp);
	errno = e;
fail_nofd:
	if (what != NULL)
		*what = step;
	return -1;
}

void
file_failed(struct file_failure *ff, const char *step, const char *path)
{
	if (ff == NULL)
		return;
	ff->step = step;
	snprintf(ff->path, sizeof(ff->path), "%s", path);
}

bool
file_no_space(int err)
{
#ifdef EDQUOT
	if (err == EDQUOT)
		return true;
#endif
	return err == ENOSPC;
}

int
file_dir_writable(const char *dir)
{
	char path[PATH_MAX + 32];
	int fd;

	if (snprintf(path, sizeof(path), "%s/" FILE_PROBE, dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return file_no_space(errno) ? 0 : -1;
	close(fd);
	return unlink(path);
}

int
file_read(const char *path, struct buf *out)
{
	char chunk[4096];
	ssize_t r;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		buf_append(out, chunk, (size_t)r);
	}
	e = errno;
	close(fd);
	errno = e;
	return r == 0 ? 0 : -1;
}

void
file_remove_tree(const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (snprintf(sub, sizeof(sub), "%s/%s", path,
			    de->d_name) < (int)sizeof(sub))
				file_remove_tree(sub);
		}
		closedir(d);
	}
	rmdir(path);
}
