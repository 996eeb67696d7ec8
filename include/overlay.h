/*
 * overlay.h - what exists only in this mount's memory, over the API tree.
 *
 * Temporary files: editors and tools write beside the file they change
 * (sed -i's sedXXXXXX, vim's swap and backup files, a script's tmp file
 * before os.replace).  In a directory holding writable files such names
 * are allowed and live here, in memory only; renaming one onto a writable
 * file is a write of that file.
 *
 * Hidden files: unlinking a writable API file, or renaming it away (vim's
 * backup, perl -pi), sends nothing: the name is hidden until the file is
 * written again, or for at most the TTL, after which the server's copy
 * shows again.
 */
#ifndef CFS_OVERLAY_H
#define CFS_OVERLAY_H

#include <pthread.h>
#include <time.h>

#include "util.h"

/* A temporary file: shared by its name and every open handle. */
struct cfs_temp {
	int refs;
	pthread_mutex_t lock;
	struct cfs_buf data;
	time_t mtime;
};

struct cfs_overlay;

struct cfs_overlay *cfs_overlay_new(unsigned int hide_seconds);
void cfs_overlay_free(struct cfs_overlay *o);

/* A reference to the temporary file at path, or NULL. */
struct cfs_temp *cfs_overlay_temp(struct cfs_overlay *o, const char *path);
/* A new empty temporary file at path (replacing one there). */
int cfs_overlay_create(struct cfs_overlay *o, const char *path,
		       struct cfs_temp **out);
/* Puts a temporary file at path, holding a copy of data. */
int cfs_overlay_put(struct cfs_overlay *o, const char *path, const char *data,
		    size_t len);
int cfs_overlay_unlink(struct cfs_overlay *o, const char *path);
int cfs_overlay_move(struct cfs_overlay *o, const char *from, const char *to);
/* Calls emit for every temporary file directly inside dir. */
int cfs_overlay_list(struct cfs_overlay *o, const char *dir,
		     int (*emit)(void *arg, const char *name), void *arg);

void cfs_overlay_hide(struct cfs_overlay *o, const char *path);
void cfs_overlay_unhide(struct cfs_overlay *o, const char *path);
int cfs_overlay_hidden(struct cfs_overlay *o, const char *path);

void cfs_temp_unref(struct cfs_temp *t);

#endif
