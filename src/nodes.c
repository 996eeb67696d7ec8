/*
 * nodes.c - the node store: one record per path, on two LRU lists (every
 * fact; the contents held), and the state file that keeps the facts.
 */
#define _GNU_SOURCE
#include "nodes.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskcache.h"
#include "hashmap.h"
#include "log.h"

#define STATE_FORMAT 1

/* A circular list through a sentinel; next of the sentinel is the most
 * recently used. */
struct lru {
	struct lru *prev;
	struct lru *next;
};

struct node {
	struct lru facts; /* on cfs_nodes.facts, always */
	struct lru held;  /* on cfs_nodes.held while content is */
	uint64_t fingerprint;
	time_t mtime;
	struct cfs_blob *content;
	uint64_t version; /* of the source content came from */
	char path[];
};

struct cfs_nodes {
	pthread_mutex_t lock;
	struct cfs_hashmap *map; /* path -> struct node */
	struct lru facts;
	struct lru held;
	size_t nfacts;
	size_t bytes; /* of the contents held */
	size_t cap;
	unsigned int epoch;
	struct cfs_diskcache *disk;
	char *state;
	int dirty; /* a fact changed since the last save */
	int saving;
	int save_failed; /* warned already */
	double saved_at; /* monotonic */
};

#define node_of(link, member)                                                 \
	((struct node *)((char *)(link)-offsetof(struct node, member)))

static void lru_init(struct lru *l)
{
	l->prev = l->next = l;
}

static int lru_empty(const struct lru *l)
{
	return l->next == l;
}

static void lru_unlink(struct lru *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	lru_init(l);
}

static void lru_push_front(struct lru *head, struct lru *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}

static void lru_push_back(struct lru *head, struct lru *l)
{
	lru_push_front(head->prev, l);
}

static void drop_content(struct cfs_nodes *n, struct node *nd)
{
	if (!nd->content)
		return;
	lru_unlink(&nd->held);
	n->bytes -= nd->content->len;
	cfs_blob_unref(nd->content);
	nd->content = NULL;
}

static void forget(struct cfs_nodes *n, struct node *nd)
{
	drop_content(n, nd);
	lru_unlink(&nd->facts);
	cfs_hashmap_remove(n->map, nd->path);
	n->nfacts--;
	n->dirty = 1;
	free(nd);
}

static void trim(struct cfs_nodes *n)
{
	while (n->bytes > n->cap && !lru_empty(&n->held))
		drop_content(n, node_of(n->held.prev, held));
	/* forget unlinks the node: the list's end is then the next one */
	while (n->nfacts > CFS_NODES_MAX_FACTS)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		forget(n, node_of(n->facts.prev, facts));
}

static void touch(struct cfs_nodes *n, struct node *nd)
{
	lru_unlink(&nd->facts);
	lru_push_front(&n->facts, &nd->facts);
	if (nd->content) {
		lru_unlink(&nd->held);
		lru_push_front(&n->held, &nd->held);
	}
}

/* A new fact, least recently used of all (loading) or most (serving). */
static struct node *add_fact(struct cfs_nodes *n, const char *path,
			     uint64_t fingerprint, time_t mtime, int oldest)
{
	size_t len = strlen(path);
	struct node *nd = calloc(1, sizeof(*nd) + len + 1);

	if (!nd)
		return NULL;
	memcpy(nd->path, path, len + 1);
	nd->fingerprint = fingerprint;
	nd->mtime = mtime;
	lru_init(&nd->held);
	if (cfs_hashmap_put(n->map, path, nd, NULL) != 0) {
		free(nd);
		return NULL;
	}
	if (oldest)
		lru_push_back(&n->facts, &nd->facts);
	else
		lru_push_front(&n->facts, &nd->facts);
	n->nfacts++;
	return nd;
}

/* The mtime rule, applied to what path holds. */
static void apply_fingerprint(struct cfs_nodes *n, struct node *nd,
			      uint64_t fingerprint)
{
	time_t now = time(NULL);

	if (fingerprint == nd->fingerprint || fingerprint == CFS_NODES_UNKNOWN)
		return;
	if (nd->fingerprint != CFS_NODES_UNKNOWN)
		nd->mtime = now > nd->mtime ? now : nd->mtime + 1;
	nd->fingerprint = fingerprint;
	n->dirty = 1;
}

