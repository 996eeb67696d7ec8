/*
 * cache.c - the response cache whose rules cache.h lists.
 */
#define _GNU_SOURCE
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "http.h"
#include "log.h"

/* Bumped by a signal handler, read by every thread: atomic, lock-free. */
static unsigned int flush_requests;

/* The outcome of one request, shared by everyone who waited for it. */
struct flight {
	int done;
	int err;
	int users;
	int background; /* read-ahead's, until a process waits for it */
	struct cfs_resp *resp;
};

struct entry {
	struct cfs_resp *good;
	double expires; /* monotonic; good is fresh until then */
	int err;	/* remembered failure, 0 if none */
	double err_expires;
	struct flight *flight;
	int dropped; /* a write staled it while in flight */
	double last_used;
};

/* API paths a write of unknown outcome may have changed, until when. */
struct doubt {
	struct doubt *next;
	char *prefix;
	double until; /* monotonic */
};

struct cfs_cache {
	struct cfs_http *http;
	cfs_fetch_fn source; /* in place of the HTTP layer's GET */
	void *source_arg;
	double ttl;
	struct doubt *doubts;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct cfs_hashmap *entries;
	size_t bytes;
	uint64_t next_gen;
	unsigned int flush_seen;
};

void cfs_cache_request_flush(void)
{
	__atomic_add_fetch(&flush_requests, 1, __ATOMIC_RELAXED);
}

unsigned int cfs_cache_flush_epoch(void)
{
	return __atomic_load_n(&flush_requests, __ATOMIC_RELAXED);
}

static __thread int local_only;

int cfs_cache_local_only(int on)
{
	int was = local_only;

	local_only = on;
	return was;
}

struct cfs_resp *cfs_resp_ref(struct cfs_resp *r)
{
	if (r)
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return r;
}

void cfs_resp_unref(struct cfs_resp *r)
{
	if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	cfs_blob_unref(r->body);
	json_decref(r->json);
	free(r->path);
	free(r);
}

static void flight_release(struct flight *f)
{
	if (--f->users == 0) {
		cfs_resp_unref(f->resp);
		free(f);
	}
}

static void entry_free(void *p)
{
	struct entry *e = p;

	cfs_resp_unref(e->good);
	free(e);
}

struct cfs_cache *cfs_cache_new(struct cfs_http *http, unsigned int ttl)
{
	struct cfs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->entries = cfs_hashmap_new();
	if (!c->entries) {
		free(c);
		return NULL;
	}
	c->http = http;
	c->ttl = ttl;
	c->flush_seen = cfs_cache_flush_epoch();
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	return c;
}

static void doubt_free(struct doubt *d)
{
	free(d->prefix);
	free(d);
}

void cfs_cache_free(struct cfs_cache *c)
{
	if (!c)
		return;
	while (c->doubts) {
		struct doubt *d = c->doubts;

		c->doubts = d->next;
		doubt_free(d);
	}
	cfs_hashmap_free(c->entries, entry_free);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cv);
	free(c);
}

struct cfs_http *cfs_cache_http(struct cfs_cache *c)
{
	return c->http;
}

static size_t entry_bytes(const struct entry *e)
{
	return e->good ? e->good->body->len : 0;
}

static int drop_idle(const char *key, void *value, void *arg)
{
	struct entry *e = value;
	struct cfs_cache *c = arg;

	(void)key;
	if (e->flight)
		return 0;
	c->bytes -= entry_bytes(e);
	entry_free(e);
	return 1;
}

static void flush_if_requested(struct cfs_cache *c)
{
	unsigned int epoch = cfs_cache_flush_epoch();

	if (epoch == c->flush_seen)
		return;
	c->flush_seen = epoch;
	cfs_hashmap_filter(c->entries, drop_idle, c);
	cfs_info("caches emptied on SIGHUP");
}

struct lru_scan {
	struct cfs_cache *c;
	double cutoff;
};

static int drop_older(const char *key, void *value, void *arg)
{
	struct lru_scan *s = arg;
	struct entry *e = value;

	if (e->last_used > s->cutoff)
		return 0;
	return drop_idle(key, value, s->c);
}

static int find_oldest(const char *key, void *value, void *arg)
{
	const struct entry *e = value;
	double *oldest = arg;

	(void)key;
	if (!e->flight && e->last_used < *oldest)
		*oldest = e->last_used;
	return 0;
}

