/*
 * kvctl -- the kvd command-line client.
 *
 * kvctl speaks HTTP/1.1 over a raw socket through lib/client and
 * lib/http; it needs no curl.  Each command is one request (or one per
 * server tried): the servers of --server are tried in turn until one
 * answers at all; an HTTP error from a server that answered is final.
 *
 * Output contract (SPEC section 7): `get` writes the value's exact bytes
 * to stdout, adding a newline only when stdout is a terminal; `put` and
 * `delete` print nothing on success; `--json` prints the server's JSON;
 * messages go to stderr.  Exit codes: 0 ok, 1 not found, 2 usage, 3 no
 * server reachable or timed out, 4 other client error (e.g. 412), 5
 * server error or quorum failure.
 *
 * Start reading at main().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/bench.h"
#include "lib/buf.h"
#include "lib/client.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/net.h"
#include "lib/verify.h"

#ifndef KVD_VERSION
#define KVD_VERSION	"unknown"	/* the Makefile passes it */
#endif

enum {
	EXIT_OK = 0, EXIT_NOTFOUND = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3,
	EXIT_CLIENT = 4, EXIT_SERVER = 5
};

struct opts {
	const char	*servers;	/* comma-separated URLs */
	bool		 json;
	bool		 quiet;		/* -q: no messages on stderr */
	bool		 verbose;	/* -v: trace requests and responses */
	int		 timeout_ms;
	int		 connect_timeout_ms;
	int		 retries;	/* --retry: extra attempts on 503/transport errors */
};

/* Every command, with its usage line and what it does (kvctl help CMD). */
static const struct {
	const char	*name;
	const char	*usage;
	const char	*help;
} commands[] = {
	{ "put", "kvctl put KEY VALUE|-|@FILE",
	  "Stores VALUE under KEY (- reads stdin, @FILE a file; the bytes are\n"
	  "sent as they are). Silent on success; --json prints the answer." },
	{ "get", "kvctl get KEY",
	  "Writes the value's exact bytes to stdout (a newline is added only on\n"
	  "a terminal). --json prints {\"key\",\"value\"} instead. Exit 1 when\n"
	  "the key does not exist." },
	{ "delete", "kvctl delete KEY",
	  "Deletes KEY (a tombstone, replicated like a write). Exit 1 when there\n"
	  "was nothing to delete." },
	{ "health", "kvctl health", "Checks that the server answers /health." },
	{ "cluster", "kvctl cluster nodes | join ID HOST:PORT | leave ID | cleanup",
	  "nodes lists the members, their state as the server sees it, N/W/R,\n"
	  "hints and transfer progress; join adds a member; leave removes one;\n"
	  "cleanup makes every member drop the keys it no longer owns, once\n"
	  "their owners hold them, and waits until all are done." },
	{ "verify", "kvctl verify [-c N] [-d SECONDS] [--mode keys|set] ...",
	  "Runs concurrent writers for a while, then reads every acknowledged\n"
	  "write back and reports acknowledged / present / lost / stale. Exit 1\n"
	  "on any loss. 'kvctl verify --help' lists its options." },
	{ "bench", "kvctl bench [-c N] [-n N | -d SECONDS] [-t get|put|delete|mix] ...",
	  "A load generator: throughput and latency percentiles. 'kvctl bench\n"
	  "--help' lists its options." },
	{ "help", "kvctl help [COMMAND]", "Shows help for a command." },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: kvctl [flags] COMMAND [ARGS]\n\n"
	    "Commands:\n"
	    "  put KEY VALUE|-|@FILE   store a value (- reads stdin, @FILE a file)\n"
	    "  get KEY                 print the value's exact bytes\n"
	    "  delete KEY              delete a key\n"
	    "  health                  check that the server is up\n"
	    "  cluster nodes           list the members and their state\n"
	    "  cluster join ID ADDR    add a member (ADDR is HOST:PORT)\n"
	    "  cluster leave ID        remove a member\n"
	    "  cluster cleanup         drop data members no longer own\n"
	    "  verify [OPTIONS]        check that no acknowledged write is lost\n"
	    "  bench [OPTIONS]         measure throughput and latency\n"
	    "  help [COMMAND]          help for one command\n\n"
	    "Flags (anywhere on the line; -- ends them):\n"
	    "  --server URL[,URL...]   servers to try in turn (KVCTL_SERVER,\n"
	    "                          default http://127.0.0.1:8080)\n"
	    "  --json                  print the server's JSON (KVCTL_JSON=1)\n"
	    "  --timeout SECONDS       whole request deadline, default 10\n"
	    "                          (KVCTL_TIMEOUT)\n"
	    "  --connect-timeout SECONDS  connect deadline, default 3\n"
	    "                          (KVCTL_CONNECT_TIMEOUT)\n"
	    "  --retry N               retry N times on connection errors,\n"
	    "                          timeouts and 503 (KVCTL_RETRY, default 0)\n"
	    "  -q, --quiet             no messages on stderr (KVCTL_QUIET=1)\n"
	    "  -v, --verbose           trace requests and responses on stderr\n"
	    "                          (KVCTL_VERBOSE=1)\n"
	    "  --help, --version\n\n"
	    "Exit status: 0 ok, 1 not found, 2 usage, 3 no server reachable or\n"
	    "timed out, 4 other client error (e.g. 412), 5 server error or\n"
	    "quorum failure.\n");
}

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kvctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nkvctl: try 'kvctl --help'\n");
	return EXIT_USAGE;
}


