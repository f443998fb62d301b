/*
 * fuzz_paxos.c -- libFuzzer harness for the messages of conditional
 * writes (cas.c): the bodies of /internal/paxos/prepare, accept and
 * commit, which an acceptor reads (cas_serve), and the answer lines a
 * coordinator reads back (promises with "c", "a", "av", "anoop" and "v";
 * refusals with "beat", or "ahead_s" for a ballot too far ahead of the
 * owner's clock).
 *
 * Each input gets a fresh acceptor (a store and a Paxos log, no fsync,
 * in the scratch directory: fuzz.h), as cas's unit test builds them,
 * so that an input found does the same alone.  The first input byte's
 * bits 1-2 pick what the rest is (bit 0 reseals crcs, as in every
 * harness: fuzz_sealed_copy):
 *   0, 1, 2  a request body for prepare, accept or commit, served;
 *   3        the answers of two other owners of a key: a conditional
 *            write (or, with bit 3 set, a serial read) of key "k" runs
 *            with this node and owners n2 and n3, which answer each
 *            line sent to them with the input's next line (no answer
 *            once they run out).
 *
 * Oracles, beyond "no crash, no sanitizer report, no leak":
 *   - a served body answers one line per non-empty line, each a JSON
 *     object with a boolean "ok"; a refused one answers EINVAL with one
 *     {"error":...} line;
 *   - a coordinator ends with a status the route answers (200, 201,
 *     204, 404, 412 or 503), whatever the owners said;
 *   - only an answer that is a JSON object whose "ok" is true counts as
 *     a promise, an accept or a commit (lines that merely start like
 *     one, `{"ok":trueX`, `{"ok":true,"x`, do not), and this node alone
 *     is no majority of three: any answer but 503 takes one such line
 *     (a majority of promises), and a write that succeeded three (a
 *     promise, an accept and a commit);
 *   - whatever ballot a refusal named, this node's ballots keep rising
 *     (paxos_ballot_next: each above the one before, or EOVERFLOW),
 *     never wrapping to ts 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "cas.h"
#include "json.h"
#include "paxos.h"
#include "replica.h"
#include "store.h"

#define ACTOR	"n1.00000001"

static char dir[256];
static struct store *store;
static struct paxos *paxos;
static struct cas *cas;

/* The owners' answers of the input being run, line by line. */
static const char *answers, *answers_end;

static size_t
net_owners(void *arg, const char *key, size_t klen, struct cas_owner *out,
    size_t max)
{
	static const char *const ids[] = { "n1", "n2", "n3" };
	size_t i;

	(void)arg;
	(void)key;
	(void)klen;
	for (i = 0; i < 3 && i < max; i++) {
		snprintf(out[i].id, sizeof(out[i].id), "%s", ids[i]);
		snprintf(out[i].address, sizeof(out[i].address), "mem:%s",
		    ids[i]);
		out[i].self = i == 0;
	}
	return i;
}

/* Answers with the next line of the input; fails once there is none. */
static void
net_send(void *arg, const struct cas_owner *o, const char *route,
    const char *line, size_t len, stream_done_fn done, void *darg)
{
	const char *p = answers, *nl;

	(void)arg;
	(void)o;
	(void)route;
	(void)line;
	(void)len;
	if (p >= answers_end) {
		done(darg, false, NULL, 0);
		return;
	}
	if ((nl = memchr(p, '\n', (size_t)(answers_end - p))) == NULL)
		nl = answers_end;
	answers = nl + (nl < answers_end);
	done(darg, true, p, (size_t)(nl - p));
}

static void
net_hint(void *arg, const struct cas_owner *o, const char *rec, size_t len)
{
	(void)arg;
	(void)o;
	(void)rec;
	(void)len;
}

static const struct cas_net net = { net_owners, net_send, net_hint, NULL };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "paxos");
	return 0;
}

