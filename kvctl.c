/*
 * kvctl -- the kvd command-line client.
 *
 * kvctl speaks HTTP/1.1 over a raw socket through lib/client and
 * lib/http; it needs no curl.  Each command is one request (or one per
 * server tried): the servers of --server are tried in turn until one
 * answers at all (a hung one is found out by its /health: see
 * failover_check), one that failed earlier in the command after the
 * others (servers_order); an HTTP error from a server that answered is
 * final.
 *
 * Output contract (SPEC section 7): `get` writes the value's exact bytes
 * to stdout, adding a newline only when stdout is a terminal; `put` and
 * `delete` print nothing on success; `--json` prints the server's JSON
 * (for a delete, whose 204 has no body, {"key":KEY,"deleted":true});
 * messages go to stderr, and a server that fails before another answers
 * is named there only with -v.  Exit codes: 0 ok, 1 not found, 2 usage, 3 no
 * server reachable or timed out, 4 other client error (e.g. 412), 5
 * server error or quorum failure.
 *
 * `kvctl bench` and `kvctl verify` are libraries (lib/bench, lib/verify)
 * that take parsed options and return results; everything they say is
 * said here: their options, their text and JSON reports, progress and
 * messages on stderr, and their exit codes.  Options are read with
 * lib/opt (one reader of "NAME VALUE" / "NAME=VALUE" and of numbers), and
 * every bad one ends in the one usage_error() below.
 *
 * Start reading at main().
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/auth.h"
#include "lib/base64.h"
#include "lib/bench.h"
#include "lib/buf.h"
#include "lib/client.h"
#include "lib/clock.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/net.h"
#include "lib/opt.h"
#include "lib/rng.h"
#include "lib/servers.h"
#include "lib/verify.h"
#include "lib/workq.h"

#ifndef KVD_VERSION
#define KVD_VERSION	"unknown"	/* the Makefile passes it */
#endif

enum {
	EXIT_OK = 0, EXIT_NOTFOUND = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3,
	EXIT_CLIENT = 4, EXIT_SERVER = 5,
	EXIT_ABORTED = 6,	/* a [y/N] question answered no: nothing done */
	EXIT_LOST = 1		/* verify: writes lost, or it could not check */
};

struct opts {
	const char	*servers;	/* comma-separated URLs */
	bool		 json;
	bool		 quiet;		/* -q: no messages on stderr */
	bool		 verbose;	/* -v: trace requests and responses */
	int		 timeout_ms;
	int		 connect_timeout_ms;
	int		 retries;	/* --retry: extra attempts on 503/transport errors */
	const char	*r, *w;		/* --r, --w: read and write quorums, or NULL */
	const char	*ttl;		/* --ttl: seconds (put, mput), or NULL */
	const char	*if_match;	/* put, delete: --if-match ETAG, or NULL */
	bool		 create;	/* put: --create (If-None-Match: *) */
	bool		 etag;		/* get: --etag, the ETag on stderr or in --json */
	bool		 serial;	/* get: --serial, a read through consensus */
	uint64_t	 limit;		/* ls --limit: most keys (0: all) */
	const char	*prefix;	/* delete --prefix, or NULL */
	bool		 all;		/* delete --all: every key */
	bool		 yes;		/* delete --prefix/--all --yes: no question */
	int		 parallel;	/* load --parallel: requests at once */
	int		 output;	/* -o: enum output (OUT_DEFAULT: by isatty) */
	const char	*secret_file;	/* --cluster-secret-file: signs /admin/ calls */
	bool		 secret_env;	/* it came from KVCTL_CLUSTER_SECRET_FILE */
	char		 env_error[512];	/* a bad KVCTL_ variable, said by env_check() */
	char		 line_error[512];	/* the line's first fault (line_bad()) */
};

/* Every command, with its usage line and what it does (kvctl help CMD). */
static const struct {
	const char	*name;
	const char	*usage;
	const char	*help;
} commands[] = {
	{ "put", "kvctl put KEY VALUE|-|@FILE [--ttl S] [--if-match ETAG | --create] "
	  "[--r Q] [--w Q]",
	  "Stores VALUE under KEY (- reads stdin, @FILE a file; the bytes are\n"
	  "sent as they are). A VALUE that starts with @ is written @@: '@@x'\n"
	  "stores \"@x\", '@@' stores \"@\"; '@' alone is an error (no file).\n"
	  "Silent on success; --json prints the answer.\n"
	  "--w Q is the write quorum, --r Q how many replicas are read first\n"
	  "(1..N, one, quorum or all; the server's W and none by default).\n"
	  "--ttl S makes the key expire S seconds later (1 to 315360000); a\n"
	  "later put without it clears it.\n"
	  "--if-match ETAG stores only while ETAG is still the key's version,\n"
	  "--create only when the key does not exist: a compare-and-swap that\n"
	  "holds across nodes (exit 4 when the condition fails)." },
	{ "get", "kvctl get KEY [--etag] [--serial]",
	  "Writes the value's exact bytes to stdout (a newline is added only on\n"
	  "a terminal). --json prints {\"key\",\"value\"} instead. Exit 1 when\n"
	  "the key does not exist. --etag prints the version's ETag on stderr\n"
	  "(in the JSON with --json); --serial reads through a consensus round\n"
	  "of a majority of the owners (linearizable)." },
	{ "delete", "kvctl delete KEY [--if-match ETAG] | --prefix P [--yes] | "
	  "--all [--yes]",
	  "Deletes KEY (a tombstone, replicated like a write). Silent on\n"
	  "success; --json prints {\"key\":KEY,\"deleted\":true}. Exit 1 when\n"
	  "there was nothing to delete; with --if-match, exit 4 when ETAG is no\n"
	  "longer the key's version (KEY only: with --prefix or --all it is a\n"
	  "usage error, exit 2). With --prefix, lists the keys that start with P\n"
	  "and deletes each (1000 to a request); on a terminal it first says\n"
	  "how many and asks (no: 'aborted', exit 6), and elsewhere it needs\n"
	  "--yes. An empty P is a usage error (an unset \"$P\" must not wipe\n"
	  "the store): --all deletes every key, asking in the same way." },
	{ "incr", "kvctl incr KEY [N] [--ttl S]",
	  "Adds N (default 1; negative subtracts) to the integer stored under\n"
	  "KEY (absent or expired counts as 0) with a compare-and-swap loop: a\n"
	  "serial read, then a write with --if-match, again on a conflict, at\n"
	  "most 100 tries. The key keeps its TTL: the write sets the seconds\n"
	  "its X-Kvd-Expires leaves on this machine's clock, rounded up (so it\n"
	  "may expire up to a second later); --ttl S sets S seconds instead.\n"
	  "Prints the new value. Exit 4 when the value is not an integer or the\n"
	  "key kept changing; 5 when a write's outcome is unknown (503): it is\n"
	  "never repeated, so an increment is never applied twice." },
	{ "ls", "kvctl ls [PREFIX] [--limit N] [--json]",
	  "Lists the keys that start with PREFIX (all without one) in byte\n"
	  "order, one per line, following every page (GET /kv) and holding one\n"
	  "at a time; --limit N stops after N keys. --json prints\n"
	  "{\"keys\":[...],\"complete\":true}. Exit 5, after the keys, when some\n"
	  "key range had no replica answering (\"complete\":false)." },
	{ "dump", "kvctl dump [PREFIX] > FILE",
	  "Writes every live key that starts with PREFIX as one JSON object per\n"
	  "line: {\"key\":...,\"value\":...,\"context\":...} (key_b64 and\n"
	  "value_b64 for bytes that are not UTF-8; context is the version's\n"
	  "ETag, so that a load descends from it; expires_ms for a key with a\n"
	  "TTL). A key written meanwhile is in the dump whole or not at all.\n"
	  "Exit 5, after the lines, when some key range had no replica\n"
	  "answering (as ls)." },
	{ "load", "kvctl load [--parallel N] < FILE",
	  "Writes the lines of a dump with their contexts (POST /batch, up to\n"
	  "100 lines a request, N requests at once, default 32; a 503 or no\n"
	  "answer is tried 3 more times),\n"
	  "skipping keys that already hold the line's value, so loading twice\n"
	  "changes nothing; a TTL goes as the seconds it has left as its request\n"
	  "is sent (a line whose TTL ran out is skipped; one more than ten years\n"
	  "off, kvd's longest TTL, fails). Reports lines, written, unchanged, expired\n"
	  "and failed; exit status non-zero if any line failed. A batch the\n"
	  "server refuses whole for one bad line fails only that line, named\n"
	  "by its line number; the others go again in one request." },
	{ "mget", "kvctl mget KEY [KEY...]",
	  "Reads up to 1000 keys in few requests (POST /batch; the keys an\n"
	  "answer had no room for, past 8 MiB of values, are asked again): each\n"
	  "value found is written with a newline, in order, and a key without\n"
	  "one (missing, or its read failed) as an empty line, so line i is\n"
	  "key i's; each such key is named on stderr, and then the exit status\n"
	  "is 1 (5 when a read got a 503). --json prints one {\"results\":[...]}\n"
	  "in key order instead (a missing key's has \"status\":404), which\n"
	  "tells an empty value from a missing key; the exit status is the same." },
	{ "mput", "kvctl mput KEY VALUE [KEY VALUE...] [--ttl SECONDS]",
	  "Writes up to 1000 keys in few requests (POST /batch, 256 KiB at\n"
	  "most each: one for small values); each VALUE, and --ttl for every\n"
	  "key, as for put. Not atomic: each write succeeds or fails on its\n"
	  "own, and a failure is named on stderr; the exit status is the\n"
	  "worst's, with --json too. Writes as load does: a value too big for\n"
	  "a batch goes alone as a PUT, a batch refused as too large (413) is\n"
	  "split, and a write answered 503 is tried 3 more times, so mput\n"
	  "takes every value put takes. A key given twice is written once,\n"
	  "with its last value (as Redis MSET); --json lists its one result\n"
	  "where the key first stood." },
	{ "watch", "kvctl watch KEY [--json]",
	  "Prints KEY's value, then each new value (or \"deleted\") on its own\n"
	  "line as it changes, until interrupted: GET ?wait= long polls, which\n"
	  "a write through any node ends. With --json each change is one JSON\n"
	  "line, get --json's answer or {\"key\":...,\"deleted\":true}, so a\n"
	  "value holding a newline (or \"deleted\") is told apart. With no\n"
	  "server (or a 5xx) it keeps trying, saying so once on stderr\n"
	  "(\"kvctl: watch: WHY; retrying\", then \"kvctl: watch:\n"
	  "reconnected\"; nothing with -q). A node that has left the\n"
	  "cluster (503 left) ends it, exit 5: watch through a member." },
	{ "health", "kvctl health [-o table]",
	  "Checks that the server answers /health and prints its answer (with\n"
	  "-o table as a table: ID, STATUS, STORAGE, CAS STORAGE, UPTIME).\n"
	  "Exit 5 (and a line on stderr) when the node answers but refuses\n"
	  "writes: its storage is disk_full or failed, or only conditional\n"
	  "writes (its cas_storage is; a line for each when both are), or it\n"
	  "has left the cluster (status left: every key request gets 503)." },
	{ "status", "kvctl status [-o json]",
	  "One screen about the cluster: members up and down, N/W/R, keys,\n"
	  "hints pending, the last anti-entropy round, transfers (keys scanned\n"
	  "and sent, waiting on other senders, or retrying with the error;\n"
	  "stray keys waiting to be forwarded to their owners; a node that\n"
	  "left and still hands its keys off too), and warnings\n"
	  "(a member down, hints waiting for one, fewer live members than N,\n"
	  "anti-entropy off, storage refusing writes, ring parameters that\n"
	  "differ, a link that fails: 'node1's calls to node3 fail: 401\n"
	  "unauthorized: bad signature'). A member not heard from yet that\n"
	  "kvctl cannot reach either (joined before it was started) counts\n"
	  "down. From the --server node's /cluster/nodes and each live\n"
	  "member's own. -o json prints one stable JSON object, with a\n"
	  "\"nodes\" entry a member (state, storage, cas_storage,\n"
	  "ring_mismatch, link_error, ...) and \"failing_links\". A --server node that has\n"
	  "left the cluster is warned of: ask a member." },
	{ "hints", "kvctl hints [NODE] | hints drop OWNER [--yes]",
	  "Lists the hints (writes kept for a member that was down) held by\n"
	  "NODE, or by every member not down, per owner: count, bytes and the\n"
	  "age of the oldest (GET /admin/hints). The members are asked all at\n"
	  "once (as status); one that does not answer within 3 s is named on\n"
	  "stderr, and then the list is partial: exit 3.\n"
	  "'hints drop OWNER' drops the hints every member not down holds for\n"
	  "OWNER, for good (DELETE /admin/hints/OWNER), asking them all at once\n"
	  "too: on a terminal it counts them and asks first, naming each\n"
	  "member down or not answering that the count left out (no:\n"
	  "'aborted', exit 6); elsewhere it needs --yes. Exit 1 when OWNER is\n"
	  "no member (none is asked);\n"
	  "exit 3 when a member that may hold some was down or did not answer:\n"
	  "the others dropped theirs, its are kept (drop again once it is up).\n"
	  "OWNER itself not answering is no failure: it holds none for itself\n"
	  "(a note on stderr)." },
	{ "repair", "kvctl repair [NODE]",
	  "Starts an anti-entropy repair on NODE (default: the --server node):\n"
	  "one hash-tree exchange with every member it shares keys with (POST\n"
	  "/admin/repair), shows its progress on stderr until it has finished\n"
	  "and prints what it compared, fetched and pushed. Exit 5 when an\n"
	  "exchange failed (a member down, say)." },
	{ "cluster", "kvctl cluster nodes | join ID HOST:PORT | leave ID | cleanup",
	  "nodes lists the members, their state as the server sees it, N/W/R,\n"
	  "hints and transfer progress (a table on a terminal or with -o table:\n"
	  "id, address, state, last seen, keys, ownership, hints pending for it,\n"
	  "transfer, then each failing link; the server's JSON elsewhere or\n"
	  "with -o json); join adds a member and says through which member,\n"
	  "the members now and how to follow the transfers (--json: the\n"
	  "member list); leave removes one and says so, and how to know its\n"
	  "keys have moved (its transfer running:false, or no transfer of it\n"
	  "in status) before stopping it\n"
	  "(one that has left already: 'nothing changed', exit 0; an id never\n"
	  "a member: exit 1);\n"
	  "cleanup makes every member drop the keys it no longer owns, once\n"
	  "their owners hold them, and waits until all are done; then prints\n"
	  "one line a member, in id order. Meanwhile stderr shows each\n"
	  "member's line as it finishes, and every 5 s those still running\n"
	  "(not with -q or --json)." },
	/* help verify and help bench print verify_usage and bench_usage. */
	{ "verify", "kvctl verify [OPTIONS]", "" },
	{ "bench", "kvctl bench [OPTIONS]", "" },
	{ "help", "kvctl help [COMMAND]",
	  "Shows help for a command (exit 0), whatever the KVCTL_ variables\n"
	  "hold and whatever flags for commands follow (help put --ttl 5), as\n"
	  "--help, -h and COMMAND --help do." },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: kvctl [flags] COMMAND [ARGS]\n\n"
	    "Commands:\n"
	    "  put KEY VALUE|-|@FILE   store a value (- reads stdin, @FILE a file,\n"
	    "                          @@TEXT the value @TEXT)\n"
	    "  get KEY                 print the value's exact bytes\n"
	    "  delete KEY              delete a key\n"
	    "  incr KEY [N]            add N (default 1) to an integer, atomically\n"
	    "  delete --prefix P       delete every key that starts with P\n"
	    "  delete --all            delete every key\n"
	    "  ls [PREFIX]             list keys in byte order (--limit N)\n"
	    "  dump [PREFIX]           write keys, values and contexts as JSON lines\n"
	    "  load                    write the lines of a dump from stdin\n"
	    "  mget KEY...             read many keys in few requests\n"
	    "  mput KEY VALUE...       write many keys in few requests\n"
	    "  watch KEY               print each new value as it changes\n"
	    "  health                  check that the server is up\n"
	    "  status                  the cluster at a glance, with warnings\n"
	    "  hints [NODE]            hints pending, per holder and owner\n"
	    "  hints drop OWNER        drop the hints held for OWNER (--yes)\n"
	    "  repair [NODE]           run an anti-entropy repair now\n"
	    "  cluster nodes           list the members and their state\n"
	    "  cluster join ID ADDR    add a member (ADDR is HOST:PORT)\n"
	    "  cluster leave ID        remove a member\n"
	    "  cluster cleanup         drop data members no longer own\n"
	    "  verify [OPTIONS]        check that no acknowledged write is lost\n"
	    "  bench [OPTIONS]         measure throughput and latency\n"
	    "  help [COMMAND]          help for one command\n\n"
	    "Flags (anywhere on the line; -- ends them):\n"
	    "  --server URL[,URL...]   servers to try in turn (KVCTL_SERVER,\n"
	    "                          default http://127.0.0.1:8080); one that\n"
	    "                          answers 503 as it has left the cluster\n"
	    "                          or is stopping: the next one is asked;\n"
	    "                          so is one hung (no answer begun after\n"
	    "                          1 s, and no answer to /health in 2 s)\n"
	    "  --json                  print the server's JSON (KVCTL_JSON=1)\n"
	    "  -o, --output table|json  tables for people (the default on a\n"
	    "                          terminal for cluster nodes, status, hints)\n"
	    "                          or JSON (= --json)\n"
	    "  --cluster-secret-file FILE  sign hints, repair and cluster join,\n"
	    "                          leave and cleanup with the cluster secret\n"
	    "                          (KVCTL_CLUSTER_SECRET_FILE)\n"
	    "  --timeout SECONDS       whole request deadline, default 10\n"
	    "                          (KVCTL_TIMEOUT)\n"
	    "  --connect-timeout SECONDS  connect deadline, default 3\n"
	    "                          (KVCTL_CONNECT_TIMEOUT)\n"
	    "  --retry N               retry N times on connection errors,\n"
	    "                          timeouts and 503 (KVCTL_RETRY, default 0)\n"
	    "  --r Q, --w Q            read / write quorum: 1..N, one, quorum or\n"
	    "                          all (server's R, W); --r for get, put,\n"
	    "                          delete, mget, mput, watch, load, and for\n"
	    "                          ls and dump the replicas per key range\n"
	    "                          that must answer (default 1); --w for\n"
	    "                          put, delete, mput, incr and load\n"
	    "  --ttl SECONDS           put, mput, incr: the keys expire after\n"
	    "                          SECONDS\n"
	    "  --if-match ETAG         put, delete: only while ETAG is the version\n"
	    "  --create                put: only when the key does not exist\n"
	    "  --etag                  get: print the ETag on stderr (or in --json)\n"
	    "  --serial                get: read through a consensus of the owners\n"
	    "  --limit N               ls: stop after N keys\n"
	    "  --prefix P, --all, --yes  delete --prefix: every key starting with P\n"
	    "                          (not empty); --all: every key; --yes:\n"
	    "                          without asking (also hints drop)\n"
	    "  --parallel N            load: requests at once (default 32)\n"
	    "  -q, --quiet             no messages on stderr (KVCTL_QUIET=1)\n"
	    "  -v, --verbose           trace requests and responses on stderr,\n"
	    "                          and name each server that failed before\n"
	    "                          one answered (KVCTL_VERBOSE=1)\n"
	    "  --help, -h, --version   --help anywhere before -- is kvctl help\n"
	    "                          COMMAND, whatever else the line holds\n"
	    "                          (--version too); --help wins over\n"
	    "                          --version; a flag kvctl does not know is\n"
	    "                          a usage error (exit 2) even with them\n\n"
	    "KVCTL_JSON, KVCTL_QUIET and KVCTL_VERBOSE take 1, true or yes, 0, false\n"
	    "or no (as kvd's booleans); anything else is a usage error. A bad\n"
	    "KVCTL_ value stops every command but help (--help, -h, help [COMMAND],\n"
	    "COMMAND --help) and --version. Any other KVCTL_ variable (a typo) is\n"
	    "a warning on stderr, naming the nearest one kvctl reads.\n\n"
	    "Exit status: 0 ok, 1 not found, 2 usage, 3 no server reachable (each\n"
	    "server's error is named: refused, timed out, name does not resolve)\n"
	    "or timed out (hints drop: a member down or not answering), also\n"
	    "for hints (a member not answering: the list is partial), 4 other\n"
	    "client error (e.g. 412: a condition failed), 5 server error or\n"
	    "quorum failure, 6 aborted (a [y/N] question answered no).\n");
}

/*
 * The one usage error: "kvctl: MESSAGE" and where help is, on stderr.
 * cmd names the command whose own options were wrong ("bench", "verify"):
 * then it is "kvctl bench: MESSAGE" and 'kvctl bench --help'.  NULL for
 * kvctl's flags and command lines.  Returns EXIT_USAGE.
 */
static int __attribute__((format(printf, 2, 3)))
usage_error(const char *cmd, const char *fmt, ...)
{
	char who[32];
	va_list ap;

	snprintf(who, sizeof(who), "kvctl%s%s", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, "%s: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s: try '%s --help'\n", who, who);
	return EXIT_USAGE;
}

/*
 * Whether a command line holds as many arguments as its command takes:
 * least to most of args[0..nargs), the command word(s) counted.  0, or
 * EXIT_USAGE after the message: the first argument too many named
 * ("unexpected argument 'x'"), or, one missing, the usage.
 */
static int
args_fit(int nargs, char **args, int least, int most, const char *usage)
{
	if (nargs > most)
		return usage_error(NULL, "unexpected argument '%s' (usage: %s)",
		    args[most], usage);
	if (nargs < least)
		return usage_error(NULL, "usage: %s", usage);
	return 0;
}

/* The variables read_env() reads: any other KVCTL_ one is a typo. */
static const char *const env_names[] = {
	"KVCTL_SERVER", "KVCTL_TIMEOUT", "KVCTL_CONNECT_TIMEOUT", "KVCTL_RETRY",
	"KVCTL_CLUSTER_SECRET_FILE", "KVCTL_JSON", "KVCTL_QUIET", "KVCTL_VERBOSE"
};
#define NENV_NAMES	(sizeof(env_names) / sizeof(env_names[0]))

/*
 * What the environment got wrong, said once a command is to run (after
 * --help, -h, help and bench's or verify's --help had their chance).
 * A KVCTL_ variable kvctl does not read is a warning line each (none
 * with -q), naming the nearest one it does, or all of them: lib/opt
 * decides which, as for kvd's KVD_ ones.  A bad value (read_env() kept
 * its message) is EXIT_USAGE after the message.  0 otherwise.
 */
static int
env_check(const struct opts *o)
{
	extern char **environ;
	char **e;
	size_t n, i;
	int near;

	for (e = environ; *e != NULL && !o->quiet; e++) {
		if ((n = opt_env_unknown(*e, "KVCTL_", env_names,
		    NENV_NAMES)) == 0)
			continue;
		fprintf(stderr, "kvctl: warning: %.*s is not a kvctl variable "
		    "(ignored); ", (int)n, *e);
		if ((near = opt_nearest(*e, n, env_names, NENV_NAMES)) >= 0) {
			fprintf(stderr, "did you mean %s?\n", env_names[near]);
			continue;
		}
		fprintf(stderr, "kvctl reads");
		for (i = 0; i < NENV_NAMES; i++)
			fprintf(stderr, "%s %s", i ? "," : "", env_names[i]);
		fprintf(stderr, "\n");
	}
	if (o->env_error[0] != '\0')
		return usage_error(NULL, "%s", o->env_error);
	return 0;
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

/* Whether res's JSON error body has "code":code. */
static bool
error_code_is(const struct client_response *res, const char *code)
{
	struct json_tok toks[32];
	struct buf got = BUF_INIT;
	bool yes;
	int n, i;

	n = json_parse(res->body.data, res->body.len, toks, 32,
	    JSON_DEPTH_DEFAULT, NULL);
	if (n < 1 || toks[0].type != JSON_OBJECT ||
	    (i = json_object_get(res->body.data, toks, 0, "code")) < 0 ||
	    toks[i].type != JSON_STRING)
		return false;
	json_string_decode(res->body.data, &toks[i], &got);
	yes = strcmp(got.data, code) == 0;
	buf_free(&got);
	return yes;
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

/* The worse of two exit codes (a missing key, 1, is the mildest). */
static int
worse(int a, int b)
{
	if (a == EXIT_OK || (a == EXIT_NOTFOUND && b != EXIT_OK))
		return b;
	return b > a ? b : a;
}

/*
 * Why stdout first refused output (0: it has not), for output_written's
 * message: a command that flushed its output itself saw the error, and
 * the last flush at exit, with nothing left to write, sees none.
 */
static int stdout_errno;

/* fflush(stdout), keeping the first failure's errno in stdout_errno. */
static int
flush_stdout(void)
{
	errno = 0;
	if (fflush(stdout) == 0)
		return 0;
	if (stdout_errno == 0)
		stdout_errno = errno != 0 ? errno : EIO;
	return EOF;
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
 * One server's transport failure as a line for stderr: "HOST: name does
 * not resolve (...)" when its name did not resolve (the name is what to
 * fix), "URL: WHY" otherwise.
 */
static void
transport_error(const struct client_conn *c, int err, const char *url,
    size_t urllen, struct buf *out)
{
	char why[256];

	client_strerror(c, err, why, sizeof(why));
	if (err == ENXIO)
		buf_printf(out, "kvctl: %s: %s\n", c->host, why);
	else
		buf_printf(out, "kvctl: %.*s: %s\n", (int)urllen, url, why);
}

/* Whether res is the 503 of a node that has left the cluster ("left"). */
static bool
node_left(const struct client_response *res)
{
	return res->http.status == 503 && error_code_is(res, "left");
}

/*
 * Whether res is a 503 that only this node gives: it has left the
 * cluster ("code":"left") or is stopping ("shutting_down").  A member
 * would answer, so the next --server is asked rather than this one again.
 */
static bool
node_refuses(const struct client_response *res)
{
	return node_left(res) || (res->http.status == 503 &&
	    error_code_is(res, "shutting_down"));
}

/*
 * Failing over from a hung server.  A stopped kvd (SIGSTOP, a VM paused)
 * still has its connections accepted by the kernel, so --connect-timeout
 * never fires, and the request waited all of --timeout before the next
 * server was asked.  A deadline on the answer's first byte would cut off
 * a server that is only slow (a watch, a conditional write in contention,
 * a listing waiting on a peer), and sending a write to the next server
 * while the first still works on it is what failover must not do more
 * often than it must.  So the server is asked instead: once no byte of
 * the answer has come FAILOVER_CHECK_MS after the request, kvctl sends
 * GET /health on a new connection (lib/client's stalled check); a server
 * that answers that, whatever it says, is working and is waited for (the
 * check is repeated after 2 s, 4 s, ...), one that does not answer it
 * within ALIVE_PROBE_MS (--connect-timeout when shorter) is taken as hung
 * and the next server is asked: about 3 s, not 10.  Only while another
 * server follows in --server: the last is waited for to the deadline.
 * A stopped kvd does not serve, once it runs again, a request whose
 * client left meanwhile (README, "What kvd promises").
 */
#define FAILOVER_CHECK_MS	1000
#define ALIVE_PROBE_MS		2000

/*
 * client_conn's stalled check: GET /health on a connection of its own.
 * NULL (keep waiting) when it answers, whatever it says.
 */
static const char *
server_stalled(const struct client_conn *c, void *arg)
{
	const struct opts *o = arg;
	struct client_conn probe;
	struct client_response res;
	int ms = o->connect_timeout_ms < ALIVE_PROBE_MS ?
	    o->connect_timeout_ms : ALIVE_PROBE_MS;
	bool yes;

	if (client_init(&probe, c->host, c->port, ms) != 0)
		return NULL;	/* cannot tell: wait, as without the check */
	client_response_init(&res);
	yes = client_do(&probe, "GET", "/health", NULL, NULL, 0, NULL, ms,
	    &res) == 0;
	client_response_free(&res);
	client_close(&probe);
	if (!yes && o->verbose && !o->quiet)
		fprintf(stderr, "kvctl: %s:%s: no answer begun after %d ms, and "
		    "its /health did not answer in %d ms: the next server\n",
		    c->host, c->port, FAILOVER_CHECK_MS, ms);
	return yes ? NULL : "hung: no answer begun, and /health on a new "
	    "connection did not answer either";
}

/* Arms c's stalled check: another server follows it. */
static void
failover_check(struct client_conn *c, const struct opts *o)
{
	c->stalled = server_stalled;
	c->stalled_arg = (void *)(uintptr_t)o;
	c->stalled_after_ms = FAILOVER_CHECK_MS;
}

/*
 * Which server a request asks.  Every request of a command takes its
 * servers in the order servers_order() gives (lib/servers): --server's
 * own (a load worker's from the server it started at), except that one
 * which failed earlier in this command comes after every other.  A
 * server fails when it refuses or drops the connection, hangs
 * (failover_check), its name does not resolve, it says it has left or
 * is stopping (node_refuses), or it answers as no kvd does
 * (servers_not_kvd).  A hung server costs about 3 s; a listing of many
 * pages, a delete --prefix, a load's every batch paid that on each
 * request, and now pay it once.  A failed server is still asked when
 * every other fails, in its turn at the end, and one that answers then
 * is no longer taken as failed.  verify and bench keep the same record,
 * and ask a failed server again once its pause has run out (lib/servers'
 * retry rule: 1 s, doubling, at most 8 s); the commands here, whose
 * requests follow each other within seconds, keep it last
 * (SERVERS_FAILED_LAST).
 */

/*
 * Whether a request with the extra header lines extra asks for a value's
 * raw bytes, which kvd answers application/octet-stream (servers_not_kvd
 * takes that type then).
 */
static bool
asks_raw(const char *extra)
{
	return extra != NULL &&
	    strstr(extra, "Accept: application/octet-stream") != NULL;
}

/* One --server entry as written, for messages: url[0..len). */
struct server_text {
	const char	*url;
	size_t		 len;
};

/*
 * o->servers for request_why: *srv (host and port), *text (as written)
 * and *order (room for servers_order), n of each, malloc'd; empty
 * entries are skipped.  n >= 1, or -1 after a message (a bad URL, none
 * given, out of memory).
 */
static int
server_list(const struct opts *o, struct client_server **srv,
    struct server_text **text, int **order)
{
	const char *p = o->servers, *comma;
	size_t len;
	int n = 1, got = 0;

	for (comma = p; (comma = strchr(comma, ',')) != NULL; comma++)
		n++;
	*srv = calloc((size_t)n, sizeof(**srv));
	*text = calloc((size_t)n, sizeof(**text));
	*order = calloc((size_t)n, sizeof(**order));
	if (*srv == NULL || *text == NULL || *order == NULL) {
		if (!o->quiet)
			fprintf(stderr, "kvctl: %s\n", strerror(ENOMEM));
		goto fail;
	}
	for (;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len > 0 && client_parse_url(p, len, (*srv)[got].host,
		    sizeof((*srv)[got].host), (*srv)[got].port,
		    sizeof((*srv)[got].port)) != 0) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: bad server URL '%.*s' "
				    "(want http://HOST:PORT)\n", (int)len, p);
			goto fail;
		}
		if (len > 0) {
			(*text)[got].url = p;
			(*text)[got++].len = len;
		}
		if (comma == NULL)
			break;
	}
	if (got > 0)
		return got;
	if (!o->quiet)
		fprintf(stderr, "kvctl: no server given (--server)\n");
fail:
	free(*srv);
	free(*text);
	free(*order);
	*srv = NULL;
	*text = NULL;
	*order = NULL;
	return -1;
}

/*
 * Sends the request to each server in turn (servers_order: one that
 * failed earlier in this run after the others) until one answers; with
 * --retry, a round in which no server answered, or one that ended in a
 * 503, is repeated after a growing pause.  A 503 of a node that has left
 * the cluster or is stopping (node_refuses) counts as that server
 * failing when another follows it: the next one is asked.  So does an
 * answer no kvd gives (servers_not_kvd: some other HTTP server at that
 * address), wherever the server stands.  A server that fails before
 * another answers is named on stderr only with -v; when none answers,
 * each one's failure (of the last round) is named, then "no server
 * reachable".  Returns 0 with res filled, or EXIT_USAGE /
 * EXIT_UNREACHABLE after a message.  When none answers and why is not
 * NULL, each one's failure is appended to it too, a line each (for a
 * caller that runs with -q's quiet and says it its own way: watch).
 */
static int
request_why(const struct opts *o, const char *method, const char *target,
    const char *ctype, const void *body, size_t blen, const char *extra,
    struct client_response *res, struct buf *why)
{
	struct client_server *srv, *s;
	struct server_text *text;
	struct client_conn c;
	struct buf failed = BUF_INIT;	/* this round's failures */
	struct buf msg = BUF_INIT;
	char foreign[192];
	size_t at;
	int *order, n, k, attempt, saved = ECONNREFUSED, pause_ms = 100;
	int rc = EXIT_UNREACHABLE;
	bool answered = false, last;

	if ((n = server_list(o, &srv, &text, &order)) < 0)
		return EXIT_USAGE;
	for (attempt = 0; attempt <= o->retries; attempt++) {
		if (attempt > 0) {
			/* Why a round of --retry is repeated: none answered. */
			if (!o->quiet && !o->verbose && !answered &&
			    failed.len > 0)
				fwrite(failed.data, 1, failed.len, stderr);
			if (!o->quiet)
				fprintf(stderr, "kvctl: retrying in %d ms\n",
				    pause_ms);
			poll(NULL, 0, pause_ms);
			pause_ms = pause_ms < 3200 ? pause_ms * 2 : pause_ms;
		}
		buf_reset(&failed);
		answered = false;
		servers_order(srv, n, 0, SERVERS_FAILED_LAST, order);
		for (k = 0; k < n; k++) {
			s = &srv[order[k]];
			last = k == n - 1;
			if (o->verbose)
				trace_request(s->host, s->port, method, target,
				    ctype, blen, extra);
			client_init(&c, s->host, s->port, o->connect_timeout_ms);
			if (!last)
				failover_check(&c, o);
			if (client_do(&c, method, target, ctype, body, blen,
			    extra, o->timeout_ms, res) != 0) {
				saved = errno;
				at = failed.len;
				transport_error(&c, saved, text[order[k]].url,
				    text[order[k]].len, &failed);
				client_close(&c);
				servers_failed(s, NULL);
				if (o->verbose && !o->quiet)	/* now, in the trace */
					fputs(failed.data + at, stderr);
				continue;
			}
			client_close(&c);
			if (o->verbose)
				trace_response(res);
			at = failed.len;
			if (servers_not_kvd(res, asks_raw(extra), foreign,
			    sizeof(foreign)) != NULL) {
				buf_printf(&failed, "kvctl: %s:%s is not a kvd server "
				    "(%s)\n", s->host, s->port, foreign);
				saved = EPROTO;
			} else if (node_refuses(res) && !last) {
				error_message(res, &msg);
				buf_printf(&failed, "kvctl: %.*s: %d %s\n",
				    (int)text[order[k]].len, text[order[k]].url,
				    res->http.status, msg.data);
				buf_reset(&msg);
			}
			if (failed.len > at) {	/* it failed: the next one */
				servers_failed(s, NULL);
				if (o->verbose && !o->quiet)
					fputs(failed.data + at, stderr);
				client_response_free(res);
				client_response_init(res);
				continue;
			}
			if (node_refuses(res))	/* the last: its answer */
				servers_failed(s, NULL);
			else
				servers_answered(s);
			if (res->http.status != 503 || attempt == o->retries) {
				rc = 0;
				goto out;
			}
			answered = true;
			break;	/* a 503: retry the round */
		}
	}
	if (!o->quiet && !o->verbose && failed.len > 0)
		fwrite(failed.data, 1, failed.len, stderr);
	if (!o->quiet)
		fprintf(stderr, "kvctl: no server reachable\n");
	if (why != NULL)
		buf_append(why, failed.data, failed.len);
	errno = saved;		/* the last server's failure, for the caller */
out:
	buf_free(&failed);
	buf_free(&msg);
	free(srv);
	free(text);
	free(order);
	return rc;
}

