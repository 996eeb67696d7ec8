/*
 * readahead.c - the read-ahead worker (readahead.h).
 */
#define _GNU_SOURCE
#include "readahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fetch.h"
#include "http.h"
#include "tree.h"
#include "util.h"

#define QUEUED_MAX 32
/*
 * A process that lists a subdirectory of a directory it listed lately is
 * walking the tree: the next NEXT_SIBLINGS subdirectories after it, which
 * the walk reaches next, are read ahead too, so that their fetches run
 * beside this one's instead of after them.
 */
#define NEXT_SIBLINGS 2
/* entries looked at for them: a walk through a directory of thousands
 * stays linear (their entries' needs came with its own listing) */
#define SIBLINGS_SCAN 64
#define LISTED_MAX 64	 /* the directories processes listed lately */
#define WALK_WINDOW 30.0 /* seconds */
/* log snapshots of one directory read ahead at once (each takes one of
 * the HTTP layer's slots while it streams) */
#define OWN_FETCHERS 8
/*
 * Directories read ahead at once: a walker lists the next directory
 * before the last one's fetches are back, and its fetches should not wait
 * for them.  The HTTP worker's queue keeps the total within max_conns.
 */
#define WORKERS 4

struct cfs_readahead {
	struct cfs_tree *tree;
	struct cfs_cache *cache;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread[WORKERS];
	size_t nthreads;
	size_t idle;
	int stopping;
	size_t n;
	struct job {
		char *dir;
		int walk;    /* a walker listed it: its next siblings too */
	} queue[QUEUED_MAX]; /* oldest first */
	struct listed {
		char *dir;
		double at; /* monotonic */
	} listed[LISTED_MAX];
	size_t listed_next;
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

/* Fetches of a kind of their own (log snapshots), a few at a time: each
 * streams in its own thread, outside the HTTP worker's queue. */
struct own_fetches {
	struct cfs_readahead *ra;
	const struct cfs_wants *w;
	size_t next; /* atomic */
};

static void *own_fetcher(void *arg)
{
	struct own_fetches *of = arg;
	size_t i;

	cfs_http_background(1);
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

static void *worker_main(void *arg);

static int queued(const struct cfs_readahead *ra, const char *dir)
{
	size_t i;

	for (i = 0; i < ra->n; i++)
		if (strcmp(ra->queue[i].dir, dir) == 0)
			return 1;
	return 0;
}

/* Under ra->lock. */
static void enqueue(struct cfs_readahead *ra, const char *dir, int walk)
{
	char *copy;

	if (ra->stopping || ra->n == QUEUED_MAX || queued(ra, dir))
		return;
	/* one more worker while every one is busy; none at all is an error */
	if (ra->idle <= ra->n && ra->nthreads < WORKERS &&
	    pthread_create(&ra->thread[ra->nthreads], NULL, worker_main, ra) ==
		    0)
		ra->nthreads++;
	if (!ra->nthreads)
		return;
	copy = strdup(dir);
	if (!copy)
		return;
	ra->queue[ra->n++] = (struct job){ copy, walk };
	pthread_cond_signal(&ra->wake);
}

struct siblings {
	struct cfs_readahead *ra;
	const char *parent;
	const char *after; /* the name the walker is in */
	int past;
	int left;
	int scan;
};

static int queue_sibling(void *arg, const char *name, enum cfs_kind kind,
			 enum cfs_cost cost)
{
	struct siblings *s = arg;
	char *dir;

	(void)cost;
	if (--s->scan < 0)
		return 1;
	if (!s->past) {
		s->past = strcmp(name, s->after) == 0;
		return 0;
	}
	if (kind != CFS_DIR)
		return 0;
	dir = cfs_path_join(s->parent, name);
	if (!dir)
		return -ENOMEM;
	pthread_mutex_lock(&s->ra->lock);
	enqueue(s->ra, dir, 0);
	pthread_mutex_unlock(&s->ra->lock);
	free(dir);
	return --s->left > 0 ? 0 : 1;
}

/* The parent's listing as the cache holds it: a head start never waits
 * for one. */
static void read_ahead_siblings(struct cfs_readahead *ra, const char *dir)
{
	const char *slash = strrchr(dir, '/');
	char *parent = cfs_path_parent(dir);
	struct siblings s = { .ra = ra,
			      .parent = parent,
			      .after = slash ? slash + 1 : dir,
			      .left = NEXT_SIBLINGS,
			      .scan = SIBLINGS_SCAN };
	int was;

	if (!parent)
		return;
	was = cfs_cache_local_only(1);
	cfs_tree_readdir(ra->tree, parent, queue_sibling, &s);
	cfs_cache_local_only(was);
	free(parent);
}

static void *worker_main(void *arg)
{
	struct cfs_readahead *ra = arg;
	struct job job;

	/* what it fetches, listings included, queues behind processes */
	cfs_http_background(1);
	pthread_mutex_lock(&ra->lock);
	while (!ra->stopping) {
		if (!ra->n) {
			ra->idle++;
			pthread_cond_wait(&ra->wake, &ra->lock);
			ra->idle--;
			continue;
		}
		job = ra->queue[0];
		memmove(ra->queue, ra->queue + 1,
			--ra->n * sizeof(*ra->queue));
		pthread_mutex_unlock(&ra->lock);
		if (job.walk)
			read_ahead_siblings(ra, job.dir);
		read_ahead_of(ra, job.dir);
		free(job.dir);
		pthread_mutex_lock(&ra->lock);
	}
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

/* Under ra->lock: whether a process listed dir in the last WALK_WINDOW. */
static int listed_lately(const struct cfs_readahead *ra, const char *dir,
			 double now)
{
	size_t i;

	for (i = 0; i < LISTED_MAX; i++)
		if (ra->listed[i].dir &&
		    now - ra->listed[i].at < WALK_WINDOW &&
		    strcmp(ra->listed[i].dir, dir) == 0)
			return 1;
	return 0;
}

/* Under ra->lock; takes dir. */
static void remember_listed(struct cfs_readahead *ra, char *dir, double now)
{
	struct listed *l = &ra->listed[ra->listed_next];

	free(l->dir);
	*l = (struct listed){ dir, now };
	ra->listed_next = (ra->listed_next + 1) % LISTED_MAX;
}

void cfs_readahead_dir(struct cfs_readahead *ra, const char *dir)
{
	char *parent = *dir ? cfs_path_parent(dir) : NULL;
	double now = cfs_monotonic();

	pthread_mutex_lock(&ra->lock);
	enqueue(ra, dir, parent && listed_lately(ra, parent, now));
	remember_listed(ra, strdup(dir), now);
	pthread_mutex_unlock(&ra->lock);
	free(parent);
}

void cfs_readahead_stop(struct cfs_readahead *ra)
{
	size_t n;

	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stopping = 1;
	n = ra->nthreads;
	ra->nthreads = 0;
	pthread_cond_broadcast(&ra->wake);
	pthread_mutex_unlock(&ra->lock);
	while (n)
		pthread_join(ra->thread[--n], NULL);
}

void cfs_readahead_free(struct cfs_readahead *ra)
{
	size_t i;

	if (!ra)
		return;
	cfs_readahead_stop(ra);
	for (i = 0; i < ra->n; i++)
		free(ra->queue[i].dir);
	for (i = 0; i < LISTED_MAX; i++)
		free(ra->listed[i].dir);
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->wake);
	free(ra);
}
