/*
 * live.c - the followers of files open somewhere (live.h).
 */
#include "live.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fetch.h"
#include "hashmap.h"

struct cfs_live {
	const struct cfs_fetch_kind *kind;
	struct cfs_follow *follow; /* NULL once stopped at shutdown */
	int opens;
};

struct cfs_live_set {
	struct cfs_http *http;
	pthread_mutex_t lock;
	struct cfs_hashmap *open; /* path -> its live file */
};

struct cfs_live_set *cfs_live_new(struct cfs_http *h)
{
	struct cfs_live_set *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->http = h;
	s->open = cfs_hashmap_new();
	if (!s->open) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void live_stop(struct cfs_live *l)
{
	if (l->follow)
		l->kind->stop(l->follow);
	l->follow = NULL;
}

static int stop_one(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	live_stop(value);
	return 0;
}

void cfs_live_stop_all(struct cfs_live_set *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	cfs_hashmap_filter(s->open, stop_one, NULL);
	pthread_mutex_unlock(&s->lock);
}

static void live_free(void *p)
{
	live_stop(p);
	free(p);
}

void cfs_live_free(struct cfs_live_set *s)
{
	if (!s)
		return;
	cfs_hashmap_free(s->open, live_free);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct cfs_live *live_start(struct cfs_live_set *s,
				   const struct cfs_fetch_kind *kind,
				   const char *api, const char *after_id,
				   const struct cfs_blob *shown,
				   time_t shown_mtime)
{
	struct cfs_live *l;

	if (!kind->follow || !s->http)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->kind = kind;
	l->follow = kind->follow(s->http, api, after_id, shown, shown_mtime);
	if (!l->follow) {
		free(l);
		return NULL;
	}
	return l;
}

struct cfs_live *cfs_live_attach(struct cfs_live_set *s, const char *path,
				 const struct cfs_fetch_kind *kind,
				 const char *api, const char *after_id,
				 const struct cfs_blob *shown,
				 time_t shown_mtime)
{
	struct cfs_live *l;

	pthread_mutex_lock(&s->lock);
	l = cfs_hashmap_get(s->open, path);
	if (!l) {
		l = live_start(s, kind, api, after_id, shown, shown_mtime);
		if (l && cfs_hashmap_put(s->open, path, l, NULL) != 0) {
			live_free(l);
			l = NULL;
		}
	}
	if (l)
		l->opens++;
	pthread_mutex_unlock(&s->lock);
	return l;
}

void cfs_live_detach(struct cfs_live_set *s, const char *path,
		     struct cfs_live *l)
{
	int last;

	pthread_mutex_lock(&s->lock);
	last = --l->opens == 0;
	if (last)
		cfs_hashmap_remove(s->open, path);
	pthread_mutex_unlock(&s->lock);
	if (last)
		live_free(l);
}

int cfs_live_stat(struct cfs_live_set *s, const char *path, size_t *size,
		  time_t *mtime)
{
	struct cfs_live *l;

	pthread_mutex_lock(&s->lock);
	l = cfs_hashmap_get(s->open, path);
	if (l && l->follow) {
		*size = cfs_live_size(l);
		*mtime = cfs_live_mtime(l);
	}
	pthread_mutex_unlock(&s->lock);
	return l && l->follow;
}

size_t cfs_live_size(struct cfs_live *l)
{
	return l->follow ? l->kind->size(l->follow) : 0;
}

time_t cfs_live_mtime(struct cfs_live *l)
{
	return l->follow ? l->kind->mtime(l->follow) : 0;
}

int cfs_live_read(struct cfs_live *l, char *buf, size_t size, off_t off)
{
	return l->follow ? l->kind->read(l->follow, buf, size, off) : -EIO;
}
