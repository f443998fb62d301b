/*
 * kvd -- the kvd daemon.
 *
 * kvd serves one node of a Dynamo-style key-value store over HTTP/1.1.
 * This file is the part a newcomer reads first: the flags (each also a
 * KVD_<FLAG> variable), the checks that make a bad one a usage error
 * before anything touches the disk, signals, and main(), which hands the
 * node to lib/node.c and waits for SIGTERM.  Everything with an
 * invariant of its own lives in lib/; README's "Code map" lists the
 * modules by layer.  The ones main() sees:
 *
 *	node		the lifecycle: every module opened in dependency
 *			order and closed in reverse (node.c's steps[])
 *	api		the routes: a parsed request in, a response out
 *	server, http	the listener, workers that serve ready connections
 *			(on Linux idle ones parked, no thread each), framing
 *	log, notify	log lines, and systemd's readiness protocol
 *
 * Threads and locks: kvd.c starts no thread and holds no lock; the main
 * thread only waits for a signal, and the node's pause check and
 * housekeeping threads end the process through node_stale().  The lock
 * order across modules is in README's Code map: a quorum operation's
 * mutex and the coordinator's gate are leaves, the store's stripe lock
 * comes before the WAL's mutex, and no lock is held across a network
 * call or another module's disk sync.
 *
 * Start reading at main().
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/auth.h"
#include "lib/cluster.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/node.h"
#include "lib/notify.h"
#include "lib/opt.h"
#include "lib/server.h"

#ifndef KVD_VERSION
#define KVD_VERSION	"unknown"	/* the Makefile passes it */
#endif
#define ID_MAX		64

/* ---- configuration ---------------------------------------------------- */

struct config {
	char	*id;
	char	*addr;
	char	*data_dir;
	char	*peers;
	char	*advertise;
	char	*cluster_secret_file;
	char	*port_file;
	char	*log_level;
	char	*log_format;
	long	 n, w, r;
	long	 snapshot_interval;	/* seconds */
	long	 max_conns;
	long	 max_watchers;
	long	 idle_timeout;		/* seconds */
	long	 header_timeout;	/* seconds */
	long	 body_timeout;		/* seconds */
	long	 write_timeout;		/* seconds */
	long	 max_body;
	long	 max_request_line;
	long	 max_header_bytes;
	long	 max_headers;
	long	 shutdown_grace;	/* seconds */
	long	 peer_timeout_ms;
	long	 gossip_interval_ms;
	long	 vnodes;
	long	 hint_max;
	long	 anti_entropy_interval;	/* seconds */
	long	 tombstone_grace;	/* seconds */
	long	 cas_window;		/* seconds */
	bool	 allow_stale;
	bool	 apply_peers;
	bool	 request_log;
};

enum flag_kind { FLAG_STR, FLAG_NUM, FLAG_BOOL };

struct flag {
	const char	*name;
	enum flag_kind	 kind;
	size_t		 off;
	long		 min, max;
	const char	*help;
};

#define F(field) offsetof(struct config, field)

