/*
 * fs.h - the FUSE low-level operations: translating kernel requests into
 * tree lookups, serving the bytes, and buffering writes.
 *
 * An open file holds the bytes it was opened on until it is closed, so a
 * reader sees one consistent version even if the cache refreshes meanwhile:
 * a getattr that names the open file reports that version's size, and the
 * pages the kernel keeps of a read-only file are one version's (kernel.h).
 * What each reply lets the kernel keep, and for how long, is in fs.c's
 * header.  A writable file opened for
 * writing gets a buffer of its own (empty with O_TRUNC, else a copy of the
 * current content); every close of a changed buffer sends it whole, as one
 * request, and close returns that request's errno.  Writers of one path
 * take turns, from open to last close, so each buffer starts from the
 * previous writer's result; a writer waits at most the HTTP timeout for
 * its turn (then EBUSY).  A buffer is capped at write_max bytes: a write
 * past it fails with EFBIG, and from then on that open file's closes fail
 * with it and send nothing.
 *
 * A log file open somewhere grows live: the tree's live set (live.h)
 * runs one follower per path for all its opens, and while it runs, its
 * size is what stat reports for the path.
 */
#ifndef CFS_FS_H
#define CFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sys/types.h>

struct cfs_tree;
struct cfs_kernel;
struct cfs_overlay;
struct cfs_hashmap;
struct open_file;

struct cfs_fs {
	struct cfs_tree *tree;
	struct cfs_overlay *overlay;
	struct cfs_kernel *kernel; /* what the kernel holds (kernel.h) */
	unsigned int flush_seen;   /* the SIGHUP epoch it was taken back at */
	/* paths being written: path -> whose turn it is */
	struct cfs_hashmap *gates;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cv;
	/* every open file, so that shutdown frees what was never released */
	struct open_file *open_files;
	pthread_mutex_t open_lock;
	size_t write_max;	   /* a write buffer's cap (-o write_buffer) */
	unsigned int turn_timeout; /* seconds a writer waits: -o timeout */
	int ro;			   /* -o ro: every file 0444, directory 0555 */
	uid_t uid;		   /* the mounting user owns everything */
	gid_t gid;
};

extern const struct fuse_lowlevel_ops cfs_fs_operations;

/* Once tree and overlay are set. */
int cfs_fs_init(struct cfs_fs *fs);
/* Once se is mounted: the kernel may be told to drop what it holds. */
int cfs_fs_start(struct cfs_fs *fs, struct fuse_session *se);
/*
 * Once the FUSE loop has returned, while the HTTP layer still runs: stops
 * every live follower and frees what open files the kernel never
 * released (a signal ends the loop with files still open).
 */
void cfs_fs_shutdown(struct cfs_fs *fs);
void cfs_fs_destroy(struct cfs_fs *fs);

#endif