/* Reads the message of a JSON error body, or falls back to the reason. */
static void
error_message(const struct client_response *res, struct buf *out)
{
	struct json_tok toks[32];
	int n, i;

	n = json_parse(res->body.data, res->body.len, toks, 32,
	    JSON_DEPTH_DEFAULT, NULL);
	if (n > 0 && toks[0].type == JSON_OBJECT &&
	    (i = json_object_get(res->body.data, toks, 0, "error")) >= 0 &&
	    toks[i].type == JSON_STRING) {
		json_string_decode(res->body.data, &toks[i], out);
		return;
	}
	buf_append(out, res->http.reason, res->http.reason_len);
}

static int
exit_for_status(int status)
{
	if (status >= 200 && status < 300)
		return EXIT_OK;
	if (status == 404)
		return EXIT_NOTFOUND;
	if (status >= 400 && status < 500)
		return EXIT_CLIENT;
	return EXIT_SERVER;
}

/* -v: the request line and headers we send, the response head we get. */
static void
trace_request(const char *host, const char *port, const char *method,
    const char *target, const char *ctype, size_t blen, const char *extra)
{
	fprintf(stderr, "> %s %s HTTP/1.1\n> Host: %s:%s\n", method, target,
	    host, port);
	if (ctype != NULL)
		fprintf(stderr, "> Content-Type: %s\n", ctype);
	if (ctype != NULL || strcmp(method, "PUT") == 0 ||
	    strcmp(method, "POST") == 0)
		fprintf(stderr, "> Content-Length: %zu\n", blen);
	if (extra != NULL)
		fprintf(stderr, "> %.*s\n", (int)strcspn(extra, "\r"), extra);
}

static void
trace_response(const struct client_response *res)
{
	const char *p = res->head.data, *end = p + res->head.len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl - p > 1)
			fprintf(stderr, "< %.*s\n", (int)(nl - p - 1), p);
		p = nl + 1;
	}
	fprintf(stderr, "< (%zu body bytes)\n", res->body.len);
}

/*
 * Sends the request to each server in turn until one answers; with
 * --retry, a round in which no server answered, or one that ended in a
 * 503, is repeated after a growing pause.  Returns 0 with res filled, or
 * EXIT_USAGE / EXIT_UNREACHABLE after a message.
 */