static int
request(const struct opts *o, const char *method, const char *target,
    const char *ctype, const void *body, size_t blen, const char *extra,
    struct client_response *res)
{
	return request_why(o, method, target, ctype, body, blen, extra, res,
	    NULL);
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

/* Says (unless --quiet) that what's answer is malformed; EXIT_SERVER. */
static int
malformed(const struct opts *o, const char *what)
{
	if (!o->quiet)
		fprintf(stderr, "kvctl: %s: malformed answer\n", what);
	return EXIT_SERVER;
}

/* /kv/KEY, with ?r= (and ?w= for a write) when --r / --w were given. */
static void
key_target(const struct opts *o, const char *key, bool write, struct buf *out)
{
	char sep = '?';

	buf_puts(out, "/kv/");
	http_percent_encode(key, strlen(key), out);
	if (!write && o->serial) {
		buf_puts(out, "?serial=1");
		return;
	}
	if (o->r != NULL) {
		buf_printf(out, "%cr=%s", sep, o->r);
		sep = '&';
	}
	if (write && o->w != NULL) {
		buf_printf(out, "%cw=%s", sep, o->w);
		sep = '&';
	}
	if (write && o->ttl != NULL)
		buf_printf(out, "%cttl=%s", sep, o->ttl);
}

/* A quorum flag's value: 1..64, one, quorum or all. */
static bool
quorum_ok(const char *v)
{
	char *end;
	long n;

	if (strcmp(v, "one") == 0 || strcmp(v, "quorum") == 0 ||
	    strcmp(v, "all") == 0)
		return true;
	n = strtol(v, &end, 10);
	return *v >= '1' && *v <= '9' && *end == '\0' && n >= 1 && n <= 64;
}

#define TTL_MAX_S	315360000	/* kvd's longest TTL: ten years */

/* A --ttl value: whole seconds from 1 to TTL_MAX_S, digits only. */
static bool
ttl_ok(const char *v)
{
	char *end;
	long long n;

	n = strtoll(v, &end, 10);
	return *v >= '1' && *v <= '9' && *end == '\0' && n >= 1 &&
	    n <= TTL_MAX_S;
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

/*
 * A value argument: the bytes of - (stdin), of @FILE's file, or of the
 * argument itself.  As with curl, @ names a file; unlike curl, @@ escapes
 * it: "@@TEXT" is the literal value "@TEXT" (so "@@" alone is "@"), and
 * "@" alone, with no file name, is an error.  0, or EXIT_USAGE after a
 * message.
 */
static int
read_value(const struct opts *o, const char *arg, struct buf *value)
{
	int fd;

	if (arg[0] == '@' && arg[1] == '@') {
		buf_puts(value, arg + 1);
	} else if (strcmp(arg, "@") == 0) {
		if (!o->quiet)
			fprintf(stderr, "kvctl: '@' needs a file name (@FILE); "
			    "for a value that starts with '@', double it: '@@' "
			    "stores \"@\", '@@x' stores \"@x\"\n");
		return EXIT_USAGE;
	} else if (strcmp(arg, "-") == 0) {
		if (read_all(STDIN_FILENO, value) != 0) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: reading stdin: %s\n",
				    strerror(errno));
			return EXIT_USAGE;
		}
	} else if (arg[0] == '@') {
		fd = open(arg + 1, O_RDONLY);
		if (fd < 0 || read_all(fd, value) != 0) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: the value %s reads the "
				    "file %s: %s (for a value that starts with "
				    "'@', double it: '@@x' stores \"@x\")\n",
				    arg, arg + 1, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EXIT_USAGE;
		}
		close(fd);
	} else
		buf_puts(value, arg);
	return 0;
}

/*
 * The condition header of a write (--if-match, --create) into out, which
 * stays empty without one.  An ETag is sent quoted, as kvd gives it
 * (quotes are added when it has none, a weak one's W/ kept in front);
 * * stands for any version.
 */
static void
condition_header(const struct opts *o, struct buf *out)
{
	const char *e = o->if_match, *weak = "";

	if (o->create)
		buf_puts(out, "If-None-Match: *\r\n");
	else if (e != NULL && strcmp(e, "*") == 0)
		buf_puts(out, "If-Match: *\r\n");
	else if (e != NULL) {
		if (strncmp(e, "W/", 2) == 0) {
			weak = "W/";
			e += 2;
		}
		buf_printf(out, "If-Match: %s%s%s%s\r\n", weak,
		    e[0] == '"' ? "" : "\"", e, e[0] == '"' ? "" : "\"");
	}
}

static int
cmd_put(const struct opts *o, const char *key, const char *arg)
{
	struct client_response res;
	struct buf target = BUF_INIT, value = BUF_INIT, cond = BUF_INIT;
	int rc;

	if ((rc = read_value(o, arg, &value)) != 0)
		goto out;
	key_target(o, key, true, &target);
	condition_header(o, &cond);
	client_response_init(&res);
	rc = request(o, "PUT", target.data, "application/octet-stream",
	    value.data, value.len, cond.len ? cond.data : NULL, &res);
	if (rc == 0 && o->create && res.http.status == 412) {
		/* If-None-Match: * fails only on a key that exists. */
		if (o->json)
			fwrite(res.body.data, 1, res.body.len, stdout);
		if (!o->quiet)
			fprintf(stderr, "kvctl: put: 412 key '%s' exists already "
			    "(--create writes only a key that does not)\n", key);
		rc = EXIT_CLIENT;
	} else if (rc == 0)
		rc = report(o, &res, "put");
	client_response_free(&res);
out:
	buf_free(&target);
	buf_free(&value);
	buf_free(&cond);
	return rc;
}

#define WATCH_POLL_S	60	/* one long poll; the server holds it */

/*
 * Says why a watch lost its server, on one line: each server's failure
 * (why holds request_why's "kvctl: URL: ERROR" lines), or the 5xx.
 */
static void
watch_outage(int rc, const struct client_response *res, const struct buf *why)
{
	struct buf line = BUF_INIT;
	const char *p, *nl;

	if (rc == 0) {
		error_message(res, &line);
		fprintf(stderr, "kvctl: watch: %d %s; retrying\n",
		    res->http.status, line.data);
		buf_free(&line);
		return;
	}
	for (p = why->data; *p != '\0'; p = *nl ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if (strncmp(p, "kvctl: ", 7) == 0)
			p += 7;
		buf_printf(&line, "%s%.*s", line.len ? "; " : "", (int)(nl - p),
		    p);
	}
	fprintf(stderr, "kvctl: watch: %s; retrying\n", line.len ? line.data :
	    "no server reachable");
	buf_free(&line);
}

/* watch --json's line for a delete: keyed as delete --json's. */
static void
watch_deleted_json(const char *key)
{
	struct buf line = BUF_INIT;

	buf_puts(&line, "{\"key\":");
	json_emit_string(&line, key, strlen(key));
	buf_puts(&line, ",\"deleted\":true}\n");
	fwrite(line.data, 1, line.len, stdout);
	buf_free(&line);
}

/*
 * kvctl watch KEY: prints the value, then each new value (or "deleted")
 * on its own line as it changes, until interrupted: a loop of GET
 * ?wait=ETAG long polls.  A server that cannot be reached or answers 5xx
 * is tried again after a pause (a watch outlives a node's restart); only
 * a usage error, a 4xx or a node that left the cluster (503 "left": it
 * serves no key again, so exit 5 with its message, which says to ask a
 * member; a member after it in --server is asked first) ends it.  An
 * outage is said once on stderr,
 * "kvctl: watch: WHY; retrying", and its end "kvctl: watch: reconnected"
 * (neither with -q).  With --json each change is one line of JSON.
 */
static int
cmd_watch(const struct opts *o, const char *key)
{
	struct client_response res;
	struct buf target = BUF_INIT, etag = BUF_INIT, why = BUF_INIT;
	struct opts lo = *o;
	char hv[256];
	int rc, pause_ms = 200;
	bool first = true, outage = false;

	lo.timeout_ms = (WATCH_POLL_S + 15) * 1000;
	lo.quiet = true;
	for (;;) {
		buf_reset(&target);
		key_target(o, key, false, &target);
		if (!first) {
			buf_printf(&target, "%cwait=%s&timeout=%d", o->r != NULL ?
			    '&' : '?', etag.data, WATCH_POLL_S);
		}
		client_response_init(&res);
		buf_reset(&why);
		rc = request_why(&lo, "GET", target.data, NULL, NULL, 0,
		    o->json ? NULL : "Accept: application/octet-stream\r\n",
		    &res, &why);
		if (rc == EXIT_USAGE) {
			client_response_free(&res);
			break;
		}
		if (rc == 0 && node_left(&res)) {
			rc = report(o, &res, "watch");	/* it says: ask a member */
			client_response_free(&res);
			break;
		}
		if (rc != 0 || res.http.status >= 500) {
			if (!outage && !o->quiet)
				watch_outage(rc, &res, &why);
			outage = true;
			client_response_free(&res);
			poll(NULL, 0, pause_ms);
			pause_ms = pause_ms < 3200 ? pause_ms * 2 : pause_ms;
			continue;
		}
		if (outage && !o->quiet)
			fprintf(stderr, "kvctl: watch: reconnected\n");
		outage = false;
		pause_ms = 200;
		if (res.http.status == 200) {
			/* --json: the server's one-line answer, as get's. */
			fwrite(res.body.data, 1, res.body.len - (o->json &&
			    res.body.len > 0 && res.body.data[res.body.len - 1] ==
			    '\n'), stdout);
			putchar('\n');
			buf_reset(&etag);
			if (client_header(&res, "ETag", hv, sizeof(hv)) != NULL)
				buf_append(&etag, hv + (hv[0] == '"'),
				    strlen(hv) - (hv[0] == '"') * 2);
		} else if (res.http.status == 404) {
			if (!first || etag.len > 0) {
				if (o->json)
					watch_deleted_json(key);
				else
					puts("deleted");
			}
			buf_reset(&etag);
		} else if (res.http.status != 304) {
			rc = report(o, &res, "watch");
			client_response_free(&res);
			break;
		}
		flush_stdout();
		first = false;
		client_response_free(&res);
	}
	buf_free(&target);
	buf_free(&etag);
	buf_free(&why);
	return rc;
}

/* ?r=&w= of a batch, from --r and --w. */
static void
batch_target(const struct opts *o, struct buf *out)
{
	buf_puts(out, "/batch");
	if (o->r != NULL)
		buf_printf(out, "?r=%s", o->r);
	if (o->w != NULL)
		buf_printf(out, "%cw=%s", o->r != NULL ? '&' : '?', o->w);
}

/*
 * Parses a POST /batch answer, {"results":[...]}, into *toks (the caller
 * frees it).  The index of the results array, or -1 when malformed.
 */
static int
batch_results(const struct client_response *res, struct json_tok **toks)
{
	int arr;

	if (json_parse_alloc(res->body.data, res->body.len, toks) < 1 ||
	    (arr = json_object_get(res->body.data, *toks, 0, "results")) < 0 ||
	    (*toks)[arr].type != JSON_ARRAY)
		return -1;
	return arr;
}

/*
 * Which op of a batch of n the server refused it whole for (res, a
 * 400).  It checks every op before it runs any and answers the first
 * bad one with {"error":"op N: WHY",...,"op":N} (api.c's handle_batch).
 * True, with *at = N and why = WHY, when res names an op sent; false for
 * any other 400 (a bad ?w=, too many ops), which names none.
 */
static bool
batch_bad_op(const struct client_response *res, size_t n, size_t *at,
    struct buf *why)
{
	struct json_tok toks[32];
	uint64_t v;
	size_t len;
	int i;

	if (res->http.status != 400 || json_parse(res->body.data,
	    res->body.len, toks, 32, JSON_DEPTH_DEFAULT, NULL) <= 0 ||
	    toks[0].type != JSON_OBJECT ||
	    (i = json_object_get(res->body.data, toks, 0, "op")) < 0 ||
	    json_get_u64(res->body.data, &toks[i], &v) != 0 || v >= n)
		return false;
	*at = (size_t)v;
	buf_reset(why);
	error_message(res, why);
	if (strncmp(why->data, "op ", 3) == 0 &&
	    (len = strspn(why->data + 3, "0123456789")) > 0 &&
	    strncmp(why->data + 3 + len, ": ", 2) == 0)
		buf_consume(why, 3 + len + 2);
	return true;
}

/* The "status" of batch result e, or 0 when it has none. */
static uint64_t
result_status(const char *body, const struct json_tok *toks, int e)
{
	uint64_t status = 0;
	int f;

	if ((f = json_object_get(body, toks, e, "status")) >= 0)
		json_get_u64(body, &toks[f], &status);
	return status;
}

/*
 * kvctl mget.  The keys go in requests of at most MGET_BATCH_BYTES of
 * ops (one the server refuses 413 is halved), and the gets an answer had
 * no room for (413 answer_full: a node answers 8 MiB of values at most)
 * are asked again, so every key gets its own result however big the
 * values.  Results come out in the keys' order, each as soon as those
 * before it are out: a value found, its bytes and a newline; a key
 * without one (missing, or its read failed) an empty line, so that line
 * i is key i's, and the failure on stderr.  --json prints one {"results":[...]} in key order, the
 * server's objects as they came (byte for byte its answer when one
 * request carried everything).  The exit code is the worst of the ops'
 * (a missing key is 1), with --json too, as get's is.
 */
#define MGET_BATCH_BYTES (256 * 1024)

struct mget {
	const struct opts *o;
	char		**keys;
	int		 n;
	struct buf	*raw;		/* each key's result object, once it came */
	int		 next;		/* the first key not printed yet */
	int		 worst;
	bool		 opened;	/* --json: "{"results":[" is out */
};

/* Prints result object r (one of the batch's), as the command says. */
static void
mget_show(struct mget *m, const struct buf *r)
{
	struct json_tok *toks = NULL;
	struct buf key = BUF_INIT, val = BUF_INIT, msg = BUF_INIT;
	uint64_t status;
	int f;

	if (m->o->json) {
		fputs(m->opened ? "," : "{\"results\":[", stdout);
		m->opened = true;
		fwrite(r->data, 1, r->len, stdout);
	}
	if (json_parse_alloc(r->data, r->len, &toks) < 1) {
		if (!m->o->json)
			putchar('\n');
		m->worst = worse(m->worst, malformed(m->o, "batch"));
		goto out;
	}
	if ((f = json_object_get(r->data, toks, 0, "key")) >= 0)
		json_string_decode(r->data, &toks[f], &key);
	status = result_status(r->data, toks, 0);
	if (status >= 200 && status < 300) {
		if (m->o->json)
			goto out;
		if ((f = json_object_get(r->data, toks, 0, "value")) >= 0)
			json_string_decode(r->data, &toks[f], &val);
		else if ((f = json_object_get(r->data, toks, 0,
		    "value_b64")) >= 0)
			base64_decode(r->data + toks[f].start,
			    toks[f].end - toks[f].start, &val);
		fwrite(val.data, 1, val.len, stdout);
		putchar('\n');
		goto out;
	}
	/* An empty line for a key without a value: line i is key i's. */
	if (!m->o->json)
		putchar('\n');
	if ((f = json_object_get(r->data, toks, 0, "error")) >= 0)
		json_string_decode(r->data, &toks[f], &msg);
	if (!m->o->quiet)
		fprintf(stderr, "kvctl: %s: %d %s\n", key.data, (int)status,
		    msg.data);
	m->worst = worse(m->worst, exit_for_status((int)status));
out:
	free(toks);
	buf_free(&key);
	buf_free(&val);
	buf_free(&msg);
}

/* Prints the results that are next in order, and frees them. */
static void
mget_flush(struct mget *m)
{
	while (m->next < m->n && m->raw[m->next].len > 0) {
		mget_show(m, &m->raw[m->next]);
		buf_free(&m->raw[m->next++]);
	}
}

/*
 * Asks for keys idx[0..n) in one POST /batch (halved on a 413), again for
 * those the answer had no room for.  0, or the exit code of a request
 * that failed (reported).  idx[0..n) may be left in another order.
 */
static int
mget_ask(struct mget *m, int *idx, int n)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct buf ops = BUF_INIT, target = BUF_INIT, code = BUF_INIT;
	int rc, arr, k, t, f, again = 0;

	buf_puts(&ops, "{\"ops\":[");
	for (k = 0; k < n; k++) {
		buf_puts(&ops, k ? ",{\"op\":\"get\",\"key\":" :
		    "{\"op\":\"get\",\"key\":");
		json_emit_string(&ops, m->keys[idx[k]], strlen(m->keys[idx[k]]));
		buf_putc(&ops, '}');
	}
	buf_puts(&ops, "]}");
	batch_target(m->o, &target);
	client_response_init(&res);
	if ((rc = request(m->o, "POST", target.data, "application/json",
	    ops.data, ops.len, NULL, &res)) != 0)
		goto out;
	if (res.http.status == 413 && n > 1) {
		client_response_free(&res);
		client_response_init(&res);
		if ((rc = mget_ask(m, idx, n / 2)) == 0)
			rc = mget_ask(m, idx + n / 2, n - n / 2);
		goto out;
	}
	if (res.http.status != 200) {
		rc = report(m->o, &res, "batch");
		goto out;
	}
	if ((arr = batch_results(&res, &toks)) < 0 || toks[arr].size != n) {
		rc = malformed(m->o, "batch");
		goto out;
	}
	for (k = 0, t = arr + 1; k < n; k++, t = toks[t].next) {
		buf_reset(&code);
		if ((f = json_object_get(res.body.data, toks, t, "code")) >= 0)
			json_string_decode(res.body.data, &toks[f], &code);
		if (result_status(res.body.data, toks, t) == 413 && code.len ==
		    11 && memcmp(code.data, "answer_full", 11) == 0) {
			idx[again++] = idx[k];
			continue;
		}
		buf_append(&m->raw[idx[k]], res.body.data + toks[t].start,
		    (size_t)(toks[t].end - toks[t].start));
	}
	/* What is asked again is asked with this answer freed. */
	free(toks);
	toks = NULL;
	client_response_free(&res);
	client_response_init(&res);
	mget_flush(m);
	if (again == n)		/* a node answers one value at least */
		rc = malformed(m->o, "batch");
	else if (again > 0)
		rc = mget_ask(m, idx, again);
out:
	free(toks);
	client_response_free(&res);
	buf_free(&ops);
	buf_free(&target);
	buf_free(&code);
	return rc;
}

static int
cmd_mget(const struct opts *o, int n, char **keys)
{
	struct mget m;
	int *idx, i, from, rc = 0;
	size_t bytes, op;

	memset(&m, 0, sizeof(m));
	m.o = o;
	m.keys = keys;
	m.n = n;
	m.raw = calloc((size_t)n, sizeof(*m.raw));
	idx = calloc((size_t)n, sizeof(*idx));
	if (m.raw == NULL || idx == NULL) {
		free(m.raw);
		free(idx);
		return EXIT_CLIENT;
	}
	for (i = 0; i < n; i++) {
		idx[i] = i;
		buf_init(&m.raw[i]);
	}
	/* Requests of MGET_BATCH_BYTES (a key escaped takes 6 bytes at most). */
	for (from = 0, i = 0, bytes = 0; i < n && rc == 0; i++) {
		op = 6 * strlen(keys[i]) + 32;
		if (i > from && bytes + op > MGET_BATCH_BYTES) {
			rc = mget_ask(&m, idx + from, i - from);
			from = i;
			bytes = 0;
		}
		bytes += op;
	}
	if (rc == 0 && from < n)
		rc = mget_ask(&m, idx + from, n - from);
	if (m.opened)
		fputs("]}\n", stdout);
	if (flush_stdout() != 0)
		rc = worse(rc, EXIT_CLIENT);
	for (i = 0; i < n; i++)
		buf_free(&m.raw[i]);
	free(m.raw);
	free(idx);
	return rc != 0 ? rc : m.worst;
}

/* The last '}' of a JSON body, or NULL. */
static char *
memrchr_brace(char *p, size_t n)
{
	while (n > 0)
		if (p[--n] == '}')
			return p + n;
	return NULL;
}

static int
cmd_get(const struct opts *o, const char *key)
{
	struct client_response res;
	struct buf target = BUF_INIT;
	char tag[512], *end;
	size_t len;
	int rc;

	key_target(o, key, false, &target);
	client_response_init(&res);
	rc = request(o, "GET", target.data, NULL, NULL, 0,
	    o->json ? NULL : "Accept: application/octet-stream\r\n", &res);
	if (rc == 0 && res.http.status == 200 && o->etag &&
	    client_header(&res, "ETag", tag, sizeof(tag)) != NULL) {
		/* The bare token: what --if-match takes back. */
		len = strlen(tag);
		if (len >= 2 && tag[0] == '"' && tag[len - 1] == '"') {
			memmove(tag, tag + 1, len - 2);
			tag[len - 2] = '\0';
		}
		if (o->json && res.body.len >= 2 &&
		    (end = memrchr_brace(res.body.data, res.body.len)) != NULL) {
			res.body.len = (size_t)(end - res.body.data);
			buf_puts(&res.body, ",\"etag\":");
			json_emit_string(&res.body, tag, strlen(tag));
			buf_puts(&res.body, "}\n");
		} else if (!o->json)
			fprintf(stderr, "%s\n", tag);
	}
	if (rc == 0 && res.http.status == 200) {
		fwrite(res.body.data, 1, res.body.len, stdout);
		if (isatty(STDOUT_FILENO) && !o->json)
			putchar('\n');
		rc = flush_stdout() == 0 ? EXIT_OK : EXIT_CLIENT;
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
	struct client_response res;
	struct buf target = BUF_INIT, cond = BUF_INIT;
	int rc;

	key_target(o, key, true, &target);
	condition_header(o, &cond);
	client_response_init(&res);
	rc = request(o, "DELETE", target.data, NULL, NULL, 0,
	    cond.len ? cond.data : NULL, &res);
	if (rc == 0 && o->json && res.http.status / 100 == 2 &&
	    res.body.len == 0) {
		/* 204 has no body: say what happened, keyed as put's answer is. */
		buf_puts(&res.body, "{\"key\":");
		json_emit_string(&res.body, key, strlen(key));
		buf_puts(&res.body, ",\"deleted\":true}\n");
	}
	if (rc == 0)
		rc = report(o, &res, "delete");
	client_response_free(&res);
	buf_free(&target);
	buf_free(&cond);
	return rc;
}

#define INCR_TRIES	100

/* Reads all of s (an optional '-', then digits) as an int64.  0 or -1. */
static int
parse_int64(const char *s, size_t n, int64_t *out)
{
	uint64_t u = 0, lim;
	size_t i = 0;
	bool neg = n > 0 && s[0] == '-';

	i = neg;
	if (i == n)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    u > (lim - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		u = u * 10 + (uint64_t)(s[i] - '0');
	}
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/*
 * kvctl incr KEY [N]: a compare-and-swap loop.  Each try reads the key
 * through consensus (GET ?serial=1) and writes value + N with If-Match
 * (If-None-Match: * while it is absent); a 412 means another writer got
 * there first, so it reads again, after a short random pause.  A write
 * answered 503 (or not at all) may or may not have been applied, and is
 * never repeated: the answer is exit 5.  Prints the new value.
 * The write keeps the key's TTL: a PUT takes only seconds (?ttl=), so
 * the time X-Kvd-Expires leaves on this process's clock, rounded up
 * (never shorter, up to a second longer), at least 1; --ttl S sets S.
 */
static int
cmd_incr(const struct opts *o, const char *key, int64_t delta)
{
	struct client_response res;
	struct opts once = *o;
	struct buf target = BUF_INIT, put = BUF_INIT, hdr = BUF_INIT,
	    val = BUF_INIT, wt = BUF_INIT;
	char tag[512], xe[32];
	int64_t cur, next, expires, left;
	int rc = EXIT_CLIENT, tries;
	uint64_t rng = (uint64_t)getpid() * 2654435761u + (uint64_t)time(NULL);

	once.retries = 0;	/* a write's 503 is never repeated */
	buf_puts(&target, "/kv/");
	http_percent_encode(key, strlen(key), &target);
	buf_append(&put, target.data, target.len);
	if (o->w != NULL)
		buf_printf(&put, "?w=%s", o->w);
	buf_puts(&target, "?serial=1");
	for (tries = 0; tries < INCR_TRIES; tries++) {
		client_response_init(&res);
		if ((rc = request(o, "GET", target.data, NULL, NULL, 0,
		    "Accept: application/octet-stream\r\n", &res)) != 0)
			goto next;
		buf_reset(&hdr);
		if (res.http.status == 404) {
			cur = 0;
			buf_puts(&hdr, "If-None-Match: *\r\n");
		} else if (res.http.status == 200 &&
		    client_header(&res, "ETag", tag, sizeof(tag)) != NULL) {
			if (parse_int64(res.body.data, res.body.len, &cur) != 0) {
				if (!o->quiet)
					fprintf(stderr, "kvctl: incr: %s holds a value "
					    "that is not an integer\n", key);
				rc = EXIT_CLIENT;
				goto next;
			}
			buf_printf(&hdr, "If-Match: %s\r\n", tag);
		} else {
			rc = report(o, &res, "incr");
			goto next;
		}
		buf_reset(&wt);
		buf_append(&wt, put.data, put.len);
		if (o->ttl != NULL)
			buf_printf(&wt, "%cttl=%s", o->w != NULL ? '&' : '?', o->ttl);
		else if (res.http.status == 200 && client_header(&res,
		    "X-Kvd-Expires", xe, sizeof(xe)) != NULL &&
		    parse_int64(xe, strlen(xe), &expires) == 0) {
			/* Live for the server: at least 1 s, whatever our clock. */
			left = (expires - clock_wall_ms() + 999) / 1000;
			buf_printf(&wt, "%cttl=%" PRId64, o->w != NULL ? '&' : '?',
			    left > 0 ? left : 1);
		}
		if ((delta > 0 && cur > INT64_MAX - delta) ||
		    (delta < 0 && cur < INT64_MIN - delta)) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: incr: %s + %lld would "
				    "overflow\n", key, (long long)delta);
			rc = EXIT_CLIENT;
			goto next;
		}
		next = cur + delta;
		buf_reset(&val);
		buf_printf(&val, "%lld", (long long)next);
		client_response_free(&res);
		client_response_init(&res);
		if ((rc = request(&once, "PUT", wt.data,
		    "application/octet-stream", val.data, val.len, hdr.data,
		    &res)) != 0)
			goto next;
		if (res.http.status == 412) {
			client_response_free(&res);
			poll(NULL, 0, (int)(rng_next(&rng) % (5u << (tries < 5 ?
			    tries : 5))));
			continue;
		}
		if (res.http.status / 100 == 2) {
			/* --json: the write's answer, with the new value. */
			if (o->json && res.body.len > 0 && res.body.data[0] == '{')
				printf("{\"value\":\"%s\",%.*s", val.data,
				    (int)res.body.len - 1, res.body.data + 1);
			else if (o->json)
				fwrite(res.body.data, 1, res.body.len, stdout);
			else
				printf("%s\n", val.data);
			rc = flush_stdout() == 0 ? EXIT_OK : EXIT_CLIENT;
		} else {
			rc = report(o, &res, "incr");
			if (res.http.status >= 500 && !o->quiet)
				fprintf(stderr, "kvctl: incr: the increment may or "
				    "may not have been applied; it is not retried\n");
		}
next:
		client_response_free(&res);
		break;
	}
	if (tries == INCR_TRIES) {
		if (!o->quiet)
			fprintf(stderr, "kvctl: incr: gave up after %d tries: %s "
			    "kept changing\n", INCR_TRIES, key);
		rc = EXIT_CLIENT;
	}
	buf_free(&target);
	buf_free(&put);
	buf_free(&hdr);
	buf_free(&val);
	buf_free(&wt);
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
 * --cluster-secret-file's secret, which signs the calls a cluster with a
 * secret refuses unsigned (/admin/, membership changes): loaded by
 * load_admin_auth before any call.
 */
static struct auth *admin_auth;

/*
 * Loads the secret, when one was given, once: one that cannot be read
 * stops the command before any call (no answer would be right).  0, or
 * -1 after the message.
 */
static int
load_admin_auth(const struct opts *o)
{
	char err[256];

	if (o->secret_file == NULL || admin_auth != NULL)
		return 0;
	if (auth_load(&admin_auth, o->secret_file, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "kvctl: %s: %s\n", o->secret_env ?
	    "KVCTL_CLUSTER_SECRET_FILE" : "--cluster-secret-file", err);
	return -1;
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
	struct buf hdr = BUF_INIT;
	struct client_conn c;
	int rc;

	if (net_split_hostport(address, host, sizeof(host), port,
	    sizeof(port)) != 0) {
		fprintf(stderr, "kvctl: %s: bad address %s\n", id, address);
		return -1;
	}
	if (admin_auth != NULL)
		auth_sign(admin_auth, method, target, NULL, 0, &hdr);
	client_init(&c, host, port, o->connect_timeout_ms);
	rc = client_do(&c, method, target, NULL, NULL, 0, hdr.len ? hdr.data :
	    NULL, o->timeout_ms, res);
	if (rc != 0 && !o->quiet) {
		char why[256];

		fprintf(stderr, "kvctl: %s (%s): %s\n", id, address,
		    client_strerror(&c, errno, why, sizeof(why)));
	}
	client_close(&c);
	buf_free(&hdr);
	return rc;
}

#define CLEANUP_MEMBERS_MAX 1024
#define CLEANUP_PROGRESS_MS 5000	/* between lines on the ones running */
#define CLEANUP_NAMES_SHOWN 5		/* running members a progress line names */

static int	natural_cmp(const char *, const char *);

/* One member's line of cluster cleanup, to be printed in order. */
struct cleanup_line {
	const char	*id;
	struct buf	*line;
};

static int
cleanup_line_cmp(const void *a, const void *b)
{
	return natural_cmp(((const struct cleanup_line *)a)->id,
	    ((const struct cleanup_line *)b)->id);
}

/*
 * Where a member's placement is, from its /cluster/nodes answer, for a
 * cleanup that waits for it: true when its last pass failed and another
 * is due (retrying), with why saying so ("retrying; last error to
 * node6: Connection refused"); else false, with *senders the other
 * senders its own done pass waits on (0 while that pass runs).
 */
static bool
placement_failing(const struct client_response *res,
    const struct json_tok *toks, uint64_t *senders, struct buf *why)
{
	int t = member(res, toks, 0, "transfer"), k;

	*senders = 0;
	buf_reset(why);
	if (t < 0)
		return false;
	k = member(res, toks, t, "retrying");
	if (k >= 0 && toks[k].type == JSON_TRUE) {
		buf_puts(why, "retrying");
		if ((k = member(res, toks, t, "last_error")) >= 0 &&
		    toks[k].type == JSON_STRING && toks[k].end > toks[k].start) {
			buf_puts(why, "; last error ");
			json_string_decode(res->body.data, &toks[k], why);
		}
		return true;
	}
	if ((k = member(res, toks, t, "waiting_on")) >= 0)
		json_get_u64(res->body.data, &toks[k], senders);
	return false;
}

/*
 * kvctl cluster cleanup: asks every member (as the server lists them) to
 * drop what it no longer owns, then polls each one's /cluster/nodes until
 * its cleanup has finished.  Exit 0 when every member finished with every
 * key it dropped confirmed, 5 otherwise.  Each member's line is kept
 * until all have finished, then printed on stdout in natural id order
 * (JSON lines in the server's): members finish in any order, and
 * streaming stdout only scrambled the list.  The progress goes to stderr
 * as it happens (not with -q or --json, as repair's): each member's line
 * as it finishes, so an interrupted cleanup loses none of the results in,
 * and every CLEANUP_PROGRESS_MS a line on the ones still running.
 * Failures to reach a member are said on stderr as they happen.  A
 * member's cleanup begins only once its data is placed for the current
 * members (transfer.h): one that waits for a placement that is failing
 * (a receiver that never answers: a member joined that does not run)
 * is said at once and not waited for, and once only members waiting on
 * other senders are left after such a failure, those too; each exits 3
 * as an unreachable member does, and the cleanup stays asked for there.
 */
static int
cmd_cleanup(const struct opts *o)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct buf ids[CLEANUP_MEMBERS_MAX], addrs[CLEANUP_MEMBERS_MAX], msg = BUF_INIT;
	struct buf lines[CLEANUP_MEMBERS_MAX];
	struct cleanup_line order[CLEANUP_MEMBERS_MAX];
	bool done[CLEANUP_MEMBERS_MAX];
	uint64_t senders[CLEANUP_MEMBERS_MAX];	/* this round: waited on */
	struct buf running = BUF_INIT;	/* the names a progress line shows */
	size_t n = 0, i, left, ndone = 0, nrunning, nwaiting;
	uint64_t scanned, dropped_so_far, x;
	bool waits;
	int64_t next_progress;
	int arr, k, e, c, rc = EXIT_OK;
	bool progress = !o->quiet && !o->json;

	client_response_init(&res);
	if ((rc = request(o, "GET", "/cluster/nodes", NULL, NULL, 0, NULL,
	    &res)) != 0)
		goto out;
	if (res.http.status != 200) {
		rc = report(o, &res, "cluster cleanup");
		goto out;
	}
	if (json_parse_alloc(res.body.data, res.body.len, &toks) < 1 ||
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
		buf_init(&lines[n]);
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
		ndone += done[i];
	}
	if (progress && ndone < n)
		fprintf(stderr, "kvctl: cleanup running on %zu member%s; each "
		    "one's result follows as it finishes\n", n - ndone,
		    n - ndone == 1 ? "" : "s");
	next_progress = clock_now_ms() + CLEANUP_PROGRESS_MS;
	for (left = n - ndone; left > 0;) {
		poll(NULL, 0, 300);
		buf_reset(&running);
		nrunning = nwaiting = 0;
		scanned = dropped_so_far = 0;
		for (left = 0, i = 0; i < n; i++) {
			senders[i] = 0;
			if (done[i])
				continue;
			client_response_free(&res);
			client_response_init(&res);
			free(toks);
			toks = NULL;
			if (request_member(o, ids[i].data, addrs[i].data, "GET",
			    "/cluster/nodes", &res) != 0) {
				done[i] = true;
				ndone++;
				rc = EXIT_UNREACHABLE;	/* said */
				continue;
			}
			if (res.http.status != 200) {
				/*
				 * Said as report() says it (stdout is the
				 * lines'); exit 3 as before: its cleanup's end
				 * could not be learned.
				 */
				done[i] = true;
				ndone++;
				rc = EXIT_UNREACHABLE;
				if (!o->quiet) {
					buf_reset(&msg);
					error_message(&res, &msg);
					fprintf(stderr, "kvctl: %s: polling its cleanup "
					    "(GET /cluster/nodes): %d %s\n",
					    ids[i].data, res.http.status, msg.data);
				}
				continue;
			}
			if (json_parse_alloc(res.body.data, res.body.len,
			    &toks) < 1 ||
			    (c = member(&res, toks, 0, "cleanup")) < 0) {
				done[i] = true;
				ndone++;
				rc = EXIT_SERVER;
				if (!o->quiet)
					fprintf(stderr, "kvctl: %s: polling its "
					    "cleanup: bad /cluster/nodes answer\n",
					    ids[i].data);
				continue;
			}
			k = member(&res, toks, c, "running");
			if (k >= 0 && toks[k].type == JSON_TRUE) {
				k = member(&res, toks, c, "waiting_for_placement");
				waits = k >= 0 && toks[k].type == JSON_TRUE;
				if (waits && placement_failing(&res, toks,
				    &senders[i], &msg)) {
					done[i] = true;
					ndone++;
					rc = EXIT_UNREACHABLE;
					if (!o->quiet)
						fprintf(stderr, "kvctl: %s: its "
						    "cleanup waits until its data "
						    "is placed for the current "
						    "members, and that fails (%s); "
						    "it begins once that is done "
						    "(kvctl status shows the "
						    "transfer)\n", ids[i].data,
						    msg.data);
					continue;
				}
				left++;
				nwaiting += waits && senders[i] > 0;
				if ((k = member(&res, toks, c, "scanned")) >= 0 &&
				    json_get_u64(res.body.data, &toks[k], &x) == 0)
					scanned += x;
				if ((k = member(&res, toks, c, "dropped")) >= 0 &&
				    json_get_u64(res.body.data, &toks[k], &x) == 0)
					dropped_so_far += x;
				if (nrunning++ < CLEANUP_NAMES_SHOWN)
					buf_printf(&running, "%s%s%s", running.len ?
					    ", " : "", ids[i].data, waits ?
					    " (waiting for placement)" : "");
				continue;
			}
			done[i] = true;
			ndone++;
			if (o->json) {
				buf_puts(&lines[i], "{\"id\":");
				json_emit_string(&lines[i], ids[i].data, ids[i].len);
				buf_printf(&lines[i], ",\"cleanup\":%.*s}\n",
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
				buf_printf(&lines[i], "%s: dropped %llu keys",
				    ids[i].data, (unsigned long long)dropped);
				if (unconfirmed > 0) {
					buf_printf(&lines[i], ", kept %llu not yet "
					    "confirmed by their owners",
					    (unsigned long long)unconfirmed);
					rc = rc ? rc : EXIT_SERVER;
				}
				buf_printf(&lines[i], "%s%s\n", msg.len ? ": " : "",
				    msg.data);
				if (progress)
					fprintf(stderr, "kvctl: cleanup: %.*s (%zu/%zu "
					    "done)\n", (int)lines[i].len - 1,
					    lines[i].data, ndone, n);
			}
		}
		/*
		 * A placement failed (or a member could not be asked) and
		 * every member left waits on other senders: those wait for
		 * it, or for another such, so nothing more will come.
		 */
		if (rc == EXIT_UNREACHABLE && left > 0 && nwaiting == left) {
			for (i = 0; i < n; i++) {
				if (done[i] || senders[i] == 0)
					continue;
				done[i] = true;
				ndone++;
				if (!o->quiet)
					fprintf(stderr, "kvctl: %s: its cleanup "
					    "waits until its data is placed for "
					    "the current members: its own pass "
					    "is done, and it waits on %llu other "
					    "sender%s; it begins once they are "
					    "done (kvctl status shows the "
					    "transfers)\n", ids[i].data,
					    (unsigned long long)senders[i],
					    senders[i] == 1 ? "" : "s");
			}
			left = 0;
		}
		if (progress && left > 0 && clock_now_ms() >= next_progress) {
			fprintf(stderr, "kvctl: cleanup: %zu/%zu done; running on "
			    "%s", ndone, n, running.data);
			if (nrunning > CLEANUP_NAMES_SHOWN)
				fprintf(stderr, " and %zu more", nrunning -
				    CLEANUP_NAMES_SHOWN);
			fprintf(stderr, ": %llu keys scanned, %llu dropped so "
			    "far\n", (unsigned long long)scanned,
			    (unsigned long long)dropped_so_far);
			next_progress = clock_now_ms() + CLEANUP_PROGRESS_MS;
		}
	}
	for (i = 0; i < n; i++) {
		order[i].id = ids[i].data;
		order[i].line = &lines[i];
	}
	if (!o->json && n > 1)
		qsort(order, n, sizeof(order[0]), cleanup_line_cmp);
	for (i = 0; i < n; i++)
		if (order[i].line->len > 0)
			fwrite(order[i].line->data, 1, order[i].line->len, stdout);
out:
	for (i = 0; i < n; i++) {
		buf_free(&ids[i]);
		buf_free(&addrs[i]);
		buf_free(&lines[i]);
	}
	buf_free(&running);
	buf_free(&msg);
	free(toks);
	client_response_free(&res);
	return rc;
}

/* ---- tables, status, hints and repair: output for people ---------------- */

/*
 * What -o asks for.  On a terminal, cluster nodes, status, hints and
 * repair print tables and text for people; elsewhere cluster nodes keeps
 * printing the server's JSON, as it always did (scripts read it), while
 * the newer commands print the same text.  -o json (= --json) is the
 * stable machine form of each.
 */
enum output { OUT_DEFAULT, OUT_TABLE, OUT_JSON };

static bool
want_table(const struct opts *o)
{
	if (o->output == OUT_TABLE)
		return true;
	if (o->output == OUT_JSON || o->json)
		return false;
	return isatty(STDOUT_FILENO);
}

/* "0.4s", "42s", "3m", "5h", "2d": a duration for people. */
static void
duration_text(int64_t ms, char *out, size_t len)
{
	if (ms < 0)
		ms = 0;
	if (ms < 10000)
		snprintf(out, len, "%.1fs", (double)ms / 1000);
	else if (ms < 120000)
		snprintf(out, len, "%llds", (long long)(ms / 1000));
	else if (ms < 2 * 3600000LL)
		snprintf(out, len, "%lldm", (long long)(ms / 60000));
	else if (ms < 48 * 3600000LL)
		snprintf(out, len, "%lldh", (long long)(ms / 3600000));
	else
		snprintf(out, len, "%lldd", (long long)(ms / 86400000));
}

/* "1.2s ago", or "-" for an unknown age (< 0). */
static void
age_text(int64_t ms, char *out, size_t len)
{
	char d[32];

	if (ms < 0) {
		snprintf(out, len, "-");
		return;
	}
	duration_text(ms, d, sizeof(d));
	snprintf(out, len, "%s ago", d);
}

/* "512 B", "3.1 KiB", "2.0 MiB", "1.5 GiB". */
static void
bytes_text(uint64_t n, char *out, size_t len)
{
	if (n < 1024)
		snprintf(out, len, "%llu B", (unsigned long long)n);
	else if (n < 1024 * 1024)
		snprintf(out, len, "%.1f KiB", (double)n / 1024);
	else if (n < 1024ULL * 1024 * 1024)
		snprintf(out, len, "%.1f MiB", (double)n / (1024 * 1024));
	else
		snprintf(out, len, "%.1f GiB", (double)n / (1024.0 * 1024 * 1024));
}

#define TABLE_COLS	10

/*
 * A table for people: cells are copied; print() sizes each column to
 * its widest cell, numbers (right[] columns) aligned right, two spaces
 * apart, the last column not padded.
 */
struct table {
	size_t	 ncols, nrows, cap;
	char	**cell;		/* nrows * ncols */
	bool	 right[TABLE_COLS];
	size_t	 col;		/* next cell of the row being added */
};

static void __attribute__((format(printf, 2, 3)))
table_cell(struct table *t, const char *fmt, ...)
{
	char tmp[512], **grown;
	va_list ap;

	if (t->col == t->ncols) {	/* a new row */
		if (t->nrows == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			grown = realloc(t->cell, t->cap * t->ncols * sizeof(*grown));
			if (grown == NULL)
				abort();
			t->cell = grown;
		}
		t->nrows++;
		t->col = 0;
	}
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if ((t->cell[(t->nrows - 1) * t->ncols + t->col++] = strdup(tmp)) == NULL)
		abort();
}

/* Starts a table of ncols columns whose first row is heads[0..ncols). */
static void
table_init(struct table *t, const char *const *heads, size_t ncols)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->col = ncols;
	for (i = 0; i < ncols; i++)
		table_cell(t, "%s", heads[i]);
}

static void
table_print(const struct table *t, FILE *f)
{
	size_t w[TABLE_COLS] = { 0 }, r, c, n;
	const char *s;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if ((n = strlen(t->cell[r * t->ncols + c])) > w[c])
				w[c] = n;
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			s = t->cell[r * t->ncols + c];
			if (c + 1 == t->ncols && !t->right[c])
				fprintf(f, "%s", s);
			else
				fprintf(f, t->right[c] ? "%*s" : "%-*s", (int)w[c], s);
			fputs(c + 1 < t->ncols ? "  " : "\n", f);
		}
	}
}