/* A fresh acceptor and coordinator in dir.  Exits on failure. */
static void
open_acceptor(void)
{
	static const struct store_options nosync = { .fsync = false };
	struct paxos_config pc;
	struct cas_config cc;
	char path[300], err[512];

	fuzz_clean_dir(dir);
	snprintf(path, sizeof(path), "%s/paxos", dir);
	memset(&pc, 0, sizeof(pc));
	pc.dir = path;
	if (store_open(&store, dir, &nosync, err, sizeof(err)) != 0 ||
	    paxos_open(&paxos, &pc, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_paxos: %s\n", err);
		exit(1);
	}
	memset(&cc, 0, sizeof(cc));
	cc.store = store;
	cc.paxos = paxos;
	cc.actor = ACTOR;
	cc.timeout_ms = 1;	/* a round's deadline: 3 ms */
	cc.net = &net;
	if ((cas = cas_new(&cc)) == NULL) {
		perror("fuzz_paxos: cas_new");
		exit(1);
	}
}

static void
close_acceptor(void)
{
	cas_free(cas);
	paxos_close(paxos);
	store_close(store);
}

/* The number of non-empty lines of s[0..n). */
static size_t
count_lines(const char *s, size_t n)
{
	const char *p, *end = s + n, *nl;
	size_t k = 0;

	for (p = s; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		k += nl > p;
	}
	return k;
}

static void
check_answer_line(const char *s, size_t n, bool served)
{
	struct json_tok *toks = NULL;
	int f;

	CHECK(json_parse_alloc(s, n, &toks) >= 1 &&
	    toks[0].type == JSON_OBJECT);
	if (served) {
		f = json_object_get(s, toks, 0, "ok");
		CHECK(f >= 0 && (toks[f].type == JSON_TRUE ||
		    toks[f].type == JSON_FALSE));
	} else
		CHECK(json_object_get(s, toks, 0, "error") >= 0);
	free(toks);
}

static void
serve(const char *route, const char *body, size_t len)
{
	struct buf out = BUF_INIT;
	const char *p, *end, *nl;
	size_t lines = 0;
	int rc;

	rc = cas_serve(cas, route, body, len, &out);
	CHECK(rc == 0 || (rc == -1 && errno == EINVAL));
	end = out.data + out.len;
	CHECK(out.len > 0 || rc == 0);
	for (p = out.data; p < end; p = nl + 1, lines++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		CHECK(nl != NULL);
		check_answer_line(p, (size_t)(nl - p), rc == 0);
	}
	CHECK(rc == 0 ? lines == count_lines(body, len) : lines == 1);
	buf_free(&out);
}

/* This node's ballots only rise, from the last one checked. */
static void
check_ballots_rise(void)
{
	struct ballot b, last_ballot;
	int i;

	memset(&last_ballot, 0, sizeof(last_ballot));

	for (i = 0; i < 8; i++) {
		if (paxos_ballot_next(paxos, ACTOR, NULL, &b) != 0) {
			CHECK(errno == EOVERFLOW);
			continue;
		}
		CHECK(ballot_cmp(&b, &last_ballot) > 0);
		last_ballot = b;
	}
}

/* How many lines of s[0..n) are a JSON object whose "ok" is true. */
static size_t
count_ok_lines(const char *s, size_t n)
{
	const char *p, *end = s + n, *nl;
	struct json_tok *toks;
	size_t k = 0;
	int f;

	for (p = s; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		toks = NULL;
		k += json_parse_alloc(p, (size_t)(nl - p), &toks) >= 1 &&
		    toks[0].type == JSON_OBJECT &&
		    (f = json_object_get(p, toks, 0, "ok")) >= 0 &&
		    toks[f].type == JSON_TRUE;
		free(toks);
	}
	return k;
}

static void
coordinate(bool read, const char *in, size_t len)
{
	struct replica_write wr;
	struct replica_result res;

	answers = in;
	answers_end = in + len;
	replica_result_init(&res);
	if (read)
		cas_get(cas, "k", 1, &res);
	else {
		memset(&wr, 0, sizeof(wr));
		wr.if_match_any = true;
		wr.value = "v";
		wr.value_len = 1;
		cas_put(cas, "k", 1, &wr, &res);
	}
	CHECK(res.status == 200 || res.status == 201 || res.status == 204 ||
	    res.status == 404 || res.status == 412 || res.status == 503);
	CHECK(res.status == 503 || count_ok_lines(in, len) >= 1);
	CHECK(read || res.status >= 300 || count_ok_lines(in, len) >= 3);
	replica_result_free(&res);
	check_ballots_rise();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const routes[] = { CAS_ROUTE_PREPARE,
	    CAS_ROUTE_ACCEPT, CAS_ROUTE_COMMIT };
	char *in;
	size_t len;

	if ((in = fuzz_sealed_copy(data, size, &len)) == NULL)
		return 0;
	open_acceptor();
	if (((data[0] >> 1) & 3) < 3)
		serve(routes[(data[0] >> 1) & 3], in, len);
	else
		coordinate((data[0] & 8) != 0, in, len);
	close_acceptor();
	free(in);
	return 0;
}
