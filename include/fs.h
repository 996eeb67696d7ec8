/*
 * fs.h - the FUSE operations: translating kernel requests into tree
 * lookups and serving the bytes.
 *
 * An open file holds the bytes it was opened on until it is closed, so a
 * reader sees one consistent version even if the cache refreshes meanwhile;
 * fstat on it reports that version's size.
 */
#ifndef CFS_FS_H
#define CFS_FS_H

#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <sys/types.h>

struct cfs_tree;

struct cfs_fs {
	struct cfs_tree *tree;
	uid_t uid;                  /* the mounting user owns everything */
	gid_t gid;
};

extern const struct fuse_operations cfs_fs_operations;

#endif
