/*
 * live.h - files that grow while open (log streams): the one owner of
 * every follower.
 *
 * Every open of a path shares one follower, started (by its fetch kind)
 * at the first open and stopped at the last close; cfs_live_stop_all
 * stops whatever still runs at shutdown.  While a path is open somewhere,
 * its size and mtime are the follower's: stat reaches a FUSE filesystem
 * without the file handle (tail -f's fstat does), and must agree with
 * what reads return.
 */
#ifndef CFS_LIVE_H
#define CFS_LIVE_H

#include <sys/types.h>
#include <time.h>

#include "util.h"

struct cfs_http;
struct cfs_fetch_kind;
struct cfs_live_set;
struct cfs_live;

struct cfs_live_set *cfs_live_new(struct cfs_http *h);
void cfs_live_stop_all(struct cfs_live_set *s);
void cfs_live_free(struct cfs_live_set *s);

/* The follower of path, started if none runs: it follows api after the
 * event after_id, appending to shown (what the open file showed, with
 * shown_mtime). */
struct cfs_live *cfs_live_attach(struct cfs_live_set *s, const char *path,
				 const struct cfs_fetch_kind *kind,
				 const char *api, const char *after_id,
				 const struct cfs_blob *shown,
				 time_t shown_mtime);
void cfs_live_detach(struct cfs_live_set *s, const char *path,
		     struct cfs_live *l);
/* 1 and the size and mtime of path if it is open somewhere, else 0. */
int cfs_live_stat(struct cfs_live_set *s, const char *path, size_t *size,
		  time_t *mtime);
size_t cfs_live_size(struct cfs_live *l);
time_t cfs_live_mtime(struct cfs_live *l);
int cfs_live_read(struct cfs_live *l, char *buf, size_t size, off_t off);

#endif
