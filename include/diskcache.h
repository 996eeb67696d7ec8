/*
 * diskcache.h - the persistent cache of invoice PDFs and HTML pages.
 *
 * Layout: DIR/<api host>/<API path>, plus <API path>.meta holding the
 * fingerprint of the invoice's list entry it was fetched for, the request
 * id and the fetch time.  A copy is valid only while the fingerprint still
 * matches, so an invoice whose status changes is fetched again.  Files are
 * written to a temporary name and renamed, so a crash never leaves a
 * half-written copy that looks valid.
 *
 * State files sit beside the copies, as DIR/<api host>/<name>: what a
 * mount keeps for the next one (nodes.h).  A name is one path component,
 * and the API paths kept here all have several, so the two never meet.
 */
#ifndef CFS_DISKCACHE_H
#define CFS_DISKCACHE_H

#include "util.h"

struct cfs_diskcache;

struct cfs_disk_meta {
	char request_id[128];
	double fetched_at;
};

/* dir NULL: $XDG_CACHE_HOME/cloudfs or ~/.cache/cloudfs. */
struct cfs_diskcache *cfs_diskcache_open(const char *dir, const char *api_url);
void cfs_diskcache_close(struct cfs_diskcache *d);

int cfs_diskcache_get(struct cfs_diskcache *d, const char *path,
		      const char *fingerprint, struct cfs_blob **out,
		      struct cfs_disk_meta *meta);
/* 0 if a copy for fingerprint is kept (meta filled when not NULL), found
 * from its .meta alone: the copy itself is not read. */
int cfs_diskcache_meta(struct cfs_diskcache *d, const char *path,
		       const char *fingerprint, struct cfs_disk_meta *meta);
/* Keeps b for fingerprint; a no-op when that copy is kept already. */
int cfs_diskcache_put(struct cfs_diskcache *d, const char *path,
		      const char *fingerprint, const struct cfs_blob *b,
		      const struct cfs_disk_meta *meta);

/* The whole state file name, or -errno (-ENOENT: there is none yet). */
int cfs_diskcache_read_state(struct cfs_diskcache *d, const char *name,
			     struct cfs_blob **out);
/* Replaces the state file name with data, atomically. */
int cfs_diskcache_write_state(struct cfs_diskcache *d, const char *name,
			      const void *data, size_t len);

#endif
