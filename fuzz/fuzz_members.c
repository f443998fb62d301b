/*
 * fuzz_members.c -- libFuzzer harness for the member list reader
 * (cluster.c's entries_parse through cluster_view_parse): the one parser
 * of members.json, placed.json's past membership and a peer's gossip
 * message; and for the gossip message's heartbeats (liveness_merge).
 *
 * One cluster is opened at start in a scratch directory (fuzz.h),
 * without gossip or peers; each input is parsed as a member list
 * against it.  Nothing is merged into it or written, so the inputs stay
 * independent.  The heartbeats go to a fresh liveness table each time,
 * watching n1 (itself), n2 and n3.
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - a view has its live members sorted by id, ids unique, each live
 *     member one of the entries, n, w and r within 1..max(members, 1),
 *     its ring present, and self set only on this node's id;
 *   - a view written by cluster_members_to_json parses again to a view
 *     that writes the same bytes (reading loses nothing a view keeps);
 *   - heartbeats merged a second time, at the same instant, change
 *     nothing (entries merge by a maximum).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "cluster.h"
#include "json.h"
#include "liveness.h"

#define SELF	"n1"

static char dir[256];
static struct cluster *cl;

static void
check_view(const struct cluster_view *v)
{
	size_t i, cap = v->nmembers > 0 ? v->nmembers : 1;

	CHECK(v->nmembers <= v->nall);
	CHECK(v->ring != NULL);
	CHECK(v->n >= 1 && (size_t)v->n <= cap);
	CHECK(v->w >= 1 && (size_t)v->w <= cap);
	CHECK(v->r >= 1 && (size_t)v->r <= cap);
	for (i = 0; i < v->nmembers; i++) {
		CHECK(!v->members[i].removed && v->members[i].id[0] != '\0');
		if (i > 0)
			CHECK(strcmp(v->members[i - 1].id, v->members[i].id) < 0);
	}
	for (i = 1; i < v->nall; i++)
		CHECK(strcmp(v->all[i - 1].id, v->all[i].id) < 0);
	CHECK(v->self == -1 || ((size_t)v->self < v->nmembers &&
	    strcmp(v->members[v->self].id, SELF) == 0));
}

static void
check_heartbeats(const char *s, size_t n)
{
	static const char *const ids[] = { SELF, "n2", "n3" };
	struct json_tok *toks = NULL;
	struct liveness *l;
	struct buf out = BUF_INIT;
	int arr;

	if (json_parse_alloc(s, n, &toks) < 1 || toks[0].type != JSON_OBJECT) {
		free(toks);
		return;
	}
	arr = json_object_get(s, toks, 0, "heartbeats");
	l = liveness_new(SELF, 1000, 100);
	CHECK(l != NULL);
	liveness_set_members(l, ids, 3, NULL, 0, 5000);
	(void)liveness_merge(l, s, toks, arr, "n2", 6000);
	CHECK((liveness_merge(l, s, toks, arr, "n2", 6000) &
	    LIVENESS_CHANGED) == 0);
	liveness_emit(l, &out);
	liveness_free(l);
	buf_free(&out);
	free(toks);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cluster_config cfg;
	char err[256];

	(void)argc;
	(void)argv;
	fuzz_scratch_dir(dir, sizeof(dir), "members");
	memset(&cfg, 0, sizeof(cfg));
	cfg.dir = dir;
	cfg.self_id = SELF;
	cfg.self_address = "127.0.0.1:1";
	cfg.n = 3;
	cfg.w = 2;
	cfg.r = 2;
	cfg.vnodes = 8;
	cfg.timeout_ms = 1000;
	if (cluster_open(&cl, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_members: cluster_open: %s\n", err);
		exit(1);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_view *v, *w;
	struct buf once = BUF_INIT, twice = BUF_INIT;

	check_heartbeats((const char *)data, size);
	if ((v = cluster_view_parse(cl, (const char *)data, size)) == NULL)
		return 0;
	check_view(v);
	cluster_members_to_json(v, &once);
	w = cluster_view_parse(cl, once.data, once.len);
	CHECK(w != NULL);
	check_view(w);
	cluster_members_to_json(w, &twice);
	CHECK(twice.len == once.len && memcmp(twice.data, once.data,
	    once.len) == 0);
	cluster_view_free(v);
	cluster_view_free(w);
	buf_free(&once);
	buf_free(&twice);
	return 0;
}
