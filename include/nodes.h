/*
 * nodes.h - the node store: what the tree remembers of each path it served.
 *
 * Two things, kept apart because they live differently:
 *
 *  - Contents: a file's rendered bytes and the version of the source they
 *    were rendered from (a response generation, an invoice fingerprint),
 *    so that an unchanged source serves the same bytes.  They sit in one
 *    LRU capped by bytes (-o node_cache): past the cap the least recently
 *    used contents go first, and a file whose content went is rendered
 *    again when it is needed.  A flush (SIGHUP) drops them all.
 *
 *  - Facts, per path: the content's fingerprint (cfs_fingerprint of a
 *    file's bytes; the tree passes a symlink's target and a sum over a
 *    directory's names) and the mtime.  A path seen for the first time
 *    gets now; the same fingerprint keeps its mtime; a new fingerprint
 *    gets max(now, old mtime + 1), so mtime never moves backwards and a
 *    change within the second still moves it.  CFS_NODES_UNKNOWN is a
 *    fingerprint not known yet (a directory whose names would take a
 *    request): it keeps the fact as it is, and the first known one is
 *    taken without moving the mtime.  Facts outlive their contents: a trim
 *    or a flush keeps them.  They are bounded too, at CFS_NODES_MAX_FACTS
 *    paths (about 200 bytes each, far above what the content cap holds),
 *    the least recently used forgotten first.
 *
 * The facts persist in a state file beside the persistent cache
 * (diskcache.h), loaded when the store is made: a remount over unchanged
 * content shows the same mtimes.  The file is replaced atomically
 * (temporary file and rename) when the store is freed at unmount and, so
 * that a crashed daemon loses little, by a thread that changed a fact
 * once the last save is CFS_NODES_SAVE_EVERY seconds old: a crash loses
 * the changes since the last save.  A missing or corrupt file means
 * starting fresh.  Mounts of one provider and API host share the file;
 * the last one to save wins.
 *
 * Inode numbers are not stored: cfs_nodes_ino is a 64-bit hash of the
 * path, so every mount gives a path the same number.  The root is 1; no
 * other path gets 0 or 1.
 *
 * Thread-safe (one mutex, never held for rendering or file I/O).
 */
#ifndef CFS_NODES_H
#define CFS_NODES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

#define CFS_NODES_CACHE_BYTES (64u << 20)
#define CFS_NODES_MAX_FACTS (1u << 17)
#define CFS_NODES_SAVE_EVERY 30.0
#define CFS_NODES_UNKNOWN 0

struct cfs_diskcache;
struct cfs_nodes;

/* disk NULL: nothing is loaded or saved; state names the state file. */
struct cfs_nodes *cfs_nodes_new(size_t cap, struct cfs_diskcache *disk,
				const char *state);
/* Saves what changed since the last save, then frees. */
void cfs_nodes_free(struct cfs_nodes *n);
/* The content cap in bytes; trims at once. */
void cfs_nodes_set_cap(struct cfs_nodes *n, size_t cap);

/* 0 and a reference to path's content if it was rendered from version,
 * with its mtime; -ENOENT if not held. */
int cfs_nodes_content(struct cfs_nodes *n, const char *path, uint64_t version,
		      struct cfs_blob **content, time_t *mtime);
/* Holds content, rendered from version, as path's: its fingerprint makes
 * the mtime. */
int cfs_nodes_keep(struct cfs_nodes *n, const char *path, uint64_t version,
		   struct cfs_blob *content, time_t *mtime);
/* The mtime of path's fact once fingerprint is applied (no content). */
time_t cfs_nodes_mtime(struct cfs_nodes *n, const char *path,
		       uint64_t fingerprint);
/* Drops every content held, once for each new epoch (the tree passes
 * cfs_cache_flush_epoch(), which a SIGHUP bumps). */
void cfs_nodes_flush(struct cfs_nodes *n, unsigned int epoch);
/* Writes the state file now if a fact changed since the last save. */
int cfs_nodes_save(struct cfs_nodes *n);
/* Bytes of content held, and paths with a fact. */
void cfs_nodes_usage(struct cfs_nodes *n, size_t *bytes, size_t *facts);

/* path relative to the mount, "" for the root. */
uint64_t cfs_nodes_ino(const char *path);

#endif