/*
 * Ids in the order people expect: runs of digits compare as numbers
 * (node2 before node10), other bytes as bytes.  Ids equal that way
 * (node01, node1) fall back to strcmp, so the order is total.  Used for
 * what kvctl prints for people only; JSON keeps the server's order.
 */
static int
natural_cmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a,
	    *q = (const unsigned char *)b;
	size_t np, nq;
	int d;

	while (*p != '\0' && *q != '\0') {
		if (!isdigit(*p) || !isdigit(*q)) {
			if (*p != *q)
				return *p < *q ? -1 : 1;
			p++, q++;
			continue;
		}
		while (*p == '0')
			p++;
		while (*q == '0')
			q++;
		for (np = 0; isdigit(p[np]); np++)
			;
		for (nq = 0; isdigit(q[nq]); nq++)
			;
		if (np != nq)		/* no leading zeros: longer is bigger */
			return np < nq ? -1 : 1;
		if ((d = memcmp(p, q, np)) != 0)
			return d < 0 ? -1 : 1;
		p += np, q += nq;
	}
	if (*p != *q)
		return *p == '\0' ? -1 : 1;
	d = strcmp(a, b);
	return d < 0 ? -1 : d > 0;
}

/* qsort: table rows (ncols cells each) by their first cell, then second. */
static int
row_cmp(const void *a, const void *b)
{
	const char *const *ra = a, *const *rb = b;
	int d;

	if ((d = natural_cmp(ra[0], rb[0])) != 0)
		return d;
	return natural_cmp(ra[1], rb[1]);
}

/* Orders the rows under the heads by row_cmp; t has two columns or more. */
static void
table_sort(struct table *t)
{
	if (t->nrows > 2)
		qsort(t->cell + t->ncols, t->nrows - 1,
		    t->ncols * sizeof(*t->cell), row_cmp);
}

static void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
}

/* ---- reading answers ---- */

/* A parsed JSON body: toks, or NULL when it is not a JSON object. */
static struct json_tok *
parse_body(const struct buf *body)
{
	struct json_tok *toks;

	if (json_parse_alloc(body->data, body->len, &toks) < 1)
		return NULL;
	if (toks[0].type != JSON_OBJECT) {
		free(toks);
		return NULL;
	}
	return toks;
}

static int
jget(const char *b, const struct json_tok *t, int obj, const char *name)
{
	return obj < 0 ? -1 : json_object_get(b, t, obj, name);
}

/* A number member, or def when absent, null or not an integer. */
static int64_t
jint(const char *b, const struct json_tok *t, int obj, const char *name,
    int64_t def)
{
	int i = jget(b, t, obj, name);
	int64_t v;

	if (i < 0 || t[i].type != JSON_NUMBER || json_get_i64(b, &t[i], &v) != 0)
		return def;
	return v;
}

static double
jdouble(const char *b, const struct json_tok *t, int obj, const char *name)
{
	char tmp[64];
	int i = jget(b, t, obj, name);
	size_t n;

	if (i < 0 || t[i].type != JSON_NUMBER)
		return 0;
	n = (size_t)(t[i].end - t[i].start);
	snprintf(tmp, sizeof(tmp), "%.*s", (int)(n < 63 ? n : 63), b + t[i].start);
	return strtod(tmp, NULL);
}

static bool
jtrue(const char *b, const struct json_tok *t, int obj, const char *name)
{
	int i = jget(b, t, obj, name);

	return i >= 0 && t[i].type == JSON_TRUE;
}

/*
 * A string member into out (len bytes with the NUL), cut between two
 * UTF-8 characters when it is longer; "" when absent.
 */
static void
jstr(const char *b, const struct json_tok *t, int obj, const char *name,
    char *out, size_t len)
{
	struct buf s = BUF_INIT;
	int i = jget(b, t, obj, name);

	out[0] = '\0';
	if (i >= 0 && t[i].type == JSON_STRING) {
		json_string_decode(b, &t[i], &s);
		snprintf(out, len, "%.*s", (int)json_utf8_cut(s.data, s.len,
		    len - 1), s.data);
	}
	buf_free(&s);
}

/*
 * What a /health "storage" other than "ok" means, for people; NULL for
 * "ok" or none (a kvd from before it was reported).
 */
static const char *
storage_text(const char *state)
{
	if (state[0] == '\0' || strcmp(state, "ok") == 0)
		return NULL;
	if (strcmp(state, "disk_full") == 0)
		return "disk full, writes refused until space is freed (room "
		    "for the refused records it keeps, at most 16 MiB, and "
		    "new writes)";
	if (strcmp(state, "failed") == 0)
		return "storage failed (a WAL write or fsync error), writes "
		    "refused until kvd is restarted";
	return "storage not ok";
}

/*
 * What a /health "cas_storage" other than "ok" means (the compare-and-swap
 * log's state), beside the same answer's "storage": plain writes go on
 * only while that one takes them, and the text says so only then; NULL
 * for "ok" or none (a kvd from before it was reported).
 */
static const char *
cas_storage_text(const char *state, const char *storage)
{
#define PLAIN_ON(text) \
	(storage_text(storage) == NULL ? text " (plain writes go on)" : text)
	if (state[0] == '\0' || strcmp(state, "ok") == 0)
		return NULL;
	if (strcmp(state, "disk_full") == 0)
		return PLAIN_ON("the compare-and-swap log's disk is full, "
		    "conditional writes refused until space is freed");
	if (strcmp(state, "failed") == 0)
		return PLAIN_ON("the compare-and-swap log failed (a write or "
		    "fsync error), conditional writes refused until kvd is "
		    "restarted");
	return "the compare-and-swap log not ok";
#undef PLAIN_ON
}

/*
 * kvctl health: /health's body on stdout (with -o table, a row of its
 * id, status, storage, cas_storage and uptime); exit 0 when the node answers
 * and its storage takes writes, 5 (after a line on stderr) when it
 * answers but refuses writes (disk full, failed WAL), or only
 * conditional ones (its compare-and-swap log's): it is alive, its reads
 * work, yet it is not healthy.  A node that has left the cluster
 * ("status":"left") is 5 too: it answers every key request 503.
 */
static int
cmd_health(const struct opts *o)
{
	static const char *const heads[] = { "ID", "STATUS", "STORAGE",
	    "CAS STORAGE", "UPTIME" };
	struct client_response res;
	struct json_tok *t = NULL;
	struct table tab;
	char state[32] = "", cas[32] = "", status[32] = "", id[72] = "",
	    up[32];
	const char *why;
	bool table = o->output == OUT_TABLE;
	int rc;

	client_response_init(&res);
	rc = request(o, "GET", "/health", NULL, NULL, 0, NULL, &res);
	if (rc == 0) {
		if (!o->json && !table && res.http.status / 100 == 2)
			fwrite(res.body.data, 1, res.body.len, stdout);
		rc = report(o, &res, "health");
	}
	if (rc == 0 && (t = parse_body(&res.body)) != NULL) {
		jstr(res.body.data, t, 0, "status", status, sizeof(status));
		jstr(res.body.data, t, 0, "storage", state, sizeof(state));
		jstr(res.body.data, t, 0, "cas_storage", cas, sizeof(cas));
		jstr(res.body.data, t, 0, "id", id, sizeof(id));
	}
	if (rc == 0 && table) {
		if (t == NULL) {
			rc = malformed(o, "health");
			goto out;
		}
		duration_text(jint(res.body.data, t, 0, "uptime_s", 0) * 1000,
		    up, sizeof(up));
		table_init(&tab, heads, sizeof(heads) / sizeof(heads[0]));
		table_cell(&tab, "%s", id);
		table_cell(&tab, "%s", status);
		/* -: a kvd from before the field */
		table_cell(&tab, "%s", state[0] != '\0' ? state : "-");
		table_cell(&tab, "%s", cas[0] != '\0' ? cas : "-");
		table_cell(&tab, "%s", up);
		table_print(&tab, stdout);
		table_free(&tab);
	}
	if (rc == 0 && strcmp(status, "left") == 0) {
		/* It answers, but refuses every key: no member any more. */
		if (!o->quiet)
			fprintf(stderr, "kvctl: health: left: this node has left "
			    "the cluster and refuses every key request (503); "
			    "ask a member (kvctl cluster nodes on one lists "
			    "them)\n");
		rc = EXIT_SERVER;
	} else if (rc == 0 && (storage_text(state) != NULL ||
	    cas_storage_text(cas, state) != NULL)) {
		/* A line for each log that refuses: both may. */
		if (!o->quiet && (why = storage_text(state)) != NULL)
			fprintf(stderr, "kvctl: health: %s: %s\n", state, why);
		if (!o->quiet && (why = cas_storage_text(cas, state)) != NULL)
			fprintf(stderr, "kvctl: health: cas_storage %s: %s\n",
			    cas, why);
		rc = EXIT_SERVER;
	}
out:
	free(t);
	client_response_free(&res);
	return rc;
}

/* ---- the cluster as every member tells it ---- */

#define MEMBER_CALL_MS	3000	/* one member's answer, at most */

/* One member: as the --server node sees it, and as it tells itself. */
struct minfo {
	char	 id[72], address[300], state[16];
	bool	 self;			/* the node that answered --server */
	int64_t	 hb_age_ms;		/* -1: unknown */
	double	 owns;			/* share of the key space it replicates */
	/* From the member's own GET /cluster/nodes, when it answered: */
	bool	 asked, answered;
	bool	 unreachable;		/* kvctl's call got no answer at all */
	bool	 unheard;		/* "unknown" to --server, unreachable */
	bool	 never_heard;		/* no heartbeat, no generation: the
					   --server node never heard from it */
	char	 err[160];
	int64_t	 keys;			/* -1: unknown */
	bool	 xfer_running, xfer_retrying;
	bool	 xfer_hollow;	/* wiped, not yet refilled */
	uint64_t xfer_sent, xfer_scanned;
	uint64_t xfer_waiting;		/* other senders its pass waits on */
	uint64_t xfer_sent_total;	/* keys its passes sent since it started */
	int64_t	 xfer_finished_ms;	/* its last pass's end, 0 none */
	bool	 xfer_pass_under_way;	/* started, not finished */
	uint64_t xfer_strays;		/* keys not its own to forward */
	bool	 xfer_strays_overflow;	/* more than it lists: it walks all */
	bool	 cleanup_running;
	int64_t	 cleanup_finished_ms;	/* its last cleanup's end, 0 none */
	uint64_t cleanup_unconfirmed;	/* keys that cleanup kept */
	char	 xfer_error[512];	/* "to node17: Connection refused";
					   whole (transfer.h bounds it) */
	bool	 gone;			/* removed by a leave: no member */
	uint64_t held, held_bytes;	/* hints it holds, for anyone */
	int64_t	 held_oldest_ms;	/* its wall clock, 0 none */
	int64_t	 held_oldest_age;	/* ms, on its clock; -1 none */
	int	 ae_interval_ms;
	int64_t	 ae_last_ms;		/* its wall clock, 0 none */
	int64_t	 ae_last_age;		/* ms, on its clock; -1 none */
	bool	 ae_last_ok;
	char	 ae_last_peer[72];
	char	 ae_last_error[512];	/* whole (antientropy.h bounds it) */
	uint64_t hints_for;		/* held for it by the members that answered */
	char	 ring_mismatch[128];	/* the --server node's "ring_mismatch" */
	char	 link_error[160];	/* the --server node's "link_error": why
					   its calls to it fail; "" none */
	char	 storage[16];		/* its /health "storage"; "" unknown */
	char	 cas_storage[16];	/* its /health "cas_storage"; "" unknown */
	/* the call */
	const struct opts *o;
	struct client_response res;
};

/*
 * A link that fails: from's calls to to, as from's own /cluster/nodes
 * says (the "link_error" of its entry for to: "401 unauthorized: bad
 * signature", "Connection refused").
 */
struct link_fail {
	char	from[72], to[72], error[160];
};

struct cview {
	char		 self[72];
	bool		 left;		/* the --server node is no member */
	int		 n, w, r;
	size_t		 nm;		/* members: m[0..nm) */
	size_t		 ngone;		/* then those that left: m[nm..nm+ngone) */
	struct minfo	*m;
	struct link_fail *links;	/* deep: failing_links' */
	size_t		 nlinks;
};

static void
cview_free(struct cview *cv)
{
	size_t i;

	for (i = 0; i < cv->nm + cv->ngone; i++)
		client_response_free(&cv->m[i].res);
	free(cv->m);
	free(cv->links);
	memset(cv, 0, sizeof(*cv));
}

/*
 * The "storage" and "cas_storage" of a member's GET /health on c, into
 * mi; "" when it does not say (no answer, a kvd from before it was
 * reported).
 */
static void
health_storage(struct client_conn *c, int ms, struct minfo *mi)
{
	struct client_response res;
	struct json_tok *t;

	mi->storage[0] = mi->cas_storage[0] = '\0';
	client_response_init(&res);
	if (client_do(c, "GET", "/health", NULL, NULL, 0, NULL, ms, &res) == 0 &&
	    res.http.status == 200 && (t = parse_body(&res.body)) != NULL) {
		jstr(res.body.data, t, 0, "storage", mi->storage,
		    sizeof(mi->storage));
		jstr(res.body.data, t, 0, "cas_storage", mi->cas_storage,
		    sizeof(mi->cas_storage));
		free(t);
	}
	client_response_free(&res);
}

/* A thread: GET /cluster/nodes and /health from one member, at its address. */
static void *
minfo_call(void *arg)
{
	struct minfo *mi = arg;
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	struct client_conn c;
	int ms = mi->o->timeout_ms < MEMBER_CALL_MS ? mi->o->timeout_ms :
	    MEMBER_CALL_MS;

	if (net_split_hostport(mi->address, host, sizeof(host), port,
	    sizeof(port)) != 0) {
		snprintf(mi->err, sizeof(mi->err), "bad address %.*s",
		    (int)json_utf8_cut(mi->address, strlen(mi->address), 100),
		    mi->address);
		return NULL;
	}
	client_init(&c, host, port, mi->o->connect_timeout_ms < ms ?
	    mi->o->connect_timeout_ms : ms);
	if (client_do(&c, "GET", "/cluster/nodes", NULL, NULL, 0, NULL, ms,
	    &mi->res) != 0) {
		client_strerror(&c, errno, mi->err, sizeof(mi->err));
		mi->unreachable = true;
	} else if (mi->res.http.status != 200)
		snprintf(mi->err, sizeof(mi->err), "HTTP %d", mi->res.http.status);
	else
		health_storage(&c, ms, mi);
	client_close(&c);
	return NULL;
}

/* Fills mi's own figures from its /cluster/nodes answer. */
static void
minfo_read(struct minfo *mi)
{
	const char *b = mi->res.body.data;
	struct json_tok *t;
	int arr, e, k, x, c, h, a;

	if ((t = parse_body(&mi->res.body)) == NULL) {
		snprintf(mi->err, sizeof(mi->err), "bad /cluster/nodes answer");
		return;
	}
	mi->answered = true;
	if ((arr = jget(b, t, 0, "members")) >= 0 && t[arr].type == JSON_ARRAY)
		for (k = 0, e = arr + 1; k < t[arr].size; k++, e = t[e].next)
			if (jtrue(b, t, e, "self"))
				mi->keys = jint(b, t, e, "keys", -1);
	x = jget(b, t, 0, "transfer");
	mi->xfer_running = jtrue(b, t, x, "running");
	mi->xfer_retrying = jtrue(b, t, x, "retrying");
	mi->xfer_hollow = jtrue(b, t, x, "hollow");
	mi->xfer_sent = (uint64_t)jint(b, t, x, "keys_sent", 0);
	mi->xfer_scanned = (uint64_t)jint(b, t, x, "keys_scanned", 0);
	mi->xfer_waiting = (uint64_t)jint(b, t, x, "waiting_on", 0);
	mi->xfer_sent_total = (uint64_t)jint(b, t, x, "keys_sent_total", 0);
	mi->xfer_finished_ms = jint(b, t, x, "finished_ms", 0);
	mi->xfer_pass_under_way = jint(b, t, x, "started_ms", 0) > 0 &&
	    mi->xfer_finished_ms == 0;
	mi->xfer_strays = (uint64_t)jint(b, t, x, "strays", 0);
	mi->xfer_strays_overflow = jtrue(b, t, x, "strays_overflow");
	jstr(b, t, x, "last_error", mi->xfer_error, sizeof(mi->xfer_error));
	c = jget(b, t, 0, "cleanup");
	mi->cleanup_running = jtrue(b, t, c, "running");
	mi->cleanup_finished_ms = jint(b, t, c, "finished_ms", 0);
	mi->cleanup_unconfirmed = (uint64_t)jint(b, t, c, "unconfirmed", 0);
	h = jget(b, t, 0, "hints");
	mi->held = (uint64_t)jint(b, t, h, "pending", 0);
	mi->held_bytes = (uint64_t)jint(b, t, h, "bytes", 0);
	mi->held_oldest_ms = jint(b, t, h, "oldest_ms", 0);
	a = jget(b, t, 0, "anti_entropy");
	mi->ae_interval_ms = (int)jint(b, t, a, "interval_ms", -1);
	mi->ae_last_ms = jint(b, t, a, "last_ms", 0);
	/*
	 * Ages as the member measures them, on its own clock: its wall times
	 * less ours would add the skew between the clocks (a member 8 s
	 * behind showed hints taken 2 s ago as 10 s old).  A kvd from before
	 * the ages were reported gives only the times: ours must do.
	 */
	mi->held_oldest_age = mi->held_oldest_ms <= 0 ? -1 :
	    jint(b, t, h, "oldest_age_ms", clock_wall_ms() - mi->held_oldest_ms);
	mi->ae_last_age = mi->ae_last_ms <= 0 ? -1 :
	    jint(b, t, a, "last_age_ms", clock_wall_ms() - mi->ae_last_ms);
	/*
	 * Never below 0 (-1 means none): ours less a member's clock that is
	 * ahead, or its own after its clock stepped back, showed "-" and
	 * "age_ms":-116 for a round just run.
	 */
	if (mi->held_oldest_ms > 0 && mi->held_oldest_age < 0)
		mi->held_oldest_age = 0;
	if (mi->ae_last_ms > 0 && mi->ae_last_age < 0)
		mi->ae_last_age = 0;
	mi->ae_last_ok = jtrue(b, t, a, "last_ok");
	jstr(b, t, a, "last_peer", mi->ae_last_peer, sizeof(mi->ae_last_peer));
	jstr(b, t, a, "last_error", mi->ae_last_error, sizeof(mi->ae_last_error));
	free(t);
}

/* Adds the hints mi holds for each member to that member's hints_for. */
static void
add_hints_for(struct cview *cv, const struct minfo *mi)
{
	const char *b = mi->res.body.data;
	struct json_tok *t;
	char id[72];
	int arr, e, k;
	size_t i;

	if ((t = parse_body(&mi->res.body)) == NULL)
		return;
	if ((arr = jget(b, t, 0, "members")) >= 0 && t[arr].type == JSON_ARRAY)
		for (k = 0, e = arr + 1; k < t[arr].size; k++, e = t[e].next) {
			jstr(b, t, e, "id", id, sizeof(id));
			for (i = 0; i < cv->nm; i++)
				if (strcmp(cv->m[i].id, id) == 0)
					cv->m[i].hints_for += (uint64_t)jint(b,
					    t, e, "hints", 0);
		}
	free(t);
}

static bool
is_down(const struct minfo *mi)
{
	return strcmp(mi->state, "down") == 0;
}

static const struct minfo *
cview_find(const struct cview *cv, const char *id)
{
	size_t i;

	for (i = 0; i < cv->nm; i++)
		if (strcmp(cv->m[i].id, id) == 0)
			return &cv->m[i];
	return NULL;
}

/*
 * Adds to cv->links each failing link of mi's, a member that answered:
 * every member its /cluster/nodes gives a "link_error".  Not a link to a
 * member cv has down that failed with no answer ("Connection refused",
 * "timed out"): its down line says as much, and every member's calls to
 * a node killed fail so.  A 401 is kept: a member that refuses the
 * others' calls (another cluster secret) is down to them for that, which
 * its down line cannot tell.  Out of memory aborts, as a table's cell.
 */
static void
add_failing_links(struct cview *cv, const struct minfo *mi)
{
	const char *b = mi->res.body.data;
	const struct minfo *to;
	struct link_fail *l, *grown;
	struct json_tok *t;
	char id[72], err[160];
	int arr, e, k;

	if ((t = parse_body(&mi->res.body)) == NULL)
		return;
	if ((arr = jget(b, t, 0, "members")) < 0 || t[arr].type != JSON_ARRAY)
		arr = -1;
	for (k = 0, e = arr + 1; arr >= 0 && k < t[arr].size;
	    k++, e = t[e].next) {
		jstr(b, t, e, "id", id, sizeof(id));
		jstr(b, t, e, "link_error", err, sizeof(err));
		if (err[0] == '\0' || jtrue(b, t, e, "self"))
			continue;
		if ((to = cview_find(cv, id)) != NULL && is_down(to) &&
		    strncmp(err, "401 ", 4) != 0)
			continue;
		if ((grown = realloc(cv->links, (cv->nlinks + 1) *
		    sizeof(*cv->links))) == NULL)
			abort();
		cv->links = grown;
		l = &cv->links[cv->nlinks++];
		snprintf(l->from, sizeof(l->from), "%s", mi->id);
		snprintf(l->to, sizeof(l->to), "%s", id);
		snprintf(l->error, sizeof(l->error), "%s", err);
	}
	free(t);
}

/* How a failing link reads, in status's warnings and under the table. */
static void
link_text(const struct link_fail *l, struct buf *out)
{
	buf_printf(out, "%s's calls to %s fail: %s", l->from, l->to, l->error);
}

/* each_at_once's call, for workq_each. */
struct at_once {
	char		*base;
	size_t		 size;
	const bool	*asked;
	void		*(*fn)(void *);
};

static void
at_once_one(void *arg, size_t i)
{
	struct at_once *a = arg;

	if (a->asked[i])
		a->fn(a->base + i * a->size);
}

/*
 * Runs fn on each of the n items of size bytes at base whose asked[i] is
 * true, all at once (workq_each: a thread each, up to 64), and returns
 * once every one has finished: members asked one after another cost the
 * sum of their deadlines, at once the longest.
 */
static void
each_at_once(void *base, size_t n, size_t size, const bool *asked,
    void *(*fn)(void *))
{
	struct at_once a = { base, size, asked, fn };

	workq_each("kvctl-ask", n, n < 64 ? (int)n : 64, at_once_one, &a);
}

/*
 * The members as the --server node lists them (GET /cluster/nodes);
 * with deep, each member that node does not see down is also asked for
 * its own /cluster/nodes, all at once (MEMBER_CALL_MS each at most), for
 * what only it knows: its keys, transfer, hints and anti-entropy; a
 * member that node has not heard from yet and that kvctl cannot reach
 * either is then marked down (unheard).
 * 0, or an exit code after a message.
 */
