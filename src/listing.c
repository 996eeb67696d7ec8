/*
 * listing.c - indexed listings and the memo of them (listing.h).
 */
#define _GNU_SOURCE
#include "listing.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "hashmap.h"

static int grow(struct cfs_listing *l)
{
	size_t cap = l->cap ? l->cap * 2 : 16;
	char **names;
	json_t **items;

	names = realloc(l->names, cap * sizeof(*names));
	if (!names)
		return -ENOMEM;
	l->names = names;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	items = realloc(l->items, cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	l->items = items;
	l->cap = cap;
	return 0;
}

int cfs_listing_add(struct cfs_listing *l, const char *name, json_t *item)
{
	char *copy;
	char *s;
	int rc;

	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (!l->index && !(l->index = cfs_hashmap_new()))
		return -ENOMEM;
	if (l->n == l->cap && (rc = grow(l)) != 0)
		return rc;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	/* a name is one path component */
	for (s = copy; *s; s++)
		if (*s == '/')
			*s = '_';
	if (cfs_hashmap_get(l->index, copy)) {
		free(copy);
		return 0;
	}
	rc = cfs_hashmap_put(l->index, copy, (void *)(uintptr_t)(l->n + 1),
			     NULL);
	if (rc) {
		free(copy);
		return rc;
	}
	l->names[l->n] = copy;
	l->items[l->n] = json_incref(item);
	l->n++;
	return 0;
}

int cfs_listing_find(const struct cfs_listing *l, const char *name, size_t *at)
{
	uintptr_t pos = l->index ? (uintptr_t)cfs_hashmap_get(l->index, name)
				 : 0;

	if (!pos)
		return -ENOENT;
	*at = pos - 1;
	return 0;
}

int cfs_listing_depend(struct cfs_listing *l, const char *path,
		       const char *accept, uint64_t gen)
{
	struct cfs_listing_dep *d = realloc(l->deps,
					    (l->ndeps + 1) * sizeof(*d));

	if (!d)
		return -ENOMEM;
	l->deps = d;
	d += l->ndeps;
	d->path = strdup(path);
	d->accept = accept ? strdup(accept) : NULL;
	d->gen = gen;
	if (!d->path || (accept && !d->accept)) {
		free(d->path);
		free(d->accept);
		return -ENOMEM;
	}
	l->ndeps++;
	return 0;
}

void cfs_listing_clear(struct cfs_listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->names[i]);
		json_decref(l->items[i]);
	}
	for (i = 0; i < l->ndeps; i++) {
		free(l->deps[i].path);
		free(l->deps[i].accept);
	}
	free(l->deps);
	free(l->names);
	free(l->items);
	cfs_hashmap_free(l->index, NULL);
	cfs_resp_unref(l->src);
	memset(l, 0, sizeof(*l));
}

struct cfs_listing *cfs_listing_ref(struct cfs_listing *l)
{
	if (l)
		__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void cfs_listing_unref(struct cfs_listing *l)
{
	if (l && __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		cfs_listing_clear(l);
		free(l);
	}
}

/* ---- the memo ------------------------------------------------------ */

struct slot {
	struct slot *prev; /* towards the most recently used */
	struct slot *next;
	char *key;
	struct cfs_listing *l;
};

struct cfs_listings {
	struct cfs_cache *cache;
	size_t cap;
	pthread_mutex_t lock;
	struct cfs_hashmap *slots;
	struct slot *newest;
	struct slot *oldest;
};

struct cfs_listings *cfs_listings_new(struct cfs_cache *cache, size_t cap)
{
	struct cfs_listings *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cache = cache;
	m->cap = cap;
	m->slots = cfs_hashmap_new();
	if (!m->slots) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void slot_free(void *p)
{
	struct slot *s = p;

	cfs_listing_unref(s->l);
	free(s->key);
	free(s);
}

void cfs_listings_free(struct cfs_listings *m)
{
	if (!m)
		return;
	cfs_hashmap_free(m->slots, slot_free);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void unlink_slot(struct cfs_listings *m, struct slot *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		m->newest = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		m->oldest = s->prev;
	s->prev = s->next = NULL;
}

static void push_newest(struct cfs_listings *m, struct slot *s)
{
	s->next = m->newest;
	if (m->newest)
		m->newest->prev = s;
	m->newest = s;
	if (!m->oldest)
		m->oldest = s;
}

static void drop_slot(struct cfs_listings *m, struct slot *s)
{
	unlink_slot(m, s);
	cfs_hashmap_remove(m->slots, s->key);
	slot_free(s);
}

/* Whether every response it was built from is still the current one. */
static int still_current(struct cfs_listings *m, const struct cfs_listing *l)
{
	struct cfs_resp *r;
	size_t i;
	int same;

	for (i = 0; i < l->ndeps; i++) {
		if (cfs_cache_get(m->cache, l->deps[i].path, l->deps[i].accept,
				  &r) != 0)
			return 0;
		same = r->gen == l->deps[i].gen;
		cfs_resp_unref(r);
		if (!same)
			return 0;
	}
	return 1;
}

struct cfs_listing *cfs_listings_get(struct cfs_listings *m, const char *key)
{
	struct cfs_listing *l = NULL;
	struct slot *s;

	pthread_mutex_lock(&m->lock);
	s = cfs_hashmap_get(m->slots, key);
	if (s) {
		unlink_slot(m, s);
		push_newest(m, s);
		l = cfs_listing_ref(s->l);
	}
	pthread_mutex_unlock(&m->lock);
	/* checked unlocked: the check may wait for a refresh */
	if (l && !still_current(m, l)) {
		cfs_listing_unref(l);
		l = NULL;
	}
	return l;
}

struct cfs_listing *cfs_listings_put(struct cfs_listings *m, const char *key,
				     struct cfs_listing *built)
{
	struct cfs_listing *l = calloc(1, sizeof(*l));
	struct slot *s = NULL;
	void *old = NULL;

	if (!l) {
		cfs_listing_clear(built);
		return NULL;
	}
	*l = *built;
	memset(built, 0, sizeof(*built));
	l->refs = 1;
	if (!l->ndeps || !(s = calloc(1, sizeof(*s))) ||
	    !(s->key = strdup(key)))
		goto out;
	s->l = cfs_listing_ref(l);
	pthread_mutex_lock(&m->lock);
	if (cfs_hashmap_put(m->slots, key, s, &old) != 0) {
		pthread_mutex_unlock(&m->lock);
		goto out;
	}
	if (old) {
		unlink_slot(m, old);
		slot_free(old);
	}
	push_newest(m, s);
	s = NULL;
	/* drop_slot unlinks the oldest: m->oldest is then the next one */
	while (cfs_hashmap_size(m->slots) > m->cap)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		drop_slot(m, m->oldest);
	pthread_mutex_unlock(&m->lock);
out:
	if (s) {
		cfs_listing_unref(s->l);
		free(s->key);
		free(s);
	}
	return l;
}
