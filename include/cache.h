/*
 * cache.h - the response cache: one entry per (API path, Accept).
 *
 * Rules, in the order they are applied to a lookup:
 *  1. a response younger than the TTL is served without a request;
 *  2. a 4xx answer (404, 403, ...) is remembered for CFS_NEGATIVE_TTL
 *     seconds only, so a resource created a moment later shows up soon;
 *  3. identical requests in flight at once are made once: later callers
 *     wait for the first one's outcome;
 *  4. when a refresh fails after its retries, the last good response is
 *     served (with a warning) and tried again after CFS_STALE_RETRY seconds;
 *     with no good copy the caller gets EIO, also remembered that long;
 *  5. only complete, well-formed 2xx bodies are ever stored (http.c
 *     rejects the rest);
 *  6. when stored bodies pass CFS_CACHE_BYTES the least recently used
 *     entries are dropped; SIGHUP (cfs_cache_request_flush) empties it;
 *  7. a write drops the responses it made stale, failed write or not, so
 *     the next read shows the server's state;
 *  8. after a write whose outcome is unknown (no answer, a timeout, a 5xx:
 *     the server may apply it later), the responses it may change are
 *     also kept only CFS_NEGATIVE_TTL seconds for CFS_DOUBT_SECONDS, so
 *     a late change shows within seconds, not after the TTL.
 */
#ifndef CFS_CACHE_H
#define CFS_CACHE_H

#include <jansson.h>
#include <stdint.h>

#include "util.h"

#define CFS_NEGATIVE_TTL 3.0
#define CFS_STALE_RETRY 2.0
#define CFS_CACHE_BYTES (128u << 20)
#define CFS_DOUBT_SECONDS 60.0

struct cfs_http;
struct cfs_http_response;
struct cfs_cache;

/* One API response; immutable and shared by reference. */
struct cfs_resp {
	int refs;
	struct cfs_blob *body;
	json_t *json; /* NULL unless the body is JSON */
	char *path;   /* as requested, for xattrs */
	char request_id[128];
	char last_event_id[128]; /* event streams: where to resume */
	double fetched_at;
	uint64_t gen; /* distinct for every response */
};

struct cfs_cache *cfs_cache_new(struct cfs_http *http, unsigned int ttl);
void cfs_cache_free(struct cfs_cache *c);
/* The HTTP layer behind the cache, for requests never cached (writes). */
struct cfs_http *cfs_cache_http(struct cfs_cache *c);

/* A fresh or last-good response for path, or -errno. */
int cfs_cache_get(struct cfs_cache *c, const char *path, const char *accept,
		  struct cfs_resp **out);
/* The same, with fetch (filling rs as cfs_http_perform does) in place of
 * a plain GET: for responses that are not one request (log snapshots). */
typedef int (*cfs_fetch_fn)(void *arg, const char *path,
			    struct cfs_http_response *rs);
int cfs_cache_get_with(struct cfs_cache *c, const char *path,
		       const char *accept, cfs_fetch_fn fetch, void *arg,
		       struct cfs_resp **out);
/* Every plain GET goes to fetch instead of the HTTP layer, and prefetches
 * do nothing: how the engine's unit tests serve canned responses. */
void cfs_cache_set_source(struct cfs_cache *c, cfs_fetch_fn fetch, void *arg);
/* Starts the missing ones of n fetches (accepts[i] for paths[i], or all
 * JSON if accepts is NULL) in parallel and waits for them; background
 * ones queue behind every request a process waits on (read-ahead). */
void cfs_cache_prefetch(struct cfs_cache *c, char *const *paths,
			const char *const *accepts, size_t n, int background);

/*
 * The mount's credentials check: check_path, whose outcome (status,
 * errno, message; no body) rs gets, and the n GETs of also beside it, so
 * that the round trip the check costs brings them too.  Every 2xx answer
 * stays in the cache, the check's included.  Returns rs->err.
 */
int cfs_cache_check(struct cfs_cache *c, const char *check_path,
		    const char *const *also, size_t n,
		    struct cfs_http_response *rs);

/* While on for the calling thread, a lookup that would need a request
 * (or wait for one) fails with -EAGAIN instead, and prefetches do
 * nothing.  Returns what it was, for the caller to put back. */
int cfs_cache_local_only(int on);

/* Makes the response for path stale (it stays the last good copy). */
void cfs_cache_expire(struct cfs_cache *c, const char *path);
/* Forgets every response whose API path starts with prefix (after writes). */
void cfs_cache_drop_prefix(struct cfs_cache *c, const char *prefix);
/* The same, and rule 8 for those paths: after a write of unknown outcome. */
void cfs_cache_doubt_prefix(struct cfs_cache *c, const char *prefix);

/* How many more seconds r is served without a request (rules 1 and 8). */
double cfs_cache_fresh_left(struct cfs_cache *c, const struct cfs_resp *r);

struct cfs_resp *cfs_resp_ref(struct cfs_resp *r);
void cfs_resp_unref(struct cfs_resp *r);

/* Async-signal-safe: the next lookup empties every cache. */
void cfs_cache_request_flush(void);
/* Bumps whenever a flush was requested; other caches compare it. */
unsigned int cfs_cache_flush_epoch(void);

#endif