static int
cview_get(const struct opts *o, bool deep, struct cview *cv, const char *what)
{
	struct client_response res;
	struct json_tok *t = NULL;
	bool *asked = NULL;
	const char *b;
	int rc, arr, e, k, gone = -1, ngone = 0;
	size_t i, all;

	memset(cv, 0, sizeof(*cv));
	client_response_init(&res);
	if ((rc = request(o, "GET", "/cluster/nodes", NULL, NULL, 0, NULL,
	    &res)) != 0)
		goto out;
	if (res.http.status != 200) {
		rc = report(o, &res, what);
		goto out;
	}
	b = res.body.data;
	if ((t = parse_body(&res.body)) != NULL &&
	    (gone = jget(b, t, 0, "removed")) >= 0 &&
	    t[gone].type == JSON_ARRAY)
		ngone = t[gone].size;
	if (t == NULL ||
	    (arr = jget(b, t, 0, "members")) < 0 || t[arr].type != JSON_ARRAY ||
	    (cv->m = calloc((size_t)t[arr].size + (size_t)ngone + 1,
	    sizeof(*cv->m))) == NULL) {
		fprintf(stderr, "kvctl: %s: bad /cluster/nodes answer\n", what);
		rc = EXIT_SERVER;
		goto out;
	}
	jstr(b, t, 0, "self", cv->self, sizeof(cv->self));
	cv->left = (k = jget(b, t, 0, "member")) >= 0 &&
	    t[k].type == JSON_FALSE;
	cv->n = (int)jint(b, t, 0, "n", 0);
	cv->w = (int)jint(b, t, 0, "w", 0);
	cv->r = (int)jint(b, t, 0, "r", 0);
	for (k = 0, e = arr + 1; k < t[arr].size; k++, e = t[e].next) {
		struct minfo *mi = &cv->m[cv->nm++];

		client_response_init(&mi->res);
		mi->o = o;
		mi->keys = -1;
		jstr(b, t, e, "id", mi->id, sizeof(mi->id));
		jstr(b, t, e, "address", mi->address, sizeof(mi->address));
		jstr(b, t, e, "state", mi->state, sizeof(mi->state));
		mi->self = jtrue(b, t, e, "self");
		mi->hb_age_ms = mi->self ? 0 : jint(b, t, e, "heartbeat_age_ms", -1);
		/*
		 * Its heartbeat age then counts from when the node learned of
		 * it (a join), not from a heartbeat: "down for 12s" of a node
		 * that never ran.  It has none.
		 */
		mi->never_heard = !mi->self && jint(b, t, e, "heartbeat", -1) ==
		    0 && jint(b, t, e, "generation", -1) == 0;
		if (mi->never_heard)
			mi->hb_age_ms = -1;
		mi->owns = jdouble(b, t, e, "owns");
		jstr(b, t, e, "ring_mismatch", mi->ring_mismatch,
		    sizeof(mi->ring_mismatch));
		jstr(b, t, e, "link_error", mi->link_error,
		    sizeof(mi->link_error));
	}
	/*
	 * Then the nodes that left, as the server's "removed" lists them: one
	 * hands its keys off after it is no member, and only it can say how
	 * that goes.  Asked (when deep) unless gossip has it down.
	 */
	for (k = 0, e = gone + 1; k < ngone; k++, e = t[e].next) {
		struct minfo *mi = &cv->m[cv->nm + cv->ngone++];

		client_response_init(&mi->res);
		mi->o = o;
		mi->keys = -1;
		mi->gone = true;
		mi->hb_age_ms = -1;
		jstr(b, t, e, "id", mi->id, sizeof(mi->id));
		jstr(b, t, e, "address", mi->address, sizeof(mi->address));
		jstr(b, t, e, "state", mi->state, sizeof(mi->state));
	}
	if (!deep)
		goto out;
	all = cv->nm + cv->ngone;
	if ((asked = calloc(all + 1, sizeof(*asked))) == NULL) {
		rc = EXIT_CLIENT;
		goto out;
	}
	for (i = 0; i < all; i++) {
		if (strcmp(cv->m[i].state, "down") == 0)
			snprintf(cv->m[i].err, sizeof(cv->m[i].err), "down");
		else
			asked[i] = cv->m[i].asked = true;
	}
	each_at_once(cv->m, all, sizeof(*cv->m), asked, minfo_call);
	for (i = 0; i < all; i++)
		if (cv->m[i].asked && cv->m[i].err[0] == '\0')
			minfo_read(&cv->m[i]);
	for (i = 0; i < cv->nm; i++)
		if (cv->m[i].answered)
			add_hints_for(cv, &cv->m[i]);
	/*
	 * A member the --server node has had no heartbeat from yet
	 * ("unknown": one joined before it was started, say) that does not
	 * answer kvctl either is down, in every count, line and column:
	 * gossip says so itself within seconds, and until then "unknown"
	 * was counted up.  So is one that answers the --server node's calls
	 * with a refusal (an HTTP status: a member with another cluster
	 * secret, the two do not talk).  One that answers kvctl otherwise is
	 * up (it has just started; an error left from calls before it did,
	 * "Connection refused", says nothing of it now).
	 */
	for (i = 0; i < cv->nm; i++) {
		if (strcmp(cv->m[i].state, "unknown") != 0)
			continue;
		if (cv->m[i].unreachable)
			cv->m[i].unheard = true;
		else if (isdigit((unsigned char)cv->m[i].link_error[0]))
			cv->m[i].never_heard = true;
		else
			continue;
		snprintf(cv->m[i].state, sizeof(cv->m[i].state), "down");
	}
	/* Once the states are final: add_failing_links reads them. */
	for (i = 0; i < cv->nm; i++)
		if (cv->m[i].answered)
			add_failing_links(cv, &cv->m[i]);
out:
	if (rc != 0)
		cview_free(cv);
	free(asked);
	free(t);
	client_response_free(&res);
	return rc;
}

static int
minfo_cmp(const void *a, const void *b)
{
	return natural_cmp(((const struct minfo *)a)->id,
	    ((const struct minfo *)b)->id);
}

/* qsort: failing links by caller, then callee (natural_cmp). */
static int
link_cmp(const void *a, const void *b)
{
	const struct link_fail *x = a, *y = b;
	int c = natural_cmp(x->from, y->from);

	return c != 0 ? c : natural_cmp(x->to, y->to);
}

/*
 * Orders cv's members by id for people (natural_cmp: node2 before
 * node10), and its failing links by caller then callee; the server
 * lists them by strcmp.  Only after cview_get has joined its threads,
 * which hold pointers into cv->m.
 */
static void
cview_sort(struct cview *cv)
{
	if (cv->nm > 1)
		qsort(cv->m, cv->nm, sizeof(*cv->m), minfo_cmp);
	if (cv->ngone > 1)
		qsort(cv->m + cv->nm, cv->ngone, sizeof(*cv->m), minfo_cmp);
	if (cv->nlinks > 1)
		qsort(cv->links, cv->nlinks, sizeof(*cv->links), link_cmp);
}

/*
 * Why mi, down, is down, after its id, for a warning or a note: for how
 * long, or that the --server node (self) never heard from it (and, when
 * it answers self's calls with a refusal, with which: the two do not
 * talk), or (seen unknown there) that kvctl could not reach it either.
 */
static void
down_text(const struct minfo *mi, const char *self, struct buf *out)
{
	char d[48];

	if (mi->unheard)
		buf_printf(out, "down: %s has had no heartbeat from it yet, and "
		    "it does not answer kvctl: %s", self, mi->err);
	else if (mi->never_heard && isdigit((unsigned char)mi->link_error[0]))
		buf_printf(out, "down: %s has never heard from it, and it "
		    "answers %s's calls %s", self, self, mi->link_error);
	else if (mi->never_heard)
		buf_printf(out, "down: %s has never heard from it (not started, "
		    "or unreachable at %s)", self, mi->address);
	else if (mi->hb_age_ms >= 0) {
		duration_text(mi->hb_age_ms, d, sizeof(d));
		buf_printf(out, "down for %s", d);
	} else
		buf_puts(out, "down");
}

/*
 * The strays mi has to forward (transfer.c's STRAYS: keys not its own
 * that a record from another node changed, sent on to their owners at
 * its next poll once its data is placed, or every 2 s while a send
 * fails): how many wait, or that it noted more than it lists and walks
 * its whole store instead.  Not strays_sent_total: a total since start,
 * it says what went out, not what waits.
 */
static void
strays_text(const struct minfo *mi, struct buf *out)
{
	if (mi->xfer_strays_overflow)
		buf_puts(out, "every key it does not own, more strays than it "
		    "lists");
	else
		buf_printf(out, "%llu stray key%s waiting to go to %s owners",
		    (unsigned long long)mi->xfer_strays,
		    mi->xfer_strays == 1 ? "" : "s",
		    mi->xfer_strays == 1 ? "its" : "their");
}

/*
 * A running transfer of mi, in words that are true at every stage: a
 * pass counts the keys it scanned and, of those, the few it had to send
 * (a ratio of the two is no progress); a pass done that waits for the
 * other senders says so; one that failed says it retries, and with
 * why_too why (its last error names the receiver).  Strays waiting
 * keep a transfer running too: alone (no pass under way, failed or
 * waiting) they are the whole line, "forwarding: ...", and after a pass
 * that still runs they are added to it: they go out once it is done.
 */
static void
xfer_text(const struct minfo *mi, bool why_too, struct buf *out)
{
	bool strays = mi->xfer_strays > 0 || mi->xfer_strays_overflow;

	if (strays && !mi->xfer_retrying && mi->xfer_waiting == 0 &&
	    !mi->xfer_pass_under_way) {
		buf_puts(out, "forwarding: ");
		strays_text(mi, out);
		return;
	}
	if (mi->xfer_retrying)
		buf_printf(out, "retrying: %llu keys scanned, %llu sent",
		    (unsigned long long)mi->xfer_scanned,
		    (unsigned long long)mi->xfer_sent);
	else if (mi->xfer_waiting > 0)
		buf_printf(out, "waiting on %llu sender%s (its own pass done: "
		    "%llu keys scanned, %llu sent)",
		    (unsigned long long)mi->xfer_waiting,
		    mi->xfer_waiting == 1 ? "" : "s",
		    (unsigned long long)mi->xfer_scanned,
		    (unsigned long long)mi->xfer_sent);
	else
		buf_printf(out, "sending: %llu keys scanned, %llu sent",
		    (unsigned long long)mi->xfer_scanned,
		    (unsigned long long)mi->xfer_sent);
	if (why_too && mi->xfer_retrying && mi->xfer_error[0] != '\0')
		buf_printf(out, "; last error %s", mi->xfer_error);
	if (strays) {
		buf_puts(out, "; then ");
		strays_text(mi, out);
	}
}

/*
 * kvctl cluster nodes on a terminal or with -o table: one row per
 * member.  STATE and LAST SEEN are the --server node's view; KEYS and
 * TRANSFER what each member says of itself; OWNS its share of the key
 * space with N replicas (the shares add up to N x 100%); HINTS the
 * hints the members that answered hold for it.  Under the legend, one
 * line a failing link (add_failing_links), as in status's warnings.
 */
static int
cmd_nodes_table(const struct opts *o)
{
	static const char *const heads[] = { "ID", "ADDRESS", "STATE",
	    "LAST SEEN", "KEYS", "OWNS", "HINTS", "TRANSFER" };
	struct cview cv;
	struct table t;
	struct buf xt = BUF_INIT;
	char age[48];
	size_t i;
	int rc;

	if ((rc = cview_get(o, true, &cv, "cluster nodes")) != 0)
		return rc;
	cview_sort(&cv);
	table_init(&t, heads, sizeof(heads) / sizeof(heads[0]));
	t.right[4] = t.right[5] = t.right[6] = true;
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		table_cell(&t, "%s%s", mi->id, mi->self ? "*" : "");
		table_cell(&t, "%s", mi->address);
		table_cell(&t, "%s", mi->state);
		if (mi->self)
			snprintf(age, sizeof(age), "now");
		else
			age_text(mi->hb_age_ms, age, sizeof(age));
		table_cell(&t, "%s", age);
		if (mi->keys >= 0)
			table_cell(&t, "%lld", (long long)mi->keys);
		else
			table_cell(&t, "-");
		table_cell(&t, "%.1f%%", mi->owns * 100);
		table_cell(&t, "%llu", (unsigned long long)mi->hints_for);
		if (!mi->answered)
			table_cell(&t, "-");
		else if (mi->xfer_running) {
			buf_reset(&xt);
			xfer_text(mi, false, &xt);
			table_cell(&t, "%s", xt.data);
		} else
			table_cell(&t, "idle");
	}
	table_print(&t, stdout);
	printf("* answered --server.  N=%d W=%d R=%d.  KEYS, TRANSFER: as each "
	    "member tells (-: no answer).\nHINTS: held for it by the others.  "
	    "OWNS: its share of the keys (the shares add up to N x 100%%).\n",
	    cv.n, cv.w, cv.r);
	if (cv.nlinks > 0)
		printf("Failing links, as each member that answered tells:\n");
	for (i = 0; i < cv.nlinks; i++) {
		buf_reset(&xt);
		link_text(&cv.links[i], &xt);
		printf("  - %s\n", xt.data);
	}
	table_free(&t);
	buf_free(&xt);
	cview_free(&cv);
	return EXIT_OK;
}

/* A warning line of status: text and JSON. */
static void __attribute__((format(printf, 3, 4)))
warn_add(struct buf *text, struct buf *json, const char *fmt, ...)
{
	struct buf tmp = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&tmp, fmt, ap);	/* whole: a warning naming 100 ids */
	va_end(ap);
	buf_printf(text, "  - %s\n", tmp.data);
	if (json->len > 0)
		buf_putc(json, ',');
	json_emit_string(json, tmp.data, tmp.len);
	buf_free(&tmp);
}

/* A JSON string, or null for "". */
static void
json_string_or_null(struct buf *b, const char *s)
{
	if (s[0] == '\0')
		buf_puts(b, "null");
	else
		json_emit_string(b, s, strlen(s));
}

/*
 * One member's entry of status -o json's "nodes", so that scripts need
 * not read the warnings' text: its state as the --server node sees it
 * (with why that node's calls to it fail, link_error), and what it said
 * of itself, null for what is unknown (it was not asked, did not
 * answer, or is a kvd from before the field).
 */
static void
status_member_json(const struct minfo *mi, struct buf *b)
{
	buf_puts(b, b->len ? ",{\"id\":" : "{\"id\":");
	json_emit_string(b, mi->id, strlen(mi->id));
	buf_puts(b, ",\"address\":");
	json_emit_string(b, mi->address, strlen(mi->address));
	buf_puts(b, ",\"state\":");
	json_emit_string(b, mi->state, strlen(mi->state));
	buf_printf(b, ",\"self\":%s,\"heartbeat_age_ms\":", mi->self ? "true" :
	    "false");
	if (mi->hb_age_ms >= 0)
		buf_printf(b, "%lld", (long long)mi->hb_age_ms);
	else
		buf_puts(b, "null");
	buf_printf(b, ",\"answered\":%s,\"error\":", mi->answered ? "true" :
	    "false");
	json_string_or_null(b, mi->answered ? "" : mi->err);
	buf_puts(b, ",\"storage\":");
	json_string_or_null(b, mi->storage);
	buf_puts(b, ",\"cas_storage\":");
	json_string_or_null(b, mi->cas_storage);
	buf_puts(b, ",\"ring_mismatch\":");
	json_string_or_null(b, mi->ring_mismatch);
	buf_puts(b, ",\"link_error\":");
	json_string_or_null(b, mi->link_error);
	buf_puts(b, ",\"keys\":");
	if (mi->answered && mi->keys >= 0)
		buf_printf(b, "%lld", (long long)mi->keys);
	else
		buf_puts(b, "null");
	buf_printf(b, ",\"hints_for\":%llu}", (unsigned long long)mi->hints_for);
}

/*
 * One running transfer for status: a line under "transfers" (the TRANSFER
 * column of cluster nodes, with a retry's last error, and a node that
 * left marked so) and an entry of -o json's "transfers".
 */
static void
status_xfer(const struct minfo *mi, struct buf *text, struct buf *json)
{
	buf_printf(text, "  - %s%s ", mi->id, mi->gone ? " (left the cluster)" :
	    "");
	xfer_text(mi, true, text);
	buf_putc(text, '\n');
	buf_printf(json, "%s{\"id\":", json->len ? "," : "");
	json_emit_string(json, mi->id, strlen(mi->id));
	buf_printf(json, ",\"member\":%s,\"keys_sent\":%llu,"
	    "\"keys_scanned\":%llu,\"retrying\":%s,\"waiting_on\":%llu,"
	    "\"strays\":%llu,\"strays_overflow\":%s,\"last_error\":",
	    mi->gone ? "false" : "true",
	    (unsigned long long)mi->xfer_sent,
	    (unsigned long long)mi->xfer_scanned,
	    mi->xfer_retrying ? "true" : "false",
	    (unsigned long long)mi->xfer_waiting,
	    (unsigned long long)mi->xfer_strays,
	    mi->xfer_strays_overflow ? "true" : "false");
	json_string_or_null(json, mi->xfer_error);
	buf_putc(json, '}');
}

/*
 * Whether some member that answered may hold copies of keys it no longer
 * owns, so that the copies counted are more than N a key: keys were sent
 * to new owners (a join, a leave) and a member's last placement pass
 * ended after its last cleanup, or a transfer or a cleanup is running,
 * or a cleanup kept keys it could not confirm.  From what each kvd
 * counts since it started: a member restarted since the change no
 * longer tells.
 */
static bool
cleanup_pending(const struct cview *cv)
{
	bool sent = false;
	size_t i;

	for (i = 0; i < cv->nm; i++)
		sent |= cv->m[i].answered && cv->m[i].xfer_sent_total > 0;
	for (i = 0; i < cv->nm; i++) {
		const struct minfo *mi = &cv->m[i];

		if (mi->answered && (mi->xfer_running || mi->cleanup_running ||
		    mi->cleanup_unconfirmed > 0 || (sent &&
		    mi->xfer_finished_ms > mi->cleanup_finished_ms)))
			return true;
	}
	return false;
}

/*
 * kvctl status: one screen about the cluster, from the --server node's
 * /cluster/nodes and each live member's own (cview_get).  Exit 0 when
 * the --server node answered, whatever the warnings say.
 */
static int
cmd_status(const struct opts *o)
{
	struct cview cv;
	struct buf warn = BUF_INIT, wj = BUF_INIT, down = BUF_INIT,
	    downj = BUF_INIT, xfer = BUF_INIT, xferj = BUF_INIT, aeoff = BUF_INIT,
	    forj = BUF_INIT, linksj = BUF_INIT, tmp = BUF_INIT;
	const struct minfo *last = NULL;
	char d[48], d2[48];
	uint64_t keys = 0, held = 0, held_bytes = 0;
	int64_t oldest = -1;	/* the oldest hint's age, ms; -1 none */
	size_t i, up = 0, counted = 0, ndown = 0, answered = 0, naeoff = 0;
	int rc;
	bool json = o->json || o->output == OUT_JSON, extra;

	if ((rc = cview_get(o, true, &cv, "status")) != 0)
		return rc;
	extra = cleanup_pending(&cv);
	if (!json)
		cview_sort(&cv);
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		if (is_down(mi)) {
			ndown++;
			if (downj.len)
				buf_putc(&downj, ',');
			json_emit_string(&downj, mi->id, strlen(mi->id));
		} else
			up++;
		if (!mi->answered)
			continue;
		answered++;
		if (mi->keys >= 0) {
			keys += (uint64_t)mi->keys;
			counted++;
		}
		held += mi->held;
		held_bytes += mi->held_bytes;
		if (mi->held_oldest_age > oldest)
			oldest = mi->held_oldest_age;
		if (mi->ae_last_age >= 0 && (last == NULL ||
		    mi->ae_last_age < last->ae_last_age))
			last = mi;
		if (mi->ae_interval_ms == 0) {
			buf_printf(&aeoff, "%s%s", aeoff.len ? ", " : "", mi->id);
			naeoff++;
		}
		if (mi->xfer_running)
			status_xfer(mi, &xfer, &xferj);
	}
	/* A node that left hands its keys off: listed while it does. */
	for (i = cv.nm; i < cv.nm + cv.ngone; i++)
		if (cv.m[i].answered && cv.m[i].xfer_running)
			status_xfer(&cv.m[i], &xfer, &xferj);
	/* Warnings, worst first: the node asked is no member at all. */
	if (cv.left) {
		for (i = 0; i < cv.nm && is_down(&cv.m[i]); i++)
			continue;
		warn_add(&warn, &wj, "this node (%s) has left the cluster and "
		    "refuses every key request; ask a member%s%s", cv.self,
		    i < cv.nm ? ": --server http://" : "", i < cv.nm ?
		    cv.m[i].address : "");
		if (!o->quiet)
			fprintf(stderr, "kvctl: status: this node (%s) has left "
			    "the cluster; ask a member\n", cv.self);
	}
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		if (is_down(mi)) {
			buf_reset(&tmp);
			down_text(mi, cv.self, &tmp);
			warn_add(&warn, &wj, "%s %s", mi->id, tmp.data);
			buf_reset(&tmp);
		} else if (strcmp(mi->state, "up") != 0)
			warn_add(&warn, &wj, "%s %s", mi->id, mi->state);
		else if (mi->asked && !mi->answered)
			warn_add(&warn, &wj, "%s did not answer kvctl: %s", mi->id,
			    mi->err);
	}
	/*
	 * Next to down: a member that cannot write, a line for each of its
	 * logs that refuses (both may), or that was wiped and is not yet
	 * refilled; a link that fails.
	 */
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		if (storage_text(mi->storage) != NULL)
			warn_add(&warn, &wj, "%s %s", mi->id,
			    storage_text(mi->storage));
		if (cas_storage_text(mi->cas_storage, mi->storage) != NULL)
			warn_add(&warn, &wj, "%s %s", mi->id,
			    cas_storage_text(mi->cas_storage, mi->storage));
		if (mi->answered && mi->xfer_hollow)
			warn_add(&warn, &wj, "%s was wiped and is not yet refilled "
			    "(an anti-entropy repair it asks for): it lacks keys "
			    "it owns, and the others send them at a join or "
			    "leave", mi->id);
	}
	for (i = 0; i < cv.nlinks; i++) {
		buf_reset(&tmp);
		link_text(&cv.links[i], &tmp);
		warn_add(&warn, &wj, "%s", tmp.data);
		buf_printf(&linksj, "%s{\"from\":", linksj.len ? "," : "");
		json_emit_string(&linksj, cv.links[i].from,
		    strlen(cv.links[i].from));
		buf_puts(&linksj, ",\"to\":");
		json_emit_string(&linksj, cv.links[i].to,
		    strlen(cv.links[i].to));
		buf_puts(&linksj, ",\"error\":");
		json_emit_string(&linksj, cv.links[i].error,
		    strlen(cv.links[i].error));
		buf_putc(&linksj, '}');
	}
	buf_reset(&tmp);
	if ((int)up < cv.n)
		warn_add(&warn, &wj, "fewer live members than N: %zu up, N=%d",
		    up, cv.n);
	for (i = 0; i < cv.nm; i++)
		if (cv.m[i].ring_mismatch[0] != '\0')
			warn_add(&warn, &wj, "%s ring parameters differ from "
			    "%s's: %s (each member needs the same --vnodes and "
			    "--n)", cv.m[i].id, cv.self, cv.m[i].ring_mismatch);
	for (i = 0; i < cv.nm; i++)
		if (cv.m[i].hints_for > 0) {
			warn_add(&warn, &wj, "%llu hint%s pending for %s",
			    (unsigned long long)cv.m[i].hints_for,
			    cv.m[i].hints_for == 1 ? "" : "s", cv.m[i].id);
			buf_printf(&forj, "%s", forj.len ? "," : "");
			json_emit_string(&forj, cv.m[i].id, strlen(cv.m[i].id));
			buf_printf(&forj, ":%llu",
			    (unsigned long long)cv.m[i].hints_for);
		}
	/*
	 * JSON keeps its one warning naming them all; the text has one line
	 * a member, as the other warnings, or one for all when every member
	 * that answered has it off (a cluster run so on purpose).
	 */
	if (naeoff > 0) {
		warn_add(&tmp, &wj, "anti-entropy disabled on %s "
		    "(--anti-entropy-interval 0)", aeoff.data);
		buf_reset(&tmp);
		if (naeoff > 1 && naeoff == answered && answered == cv.nm)
			warn_add(&warn, &tmp, "anti-entropy disabled on all %zu "
			    "members (--anti-entropy-interval 0)", naeoff);
		else if (naeoff > 1 && naeoff == answered)
			warn_add(&warn, &tmp, "anti-entropy disabled on all %zu "
			    "members that answered (--anti-entropy-interval 0)",
			    naeoff);
		else
			for (i = 0; i < cv.nm; i++)
				if (cv.m[i].answered && cv.m[i].ae_interval_ms == 0)
					warn_add(&warn, &tmp, "anti-entropy disabled "
					    "on %s (--anti-entropy-interval 0)",
					    cv.m[i].id);
		buf_reset(&tmp);
	}
	if (last != NULL && !last->ae_last_ok)
		warn_add(&warn, &wj, "last anti-entropy round failed: %s with "
		    "%s: %s", last->id, last->ae_last_peer, last->ae_last_error);

	if (json) {
		printf("{\"self\":");
		buf_reset(&xfer);
		json_emit_string(&xfer, cv.self, strlen(cv.self));
		printf("%s,\"members\":{\"total\":%zu,\"up\":%zu,\"down\":%zu,"
		    "\"down_ids\":[%s],\"answered\":%zu},\"n\":%d,\"w\":%d,"
		    "\"r\":%d,\"keys\":{\"copies\":%llu,\"members_counted\":%zu,"
		    "\"cleanup_pending\":%s},"
		    "\"hints\":{\"pending\":%llu,\"bytes\":%llu,"
		    "\"oldest_age_ms\":", xfer.data, cv.nm, up, ndown,
		    downj.len ? downj.data : "", answered, cv.n, cv.w, cv.r,
		    (unsigned long long)keys, counted, extra ? "true" : "false",
		    (unsigned long long)held, (unsigned long long)held_bytes);
		if (oldest >= 0)
			printf("%lld", (long long)oldest);
		else
			printf("null");
		printf(",\"for\":{%s}},\"anti_entropy\":{\"disabled_on\":%s,"
		    "\"last\":", forj.len ? forj.data : "",
		    aeoff.len ? "true" : "false");
		if (last != NULL) {
			buf_reset(&down);
			buf_puts(&down, "{\"node\":");
			json_emit_string(&down, last->id, strlen(last->id));
			buf_puts(&down, ",\"peer\":");
			json_emit_string(&down, last->ae_last_peer,
			    strlen(last->ae_last_peer));
			buf_printf(&down, ",\"ms\":%lld,\"age_ms\":%lld,\"ok\":%s,"
			    "\"error\":", (long long)last->ae_last_ms,
			    (long long)last->ae_last_age,
			    last->ae_last_ok ? "true" : "false");
			json_emit_string(&down, last->ae_last_error,
			    strlen(last->ae_last_error));
			buf_putc(&down, '}');
			printf("%s", down.data);
		} else
			printf("null");
		buf_reset(&tmp);
		for (i = 0; i < cv.nm; i++)
			status_member_json(&cv.m[i], &tmp);
		printf("},\"transfers\":[%s],\"nodes\":[%s],\"failing_links\":"
		    "[%s],\"warnings\":[%s]}\n", xferj.len ? xferj.data : "",
		    tmp.len ? tmp.data : "", linksj.len ? linksj.data : "",
		    wj.len ? wj.data : "");
		goto out;
	}
	/* Who is down, and for how long: one a line under warnings. */
	printf("cluster       %zu members: %zu up, %zu down   (seen by %s%s)\n",
	    cv.nm, up, ndown, cv.self, cv.left ? ", which has left" : "");
	printf("replication   N=%d W=%d R=%d\n", cv.n, cv.w, cv.r);
	/*
	 * Copies over copies a key: N, or every member when there are fewer.
	 * Only an upper bound while old owners still hold what they handed
	 * off (the count a user met after a join: 104460 for 82882 keys).
	 */
	if (cv.n > 0 && counted == cv.nm) {
		size_t per = (size_t)cv.n < cv.nm ? (size_t)cv.n : cv.nm;
		unsigned long long est = (keys + per / 2) / per;

		printf("keys          %llu cop%s on %zu member%s (%s%llu key%s",
		    (unsigned long long)keys, keys == 1 ? "y" : "ies", counted,
		    counted == 1 ? "" : "s",
		    extra ? "at most about " : "about ", est,
		    est == 1 ? "" : "s");
		if ((size_t)cv.n <= cv.nm)
			printf(" at N=%d)\n", cv.n);
		else
			printf(", each on every member)\n");
		if (extra)
			printf("              (old owners keep their copies until "
			    "'kvctl cluster cleanup')\n");
	} else if (counted > 0)
		printf("keys          %llu cop%s on the %zu of %zu members that "
		    "answered\n", (unsigned long long)keys, keys == 1 ? "y" :
		    "ies", counted, cv.nm);
	else
		printf("keys          unknown (no member answered)\n");
	bytes_text(held_bytes, d, sizeof(d));
	age_text(oldest, d2, sizeof(d2));
	if (held > 0)
		printf("hints         %llu pending (%s), oldest %s\n",
		    (unsigned long long)held, d, d2);
	else
		printf("hints         none pending\n");
	if (last != NULL) {
		age_text(last->ae_last_age, d, sizeof(d));
		printf("anti-entropy  last round %s, %s with %s: %s%s\n", d,
		    last->id, last->ae_last_peer, last->ae_last_ok ? "ok" :
		    "failed: ", last->ae_last_ok ? "" : last->ae_last_error);
	} else
		printf("anti-entropy  no round yet\n");
	/* One a line under the heading, as the warnings: a big cluster
	 * joining or leaving has one per sender. */
	if (xfer.len)
		printf("transfers\n%s", xfer.data);
	else
		printf("transfers     none running\n");
	if (warn.len)
		printf("warnings\n%s", warn.data);
	else
		printf("warnings      none\n");
out:
	buf_free(&warn);
	buf_free(&wj);
	buf_free(&down);
	buf_free(&downj);
	buf_free(&xfer);
	buf_free(&xferj);
	buf_free(&aeoff);
	buf_free(&forj);
	buf_free(&linksj);
	buf_free(&tmp);
	cview_free(&cv);
	return EXIT_OK;
}

/* ---- admin: hints and repair ---- */

/*
 * One admin request, signed with --cluster-secret-file's secret when it
 * was given (kvd refuses unsigned /admin/ calls when the cluster has a
 * secret): to the member at address, or through --server when address
 * is NULL.  0 with res filled, or an exit code after a message.
 */
static int
admin_call(const struct opts *o, const char *address, const char *method,
    const char *target, struct client_response *res)
{
	struct auth *auth = admin_auth;
	char host[NET_HOST_MAX], port[NET_PORT_MAX], why[256];
	struct buf hdr = BUF_INIT;
	struct client_conn c;
	int rc = 0, saved = 0;

	if (auth != NULL)
		auth_sign(auth, method, target, NULL, 0, &hdr);
	if (address == NULL) {
		rc = request(o, method, target, NULL, NULL, 0, hdr.len ?
		    hdr.data : NULL, res);
		goto out;
	}
	if (net_split_hostport(address, host, sizeof(host), port,
	    sizeof(port)) != 0) {
		fprintf(stderr, "kvctl: bad member address %s\n", address);
		rc = EXIT_SERVER;
		goto out;
	}
	client_init(&c, host, port, o->connect_timeout_ms);
	if (client_do(&c, method, target, NULL, NULL, 0, hdr.len ? hdr.data :
	    NULL, o->timeout_ms, res) != 0) {
		saved = errno;
		if (!o->quiet)
			fprintf(stderr, "kvctl: %s: %s\n", address,
			    client_strerror(&c, saved, why, sizeof(why)));
		rc = EXIT_UNREACHABLE;
	}
	client_close(&c);
	errno = saved;		/* the call's failure, for the caller */
out:
	buf_free(&hdr);
	return rc;
}

/*
 * Whether a member's admin answer (rc from admin_call, and res) is a 200
 * to read.  Else it has been reported, res is freed, and its exit code
 * is kept in *worst unless an earlier one is.
 */
static bool
admin_answered(const struct opts *o, int rc, struct client_response *res,
    const char *id, int *worst)
{
	if (rc == 0 && res->http.status != 200)
		rc = report(o, res, id);
	if (rc == 0)
		return true;
	*worst = *worst ? *worst : rc;
	client_response_free(res);
	return false;
}

/* The member named id in cv, or NULL after a message. */
static const struct minfo *
find_member(const struct cview *cv, const char *id, const char *what)
{
	const struct minfo *mi = cview_find(cv, id);

	if (mi == NULL)
		fprintf(stderr, "kvctl: %s: no member '%s' (kvctl cluster nodes "
		    "lists them)\n", what, id);
	return mi;
}

/*
 * One member's admin call for kvctl hints (GET /admin/hints) and hints
 * drop (DELETE /admin/hints/OWNER), on a thread of its own.
 */
struct hints_ask {
	const struct opts *o;		/* the member's call: deadline, quiet */
	const char	*address;	/* NULL: through --server */
	const char	*method, *target;
	struct client_response res;
	int		 rc;		/* admin_call's */
	int		 err;		/* errno of its failure */
};

static void *
hints_ask_call(void *arg)
{
	struct hints_ask *ha = arg;

	ha->rc = admin_call(ha->o, ha->address, ha->method, ha->target,
	    &ha->res);
	ha->err = errno;
	return NULL;
}

/*
 * kvctl hints [NODE]: the hints NODE holds, per owner (GET /admin/hints);
 * without NODE, those of every member the --server node does not see
 * down, since any of them may hold hints.  They are asked all at once
 * (each_at_once), each given MEMBER_CALL_MS as status gives it, and
 * their answers read in the members' order; one that does not answer is
 * named on stderr: the list is then partial, so "no hints pending" is
 * not said as if it were complete, and the exit status is 3 (one that
 * answers an error makes it partial too, exit as for its status).  Exit 0
 * when every member asked answered.
 */
static int
cmd_hints(const struct opts *o, const char *node)
{
	static const char *const heads[] = { "HOLDER", "OWNER", "STATE",
	    "HINTS", "BYTES", "OLDEST" };
	struct cview cv;
	struct client_response *res;
	struct hints_ask *ha = NULL;
	bool *asking = NULL;
	struct table t;
	struct json_tok *tk;
	struct buf js = BUF_INIT, skipped = BUF_INIT, silent = BUF_INIT;
	const struct minfo *only = NULL;
	struct opts mo = *o;	/* a member's call: status's deadline, quiet */
	char owner[72], state[16], d[48], d2[48];
	int64_t age;
	size_t i, asked = 0, nsilent = 0;
	int rc, worst = EXIT_OK, arr, e, k, rows = 0;
	bool json = o->json || o->output == OUT_JSON;

	if (mo.timeout_ms > MEMBER_CALL_MS)
		mo.timeout_ms = MEMBER_CALL_MS;
	if (mo.connect_timeout_ms > mo.timeout_ms)
		mo.connect_timeout_ms = mo.timeout_ms;
	mo.quiet = true;

	if ((rc = cview_get(o, false, &cv, "hints")) != 0)
		return rc;
	if (!json)
		cview_sort(&cv);
	if (node != NULL && (only = find_member(&cv, node, "hints")) == NULL) {
		cview_free(&cv);
		return EXIT_NOTFOUND;
	}
	table_init(&t, heads, sizeof(heads) / sizeof(heads[0]));
	t.right[3] = t.right[4] = true;
	ha = calloc(cv.nm + 1, sizeof(*ha));
	asking = calloc(cv.nm + 1, sizeof(*asking));
	if (ha == NULL || asking == NULL) {
		worst = EXIT_CLIENT;
		goto out;
	}
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		client_response_init(&ha[i].res);
		if ((only != NULL && mi != only) || (only == NULL && is_down(mi))) {
			/* One a line, as status's warnings: never a long one. */
			if (only == NULL) {
				buf_printf(&skipped, "kvctl: not asked: %s ",
				    mi->id);
				down_text(mi, cv.self, &skipped);
				buf_putc(&skipped, '\n');
			}
			continue;
		}
		ha[i].o = &mo;
		ha[i].address = mi->self && only == NULL ? NULL : mi->address;
		ha[i].method = "GET";
		ha[i].target = "/admin/hints";
		asking[i] = true;
	}
	each_at_once(ha, cv.nm, sizeof(*ha), asking, hints_ask_call);
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		if (!asking[i])
			continue;
		asked++;
		res = &ha[i].res;
		if ((rc = ha[i].rc) == EXIT_UNREACHABLE) {
			/* Named by id, with why: its hints are unknown. */
			buf_printf(&silent, "kvctl: hints: %s (%s) did not "
			    "answer: %s; the hints it holds are unknown\n",
			    mi->id, mi->address, ha[i].err == ETIMEDOUT ?
			    "timed out" : strerror(ha[i].err));
			nsilent++;
		}
		if (!admin_answered(o, rc, res, mi->id, &worst)) {
			/* An error answer (a 401, a 503) says nothing of
			 * its hints either; report() named it. */
			if (rc != EXIT_UNREACHABLE)
				nsilent++;
			continue;
		}
		if (js.len)
			buf_putc(&js, ',');
		buf_append(&js, res->body.data, res->body.len > 0 &&
		    res->body.data[res->body.len - 1] == '\n' ?
		    res->body.len - 1 : res->body.len);
		if ((tk = parse_body(&res->body)) != NULL &&
		    (arr = jget(res->body.data, tk, 0, "owners")) >= 0 &&
		    tk[arr].type == JSON_ARRAY)
			for (k = 0, e = arr + 1; k < tk[arr].size; k++,
			    e = tk[e].next) {
				const char *b = res->body.data;

				jstr(b, tk, e, "owner", owner, sizeof(owner));
				jstr(b, tk, e, "state", state, sizeof(state));
				bytes_text((uint64_t)jint(b, tk, e, "bytes", 0), d,
				    sizeof(d));
				age = jint(b, tk, e, "oldest_age_ms", -1);
				/* A hint held has an age: never "-" for one. */
				if (age < 0 && jint(b, tk, e, "oldest_ms", 0) > 0)
					age = 0;
				age_text(age, d2, sizeof(d2));
				table_cell(&t, "%s", mi->id);
				table_cell(&t, "%s", owner);
				table_cell(&t, "%s", state);
				table_cell(&t, "%lld", (long long)jint(b, tk, e,
				    "pending", 0));
				table_cell(&t, "%s", d);
				table_cell(&t, "%s", d2);
				rows++;
			}
		free(tk);
	}
	if (json)
		printf("{\"nodes\":[%s]}\n", js.len ? js.data : "");
	else if (rows > 0) {
		table_sort(&t);		/* by holder, then owner */
		table_print(&t, stdout);
	} else if (nsilent > 0)
		printf("no hints pending on the %zu of %zu members asked that "
		    "answered\n", asked - nsilent, asked);
	else
		printf("no hints pending\n");
	if (!json && skipped.len && !o->quiet)
		fputs(skipped.data, stderr);
	if (silent.len && !o->quiet)
		fputs(silent.data, stderr);