static const struct flag flags[] = {
	{ "id", FLAG_STR, F(id), 0, 0,
	  "this node's id, [A-Za-z0-9_-], 1-64 bytes (required)" },
	{ "addr", FLAG_STR, F(addr), 0, 0,
	  "listen address HOST:PORT or :PORT; port 0 picks a free port (default :8080)" },
	{ "data-dir", FLAG_STR, F(data_dir), 0, 0,
	  "data directory; this node keeps its files in DATA_DIR/ID (required)" },
	{ "peers", FLAG_STR, F(peers), 0, 0,
	  "other members as ID=HOST:PORT,... (default: none, a single node)" },
	{ "apply-peers", FLAG_BOOL, F(apply_peers), 0, 0,
	  "apply --peers over the saved member list (members.json), which "
	  "otherwise wins after the first start" },
	{ "advertise", FLAG_STR, F(advertise), 0, 0,
	  "HOST:PORT other nodes reach this one at (default: --addr, with "
	  "localhost for an empty host)" },
	{ "n", FLAG_NUM, F(n), 1, 64,
	  "replicas per key (default 3, capped to the cluster size)" },
	{ "w", FLAG_NUM, F(w), 1, 64,
	  "write quorum, at most N (default 2; 1 with --n 1)" },
	{ "r", FLAG_NUM, F(r), 1, 64,
	  "read quorum, at most N (default 2; 1 with --n 1)" },
	{ "vnodes", FLAG_NUM, F(vnodes), 1, 4096,
	  "ring points per member; every node must agree (default 150)" },
	{ "peer-timeout-ms", FLAG_NUM, F(peer_timeout_ms), 10, 600000,
	  "deadline of one call to another node, connect included (default 2000)" },
	{ "gossip-interval-ms", FLAG_NUM, F(gossip_interval_ms), 50, 3600000,
	  "milliseconds between gossip rounds: heartbeats and the member "
	  "list exchanged with a random member; a member three rounds late is "
	  "suspect (default 1000)" },
	{ "hint-max", FLAG_NUM, F(hint_max), 1, 100000000,
	  "most hints kept for members that are down (default 100000)" },
	{ "anti-entropy-interval", FLAG_NUM, F(anti_entropy_interval), 0, 86400,
	  "seconds between hash-tree exchanges with a replica, 0 = off "
	  "(default 10)" },
	{ "tombstone-grace", FLAG_NUM, F(tombstone_grace), 1, 315360000,
	  "seconds a delete's tombstone is kept before it is collected "
	  "(default 86400)" },
	{ "allow-stale", FLAG_BOOL, F(allow_stale), 0, 0,
	  "start even if this node was away longer than --tombstone-grace, "
	  "and serve on after a stop (SIGSTOP, suspend) that long" },
	{ "cas-window", FLAG_NUM, F(cas_window), 1, 86400 * 7,
	  "seconds a key's consensus state (conditional writes) is kept after "
	  "its last ballot; older ballots are refused; at least 12 peer "
	  "timeouts (default 3600)" },
	{ "cluster-secret-file", FLAG_STR, F(cluster_secret_file), 0, 0,
	  "file (mode 0600) holding the shared secret that signs node-to-node "
	  "requests" },
	{ "port-file", FLAG_STR, F(port_file), 0, 0,
	  "write the bound port to this file once listening" },
	{ "snapshot-interval", FLAG_NUM, F(snapshot_interval), 0, 86400 * 7,
	  "seconds between snapshots, 0 = only at shutdown (default 60)" },
	{ "max-conns", FLAG_NUM, F(max_conns), 1, 1000000,
	  "connections served at once; more get 503 (default 10000, fewer "
	  "when the open-file limit leaves no room for them)" },
	{ "max-watchers", FLAG_NUM, F(max_watchers), 0, 1000000,
	  "GET ?wait= requests parked at once; more get 503 (default 1000)" },
	{ "idle-timeout", FLAG_NUM, F(idle_timeout), 1, 86400,
	  "seconds an idle keep-alive connection is kept (default 60)" },
	{ "header-timeout", FLAG_NUM, F(header_timeout), 1, 3600,
	  "seconds to receive a whole request head (default 10)" },
	{ "body-timeout", FLAG_NUM, F(body_timeout), 1, 3600,
	  "seconds to receive a whole request body (default 30)" },
	{ "write-timeout", FLAG_NUM, F(write_timeout), 1, 3600,
	  "seconds a client has to take one whole answer (default 30)" },
	{ "max-body", FLAG_NUM, F(max_body), 1, 1L << 30,
	  "largest request body in bytes, also decoded chunked (default 1048576)" },
	{ "max-request-line", FLAG_NUM, F(max_request_line), 64, 1 << 20,
	  "longest request line in bytes (default 8192)" },
	{ "max-header-bytes", FLAG_NUM, F(max_header_bytes), 256, 1 << 24,
	  "largest request head in bytes (default 65536)" },
	{ "max-headers", FLAG_NUM, F(max_headers), 1, HTTP_MAX_HEADERS,
	  "most header fields in a request (default 100)" },
	{ "shutdown-grace", FLAG_NUM, F(shutdown_grace), 0, 3600,
	  "seconds to let in-flight requests finish on SIGTERM (default 10)" },
	{ "request-log", FLAG_BOOL, F(request_log), 0, 0,
	  "log one line per request (method, path, status, ms, peer)" },
	{ "log-level", FLAG_STR, F(log_level), 0, 0,
	  "debug, info, warn or error (default info)" },
	{ "log-format", FLAG_STR, F(log_format), 0, 0, "text or json (default text)" },
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

/*
 * Which flags hold the value of their KVD_<FLAG> variable (parse_flags):
 * a start-up message about one names the variable (as_given()).
 */
static bool from_env[NFLAGS];

static void
usage(FILE *f)
{
	size_t i;
	char name[64];

	fprintf(f, "usage: kvd --id ID --data-dir DIR [--addr :8080] [flags]\n\n"
	    "Serves one node of the kvd key-value store over HTTP/1.1.\n\n");
	for (i = 0; i < NFLAGS; i++) {
		snprintf(name, sizeof(name), "--%s%s", flags[i].name,
		    flags[i].kind == FLAG_STR ? " S" : flags[i].kind == FLAG_NUM ?
		    " N" : "");
		fprintf(f, "  %-24s %s\n", name, flags[i].help);
	}
	fprintf(f, "  %-24s %s\n  %-24s %s\n\n", "--help", "show this help",
	    "--version", "print the version");
	fprintf(f, "Every flag can also be set as KVD_<FLAG> in the environment,\n"
	    "e.g. KVD_DATA_DIR=/var/lib/kvd; a flag on the command line wins.\n"
	    "A bad KVD_ value exits 2 naming the variable; --help and --version\n"
	    "answer whatever the environment holds.\n");
}

/* KVD_<FLAG>: upper case, '-' as '_'. */
static void
env_name(const char *flag, char *out, size_t outlen)
{
	char *p;

	snprintf(out, outlen, "KVD_%s", flag);
	for (p = out; *p; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
}

/* A byte of a name: none may touch a --FLAG that as_given() renames. */
static bool
flag_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * msg into out (cut to outlen), naming each flag as it was given: a
 * --FLAG whose value came from the environment becomes KVD_<FLAG> (bad
 * KVD_LOG_LEVEL 'x', not bad --log-level 'x').  Every start-up message
 * goes through it, in die_usage() and die(): kvd.c's checks and what
 * lib/ modules return (cluster's "--peers: entry 2 ..."), which name
 * flags as --FLAG and cannot know where a value came from.  One rule,
 * so a check added later names its variable too.
 */
static void
as_given(const char *msg, char *out, size_t outlen)
{
	size_t i = 0, o = 0, j, n = 0;

	while (msg[i] != '\0' && o + 1 < outlen) {
		j = NFLAGS;
		if (msg[i] == '-' && msg[i + 1] == '-' &&
		    (i == 0 || !flag_byte(msg[i - 1])))
			for (j = 0; j < NFLAGS; j++) {
				n = strlen(flags[j].name);
				if (from_env[j] && strncmp(msg + i + 2,
				    flags[j].name, n) == 0 &&
				    !flag_byte(msg[i + 2 + n]))
					break;
			}
		if (j == NFLAGS) {
			out[o++] = msg[i++];
			continue;
		}
		env_name(flags[j].name, out + o, outlen - o);
		o += strlen(out + o);
		i += 2 + n;
	}
	out[o] = '\0';
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die_usage(const char *fmt, ...)
{
	char msg[1024], out[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	as_given(msg, out, sizeof(out));
	fprintf(stderr, "kvd: %s\nkvd: try 'kvd --help'\n", out);
	exit(2);
}

/*
 * A start-up failure once logging is configured: one log line in the
 * chosen format (JSON too), then exit(status).  Usage errors (a bad flag,
 * a missing --id) stay plain text on stderr through die_usage, as other
 * Unix tools print them: they concern the command line, not the node.
 * Both name a flag set from the environment as its variable (as_given()).
 */
static void __attribute__((noreturn))
die(int status, const char *msg, const char *err)
{
	char m[256], e[1024];

	as_given(msg, m, sizeof(m));
	as_given(err, e, sizeof(e));
	log_event(LOG_ERROR, m, "err=%s", e);
	exit(status);
}

/*
 * cfg.stale (node.h): called from the node's pause check thread when the
 * node did not run (stopped, its machine suspended), or from its
 * housekeeping thread when its log refused writes (a full disk), for
 * longer than --tombstone-grace.  It must not serve another request or
 * push another value: one log line and _exit(1) at once, no node_close,
 * so no final snapshot and no alive stamp (the next start is refused as
 * after a restart) and no exit handlers while the other threads run.
 * Every acknowledged write is in the WAL.
 */
static void
node_stale(void *arg, const char *what, const char *msg)
{
	char w[256], e[PATH_MAX + 1024];

	(void)arg;
	as_given(what, w, sizeof(w));
	as_given(msg, e, sizeof(e));
	log_event(LOG_ERROR, w, "err=%s", e);
	_exit(1);
}

/*
 * Sets flag f from val (NULL: a boolean given bare, --request-log).  0,
 * or -1 when val is not of f's kind, with what it wants in why ("want a
 * number from 1 to 64"): the caller names where val came from.
 */
static int
set_flag(struct config *cfg, const struct flag *f, const char *val,
    char *why, size_t whylen)
{
	char *end;
	long v;

	switch (f->kind) {
	case FLAG_STR:
		*(char **)((char *)cfg + f->off) = (char *)val;
		break;
	case FLAG_BOOL:
		if (val == NULL)
			*(bool *)((char *)cfg + f->off) = true;
		else if (opt_bool(val, (bool *)((char *)cfg + f->off)) != 0) {
			snprintf(why, whylen, "want 1, true, yes, 0, false or no");
			return -1;
		}
		break;
	case FLAG_NUM:
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || end == val || *end != '\0' || v < f->min || v > f->max) {
			snprintf(why, whylen, "want a number from %ld to %ld",
			    f->min, f->max);
			return -1;
		}
		*(long *)((char *)cfg + f->off) = v;
		break;
	}
	return 0;
}

/*
 * Warns about KVD_* variables that name no flag, with the nearest one
 * that does (lib/opt decides both, for kvctl's KVCTL_ too): a typo there
 * would otherwise silently leave a default in place.  KVD_FAILPOINTS
 * (crash testing) and KVD_SANITIZER (the test suite's) are not flags.
 */
static void
warn_unknown_env(void)
{
	extern char **environ;
	char env[NFLAGS][64], **e;
	const char *names[NFLAGS + 2];
	size_t i, n;
	int near;

	for (i = 0; i < NFLAGS; i++) {
		env_name(flags[i].name, env[i], sizeof(env[i]));
		names[i] = env[i];
	}
	names[NFLAGS] = "KVD_FAILPOINTS";
	names[NFLAGS + 1] = "KVD_SANITIZER";
	for (e = environ; *e != NULL; e++) {
		if ((n = opt_env_unknown(*e, "KVD_", names, NFLAGS + 2)) == 0)
			continue;
		near = opt_nearest(*e, n, names, NFLAGS + 2);
		log_event(LOG_WARN, "unknown environment variable ignored "
		    "(no such flag)", "name=%.*s nearest=%s", (int)n, *e,
		    near >= 0 ? names[near] : LOG_OMIT);
	}
}

/*
 * Environment first, then the command line, so a flag wins.  A bad KVD_
 * value is said (exit 2, naming the variable) only once the command line
 * has had its turn: --help and --version answer whatever the environment
 * holds, as kvctl's do whatever its KVCTL_ variables hold, and --help
 * (or -h) anywhere answers whatever else the command line holds.
 */
static void
parse_flags(struct config *cfg, int argc, char **argv)
{
	char env[64], why[64], bad[512] = "", dashed[NFLAGS][64];
	const char *val, *longs[NFLAGS + 3];
	size_t i, j;
	int a;
	bool missing = false;

	/* --FLAG: what a flag's value may not be (opt_value). */
	for (i = 0; i < NFLAGS; i++) {
		snprintf(dashed[i], sizeof(dashed[i]), "--%s", flags[i].name);
		longs[i] = dashed[i];
	}
	longs[NFLAGS] = "--help";
	longs[NFLAGS + 1] = "--version";
	longs[NFLAGS + 2] = NULL;
	for (i = 0; i < NFLAGS; i++) {
		env_name(flags[i].name, env, sizeof(env));
		if ((val = getenv(env)) == NULL || *val == '\0')
			continue;
		if (set_flag(cfg, &flags[i], val, why, sizeof(why)) == 0) {
			from_env[i] = true;
			continue;
		}
		if (bad[0] == '\0')
			snprintf(bad, sizeof(bad), "bad %s '%s' (%s)", env, val,
			    why);
	}
	if (opt_help(argc, argv)) {	/* whatever else the line holds */
		usage(stdout);
		exit(0);
	}
	for (a = 1; a < argc; a++) {
		const char *arg = argv[a], *eq;
		size_t nlen;

		if (strcmp(arg, "--version") == 0) {
			printf("kvd %s\n", KVD_VERSION);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0)
			die_usage("unexpected argument '%s'", arg);
		arg += 2;
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		for (j = 0; j < NFLAGS; j++)
			if (strlen(flags[j].name) == nlen &&
			    strncmp(flags[j].name, arg, nlen) == 0)
				break;
		if (j == NFLAGS)
			die_usage("unknown flag '%s'", argv[a]);
		from_env[j] = false;	/* the command line wins */
		if (eq == NULL && flags[j].kind == FLAG_BOOL)
			val = NULL;
		else if ((val = opt_value(argc, argv, &a, longs[j], longs,
		    &missing)) == NULL && a + 1 < argc) {
			/* Both names are the command line's: as_given keeps them. */
			memset(from_env, 0, sizeof(from_env));
			die_usage("flag '%s' needs a value, but the flag '%s' "
			    "follows it (%s=%s gives that as the value)", argv[a],
			    argv[a + 1], argv[a], argv[a + 1]);
		} else if (val == NULL)
			die_usage("flag '%s' needs a value", argv[a]);
		if (set_flag(cfg, &flags[j], val, why, sizeof(why)) != 0) {
			snprintf(bad, sizeof(bad), "bad --%s '%s' (%s)",
			    flags[j].name, val, why);
			die_usage("%s", bad);
		}
	}
	if (bad[0] != '\0')
		die_usage("%s", bad);
}

static bool
id_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/*
 * A connection is a descriptor: lift the soft limit on open files to
 * the hard limit so --max-conns, not a 1024 default, is what bounds
 * connections.  Returns the soft limit then (-1: no limit known).
 */
static long
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_event(LOG_WARN, "cannot raise the open-file limit",
			    "err=%s", strerror(errno));
			getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 100000000 ?
	    100000000 : (long)rl.rlim_cur;
}

/*
 * Descriptors kept for what is not a client's connection: the logs'
 * segments and snapshots, hint logs, calls to other nodes, the listener,
 * epoll and pipes.
 */
#define FD_SPARE	256
#define MAX_CONNS_MIN	64	/* the default, however low the limit */

/*
 * Sets --max-conns, when not given, to SERVER_MAX_CONNS or what the
 * open-file limit leaves room for beside the peers' reserve and
 * FD_SPARE, whichever is less: past the limit accept fails (EMFILE), and
 * the connections past it wait unanswered in the backlog instead of
 * getting the cap's 503.  One given that the limit has no room for is
 * kept, and said.
 */
static void
fit_max_conns(struct config *cfg, long nofile)
{
	long room = nofile - SERVER_PEER_RESERVE - FD_SPARE;

	if (nofile < 0) {	/* no limit known: nothing to fit under */
		if (cfg->max_conns == 0)
			cfg->max_conns = SERVER_MAX_CONNS;
		return;
	}
	if (cfg->max_conns == 0) {
		cfg->max_conns = room < SERVER_MAX_CONNS ? room :
		    SERVER_MAX_CONNS;
		if (cfg->max_conns < MAX_CONNS_MIN)
			cfg->max_conns = MAX_CONNS_MIN;
		if (cfg->max_conns < SERVER_MAX_CONNS)
			log_event(LOG_WARN, "--max-conns lowered to what the "
			    "open-file limit leaves room for; raise the hard "
			    "limit (ulimit -Hn, LimitNOFILE=) to serve more",
			    "max_conns=%ld default=%d nofile=%ld",
			    cfg->max_conns, SERVER_MAX_CONNS, nofile);
	} else if (cfg->max_conns > room)
		log_event(LOG_WARN, "--max-conns is more than the open-file "
		    "limit leaves room for: connections past it wait "
		    "unanswered; raise the hard limit (ulimit -Hn, "
		    "LimitNOFILE=)", "max_conns=%ld room=%ld nofile=%ld",
		    cfg->max_conns, room < 0 ? 0 : room, nofile);
}

/*
 * Names each member whose address does not resolve (a typo in --peers,
 * a name not in DNS yet).  Not fatal: the name is looked up again on
 * every call, so the member is reached once it resolves; until then it
 * stays down, and this says why.
 */
static void
warn_unresolved(const struct cluster_view *v)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	size_t i;
	int rc;

	for (i = 0; i < v->nmembers; i++) {
		if ((ssize_t)i == v->self || net_split_hostport(
		    v->members[i].address, host, sizeof(host), port,
		    sizeof(port)) != 0)
			continue;
		if ((rc = net_resolve(host, port)) != 0)
			log_event(LOG_WARN, "member address does not resolve; "
			    "it stays down until it does", "id=%s address=%s "
			    "err=%s", v->members[i].id,
			    v->members[i].address, gai_strerror(rc));
	}
}

/* ---- main ------------------------------------------------------------- */

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->addr = ":8080";
	cfg->n = 3;
	cfg->w = 0;	/* not given: 2, or N when N is 1 (check_config) */
	cfg->r = 0;
	cfg->snapshot_interval = 60;
	cfg->max_conns = 0;	/* not given: fit_max_conns */
	cfg->max_watchers = 1000;
	cfg->idle_timeout = 60;
	cfg->header_timeout = 10;
	cfg->body_timeout = 30;
	cfg->write_timeout = 30;
	cfg->max_body = 1 << 20;
	cfg->max_request_line = 8192;
	cfg->max_header_bytes = 65536;
	cfg->max_headers = 100;
	cfg->shutdown_grace = 10;
	cfg->peer_timeout_ms = 2000;
	cfg->gossip_interval_ms = 1000;
	cfg->vnodes = 150;
	cfg->hint_max = 100000;
	cfg->anti_entropy_interval = 10;
	cfg->tombstone_grace = 86400;
	cfg->cas_window = 3600;
	cfg->log_level = "info";
	cfg->log_format = "text";
}

/*
 * Everything that can be checked before touching the disk or the
 * network: a bad flag exits 2 here, before the node directory exists.
 */
static void
check_config(struct config *cfg)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX], err[512];
	int lvl;

	if ((lvl = log_level_parse(cfg->log_level)) < 0)
		die_usage("bad --log-level '%s' (debug, info, warn, error)",
		    cfg->log_level);
	log_set_level((enum log_level)lvl);
	if (strcmp(cfg->log_format, "json") == 0)
		log_set_json(true);
	else if (strcmp(cfg->log_format, "text") != 0)
		die_usage("bad --log-format '%s' (text or json)", cfg->log_format);
	warn_unknown_env();
	if (cfg->id == NULL)
		die_usage("%s", "--id is required (e.g. --id node1)");
	if (!id_valid(cfg->id))
		die_usage("bad --id '%s': use 1-64 of A-Z a-z 0-9 _ -", cfg->id);
	if (cfg->data_dir == NULL)
		cfg->data_dir = getenv("STATE_DIRECTORY");	/* systemd */
	if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0')
		die_usage("%s", "--data-dir is required (e.g. --data-dir /var/lib/kvd)");
	if (net_split_hostport(cfg->addr, host, sizeof(host), port,
	    sizeof(port)) != 0 || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port))
		die_usage("bad --addr '%s' (want HOST:PORT or :PORT, e.g. :8080)",
		    cfg->addr);
	if (cfg->advertise != NULL && !cluster_address_ok(cfg->advertise))
		die_usage("bad --advertise '%s' (want HOST:PORT, PORT 1-65535 "
		    "without leading zeros)", cfg->advertise);
	if (cfg->peers != NULL && cluster_peers_check(cfg->peers, err,
	    sizeof(err)) != 0)
		die_usage("%s", err);
	/* A quorum above N can never be met: a typo, not a wish to cap. */
	if (cfg->w > cfg->n || cfg->r > cfg->n)
		die_usage("--%s %lld is more than --n %lld: a quorum counts "
		    "copies of a key, and a key has %lld", cfg->w > cfg->n ?
		    "w" : "r", (long long)(cfg->w > cfg->n ? cfg->w : cfg->r),
		    (long long)cfg->n, (long long)cfg->n);
	if (cfg->w == 0)
		cfg->w = cfg->n < 2 ? cfg->n : 2;
	if (cfg->r == 0)
		cfg->r = cfg->n < 2 ? cfg->n : 2;
	/* A conditional write's deadline is 3 peer timeouts (cas.h). */
	if (cfg->cas_window * 1000 < 12 * cfg->peer_timeout_ms)
		die_usage("%s", "--cas-window is too short for --peer-timeout-ms: "
		    "it must be at least 12 peer timeouts (4 times a conditional "
		    "write's deadline)");
}