static int
request(const struct opts *o, const char *method, const char *target,
    const char *ctype, const void *body, size_t blen, const char *extra,
    struct client_response *res)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	const char *p, *comma;
	struct client_conn c;
	size_t len;
	int attempt, saved = 0, pause_ms = 100;

	for (attempt = 0; attempt <= o->retries; attempt++) {
		if (attempt > 0) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: retrying in %d ms\n",
				    pause_ms);
			poll(NULL, 0, pause_ms);
			pause_ms = pause_ms < 3200 ? pause_ms * 2 : pause_ms;
		}
		for (p = o->servers; *p; p += *p == ',' ? 1 : 0) {
			comma = strchr(p, ',');
			len = comma ? (size_t)(comma - p) : strlen(p);
			if (client_parse_url(p, len, host, sizeof(host), port,
			    sizeof(port)) != 0) {
				if (!o->quiet)
					fprintf(stderr, "kvctl: bad server URL '%.*s' "
					    "(want http://HOST:PORT)\n", (int)len, p);
				return EXIT_USAGE;
			}
			if (o->verbose)
				trace_request(host, port, method, target, ctype,
				    blen, extra);
			client_init(&c, host, port, o->connect_timeout_ms);
			if (client_do(&c, method, target, ctype, body, blen,
			    extra, o->timeout_ms, res) == 0) {
				client_close(&c);
				if (o->verbose)
					trace_response(res);
				if (res->http.status != 503 ||
				    attempt == o->retries)
					return 0;
				saved = 0;
				break;	/* a 503: retry the round */
			}
			saved = errno;
			client_close(&c);
			if (!o->quiet)
				fprintf(stderr, "kvctl: %.*s: %s\n", (int)len, p,
				    saved == ETIMEDOUT ? "timed out" :
				    strerror(saved));
			p += len;
		}
	}
	if (!o->quiet)
		fprintf(stderr, "kvctl: no server reachable\n");
	return EXIT_UNREACHABLE;
}

/* Prints the error of a non-2xx response and returns the exit code. */
static int
report(const struct opts *o, const struct client_response *res, const char *what)
{
	struct buf msg = BUF_INIT;
	int code = exit_for_status(res->http.status);

	if (o->json && res->body.len)
		fwrite(res->body.data, 1, res->body.len, stdout);
	if (code != EXIT_OK && !o->quiet) {
		error_message(res, &msg);
		fprintf(stderr, "kvctl: %s: %d %s\n", what, res->http.status,
		    msg.data);
	}
	buf_free(&msg);
	return code;
}

static void
key_target(const char *key, struct buf *out)
{
	buf_puts(out, "/kv/");
	http_percent_encode(key, strlen(key), out);
}

/* Reads all of fd into out.  0 or -1. */
static int
read_all(int fd, struct buf *out)
{
	ssize_t n;

	for (;;) {
		buf_grow(out, 65536);
		n = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		out->len += (size_t)n;
		out->data[out->len] = '\0';
	}
}

static int
cmd_put(const struct opts *o, const char *key, const char *arg)
{
	struct client_response res;
	struct buf target = BUF_INIT, value = BUF_INIT;
	int fd, rc;

	if (strcmp(arg, "-") == 0) {
		if (read_all(STDIN_FILENO, &value) != 0) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: reading stdin: %s\n",
				    strerror(errno));
			return EXIT_USAGE;
		}
	} else if (arg[0] == '@') {
		fd = open(arg + 1, O_RDONLY);
		if (fd < 0 || read_all(fd, &value) != 0) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: %s: %s\n", arg + 1,
				    strerror(errno));
			if (fd >= 0)
				close(fd);
			buf_free(&value);
			return EXIT_USAGE;
		}
		close(fd);
	} else
		buf_puts(&value, arg);
	key_target(key, &target);
	client_response_init(&res);
	rc = request(o, "PUT", target.data, "application/octet-stream",
	    value.data, value.len, NULL, &res);
	if (rc == 0)
		rc = report(o, &res, "put");
	client_response_free(&res);
	buf_free(&target);
	buf_free(&value);
	return rc;
}

