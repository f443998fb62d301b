/*
 * benchtool.c -- small helpers for contrib/bench/run.sh, in C so that the
 * script needs nothing beyond a compiler and a POSIX shell:
 *
 *	benchtool now-ms			monotonic milliseconds
 *	benchtool free-port			a loopback TCP port nobody holds
 *	benchtool wait http|ready|redis PORT T0 SECS PID
 *		polls 127.0.0.1:PORT every 2 ms until GET /health answers 200
 *		(http), GET /ready answers 200 (ready: kvd has built its
 *		key index too) or PING answers +PONG (redis; -LOADING does
 *		not count),
 *		then prints the milliseconds since T0 (a now-ms value taken
 *		before the server was started).  Exit 1 after SECS seconds or
 *		when process PID is gone.
 *	benchtool fsync FILE SECS SIZE		appends SIZE bytes and syncs
 *		(fdatasync where there is one, as kvd's WAL does) in a loop for
 *		SECS seconds; prints syncs per second
 *	benchtool gen snapshot|wal FILE KEYS SIZE ACTOR
 *	benchtool gen resp FILE KEYS SIZE	(Redis SET commands, for
 *						 redis-cli --pipe)
 *
 * THE DATA SET.  Keys are key:000000000000 .. (16 bytes, the names
 * redis-benchmark uses with -r); values are SIZE printable bytes that
 * differ per key.  Every version is written by ACTOR (the node's
 * "<id>.<incarnation>") with clock {ACTOR: i+1}.  The bytes follow the
 * essays in lib/store.c and lib/wal.c: a snapshot is a header line
 * {"kvd_snapshot":1,"seq":0,...}, one line per key {"key":K,"v":V,...}
 * and a trailer {"end":true,"keys":N,...}; a WAL segment (to be named
 * wal-0000000000000001.log) holds one line per record
 * {"seq":i,"rec":{"key":K,"v":V},...}.  Every line is sealed with its
 * crc member by crc32c_line_seal (lib/crc32c.c, THE SEALED LINE), as
 * the WAL and the snapshot writer seal theirs.  A snapshot with seq 0
 * covers no WAL record.  (contrib/bench/run.sh builds this file with
 * lib/crc32c.c alone, which is all it needs.)
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return 1;
	printf("%d\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

/* One probe: 1 when the server answered as ready. */
static int
probe(const char *kind, int port)
{
	struct sockaddr_in sa;
	const char *req, *want;
	char buf[256], get[128];
	size_t got = 0;
	ssize_t n;
	int fd, ok = 0;

	if (strcmp(kind, "redis") == 0) {
		req = "PING\r\n";
		want = "+PONG";
	} else {
		snprintf(get, sizeof(get), "GET /%s HTTP/1.1\r\nHost: "
		    "127.0.0.1\r\nConnection: close\r\n\r\n",
		    strcmp(kind, "ready") == 0 ? "ready" : "health");
		req = get;
		want = "HTTP/1.1 200";
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto done;
	while (got < strlen(want)) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			goto done;
		got += (size_t)n;
	}
	ok = strncmp(buf, want, strlen(want)) == 0;
done:
	close(fd);
	return ok;
}

static int
wait_ready(const char *kind, int port, long long t0, double secs, long pid)
{
	long long end = now_ms() + (long long)(secs * 1000);

	while (now_ms() < end) {
		if (probe(kind, port)) {
			printf("%lld\n", now_ms() - t0);
			return 0;
		}
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			return 1;
		sleep_ms(2);
	}
	return 1;
}

