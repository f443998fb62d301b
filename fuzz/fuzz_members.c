/*
 * fuzz_members.c -- libFuzzer harness for the member list reader
 * (cluster.c's entries_parse through cluster_view_parse): the one parser
 * of members.json, placed.json's past membership and a peer's gossip
 * message.
 *
 * One cluster is opened at start in a scratch directory (fuzz.h),
 * without gossip or peers; each input is parsed as a member list
 * against it.  Nothing is merged or written, so the inputs stay
 * independent.
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - a view has its live members sorted by id, ids unique, each live
 *     member one of the entries, n, w and r within 1..max(members, 1),
 *     its ring present, and self set only on this node's id;
 *   - a view written by cluster_members_to_json parses again to a view
 *     that writes the same bytes (reading loses nothing a view keeps).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"

#include "buf.h"
#include "cluster.h"

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