static int
cmd_get(const struct opts *o, const char *key)
{
	struct client_response res;
	struct buf target = BUF_INIT;
	int rc;

	key_target(key, &target);
	client_response_init(&res);
	rc = request(o, "GET", target.data, NULL, NULL, 0,
	    o->json ? NULL : "Accept: application/octet-stream\r\n", &res);
	if (rc == 0 && res.http.status == 200) {
		fwrite(res.body.data, 1, res.body.len, stdout);
		if (isatty(STDOUT_FILENO) && !o->json)
			putchar('\n');
		rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_CLIENT;
	} else if (rc == 0) {
		rc = report(o, &res, "get");
	}
	client_response_free(&res);
	buf_free(&target);
	return rc;
}

static int
cmd_simple(const struct opts *o, const char *method, const char *target,
    const char *body, const char *what, bool print_body)
{
	struct client_response res;
	int rc;

	client_response_init(&res);
	rc = request(o, method, target, body ? "application/json" : NULL, body,
	    body ? strlen(body) : 0, NULL, &res);
	if (rc == 0) {
		if (print_body && !o->json && res.http.status / 100 == 2)
			fwrite(res.body.data, 1, res.body.len, stdout);
		rc = report(o, &res, what);
	}
	client_response_free(&res);
	return rc;
}

static int
cmd_delete(const struct opts *o, const char *key)
{
	struct buf target = BUF_INIT;
	int rc;

	key_target(key, &target);
	rc = cmd_simple(o, "DELETE", target.data, NULL, "delete", false);
	buf_free(&target);
	return rc;
}

/* The index of member name in object obj of a parsed body, or -1. */
static int
member(const struct client_response *res, const struct json_tok *toks,
    int obj, const char *name)
{
	return obj < 0 ? -1 : json_object_get(res->body.data, toks, obj, name);
}

/*
 * One request to a member at its advertised address ("host:port"),
 * without failover.  0 with res filled, or -1 after a message.
 */
static int
request_member(const struct opts *o, const char *id, const char *address,
    const char *method, const char *target, struct client_response *res)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	struct client_conn c;
	int rc;

	if (net_split_hostport(address, host, sizeof(host), port,
	    sizeof(port)) != 0) {
		fprintf(stderr, "kvctl: %s: bad address %s\n", id, address);
		return -1;
	}
	client_init(&c, host, port, o->connect_timeout_ms);
	rc = client_do(&c, method, target, NULL, NULL, 0, NULL, o->timeout_ms,
	    res);
	if (rc != 0 && !o->quiet)
		fprintf(stderr, "kvctl: %s (%s): %s\n", id, address,
		    errno == ETIMEDOUT ? "timed out" : strerror(errno));
	client_close(&c);
	return rc;
}

#define CLEANUP_MEMBERS_MAX 1024

/*
 * kvctl cluster cleanup: asks every member (as the server lists them) to
 * drop what it no longer owns, then polls each one's /cluster/nodes until
 * its cleanup has finished.  Exit 0 when every member finished with every
 * key it dropped confirmed, 5 otherwise.
 */
