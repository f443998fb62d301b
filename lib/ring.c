/*
 * ring.c -- the consistent-hashing ring (SPEC section 6).
 *
 * Layout.  A ring holds its members (ids copied, in the order given to
 * ring_build, so index i means the same member to every caller) and one
 * flat array of points.  Member i contributes `vnodes` points, point j at
 * ring_hash of the ASCII bytes "ID#j" (no NUL, j in decimal without
 * leading zeros).  The array is sorted by (hash, member id): the id, not
 * the member's index, breaks ties so that two nodes that list the same
 * members in different orders still build rings that answer with the same
 * member ids for every key.
 *
 * Hash.  ring_hash is FNV-1a 32 passed through MurmurHash3's fmix32 (fnv_mix32)
 * finalizer, for points and keys alike.  FNV-1a alone mixes its last
 * bytes poorly into the high bits, and one member's labels differ only in
 * their trailing digits, so its points bunched into a few arcs: over
 * 100,000 keys with 150 vnodes the members' shares varied by 35-39%
 * (coefficient of variation) for 3, 5 and 10 members.  With the finalizer
 * they vary by 3.7%, 8.3% and 6.7%, in line with 150 random points per
 * member, and adding a 5th member to 4 moves 21.6% of primaries (ideal
 * 20%); test_ring.c prints the figures.  fmix32 is a bijection on 32
 * bits, so it keeps FNV-1a's collisions and adds none.
 *
 * Lookup.  A key hashes with ring_hash onto the same circle.  A binary
 * search finds the first point whose hash is >= the key's hash (past the
 * last point it wraps to point 0); from there the walk goes clockwise,
 * skipping members already taken, until it has `want` distinct members or
 * every member.  Every member owns at least one point, so one lap of the
 * circle always finds all of them and the walk never loops forever.
 *
 * Invariants: after ring_build returns, nothing in a ring changes, so any
 * number of threads may look up in one ring without a lock; the owner
 * frees it only once no reader can still hold the pointer (membership
 * changes build a new ring and swap the pointer).  Ids are 1..RING_ID_MAX
 * bytes, unique within a ring; vnodes >= 1.
 */
#include "ring.h"
#include "fnv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Members up to this count are tracked with an on-stack bitmap in lookups. */
#define RING_BITMAP_MAX	4096

struct ring_member {
	char	 id[RING_ID_MAX + 1];
};

struct ring_point {
	uint32_t hash;
	uint32_t rank;		/* the member's position in id order */
	uint32_t member;	/* index into ring->members */
};

struct ring {
	size_t			 nmembers;
	struct ring_member	*members;
	size_t			 npoints;
	struct ring_point	*points;	/* sorted by (hash, rank) */
};

