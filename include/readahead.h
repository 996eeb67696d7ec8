/*
 * readahead.h - fetching what a walker will ask for next.
 *
 * When a directory is listed, its entries' API requests (cfs_tree_wants:
 * its files' fetches and its subdirectories' listings, one level down)
 * are made in the background: the GETs in parallel within max_conns,
 * behind every request a process waits on; log snapshots, which stream
 * outside that queue, up to OWN_FETCHERS at a time.  No live stream is
 * ever started.  So `grep -r`, `tar` or `ls -l` find the
 * next level fetched or on its way, instead of paying one round trip per
 * file.  The response cache's rules hold: nothing is asked twice within
 * the TTL, and a read waiting on a request being read ahead waits for
 * that one instead of sending its own.  A few worker threads, started
 * as listings need them (after the daemon forked), work through a short
 * queue of directories, several at once; a full queue drops new ones
 * (read-ahead is only ever a head start).
 */
#ifndef CFS_READAHEAD_H
#define CFS_READAHEAD_H

struct cfs_tree;
struct cfs_cache;
struct cfs_readahead;

struct cfs_readahead *cfs_readahead_new(struct cfs_tree *t,
					struct cfs_cache *c);
/* Queues dir (a path relative to the mount). */
void cfs_readahead_dir(struct cfs_readahead *ra, const char *dir);
/* Finishes the batch in flight and joins the worker: before the HTTP
 * worker stops. */
void cfs_readahead_stop(struct cfs_readahead *ra);
void cfs_readahead_free(struct cfs_readahead *ra);

#endif