static int
cmd_cleanup(const struct opts *o)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct buf ids[CLEANUP_MEMBERS_MAX], addrs[CLEANUP_MEMBERS_MAX], msg = BUF_INIT;
	bool done[CLEANUP_MEMBERS_MAX];
	size_t n = 0, i, left;
	int nt, arr, k, e, c, rc = EXIT_OK;

	client_response_init(&res);
	if ((rc = request(o, "GET", "/cluster/nodes", NULL, NULL, 0, NULL,
	    &res)) != 0)
		goto out;
	if (res.http.status != 200) {
		rc = report(o, &res, "cluster cleanup");
		goto out;
	}
	nt = json_parse(res.body.data, res.body.len, NULL, 0,
	    JSON_DEPTH_DEFAULT, NULL);
	if (nt < 1 || (toks = calloc((size_t)nt, sizeof(*toks))) == NULL ||
	    json_parse(res.body.data, res.body.len, toks, nt,
	    JSON_DEPTH_DEFAULT, NULL) != nt ||
	    (arr = member(&res, toks, 0, "members")) < 0 ||
	    toks[arr].type != JSON_ARRAY) {
		fprintf(stderr, "kvctl: cluster cleanup: bad /cluster/nodes answer\n");
		rc = EXIT_SERVER;
		goto out;
	}
	for (k = 0, e = arr + 1; k < toks[arr].size && n < CLEANUP_MEMBERS_MAX;
	    k++, e = toks[e].next) {
		int id = member(&res, toks, e, "id"), ad = member(&res, toks, e,
		    "address");
		if (id < 0 || ad < 0)
			continue;
		buf_init(&ids[n]);
		buf_init(&addrs[n]);
		json_string_decode(res.body.data, &toks[id], &ids[n]);
		json_string_decode(res.body.data, &toks[ad], &addrs[n]);
		done[n++] = false;
	}
	for (i = 0; i < n; i++) {
		client_response_free(&res);
		client_response_init(&res);
		if (request_member(o, ids[i].data, addrs[i].data, "POST",
		    "/cluster/cleanup", &res) != 0) {
			done[i] = true;
			rc = EXIT_UNREACHABLE;
		} else if (res.http.status != 202 && res.http.status != 409) {
			done[i] = true;
			rc = report(o, &res, ids[i].data);
		}
	}
	for (left = n; left > 0;) {
		poll(NULL, 0, 300);
		for (left = 0, i = 0; i < n; i++) {
			if (done[i])
				continue;
			client_response_free(&res);
			client_response_init(&res);
			free(toks);
			toks = NULL;
			if (request_member(o, ids[i].data, addrs[i].data, "GET",
			    "/cluster/nodes", &res) != 0 || res.http.status != 200) {
				done[i] = true;
				rc = EXIT_UNREACHABLE;
				continue;
			}
			nt = json_parse(res.body.data, res.body.len, NULL, 0,
			    JSON_DEPTH_DEFAULT, NULL);
			if (nt < 1 || (toks = calloc((size_t)nt,
			    sizeof(*toks))) == NULL || json_parse(res.body.data,
			    res.body.len, toks, nt, JSON_DEPTH_DEFAULT, NULL) != nt ||
			    (c = member(&res, toks, 0, "cleanup")) < 0) {
				done[i] = true;
				rc = EXIT_SERVER;
				continue;
			}
			k = member(&res, toks, c, "running");
			if (k >= 0 && toks[k].type == JSON_TRUE) {
				left++;
				continue;
			}
			done[i] = true;
			if (o->json) {
				printf("{\"id\":");
				buf_reset(&msg);
				json_emit_string(&msg, ids[i].data, ids[i].len);
				printf("%s,\"cleanup\":%.*s}\n", msg.data,
				    (int)(toks[c].end - toks[c].start),
				    res.body.data + toks[c].start);
				continue;
			}
			{
				uint64_t dropped = 0, unconfirmed = 0;
				int d = member(&res, toks, c, "dropped");
				int u = member(&res, toks, c, "unconfirmed");
				int er = member(&res, toks, c, "error");

				if (d >= 0)
					json_get_u64(res.body.data, &toks[d], &dropped);
				if (u >= 0)
					json_get_u64(res.body.data, &toks[u],
					    &unconfirmed);
				buf_reset(&msg);
				if (er >= 0)
					json_string_decode(res.body.data, &toks[er],
					    &msg);
				printf("%s: dropped %llu keys", ids[i].data,
				    (unsigned long long)dropped);
				if (unconfirmed > 0) {
					printf(", kept %llu not yet confirmed by "
					    "their owners", (unsigned long long)
					    unconfirmed);
					rc = rc ? rc : EXIT_SERVER;
				}
				printf("%s%s\n", msg.len ? ": " : "", msg.data);
			}
		}
	}
out:
	for (i = 0; i < n; i++) {
		buf_free(&ids[i]);
		buf_free(&addrs[i]);
	}
	buf_free(&msg);
	free(toks);
	client_response_free(&res);
	return rc;
}

