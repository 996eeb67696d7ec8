/*
 * hashmap.h - a string-keyed hash map with chaining.
 *
 * Not thread-safe: callers (the caches) hold their own lock.  Values are
 * opaque pointers owned by the caller; the map owns copies of the keys.
 */
#ifndef CFS_HASHMAP_H
#define CFS_HASHMAP_H

#include <stddef.h>

struct cfs_hashmap;

struct cfs_hashmap *cfs_hashmap_new(void);
/* Calls free_value on every value still stored. */
void cfs_hashmap_free(struct cfs_hashmap *m, void (*free_value)(void *));
void *cfs_hashmap_get(const struct cfs_hashmap *m, const char *key);
/* Stores value under key, returning the value it replaced (or NULL). */
int cfs_hashmap_put(struct cfs_hashmap *m, const char *key, void *value,
		    void **replaced);
void *cfs_hashmap_remove(struct cfs_hashmap *m, const char *key);
size_t cfs_hashmap_size(const struct cfs_hashmap *m);
/*
 * Visits every entry; when visit returns non-zero the entry is removed
 * (visit has then taken ownership of the value).
 */
void cfs_hashmap_filter(struct cfs_hashmap *m,
			int (*visit)(const char *key, void *value, void *arg),
			void *arg);

#endif
