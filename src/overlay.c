/*
 * overlay.c - temporary files and hidden names, in two maps under one
 * lock.  Temporary files are refcounted so that one unlinked while open
 * stays readable and writable through its handles, as on a local disk.
 */
#define _GNU_SOURCE
#include "overlay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

struct cfs_overlay {
	pthread_mutex_t lock;
	struct cfs_hashmap *temps;  /* path -> struct cfs_temp */
	struct cfs_hashmap *hidden; /* path -> expiry (time_t in a box) */
	unsigned int hide_seconds;
};

static void temp_unref_void(void *p)
{
	cfs_temp_unref(p);
}

struct cfs_overlay *cfs_overlay_new(unsigned int hide_seconds)
{
	struct cfs_overlay *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->temps = cfs_hashmap_new();
	o->hidden = cfs_hashmap_new();
	o->hide_seconds = hide_seconds;
	pthread_mutex_init(&o->lock, NULL);
	if (!o->temps || !o->hidden) {
		cfs_overlay_free(o);
		return NULL;
	}
	return o;
}

void cfs_overlay_free(struct cfs_overlay *o)
{
	if (!o)
		return;
	cfs_hashmap_free(o->temps, temp_unref_void);
	cfs_hashmap_free(o->hidden, free);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

void cfs_temp_unref(struct cfs_temp *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	cfs_buf_free(&t->data);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct cfs_temp *temp_new(void)
{
	struct cfs_temp *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->refs = 1;
	t->mtime = time(NULL);
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

struct cfs_temp *cfs_overlay_temp(struct cfs_overlay *o, const char *path)
{
	struct cfs_temp *t;

	pthread_mutex_lock(&o->lock);
	t = cfs_hashmap_get(o->temps, path);
	if (t)
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&o->lock);
	return t;
}

/* Stores t at path (taking the caller's reference); lock held. */
static int store(struct cfs_overlay *o, const char *path, struct cfs_temp *t)
{
	void *old = NULL;
	int rc = cfs_hashmap_put(o->temps, path, t, &old);

	cfs_temp_unref(old);
	free(cfs_hashmap_remove(o->hidden, path));
	return rc;
}

int cfs_overlay_create(struct cfs_overlay *o, const char *path,
		       struct cfs_temp **out)
{
	struct cfs_temp *t = temp_new();
	int rc;

	if (!t)
		return -ENOMEM;
	t->refs = 2; /* the map's and the caller's */
	pthread_mutex_lock(&o->lock);
	rc = store(o, path, t);
	pthread_mutex_unlock(&o->lock);
	if (rc) {
		cfs_temp_unref(t);
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): refs was 2 */
		cfs_temp_unref(t);
		return rc;
	}
	*out = t;
	return 0;
}

int cfs_overlay_put(struct cfs_overlay *o, const char *path, const char *data,
		    size_t len)
{
	struct cfs_temp *t = temp_new();
	int rc;

	if (!t)
		return -ENOMEM;
	rc = cfs_buf_append(&t->data, data, len);
	if (!rc) {
		pthread_mutex_lock(&o->lock);
		rc = store(o, path, t);
		pthread_mutex_unlock(&o->lock);
	}
	if (rc)
		cfs_temp_unref(t);
	return rc;
}

int cfs_overlay_unlink(struct cfs_overlay *o, const char *path)
{
	struct cfs_temp *t;

	pthread_mutex_lock(&o->lock);
	t = cfs_hashmap_remove(o->temps, path);
	pthread_mutex_unlock(&o->lock);
	if (!t)
		return -ENOENT;
	cfs_temp_unref(t);
	return 0;
}

int cfs_overlay_move(struct cfs_overlay *o, const char *from, const char *to)
{
	struct cfs_temp *t;
	int rc = -ENOENT;

	pthread_mutex_lock(&o->lock);
	t = cfs_hashmap_remove(o->temps, from);
	if (t) {
		rc = store(o, to, t);
		if (rc)
			cfs_temp_unref(t);
	}
	pthread_mutex_unlock(&o->lock);
	return rc;
}

struct list_arg {
	const char *dir;
	size_t dirlen;
	char **names;
	size_t n;
	int rc;
};

/* Collects the names directly inside dir; the lock is held. */
static int collect_one(const char *key, void *value, void *arg)
{
	struct list_arg *a = arg;
	const char *name = key + a->dirlen;
	char **names;

	(void)value;
	if (a->rc || strncmp(key, a->dir, a->dirlen) != 0)
		return 0;
	if (a->dirlen) {
		if (*name != '/')
			return 0;
		name++;
	}
	if (strchr(name, '/'))
		return 0;
	names = realloc(a->names, (a->n + 1) * sizeof(*names));
	if (!names || !(names[a->n] = strdup(name))) {
		a->names = names ? names : a->names;
		a->rc = -ENOMEM;
		return 0;
	}
	a->names = names;
	a->n++;
	return 0;
}

/* emit runs without the lock: it may well look at the overlay itself. */
int cfs_overlay_list(struct cfs_overlay *o, const char *dir,
		     int (*emit)(void *arg, const char *name), void *arg)
{
	struct list_arg a = { dir, strlen(dir), NULL, 0, 0 };
	size_t i;
	int rc;

	pthread_mutex_lock(&o->lock);
	cfs_hashmap_filter(o->temps, collect_one, &a);
	pthread_mutex_unlock(&o->lock);
	rc = a.rc;
	for (i = 0; i < a.n; i++) {
		if (!rc)
			rc = emit(arg, a.names[i]);
		free(a.names[i]);
	}
	free(a.names);
	return rc;
}

void cfs_overlay_hide(struct cfs_overlay *o, const char *path)
{
	time_t *until = malloc(sizeof(*until));
	void *old = NULL;

	if (!until)
		return;
	*until = time(NULL) + (time_t)o->hide_seconds;
	pthread_mutex_lock(&o->lock);
	if (cfs_hashmap_put(o->hidden, path, until, &old) != 0)
		free(until);
	pthread_mutex_unlock(&o->lock);
	free(old);
}

void cfs_overlay_unhide(struct cfs_overlay *o, const char *path)
{
	pthread_mutex_lock(&o->lock);
	free(cfs_hashmap_remove(o->hidden, path));
	pthread_mutex_unlock(&o->lock);
}

int cfs_overlay_hidden(struct cfs_overlay *o, const char *path)
{
	time_t *until;
	int hidden = 0;

	pthread_mutex_lock(&o->lock);
	until = cfs_hashmap_get(o->hidden, path);
	if (until && *until > time(NULL))
		hidden = 1;
	else if (until)
		free(cfs_hashmap_remove(o->hidden, path));
	pthread_mutex_unlock(&o->lock);
	return hidden;
}
