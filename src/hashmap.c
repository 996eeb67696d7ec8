/*
 * hashmap.c - separate chaining, power-of-two buckets, doubling at a load
 * factor of one.  Keys are hashed with FNV-1a.
 */
#include "hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct entry {
	struct entry *next;
	void *value;
	char key[];
};

struct cfs_hashmap {
	struct entry **buckets;
	size_t nbuckets;
	size_t size;
};

struct cfs_hashmap *cfs_hashmap_new(void)
{
	struct cfs_hashmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nbuckets = 64;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	return m;
}

void cfs_hashmap_free(struct cfs_hashmap *m, void (*free_value)(void *))
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i];

		while (e) {
			struct entry *next = e->next;

			if (free_value)
				free_value(e->value);
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static size_t bucket_of(const struct cfs_hashmap *m, const char *key)
{
	return cfs_fingerprint(key, strlen(key)) & (m->nbuckets - 1);
}

static struct entry **find_slot(const struct cfs_hashmap *m, const char *key)
{
	struct entry **slot = &m->buckets[bucket_of(m, key)];

	while (*slot && strcmp((*slot)->key, key) != 0)
		slot = &(*slot)->next;
	return slot;
}

void *cfs_hashmap_get(const struct cfs_hashmap *m, const char *key)
{
	struct entry *e = *find_slot(m, key);

	return e ? e->value : NULL;
}

static void grow(struct cfs_hashmap *m)
{
	size_t n = m->nbuckets * 2;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct entry **b = calloc(n, sizeof(*b));
	size_t i;

	if (!b)
		return; /* keep working with longer chains */
	for (i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i];

		while (e) {
			struct entry *next = e->next;
			size_t k = cfs_fingerprint(e->key, strlen(e->key)) &
				   (n - 1);

			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int cfs_hashmap_put(struct cfs_hashmap *m, const char *key, void *value,
		    void **replaced)
{
	struct entry **slot = find_slot(m, key);
	size_t klen;

	if (replaced)
		*replaced = NULL;
	if (*slot) {
		if (replaced)
			*replaced = (*slot)->value;
		(*slot)->value = value;
		return 0;
	}
	klen = strlen(key) + 1;
	*slot = malloc(sizeof(**slot) + klen);
	if (!*slot)
		return -ENOMEM;
	memcpy((*slot)->key, key, klen);
	(*slot)->value = value;
	(*slot)->next = NULL;
	if (++m->size > m->nbuckets)
		grow(m);
	return 0;
}

void *cfs_hashmap_remove(struct cfs_hashmap *m, const char *key)
{
	struct entry **slot = find_slot(m, key);
	struct entry *e = *slot;
	void *value;

	if (!e)
		return NULL;
	*slot = e->next;
	value = e->value;
	free(e);
	m->size--;
	return value;
}

size_t cfs_hashmap_size(const struct cfs_hashmap *m)
{
	return m->size;
}

void cfs_hashmap_filter(struct cfs_hashmap *m,
			int (*visit)(const char *key, void *value, void *arg),
			void *arg)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		struct entry **slot = &m->buckets[i];

		while (*slot) {
			struct entry *e = *slot;

			if (visit(e->key, e->value, arg)) {
				*slot = e->next;
				free(e);
				m->size--;
			} else {
				slot = &e->next;
			}
		}
	}
}