/*
 * The node's configuration, from the flags.  The names of the flags its
 * warnings mention are as given (as_given(): KVD_PEERS for a list from
 * the environment), in static storage the node may keep.
 */
static void
node_config_from(const struct config *cfg, struct auth *auth,
    struct node_config *nc)
{
	static char peers_name[64], apply_peers_name[64], allow_stale_name[64];
	struct server_config *s = &nc->server;

	memset(nc, 0, sizeof(*nc));
	nc->id = cfg->id;
	nc->addr = cfg->addr;
	nc->data_dir = cfg->data_dir;
	nc->peers = cfg->peers;
	nc->apply_peers = cfg->apply_peers;
	as_given("--peers", peers_name, sizeof(peers_name));
	as_given("--apply-peers", apply_peers_name, sizeof(apply_peers_name));
	as_given("--allow-stale", allow_stale_name, sizeof(allow_stale_name));
	nc->peers_name = peers_name;
	nc->apply_peers_name = apply_peers_name;
	nc->allow_stale_name = allow_stale_name;
	nc->advertise = cfg->advertise;
	nc->n = (int)cfg->n;
	nc->w = (int)cfg->w;
	nc->r = (int)cfg->r;
	nc->vnodes = (int)cfg->vnodes;
	nc->peer_timeout_ms = (int)cfg->peer_timeout_ms;
	nc->gossip_interval_ms = (int)cfg->gossip_interval_ms;
	nc->hint_max = (size_t)cfg->hint_max;
	nc->anti_entropy_interval_s = (int)cfg->anti_entropy_interval;
	nc->tombstone_grace_s = cfg->tombstone_grace;
	nc->cas_window_s = cfg->cas_window;
	nc->allow_stale = cfg->allow_stale;
	nc->snapshot_interval_s = (int)cfg->snapshot_interval;
	nc->shutdown_grace_ms = (int)cfg->shutdown_grace * 1000;
	nc->auth = auth;
	server_config_default(s);
	s->max_conns = (int)cfg->max_conns;
	s->idle_timeout_ms = (int)cfg->idle_timeout * 1000;
	s->header_timeout_ms = (int)cfg->header_timeout * 1000;
	s->body_timeout_ms = (int)cfg->body_timeout * 1000;
	s->write_timeout_ms = (int)cfg->write_timeout * 1000;
	/*
	 * Two body limits.  Public routes take --max-body: precheck lowers
	 * the server's cap to it.  /internal/ routes carry records as JSON
	 * (record.h), where a value goes as a JSON string or, when that
	 * would be longer (binary, control bytes), as base64: at most 4/3
	 * of its size plus 4.  Its key (1 KiB, 6 KiB escaped), clock and
	 * framing fit in 256 KiB, so one record of the largest legal value
	 * always fits in
	 *	internal limit = --max-body + --max-body / 3 + 256 KiB
	 * (1,660,074 bytes for the default 1 MiB).
	 */
	nc->max_body = (size_t)cfg->max_body;
	nc->max_watchers = (size_t)cfg->max_watchers;
	nc->port_file = cfg->port_file;
	nc->stale = node_stale;
	s->limits.max_body = (size_t)cfg->max_body + (size_t)cfg->max_body / 3 +
	    (256u << 10);
	s->max_body_name = "internal routes: --max-body x 4/3 + 256 KiB";
	s->limits.max_request_line = (size_t)cfg->max_request_line;
	s->limits.max_header_bytes = (size_t)cfg->max_header_bytes;
	s->limits.max_headers = (size_t)cfg->max_headers;
	s->request_log = cfg->request_log;
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct node nd;
	struct node_config ncfg;
	struct auth *auth = NULL;
	const struct cluster_view *view;
	char err[2 * PATH_MAX + 1024];	/* a message may name two paths */
	sigset_t sigs;
	int sig, rc;

