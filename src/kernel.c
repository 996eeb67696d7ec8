/*
 * kernel.c - what the kernel holds of the mount, and taking it back
 * (kernel.h).
 *
 * An inode's number is its record's address, so the kernel's requests
 * find their record without a lookup; the root is FUSE_ROOT_ID.  A record
 * lives while the kernel holds a lookup of it, even once its name is gone
 * (an unlinked file still open).
 */
#define _GNU_SOURCE
#include "kernel.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

struct inode {
	struct inode *prev; /* every inode the kernel holds */
	struct inode *next;
	char *path;
	int linked; /* path still names it */
	uint64_t nlookup;
	uint64_t pages;	       /* the version its pages hold; 0: unknown */
	uint64_t open_version; /* the version its page-cache opens read */
	unsigned int opens;
	uint64_t listing; /* the listing the kernel cached; 0: none */
};

struct cfs_kernel {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct cfs_hashmap *by_path; /* linked inodes but the root */
	struct inode root;
	struct inode *all; /* but the root */
	struct fuse_session *se;
	pthread_t thread;
	int running;
	int stopping;
	int names_owed; /* a take-back whose names the thread has yet to send */
};

struct cfs_kernel *cfs_kernel_new(void)
{
	struct cfs_kernel *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->by_path = cfs_hashmap_new();
	k->root.path = strdup("");
	if (!k->by_path || !k->root.path) {
		cfs_kernel_free(k);
		return NULL;
	}
	k->root.linked = 1;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cv, NULL);
	return k;
}

static void inode_free(struct inode *i)
{
	free(i->path);
	free(i);
}

void cfs_kernel_free(struct cfs_kernel *k)
{
	if (!k)
		return;
	cfs_kernel_stop(k);
	while (k->all) {
		struct inode *i = k->all;

		k->all = i->next;
		inode_free(i);
	}
	cfs_hashmap_free(k->by_path, NULL);
	free(k->root.path);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->cv);
	free(k);
}