out:
	for (i = 0; ha != NULL && i < cv.nm; i++)
		client_response_free(&ha[i].res);
	free(ha);
	free(asking);
	table_free(&t);
	buf_free(&js);
	buf_free(&skipped);
	buf_free(&silent);
	cview_free(&cv);
	return worst;
}

/* Asks question on stderr; true for y or yes on stdin. */
static bool
ask_yes(const char *question)
{
	char answer[16];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	return fgets(answer, sizeof(answer), stdin) != NULL &&
	    (strcmp(answer, "y\n") == 0 || strcmp(answer, "yes\n") == 0);
}

/*
 * Asks every member of cv not seen down (and, when skip_owner, not owner
 * itself) method target at once (each_at_once), as mo says: deadline,
 * quiet.  ha[i] gets member i's answer; asking[i] says whether it was
 * asked.
 */
static void
hints_ask_all(const struct cview *cv, const struct opts *mo, const char *method,
    const char *target, struct hints_ask *ha, bool *asking)
{
	size_t i;

	for (i = 0; i < cv->nm; i++) {
		client_response_init(&ha[i].res);
		if (is_down(&cv->m[i]))
			continue;
		ha[i].o = mo;
		ha[i].address = cv->m[i].self ? NULL : cv->m[i].address;
		ha[i].method = method;
		ha[i].target = target;
		asking[i] = true;
	}
	each_at_once(ha, cv->nm, sizeof(*ha), asking, hints_ask_call);
}

/* Frees the answers of hints_ask_all and clears ha and asking for another. */
static void
hints_ask_reset(size_t n, struct hints_ask *ha, bool *asking)
{
	size_t i;

	for (i = 0; i < n; i++)
		client_response_free(&ha[i].res);
	memset(ha, 0, n * sizeof(*ha));
	memset(asking, 0, n * sizeof(*asking));
}

/*
 * The members whose hints for owner a count (hints_ask_all of GET
 * /admin/hints: ha, asking) left out, for hints drop's question, in the
 * members' order: each seen down (not asked) and each asked that gave
 * no 200, with why ("node3 (down), node4 (did not answer: timed out)").
 * Never owner itself: it holds none for itself.  "" when none.
 */
static void
drop_uncounted(const struct cview *cv, const char *owner,
    const struct hints_ask *ha, const bool *asking, struct buf *out)
{
	char why[256];
	size_t i;

	for (i = 0; i < cv->nm; i++) {
		if (strcmp(cv->m[i].id, owner) == 0 || (asking[i] &&
		    ha[i].rc == 0 && ha[i].res.http.status == 200))
			continue;
		buf_printf(out, "%s%s (", out->len ? ", " : "", cv->m[i].id);
		if (!asking[i])
			buf_puts(out, "down)");
		else if (ha[i].rc == 0)
			buf_printf(out, "answered HTTP %d)",
			    ha[i].res.http.status);
		else if (ha[i].rc == EXIT_UNREACHABLE)
			buf_printf(out, "did not answer: %s)",
			    client_strerror(NULL, ha[i].err, why, sizeof(why)));
		else
			buf_puts(out, "did not answer)");
	}
}

/*
 * kvctl hints drop OWNER: drops the hints held for OWNER on every member
 * the --server node does not see down (DELETE /admin/hints/OWNER), all
 * at once, as hints asks them (each with the whole --timeout: a drop
 * may take a while), their answers read in the members' order.  On a
 * terminal it first counts them (GET /admin/hints at once, MEMBER_CALL_MS
 * each) and asks, naming the members the count left out (drop_uncounted:
 * the count is then no total); elsewhere it needs --yes.
 * Exit 0 when every member asked dropped them, 1 when OWNER is no member
 * (find_member says so, and none is asked: a former member's hints go
 * to its keys' current replicas by themselves).  A member seen
 * down (other than OWNER, which holds none for itself) is not asked and
 * makes it exit 3, as one that does not answer does: the drop is not
 * complete until every holder was reached, and 3 says to try again.
 * OWNER not answering (killed, not yet seen down) costs nothing: a note.
 */
static int
cmd_hints_drop(const struct opts *o, const char *owner)
{
	struct cview cv;
	struct client_response *res;
	struct hints_ask *ha = NULL;
	bool *asking = NULL;
	struct opts mo = *o, dq = *o;
	struct buf target = BUF_INIT, js = BUF_INIT, q = BUF_INIT,
	    uncounted = BUF_INIT;
	struct json_tok *tk;
	char id[72], d[48], why[256];
	uint64_t count = 0, bytes = 0, dropped = 0, dbytes = 0;
	size_t i;
	int rc, worst = EXIT_OK, arr, e, k;

	if (!o->yes && !isatty(STDIN_FILENO))
		return usage_error(NULL, "hints drop: give --yes to drop without "
		    "a question (stdin is not a terminal)");
	if ((rc = cview_get(o, false, &cv, "hints drop")) != 0)
		return rc;
	if (find_member(&cv, owner, "hints drop") == NULL) {
		cview_free(&cv);
		return EXIT_NOTFOUND;
	}
	if (!o->json && o->output != OUT_JSON)
		cview_sort(&cv);	/* the lines per holder, for people */
	ha = calloc(cv.nm + 1, sizeof(*ha));
	asking = calloc(cv.nm + 1, sizeof(*asking));
	if (ha == NULL || asking == NULL) {
		worst = EXIT_CLIENT;
		goto out;
	}
	/* The calls say nothing: their failures are named below, in order. */
	if (mo.timeout_ms > MEMBER_CALL_MS)
		mo.timeout_ms = MEMBER_CALL_MS;
	if (mo.connect_timeout_ms > mo.timeout_ms)
		mo.connect_timeout_ms = mo.timeout_ms;
	mo.quiet = dq.quiet = true;
	buf_puts(&target, "/admin/hints/");
	http_percent_encode(owner, strlen(owner), &target);
	if (!o->yes) {
		hints_ask_all(&cv, &mo, "GET", "/admin/hints", ha, asking);
		for (i = 0; i < cv.nm; i++) {
			res = &ha[i].res;
			if (!asking[i] || ha[i].rc != 0 ||
			    res->http.status != 200 ||
			    (tk = parse_body(&res->body)) == NULL)
				continue;
			arr = jget(res->body.data, tk, 0, "owners");
			for (k = 0, e = arr + 1; arr >= 0 && k < tk[arr].size;
			    k++, e = tk[e].next) {
				jstr(res->body.data, tk, e, "owner", id,
				    sizeof(id));
				if (strcmp(id, owner) != 0)
					continue;
				count += (uint64_t)jint(res->body.data, tk, e,
				    "pending", 0);
				bytes += (uint64_t)jint(res->body.data, tk, e,
				    "bytes", 0);
			}
			free(tk);
		}
		drop_uncounted(&cv, owner, ha, asking, &uncounted);
		hints_ask_reset(cv.nm, ha, asking);
		bytes_text(bytes, d, sizeof(d));
		buf_printf(&q, "Drop %llu hint%s (%s) held for %s? They will "
		    "never be delivered.", (unsigned long long)count,
		    count == 1 ? "" : "s", d, owner);
		if (uncounted.len > 0)
			buf_printf(&q, " Members not counted: %s.",
			    uncounted.data);
		if (!ask_yes(q.data)) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: aborted: nothing "
				    "dropped\n");
			worst = EXIT_ABORTED;
			goto out;
		}
	}
	hints_ask_all(&cv, &dq, "DELETE", target.data, ha, asking);
	for (i = 0; i < cv.nm; i++) {
		const struct minfo *mi = &cv.m[i];

		res = &ha[i].res;
		if (is_down(mi) && strcmp(mi->id, owner) == 0)
			continue;	/* holds none for itself */
		if (is_down(mi)) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: %s is down: hints it holds "
				    "for %s are kept\n", mi->id, owner);
			worst = worst ? worst : EXIT_UNREACHABLE;
			continue;
		}
		rc = ha[i].rc;
		if (rc == EXIT_UNREACHABLE && strcmp(mi->id, owner) == 0 &&
		    !mi->self) {
			/* Gone before gossip says so: as if seen down. */
			if (!o->quiet)
				fprintf(stderr, "kvctl: %s did not answer (it "
				    "holds no hints for itself)\n", owner);
			continue;
		}
		if (rc == EXIT_UNREACHABLE && !o->quiet)
			fprintf(stderr, "kvctl: hints drop: %s (%s) did not "
			    "answer: %s; the hints it holds for %s may be kept\n",
			    mi->id, mi->address, client_strerror(NULL,
			    ha[i].err, why, sizeof(why)), owner);
		if (!admin_answered(o, rc, res, mi->id, &worst))
			continue;
		if ((tk = parse_body(&res->body)) != NULL) {
			uint64_t n = (uint64_t)jint(res->body.data, tk, 0,
			    "dropped", 0), b = (uint64_t)jint(res->body.data,
			    tk, 0, "bytes", 0);

			dropped += n;
			dbytes += b;
			bytes_text(b, d, sizeof(d));
			/*
			 * OWNER holds none for itself: "node3: dropped 0
			 * hints (0 B) for node3" read as if it had some.
			 */
			if (!o->json && o->output != OUT_JSON && n == 0 &&
			    strcmp(mi->id, owner) == 0)
				printf("%s: holds no hints for itself\n",
				    mi->id);
			else if (!o->json && o->output != OUT_JSON)
				printf("%s: dropped %llu hint%s (%s) for %s\n",
				    mi->id, (unsigned long long)n, n == 1 ? "" :
				    "s", d, owner);
			free(tk);
		}
		if (js.len)
			buf_putc(&js, ',');
		buf_append(&js, res->body.data, res->body.len > 0 &&
		    res->body.data[res->body.len - 1] == '\n' ?
		    res->body.len - 1 : res->body.len);
	}
	if (o->json || o->output == OUT_JSON) {
		buf_reset(&q);
		json_emit_string(&q, owner, strlen(owner));
		printf("{\"owner\":%s,\"dropped\":%llu,\"bytes\":%llu,"
		    "\"nodes\":[%s]}\n", q.data, (unsigned long long)dropped,
		    (unsigned long long)dbytes, js.len ? js.data : "");
	}
out:
	if (ha != NULL)
		hints_ask_reset(cv.nm, ha, asking);
	free(ha);
	free(asking);
	buf_free(&target);
	buf_free(&js);
	buf_free(&q);
	buf_free(&uncounted);
	cview_free(&cv);
	return worst;
}

#define REPAIR_POLL_MS	200

/* Reads a /admin/repair answer into r's fields we show.  0 or -1. */
struct repair_view {
	uint64_t round, compared, differing, received, sent;
	int64_t	 started_ms, finished_ms;
	unsigned total, done, failed;
	bool	 running, ok;
	char	 id[72], peer[72], error[160];
};

static int
repair_read(const struct client_response *res, struct repair_view *r)
{
	const char *b = res->body.data;
	struct json_tok *t;
	char state[16];

	if ((t = parse_body(&res->body)) == NULL)
		return -1;
	r->round = (uint64_t)jint(b, t, 0, "round", 0);
	r->running = jtrue(b, t, 0, "running");
	jstr(b, t, 0, "state", state, sizeof(state));
	r->ok = strcmp(state, "done") == 0;
	r->started_ms = jint(b, t, 0, "started_ms", 0);
	r->finished_ms = jint(b, t, 0, "finished_ms", 0);
	r->total = (unsigned)jint(b, t, 0, "peers_total", 0);
	r->done = (unsigned)jint(b, t, 0, "peers_done", 0);
	r->failed = (unsigned)jint(b, t, 0, "peers_failed", 0);
	r->compared = (uint64_t)jint(b, t, 0, "keys_compared", 0);
	r->differing = (uint64_t)jint(b, t, 0, "slices_differing", 0);
	r->received = (uint64_t)jint(b, t, 0, "keys_received", 0);
	r->sent = (uint64_t)jint(b, t, 0, "keys_sent", 0);
	jstr(b, t, 0, "id", r->id, sizeof(r->id));
	jstr(b, t, 0, "peer", r->peer, sizeof(r->peer));
	jstr(b, t, 0, "error", r->error, sizeof(r->error));
	free(t);
	return 0;
}

/*
 * kvctl repair [NODE]: starts an anti-entropy repair on NODE (or the
 * --server node): one exchange with every member it shares ranges with
 * (POST /admin/repair), then polls GET /admin/repair and shows the
 * progress on stderr until it has finished.  Exit 0 when every exchange
 * succeeded, 5 when one failed.
 */
static int
cmd_repair(const struct opts *o, const char *node)
{
	struct cview cv;
	struct client_response res;
	struct repair_view r;
	char addr[300] = "", d[48];
	unsigned shown = (unsigned)-1;
	uint64_t round;
	int rc;
	bool json = o->json || o->output == OUT_JSON;

	memset(&cv, 0, sizeof(cv));
	if (node != NULL) {
		const struct minfo *mi;

		if ((rc = cview_get(o, false, &cv, "repair")) != 0)
			return rc;
		if ((mi = find_member(&cv, node, "repair")) == NULL) {
			cview_free(&cv);
			return EXIT_NOTFOUND;
		}
		snprintf(addr, sizeof(addr), "%s", mi->address);
		cview_free(&cv);
	}
	client_response_init(&res);
	rc = admin_call(o, addr[0] ? addr : NULL, "POST", "/admin/repair", &res);
	if (rc == 0 && res.http.status != 202)
		rc = report(o, &res, "repair");
	if (rc == 0 && repair_read(&res, &r) != 0) {
		fprintf(stderr, "kvctl: repair: bad /admin/repair answer\n");
		rc = EXIT_SERVER;
	}
	if (rc != 0)
		goto out;
	round = r.round;
	if (!o->quiet && !json)
		fprintf(stderr, "kvctl: repair round %llu started on %s\n",
		    (unsigned long long)round, r.id);
	while (r.running && r.round == round) {
		if (!o->quiet && !json && r.done != shown && r.total > 0) {
			fprintf(stderr, "kvctl: repair: %u/%u peers done, %llu keys "
			    "compared, %llu ranges differed, %llu fetched, %llu "
			    "pushed%s%s\n", r.done, r.total,
			    (unsigned long long)r.compared,
			    (unsigned long long)r.differing,
			    (unsigned long long)r.received,
			    (unsigned long long)r.sent, r.peer[0] ? "; now " : "",
			    r.peer);
			shown = r.done;
		}
		poll(NULL, 0, REPAIR_POLL_MS);
		client_response_free(&res);
		client_response_init(&res);
		rc = admin_call(o, addr[0] ? addr : NULL, "GET", "/admin/repair",
		    &res);
		if (rc == 0 && res.http.status != 200)
			rc = report(o, &res, "repair");
		if (rc == 0 && repair_read(&res, &r) != 0)
			rc = EXIT_SERVER;
		if (rc != 0)
			goto out;
	}
	if (r.round != round) {
		fprintf(stderr, "kvctl: repair: round %llu was followed by %llu "
		    "before kvctl saw it finish\n", (unsigned long long)round,
		    (unsigned long long)r.round);
		rc = EXIT_SERVER;
		goto out;
	}
	if (json)
		fwrite(res.body.data, 1, res.body.len, stdout);
	else {
		duration_text(r.finished_ms - r.started_ms, d, sizeof(d));
		printf("repair of %s %s in %s: %u peer%s, %llu keys compared, "
		    "%llu ranges differed, %llu keys fetched, %llu pushed%s%s\n",
		    r.id, r.ok ? "done" : "FAILED", d, r.total,
		    r.total == 1 ? "" : "s", (unsigned long long)r.compared,
		    (unsigned long long)r.differing,
		    (unsigned long long)r.received, (unsigned long long)r.sent,
		    r.error[0] ? ": " : "", r.error);
	}
	rc = r.ok ? EXIT_OK : EXIT_SERVER;
out:
	client_response_free(&res);
	return rc;
}

/*
 * POSTs {"id":ID} (with "address":ADDRESS unless NULL) to target, signed
 * when kvctl has the secret.  0 with res filled (any status), or an exit
 * code after a message.
 */
static int
cluster_post(const struct opts *o, const char *target, const char *id,
    const char *address, struct client_response *res)
{
	struct buf body = BUF_INIT, hdr = BUF_INIT;
	int rc;

	buf_puts(&body, "{\"id\":");
	json_emit_string(&body, id, strlen(id));
	if (address != NULL) {
		buf_puts(&body, ",\"address\":");
		json_emit_string(&body, address, strlen(address));
	}
	buf_puts(&body, "}");
	if (admin_auth != NULL)
		auth_sign(admin_auth, "POST", target, body.data, body.len, &hdr);
	rc = request(o, "POST", target, "application/json", body.data,
	    body.len, hdr.len ? hdr.data : NULL, res);
	buf_free(&body);
	buf_free(&hdr);
	return rc;
}

/* qsort: member ids (char[72]) in natural order. */
static int
id_cmp(const void *a, const void *b)
{
	return natural_cmp(a, b);
}

/* The most member ids join names on its "members now" line. */
#define JOIN_IDS_SHOWN	8

/*
 * Whether a kvd answers /health at address, within a second: a join
 * admits a node that is not running yet, which then receives nothing.
 */
static bool
join_node_answers(const struct opts *o, const char *address)
{
	char host[NET_HOST_MAX], port[NET_PORT_MAX];
	struct client_response res;
	struct client_conn c;
	int ms = o->timeout_ms < 1000 ? o->timeout_ms : 1000;
	bool ok;

	if (net_split_hostport(address, host, sizeof(host), port,
	    sizeof(port)) != 0)
		return false;
	client_response_init(&res);
	client_init(&c, host, port, o->connect_timeout_ms < ms ?
	    o->connect_timeout_ms : ms);
	ok = client_do(&c, "GET", "/health", NULL, NULL, 0, NULL, ms,
	    &res) == 0;
	client_close(&c);
	client_response_free(&res);
	return ok;
}

/*
 * ID's address in the --server node's /cluster/nodes, into addr (kept as
 * it was when ID is not listed or the call fails).  True when found.
 * Quiet: the join or leave that follows says why no server answers.
 */
static bool
member_address(const struct opts *o, const char *id, char *addr,
    size_t addrlen)
{
	struct client_response res;
	struct json_tok *t = NULL;
	struct opts q = *o;
	char mid[72];
	bool found = false;
	int arr, e, k;

	q.quiet = true;
	client_response_init(&res);
	if (request(&q, "GET", "/cluster/nodes", NULL, NULL, 0, NULL,
	    &res) == 0 && res.http.status == 200 &&
	    (t = parse_body(&res.body)) != NULL &&
	    (arr = jget(res.body.data, t, 0, "members")) >= 0 &&
	    t[arr].type == JSON_ARRAY)
		for (k = 0, e = arr + 1; k < t[arr].size && !found; k++,
		    e = t[e].next) {
			jstr(res.body.data, t, e, "id", mid, sizeof(mid));
			if ((found = strcmp(mid, id) == 0))
				jstr(res.body.data, t, e, "address", addr,
				    addrlen);
		}
	free(t);
	client_response_free(&res);
	return found;
}

/*
 * From a join's or leave's answer (the --server node's /cluster/nodes
 * after the change): that node's id and address into self and via, and
 * the member ids into *ids (sorted, the caller frees; *n of them).  0, or
 * -1 when it is malformed.
 */
static int
change_answer(const struct client_response *res, char *self, size_t selflen,
    char *via, size_t vialen, char (**ids)[72], int *n)
{
	const char *b = res->body.data;
	struct json_tok *t;
	int arr, e, k;

	*ids = NULL;
	*n = 0;
	if ((t = parse_body(&res->body)) == NULL ||
	    (arr = jget(b, t, 0, "members")) < 0 || t[arr].type != JSON_ARRAY ||
	    (*ids = calloc((size_t)t[arr].size + 1, sizeof(**ids))) == NULL) {
		free(t);
		return -1;
	}
	jstr(b, t, 0, "self", self, selflen);
	for (k = 0, e = arr + 1; k < t[arr].size; k++, e = t[e].next) {
		jstr(b, t, e, "id", (*ids)[*n], sizeof((*ids)[*n]));
		if (jtrue(b, t, e, "self"))
			jstr(b, t, e, "address", via, vialen);
		(*n)++;
	}
	if (*n > 1)
		qsort(*ids, (size_t)*n, sizeof(**ids), id_cmp);
	free(t);
	return 0;
}

/* Prints "members now: N (ids...)", the ids when there are few. */
static void
members_now(char (*ids)[72], int n)
{
	int k;

	printf("members now: %d", n);
	for (k = 0; k < n && n <= JOIN_IDS_SHOWN; k++)
		printf("%s%s", k == 0 ? " (" : ", ", ids[k]);
	printf("%s\n", n <= JOIN_IDS_SHOWN ? ")" :
	    " (kvctl cluster nodes lists them)");
}

/*
 * kvctl cluster join ID ADDRESS: POST /cluster/join through --server.
 * Says what happened, as etcdctl member add does: that ID joined (or was
 * a member at ADDRESS already, learnt from a GET /cluster/nodes first),
 * through which member, the members now, and that the keys move in the
 * background (how to watch them, and cleanup after).  --json prints the
 * server's answer, the member list, as before.  Exit as report() maps
 * the answer's status.
 */
static int
cmd_join(const struct opts *o, const char *id, const char *address)
{
	struct client_response res;
	char self[72] = "", via[300] = "", was_at[300] = "", (*ids)[72] = NULL;
	bool json = o->json || o->output == OUT_JSON, was;
	int rc, n;

	was = !json && member_address(o, id, was_at, sizeof(was_at)) &&
	    strcmp(was_at, address) == 0;
	client_response_init(&res);
	if ((rc = cluster_post(o, "/cluster/join", id, address, &res)) != 0)
		goto out;
	if ((rc = report(o, &res, "cluster join")) != 0 || json)
		goto out;
	if (change_answer(&res, self, sizeof(self), via, sizeof(via), &ids,
	    &n) != 0) {
		rc = malformed(o, "cluster join");
		goto out;
	}
	if (was)	/* the usual end of README's "Adding a node": fine */
		printf("%s is a member at %s already, through %s%s%s (gossip or "
		    "an earlier join admitted it): nothing to do\n", id,
		    address, self, via[0] ? " at " : "", via);
	else
		printf("%s joined the cluster at %s, through %s%s%s\n", id,
		    address, self, via[0] ? " at " : "", via);
	members_now(ids, n);
	if (!join_node_answers(o, address))
		printf("%s does not answer at %s yet: start it (--peers naming "
		    "any member);\nit receives its keys once it runs\n", id,
		    address);
	if (!was)
		printf("The keys %s now owns are sent to it in the background. "
		    "Watch them with\n'kvctl cluster nodes' (TRANSFER) or "
		    "'kvctl status' (transfers); once none runs,\n'kvctl "
		    "cluster cleanup' drops the copies the old owners still "
		    "keep.\n", id);
out:
	free(ids);
	client_response_free(&res);
	return rc;
}

/*
 * kvctl cluster leave ID: POST /cluster/leave through --server.  Says
 * who left (at which address, learnt from a GET /cluster/nodes first),
 * through which member, the members now, that its keys move to their
 * remaining owners in the background, and how to know that is done
 * before it is stopped.  --json prints the server's answer, as before.
 * A leave of a node that has left already (404 already_left: a leave
 * repeated, say by a script whose first try lost its answer) is done
 * as asked: exit 0, saying nothing changed, as a join of a member at
 * its address is; an id that never was a member stays exit 1.
 */
static int
cmd_leave(const struct opts *o, const char *id)
{
	struct client_response res;
	char self[72] = "", via[300] = "", addr[300] = "", (*ids)[72] = NULL;
	bool json = o->json || o->output == OUT_JSON;
	int rc, n;

	if (!json)
		(void)member_address(o, id, addr, sizeof(addr));
	client_response_init(&res);
	if ((rc = cluster_post(o, "/cluster/leave", id, NULL, &res)) != 0)
		goto out;
	if (res.http.status == 404 && error_code_is(&res, "already_left")) {
		if (json)
			fwrite(res.body.data, 1, res.body.len, stdout);
		else
			printf("%s has already left the cluster: nothing "
			    "changed (a leave repeated?)\n'kvctl status' lists "
			    "its transfer while it still hands its keys off.\n",
			    id);
		goto out;
	}
	if ((rc = report(o, &res, "cluster leave")) != 0 || json)
		goto out;
	if (change_answer(&res, self, sizeof(self), via, sizeof(via), &ids,
	    &n) != 0) {
		rc = malformed(o, "cluster leave");
		goto out;
	}
	printf("%s left the cluster%s%s%s, through %s%s%s\n", id,
	    addr[0] ? " (it was at " : "", addr, addr[0] ? ")" : "",
	    self[0] ? self : "the --server node", via[0] ? " at " : "", via);
	members_now(ids, n);
	if (addr[0] != '\0' && !join_node_answers(o, addr))
		printf("%s does not answer at %s: the other owners of its keys "
		    "send them to the\nnew owners in the background.\n", id,
		    addr);
	else
		printf("Its keys move to their remaining owners in the "
		    "background, sent by %s\nitself. Before you stop it, "
		    "wait until that is done: its /cluster/nodes\nsays "
		    "\"transfer\":{\"running\":false,...} (curl "
		    "http://%s/cluster/nodes),\nor 'kvctl status' lists no "
		    "transfer of %s.\n", id, addr[0] ? addr : "ADDRESS", id);
out:
	free(ids);
	client_response_free(&res);
	return rc;
}

static int
cmd_cluster(const struct opts *o, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	int rc;

	if (argc > 0 && strcmp(sub, "nodes") != 0 && load_admin_auth(o) != 0)
		return EXIT_USAGE;
	if (strcmp(sub, "nodes") == 0) {
		if ((rc = args_fit(argc, argv, 1, 1, "kvctl cluster nodes")) != 0)
			return rc;
		return want_table(o) ? cmd_nodes_table(o) : cmd_simple(o, "GET",
		    "/cluster/nodes", NULL, "cluster nodes", true);
	}
	if (strcmp(sub, "join") == 0)
		return (rc = args_fit(argc, argv, 3, 3, "kvctl cluster join ID "
		    "HOST:PORT")) != 0 ? rc : cmd_join(o, argv[1], argv[2]);
	if (strcmp(sub, "leave") == 0)
		return (rc = args_fit(argc, argv, 2, 2, "kvctl cluster leave "
		    "ID")) != 0 ? rc : cmd_leave(o, argv[1]);
	if (strcmp(sub, "cleanup") == 0)
		return (rc = args_fit(argc, argv, 1, 1, "kvctl cluster "
		    "cleanup")) != 0 ? rc : cmd_cleanup(o);
	return usage_error(NULL, "usage: kvctl cluster nodes | join ID HOST:PORT | "
	    "leave ID | cleanup");
}

/*
 * The --server list of bench and verify (cmd), which connect to every
 * server up front.  Returns how many (>= 1) with *out malloc'd, or -1
 * after a message.
 */
static int
parse_servers(const char *cmd, const char *list, struct client_server **out)
{
	const char *bad;
	size_t badlen;
	int n;

	n = client_parse_servers(list, out, &bad, &badlen);
	if (n < 0 && badlen)
		fprintf(stderr, "kvctl %s: bad server URL '%.*s' (want "
		    "http://HOST:PORT)\n", cmd, (int)badlen, bad);
	else if (n < 0)
		fprintf(stderr, "kvctl %s: no server given\n", cmd);
	return n;
}

/* ---- kvctl ls, dump, load, delete --prefix: the listing (GET /kv) ---- */

#define LS_PAGE		5000	/* keys per page of ls and delete --prefix */
#define DUMP_PAGE	1000	/* items per page of dump (values travel) */
#define LOAD_CHUNK	100	/* lines a load worker takes at a time */
#define LOAD_PARALLEL	32	/* load's requests at once, by default */
#define LOAD_RETRIES	3	/* more tries of a PUT answered 503 or not at all */
#define LOAD_BATCH_BYTES (256 * 1024)	/* a load's POST /batch, at most */
#define LOAD_REPORT_MAX	20	/* failed lines named on stderr, at most */

/* One page of GET /kv, parsed. */
struct page {
	struct client_response res;
	struct json_tok	*toks;
	int		 arr;		/* the keys or items array */
	bool		 complete;
	bool		 has_next;
	struct buf	 next;		/* the next page's after */
};

static void
page_init(struct page *pg)
{
	memset(pg, 0, sizeof(*pg));
	client_response_init(&pg->res);
	buf_init(&pg->next);
}

static void
page_free(struct page *pg)
{
	client_response_free(&pg->res);
	free(pg->toks);
	buf_free(&pg->next);
}

/*
 * A string member of object obj, decoded into out: name, or name_b64
 * decoded from base64.  0, or -1 when neither is there (or bad base64).
 */
static int
bytes_member(const char *body, const struct json_tok *toks, int obj,
    const char *name, struct buf *out)
{
	char b64[32];
	int i;

	if ((i = json_object_get(body, toks, obj, name)) >= 0 &&
	    toks[i].type == JSON_STRING) {
		json_string_decode(body, &toks[i], out);
		return 0;
	}
	snprintf(b64, sizeof(b64), "%s_b64", name);
	if ((i = json_object_get(body, toks, obj, b64)) >= 0 &&
	    toks[i].type == JSON_STRING && base64_decode(body + toks[i].start,
	    toks[i].end - toks[i].start, out) == 0)
		return 0;
	return -1;
}

/* The key of element t of a page: a string, or an object with key[_b64]. */
static int
elem_key(const struct page *pg, int t, struct buf *key)
{
	const char *body = pg->res.body.data;

	buf_reset(key);
	if (pg->toks[t].type == JSON_STRING) {
		json_string_decode(body, &pg->toks[t], key);
		return 0;
	}
	if (pg->toks[t].type == JSON_OBJECT)
		return bytes_member(body, pg->toks, t, "key", key);
	return -1;
}

/*
 * Fetches the next page of the listing of prefix into pg: the first, or
 * the one after pg's last when it has a next.  GET /kv?prefix=&after=
 * &limit=[&values=1][&r=].  0, or the exit code after a message.
 */
static int
fetch_page(const struct opts *o, const char *prefix, size_t limit,
    bool values, const char *what, struct page *pg)
{
	struct buf target = BUF_INIT;
	const char *body;
	int i, rc;

	client_response_free(&pg->res);
	client_response_init(&pg->res);
	free(pg->toks);
	pg->toks = NULL;
	buf_puts(&target, "/kv?prefix=");
	http_percent_encode(prefix, strlen(prefix), &target);
	if (pg->has_next) {
		buf_puts(&target, "&after=");
		http_percent_encode(pg->next.data, pg->next.len, &target);
	}
	buf_printf(&target, "&limit=%zu%s", limit, values ? "&values=1" : "");
	if (o->r != NULL)
		buf_printf(&target, "&r=%s", o->r);
	rc = request(o, "GET", target.data, NULL, NULL, 0, NULL, &pg->res);
	buf_free(&target);
	if (rc != 0)
		return rc;
	if (pg->res.http.status != 200) {
		struct opts quiet = *o;

		quiet.json = false;	/* the error is a message, not output */
		return report(&quiet, &pg->res, what);
	}
	body = pg->res.body.data;
	if (json_parse_alloc(body, pg->res.body.len, &pg->toks) < 1 ||
	    pg->toks[0].type != JSON_OBJECT ||
	    (pg->arr = json_object_get(body, pg->toks, 0, values ? "items" :
	    "keys")) < 0 || pg->toks[pg->arr].type != JSON_ARRAY ||
	    (i = json_object_get(body, pg->toks, 0, "complete")) < 0)
		return malformed(o, what);
	pg->complete = pg->toks[i].type == JSON_TRUE;
	buf_reset(&pg->next);
	pg->has_next = bytes_member(body, pg->toks, 0, "next", &pg->next) == 0;
	return 0;
}

/* The message of a listing that some key range did not answer for. */
static void
incomplete(const struct opts *o, const char *what)
{
	if (!o->quiet)
		fprintf(stderr, "kvctl: %s: not complete: some key range had "
		    "fewer replicas answering than asked for (r)\n", what);
}

/*
 * The exit code of ls or dump after its last page: EXIT_CLIENT when
 * stdout could not be written, EXIT_SERVER (after the message) when some
 * key range did not answer, else rc.
 */
static int
listing_exit(const struct opts *o, const char *what, bool complete, int rc)
{
	if (flush_stdout() != 0 && rc == 0)
		rc = EXIT_CLIENT;
	if (rc == 0 && !complete) {
		incomplete(o, what);
		rc = EXIT_SERVER;
	}
	return rc;
}

/*
 * kvctl ls [PREFIX] [--limit N] [--json]: keys one per line (their exact
 * bytes), or one JSON document streamed page by page.  Exit 5 after
 * the keys when a page was not complete.
 */