bool
ring_id_valid(const char *id, size_t len)
{
	size_t i;

	if (len == 0 || len > RING_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

uint32_t
ring_hash(const void *key, size_t klen)
{
	return fnv_mix32(fnv1a32(key, klen));
}

static int
member_cmp(const void *a, const void *b)
{
	const struct ring_member *const *ma = a, *const *mb = b;

	return strcmp((*ma)->id, (*mb)->id);
}

/* Equal hashes order by member id (via its rank), never by input order. */
static int
point_cmp(const void *a, const void *b)
{
	const struct ring_point *pa = a, *pb = b;

	if (pa->hash != pb->hash)
		return pa->hash < pb->hash ? -1 : 1;
	if (pa->rank != pb->rank)
		return pa->rank < pb->rank ? -1 : 1;
	return 0;
}

/*
 * Returns a new ring, or NULL with errno EINVAL (ids NULL while n > 0, an
 * id NULL, empty, longer than RING_ID_MAX or repeated, vnodes < 1) or
 * ENOMEM.  The ids are copied; the caller keeps its array.
 */
struct ring *
ring_build(const char *const *ids, size_t n, int vnodes)
{
	struct ring *r = NULL;
	const struct ring_member **byid = NULL;
	uint32_t *rank = NULL;
	char label[RING_ID_MAX + 16];
	size_t i, len, p;
	int j, m, err = EINVAL;

	if (vnodes < 1 || (n > 0 && ids == NULL) || (uint64_t)n > UINT32_MAX)
		goto fail;
	for (i = 0; i < n; i++)
		if (ids[i] == NULL || (len = strlen(ids[i])) == 0 ||
		    len > RING_ID_MAX)
			goto fail;
	err = ENOMEM;
	if (n > 0 &&
	    (size_t)vnodes > (size_t)-1 / sizeof(struct ring_point) / n)
		goto fail;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->nmembers = n;
	r->npoints = n * (size_t)vnodes;
	if (n == 0)
		return r;
	r->members = calloc(n, sizeof(*r->members));
	r->points = calloc(r->npoints, sizeof(*r->points));
	byid = calloc(n, sizeof(*byid));
	rank = calloc(n, sizeof(*rank));
	if (r->members == NULL || r->points == NULL || byid == NULL ||
	    rank == NULL)
		goto fail;

	/* Rank members by id; equal neighbours are duplicates. */
	for (i = 0; i < n; i++) {
		memcpy(r->members[i].id, ids[i], strlen(ids[i]) + 1);
		byid[i] = &r->members[i];
	}
	qsort(byid, n, sizeof(*byid), member_cmp);
	err = EINVAL;
	for (i = 1; i < n; i++)
		if (strcmp(byid[i - 1]->id, byid[i]->id) == 0)
			goto fail;
	for (i = 0; i < n; i++)
		rank[byid[i] - r->members] = (uint32_t)i;

	p = 0;
	for (i = 0; i < n; i++)
		for (j = 0; j < vnodes; j++) {
			m = snprintf(label, sizeof(label), "%s#%d",
			    r->members[i].id, j);
			r->points[p].hash = ring_hash(label, (size_t)m);
			r->points[p].rank = rank[i];
			r->points[p].member = (uint32_t)i;
			p++;
		}
	qsort(r->points, r->npoints, sizeof(*r->points), point_cmp);
	free(byid);
	free(rank);
	return r;

fail:
	free(byid);
	free(rank);
	ring_free(r);
	errno = err;
	return NULL;
}

void
ring_free(struct ring *r)
{
	if (r == NULL)
		return;
	free(r->members);
	free(r->points);
	free(r);
}

size_t
ring_size(const struct ring *r)
{
	return r ? r->nmembers : 0;
}

/* The id lives as long as the ring; NULL when i is out of range. */
const char *
ring_member(const struct ring *r, size_t i)
{
	if (r == NULL || i >= r->nmembers)
		return NULL;
	return r->members[i].id;
}

/* Index of the first point with hash >= h, or 0 when there is none. */
static size_t
ring_first_point(const struct ring *r, uint32_t h)
{
	size_t lo = 0, hi = r->npoints, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (r->points[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == r->npoints ? 0 : lo;
}

/*
 * Reads only the ring and writes only out[], so it needs no lock.  Large
 * memberships fall back to scanning out[] for duplicates.
 */
size_t
ring_preference_hash(const struct ring *r, uint32_t hash, size_t want,
    size_t *out)
{
	uint64_t seen[RING_BITMAP_MAX / 64];
	size_t count = 0, i, k, m, start;
	int bitmap;

	if (r == NULL || r->nmembers == 0 || want == 0)
		return 0;
	if (want > r->nmembers)
		want = r->nmembers;
	bitmap = r->nmembers <= RING_BITMAP_MAX;
	if (bitmap)
		memset(seen, 0, (r->nmembers + 63) / 64 * sizeof(seen[0]));

	start = ring_first_point(r, hash);
	for (i = 0; i < r->npoints && count < want; i++) {
		k = start + i;
		if (k >= r->npoints)
			k -= r->npoints;
		m = r->points[k].member;
		if (bitmap) {
			if (seen[m / 64] & (UINT64_C(1) << (m % 64)))
				continue;
			seen[m / 64] |= UINT64_C(1) << (m % 64);
		} else {
			size_t t;

			for (t = 0; t < count && out[t] != m; t++)
				;
			if (t < count)
				continue;
		}
		out[count++] = m;
	}
	return count;
}

/*
 * Every hash in the arc (points[k-1].hash, points[k].hash] starts its
 * preference list at point k, so each arc's length is credited to the
 * members of the list that starts there: npoints lookups, exact.
 */
void
ring_shares(const struct ring *r, size_t want, double *share)
{
	size_t *pref, k, m, i;
	uint32_t prev, len;

	if (r == NULL || r->nmembers == 0)
		return;
	for (i = 0; i < r->nmembers; i++)
		share[i] = 0;
	if ((pref = calloc(r->nmembers, sizeof(*pref))) == NULL)
		return;
	for (k = 0; k < r->npoints; k++) {
		prev = r->points[k == 0 ? r->npoints - 1 : k - 1].hash;
		len = r->points[k].hash - prev;	/* mod 2^32: wraps at k == 0 */
		if (r->npoints == 1)
			len = UINT32_MAX;
		if (len == 0)
			continue;
		m = ring_preference_hash(r, r->points[k].hash, want, pref);
		for (i = 0; i < m; i++)
			share[pref[i]] += (double)len / 4294967296.0;
	}
	free(pref);
}

size_t
ring_preference(const struct ring *r, const void *key, size_t klen,
    size_t want, size_t *out)
{
	return ring_preference_hash(r, ring_hash(key, klen), want, out);
}