/* Drops least recently used entries until under three quarters of the cap. */
static void trim(struct cfs_cache *c)
{
	while (c->bytes > CFS_CACHE_BYTES * 3 / 4) {
		struct lru_scan s = { c, 1e300 };
		size_t before = c->bytes;

		cfs_hashmap_filter(c->entries, find_oldest, &s.cutoff);
		cfs_hashmap_filter(c->entries, drop_older, &s);
		if (c->bytes == before)
			break;
	}
}

static char *entry_key(const char *path, const char *accept)
{
	char *key;

	if (asprintf(&key, "%s\n%s", accept ? accept : "", path) < 0)
		return NULL;
	return key;
}

static struct entry *entry_get(struct cfs_cache *c, const char *key)
{
	struct entry *e = cfs_hashmap_get(c->entries, key);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (e && cfs_hashmap_put(c->entries, key, e, NULL) != 0) {
		free(e);
		e = NULL;
	}
	return e;
}

static struct cfs_resp *resp_from(struct cfs_cache *c, const char *path,
				  struct cfs_http_response *rs)
{
	struct cfs_resp *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->path = strdup(path);
	if (!r->path) {
		free(r);
		return NULL;
	}
	r->refs = 1;
	r->body = rs->body;
	r->json = rs->json;
	rs->body = NULL;
	rs->json = NULL;
	snprintf(r->request_id, sizeof(r->request_id), "%s", rs->request_id);
	snprintf(r->last_event_id, sizeof(r->last_event_id), "%s",
		 rs->last_event_id);
	r->fetched_at = rs->fetched_at;
	r->gen = ++c->next_gen;
	return r;
}

static int is_definitive(int err)
{
	return err == -ENOENT || err == -EACCES || err == -EINVAL ||
	       err == -EEXIST;
}

/* Whether path is in doubt (dropping the doubts that ended); lock held. */
static int in_doubt(struct cfs_cache *c, const char *path, double now)
{
	struct doubt **p = &c->doubts;
	int doubtful = 0;

	while (*p) {
		struct doubt *d = *p;

		if (d->until <= now) {
			*p = d->next;
			doubt_free(d);
			continue;
		}
		doubtful = doubtful ||
			   strncmp(path, d->prefix, strlen(d->prefix)) == 0;
		p = &d->next;
	}
	return doubtful;
}

/* How long a good response stays fresh. */
static double fresh_for(struct cfs_cache *c, const struct entry *e,
			const char *path, double now)
{
	if (e->dropped)
		return 0;
	return in_doubt(c, path, now) ? CFS_NEGATIVE_TTL : c->ttl;
}

double cfs_cache_fresh_left(struct cfs_cache *c, const struct cfs_resp *r)
{
	double ttl;
	double left;

	pthread_mutex_lock(&c->lock);
	ttl = in_doubt(c, r->path, cfs_monotonic()) ? CFS_NEGATIVE_TTL
						    : c->ttl;
	pthread_mutex_unlock(&c->lock);
	left = r->fetched_at + ttl - cfs_now();
	return left > 0 ? left : 0;
}

/* Records the outcome of a finished request; lock held. */
static void settle(struct cfs_cache *c, struct entry *e, const char *path,
		   struct cfs_http_response *rs)
{
	struct flight *f = e->flight;
	double now = cfs_monotonic();

	if (rs->err == 0) {
		struct cfs_resp *r = resp_from(c, path, rs);

		if (!r) {
			f->err = -ENOMEM;
			goto out;
		}
		c->bytes -= entry_bytes(e);
		cfs_resp_unref(e->good);
		e->good = r;
		c->bytes += entry_bytes(e);
		e->expires = now + fresh_for(c, e, path, now);
		e->err = 0;
		f->resp = cfs_resp_ref(r);
	} else if (is_definitive(rs->err)) {
		c->bytes -= entry_bytes(e);
		cfs_resp_unref(e->good);
		e->good = NULL;
		e->err = rs->err;
		e->err_expires = now + CFS_NEGATIVE_TTL;
		f->err = rs->err;
	} else if (e->good) {
		cfs_warn("serving the copy of %s fetched %.0f s ago: the API "
			 "failed (%s)",
			 path, cfs_now() - e->good->fetched_at,
			 rs->message[0] ? rs->message : strerror(-rs->err));
		e->expires = now + CFS_STALE_RETRY;
		f->resp = cfs_resp_ref(e->good);
	} else {
		e->err = -EIO;
		e->err_expires = now + CFS_STALE_RETRY;
		f->err = -EIO;
	}
out:
	f->done = 1;
	e->flight = NULL;
	e->dropped = 0;
	pthread_cond_broadcast(&c->cv);
}