static struct inode *inode_of(struct cfs_kernel *k, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &k->root : (struct inode *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct cfs_kernel *k, struct inode *i)
{
	return i == &k->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

static struct inode *inode_new(struct cfs_kernel *k, const char *path)
{
	struct inode *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	i->path = strdup(path);
	if (!i->path || cfs_hashmap_put(k->by_path, path, i, NULL) != 0) {
		inode_free(i);
		return NULL;
	}
	i->linked = 1;
	i->next = k->all;
	if (i->next)
		i->next->prev = i;
	k->all = i;
	return i;
}

fuse_ino_t cfs_kernel_remember(struct cfs_kernel *k, const char *path)
{
	struct inode *i;

	if (!*path)
		return FUSE_ROOT_ID;
	pthread_mutex_lock(&k->lock);
	i = cfs_hashmap_get(k->by_path, path);
	if (!i)
		i = inode_new(k, path);
	if (i)
		i->nlookup++;
	pthread_mutex_unlock(&k->lock);
	return i ? ino_of(k, i) : 0;
}

static void unlink_name(struct cfs_kernel *k, struct inode *i)
{
	if (i->linked && cfs_hashmap_get(k->by_path, i->path) == i)
		cfs_hashmap_remove(k->by_path, i->path);
	i->linked = 0;
}

void cfs_kernel_forget(struct cfs_kernel *k, fuse_ino_t ino, uint64_t n)
{
	struct inode *i = inode_of(k, ino);

	if (i == &k->root)
		return;
	pthread_mutex_lock(&k->lock);
	i->nlookup = n < i->nlookup ? i->nlookup - n : 0;
	if (i->nlookup == 0) {
		unlink_name(k, i);
		if (i->prev)
			i->prev->next = i->next;
		else
			k->all = i->next;
		if (i->next)
			i->next->prev = i->prev;
		inode_free(i);
	}
	pthread_mutex_unlock(&k->lock);
}

char *cfs_kernel_path(struct cfs_kernel *k, fuse_ino_t ino)
{
	struct inode *i = inode_of(k, ino);
	char *path;

	pthread_mutex_lock(&k->lock);
	path = i->linked ? strdup(i->path) : NULL;
	pthread_mutex_unlock(&k->lock);
	return path;
}

void cfs_kernel_moved(struct cfs_kernel *k, const char *from, const char *to)
{
	struct inode *i;
	struct inode *target;
	char *copy = strdup(to);

	pthread_mutex_lock(&k->lock);
	target = cfs_hashmap_get(k->by_path, to);
	if (target)
		unlink_name(k, target);
	i = cfs_hashmap_get(k->by_path, from);
	if (i && copy) {
		unlink_name(k, i);
		free(i->path);
		i->path = copy;
		copy = NULL;
		i->linked = cfs_hashmap_put(k->by_path, to, i, NULL) == 0;
	}
	pthread_mutex_unlock(&k->lock);
	free(copy);
}

void cfs_kernel_removed(struct cfs_kernel *k, const char *path)
{
	struct inode *i;

	pthread_mutex_lock(&k->lock);
	i = cfs_hashmap_get(k->by_path, path);
	if (i)
		unlink_name(k, i);
	pthread_mutex_unlock(&k->lock);
}

enum cfs_pages cfs_kernel_open_pages(struct cfs_kernel *k, fuse_ino_t ino,
				     uint64_t version)
{
	struct inode *i = inode_of(k, ino);
	enum cfs_pages how;

	pthread_mutex_lock(&k->lock);
	if (i->opens && i->open_version != version) {
		how = CFS_PAGES_BYPASS;
	} else {
		how = i->pages == version ? CFS_PAGES_KEEP : CFS_PAGES_REFILL;
		i->pages = i->open_version = version;
		i->opens++;
	}
	pthread_mutex_unlock(&k->lock);
	return how;
}

void cfs_kernel_close_pages(struct cfs_kernel *k, fuse_ino_t ino)
{
	struct inode *i = inode_of(k, ino);

	pthread_mutex_lock(&k->lock);
	if (i->opens)
		i->opens--;
	pthread_mutex_unlock(&k->lock);
}

int cfs_kernel_listing_kept(struct cfs_kernel *k, fuse_ino_t ino,
			    uint64_t listing)
{
	struct inode *i = inode_of(k, ino);
	int kept;

	pthread_mutex_lock(&k->lock);
	kept = listing && i->listing == listing;
	pthread_mutex_unlock(&k->lock);
	return kept;
}

void cfs_kernel_listed(struct cfs_kernel *k, fuse_ino_t ino, uint64_t listing)
{
	struct inode *i = inode_of(k, ino);

	pthread_mutex_lock(&k->lock);
	i->listing = listing;
	pthread_mutex_unlock(&k->lock);
}

/* ---- taking back ---------------------------------------------------- */

struct name {
	fuse_ino_t parent;
	char *name;
};

/* Every inode's number, and forgets which pages and listings the kernel
 * has: from now on, each is filled again.  Lock held. */
static fuse_ino_t *every_ino(struct cfs_kernel *k, size_t *n)
{
	struct inode *i;
	fuse_ino_t *inos;
	size_t count = 1;

	for (i = k->all; i; i = i->next)
		count++;
	inos = malloc(count * sizeof(*inos));
	*n = 0;
	k->root.pages = k->root.listing = 0;
	if (inos)
		inos[(*n)++] = FUSE_ROOT_ID;
	for (i = k->all; i; i = i->next) {
		i->pages = i->listing = 0;
		if (inos)
			inos[(*n)++] = ino_of(k, i);
	}
	return inos;
}

static fuse_ino_t parent_ino(struct cfs_kernel *k, const char *path,
			     const char **name)
{
	const char *slash = strrchr(path, '/');
	struct inode *parent;
	char *dir;

	if (!slash) {
		*name = path;
		return FUSE_ROOT_ID;
	}
	*name = slash + 1;
	dir = strndup(path, (size_t)(slash - path));
	parent = dir ? cfs_hashmap_get(k->by_path, dir) : NULL;
	free(dir);
	return parent ? ino_of(k, parent) : 0;
}

/* Every linked name with its directory's number.  Lock held. */
static struct name *every_name(struct cfs_kernel *k, size_t *n)
{
	struct inode *i;
	struct name *names;
	size_t count = 0;

	for (i = k->all; i; i = i->next)
		count++;
	names = calloc(count ? count : 1, sizeof(*names));
	*n = 0;
	for (i = k->all; names && i; i = i->next) {
		const char *base;
		fuse_ino_t parent;

		if (!i->linked)
			continue;
		parent = parent_ino(k, i->path, &base);
		names[*n].name = parent ? strdup(base) : NULL;
		if (names[*n].name)
			names[(*n)++].parent = parent;
	}
	return names;
}

/* ENOENT: the kernel had already dropped it, which is what we wanted. */
static void invalidate_inodes(struct fuse_session *se, const fuse_ino_t *inos,
			      size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(se, inos[i], 0, 0);
}

static void invalidate_names(struct fuse_session *se, struct name *names,
			     size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		fuse_lowlevel_notify_inval_entry(se, names[i].parent,
						 names[i].name,
						 strlen(names[i].name));
		free(names[i].name);
	}
	free(names);
}

static void *take_back_worker(void *arg)
{
	struct cfs_kernel *k = arg;

	pthread_mutex_lock(&k->lock);
	while (!k->stopping) {
		struct name *names;
		size_t n;

		if (!k->names_owed) {
			pthread_cond_wait(&k->cv, &k->lock);
			continue;
		}
		names = every_name(k, &n);
		k->names_owed = 0;
		pthread_mutex_unlock(&k->lock);
		invalidate_names(k->se, names, n);
		pthread_mutex_lock(&k->lock);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

int cfs_kernel_start(struct cfs_kernel *k, struct fuse_session *se)
{
	k->se = se;
	if (pthread_create(&k->thread, NULL, take_back_worker, k) != 0)
		return -EAGAIN;
	k->running = 1;
	return 0;
}

void cfs_kernel_stop(struct cfs_kernel *k)
{
	if (!k->running)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = 1;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	k->running = 0;
}

void cfs_kernel_take_back(struct cfs_kernel *k)
{
	fuse_ino_t *inos;
	size_t n = 0;

	pthread_mutex_lock(&k->lock);
	if (!k->running || k->stopping) {
		pthread_mutex_unlock(&k->lock);
		return;
	}
	inos = every_ino(k, &n);
	k->names_owed = 1;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->lock);
	invalidate_inodes(k->se, inos, n);
	free(inos);
}