static int
cmd_ls(const struct opts *o, const char *prefix)
{
	struct page pg;
	struct buf key = BUF_INIT;
	const struct json_tok *t;
	uint64_t shown = 0;
	size_t limit;
	bool complete = true;
	int rc = 0, k, e;

	page_init(&pg);
	if (o->json)
		fputs("{\"keys\":[", stdout);
	do {
		limit = LS_PAGE;
		if (o->limit > 0 && o->limit - shown < limit)
			limit = (size_t)(o->limit - shown);
		if ((rc = fetch_page(o, prefix, limit, false, "ls",
		    &pg)) != 0)
			break;
		complete &= pg.complete;
		for (k = 0, e = pg.arr + 1; k < pg.toks[pg.arr].size;
		    k++, e = pg.toks[e].next) {
			t = &pg.toks[e];
			if (o->json) {
				if (shown > 0)
					putchar(',');
				if (t->type == JSON_STRING)
					fwrite(pg.res.body.data + t->start - 1, 1,
					    t->end - t->start + 2, stdout);
				else
					fwrite(pg.res.body.data + t->start, 1,
					    t->end - t->start, stdout);
			} else if (elem_key(&pg, e, &key) == 0) {
				fwrite(key.data, 1, key.len, stdout);
				putchar('\n');
			}
			shown++;
		}
	} while (pg.has_next && (o->limit == 0 || shown < o->limit));
	if (o->json)	/* the document ends even when a page failed */
		printf("],\"complete\":%s}\n", complete && rc == 0 ? "true" :
		    "false");
	rc = listing_exit(o, "ls", complete, rc);
	page_free(&pg);
	buf_free(&key);
	return rc;
}

/* Copies member name (or name_b64) of object obj as "name":<its JSON>. */
static bool
copy_member(const char *body, const struct json_tok *toks, int obj,
    const char *name, const char *as, struct buf *out)
{
	char b64[32];
	const char *n = name;
	int i;

	if ((i = json_object_get(body, toks, obj, name)) < 0) {
		snprintf(b64, sizeof(b64), "%s_b64", name);
		n = b64;
		if ((i = json_object_get(body, toks, obj, b64)) < 0)
			return false;
	}
	if (toks[i].type != JSON_STRING)
		return false;
	buf_printf(out, "\"%s%s\":", as != NULL ? as : n,
	    as != NULL && n == b64 ? "_b64" : "");
	buf_append(out, body + toks[i].start - 1, toks[i].end - toks[i].start + 2);
	return true;
}

/*
 * Copies an item's "expires_ms" (a key with a TTL), if it has one: false
 * when it is there but not a positive integer.
 */
static bool
copy_expiry(const char *body, const struct json_tok *toks, int obj,
    struct buf *out)
{
	int64_t ms;
	int i;

	if ((i = json_object_get(body, toks, obj, "expires_ms")) < 0)
		return true;
	if (toks[i].type != JSON_NUMBER || json_get_i64(body, &toks[i],
	    &ms) != 0 || ms <= 0)
		return false;
	buf_printf(out, ",\"expires_ms\":%" PRId64, ms);
	return true;
}

/*
 * kvctl dump [PREFIX]: every live key with prefix as a JSON line
 * {"key","value","context"[,"expires_ms"]} (the page items' members as
 * the server wrote them, etag renamed context; expires_ms, the wall-clock
 * ms of a TTL's end, only for a key with one).  Exit 5 at the end when a page was not
 * complete.
 */
static int
cmd_dump(const struct opts *o, const char *prefix)
{
	struct page pg;
	struct buf line = BUF_INIT;
	const char *body;
	bool complete = true;
	int rc = 0, k, e;

	page_init(&pg);
	do {
		if ((rc = fetch_page(o, prefix, DUMP_PAGE, true, "dump",
		    &pg)) != 0)
			break;
		complete &= pg.complete;
		body = pg.res.body.data;
		for (k = 0, e = pg.arr + 1; k < pg.toks[pg.arr].size;
		    k++, e = pg.toks[e].next) {
			buf_reset(&line);
			buf_putc(&line, '{');
			if (pg.toks[e].type != JSON_OBJECT ||
			    !copy_member(body, pg.toks, e, "key", NULL, &line) ||
			    (buf_putc(&line, ','), !copy_member(body, pg.toks, e,
			    "value", NULL, &line)) || (buf_putc(&line, ','),
			    !copy_member(body, pg.toks, e, "etag", "context",
			    &line)) || !copy_expiry(body, pg.toks, e, &line)) {
				if (!o->quiet)
					fprintf(stderr, "kvctl: dump: malformed "
					    "item in the answer\n");
				rc = EXIT_SERVER;
				goto out;
			}
			buf_puts(&line, "}\n");
			fwrite(line.data, 1, line.len, stdout);
		}
	} while (pg.has_next);
out:
	rc = listing_exit(o, "dump", complete, rc);
	page_free(&pg);
	buf_free(&line);
	return rc;
}

/*
 * A key as a message names it: its text, or "key_b64 ..." when its
 * bytes are not UTF-8 (as dump writes them).
 */
static void
key_shown(const struct buf *key, struct buf *out)
{
	buf_reset(out);
	if (json_utf8_valid(key->data, key->len) &&
	    memchr(key->data, '\0', key->len) == NULL) {
		buf_append(out, key->data, key->len);
		return;
	}
	buf_puts(out, "key_b64 ");
	base64_encode(key->data, key->len, out);
}

/*
 * Deletes keys[0..n) in one POST /batch.  Adds to *deleted the keys
 * deleted or already gone (404), to *failed the others (named on
 * stderr).  The server refuses a batch whole when one op is bad (400: a
 * key no public route takes) or the batch too big (413).  A 400 names
 * the bad op (batch_bad_op): that key fails and the others are sent
 * again in one request, so a bad key costs one request more; otherwise
 * the batch is split in two and each half sent, so only the key at
 * fault fails.  keys[0..n) may be left in another order.  Returns the
 * exit code of the worst failure, or 0.
 */
static int
delete_keys(const struct opts *o, struct buf *keys, size_t n,
    uint64_t *deleted, uint64_t *failed)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct buf ops = BUF_INIT, target = BUF_INIT, key = BUF_INIT,
	    msg = BUF_INIT, shown = BUF_INIT, bad;
	uint64_t status;
	size_t i, at;
	int rc, k, e, arr, f, worst = EXIT_OK;

	if (n == 0)
		return 0;
	buf_puts(&ops, "{\"ops\":[");
	for (i = 0; i < n; i++) {
		buf_puts(&ops, i ? ",{\"op\":\"delete\",\"key_b64\":\"" :
		    "{\"op\":\"delete\",\"key_b64\":\"");
		base64_encode(keys[i].data, keys[i].len, &ops);
		buf_puts(&ops, "\"}");
	}
	buf_puts(&ops, "]}");
	batch_target(o, &target);
	client_response_init(&res);
	rc = request(o, "POST", target.data, "application/json", ops.data,
	    ops.len, NULL, &res);
	if (rc == 0 && batch_bad_op(&res, n, &at, &msg)) {
		(*failed)++;
		key_shown(&keys[at], &shown);
		if (!o->quiet)
			fprintf(stderr, "kvctl: delete %s: 400 %s\n", shown.data,
			    msg.data);
		/* The others in one batch; the bad key last, out of it. */
		bad = keys[at];
		memmove(keys + at, keys + at + 1, (n - at - 1) * sizeof(*keys));
		keys[n - 1] = bad;
		rc = worse(EXIT_CLIENT, delete_keys(o, keys, n - 1, deleted,
		    failed));
		goto out;
	}
	if (rc == 0 && (res.http.status == 400 || res.http.status == 413) &&
	    n > 1) {
		rc = worse(delete_keys(o, keys, n / 2, deleted, failed),
		    delete_keys(o, keys + n / 2, n - n / 2, deleted, failed));
		goto out;
	}
	if (rc == 0 && res.http.status != 200) {
		(*failed) += n;
		buf_reset(&msg);
		error_message(&res, &msg);
		key_shown(&keys[0], &shown);
		if (!o->quiet)
			fprintf(stderr, "kvctl: delete %s: %d %s\n", n == 1 ?
			    shown.data : "(a batch)", res.http.status, msg.data);
		rc = exit_for_status(res.http.status);
		goto out;
	}
	if (rc != 0) {
		*failed += n;
		goto out;
	}
	if ((arr = batch_results(&res, &toks)) < 0) {
		*failed += n;
		rc = malformed(o, "delete");
		goto out;
	}
	for (k = 0, e = arr + 1; k < toks[arr].size; k++, e = toks[e].next) {
		status = result_status(res.body.data, toks, e);
		if (status == 204 || status == 404) {
			(*deleted)++;
			continue;
		}
		(*failed)++;
		buf_reset(&key);
		buf_reset(&msg);
		bytes_member(res.body.data, toks, e, "key", &key);
		key_shown(&key, &shown);
		if ((f = json_object_get(res.body.data, toks, e, "error")) >= 0)
			json_string_decode(res.body.data, &toks[f], &msg);
		if (!o->quiet)
			fprintf(stderr, "kvctl: delete %s: %d %s\n", shown.data,
			    (int)status, msg.data);
		worst = worse(worst, exit_for_status((int)status));
	}
	rc = worst;
out:
	free(toks);
	client_response_free(&res);
	buf_free(&ops);
	buf_free(&target);
	buf_free(&key);
	buf_free(&msg);
	buf_free(&shown);
	return rc;
}

/*
 * Deletes the keys of one page (delete_keys).  A listed element whose key
 * cannot be read is counted failed.  Returns the worst exit code, or 0.
 */
static int
delete_page(const struct opts *o, const struct page *pg, uint64_t *deleted,
    uint64_t *failed)
{
	struct buf *keys;
	size_t n = 0, i, size = (size_t)pg->toks[pg->arr].size;
	int k, e, rc = 0;

	if (size == 0)
		return 0;
	if ((keys = calloc(size, sizeof(*keys))) == NULL) {
		*failed += size;
		if (!o->quiet)
			fprintf(stderr, "kvctl: delete: out of memory\n");
		return EXIT_CLIENT;
	}
	for (i = 0; i < size; i++)
		buf_init(&keys[i]);
	for (k = 0, e = pg->arr + 1; k < (int)size; k++, e = pg->toks[e].next) {
		if (elem_key(pg, e, &keys[n]) == 0)
			n++;
		else {
			(*failed)++;
			rc = malformed(o, "delete");
		}
	}
	rc = worse(rc, delete_keys(o, keys, n, deleted, failed));
	for (i = 0; i < size; i++)
		buf_free(&keys[i]);
	free(keys);
	return rc;
}

/* Counts the keys with prefix (for the question).  0, or an exit code. */
static int
count_prefix(const struct opts *o, const char *prefix, uint64_t *n)
{
	struct page pg;
	int rc;

	*n = 0;
	page_init(&pg);
	do {
		if ((rc = fetch_page(o, prefix, LS_PAGE, false, "delete",
		    &pg)) != 0)
			break;
		*n += (uint64_t)pg.toks[pg.arr].size;
	} while (pg.has_next);
	page_free(&pg);
	return rc;
}

/*
 * kvctl delete --prefix P [--yes], and delete --all [--yes], which is
 * this with the empty prefix (run() refuses an empty --prefix): asks
 * first on a terminal (how many keys, y/N) and refuses without --yes
 * elsewhere; then lists the keys a page at a time and deletes each page
 * in one POST /batch.  A key already gone counts as deleted.  The count
 * goes to stderr (--json: {"deleted":N,"failed":M} on stdout).
 */
static int
cmd_delete_prefix(const struct opts *o, const char *prefix)
{
	struct page pg;
	struct buf q = BUF_INIT;
	uint64_t n, deleted = 0, failed = 0;
	bool complete = true, yes;
	int rc = 0, worst = EXIT_OK;

	if (!o->yes) {
		if (!isatty(STDIN_FILENO))
			return usage_error(NULL, "delete %s: give --yes to delete "
			    "without a question (stdin is not a terminal)",
			    o->all ? "--all" : "--prefix");
		if ((rc = count_prefix(o, prefix, &n)) != 0)
			return rc;
		if (o->all)
			buf_printf(&q, "Delete all %" PRIu64 " key%s?", n,
			    n == 1 ? "" : "s");
		else
			buf_printf(&q, "Delete %" PRIu64 " key%s that start%s "
			    "with '%s'?", n, n == 1 ? "" : "s", n == 1 ? "s" : "",
			    prefix);
		yes = ask_yes(q.data);
		buf_free(&q);
		if (!yes) {
			if (!o->quiet)
				fprintf(stderr, "kvctl: aborted: nothing "
				    "deleted\n");
			return EXIT_ABORTED;
		}
	}
	page_init(&pg);
	do {
		if ((rc = fetch_page(o, prefix, DUMP_PAGE, false,
		    "delete", &pg)) != 0)
			break;
		complete &= pg.complete;
		worst = worse(worst, delete_page(o, &pg, &deleted, &failed));
	} while (pg.has_next);
	page_free(&pg);
	rc = worse(worst, rc);
	if (o->json)
		printf("{\"deleted\":%" PRIu64 ",\"failed\":%" PRIu64
		    ",\"complete\":%s}\n", deleted, failed, complete ? "true" :
		    "false");
	else if (!o->quiet)
		fprintf(stderr, "kvctl: deleted %" PRIu64 " key%s%s\n", deleted,
		    deleted == 1 ? "" : "s", failed ? "; some failed" : "");
	if (rc == 0 && !complete) {
		incomplete(o, "delete");
		rc = EXIT_SERVER;
	}
	return rc;
}

/* ---- kvctl load ---- */

/* One line of a dump, parsed. */
struct load_line {
	uint64_t	 no;		/* line number, from 1 */
	struct buf	 text;		/* the line as read */
	struct buf	 key, value, context;
	int64_t		 expires;	/* "expires_ms", or 0: no TTL */
	int64_t		 ttl_left;	/* seconds left of it, rounded up */
	bool		 ok;		/* parsed */
	bool		 same;		/* the store holds this value already */
	struct buf	 result;	/* its batch result object (ld->keep) */
};

/* What the workers share: the input, the counts, the worst exit code. */
struct load {
	const struct opts *o;
	struct client_server *srv;
	int		 nsrv;
	pthread_mutex_t	 mu;		/* guards everything below */
	FILE		*in;
	uint64_t	 lineno;
	bool		 eof;
	uint64_t	 lines, written, unchanged, expired, failed, reported;
	int		 worst;
	int		 next_server;	/* the server the next worker starts at */
	bool		 by_key;	/* mput: failures named by key, each */
	bool		 keep;		/* mput --json: keep each line's result */
};

/* A worker's connection: servers tried in turn from its own. */
struct load_conn {
	struct client_conn c;
	int		 at;		/* the server it uses */
	bool		 open;
	char		 why[512];	/* the last server's failure, "h:p: …" */
};

/* Names a failed line on stderr (the first LOAD_REPORT_MAX) and counts it. */
static void
load_fail(struct load *ld, const struct load_line *ln, int code,
    const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ld->mu);
	ld->failed++;
	ld->worst = worse(ld->worst, code);
	if (ld->by_key && !ld->o->quiet) {
		fprintf(stderr, "kvctl: %s: ", ln->key.data);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	} else if (!ld->o->quiet && ld->reported++ < LOAD_REPORT_MAX) {
		fprintf(stderr, "kvctl: load: line %" PRIu64 ": ", ln->no);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
		if (ld->reported == LOAD_REPORT_MAX)
			fprintf(stderr, "kvctl: load: (further failed lines "
			    "are counted, not named)\n");
	}
	pthread_mutex_unlock(&ld->mu);
}

/*
 * One request on the worker's keep-alive connection; on a transport
 * failure, or an answer no kvd gives (servers_not_kvd: named on stderr once
 * in the run, at once with -v, else when no server is left), the next
 * server is tried, each once, in servers_order's order from the worker's own: one
 * that failed in this run, for any worker, after the others (a worker
 * whose server another found failed moves on before asking it).  0 with
 * res filled, or -1 (no server answered).
 */
static int
load_request(struct load *ld, struct load_conn *lc, const char *method,
    const char *target, const char *ctype, const void *body, size_t blen,
    const char *extra, struct client_response *res)
{
	const struct client_server *s;
	char foreign[192];
	int *order, k, rc = -1;

	if ((order = calloc((size_t)ld->nsrv, sizeof(*order))) == NULL)
		return -1;
	servers_order(ld->srv, ld->nsrv, lc->at, SERVERS_FAILED_LAST, order);
	for (k = 0; k < ld->nsrv; k++) {
		if (lc->open && lc->at != order[k]) {
			client_close(&lc->c);
			lc->open = false;
		}
		lc->at = order[k];
		s = &ld->srv[lc->at];
		if (!lc->open) {
			client_init(&lc->c, s->host, s->port,
			    ld->o->connect_timeout_ms);
			if (ld->nsrv > 1)
				failover_check(&lc->c, ld->o);
			lc->open = true;
		}
		client_response_free(res);
		client_response_init(res);
		if (client_do(&lc->c, method, target, ctype, body, blen, extra,
		    ld->o->timeout_ms, res) != 0) {
			client_strerror(&lc->c, errno, foreign, sizeof(foreign));
			snprintf(lc->why, sizeof(lc->why), "%.255s:%.15s: %s",
			    s->host, s->port, foreign);
		} else {
			if (ld->o->verbose) {	/* -v: each exchange whole */
				flockfile(stderr);
				trace_request(s->host, s->port, method, target,
				    ctype, blen, extra);
				trace_response(res);
				funlockfile(stderr);
			}
			if (servers_not_kvd(res, asks_raw(extra), foreign,
			    sizeof(foreign)) == NULL) {
				servers_answered(s);
				rc = 0;
				break;
			}
			snprintf(lc->why, sizeof(lc->why), "%.255s:%.15s is not "
			    "a kvd server (%s)", s->host, s->port, foreign);
			if (servers_failed(s, NULL) && !ld->o->quiet &&
			    (ld->o->verbose || k == ld->nsrv - 1))
				fprintf(stderr, "kvctl: %s\n", lc->why);
		}
		servers_failed(s, NULL);
		client_close(&lc->c);
		lc->open = false;
	}
	free(order);
	return rc;
}

/*
 * Reads a dump line's name or name_b64 member into out: NULL, or what is
 * wrong with it (written into why).
 */
static const char *
load_bytes(const char *s, const struct json_tok *toks, const char *name,
    struct buf *out, char *why, size_t whylen)
{
	char b64[32];
	int i;

	snprintf(b64, sizeof(b64), "%s_b64", name);
	if ((i = json_object_get(s, toks, 0, name)) >= 0) {
		if (toks[i].type == JSON_STRING) {
			json_string_decode(s, &toks[i], out);
			return NULL;
		}
		snprintf(why, whylen, "\"%s\" is not a string", name);
	} else if ((i = json_object_get(s, toks, 0, b64)) < 0)
		snprintf(why, whylen, "no \"%s\" or \"%s\"", name, b64);
	else if (toks[i].type != JSON_STRING || base64_decode(s +
	    toks[i].start, toks[i].end - toks[i].start, out) != 0)
		snprintf(why, whylen, "%s is not base64", b64);
	else
		return NULL;
	return why;
}

#define LOAD_SHAPE	"want {\"key\":...,\"value\":...,\"context\":...}, " \
	"as dump writes"

/*
 * Parses one dump line: key or key_b64, value or value_b64, context,
 * expires_ms, nothing else.  NULL, or what is wrong with the line, for
 * its message (written into why): the first fault found, named, so that
 * a line edited by hand says which of its members to fix.
 */
static const char *
load_parse(struct load_line *ln, char *why, size_t whylen)
{
	static const char *const fields[] = { "key", "key_b64", "value",
	    "value_b64", "context", "expires_ms" };
	struct json_tok toks[32];
	struct buf name = BUF_INIT;
	const char *s = ln->text.data;
	size_t f;
	int n, i, k;

	buf_reset(&ln->key);
	buf_reset(&ln->value);
	buf_reset(&ln->context);
	n = json_parse(s, ln->text.len, toks, 32, JSON_DEPTH_DEFAULT, NULL);
	if (n < 1 && n != JSON_ERR_NOMEM) {
		json_describe_error(s, ln->text.len, "line", LOAD_SHAPE, "a "
		    "value that is not text goes as value_b64, as dump writes it",
		    why, whylen);
		return why;
	}
	if (n < 1 || toks[0].type != JSON_OBJECT) {
		snprintf(why, whylen, "not a JSON object (%s)", LOAD_SHAPE);
		return why;
	}
	for (k = 0, i = 1; k < toks[0].size; k++, i = toks[i + 1].next) {
		for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
			if (json_string_eq(s, &toks[i], fields[f]))
				break;
		if (f < sizeof(fields) / sizeof(fields[0]))
			continue;
		json_string_decode(s, &toks[i], &name);
		snprintf(why, whylen, "unknown field \"%.*s\" (a dump line has "
		    "key or key_b64, value or value_b64, context, expires_ms)",
		    (int)json_utf8_cut(name.data, name.len, 64), name.data);
		buf_free(&name);
		return why;
	}
	if (load_bytes(s, toks, "key", &ln->key, why, whylen) != NULL)
		return why;
	if (ln->key.len == 0) {
		snprintf(why, whylen, "empty key");
		return why;
	}
	if (load_bytes(s, toks, "value", &ln->value, why, whylen) != NULL)
		return why;
	if ((i = json_object_get(s, toks, 0, "context")) >= 0) {
		if (toks[i].type != JSON_STRING) {
			snprintf(why, whylen, "\"context\" is not a string");
			return why;
		}
		json_string_decode(s, &toks[i], &ln->context);
	}
	ln->expires = 0;
	if ((i = json_object_get(s, toks, 0, "expires_ms")) >= 0 &&
	    (toks[i].type != JSON_NUMBER || json_get_i64(s, &toks[i],
	    &ln->expires) != 0 || ln->expires <= 0)) {
		snprintf(why, whylen, "\"expires_ms\" is not a positive "
		    "integer (Unix ms)");
		return why;
	}
	return NULL;
}

/*
 * True when a batch result's expiry agrees with a line's: neither has
 * one, or the stored one ends no earlier (a load rounds a TTL up to whole
 * seconds, so a second load finds the key as the first left it).
 */
static bool
same_expiry(const char *body, const struct json_tok *toks, int obj,
    int64_t expires)
{
	int64_t ms;
	int i;

	if ((i = json_object_get(body, toks, obj, "expires_ms")) < 0)
		return expires == 0;
	return expires != 0 && json_get_i64(body, &toks[i], &ms) == 0 &&
	    ms >= expires;
}

/*
 * Marks the lines lines[idx[0..nq)] whose key already holds their value
 * (one POST /batch of gets).  A batch the server refuses whole (400: a
 * key no public route accepts; 413) is checked again without the line
 * a 400 names (batch_bad_op), or else split in two, so only that line
 * goes unmarked; the gets an answer had no room for (413 answer_full:
 * 8 MiB of values) are asked again.  When a request fails its lines are
 * written: a write of the same value changes nothing but the version.
 * idx[0..nq) may be left in another order.
 */
static void
load_check_some(struct load *ld, struct load_conn *lc,
    struct load_line *lines, size_t *idx, size_t nq)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct buf ops = BUF_INIT, target = BUF_INIT, val = BUF_INIT,
	    msg = BUF_INIT;
	size_t i, at, full = 0;
	uint64_t status;
	int arr, k, e;

	if (nq == 0)
		return;
	buf_puts(&ops, "{\"ops\":[");
	for (i = 0; i < nq; i++) {
		buf_puts(&ops, i ? ",{\"op\":\"get\",\"key_b64\":\"" :
		    "{\"op\":\"get\",\"key_b64\":\"");
		base64_encode(lines[idx[i]].key.data, lines[idx[i]].key.len,
		    &ops);
		buf_puts(&ops, "\"}");
	}
	buf_puts(&ops, "]}");
	batch_target(ld->o, &target);
	client_response_init(&res);
	if (load_request(ld, lc, "POST", target.data, "application/json",
	    ops.data, ops.len, NULL, &res) != 0)
		goto out;
	if (batch_bad_op(&res, nq, &at, &msg)) {
		memmove(idx + at, idx + at + 1, (nq - at - 1) * sizeof(*idx));
		load_check_some(ld, lc, lines, idx, nq - 1);
		goto out;
	}
	if ((res.http.status == 400 || res.http.status == 413) && nq > 1) {
		load_check_some(ld, lc, lines, idx, nq / 2);
		load_check_some(ld, lc, lines, idx + nq / 2, nq - nq / 2);
		goto out;
	}
	if (res.http.status != 200 || (arr = batch_results(&res, &toks)) < 0 ||
	    (size_t)toks[arr].size != nq)
		goto out;
	for (k = 0, e = arr + 1, full = 0; k < toks[arr].size; k++,
	    e = toks[e].next) {
		status = result_status(res.body.data, toks, e);
		buf_reset(&val);
		if (status == 413)	/* the answer was full: ask again */
			idx[full++] = idx[k];
		else if (status == 200 && bytes_member(res.body.data, toks, e,
		    "value", &val) == 0 && val.len == lines[idx[k]].value.len &&
		    memcmp(val.data, lines[idx[k]].value.data, val.len) == 0 &&
		    same_expiry(res.body.data, toks, e, lines[idx[k]].expires))
			lines[idx[k]].same = true;
	}
out:
	free(toks);
	client_response_free(&res);
	buf_free(&ops);
	buf_free(&target);
	buf_free(&val);
	buf_free(&msg);
	if (full > 0 && full < nq)	/* the server answers one value at least */
		load_check_some(ld, lc, lines, idx, full);
}

/* Marks the parsed lines of lines[0..n) that hold their value already. */
static void
load_check(struct load *ld, struct load_conn *lc, struct load_line *lines,
    size_t n)
{
	size_t idx[LOAD_CHUNK], i, nq = 0;

	for (i = 0; i < n && i < LOAD_CHUNK; i++)
		if (lines[i].ok)
			idx[nq++] = i;
	load_check_some(ld, lc, lines, idx, nq);
}

/* Counts a line written (a 200 or 201). */
static void
load_written(struct load *ld)
{
	pthread_mutex_lock(&ld->mu);
	ld->written++;
	pthread_mutex_unlock(&ld->mu);
}

/*
 * Sets ln->ttl_left again from its expires_ms, as a request is about to
 * carry it: a TTL is relative, so the seconds counted when the line was
 * read would move its expiry later by the time it then waited (behind
 * big values sent alone, a batch's retries).  True when the line is to
 * be written, false when its TTL ran out meanwhile (counted expired).  A
 * line without expires_ms (none, or mput's --ttl) keeps ttl_left.
 */
static bool
load_ttl_now(struct load *ld, struct load_line *ln)
{
	if (ln->expires == 0)
		return true;
	ln->ttl_left = (ln->expires - clock_wall_ms() + 999) / 1000;
	if (ln->ttl_left > TTL_MAX_S)	/* within load_ttl's slack */
		ln->ttl_left = TTL_MAX_S;
	if (ln->ttl_left > 0)
		return true;
	pthread_mutex_lock(&ld->mu);
	ld->expired++;
	pthread_mutex_unlock(&ld->mu);
	return false;
}

/*
 * Writes one line: PUT /kv/KEY with its bytes and its context, and for a
 * line with an expiry the seconds left as the request goes (load_ttl_now),
 * again at each try; a line whose TTL runs out meanwhile is counted
 * expired, not written.
 */
static void
load_put(struct load *ld, struct load_conn *lc, struct load_line *ln)
{
	struct client_response res;
	struct buf target = BUF_INIT, extra = BUF_INIT, msg = BUF_INIT;
	int status, rc = 0, tries, pause;

	if (ln->context.len > 0)
		buf_printf(&extra, "X-Kvd-Context: \"%s\"\r\n", ln->context.data);
	client_response_init(&res);
	/* A 503 or no answer is retried: the same value again is harmless. */
	for (tries = 0, pause = 100;; tries++, pause *= 2) {
		if (!load_ttl_now(ld, ln))
			goto out;
		buf_reset(&target);
		buf_puts(&target, "/kv/");
		http_percent_encode(ln->key.data, ln->key.len, &target);
		if (ld->o->w != NULL)
			buf_printf(&target, "?w=%s", ld->o->w);
		if (ln->ttl_left > 0)
			buf_printf(&target, "%cttl=%" PRId64, ld->o->w != NULL ?
			    '&' : '?', ln->ttl_left);
		rc = load_request(ld, lc, "PUT", target.data,
		    "application/octet-stream", ln->value.data, ln->value.len,
		    extra.len ? extra.data : NULL, &res);
		if ((rc == 0 && res.http.status != 503) ||
		    tries >= LOAD_RETRIES + ld->o->retries)
			break;
		poll(NULL, 0, pause < 3200 ? pause : 3200);
	}
	if (rc != 0) {
		load_fail(ld, ln, EXIT_UNREACHABLE, "no server reachable (the "
		    "last: %s)", lc->why);
		goto out;
	}
	status = res.http.status;
	if (ld->keep && res.body.len > 2 && res.body.data[0] == '{') {
		/* As a batch result: {"status":N, then the answer's members. */
		while (res.body.len > 0 && res.body.data[res.body.len - 1] != '}')
			res.body.len--;
		buf_reset(&ln->result);
		buf_printf(&ln->result, "{\"status\":%d,", status);
		buf_append(&ln->result, res.body.data + 1, res.body.len - 1);
	}
	if (status == 200 || status == 201)
		load_written(ld);
	else {
		error_message(&res, &msg);
		load_fail(ld, ln, exit_for_status(status), "%d %s", status,
		    msg.data);
	}
out:
	client_response_free(&res);
	buf_free(&target);
	buf_free(&extra);
	buf_free(&msg);
}

/*
 * Writes lines want[0..n) with one POST /batch of puts, each with its
 * context and the seconds its TTL has left.  A put answered 503 (or a
 * batch answered 503, or not at all) is sent again, LOAD_RETRIES more
 * times (plus --retry), with the others still waiting; any other failure
 * is the line's.  A batch the server refuses whole (400: one op it does
 * not take, such as a bad context or a key no public route accepts; 413:
 * its --max-body is smaller than the batch) costs only the line at
 * fault: the one a 400 names (batch_bad_op) fails and the others go
 * again in one request, one request more per bad line; a 413, or a 400
 * that names no op, is split in two and each half sent; a line alone
 * that is still too big is sent as a PUT.  want[0..n) may be left in
 * another order.
 */
static void
load_batch(struct load *ld, struct load_conn *lc, struct load_line **want,
    size_t n)
{
	struct client_response res;
	struct json_tok *toks = NULL;
	struct buf ops = BUF_INIT, target = BUF_INIT, msg = BUF_INIT;
	uint64_t status;
	size_t i, k, at, left = n;
	int rc = 0, tries, pause, arr, e, f;

	batch_target(ld->o, &target);
	client_response_init(&res);
	for (tries = 0, pause = 100; left > 0; tries++, pause *= 2) {
		if (tries > 0)
			poll(NULL, 0, pause < 3200 ? pause : 3200);
		/* Each TTL as this request goes; one run out is not sent. */
		for (i = 0, k = 0; i < left; i++)
			if (load_ttl_now(ld, want[i]))
				want[k++] = want[i];
		if ((left = k) == 0)
			break;
		buf_reset(&ops);
		buf_puts(&ops, "{\"ops\":[");
		for (i = 0; i < left; i++) {
			buf_puts(&ops, i ? ",{\"op\":\"put\",\"key_b64\":\"" :
			    "{\"op\":\"put\",\"key_b64\":\"");
			base64_encode(want[i]->key.data, want[i]->key.len, &ops);
			buf_puts(&ops, "\",\"value_b64\":\"");
			base64_encode(want[i]->value.data, want[i]->value.len,
			    &ops);
			buf_putc(&ops, '"');
			if (want[i]->context.len > 0) {
				buf_puts(&ops, ",\"context\":");
				json_emit_string(&ops, want[i]->context.data,
				    want[i]->context.len);
			}
			if (want[i]->ttl_left > 0)
				buf_printf(&ops, ",\"ttl\":%" PRId64,
				    want[i]->ttl_left);
			buf_putc(&ops, '}');
		}
		buf_puts(&ops, "]}");
		rc = load_request(ld, lc, "POST", target.data,
		    "application/json", ops.data, ops.len, NULL, &res);
		if (rc != 0 || res.http.status == 503) {
			if (tries >= LOAD_RETRIES + ld->o->retries)
				break;
			continue;
		}
		/* Refused whole for one line it names: the others at once. */
		buf_reset(&msg);
		if (batch_bad_op(&res, left, &at, &msg)) {
			load_fail(ld, want[at], EXIT_CLIENT, "400 %s", msg.data);
			memmove(want + at, want + at + 1, (left - at - 1) *
			    sizeof(*want));
			load_batch(ld, lc, want, left - 1);
			left = 0;
			break;
		}
		/* Or not named: halves, so that only the line at fault fails. */
		if ((res.http.status == 400 || res.http.status == 413) &&
		    left > 1) {
			load_batch(ld, lc, want, left / 2);
			load_batch(ld, lc, want + left / 2, left - left / 2);
			left = 0;
			break;
		}
		if (res.http.status == 413) {
			load_put(ld, lc, want[0]);
			left = 0;
			break;
		}
		if (res.http.status == 400) {
			error_message(&res, &msg);
			load_fail(ld, want[0], EXIT_CLIENT, "400 %s", msg.data);
			left = 0;
			break;
		}
		free(toks);
		toks = NULL;
		if (res.http.status != 200 ||
		    (arr = batch_results(&res, &toks)) < 0 ||
		    (size_t)toks[arr].size != left) {
			error_message(&res, &msg);
			for (i = 0; i < left; i++)
				load_fail(ld, want[i], res.http.status == 200 ?
				    EXIT_SERVER : exit_for_status(res.http.status),
				    "batch %d %s", res.http.status, msg.data);
			left = 0;
			break;
		}
		/* The lines answered 503 move to the front, for the next try. */
		for (k = 0, i = 0, e = arr + 1; (int)i < toks[arr].size;
		    i++, e = toks[e].next) {
			status = result_status(res.body.data, toks, e);
			if (ld->keep) {
				buf_reset(&want[i]->result);
				buf_append(&want[i]->result, res.body.data +
				    toks[e].start, toks[e].end - toks[e].start);
			}
			if (status == 200 || status == 201)
				load_written(ld);
			else if (status == 503 &&
			    tries < LOAD_RETRIES + ld->o->retries)
				want[k++] = want[i];
			else {
				buf_reset(&msg);
				if ((f = json_object_get(res.body.data, toks, e,
				    "error")) >= 0 && toks[f].type == JSON_STRING)
					json_string_decode(res.body.data, &toks[f],
					    &msg);
				load_fail(ld, want[i], exit_for_status((int)status),
				    "%d %s", (int)status, msg.data);
			}
		}
		left = k;
	}
	for (i = 0; i < left; i++) {
		if (rc != 0)
			load_fail(ld, want[i], EXIT_UNREACHABLE, "no server "
			    "reachable (the last: %s)", lc->why);
		else
			load_fail(ld, want[i], EXIT_SERVER, "503, %d tries",
			    tries + 1);
	}
	free(toks);
	client_response_free(&res);
	buf_free(&ops);
	buf_free(&target);
	buf_free(&msg);
}

