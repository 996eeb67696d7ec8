/*
 * readahead.c - the read-ahead worker (readahead.h).
 */
#define _GNU_SOURCE
#include "readahead.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fetch.h"
#include "tree.h"

#define QUEUED_MAX 32
/* log snapshots read ahead at once */
#define OWN_FETCHERS 4

struct cfs_readahead {
	struct cfs_tree *tree;
	struct cfs_cache *cache;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int running;
	int stopping;
	size_t n;
	char *queue[QUEUED_MAX]; /* oldest first */
};

struct cfs_readahead *cfs_readahead_new(struct cfs_tree *t,
					struct cfs_cache *c)
{
	struct cfs_readahead *ra = calloc(1, sizeof(*ra));

	if (!ra)
		return NULL;
	ra->tree = t;
	ra->cache = c;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->wake, NULL);
	return ra;
}

/* Fetches of a kind of their own (log snapshots), a few at a time: they
 * do not go through the HTTP worker's queue. */
struct own_fetches {
	struct cfs_readahead *ra;
	const struct cfs_wants *w;
	size_t next; /* atomic */
};

static void *own_fetcher(void *arg)
{
	struct own_fetches *of = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&of->next, 1, __ATOMIC_RELAXED)) <
	       of->w->n)
		if (of->w->kind[i] != &cfs_fetch_get)
			cfs_tree_fetch_ahead(of->ra->tree, of->w->kind[i],
					     of->w->path[i], of->w->accept[i]);
	return NULL;
}

/* The plain GETs, in the cache's parallel prefetch. */
static void plain_fetches(struct cfs_readahead *ra, const struct cfs_wants *w)
{
	char **path = calloc(w->n ? w->n : 1, sizeof(*path));
	const char **accept = calloc(w->n ? w->n : 1, sizeof(*accept));
	size_t i;
	size_t k = 0;

	for (i = 0; path && accept && i < w->n; i++) {
		if (w->kind[i] != &cfs_fetch_get)
			continue;
		path[k] = w->path[i];
		accept[k++] = w->accept[i];
	}
	if (k)
		cfs_cache_prefetch(ra->cache, path, accept, k, 1);
	free(path);
	free(accept);
}

static void read_ahead_of(struct cfs_readahead *ra, const char *dir)
{
	struct own_fetches of = { ra, NULL, 0 };
	pthread_t thread[OWN_FETCHERS];
	size_t started = 0;
	size_t own = 0;
	struct cfs_wants w;
	size_t i;

	if (cfs_tree_wants(ra->tree, dir, &w) != 0)
		goto out;
	of.w = &w;
	for (i = 0; i < w.n; i++)
		own += w.kind[i] != &cfs_fetch_get;
	while (started < OWN_FETCHERS && started < own &&
	       pthread_create(&thread[started], NULL, own_fetcher, &of) == 0)
		started++;
	plain_fetches(ra, &w);
	while (started)
		pthread_join(thread[--started], NULL);
out:
	cfs_wants_clear(&w);
}

static void *worker_main(void *arg)
{
	struct cfs_readahead *ra = arg;
	char *dir;

	pthread_mutex_lock(&ra->lock);
	while (!ra->stopping) {
		if (!ra->n) {
			pthread_cond_wait(&ra->wake, &ra->lock);
			continue;
		}
		dir = ra->queue[0];
		memmove(ra->queue, ra->queue + 1,
			--ra->n * sizeof(*ra->queue));
		pthread_mutex_unlock(&ra->lock);
		read_ahead_of(ra, dir);
		free(dir);
		pthread_mutex_lock(&ra->lock);
	}
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

static int queued(const struct cfs_readahead *ra, const char *dir)
{
	size_t i;

	for (i = 0; i < ra->n; i++)
		if (strcmp(ra->queue[i], dir) == 0)
			return 1;
	return 0;
}

void cfs_readahead_dir(struct cfs_readahead *ra, const char *dir)
{
	char *copy;

	pthread_mutex_lock(&ra->lock);
	if (ra->stopping || ra->n == QUEUED_MAX || queued(ra, dir))
		goto out;
	if (!ra->running &&
	    pthread_create(&ra->thread, NULL, worker_main, ra) != 0)
		goto out;
	ra->running = 1;
	copy = strdup(dir);
	if (!copy)
		goto out;
	ra->queue[ra->n++] = copy;
	pthread_cond_signal(&ra->wake);
out:
	pthread_mutex_unlock(&ra->lock);
}

void cfs_readahead_stop(struct cfs_readahead *ra)
{
	int running;

	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stopping = 1;
	running = ra->running;
	ra->running = 0;
	pthread_cond_signal(&ra->wake);
	pthread_mutex_unlock(&ra->lock);
	if (running)
		pthread_join(ra->thread, NULL);
}

void cfs_readahead_free(struct cfs_readahead *ra)
{
	size_t i;

	if (!ra)
		return;
	cfs_readahead_stop(ra);
	for (i = 0; i < ra->n; i++)
		free(ra->queue[i]);
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->wake);
	free(ra);
}