enum lookup { FRESH, FAILED, WAIT, FETCH };

/* What a lookup must do next; lock held. */
static enum lookup classify(const struct entry *e, double now)
{
	if (e->good && now < e->expires)
		return FRESH;
	if (e->err && now < e->err_expires)
		return FAILED;
	return e->flight ? WAIT : FETCH;
}

static struct flight *flight_start(struct entry *e, int background)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (f) {
		f->users = 1;
		f->background = background || cfs_http_in_background();
		e->flight = f;
	}
	return f;
}

/* A process waits for what read-ahead fetches: it goes first now. */
static void promote(struct cfs_cache *c, struct flight *f, const char *path,
		    const char *accept)
{
	if (!f->background || cfs_http_in_background() || !c->http)
		return;
	f->background = 0;
	cfs_http_promote(c->http, path, accept);
}

static int flight_wait(struct cfs_cache *c, struct flight *f,
		       struct cfs_resp **out)
{
	int err;

	f->users++;
	while (!f->done)
		pthread_cond_wait(&c->cv, &c->lock);
	err = f->err;
	*out = cfs_resp_ref(f->resp);
	flight_release(f);
	return err;
}

struct plain_get {
	struct cfs_http *http;
	const char *accept;
};

static int fetch_plain(void *arg, const char *path,
		       struct cfs_http_response *rs)
{
	struct plain_get *g = arg;
	struct cfs_http_request rq = { .method = "GET",
				       .path = path,
				       .accept = g->accept };

	return cfs_http_perform(g->http, &rq, rs);
}

int cfs_cache_get(struct cfs_cache *c, const char *path, const char *accept,
		  struct cfs_resp **out)
{
	struct plain_get g = { c->http, accept };

	if (c->source)
		return cfs_cache_get_with(c, path, accept, c->source,
					  c->source_arg, out);
	return cfs_cache_get_with(c, path, accept, fetch_plain, &g, out);
}

void cfs_cache_set_source(struct cfs_cache *c, cfs_fetch_fn fetch, void *arg)
{
	c->source = fetch;
	c->source_arg = arg;
}

int cfs_cache_get_with(struct cfs_cache *c, const char *path,
		       const char *accept, cfs_fetch_fn fetch, void *arg,
		       struct cfs_resp **out)
{
	struct cfs_http_response rs;
	char *key = entry_key(path, accept);
	struct entry *e;
	struct flight *f;
	int err = -ENOMEM;

	*out = NULL;
	if (!key)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	flush_if_requested(c);
	e = entry_get(c, key);
	if (!e)
		goto out;
	e->last_used = cfs_monotonic();
	switch (classify(e, e->last_used)) {
	case FRESH:
		*out = cfs_resp_ref(e->good);
		err = 0;
		goto out;
	case FAILED:
		err = e->err;
		goto out;
	case WAIT:
		if (local_only) {
			err = -EAGAIN;
			goto out;
		}
		promote(c, e->flight, path, accept);
		err = flight_wait(c, e->flight, out);
		goto out;
	case FETCH:
		if (local_only) {
			err = -EAGAIN;
			goto out;
		}
		break;
	}
	f = flight_start(e, 0);
	if (!f)
		goto out;
	pthread_mutex_unlock(&c->lock);
	memset(&rs, 0, sizeof(rs));
	fetch(arg, path, &rs);
	pthread_mutex_lock(&c->lock);
	settle(c, e, path, &rs);
	cfs_http_response_clear(&rs);
	err = f->err;
	*out = cfs_resp_ref(f->resp);
	flight_release(f);
	trim(c);
out:
	pthread_mutex_unlock(&c->lock);
	free(key);
	return err;
}

/* The status, errno and messages of an answer, without its body. */
static void copy_outcome(struct cfs_http_response *to,
			 const struct cfs_http_response *from)
{
	memset(to, 0, sizeof(*to));
	to->status = from->status;
	to->err = from->err;
	memcpy(to->request_id, from->request_id, sizeof(to->request_id));
	memcpy(to->message, from->message, sizeof(to->message));
}

/*
 * Starts the missing ones of n fetches at once and waits for them; with
 * first, it gets the outcome of paths[0] (ENOMEM if it did not start).
 */