/* The bytes line ln's put takes in a POST /batch (base64, as load_batch). */
static size_t
load_op_bytes(const struct load_line *ln)
{
	return (ln->key.len + ln->value.len + 4) / 3 * 4 + ln->context.len +
	    64;
}

/*
 * Writes want[0..n): a line whose put would fill more than half a batch
 * alone as a PUT (load_put), the others in POST /batch requests of at
 * most LOAD_BATCH_BYTES (load_batch, which splits one refused whole).
 * want[0..n) may be left in another order.
 */
static void
load_write(struct load *ld, struct load_conn *lc, struct load_line **want,
    size_t n)
{
	size_t i, k, from, bytes, b;

	for (i = 0, k = 0, from = 0, bytes = 0; i < n; i++) {
		b = load_op_bytes(want[i]);
		if (b > LOAD_BATCH_BYTES / 2) {
			load_put(ld, lc, want[i]);
			continue;
		}
		if (bytes + b > LOAD_BATCH_BYTES) {
			load_batch(ld, lc, want + from, k - from);
			from = k;
			bytes = 0;
		}
		want[k++] = want[i];
		bytes += b;
	}
	if (k > from)
		load_batch(ld, lc, want + from, k - from);
}

/* Reads up to LOAD_CHUNK lines under the lock.  How many. */
static size_t
load_read(struct load *ld, struct load_line *lines)
{
	char *text = NULL;
	size_t n = 0, cap = 0;
	ssize_t len;

	pthread_mutex_lock(&ld->mu);
	while (n < LOAD_CHUNK && !ld->eof) {
		if ((len = getline(&text, &cap, ld->in)) < 0) {
			ld->eof = true;
			break;
		}
		ld->lineno++;
		while (len > 0 && text[len - 1] != '\0' &&
		    strchr(" \t\r\n", text[len - 1]) != NULL)
			len--;
		if (len == 0)
			continue;	/* blank lines are no records */
		lines[n].no = ld->lineno;
		buf_reset(&lines[n].text);
		buf_append(&lines[n].text, text, (size_t)len);
		n++;
	}
	ld->lines += n;
	pthread_mutex_unlock(&ld->mu);
	free(text);
	return n;
}

/* How far past TTL_MAX_S a line's expiry may be and load it at the limit. */
#define LOAD_TTL_SLACK_S	60

/*
 * Sets ln->ttl_left, the seconds its expires_ms leaves on kvctl's clock,
 * rounded up (0: no TTL).  A PUT takes only a TTL, of TTL_MAX_S at most
 * (there is no way to send an absolute expiry), so a line that expires
 * further off (an edited dump, or one from a cluster whose clock ran
 * years ahead) fails, naming the limit, rather than getting the 400 of
 * a TTL it never gave.  One at most LOAD_TTL_SLACK_S past the limit (a
 * key put with the longest TTL, dumped and loaded at once by a kvctl
 * whose clock is a little behind the source's) is loaded at the limit.
 * 0, or -1 when the line failed.
 */
static int
load_ttl(struct load *ld, struct load_line *ln)
{
	int64_t left_ms = ln->expires - clock_wall_ms();

	ln->ttl_left = ln->expires == 0 ? 0 : (left_ms + 999) / 1000;
	if (ln->ttl_left <= TTL_MAX_S)
		return 0;
	if (ln->ttl_left <= TTL_MAX_S + LOAD_TTL_SLACK_S) {
		ln->ttl_left = TTL_MAX_S;
		return 0;
	}
	load_fail(ld, ln, EXIT_CLIENT, "expires_ms %" PRId64 " is %.1f years "
	    "away (on kvctl's clock), past the longest TTL kvd takes, %d s "
	    "(ten years): not written; lower expires_ms, or remove it to load "
	    "the key without a TTL", ln->expires,
	    (double)left_ms / (365.25 * 86400000.0), TTL_MAX_S);
	return -1;
}

static void *
load_worker(void *arg)
{
	struct load *ld = arg;
	struct load_line lines[LOAD_CHUNK];
	struct load_conn lc;
	struct load_line *want[LOAD_CHUNK];
	char why[256];
	size_t n, i, same, expired, nwant;

	memset(&lc, 0, sizeof(lc));
	pthread_mutex_lock(&ld->mu);
	lc.at = ld->next_server++ % ld->nsrv;
	pthread_mutex_unlock(&ld->mu);
	for (i = 0; i < LOAD_CHUNK; i++) {
		buf_init(&lines[i].text);
		buf_init(&lines[i].key);
		buf_init(&lines[i].value);
		buf_init(&lines[i].context);
		buf_init(&lines[i].result);
	}
	while ((n = load_read(ld, lines)) > 0) {
		for (i = 0; i < n; i++) {
			lines[i].same = false;
			lines[i].ok = load_parse(&lines[i], why,
			    sizeof(why)) == NULL;
			if (!lines[i].ok)
				load_fail(ld, &lines[i], EXIT_CLIENT, "%s", why);
		}
		load_check(ld, &lc, lines, n);
		for (i = 0, same = 0, expired = 0, nwant = 0; i < n; i++) {
			if (!lines[i].ok)
				continue;
			if (lines[i].same)
				same++;
			else if (load_ttl(ld, &lines[i]) != 0)
				continue;	/* failed, named */
			else if (lines[i].expires != 0 && lines[i].ttl_left <= 0)
				expired++;	/* its TTL ran out since the dump */
			else
				want[nwant++] = &lines[i];
		}
		load_write(ld, &lc, want, nwant);
		pthread_mutex_lock(&ld->mu);
		ld->unchanged += same;
		ld->expired += expired;
		pthread_mutex_unlock(&ld->mu);
	}
	for (i = 0; i < LOAD_CHUNK; i++) {
		buf_free(&lines[i].text);
		buf_free(&lines[i].key);
		buf_free(&lines[i].value);
		buf_free(&lines[i].context);
		buf_free(&lines[i].result);
	}
	if (lc.open)
		client_close(&lc.c);
	return NULL;
}

/*
 * kvctl load [--parallel N] < FILE: the lines of a dump, written by N
 * workers with keep-alive connections (spread over the --server list);
 * a PUT answered 503, or not at all, is tried LOAD_RETRIES more times
 * (plus --retry), 100 ms doubling between.
 * Each takes LOAD_CHUNK lines, asks which keys already hold their value
 * (one POST /batch of gets) and PUTs the others with X-Kvd-Context, so
 * the new version descends from the dumped one and a second load of the
 * same dump writes nothing.  The counts go to stdout; the exit status is
 * the worst failure's, 0 when none.
 */
static int
cmd_load(const struct opts *o)
{
	struct load ld;
	struct client_server *srv = NULL;
	struct sigaction sa;
	pthread_t *th;
	int i, n, started = 0;

	memset(&ld, 0, sizeof(ld));
	if ((ld.nsrv = parse_servers("load", o->servers, &srv)) < 0)
		return EXIT_USAGE;
	ld.o = o;
	ld.srv = srv;
	ld.in = stdin;
	pthread_mutex_init(&ld.mu, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	n = o->parallel > 0 ? o->parallel : LOAD_PARALLEL;
	if ((th = calloc((size_t)n, sizeof(*th))) == NULL) {
		free(srv);
		return EXIT_CLIENT;
	}
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, load_worker, &ld) == 0)
			started++;
		else
			break;
	if (started == 0)
		load_worker(&ld);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (ferror(stdin)) {
		fprintf(stderr, "kvctl: load: reading stdin: %s\n", strerror(errno));
		ld.worst = worse(ld.worst, EXIT_USAGE);
	}
	if (o->json)
		printf("{\"lines\":%" PRIu64 ",\"written\":%" PRIu64 ",\"unchanged\":%"
		    PRIu64 ",\"expired\":%" PRIu64 ",\"failed\":%" PRIu64 "}\n",
		    ld.lines, ld.written, ld.unchanged, ld.expired, ld.failed);
	else
		printf("lines %" PRIu64 ", written %" PRIu64 ", unchanged %" PRIu64
		    ", expired %" PRIu64 ", failed %" PRIu64 "\n", ld.lines,
		    ld.written, ld.unchanged, ld.expired, ld.failed);
	flush_stdout();
	pthread_mutex_destroy(&ld.mu);
	free(th);
	free(srv);
	return ld.worst;
}

/*
 * kvctl mput K V [K V...]: the writes of a load (load_write), so that a
 * value put takes is taken here too: each put too big for a batch goes
 * alone as a PUT, and a batch refused whole (413, or a 400) is split.
 * Each write succeeds or fails on its own, named by its key on stderr;
 * the exit code is the worst.  --json prints {"results":[...]}, one per
 * key in order: the server's own answer when one batch carried them all.
 * A key given twice is written once, with its last value, as Redis MSET
 * does (both in one batch, the server applied them in either order);
 * its result stands where that last pair stood.
 */
static int
cmd_mput(const struct opts *o, int n, char **kv)
{
	struct load ld;
	struct load_conn lc;
	struct load_line *lines;
	struct load_line **want;
	size_t i, j, nl = (size_t)n / 2, nwant = 0;
	size_t *pick = NULL;	/* the lines written, in their keys' order */
	bool any = false, *again = NULL;	/* its key was given before */
	int rc = 0;

	memset(&ld, 0, sizeof(ld));
	memset(&lc, 0, sizeof(lc));
	if ((ld.nsrv = parse_servers("mput", o->servers, &ld.srv)) < 0)
		return EXIT_USAGE;
	lines = calloc(nl ? nl : 1, sizeof(*lines));
	want = calloc(nl ? nl : 1, sizeof(*want));
	pick = calloc(nl ? nl : 1, sizeof(*pick));
	again = calloc(nl ? nl : 1, sizeof(*again));
	if (lines == NULL || want == NULL || pick == NULL || again == NULL) {
		rc = EXIT_CLIENT;
		goto out;
	}
	for (i = 0; i < nl; i++) {
		buf_init(&lines[i].text);
		buf_init(&lines[i].key);
		buf_init(&lines[i].value);
		buf_init(&lines[i].context);
		buf_init(&lines[i].result);
	}
	for (i = 0; i < nl; i++) {
		buf_puts(&lines[i].key, kv[2 * i]);
		if ((rc = read_value(o, kv[2 * i + 1], &lines[i].value)) != 0)
			goto out;
		lines[i].no = i + 1;
		lines[i].ok = true;
		if (o->ttl != NULL)
			parse_int64(o->ttl, strlen(o->ttl), &lines[i].ttl_left);
	}
	/*
	 * A key given twice is written once, with its last value (as Redis
	 * MSET), in the place where it first stood: the requests and
	 * --json's results follow the keys' first occurrences (a 1 b 2 a 3
	 * writes a=3 then b=2, and lists a then b).
	 */
	for (i = 0; i < nl; i++) {
		if (again[i])
			continue;
		pick[nwant] = i;
		for (j = i + 1; j < nl; j++)
			if (strcmp(kv[2 * i], kv[2 * j]) == 0) {
				again[j] = true;
				pick[nwant] = j;
			}
		want[nwant] = &lines[pick[nwant]];
		nwant++;
	}
	ld.o = o;
	ld.by_key = true;
	ld.keep = o->json;
	pthread_mutex_init(&ld.mu, NULL);
	load_write(&ld, &lc, want, nwant);
	pthread_mutex_destroy(&ld.mu);
	if (lc.open)
		client_close(&lc.c);
	rc = ld.worst;
	for (i = 0; i < nl; i++)
		any |= lines[i].result.len > 0;
	if (o->json && any) {
		fputs("{\"results\":[", stdout);
		for (j = 0; j < nwant; j++) {
			struct load_line *ln = &lines[pick[j]];

			if (j > 0)
				putchar(',');
			if (ln->result.len == 0) {
				/* No answer for it: named on stderr already. */
				buf_reset(&ln->text);
				json_emit_string(&ln->text, ln->key.data,
				    ln->key.len);
				printf("{\"status\":0,\"key\":%s}",
				    ln->text.data);
			} else
				fwrite(ln->result.data, 1, ln->result.len,
				    stdout);
		}
		fputs("]}\n", stdout);
	}
	if (flush_stdout() != 0)
		rc = worse(rc, EXIT_CLIENT);
out:
	for (i = 0; lines != NULL && i < nl; i++) {
		buf_free(&lines[i].text);
		buf_free(&lines[i].key);
		buf_free(&lines[i].value);
		buf_free(&lines[i].context);
		buf_free(&lines[i].result);
	}
	free(lines);
	free(want);
	free(pick);
	free(again);
	free(ld.srv);
	return rc;
}

/* ---- kvctl bench: lib/bench's options, reports and exit status ---- */

/*
 * bench and verify, after their run: each of their n servers srv that
 * failed in it and was not taken back (lib/servers' record), a line on
 * stderr: "kvctl: 127.0.0.1:8000 is not a kvd server (404 File not
 * found, text/html)", "kvctl: 127.0.0.1:9: Connection refused".  How
 * many it named.
 */
static int
say_failed_servers(const struct client_server *srv, int n)
{
	char line[512];
	int i, named = 0;

	for (i = 0; i < n; i++)
		if (servers_why(&srv[i], line, sizeof(line)) != NULL &&
		    line[0] != '\0') {
			fprintf(stderr, "kvctl: %s\n", line);
			named++;
		}
	return named;
}

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: kvctl bench [OPTIONS] [--server URL,...] [--json]\n\n"
	    "  -c N              keep-alive connections, one request in flight\n"
	    "                    on each (default 50)\n"
	    "  --threads N       threads driving them, each an event loop over\n"
	    "                    its share (default 2; more than -c run as -c)\n"
	    "  -n N              total requests (default 100000)\n"
	    "  -d SECONDS        run for a duration instead of -n\n"
	    "  -t TEST           get, put, delete or mix (default get)\n"
	    "  --ratio G:P       GET:PUT ratio of mix (default 90:10)\n"
	    "  --size BYTES      value size (default 100)\n"
	    "  --keys N          key space key:000000000000.. (default 10000)\n"
	    "  --prefill         PUT every key once first, so GETs hit\n"
	    "  --raw             octet-stream bodies (default JSON {\"value\":..})\n"
	    "  --warmup SECONDS  unmeasured load before measuring (default 0)\n\n"
	    "Connections are spread round-robin over the --server list; one\n"
	    "whose server fails moves to another, and goes back once that\n"
	    "server may be asked again (1 s after it failed, doubling while it\n"
	    "keeps failing, at most 8 s).\n"
	    "Each request has kvctl's --timeout deadline (default 10 s) and its\n"
	    "connect --connect-timeout (default 3 s); one past it counts as a\n"
	    "timeout.\n"
	    "Prints requests, errors, throughput, latency p50/p90/p99/p99.9/max\n"
	    "and the generator's own CPU share; --json prints one object.\n"
	    "Exit status: 0 done (errors are reported), 2 usage, 3 no server\n"
	    "answered any request.\n");
}

/*
 * Every long option kvctl reads, its own and bench's and verify's: an
 * option that needs a value takes none of these for it (opt_value), so
 * "--if-match --server URL" is refused at --if-match.  An option added
 * to a loop below belongs here too.
 */
static const char *const longs[] = {
	"--help", "--version", "--json", "--quiet", "--verbose", "--server",
	"--timeout", "--connect-timeout", "--r", "--w", "--ttl", "--if-match",
	"--create", "--etag", "--serial", "--retry", "--limit", "--prefix",
	"--parallel", "--yes", "--all", "--output", "--cluster-secret-file",
	"--prefill", "--raw", "--threads", "--ratio", "--size", "--keys",
	"--warmup",						/* bench */
	"--mode", "--read-r", "--write-r", "--read-budget",
	"--pause-before-read", "--keep", "--save", "--check",	/* verify */
	NULL
};

/*
 * What is wrong when option argv[i] has no value (opt_value set
 * *missing), into out: it ends the line, or another option follows it.
 * Returns out.
 */
static const char *
no_value(int argc, char **argv, int i, char *out, size_t outlen)
{
	if (i + 1 >= argc)
		snprintf(out, outlen, "%s needs a value", argv[i]);
	else
		snprintf(out, outlen, "%s needs a value, but the option '%s' "
		    "follows it (%s=%s gives that as the value)", argv[i],
		    argv[i + 1], argv[i], argv[i + 1]);
	return out;
}

/*
 * A bad value in bench's or verify's options: the usage error, or with
 * --help on the line the option skipped, so that help wins over a bad
 * value but not over a flag kvctl does not know (as kvctl's own flags,
 * commit d882db5).  For the options' loop only: it may continue it.
 */
#define OPT_BAD(help, ...) \
	{ if (!(help)) return usage_error(__VA_ARGS__); continue; }

/*
 * Reads bench's options (argv[1..]) into b.  Returns -1 to run, or the
 * exit status: EXIT_OK after the help (--help), EXIT_USAGE after a message.
 */
static int
bench_parse(struct bench_opts *b, int argc, char **argv)
{
	char why[256];
	const char *v;
	uint64_t u;
	bool missing = false, have_n = false;
	bool help;
	int i;

	bench_opts_init(b);
	/*
	 * Help whatever else the line holds, bad values included, but not
	 * a flag kvctl does not know (OPT_BAD).
	 */
	help = opt_help(argc, argv);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (help && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
		    a[0] != '-'))
			continue;	/* help, or an argument (verify takes none) */
		if (help && strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--prefill") == 0) {
			b->prefill = true;
		} else if (strcmp(a, "--raw") == 0) {
			b->raw = true;
		} else if ((v = opt_value(argc, argv, &i, "-c", longs, &missing)) != NULL) {
			if (opt_u64(v, 1, BENCH_MAX_CONNS, &u) != 0)
				OPT_BAD(help, "bench", "bad -c '%s' (1..%d)", v,
				    BENCH_MAX_CONNS);
			b->conns = (int)u;
		} else if ((v = opt_value(argc, argv, &i, "--threads",
		    longs, &missing)) != NULL) {
			if (opt_u64(v, 1, BENCH_MAX_THREADS, &u) != 0)
				OPT_BAD(help, "bench", "bad --threads '%s' "
				    "(1..%d)", v, BENCH_MAX_THREADS);
			b->threads = (int)u;
		} else if ((v = opt_value(argc, argv, &i, "-n", longs, &missing)) != NULL) {
			if (opt_u64(v, 1, UINT64_MAX / 2, &b->requests) != 0)
				OPT_BAD(help, "bench", "bad -n '%s'", v);
			have_n = true;
		} else if ((v = opt_value(argc, argv, &i, "-d", longs, &missing)) != NULL) {
			if (opt_double(v, 0.001, BENCH_MAX_SECS, &b->duration) != 0)
				OPT_BAD(help, "bench", "bad -d '%s' (seconds)",
				    v);
		} else if ((v = opt_value(argc, argv, &i, "-t", longs, &missing)) != NULL) {
			for (u = 0; u < BENCH_NTESTS; u++)
				if (strcmp(v, bench_test_name((enum bench_test)u)) == 0)
					break;
			if (u == BENCH_NTESTS)
				OPT_BAD(help, "bench", "bad -t '%s' (get, put, "
				    "delete or mix)", v);
			b->test = (enum bench_test)u;
		} else if ((v = opt_value(argc, argv, &i, "--ratio", longs, &missing)) != NULL) {
			unsigned g, p;
			char extra;

			if (sscanf(v, "%u:%u%c", &g, &p, &extra) != 2 ||
			    g > 1000000 || p > 1000000 || g + p == 0)
				OPT_BAD(help, "bench", "bad --ratio '%s' "
				    "(GET:PUT, e.g. 90:10)", v);
			b->ratio_get = g;
			b->ratio_put = p;
		} else if ((v = opt_value(argc, argv, &i, "--size", longs, &missing)) != NULL) {
			if (opt_u64(v, 0, BENCH_MAX_VALUE, &u) != 0)
				OPT_BAD(help, "bench", "bad --size '%s' (0..%d "
				    "bytes)", v, BENCH_MAX_VALUE);
			b->size = (size_t)u;
		} else if ((v = opt_value(argc, argv, &i, "--keys", longs, &missing)) != NULL) {
			if (opt_u64(v, 1, BENCH_MAX_KEYS, &b->keys) != 0)
				OPT_BAD(help, "bench", "bad --keys '%s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--warmup", longs, &missing)) != NULL) {
			if (opt_double(v, 0, BENCH_MAX_SECS, &b->warmup) != 0)
				OPT_BAD(help, "bench", "bad --warmup '%s' "
				    "(seconds)", v);
		} else if (missing) {
			missing = false;	/* argv[i + 1] is read next */
			OPT_BAD(help, "bench", "%s", no_value(argc, argv, i,
			    why, sizeof(why)));
		} else {
			return usage_error("bench", "unknown bench option '%s'", a);
		}
	}
	if (help) {
		bench_usage(stdout);
		return EXIT_OK;
	}
	if (have_n && b->duration > 0)
		return usage_error("bench", "-n and -d exclude each other");
	if (b->duration > 0)
		b->requests = 0;
	return -1;
}

static void
bench_print_text(const struct bench_opts *b, const struct bench_result *r)
{
	int i;

	printf("bench %s: %d connections to %d server%s, ",
	    bench_test_name(b->test), b->conns, b->nservers,
	    b->nservers == 1 ? "" : "s");
	if (b->requests)
		printf("%llu requests", (unsigned long long)b->requests);
	else
		printf("%.1f s", b->duration);
	printf(", %zu-byte %s values, %llu keys", b->size,
	    b->raw ? "raw" : "JSON", (unsigned long long)b->keys);
	if (b->test == BENCH_MIX)
		printf(", GET:PUT %u:%u", b->ratio_get, b->ratio_put);
	printf("\n");
	printf("  requests    %llu (ok %llu, misses %llu; get %llu, put %llu, "
	    "delete %llu)\n", (unsigned long long)r->requests,
	    (unsigned long long)r->ok, (unsigned long long)r->misses,
	    (unsigned long long)r->ops[BENCH_OP_GET],
	    (unsigned long long)r->ops[BENCH_OP_PUT],
	    (unsigned long long)r->ops[BENCH_OP_DELETE]);
	printf("  errors      %llu (transport %llu, http %llu)\n",
	    (unsigned long long)(r->transport + r->http_err),
	    (unsigned long long)r->transport, (unsigned long long)r->http_err);
	if (r->transport) {
		printf("  transport  ");
		for (i = 0; i < BENCH_NTERR; i++)
			if (r->terr[i])
				printf(" %s %llu", bench_terr_name((enum bench_terr)i),
				    (unsigned long long)r->terr[i]);
		printf("\n");
	}
	if (r->http_err) {
		printf("  http       ");
		for (i = 0; i < BENCH_NSTATUS; i++)
			if (r->status[i])
				printf(" %d: %llu", i,
				    (unsigned long long)r->status[i]);
		printf("\n");
	}
	if (b->prefill)
		printf("  prefill     %llu keys, %llu failed\n",
		    (unsigned long long)b->keys,
		    (unsigned long long)r->prefill_err);
	printf("  duration    %.3f s\n", r->secs);
	printf("  throughput  %.1f req/s\n", r->rps);
	printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
	    "max %.3f  mean %.3f\n", r->p50, r->p90, r->p99, r->p999, r->max,
	    r->mean);
	printf("  client cpu  %.1f%% of %ld core%s (%.2f cores busy)\n",
	    r->cpu_pct, r->cores, r->cores == 1 ? "" : "s", r->busy);
}

static void
bench_print_json(const struct bench_opts *b, const struct bench_result *r)
{
	bool first = true;
	int i;

	printf("{\"test\":\"%s\",\"connections\":%d,\"servers\":%d,",
	    bench_test_name(b->test), b->conns, b->nservers);
	printf("\"value_size\":%zu,\"raw\":%s,\"keys\":%llu,", b->size,
	    b->raw ? "true" : "false", (unsigned long long)b->keys);
	if (b->test == BENCH_MIX)
		printf("\"ratio\":\"%u:%u\",", b->ratio_get, b->ratio_put);
	printf("\"requests\":%llu,\"ok\":%llu,\"misses\":%llu,"
	    "\"errors\":%llu,\"errors_transport\":%llu,\"errors_http\":%llu,",
	    (unsigned long long)r->requests,
	    (unsigned long long)r->ok, (unsigned long long)r->misses,
	    (unsigned long long)(r->transport + r->http_err),
	    (unsigned long long)r->transport, (unsigned long long)r->http_err);
	printf("\"transport\":{");
	for (i = 0; i < BENCH_NTERR; i++)
		printf("%s\"%s\":%llu", i ? "," : "",
		    bench_terr_name((enum bench_terr)i),
		    (unsigned long long)r->terr[i]);
	printf("},\"http_status\":{");
	for (i = 0; i < BENCH_NSTATUS; i++) {
		if (r->status[i] == 0)
			continue;
		printf("%s\"%d\":%llu", first ? "" : ",", i,
		    (unsigned long long)r->status[i]);
		first = false;
	}
	printf("},\"gets\":%llu,\"puts\":%llu,\"deletes\":%llu,",
	    (unsigned long long)r->ops[BENCH_OP_GET],
	    (unsigned long long)r->ops[BENCH_OP_PUT],
	    (unsigned long long)r->ops[BENCH_OP_DELETE]);
	if (b->prefill)
		printf("\"prefill_errors\":%llu,",
		    (unsigned long long)r->prefill_err);
	printf("\"duration_s\":%.6f,\"rps\":%.1f,", r->secs, r->rps);
	printf("\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,"
	    "\"p999\":%.4f,\"max\":%.4f,\"mean\":%.4f},", r->p50, r->p90,
	    r->p99, r->p999, r->max, r->mean);
	printf("\"client_cpu_pct\":%.2f,\"client_cpu_cores\":%.3f,\"cores\":%ld}\n",
	    r->cpu_pct, r->busy, r->cores);
}

/*
 * kvctl bench: the report on stdout; exit 0 when the run completed
 * (failed requests are reported, not fatal), 3 when no request reached
 * any server.  A run that cannot start at all exits 3 when out of memory
 * and 2 when a thread would not start, as it always has.
 */
static int
cmd_bench(const struct opts *o, int argc, char **argv)
{
	struct bench_opts b;
	struct bench_result *r;
	struct client_server *srv = NULL;
	struct sigaction sa;
	int rc;

	if ((rc = bench_parse(&b, argc, argv)) >= 0 ||
	    (rc = env_check(o)) != 0)
		return rc;
	if ((b.nservers = parse_servers("bench", o->servers, &srv)) < 0)
		return EXIT_USAGE;
	b.servers = srv;
	b.timeout_ms = o->timeout_ms;
	b.connect_timeout_ms = o->connect_timeout_ms;
	/* A vanished server must not kill us (macOS lacks MSG_NOSIGNAL). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	r = calloc(1, sizeof(*r));
	rc = r != NULL ? bench_run(&b, r) : BENCH_ENOMEM;
	if (rc == BENCH_ENOMEM) {
		fprintf(stderr, "kvctl bench: out of memory\n");
		rc = EXIT_UNREACHABLE;
	} else if (rc == BENCH_ETHREAD) {
		fprintf(stderr, "kvctl bench: cannot start thread: %s\n",
		    strerror(errno));
		rc = EXIT_USAGE;
	} else {
		if (o->json)
			bench_print_json(&b, r);
		else
			bench_print_text(&b, r);
		flush_stdout();
		rc = EXIT_OK;
		say_failed_servers(srv, b.nservers);
		if (r->ok + r->misses + r->http_err == 0 && r->transport > 0) {
			fprintf(stderr, "kvctl bench: no server reachable\n");
			rc = EXIT_UNREACHABLE;
		}
	}
	free(r);
	free(srv);
	return rc;
}

/* ---- kvctl verify: lib/verify's options, reports and exit status ---- */

static void
verify_usage(FILE *f)
{
	fprintf(f,
	    "usage: kvctl [--server URL,...] [--timeout S] [--json] verify [OPTIONS]\n\n"
	    "Writes concurrently for a while, then reads every acknowledged write\n"
	    "back and reports acknowledged / present / lost / stale; then deletes\n"
	    "every key it wrote (POST /batch), unless --keep.\n\n"
	    "  -c N                    writer threads (default 8)\n"
	    "  -d SECONDS              length of the write phase (default 10)\n"
	    "  --mode keys|set         keys: every write a new key (default);\n"
	    "                          set: each writer rewrites %d keys with\n"
	    "                          increasing values; an older value than the\n"
	    "                          last acknowledged one is STALE\n"
	    "  --prefix P              key prefix (default verify-PID-TIME)\n"
	    "  --size BYTES            value size (default 32)\n"
	    "  --read-r N|all          read quorum of the read-back (default 3,\n"
	    "                          capped to the cluster's N)\n"
	    "  --write-r N|all         send ?r=N (or all) with every PUT, so the\n"
	    "                          coordinator reads a quorum before writing\n"
	    "                          instead of writing blind on its own copy\n"
	    "                          (default: none; capped to the cluster's N)\n"
	    "  --read-budget SECONDS   how long one read is retried while nodes\n"
	    "                          restart (default 30)\n"
	    "  --pause-before-read S   wait S seconds between the phases\n"
	    "  --keep                  leave the keys it wrote (by default they\n"
	    "                          are deleted after the read-back; a failed\n"
	    "                          clean-up is reported but changes no verdict)\n"
	    "  --save FILE             write phase only: record what was\n"
	    "                          acknowledged in FILE, no read-back, no\n"
	    "                          clean-up (exit 0 when a write was\n"
	    "                          acknowledged)\n"
	    "  --check FILE            no write phase: read FILE's acknowledged\n"
	    "                          writes back through EVERY --server in\n"
	    "                          turn (a key lost or stale through any one\n"
	    "                          counts), then clean up unless --keep; the\n"
	    "                          record's mode, prefix, size and writers\n"
	    "                          are used\n"
	    "  --json                  one JSON object on stdout\n\n"
	    "Every request has the --timeout deadline, its connect the\n"
	    "--connect-timeout one.  A write is acknowledged on\n"
	    "200/201 only; 503, timeouts and connection errors are unknown\n"
	    "outcomes (counted as unacknowledged, never checked).\n"
	    "A server that fails is asked after the others, and again once a\n"
	    "pause has run out (1 s, doubling while it keeps failing, at most\n"
	    "8 s), so a node restarted during the run gets writes again.\n"
	    "A run in which no write was acknowledged checked nothing: it reports\n"
	    "FAILED and exits 1.\n"
	    "Exit status: 0 nothing lost, 1 lost, stale, corrupt or unreadable\n"
	    "writes, or none acknowledged, 2 usage error, 3 no server reachable.\n",
	    VERIFY_SET_KEYS);
}

/*
 * Reads verify's options (argv[1..]) into vo.  Returns -1 to run, or the
 * exit status: EXIT_OK after the help (--help), EXIT_USAGE after a message.
 */
static int
verify_parse(struct verify_opts *vo, int argc, char **argv)
{
	char why[256];
	const char *v;
	uint64_t u;
	bool missing = false;
	bool help;
	int i;

	verify_opts_init(vo);
	/*
	 * Help whatever else the line holds, bad values included, but not
	 * a flag kvctl does not know (OPT_BAD).
	 */
	help = opt_help(argc, argv);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (help && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
		    a[0] != '-'))
			continue;	/* help, or an argument (verify takes none) */
		if (help && strcmp(a, "--") == 0)
			break;
		if ((v = opt_value(argc, argv, &i, "-c", longs, &missing)) != NULL) {
			if (opt_u64(v, 1, VERIFY_MAX_WRITERS, &u) != 0)
				OPT_BAD(help, "verify", "bad -c '%s' (writers, "
				    "1..%d)", v, VERIFY_MAX_WRITERS);
			vo->writers = (int)u;
		} else if ((v = opt_value(argc, argv, &i, "-d", longs, &missing)) != NULL) {
			if (opt_double(v, 0.001, 86400, &vo->secs) != 0)
				OPT_BAD(help, "verify", "bad -d '%s' (seconds, "
				    "> 0)", v);
		} else if ((v = opt_value(argc, argv, &i, "--mode", longs, &missing)) != NULL) {
			if (strcmp(v, "keys") == 0)
				vo->mode = VERIFY_KEYS;
			else if (strcmp(v, "set") == 0)
				vo->mode = VERIFY_SET;
			else
				OPT_BAD(help, "verify", "bad --mode '%s' (keys "
				    "or set)", v);
		} else if ((v = opt_value(argc, argv, &i, "--prefix", longs, &missing)) != NULL) {
			if (*v == '\0' || strlen(v) > VERIFY_MAX_PREFIX)
				OPT_BAD(help, "verify", "bad --prefix (1..%d "
				    "bytes)", VERIFY_MAX_PREFIX);
			memcpy(vo->prefix, v, strlen(v) + 1);
		} else if ((v = opt_value(argc, argv, &i, "--size", longs, &missing)) != NULL) {
			if (opt_u64(v, 1, VERIFY_MAX_SIZE, &u) != 0)
				OPT_BAD(help, "verify", "bad --size '%s' (bytes, "
				    "1..%d)", v, VERIFY_MAX_SIZE);
			vo->size = (size_t)u;
		} else if ((v = opt_value(argc, argv, &i, "--read-r", longs, &missing)) != NULL) {
			if (strcmp(v, "all") == 0)
				vo->read_r = 0;
			else if (opt_u64(v, 1, VERIFY_MAX_R, &u) == 0)
				vo->read_r = (int)u;
			else
				OPT_BAD(help, "verify", "bad --read-r '%s' (1..%d "
				    "or all)", v, VERIFY_MAX_R);
		} else if ((v = opt_value(argc, argv, &i, "--write-r", longs, &missing)) != NULL) {
			if (strcmp(v, "all") == 0)
				vo->write_r = VERIFY_WRITE_R_ALL;
			else if (opt_u64(v, 1, VERIFY_MAX_R, &u) == 0)
				vo->write_r = (int)u;
			else
				OPT_BAD(help, "verify", "bad --write-r '%s' (1..%d "
				    "or all)", v, VERIFY_MAX_R);
		} else if ((v = opt_value(argc, argv, &i, "--read-budget",
		    longs, &missing)) != NULL) {
			if (opt_double(v, 0, 3600, &vo->budget_s) != 0)
				OPT_BAD(help, "verify", "bad --read-budget '%s' "
				    "(seconds)", v);
		} else if ((v = opt_value(argc, argv, &i, "--pause-before-read",
		    longs, &missing)) != NULL) {
			if (opt_double(v, 0, 3600, &vo->pause_s) != 0)
				OPT_BAD(help, "verify", "bad --pause-before-read "
				    "'%s' (seconds)", v);
		} else if (strcmp(a, "--keep") == 0) {
			vo->keep = true;
		} else if ((v = opt_value(argc, argv, &i, "--save", longs,
		    &missing)) != NULL) {
			if (*v == '\0' || vo->check_path != NULL)
				OPT_BAD(help, "verify", "bad --save '%s' (a file; "
				    "not with --check)", v);
			vo->save_path = v;
		} else if ((v = opt_value(argc, argv, &i, "--check", longs,
		    &missing)) != NULL) {
			if (*v == '\0' || vo->save_path != NULL)
				OPT_BAD(help, "verify", "bad --check '%s' (a file; "
				    "not with --save)", v);
			vo->check_path = v;
		} else if (missing) {
			missing = false;	/* argv[i + 1] is read next */
			OPT_BAD(help, "verify", "%s", no_value(argc, argv, i,
			    why, sizeof(why)));
		} else {
			return usage_error("verify", "unknown option or argument '%s'",
			    a);
		}
	}
	if (help) {
		verify_usage(stdout);
		return EXIT_OK;
	}
	return -1;
}

