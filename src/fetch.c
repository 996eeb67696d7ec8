/*
 * fetch.c - the two plain fetch kinds (fetch.h); the stream kind lives
 * with the log streams, in logs.c.
 */
#include "fetch.h"

#include "cache.h"

static int fetch_plain(const struct cfs_fetch_ctx *ctx, const char *api,
		       const char *accept, struct cfs_resp **out)
{
	return cfs_cache_get(ctx->cache, api, accept, out);
}

const struct cfs_fetch_kind cfs_fetch_get = {
	.name = "get",
	.listing_cost = CFS_COST_CACHED,
	.fetch = fetch_plain,
};

/* Invoice documents: their sizes need their bytes, and they are kept on
 * disk, so a listing fetching them costs one request per document ever. */
const struct cfs_fetch_kind cfs_fetch_persisted = {
	.name = "persisted",
	.listing_cost = CFS_COST_FETCH,
	.persisted = 1,
	.fetch = fetch_plain,
};