	config_defaults(&cfg);
	parse_flags(&cfg, argc, argv);
	check_config(&cfg);
	if (cfg.cluster_secret_file != NULL &&
	    auth_load(&auth, cfg.cluster_secret_file, err, sizeof(err)) != 0)
		die(2, "cannot load --cluster-secret-file", err);
	fit_max_conns(&cfg, raise_fd_limit());
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	/* Said and ignored: a reload some daemons do is no cause to die. */
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);	/* inherited by every thread */

	node_config_from(&cfg, auth, &ncfg);
	if (node_open(&nd, &ncfg, err, sizeof(err)) != 0)
		die(1, "cannot start", err);
	view = cluster_view_get(nd.cluster);
	log_event(LOG_INFO, "kvd ready", "id=%s actor=%s addr=%s port=%d "
	    "advertise=%s dir=%s members=%zu n=%d w=%d r=%d max_conns=%ld "
	    "version=%s", cfg.id, nd.actor, cfg.addr, nd.port, nd.advertise,
	    nd.dir, view->nmembers, view->n, view->w, view->r, cfg.max_conns,
	    KVD_VERSION);
	cluster_view_put(nd.cluster, view);
	notify_send("READY=1");
	/* After READY=1: a slow resolver must not hold up the start. */
	view = cluster_view_get(nd.cluster);
	warn_unresolved(view);
	cluster_view_put(nd.cluster, view);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		log_event(LOG_WARN, "signal ignored: kvd has no reload; SIGTERM "
		    "stops it, and flags change with a restart", "signal=%s",
		    sig == SIGHUP ? "HUP" : sig == SIGUSR1 ? "USR1" : "USR2");
	}
	log_event(LOG_INFO, "shutting down", "signal=%s",
	    sig == SIGTERM ? "TERM" : "INT");
	notify_send("STOPPING=1");
	rc = node_close(&nd);
	if (nd.requests_left)
		_exit(1);	/* their threads still run: no exit handlers */
	auth_free(auth);
	log_event(LOG_INFO, "stopped", "id=%s", cfg.id);
	return rc == 0 ? 0 : 1;
}