static int
cmd_cluster(const struct opts *o, int argc, char **argv)
{
	struct buf body = BUF_INIT;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "nodes") == 0 && argc == 1)
		return cmd_simple(o, "GET", "/cluster/nodes", NULL, "cluster nodes",
		    true);
	if (argc == 3 && strcmp(argv[0], "join") == 0) {
		buf_puts(&body, "{\"id\":");
		json_emit_string(&body, argv[1], strlen(argv[1]));
		buf_puts(&body, ",\"address\":");
		json_emit_string(&body, argv[2], strlen(argv[2]));
		buf_puts(&body, "}");
		rc = cmd_simple(o, "POST", "/cluster/join", body.data,
		    "cluster join", false);
		buf_free(&body);
		return rc;
	}
	if (argc == 2 && strcmp(argv[0], "leave") == 0) {
		buf_puts(&body, "{\"id\":");
		json_emit_string(&body, argv[1], strlen(argv[1]));
		buf_puts(&body, "}");
		rc = cmd_simple(o, "POST", "/cluster/leave", body.data,
		    "cluster leave", false);
		buf_free(&body);
		return rc;
	}
	if (argc == 1 && strcmp(argv[0], "cleanup") == 0)
		return cmd_cleanup(o);
	return usage_error("usage: kvctl cluster nodes | join ID HOST:PORT | "
	    "leave ID | cleanup");
}

/* Reads SECONDS (> 0, <= 3600) into *ms.  0, or -1 when malformed. */
static int
parse_seconds(const char *v, int *ms)
{
	char *end;
	double secs;

	secs = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || !(secs > 0 && secs <= 3600))
		return -1;
	*ms = (int)(secs * 1000);
	return 0;
}

static bool
env_true(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "yes") == 0);
}

/* Global settings from KVCTL_* variables; flags override them later. */
static int
read_env(struct opts *o)
{
	const char *v;
	char *end;

	if ((v = getenv("KVCTL_SERVER")) != NULL && *v)
		o->servers = v;
	if ((v = getenv("KVCTL_TIMEOUT")) != NULL && *v &&
	    parse_seconds(v, &o->timeout_ms) != 0)
		return usage_error("bad KVCTL_TIMEOUT '%s' (seconds, > 0)", v);
	if ((v = getenv("KVCTL_CONNECT_TIMEOUT")) != NULL && *v &&
	    parse_seconds(v, &o->connect_timeout_ms) != 0)
		return usage_error("bad KVCTL_CONNECT_TIMEOUT '%s' (seconds, > 0)",
		    v);
	if ((v = getenv("KVCTL_RETRY")) != NULL && *v) {
		o->retries = (int)strtol(v, &end, 10);
		if (*end != '\0' || o->retries < 0 || o->retries > 100)
			return usage_error("bad KVCTL_RETRY '%s' (0..100)", v);
	}
	o->json = env_true("KVCTL_JSON");
	o->quiet = env_true("KVCTL_QUIET");
	o->verbose = env_true("KVCTL_VERBOSE");
	return 0;
}

/* kvctl help [CMD] */
static int
cmd_help(int nargs, char **args)
{
	size_t i;

	if (nargs < 2) {
		usage(stdout);
		return EXIT_OK;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(args[1], commands[i].name) == 0) {
			printf("usage: %s\n\n%s\n", commands[i].usage,
			    commands[i].help);
			return EXIT_OK;
		}
	return usage_error("no command '%s' (try 'kvctl help')", args[1]);
}

/*
 * A flag that takes a value: "--name VALUE" or "--name=VALUE".  Returns
 * the value (advancing *i), or NULL when a is not this flag; *missing is
 * set when the value is absent.
 */
static const char *
flag_value(const char *a, const char *name, int argc, char **argv, int *i,
    bool *missing)
{
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 < argc)
		return argv[++*i];
	*missing = true;
	return "";
}

static int run(int argc, char **argv, char **args);

int
main(int argc, char **argv)
{
	char **args;
	int rc;

	args = calloc((size_t)argc + 1, sizeof(*args));
	if (args == NULL)
		return EXIT_CLIENT;
	rc = run(argc, argv, args);
	free(args);
	return rc;
}

