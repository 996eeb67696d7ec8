/*
 * fs.h - the FUSE operations: translating kernel requests into tree
 * lookups, serving the bytes, and buffering writes.
 *
 * An open file holds the bytes it was opened on until it is closed, so a
 * reader sees one consistent version even if the cache refreshes meanwhile;
 * fstat on it reports that version's size.  A writable file opened for
 * writing gets a buffer of its own (empty with O_TRUNC, else a copy of the
 * current content); every close of a changed buffer sends it whole, as one
 * request, and close returns that request's errno.
 */
#ifndef CFS_FS_H
#define CFS_FS_H

#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <sys/types.h>

struct cfs_tree;
struct cfs_overlay;

struct cfs_fs {
	struct cfs_tree *tree;
	struct cfs_overlay *overlay;
	uid_t uid;                  /* the mounting user owns everything */
	gid_t gid;
};

extern const struct fuse_operations cfs_fs_operations;

#endif