static int
fsync_rate(const char *path, double secs, size_t size)
{
	long long start, end, n = 0;
	char *p;
	int fd;

	if ((p = malloc(size + 1)) == NULL)
		return 1;
	memset(p, 'x', size);
	p[size ? size - 1 : 0] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		free(p);
		return 1;
	}
	start = now_ms();
	end = start + (long long)(secs * 1000);
	while (now_ms() < end) {
		if (write(fd, p, size) != (ssize_t)size)
			break;
#if defined(__linux__) && defined(_POSIX_SYNCHRONIZED_IO) && _POSIX_SYNCHRONIZED_IO > 0
		if (fdatasync(fd) != 0)
			break;
#else
		if (fsync(fd) != 0)
			break;
#endif
		n++;
	}
	printf("%.0f\n", (double)n * 1000.0 / (double)(now_ms() - start));
	close(fd);
	unlink(path);
	free(p);
	return 0;
}

static FILE *out;

/*
 * Seals the line whose body is line[0..n) and writes it out; line has
 * room for the seal (CRC32C_SUFFIX_LEN + 1 more bytes).
 */
static void
emit(char *line, size_t n)
{
	fwrite(line, 1, crc32c_line_seal(line, n), out);
}

static int
gen(const char *mode, const char *path, unsigned long long keys, size_t size,
    const char *actor)
{
	unsigned long long i, ts;
	size_t n, cap, j;
	char *line, *val, key[32];
	int snap = strcmp(mode, "snapshot") == 0, wal = strcmp(mode, "wal") == 0;

	if (!snap && !wal && strcmp(mode, "resp") != 0)
		return 2;
	if ((out = fopen(path, "w")) == NULL) {
		perror(path);
		return 1;
	}
	cap = size + strlen(actor) * 2 + 256 + CRC32C_SUFFIX_LEN + 1;
	line = malloc(cap);
	val = malloc(size + 1);
	if (line == NULL || val == NULL)
		return 1;
	ts = (unsigned long long)time(NULL) * 1000;
	if (snap)
		emit(line, (size_t)snprintf(line, cap, "{\"kvd_snapshot\":1,\"seq\":0"));
	for (i = 0; i < keys; i++) {
		snprintf(key, sizeof(key), "key:%012llu", i);
		for (j = 0; j < size; j++)
			val[j] = (char)('a' + (i + j * 7) % 26);
		val[size] = '\0';
		if (!snap && !wal) {
			fprintf(out, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
			    strlen(key), key, size, val);
			continue;
		}
		if (snap)
			n = (size_t)snprintf(line, cap, "{\"key\":\"%s\",\"v\":", key);
		else
			n = (size_t)snprintf(line, cap,
			    "{\"seq\":%llu,\"rec\":{\"key\":\"%s\",\"v\":", i + 1, key);
		n += (size_t)snprintf(line + n, cap - n,
		    "{\"clock\":{\"%s\":%llu},\"ts\":%llu,\"actor\":\"%s\","
		    "\"tombstone\":false,\"value\":\"%s\"}%s", actor, i + 1,
		    ts, actor, val, wal ? "}" : "");
		emit(line, n);
	}
	if (snap)
		emit(line, (size_t)snprintf(line, cap, "{\"end\":true,\"keys\":%llu",
		    keys));
	free(line);
	free(val);
	if (fclose(out) != 0) {
		perror(path);
		return 1;
	}
	return 0;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: benchtool now-ms | free-port\n"
	    "       benchtool wait http|ready|redis PORT T0_MS SECS PID\n"
	    "       benchtool fsync FILE SECS SIZE\n"
	    "       benchtool gen snapshot|wal|resp FILE KEYS SIZE [ACTOR]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "now-ms") == 0) {
		printf("%lld\n", now_ms());
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "free-port") == 0)
		return free_port();
	if (argc == 7 && strcmp(argv[1], "wait") == 0)
		return wait_ready(argv[2], atoi(argv[3]), atoll(argv[4]),
		    atof(argv[5]), atol(argv[6]));
	if (argc == 5 && strcmp(argv[1], "fsync") == 0)
		return fsync_rate(argv[2], atof(argv[3]),
		    (size_t)strtoul(argv[4], NULL, 10));
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], argv[3], strtoull(argv[4], NULL, 10),
		    (size_t)strtoul(argv[5], NULL, 10), argc == 7 ? argv[6] : "");
	return usage();
}
