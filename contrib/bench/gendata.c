/*
 * gendata.c -- writes a kvd data set directly in kvd's on-disk format, so
 * contrib/bench/run.sh can time a restart with a million keys without
 * first loading them through the API.
 *
 *	gendata snapshot FILE KEYS VALUE_SIZE ACTOR
 *	gendata wal      FILE KEYS VALUE_SIZE ACTOR
 *	gendata resp     FILE KEYS VALUE_SIZE	(Redis SET commands, for
 *						 redis-cli --pipe)
 *
 * Keys are key:000000000000 .. (16 bytes, the names redis-benchmark uses
 * with -r); values are VALUE_SIZE printable bytes that differ per key.
 * Every version is written by ACTOR (the node's "<id>.<incarnation>")
 * with clock {ACTOR: i+1}.
 *
 * The bytes follow the essays in lib/store.c and lib/wal.c: a snapshot is
 * a header line {"kvd_snapshot":1,"seq":0,...}, one line per key
 * {"key":K,"v":V,...} and a trailer {"end":true,"keys":N,...}; a WAL
 * segment (to be named wal-0000000000000001.log) is one line per record
 * {"seq":i,"rec":{"key":K,"v":V},...}.  Every line ends in
 * ,"crc":"xxxxxxxx"} where the crc is CRC-32C over the bytes before
 * ,"crc":.  A snapshot with seq 0 covers no WAL record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"

static FILE *out;

/* Writes line[0..n) followed by its crc member and a newline. */
static void
emit(const char *line, size_t n)
{
	fwrite(line, 1, n, out);
	fprintf(out, ",\"crc\":\"%08x\"}\n", (unsigned)crc32c(0, line, n));
}

static void
make_value(char *v, size_t size, unsigned long long i)
{
	size_t j;

	for (j = 0; j < size; j++)
		v[j] = (char)('a' + (i + j * 7) % 26);
	v[size] = '\0';
}

int
main(int argc, char **argv)
{
	unsigned long long i, keys, ts;
	size_t size, n, cap;
	char *line, *val, key[32];
	const char *mode, *actor = "";

	if (argc < 5 || (strcmp(argv[1], "resp") != 0 && argc < 6)) {
		fprintf(stderr, "usage: gendata snapshot|wal|resp FILE KEYS "
		    "VALUE_SIZE [ACTOR]\n");
		return 2;
	}
	mode = argv[1];
	keys = strtoull(argv[3], NULL, 10);
	size = (size_t)strtoul(argv[4], NULL, 10);
	if (argc > 5)
		actor = argv[5];
	if ((out = fopen(argv[2], "w")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	cap = size + strlen(actor) * 2 + 256;
	line = malloc(cap);
	val = malloc(size + 1);
	if (line == NULL || val == NULL)
		return 1;
	ts = (unsigned long long)time(NULL) * 1000;
	if (strcmp(mode, "snapshot") == 0) {
		n = (size_t)snprintf(line, cap, "{\"kvd_snapshot\":1,\"seq\":0");
		emit(line, n);
	}
	for (i = 0; i < keys; i++) {
		snprintf(key, sizeof(key), "key:%012llu", i);
		make_value(val, size, i);
		if (strcmp(mode, "resp") == 0) {
			fprintf(out, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
			    strlen(key), key, size, val);
			continue;
		}
		if (strcmp(mode, "snapshot") == 0)
			n = (size_t)snprintf(line, cap, "{\"key\":\"%s\",\"v\":", key);
		else
			n = (size_t)snprintf(line, cap,
			    "{\"seq\":%llu,\"rec\":{\"key\":\"%s\",\"v\":", i + 1, key);
		n += (size_t)snprintf(line + n, cap - n,
		    "{\"clock\":{\"%s\":%llu},\"ts\":%llu,\"actor\":\"%s\","
		    "\"tombstone\":false,\"value\":\"%s\"}%s", actor, i + 1,
		    ts, actor, val, strcmp(mode, "wal") == 0 ? "}" : "");
		emit(line, n);
	}
	if (strcmp(mode, "snapshot") == 0) {
		n = (size_t)snprintf(line, cap, "{\"end\":true,\"keys\":%llu", keys);
		emit(line, n);
	}
	free(line);
	free(val);
	if (fclose(out) != 0) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
