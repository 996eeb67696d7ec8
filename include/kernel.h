/*
 * kernel.h - what the kernel holds of the mount, and taking it back.
 *
 * The kernel is a cache too: the names, attributes, directory listings
 * and file pages cloudfs hands it are served to every process without
 * asking again, for as long as each reply said.  This module keeps what
 * that needs on our side:
 *
 *  - the inodes the kernel looked up: the number it was given for each
 *    (the inode's address, as libfuse's examples do) and the path it
 *    stands for, until the kernel forgets it;
 *  - which version of a file its page cache holds, so that an open file
 *    keeps the pages only while they are that version's, and two versions
 *    never share pages (an open of another version meanwhile reads past
 *    the page cache);
 *  - which listing of a directory the kernel cached;
 *  - taking everything back (cfs_kernel_take_back) when data changes
 *    before the TTL it was handed out for: a write, a listing fetched again
 *    early, SIGHUP.  Attributes, pages and listings go at once, before the
 *    request that saw the change is answered; names follow from a thread
 *    of ours, since taking a name back waits on its directory, which a
 *    process may hold while it waits on us.
 */
#ifndef CFS_KERNEL_H
#define CFS_KERNEL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdint.h>

struct cfs_kernel;

struct cfs_kernel *cfs_kernel_new(void);
void cfs_kernel_free(struct cfs_kernel *k);
/* Starts the thread that takes names back; se is the mounted session. */
int cfs_kernel_start(struct cfs_kernel *k, struct fuse_session *se);
/* Before the session goes: no notification is sent after it. */
void cfs_kernel_stop(struct cfs_kernel *k);

/* The number for path, for a reply that makes the kernel hold one more
 * lookup of it; 0 when out of memory. */
fuse_ino_t cfs_kernel_remember(struct cfs_kernel *k, const char *path);
void cfs_kernel_forget(struct cfs_kernel *k, fuse_ino_t ino, uint64_t n);
/* The path ino stands for (the root is ""), malloc'ed; NULL if unknown. */
char *cfs_kernel_path(struct cfs_kernel *k, fuse_ino_t ino);
/* rename moved the inode at from to to; unlink and rmdir removed path. */
void cfs_kernel_moved(struct cfs_kernel *k, const char *from, const char *to);
void cfs_kernel_removed(struct cfs_kernel *k, const char *path);

/* How an open file of a version (its bytes' fingerprint) uses pages. */
enum cfs_pages {
	CFS_PAGES_KEEP,	  /* the kernel's pages are this version's */
	CFS_PAGES_REFILL, /* drop them and fill them from this open */
	CFS_PAGES_BYPASS, /* another version is open: read past them */
};

enum cfs_pages cfs_kernel_open_pages(struct cfs_kernel *k, fuse_ino_t ino,
				     uint64_t version);
/* The close of an open that got KEEP or REFILL. */
void cfs_kernel_close_pages(struct cfs_kernel *k, fuse_ino_t ino);
/* Whether the listing the kernel cached for directory ino is this one
 * (a fingerprint of its entries); listed records what it now caches. */
int cfs_kernel_listing_kept(struct cfs_kernel *k, fuse_ino_t ino,
			    uint64_t listing);
void cfs_kernel_listed(struct cfs_kernel *k, fuse_ino_t ino, uint64_t listing);

/*
 * Data changed before its TTL ran out: every attribute, page and listing
 * the kernel holds is invalidated before it returns, so the reply of the
 * request that saw the change (a write's close, a lookup that fetched a
 * listing again) comes after it; the names follow, from our thread.
 * Taking an inode back waits on no lock a request holds, so it is safe
 * inside any request; taking a name back waits on its directory, which
 * a process in that directory may hold while it waits on us.
 */
void cfs_kernel_take_back(struct cfs_kernel *k);

#endif