/* path's fact with fingerprint applied, made if it is new; NULL: ENOMEM. */
static struct node *fact_for(struct cfs_nodes *n, const char *path,
			     uint64_t fingerprint)
{
	struct node *nd = cfs_hashmap_get(n->map, path);

	if (nd) {
		apply_fingerprint(n, nd, fingerprint);
		touch(n, nd);
		return nd;
	}
	nd = add_fact(n, path, fingerprint, time(NULL), 0);
	if (nd) {
		n->dirty = 1;
		trim(n);
	}
	return nd;
}

/* ---- the state file ------------------------------------------------ */

/* Exactly 16 lowercase hex digits, as facts_json writes them. */
static int parse_fingerprint(const char *hex, uint64_t *out)
{
	if (!hex || strlen(hex) != 16 || strspn(hex, "0123456789abcdef") != 16)
		return -EINVAL;
	*out = strtoull(hex, NULL, 16);
	return 0;
}

/* One [path, fingerprint, mtime] row; a malformed one is skipped. */
static int load_row(struct cfs_nodes *n, json_t *row)
{
	const char *path = json_string_value(json_array_get(row, 0));
	json_t *mtime = json_array_get(row, 2);
	uint64_t fp;

	if (!path || !json_is_integer(mtime) ||
	    parse_fingerprint(json_string_value(json_array_get(row, 1)),
			      &fp) != 0 ||
	    cfs_hashmap_get(n->map, path))
		return 0;
	return add_fact(n, path, fp, (time_t)json_integer_value(mtime), 1)
		       ? 0
		       : -ENOMEM;
}

static int load_facts(struct cfs_nodes *n, const struct cfs_blob *b)
{
	json_t *j = json_loadb(b->data, b->len, 0, NULL);
	json_t *rows = json_object_get(j, "facts");
	json_t *row;
	size_t i;
	int rc = 0;

	if (json_integer_value(json_object_get(j, "format")) != STATE_FORMAT ||
	    !json_is_array(rows)) {
		json_decref(j);
		return -EINVAL;
	}
	json_array_foreach(rows, i, row) {
		if (n->nfacts == CFS_NODES_MAX_FACTS)
			break;
		rc = load_row(n, row);
		if (rc)
			break;
	}
	json_decref(j);
	return rc;
}

static void load(struct cfs_nodes *n)
{
	struct cfs_blob *b;
	int rc = cfs_diskcache_read_state(n->disk, n->state, &b);

	if (rc == -ENOENT)
		return;
	if (!rc)
		rc = load_facts(n, b);
	cfs_blob_unref(b);
	if (rc)
		cfs_warn("cannot use the node state file %s (%s): mtimes "
			 "start afresh",
			 n->state, strerror(-rc));
}

/*
 * Every fact, the most recently used first; called under the lock.  A
 * path that is not UTF-8 cannot be a JSON string: its fact is not kept.
 */
static json_t *facts_json(struct cfs_nodes *n)
{
	json_t *rows = json_array();
	json_t *j = json_pack("{s:i, s:o}", "format", STATE_FORMAT, "facts",
			      rows);
	struct lru *l;
	char hex[17];

	for (l = n->facts.next; j && l != &n->facts; l = l->next) {
		struct node *nd = node_of(l, facts);
		json_t *row;

		snprintf(hex, sizeof(hex), "%016llx",
			 (unsigned long long)nd->fingerprint);
		row = json_pack("[s, s, I]", nd->path, hex,
				(json_int_t)nd->mtime);
		if (row && json_array_append_new(rows, row) != 0) {
			json_decref(j);
			j = NULL;
		}
	}
	return j;
}

/* A failed save leaves the facts to the next one; warned once a row. */
static void note_save(struct cfs_nodes *n, int rc)
{
	int warn;

	pthread_mutex_lock(&n->lock);
	n->saving = 0;
	if (rc)
		n->dirty = 1;
	warn = rc && !n->save_failed;
	n->save_failed = rc != 0;
	pthread_mutex_unlock(&n->lock);
	if (warn)
		cfs_warn("cannot save the node state file %s: %s", n->state,
			 strerror(-rc));
}

int cfs_nodes_save(struct cfs_nodes *n)
{
	json_t *j = NULL;
	char *text;
	int due;
	int rc;

	pthread_mutex_lock(&n->lock);
	due = n->disk && n->dirty && !n->saving;
	if (due) {
		j = facts_json(n);
		n->saving = 1;
		n->dirty = 0;
		n->saved_at = cfs_monotonic();
	}
	pthread_mutex_unlock(&n->lock);
	if (!due)
		return 0;
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	rc = text ? cfs_diskcache_write_state(n->disk, n->state, text,
					      strlen(text))
		  : -ENOMEM;
	free(text);
	note_save(n, rc);
	return rc;
}

