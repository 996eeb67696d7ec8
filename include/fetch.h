/*
 * fetch.h - how a file of the route table gets its bytes: the fetch kinds
 * a row names (.fetch = &cfs_fetch_persisted).
 *
 *  - cfs_fetch_get, the default: one GET, kept for the TTL by the
 *    response cache;
 *  - cfs_fetch_persisted: the same, also kept on disk by the fingerprint
 *    of the list item that named the file (invoice documents), so a later
 *    mount reads it without a request while that item is unchanged;
 *  - cfs_fetch_stream (logs.c): a snapshot of a server-sent event stream,
 *    which grows live while a process holds the file open.
 *
 * A kind also says what a listing pays to know its files' exact sizes,
 * and, for files that grow, how to follow them (live.h runs followers).
 */
#ifndef CFS_FETCH_H
#define CFS_FETCH_H

#include <sys/types.h>
#include <time.h>

#include "util.h"

struct cfs_cache;
struct cfs_http;
struct cfs_resp;

/* What knowing a listed entry's exact attributes costs. */
enum cfs_cost {
	CFS_COST_NONE,	 /* nothing: the listing holds them */
	CFS_COST_FETCH,	 /* a GET each, worth making for a listing */
	CFS_COST_CACHED, /* a GET each: known only if cached already */
	CFS_COST_NEVER,	 /* a log snapshot: never for a listing */
};

struct cfs_fetch_ctx {
	struct cfs_cache *cache;
	unsigned int log_lines; /* events in a log snapshot */
};

/* A growing file's follower: opaque to all but its kind. */
struct cfs_follow;

struct cfs_fetch_kind {
	const char *name;
	enum cfs_cost listing_cost;
	int persisted;
	int (*fetch)(const struct cfs_fetch_ctx *ctx, const char *api,
		     const char *accept, struct cfs_resp **out);
	/* a date the bytes carry, their mtime (a log's newest event's); NULL
	 * for kinds whose bytes carry none */
	int (*content_date)(const char *data, size_t len, time_t *out);
	/* files that grow while open; NULL for the others */
	struct cfs_follow *(*follow)(struct cfs_http *h, const char *api,
				     const char *after_id,
				     const struct cfs_blob *shown,
				     time_t shown_mtime);
	void (*stop)(struct cfs_follow *f);
	size_t (*size)(struct cfs_follow *f);
	time_t (*mtime)(struct cfs_follow *f);
	int (*read)(struct cfs_follow *f, char *buf, size_t size, off_t off);
};

extern const struct cfs_fetch_kind cfs_fetch_get;
extern const struct cfs_fetch_kind cfs_fetch_persisted;
extern const struct cfs_fetch_kind cfs_fetch_stream;

#endif