/* Parses the command line into o and args (argc + 1 slots), then runs it. */
static int
run(int argc, char **argv, char **args)
{
	struct opts o;
	char *end;
	const char *a, *v;
	int nargs = 0, i, rc;
	bool flags_done = false, missing = false, passthrough;

	memset(&o, 0, sizeof(o));
	o.servers = "http://127.0.0.1:8080";
	o.timeout_ms = 10000;
	o.connect_timeout_ms = 3000;
	if ((rc = read_env(&o)) != 0)
		return rc;

	/*
	 * Flags may come anywhere; "--" makes the rest plain arguments.
	 * After the command word of verify and bench, flags kvctl does not
	 * know belong to that command.
	 */
	for (i = 1; i < argc; i++) {
		a = argv[i];
		passthrough = nargs > 0 && (strcmp(args[0], "verify") == 0 ||
		    strcmp(args[0], "bench") == 0);
		if (flags_done || a[0] != '-' || strcmp(a, "-") == 0) {
			args[nargs++] = argv[i];
		} else if (strcmp(a, "--") == 0 && !passthrough) {
			flags_done = true;
		} else if ((strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) &&
		    !passthrough) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(a, "--version") == 0) {
			printf("kvctl %s\n", KVD_VERSION);
			return EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			o.quiet = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o.verbose = true;
		} else if ((v = flag_value(a, "--server", argc, argv, &i,
		    &missing)) != NULL) {
			if (missing || *v == '\0')
				return usage_error("--server needs a URL");
			o.servers = v;
		} else if ((v = flag_value(a, "--timeout", argc, argv, &i,
		    &missing)) != NULL) {
			if (parse_seconds(v, &o.timeout_ms) != 0)
				return usage_error("bad --timeout '%s' (seconds, > 0)", v);
		} else if ((v = flag_value(a, "--connect-timeout", argc, argv, &i,
		    &missing)) != NULL) {
			if (parse_seconds(v, &o.connect_timeout_ms) != 0)
				return usage_error("bad --connect-timeout '%s' "
				    "(seconds, > 0)", v);
		} else if ((v = flag_value(a, "--retry", argc, argv, &i,
		    &missing)) != NULL) {
			o.retries = (int)strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || o.retries < 0 ||
			    o.retries > 100)
				return usage_error("bad --retry '%s' (0..100)", v);
		} else if (passthrough) {
			args[nargs++] = argv[i];
		} else {
			return usage_error("unknown flag '%s'", a);
		}
	}
	if (o.connect_timeout_ms > o.timeout_ms)
		o.connect_timeout_ms = o.timeout_ms;
	if (nargs == 0)
		return usage_error("missing command");
	if (strcmp(args[0], "help") == 0)
		return cmd_help(nargs, args);
	if (strcmp(args[0], "put") == 0) {
		if (nargs != 3)
			return usage_error("usage: kvctl put KEY VALUE|-|@FILE");
		if (args[1][0] == '\0')
			return usage_error("the key must not be empty");
		return cmd_put(&o, args[1], args[2]);
	}
	if (strcmp(args[0], "get") == 0 || strcmp(args[0], "delete") == 0) {
		if (nargs != 2)
			return usage_error("usage: kvctl %s KEY", args[0]);
		if (args[1][0] == '\0')
			return usage_error("the key must not be empty");
		if (args[0][0] == 'g')
			return cmd_get(&o, args[1]);
		return cmd_delete(&o, args[1]);
	}
	if (strcmp(args[0], "health") == 0) {
		if (nargs != 1)
			return usage_error("usage: kvctl health");
		return cmd_simple(&o, "GET", "/health", NULL, "health", !o.json);
	}
	if (strcmp(args[0], "cluster") == 0)
		return cmd_cluster(&o, nargs - 1, args + 1);
	if (strcmp(args[0], "verify") == 0)
		return verify_main(o.servers, o.json, o.timeout_ms, nargs, args);
	if (strcmp(args[0], "bench") == 0)
		return bench_main(o.servers, o.json, nargs, args);
	return usage_error("unknown command '%s'", args[0]);
}