/* lib/verify's progress: one line on stderr as each phase begins. */
static void
verify_progress(void *arg, enum verify_phase phase,
    const struct verify_result *r)
{
	const struct verify_opts *vo = arg;

	switch (phase) {
	case VERIFY_WRITING:
		fprintf(stderr, "verify: writing for %.1f s with %d writers (%s "
		    "mode, prefix %s", vo->secs, vo->writers,
		    verify_mode_name(vo->mode), vo->prefix);
		if (r->write_r == VERIFY_WRITE_R_ALL)
			fprintf(stderr, ", writes at r=all");
		else if (r->write_r > 0)
			fprintf(stderr, ", writes at r=%d", r->write_r);
		fprintf(stderr, ")\n");
		break;
	case VERIFY_WRITTEN:
		fprintf(stderr, "verify: write phase done: %" PRIu64
		    " acknowledged, %" PRIu64 " unknown outcome\n", r->acks,
		    r->unacked);
		if (r->other_status != 0)
			fprintf(stderr, "kvctl verify: %" PRIu64 " writes answered "
			    "with an unexpected status (first: %d)\n",
			    r->unk_other, r->other_status);
		break;
	case VERIFY_PAUSING:
		fprintf(stderr, "verify: pausing %.1f s before the read-back\n",
		    vo->pause_s);
		break;
	case VERIFY_READING:
		if (vo->check_path != NULL)
			fprintf(stderr, "verify: reading back %zu keys of %s at "
			    "r=%d through each of %d servers\n", r->keys_read,
			    vo->check_path, r->r, vo->nservers);
		else
			fprintf(stderr, "verify: reading back %zu keys at r=%d\n",
			    r->keys_read, r->r);
		break;
	case VERIFY_CLEANING:
		fprintf(stderr, "verify: deleting the %" PRIu64 " keys it wrote "
		    "(--keep leaves them)\n", r->cleanup_keys);
		break;
	}
}

static void
verify_json_samples(struct buf *out, const char *name,
    const struct verify_result *r, enum verify_verdict v)
{
	int i;

	buf_printf(out, ",\"%s\":[", name);
	for (i = 0; i < r->nsamples[v]; i++) {
		if (i > 0)
			buf_putc(out, ',');
		json_emit_string(out, r->samples[v][i], strlen(r->samples[v][i]));
	}
	buf_putc(out, ']');
}

static void
verify_print_json(const struct verify_opts *vo, const struct verify_result *r,
    struct buf *out)
{
	int v;

	buf_printf(out, "{\"ok\":%s,\"mode\":\"%s\",\"prefix\":",
	    r->ok ? "true" : "false", verify_mode_name(r->mode));
	json_emit_string(out, r->prefix, strlen(r->prefix));
	buf_printf(out, ",\"writers\":%d,\"duration_s\":%.3f,\"servers\":%d,"
	    "\"read_r\":%d,\"attempted\":%" PRIu64 ",\"acknowledged\":%"
	    PRIu64 ",\"unacknowledged\":%" PRIu64 ",\"unacknowledged_503\":%"
	    PRIu64 ",\"unacknowledged_timeout\":%" PRIu64
	    ",\"unacknowledged_connection\":%" PRIu64
	    ",\"unacknowledged_other\":%" PRIu64
	    ",\"unacknowledged_not_kvd\":%" PRIu64 ",\"keys_read\":%zu",
	    r->writers, r->write_s, vo->nservers, r->r, r->attempts,
	    r->acks, r->unacked, r->unk_503, r->unk_timeout, r->unk_conn,
	    r->unk_other, r->unk_not_kvd, r->keys_read);
	if (r->write_r == VERIFY_WRITE_R_ALL)
		buf_puts(out, ",\"write_r\":\"all\"");
	else if (r->write_r > 0)
		buf_printf(out, ",\"write_r\":%d", r->write_r);
	else
		buf_puts(out, ",\"write_r\":null");
	for (v = 0; v < VERIFY_NVERDICTS; v++)
		buf_printf(out, ",\"%s\":%" PRIu64,
		    verify_verdict_name((enum verify_verdict)v), r->counts[v]);
	buf_printf(out, ",\"writes_per_s\":%.1f,\"nothing_checked\":%s",
	    r->writes_per_s, r->nothing_checked ? "true" : "false");
	buf_puts(out, ",\"saved\":");
	if (r->saved)
		json_emit_string(out, vo->save_path, strlen(vo->save_path));
	else
		buf_puts(out, "null");
	buf_puts(out, ",\"checked\":");
	if (vo->check_path != NULL)
		json_emit_string(out, vo->check_path, strlen(vo->check_path));
	else
		buf_puts(out, "null");
	if (r->cleaned) {
		buf_printf(out, ",\"cleanup\":{\"keys\":%" PRIu64 ",\"deleted\":%"
		    PRIu64 ",\"failed\":%" PRIu64 ",\"error\":", r->cleanup_keys,
		    r->cleanup_deleted, r->cleanup_failed);
		if (r->cleanup_error[0] != '\0')
			json_emit_string(out, r->cleanup_error,
			    strlen(r->cleanup_error));
		else
			buf_puts(out, "null");
		buf_putc(out, '}');
	} else
		buf_puts(out, ",\"cleanup\":null");
	verify_json_samples(out, "lost_keys", r, VERIFY_LOST);
	verify_json_samples(out, "stale_keys", r, VERIFY_STALE);
	verify_json_samples(out, "corrupt_keys", r, VERIFY_CORRUPT);
	verify_json_samples(out, "unreadable_keys", r, VERIFY_UNREADABLE);
	buf_puts(out, "}\n");
}

static void
verify_print_text(const struct verify_opts *vo, const struct verify_result *r,
    struct buf *out)
{
	int v, i;

	buf_printf(out, "mode            %s (%d writers, %.1f s, %d "
	    "server%s, ", verify_mode_name(r->mode), r->writers, r->write_s,
	    vo->nservers, vo->nservers == 1 ? "" : "s");
	if (r->write_r == VERIFY_WRITE_R_ALL)
		buf_puts(out, "writes at r=all, ");
	else if (r->write_r > 0)
		buf_printf(out, "writes at r=%d, ", r->write_r);
	if (r->saved)
		buf_puts(out, "no read-back)\n");
	else if (vo->check_path != NULL)
		buf_printf(out, "read-back r=%d through each server)\n", r->r);
	else
		buf_printf(out, "read-back r=%d)\n", r->r);
	buf_printf(out, "acknowledged    %" PRIu64 "\n", r->acks);
	buf_printf(out, "unacknowledged  %" PRIu64 " (503: %" PRIu64
	    ", timeout: %" PRIu64 ", connection: %" PRIu64 ", other: %"
	    PRIu64, r->unacked, r->unk_503, r->unk_timeout, r->unk_conn,
	    r->unk_other);
	if (r->unk_not_kvd > 0)
		buf_printf(out, ", not kvd: %" PRIu64, r->unk_not_kvd);
	buf_puts(out, ")\n");
	if (r->saved) {
		buf_printf(out, "writes/s        %.1f\n", r->writes_per_s);
		buf_printf(out, "saved           %s\n", vo->save_path);
		buf_printf(out, "%s\n", r->ok ? "SAVED: kvctl verify --check "
		    "FILE reads the acknowledged writes back" : "FAILED: no "
		    "write was acknowledged, so there is nothing to check");
		return;
	}
	if (vo->check_path != NULL)
		buf_printf(out, "checked         %s\n", vo->check_path);
	buf_printf(out, "keys_read       %zu\n", r->keys_read);
	for (v = 0; v < VERIFY_NVERDICTS; v++) {
		if (v == VERIFY_ABSENT && r->mode == VERIFY_KEYS)
			continue;
		buf_printf(out, "%-15s %" PRIu64 "\n",
		    verify_verdict_name((enum verify_verdict)v), r->counts[v]);
	}
	buf_printf(out, "writes/s        %.1f\n", r->writes_per_s);
	if (!r->cleaned)
		buf_puts(out, "cleanup         none (--keep)\n");
	else if (r->cleanup_failed == 0)
		buf_printf(out, "cleanup         %" PRIu64 " keys deleted\n",
		    r->cleanup_deleted);
	else
		buf_printf(out, "cleanup         %" PRIu64 " keys deleted, %"
		    PRIu64 " not (%s)\n", r->cleanup_deleted, r->cleanup_failed,
		    r->cleanup_error);
	for (v = VERIFY_LOST; v <= VERIFY_UNREADABLE; v++)
		for (i = 0; i < r->nsamples[v]; i++)
			buf_printf(out, "%s key: %s\n",
			    verify_verdict_name((enum verify_verdict)v),
			    r->samples[v][i]);
	buf_printf(out, "%s\n", r->ok ? "OK: no acknowledged write lost" :
	    r->nothing_checked ? "FAILED: no write was acknowledged, so nothing "
	    "was checked" :
	    "FAILED: acknowledged writes lost, stale, corrupt or unreadable");
}

/*
 * kvctl verify: progress on stderr, the report on stdout; exit 0 when no
 * acknowledged write was lost, 1 when any was lost, stale, corrupt or
 * unreadable, when none was acknowledged (nothing checked) or the check
 * could not run, 3 when no server answered.  The clean-up's outcome is
 * reported (and a failure named on stderr) but changes no exit status.
 */
static int
cmd_verify(const struct opts *o, int argc, char **argv)
{
	struct verify_opts vo;
	struct verify_result r;
	struct client_server *srv = NULL;
	struct buf out = BUF_INIT;
	struct sigaction sa;
	int rc;

	if ((rc = verify_parse(&vo, argc, argv)) >= 0 ||
	    (rc = env_check(o)) != 0)
		return rc;
	if ((vo.nservers = parse_servers("verify", o->servers, &srv)) < 0)
		return EXIT_USAGE;
	vo.servers = srv;
	if (o->timeout_ms > 0)
		vo.timeout_ms = o->timeout_ms;
	vo.connect_timeout_ms = o->connect_timeout_ms;	/* capped by main */
	/* A node killed mid-write must not kill us (no MSG_NOSIGNAL on macOS). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	switch (verify_run(&vo, verify_progress, &vo, &r)) {
	case 0:
		if (o->json)
			verify_print_json(&vo, &r, &out);
		else
			verify_print_text(&vo, &r, &out);
		fwrite(out.data, 1, out.len, stdout);
		flush_stdout();
		if (r.cleaned && r.cleanup_failed > 0)
			fprintf(stderr, "kvctl verify: %" PRIu64 " of its keys were "
			    "not deleted (%s); they start with %s- (the verdict "
			    "stands)\n", r.cleanup_failed, r.cleanup_error,
			    r.prefix);
		say_failed_servers(srv, vo.nservers);
		if (r.nothing_checked)
			fprintf(stderr, "kvctl verify: no write was acknowledged, "
			    "so nothing was checked\n");
		rc = r.ok ? EXIT_OK : EXIT_LOST;
		break;
	case VERIFY_EUNREACHABLE:
		say_failed_servers(srv, vo.nservers);
		fprintf(stderr, "kvctl verify: no server reachable\n");
		rc = EXIT_UNREACHABLE;
		break;
	case VERIFY_ENOMEM:
		fprintf(stderr, "kvctl verify: out of memory\n");
		rc = EXIT_LOST;
		break;
	case VERIFY_ERECORD:
		fprintf(stderr, "kvctl verify: %s\n", r.record_error);
		rc = EXIT_LOST;
		break;
	default:
		fprintf(stderr, "kvctl verify: cannot start a thread\n");
		rc = EXIT_LOST;
		break;
	}
	verify_result_free(&r);
	buf_free(&out);
	free(srv);
	return rc;
}

/* Reads SECONDS (> 0, <= 3600) into *ms.  0, or -1 when malformed. */
static int
parse_seconds(const char *v, int *ms)
{
	double secs;

	if (opt_double(v, 0, 3600, &secs) != 0 || secs <= 0)
		return -1;
	*ms = (int)(secs * 1000);
	return 0;
}

/* Reads --retry's N (0..100).  0, or -1 when malformed. */
static int
parse_retries(const char *v, int *out)
{
	uint64_t n;

	if (opt_u64(v, 0, 100, &n) != 0)
		return -1;
	*out = (int)n;
	return 0;
}

/*
 * Keeps the message about a bad KVCTL_ variable in o->env_error: it is
 * said (exit 2) by env_check() once the command line is known not to ask
 * for help, which answers whatever the environment holds.  Returns -1.
 */
static int __attribute__((format(printf, 2, 3)))
env_bad(struct opts *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->env_error, sizeof(o->env_error), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A KVCTL_ boolean into *out, read as kvd reads KVD_ ones (opt_bool):
 * unset or empty leaves *out alone; anything opt_bool refuses is a usage
 * error naming the variable, never a silent "off".  0, or -1 (env_bad).
 */
static int
env_bool(struct opts *o, const char *name, bool *out)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0' || opt_bool(v, out) == 0)
		return 0;
	return env_bad(o, "bad %s '%s' (want 1, true, yes, 0, false or no)",
	    name, v);
}

/*
 * Global settings from KVCTL_* variables; flags override them later.
 * A bad one is kept for env_check(), not said here.  0, or -1.
 */
static int
read_env(struct opts *o)
{
	const char *v;

	if ((v = getenv("KVCTL_SERVER")) != NULL && *v)
		o->servers = v;
	if ((v = getenv("KVCTL_TIMEOUT")) != NULL && *v &&
	    parse_seconds(v, &o->timeout_ms) != 0)
		return env_bad(o, "bad KVCTL_TIMEOUT '%s' (seconds, > 0)", v);
	if ((v = getenv("KVCTL_CONNECT_TIMEOUT")) != NULL && *v &&
	    parse_seconds(v, &o->connect_timeout_ms) != 0)
		return env_bad(o, "bad KVCTL_CONNECT_TIMEOUT '%s' (seconds, > 0)",
		    v);
	if ((v = getenv("KVCTL_RETRY")) != NULL && *v &&
	    parse_retries(v, &o->retries) != 0)
		return env_bad(o, "bad KVCTL_RETRY '%s' (0..100)", v);
	if ((v = getenv("KVCTL_CLUSTER_SECRET_FILE")) != NULL && *v) {
		o->secret_file = v;
		o->secret_env = true;
	}
	if (env_bool(o, "KVCTL_JSON", &o->json) != 0 ||
	    env_bool(o, "KVCTL_QUIET", &o->quiet) != 0 ||
	    env_bool(o, "KVCTL_VERBOSE", &o->verbose) != 0)
		return -1;
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
	/* verify and bench: their option lists, as verify --help prints. */
	if (strcmp(args[1], "verify") == 0) {
		verify_usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(args[1], "bench") == 0) {
		bench_usage(stdout);
		return EXIT_OK;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(args[1], commands[i].name) == 0) {
			printf("usage: %s\n\n%s\n", commands[i].usage,
			    commands[i].help);
			return EXIT_OK;
		}
	return usage_error(NULL, "no command '%s' (try 'kvctl help')", args[1]);
}

/* True when name is one of list's (NULL-terminated) names. */
static bool
one_of(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/*
 * Flags that only some commands take go with those only: --ttl with put
 * and mput, --if-match with put and delete KEY (a prefix's keys have
 * versions of their own, and delete --prefix would send none), --create
 * with put, --etag and --serial with get, --limit with ls, --prefix and
 * --all with delete, --yes with delete --prefix or --all, --parallel
 * with load, --r and --w with the commands that send them: never
 * silently ignored.  0, or EXIT_USAGE after the message.
 */
static int
check_command_flags(const struct opts *o, const char *cmd)
{
	static const char *const reads[] = { "get", "put", "delete", "mget",
	    "mput", "ls", "dump", "watch", "load", NULL };
	static const char *const writes[] = { "put", "delete", "mput", "incr",
	    "load", NULL };
	bool put = strcmp(cmd, "put") == 0, get = strcmp(cmd, "get") == 0;

	if (o->ttl != NULL && !put && strcmp(cmd, "mput") != 0 &&
	    strcmp(cmd, "incr") != 0)
		return usage_error(NULL, "--ttl goes with put, mput and incr only");
	if (o->if_match != NULL && !put && strcmp(cmd, "delete") != 0)
		return usage_error(NULL, "--if-match goes with put or delete");
	if (o->if_match != NULL && (o->prefix != NULL || o->all))
		return usage_error(NULL, "--if-match goes with delete KEY, not "
		    "with %s (each key has its own ETag)", o->all ? "--all" :
		    "--prefix");
	if (o->create && !put)
		return usage_error(NULL, "--create goes with put");
	if (o->create && o->if_match != NULL)
		return usage_error(NULL, "--create and --if-match exclude each "
		    "other");
	if ((o->etag || o->serial) && !get)
		return usage_error(NULL, "%s goes with get", o->etag ? "--etag" :
		    "--serial");
	if (o->serial && o->r != NULL)
		return usage_error(NULL, "--serial reads a majority of the owners; "
		    "it takes no --r");
	if ((o->if_match != NULL || o->create) && o->r != NULL)
		return usage_error(NULL, "a conditional write reads a majority of "
		    "the owners; it takes no --r");
	if (o->limit > 0 && strcmp(cmd, "ls") != 0)
		return usage_error(NULL, "--limit goes with ls");
	if (o->prefix != NULL && strcmp(cmd, "delete") != 0)
		return usage_error(NULL, "--prefix goes with delete (ls and dump "
		    "take the prefix as their argument)");
	if (o->all && strcmp(cmd, "delete") != 0)
		return usage_error(NULL, "--all goes with delete");
	if (o->yes && (strcmp(cmd, "delete") != 0 || (o->prefix == NULL &&
	    !o->all)) && strcmp(cmd, "hints") != 0)
		return usage_error(NULL, "--yes goes with delete --prefix, delete "
		    "--all and hints drop");
	if (o->parallel > 0 && strcmp(cmd, "load") != 0)
		return usage_error(NULL, "--parallel goes with load");
	if (o->r != NULL && !one_of(cmd, reads))
		return usage_error(NULL, "--r goes with get, put, delete, mget, "
		    "mput, ls, dump, watch and load");
	if (o->w != NULL && !one_of(cmd, writes))
		return usage_error(NULL, "--w goes with put, delete, mput, incr "
		    "and load");
	return 0;
}

/*
 * Keeps the first thing wrong with the command line in o->line_error:
 * run() says it (exit 2) once the line is read and known not to ask for
 * help, which answers whatever else the line holds.  Returns -1.
 */
static int __attribute__((format(printf, 2, 3)))
line_bad(struct opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->line_error[0] != '\0')
		return -1;
	va_start(ap, fmt);
	vsnprintf(o->line_error, sizeof(o->line_error), fmt, ap);
	va_end(ap);
	return -1;
}

/* -o VALUE: table or json.  0, or -1 (line_bad). */
static int
parse_output(struct opts *o, const char *v)
{
	if (strcmp(v, "table") == 0) {
		o->output = OUT_TABLE;
		o->json = false;
	} else if (strcmp(v, "json") == 0) {
		o->output = OUT_JSON;
		o->json = true;
	} else
		return line_bad(o, "bad -o '%s' (table or json)", v);
	return 0;
}

/* status, hints [NODE], hints drop OWNER, repair [NODE]. */
static int
run_admin(const struct opts *o, int nargs, char **args)
{
	bool drop = nargs >= 2 && strcmp(args[0], "hints") == 0 &&
	    strcmp(args[1], "drop") == 0;
	int rc;

	if (load_admin_auth(o) != 0)
		return EXIT_USAGE;

	if (o->yes && !drop)
		return usage_error(NULL, "--yes goes with delete --prefix, delete "
		    "--all and hints drop");
	if (strcmp(args[0], "status") == 0)
		return (rc = args_fit(nargs, args, 1, 1, "kvctl status")) != 0 ?
		    rc : cmd_status(o);
	if (drop) {
		if ((rc = args_fit(nargs, args, 3, 3, "kvctl hints drop OWNER "
		    "[--yes]")) != 0)
			return rc;
		if (args[2][0] == '\0')
			return usage_error(NULL, "usage: kvctl hints drop OWNER "
			    "[--yes]");
		return cmd_hints_drop(o, args[2]);
	}
	if ((rc = args_fit(nargs, args, 1, 2, args[0][0] == 'h' ?
	    "kvctl hints [NODE]" : "kvctl repair [NODE]")) != 0)
		return rc;
	if (strcmp(args[0], "hints") == 0)
		return cmd_hints(o, nargs == 2 ? args[1] : NULL);
	return cmd_repair(o, nargs == 2 ? args[1] : NULL);
}

static int run(int argc, char **argv, char **args, bool *quiet);
static int output_written(int rc, bool quiet);

int
main(int argc, char **argv)
{
	char **args;
	bool quiet = false;
	int rc;

	args = calloc((size_t)argc + 1, sizeof(*args));
	if (args == NULL)
		return EXIT_CLIENT;
	rc = run(argc, argv, args, &quiet);
	free(args);
	return output_written(rc, quiet);
}

/*
 * rc, or 4 (EXIT_CLIENT) when stdout could not take what the command
 * wrote (a full disk, a closed descriptor), said on stderr unless -q:
 * the commands that check their own flush exit 4 for it too, silently.
 */
static int
output_written(int rc, bool quiet)
{
	if (flush_stdout() == 0 && !ferror(stdout))
		return rc;
	if (!quiet)
		fprintf(stderr, "kvctl: cannot write the output to stdout%s%s\n",
		    stdout_errno != 0 ? ": " : "", stdout_errno != 0 ?
		    strerror(stdout_errno) : "");
	return worse(rc, EXIT_CLIENT);
}

/*
 * Parses the command line into o and args (argc + 1 slots), then runs
 * it; *quiet gets -q once the line is read.
 */
static int
run(int argc, char **argv, char **args, bool *quiet)
{
	struct opts o;
	const char *a, *v, *unknown = NULL;
	char why[256];
	int nargs = 0, i, rc;
	bool flags_done = false, missing = false, passthrough, help;
	bool version = false;

	memset(&o, 0, sizeof(o));
	o.servers = "http://127.0.0.1:8080";
	o.timeout_ms = 10000;
	o.connect_timeout_ms = 3000;
	(void)read_env(&o);	/* a bad variable waits for env_check() */

	/*
	 * Flags may come anywhere; "--" makes the rest plain arguments.
	 * After the command word of verify and bench, flags kvctl does not
	 * know belong to that command.  --help or -h anywhere (opt_help)
	 * asks for the command's help, whatever else the line holds: the
	 * line is still read, for its command word, and what is wrong with
	 * it is kept (line_bad) and said only when no help was asked for.
	 * A flag kvctl does not know is the exception: it is a usage error
	 * whatever else the line holds, --help and --version included (as
	 * git, curl and etcdctl refuse one), so a typo is never hidden.
	 * --help wins over --version, wherever each stands.
	 */
	help = opt_help(argc, argv);
	for (i = 1; i < argc; i++) {
		a = argv[i];
		passthrough = nargs > 0 && (strcmp(args[0], "verify") == 0 ||
		    strcmp(args[0], "bench") == 0);
		if (flags_done || a[0] != '-' || strcmp(a, "-") == 0 ||
		    (nargs == 2 && strcmp(args[0], "incr") == 0 &&
		    a[1] >= '0' && a[1] <= '9')) {	/* incr KEY -5 */
			args[nargs++] = argv[i];
		} else if (strcmp(a, "--") == 0 && !passthrough) {
			flags_done = true;
		} else if ((strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) &&
		    !passthrough) {
			continue;	/* help is set: answered after the loop */
		} else if (strcmp(a, "--version") == 0) {
			version = true;	/* answered after the loop */
		} else if (strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			o.quiet = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o.verbose = true;
		} else if ((v = opt_value(argc, argv, &i, "--server",
		    longs, &missing)) != NULL) {
			if (*v == '\0')
				line_bad(&o, "--server needs a URL");
			else
				o.servers = v;
		} else if ((v = opt_value(argc, argv, &i, "--timeout",
		    longs, &missing)) != NULL) {
			if (parse_seconds(v, &o.timeout_ms) != 0)
				line_bad(&o, "bad --timeout '%s' (seconds, > 0)", v);
		} else if ((v = opt_value(argc, argv, &i, "--connect-timeout",
		    longs, &missing)) != NULL) {
			if (parse_seconds(v, &o.connect_timeout_ms) != 0)
				line_bad(&o, "bad --connect-timeout '%s' (seconds, "
				    "> 0)", v);
		} else if ((v = opt_value(argc, argv, &i, "--r", longs, &missing)) != NULL ||
		    (v = opt_value(argc, argv, &i, "--w", longs, &missing)) != NULL) {
			if (!quorum_ok(v))
				line_bad(&o, "bad %.3s '%s' (1..64, one, quorum or "
				    "all)", a, v);
			else if (strncmp(a, "--r", 3) == 0)
				o.r = v;
			else
				o.w = v;
		} else if ((v = opt_value(argc, argv, &i, "--ttl",
		    longs, &missing)) != NULL) {
			if (!ttl_ok(v))
				line_bad(&o, "bad --ttl '%s' (whole seconds, 1 to "
				    "315360000)", v);
			else
				o.ttl = v;
		} else if ((v = opt_value(argc, argv, &i, "--if-match",
		    longs, &missing)) != NULL) {
			if (*v == '\0')
				line_bad(&o, "--if-match needs an ETag");
			else
				o.if_match = v;
		} else if (strcmp(a, "--create") == 0) {
			o.create = true;
		} else if (strcmp(a, "--etag") == 0) {
			o.etag = true;
		} else if (strcmp(a, "--serial") == 0) {
			o.serial = true;
		} else if ((v = opt_value(argc, argv, &i, "--retry",
		    longs, &missing)) != NULL) {
			if (parse_retries(v, &o.retries) != 0)
				line_bad(&o, "bad --retry '%s' (0..100)", v);
		} else if (!passthrough && (v = opt_value(argc, argv, &i,
		    "--limit", longs, &missing)) != NULL) {
			if (opt_u64(v, 1, UINT64_MAX / 2, &o.limit) != 0)
				line_bad(&o, "bad --limit '%s' (a number of keys, at "
				    "least 1)", v);
		} else if (!passthrough && (v = opt_value(argc, argv, &i,
		    "--prefix", longs, &missing)) != NULL) {
			o.prefix = v;
		} else if (!passthrough && (v = opt_value(argc, argv, &i,
		    "--parallel", longs, &missing)) != NULL) {
			uint64_t u;

			if (opt_u64(v, 1, 256, &u) != 0)
				line_bad(&o, "bad --parallel '%s' (1..256)", v);
			else
				o.parallel = (int)u;
		} else if (!passthrough && strcmp(a, "--yes") == 0) {
			o.yes = true;
		} else if (!passthrough && strcmp(a, "--all") == 0) {
			o.all = true;
		} else if ((v = opt_value(argc, argv, &i, "-o", longs, &missing)) != NULL ||
		    (v = opt_value(argc, argv, &i, "--output", longs, &missing)) != NULL) {
			(void)parse_output(&o, v);
		} else if ((v = opt_value(argc, argv, &i, "--cluster-secret-file",
		    longs, &missing)) != NULL) {
			if (*v == '\0')
				line_bad(&o, "--cluster-secret-file needs a file");
			else {
				o.secret_file = v;
				o.secret_env = false;
			}
		} else if (missing) {
			missing = false;	/* argv[i + 1] is read next */
			line_bad(&o, "%s", no_value(argc, argv, i, why,
			    sizeof(why)));
		} else if (passthrough) {
			args[nargs++] = argv[i];
		} else {
			if (unknown == NULL)
				unknown = a;
			line_bad(&o, "unknown flag '%s'", a);
		}
	}
	*quiet = o.quiet;
	if (unknown != NULL && (help || version))
		return usage_error(NULL, "unknown flag '%s'", unknown);
	if (help) {
		/* verify --help and bench --help list their own options. */
		if (nargs > 0 && (strcmp(args[0], "verify") == 0 ||
		    strcmp(args[0], "bench") == 0) && opt_help(nargs, args))
			return args[0][0] == 'v' ? cmd_verify(&o, nargs, args) :
			    cmd_bench(&o, nargs, args);
		/* kvctl CMD --help is kvctl help CMD, exit 2 included. */
		if (nargs == 0 || strcmp(args[0], "help") == 0)
			return cmd_help(nargs, args);
		return cmd_help(2, (char *[]){ "help", args[0] });
	}
	if (version) {	/* whatever else the line holds, as help */
		printf("kvctl %s\n", KVD_VERSION);
		return EXIT_OK;
	}
	if (o.line_error[0] != '\0')
		return usage_error(NULL, "%s", o.line_error);
	if (o.connect_timeout_ms > o.timeout_ms)
		o.connect_timeout_ms = o.timeout_ms;
	if (nargs == 0)
		return usage_error(NULL, "missing command");
	/* Help, like --help, answers whatever flags for commands it is given. */
	if (strcmp(args[0], "help") == 0)
		return cmd_help(nargs, args);
	if ((rc = check_command_flags(&o, args[0])) != 0)
		return rc;
	/* bench and verify check it after their own --help. */
	if (strcmp(args[0], "verify") != 0 && strcmp(args[0], "bench") != 0 &&
	    (rc = env_check(&o)) != 0)
		return rc;
	if (strcmp(args[0], "incr") == 0) {
		int64_t delta = 1;

		if ((rc = args_fit(nargs, args, 2, 3, "kvctl incr KEY [N] "
		    "[--ttl S]")) != 0)
			return rc;
		if (args[1][0] == '\0')
			return usage_error(NULL, "the key must not be empty");
		if (nargs == 3 && parse_int64(args[2], strlen(args[2]),
		    &delta) != 0)
			return usage_error(NULL, "bad N '%s' for incr (an integer)",
			    args[2]);
		return cmd_incr(&o, args[1], delta);
	}
	if (strcmp(args[0], "put") == 0) {
		if ((rc = args_fit(nargs, args, 3, 3, "kvctl put KEY "
		    "VALUE|-|@FILE")) != 0)
			return rc;
		if (args[1][0] == '\0')
			return usage_error(NULL, "the key must not be empty");
		return cmd_put(&o, args[1], args[2]);
	}
	if (strcmp(args[0], "delete") == 0 && o.all) {
		if (o.prefix != NULL)
			return usage_error(NULL, "usage: kvctl delete --all [--yes] "
			    "(no KEY or --prefix with --all)");
		if ((rc = args_fit(nargs, args, 1, 1, "kvctl delete --all "
		    "[--yes] (no KEY with --all)")) != 0)
			return rc;
		return cmd_delete_prefix(&o, "");
	}
	if (strcmp(args[0], "delete") == 0 && o.prefix != NULL) {
		if ((rc = args_fit(nargs, args, 1, 1, "kvctl delete --prefix P "
		    "[--yes] (no KEY with --prefix)")) != 0)
			return rc;
		/* "$P" of an unset variable must not wipe the store. */
		if (o.prefix[0] == '\0')
			return usage_error(NULL, "an empty --prefix would delete every "
			    "key: use --all to delete every key");
		return cmd_delete_prefix(&o, o.prefix);
	}
	if (strcmp(args[0], "ls") == 0 || strcmp(args[0], "dump") == 0) {
		if ((rc = args_fit(nargs, args, 1, 2, args[0][0] == 'l' ?
		    "kvctl ls [PREFIX]" : "kvctl dump [PREFIX]")) != 0)
			return rc;
		if (args[0][0] == 'l')
			return cmd_ls(&o, nargs == 2 ? args[1] : "");
		return cmd_dump(&o, nargs == 2 ? args[1] : "");
	}
	if (strcmp(args[0], "load") == 0) {
		if ((rc = args_fit(nargs, args, 1, 1, "kvctl load [--parallel N] "
		    "< FILE")) != 0)
			return rc;
		return cmd_load(&o);
	}
	if (strcmp(args[0], "get") == 0 || strcmp(args[0], "delete") == 0) {
		if ((rc = args_fit(nargs, args, 2, 2, args[0][0] == 'g' ?
		    "kvctl get KEY" : "kvctl delete KEY")) != 0)
			return rc;
		if (args[1][0] == '\0')
			return usage_error(NULL, "the key must not be empty");
		if (args[0][0] == 'g')
			return cmd_get(&o, args[1]);
		return cmd_delete(&o, args[1]);
	}
	if (strcmp(args[0], "mget") == 0 || strcmp(args[0], "mput") == 0) {
		bool put = args[0][1] == 'p';

		if (nargs < 2 || (put && nargs % 2 == 0))
			return usage_error(NULL, put ? "usage: kvctl mput KEY VALUE "
			    "[KEY VALUE...]" : "usage: kvctl mget KEY [KEY...]");
		for (i = 1; i < nargs; i += put ? 2 : 1)
			if (args[i][0] == '\0')
				return usage_error(NULL, "a key must not be empty");
		if (nargs - 1 > (put ? 2000 : 1000))
			return usage_error(NULL, "at most 1000 keys in one %s",
			    args[0]);
		return put ? cmd_mput(&o, nargs - 1, args + 1) :
		    cmd_mget(&o, nargs - 1, args + 1);
	}
	if (strcmp(args[0], "watch") == 0) {
		if ((rc = args_fit(nargs, args, 2, 2, "kvctl watch KEY")) != 0)
			return rc;
		if (args[1][0] == '\0')
			return usage_error(NULL, "the key must not be empty");
		return cmd_watch(&o, args[1]);
	}
	if (strcmp(args[0], "health") == 0) {
		if ((rc = args_fit(nargs, args, 1, 1, "kvctl health")) != 0)
			return rc;
		return cmd_health(&o);
	}
	if (strcmp(args[0], "cluster") == 0)
		return cmd_cluster(&o, nargs - 1, args + 1);
	if (strcmp(args[0], "status") == 0 || strcmp(args[0], "hints") == 0 ||
	    strcmp(args[0], "repair") == 0)
		return run_admin(&o, nargs, args);
	if (strcmp(args[0], "verify") == 0)
		return cmd_verify(&o, nargs, args);
	if (strcmp(args[0], "bench") == 0)
		return cmd_bench(&o, nargs, args);
	return usage_error(NULL, "unknown command '%s'", args[0]);
}