static void fetch_many(struct cfs_cache *c, const char *const *paths,
		       const char *const *accepts, size_t n, int background,
		       struct cfs_http_response *first)
{
	struct cfs_http_request *rq = calloc(n ? n : 1, sizeof(*rq));
	struct cfs_http_response *rs = calloc(n ? n : 1, sizeof(*rs));
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	struct entry **mine = calloc(n ? n : 1, sizeof(*mine));
	size_t i;
	size_t k = 0;

	if (first) {
		memset(first, 0, sizeof(*first));
		first->err = -ENOMEM;
	}
	/* with a source of its own, every lookup fetches for itself */
	if (!rq || !rs || !mine || local_only || c->source)
		goto out;
	pthread_mutex_lock(&c->lock);
	flush_if_requested(c);
	for (i = 0; i < n; i++) {
		const char *accept = accepts ? accepts[i] : NULL;
		char *key = entry_key(paths[i], accept);
		struct entry *e = key ? entry_get(c, key) : NULL;

		free(key);
		if (!e || classify(e, cfs_monotonic()) != FETCH ||
		    !flight_start(e, background))
			continue;
		e->last_used = cfs_monotonic();
		mine[k] = e;
		rq[k] = (struct cfs_http_request){ .method = "GET",
						   .path = paths[i],
						   .accept = accept,
						   .background = background };
		k++;
	}
	pthread_mutex_unlock(&c->lock);
	cfs_http_perform_many(c->http, rq, rs, k);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < k; i++) {
		struct flight *f = mine[i]->flight;

		if (first && rq[i].path == paths[0])
			copy_outcome(first, &rs[i]);
		settle(c, mine[i], rq[i].path, &rs[i]);
		cfs_http_response_clear(&rs[i]);
		flight_release(f);
	}
	trim(c);
	pthread_mutex_unlock(&c->lock);
out:
	free(rq);
	free(rs);
	free(mine);
}

void cfs_cache_prefetch(struct cfs_cache *c, char *const *paths,
			const char *const *accepts, size_t n, int background)
{
	fetch_many(c, (const char *const *)paths, accepts, n, background,
		   NULL);
}

int cfs_cache_check(struct cfs_cache *c, const char *check_path,
		    const char *const *also, size_t n,
		    struct cfs_http_response *rs)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	const char **paths = calloc(n + 1, sizeof(*paths));

	if (!paths) {
		memset(rs, 0, sizeof(*rs));
		return rs->err = -ENOMEM;
	}
	paths[0] = check_path;
	if (n)
		memcpy(paths + 1, also, n * sizeof(*paths));
	fetch_many(c, paths, NULL, n + 1, 0, rs);
	free(paths);
	return rs->err;
}

struct drop_arg {
	struct cfs_cache *c;
	const char *prefix;
};

static int drop_matching(const char *key, void *value, void *arg)
{
	struct drop_arg *a = arg;
	const char *path = strchr(key, '\n');

	struct entry *e = value;

	if (!path || strncmp(path + 1, a->prefix, strlen(a->prefix)) != 0)
		return 0;
	if (e->flight) {
		e->dropped = 1;
		return 0;
	}
	return drop_idle(key, value, a->c);
}

void cfs_cache_drop_prefix(struct cfs_cache *c, const char *prefix)
{
	struct drop_arg a = { c, prefix };

	pthread_mutex_lock(&c->lock);
	cfs_hashmap_filter(c->entries, drop_matching, &a);
	pthread_mutex_unlock(&c->lock);
}

void cfs_cache_doubt_prefix(struct cfs_cache *c, const char *prefix)
{
	struct doubt *d = calloc(1, sizeof(*d));

	cfs_cache_drop_prefix(c, prefix);
	if (!d || !(d->prefix = strdup(prefix))) {
		free(d);
		return; /* dropped at least: the TTL bounds the rest */
	}
	d->until = cfs_monotonic() + CFS_DOUBT_SECONDS;
	pthread_mutex_lock(&c->lock);
	d->next = c->doubts;
	c->doubts = d;
	pthread_mutex_unlock(&c->lock);
}

struct expire_arg {
	const char *path;
};

static int expire_matching(const char *key, void *value, void *arg)
{
	const struct expire_arg *a = arg;
	const char *path = strchr(key, '\n');
	struct entry *e = value;

	if (path && strcmp(path + 1, a->path) == 0)
		e->expires = 0;
	return 0;
}

void cfs_cache_expire(struct cfs_cache *c, const char *path)
{
	struct expire_arg a = { path };

	pthread_mutex_lock(&c->lock);
	cfs_hashmap_filter(c->entries, expire_matching, &a);
	pthread_mutex_unlock(&c->lock);
}