/* Under the lock: whether the caller should save once it has let go. */
static int save_due(const struct cfs_nodes *n)
{
	return n->disk && n->dirty && !n->saving &&
	       cfs_monotonic() - n->saved_at >= CFS_NODES_SAVE_EVERY;
}

/* ---- the store ----------------------------------------------------- */

struct cfs_nodes *cfs_nodes_new(size_t cap, struct cfs_diskcache *disk,
				const char *state)
{
	struct cfs_nodes *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->map = cfs_hashmap_new();
	n->state = strdup(state);
	if (!n->map || !n->state) {
		cfs_hashmap_free(n->map, NULL);
		free(n->state);
		free(n);
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	lru_init(&n->facts);
	lru_init(&n->held);
	n->cap = cap;
	n->disk = disk;
	if (disk)
		load(n);
	n->saved_at = cfs_monotonic();
	return n;
}

void cfs_nodes_free(struct cfs_nodes *n)
{
	if (!n)
		return;
	cfs_nodes_save(n);
	/* forget unlinks the node: the list's head is then the next one */
	while (!lru_empty(&n->facts))
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		forget(n, node_of(n->facts.next, facts));
	cfs_hashmap_free(n->map, NULL);
	pthread_mutex_destroy(&n->lock);
	free(n->state);
	free(n);
}

void cfs_nodes_set_cap(struct cfs_nodes *n, size_t cap)
{
	pthread_mutex_lock(&n->lock);
	n->cap = cap;
	trim(n);
	pthread_mutex_unlock(&n->lock);
}

int cfs_nodes_content(struct cfs_nodes *n, const char *path, uint64_t version,
		      struct cfs_blob **content, time_t *mtime)
{
	struct node *nd;
	int rc = -ENOENT;

	pthread_mutex_lock(&n->lock);
	nd = cfs_hashmap_get(n->map, path);
	if (nd && nd->content && nd->version == version) {
		*content = cfs_blob_ref(nd->content);
		*mtime = nd->mtime;
		touch(n, nd);
		rc = 0;
	}
	pthread_mutex_unlock(&n->lock);
	return rc;
}

int cfs_nodes_keep(struct cfs_nodes *n, const char *path, uint64_t version,
		   struct cfs_blob *content, time_t *mtime)
{
	uint64_t fp = cfs_fingerprint(content->data, content->len);
	struct node *nd;
	int due;

	pthread_mutex_lock(&n->lock);
	nd = fact_for(n, path, fp);
	if (nd) {
		drop_content(n, nd);
		nd->content = cfs_blob_ref(content);
		nd->version = version;
		n->bytes += content->len;
		lru_push_front(&n->held, &nd->held);
		*mtime = nd->mtime;
		trim(n);
	}
	due = save_due(n);
	pthread_mutex_unlock(&n->lock);
	if (due)
		cfs_nodes_save(n);
	return nd ? 0 : -ENOMEM;
}

time_t cfs_nodes_mtime(struct cfs_nodes *n, const char *path,
		       uint64_t fingerprint)
{
	struct node *nd;
	time_t mtime;
	int due;

	pthread_mutex_lock(&n->lock);
	nd = fact_for(n, path, fingerprint);
	mtime = nd ? nd->mtime : time(NULL);
	due = save_due(n);
	pthread_mutex_unlock(&n->lock);
	if (due)
		cfs_nodes_save(n);
	return mtime;
}

void cfs_nodes_flush(struct cfs_nodes *n, unsigned int epoch)
{
	pthread_mutex_lock(&n->lock);
	if (epoch != n->epoch)
		while (!lru_empty(&n->held))
			drop_content(n, node_of(n->held.next, held));
	n->epoch = epoch;
	pthread_mutex_unlock(&n->lock);
}

void cfs_nodes_usage(struct cfs_nodes *n, size_t *bytes, size_t *facts)
{
	pthread_mutex_lock(&n->lock);
	*bytes = n->bytes;
	*facts = n->nfacts;
	pthread_mutex_unlock(&n->lock);
}

uint64_t cfs_nodes_ino(const char *path)
{
	uint64_t h;

	if (!*path)
		return 1;
	h = cfs_fingerprint(path, strlen(path));
	return h < 2 ? h + 2 : h;
}
