/*
 * listing.h - a directory's names and the items behind them, indexed by
 * name, and the memo that keeps each listing while what it was built
 * from is current.
 *
 * A listing is built once per response: the memo hands the same one to
 * every resolution and readdir until one of the responses it was built
 * from (its dependencies, recorded while it was built) is replaced in the
 * response cache.  So resolving a path costs one hash lookup per level,
 * however many entries the directories hold.  A published listing is
 * immutable and shared by reference.
 */
#ifndef CFS_LISTING_H
#define CFS_LISTING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cfs_cache;
struct cfs_hashmap;
struct cfs_resp;

/* One response a listing was built from. */
struct cfs_listing_dep {
	char *path;
	char *accept;
	uint64_t gen;
};

struct cfs_listing {
	int refs; /* atomic, once published */
	size_t n;
	size_t cap;
	char **names; /* unique, in the API's order */
	json_t **items;
	struct cfs_resp *src;	   /* the response it came from (xattrs) */
	struct cfs_hashmap *index; /* name -> position + 1 */
	size_t ndeps;
	struct cfs_listing_dep *deps;
};

/* Adds a name and its item (may be NULL).  A '/' in the name becomes
 * '_'; an empty name, "." and ".." are skipped, and so is a name the
 * listing holds already (the first item wins). */
int cfs_listing_add(struct cfs_listing *l, const char *name, json_t *item);
/* The position of name, or -ENOENT. */
int cfs_listing_find(const struct cfs_listing *l, const char *name,
		     size_t *at);
int cfs_listing_depend(struct cfs_listing *l, const char *path,
		       const char *accept, uint64_t gen);
/* Frees what a listing holds (one that was never published). */
void cfs_listing_clear(struct cfs_listing *l);

struct cfs_listing *cfs_listing_ref(struct cfs_listing *l);
void cfs_listing_unref(struct cfs_listing *l);

/* The memo: at most `cap` listings, the least recently used dropped. */
struct cfs_listings;

struct cfs_listings *cfs_listings_new(struct cfs_cache *cache, size_t cap);
void cfs_listings_free(struct cfs_listings *m);
/* The listing kept under key if every dependency is still the current
 * response (a lookup that may refresh it), else NULL.  A listing with no
 * dependency is never kept: it is computed, not fetched. */
struct cfs_listing *cfs_listings_get(struct cfs_listings *m, const char *key);
/* Moves a built listing (cleared by the call) into the memo under key
 * and returns it with a reference for the caller. */
struct cfs_listing *cfs_listings_put(struct cfs_listings *m, const char *key,
				     struct cfs_listing *built);

#endif
