/*
 * tree.c - path routing over a provider's route table, listings, file
 * contents, and what the node store (nodes.h) is told of them.
 *
 * The node store holds, per path, the rendered bytes and the version of
 * the source they were rendered from (a response generation, or an
 * invoice fingerprint for persistent files).  While the source is the same
 * the same bytes are served, so size and mtime never move during a read;
 * when the source changes the bytes are rendered again, and the mtime moves
 * only if they differ.  Directories and symlinks get facts too: their
 * names and their target.
 */
#define _GNU_SOURCE
#include "tree.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "cache.h"
#include "diskcache.h"
#include "http.h"
#include "listing.h"
#include "live.h"
#include "log.h"
#include "nodes.h"
#include "provider.h"
#include "readahead.h"
#include "render.h"
#include "routes.h"

/* directories whose listings are kept indexed, at most */
#define LISTINGS_KEPT 4096

struct cfs_tree {
	const struct cfs_provider *p;
	struct cfs_cache *cache;
	struct cfs_diskcache *disk;
	char *base_url;
	struct cfs_routes *routes;
	struct cfs_listings *listings;
	struct cfs_live_set *live;
	struct cfs_readahead *readahead;
	unsigned int log_lines;
	unsigned int ttl;
	struct cfs_nodes *nodes;
	void (*changed)(void *arg);
	void *changed_arg;
};

/* ---- small helpers ------------------------------------------------- */

json_t *cfs_json_at(json_t *j, const char *dotted)
{
	char part[128];
	const char *p = dotted;

	while (j && p && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		j = json_object_get(j, part);
		p = dot ? dot + 1 : NULL;
	}
	return j;
}

int cfs_json_date(json_t *j, time_t *out)
{
	if (json_is_string(j))
		return cfs_parse_iso8601(json_string_value(j), out);
	if (json_is_integer(j) && json_integer_value(j) > 0) {
		*out = (time_t)(json_integer_value(j) / 1000);
		return 0;
	}
	return -EINVAL;
}

char *cfs_tree_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *copy = e ? strdup(e) : NULL;

	curl_free(e);
	return copy;
}

time_t cfs_tree_now(const struct cfs_tree *t)
{
	(void)t;
	return time(NULL);
}

const char *cfs_vars_value(const struct cfs_vars *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->value[i];
	return NULL;
}

json_t *cfs_vars_item(const struct cfs_vars *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return v->item[i];
	return NULL;
}

/* Every slot: those past n are NULL (resolve starts from zeroes). */
static void vars_clear(struct cfs_vars *v)
{
	size_t i;

	for (i = 0; i < CFS_MAX_DEPTH; i++) {
		free(v->value[i]);
		json_decref(v->item[i]);
		cfs_resp_unref(v->src[i]);
	}
	memset(v, 0, sizeof(*v));
}

/* ---- the tree ---------------------------------------------------- */

struct cfs_tree *cfs_tree_new(const struct cfs_provider *p,
			      struct cfs_cache *cache,
			      struct cfs_diskcache *disk, const char *base_url,
			      char *err, size_t errlen)
{
	struct cfs_tree *t = calloc(1, sizeof(*t));
	char state[128];

	if (!t)
		return NULL;
	t->p = p;
	t->cache = cache;
	t->disk = disk;
	t->log_lines = 1000;
	t->base_url = strdup(base_url);
	/* one file per provider: mounts of the API host share the directory */
	snprintf(state, sizeof(state), "nodes-%s.json", p->name);
	t->nodes = cfs_nodes_new(CFS_NODES_CACHE_BYTES, disk, state);
	t->listings = cfs_listings_new(cache, LISTINGS_KEPT);
	t->live = cfs_live_new(cache ? cfs_cache_http(cache) : NULL);
	t->readahead = cfs_readahead_new(t, cache);
	t->routes = cfs_routes_compile(p, err, errlen);
	if (!t->base_url || !t->nodes || !t->listings || !t->live ||
	    !t->readahead || !t->routes) {
		cfs_tree_free(t);
		return NULL;
	}
	return t;
}

struct cfs_live_set *cfs_tree_live(struct cfs_tree *t)
{
	return t->live;
}

void cfs_tree_read_ahead(struct cfs_tree *t, const char *dir)
{
	cfs_readahead_dir(t->readahead, dir);
}

void cfs_tree_shutdown(struct cfs_tree *t)
{
	cfs_readahead_stop(t->readahead);
	cfs_live_stop_all(t->live);
}

void cfs_tree_set_logs(struct cfs_tree *t, unsigned int lines,
		       unsigned int ttl)
{
	t->log_lines = lines;
	t->ttl = ttl;
}

void cfs_tree_set_node_cache(struct cfs_tree *t, size_t bytes)
{
	cfs_nodes_set_cap(t->nodes, bytes);
}

void cfs_tree_on_change(struct cfs_tree *t, void (*changed)(void *arg),
			void *arg)
{
	t->changed = changed;
	t->changed_arg = arg;
}

void cfs_tree_free(struct cfs_tree *t)
{
	if (!t)
		return;
	cfs_readahead_free(t->readahead);
	cfs_routes_free(t->routes);
	cfs_listings_free(t->listings);
	cfs_live_free(t->live);
	cfs_nodes_free(t->nodes);
	free(t->base_url);
	free(t);
}

static int expand(struct cfs_tree *t, const struct cfs_template *tp,
		  const struct cfs_vars *v, struct cfs_buf *out)
{
	return cfs_template_expand(tp, t, v, out);
}

/* While a listing is built, every fetch it makes is one it depends on. */
static __thread struct cfs_listing *recording;

int cfs_tree_fetch(struct cfs_tree *t, const char *path, const char *accept,
		   struct cfs_resp **out)
{
	int rc = cfs_cache_get(t->cache, path, accept, out);

	if (rc || !recording)
		return rc;
	rc = cfs_listing_depend(recording, path, accept, (*out)->gen);
	if (rc) {
		cfs_resp_unref(*out);
		*out = NULL;
	}
	return rc;
}

void cfs_tree_prefetch(struct cfs_tree *t, char *const *paths, size_t n)
{
	cfs_cache_prefetch(t->cache, paths, NULL, n, 0);
}

/* ---- listings ------------------------------------------------------ */

static int item_name(json_t *item, const struct cfs_jpath *key, char *out,
		     size_t len)
{
	json_t *k = cfs_jpath_get(item, key);

	if (json_is_string(k))
		snprintf(out, len, "%s", json_string_value(k));
	else if (json_is_integer(k))
		snprintf(out, len, "%lld", (long long)json_integer_value(k));
	else
		return -ENOENT;
	return 0;
}

/* The API list of a row, by its list, list_at, key and where. */
static int list_from_api(struct cfs_tree *t, const struct cfs_croute *cr,
			 const char *path, struct cfs_listing *out)
{
	json_t *arr;
	json_t *item;
	size_t i;
	char name[512];
	int rc;

	rc = cfs_tree_fetch(t, path, NULL, &out->src);
	if (rc)
		return rc;
	arr = cfs_jpath_get(out->src->json, &cr->list_at);
	json_array_foreach(arr, i, item) {
		if (!cfs_cond_holds(&cr->where, item) ||
		    item_name(item, &cr->key, name, sizeof(name)) != 0)
			continue;
		rc = cfs_listing_add(out, name, item);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * A listing is known by its row and, for an API list, the expanded list
 * path; for a lister, the values it is given.
 */
static int listing_key(struct cfs_tree *t, const struct cfs_croute *cr,
		       const struct cfs_vars *v, struct cfs_buf *key,
		       size_t *path_at)
{
	size_t i;
	int rc;

	rc = cfs_buf_printf(key, "%zu:", (size_t)(cr - t->routes->route));
	*path_at = key->len;
	if (!cr->lister)
		return rc ? rc : expand(t, &cr->list, v, key);
	for (i = 0; !rc && i < v->n; i++)
		rc = cfs_buf_printf(key, "%s/", v->value[i]);
	return rc;
}

static int build_listing(struct cfs_tree *t, const struct cfs_croute *cr,
			 const struct cfs_vars *v, const char *path,
			 struct cfs_listing *out)
{
	struct cfs_listing *outer = recording;
	int rc = 0;

	recording = out;
	if (!cr->lister)
		rc = list_from_api(t, cr, path, out);
	else if (cr->lister->list)
		rc = cr->lister->list(t, v, out);
	recording = outer;
	return rc;
}

/* The names of row cr's variable, given the variables above it. */
static int get_listing(struct cfs_tree *t, const struct cfs_croute *cr,
		       const struct cfs_vars *v, struct cfs_listing **out)
{
	struct cfs_buf key = { 0 };
	struct cfs_listing built = { 0 };
	size_t path_at;
	int rc;

	rc = listing_key(t, cr, v, &key, &path_at);
	if (rc)
		goto out;
	*out = cfs_listings_get(t->listings, key.data);
	if (*out)
		goto out;
	rc = build_listing(t, cr, v, key.data + path_at, &built);
	if (rc) {
		cfs_listing_clear(&built);
		goto out;
	}
	*out = cfs_listings_put(t->listings, key.data, &built);
	rc = *out ? 0 : -ENOMEM;
out:
	cfs_buf_free(&key);
	return rc;
}

/* ---- resolving a path ---------------------------------------------- */

static int same_body(const struct cfs_resp *a, const struct cfs_resp *b)
{
	return a && b && a->body->len == b->body->len &&
	       memcmp(a->body->data, b->body->data, a->body->len) == 0;
}

/*
 * A name the listing lacks may have been created since: if the listing is
 * older than the negative TTL, it is fetched again, once.
 */
static int list_again_if_old(struct cfs_tree *t, const struct cfs_croute *def,
			     const struct cfs_vars *v, struct cfs_listing **l)
{
	struct cfs_resp *before = (*l)->src;
	size_t i;
	int rc;

	if (!before || cfs_now() - before->fetched_at < CFS_NEGATIVE_TTL)
		return -ENOENT;
	cfs_resp_ref(before);
	for (i = 0; i < (*l)->ndeps; i++)
		cfs_cache_expire(t->cache, (*l)->deps[i].path);
	cfs_listing_unref(*l);
	*l = NULL;
	rc = get_listing(t, def, v, l);
	/* what the kernel was told of this listing's entries may be stale */
	if (!rc && t->changed && !same_body((*l)->src, before))
		t->changed(t->changed_arg);
	cfs_resp_unref(before);
	return rc;
}

static int bind_value(struct cfs_vars *v, const struct cfs_croute *cr,
		      const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -ENOMEM;
	v->name[v->n] = cr->var[v->n];
	v->value[v->n++] = copy;
	/* the next call binds the next slot: the analyzer loses v->n across
	 * a listing's lookups */
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	return 0;
}

/* Binds the next slot to value if the listing that defines it has it. */
static int bind_listed(struct cfs_tree *t, const struct cfs_croute *cr,
		       const char *value, struct cfs_vars *v)
{
	const struct cfs_croute *def = cr->def[v->n];
	struct cfs_listing *l = NULL;
	size_t i;
	int rc;

	rc = get_listing(t, def, v, &l);
	if (rc)
		return rc;
	rc = cfs_listing_find(l, value, &i);
	if (rc && list_again_if_old(t, def, v, &l) == 0)
		rc = cfs_listing_find(l, value, &i);
	if (rc == 0) {
		v->item[v->n] = json_incref(l->items[i]);
		v->src[v->n] = cfs_resp_ref(l->src);
	}
	if (rc && def->lister && def->lister->accepts &&
	    def->lister->accepts(value))
		rc = 0;
	if (rc == 0)
		rc = bind_value(v, cr, value);
	cfs_listing_unref(l);
	return rc;
}

static int only_if_holds(const struct cfs_croute *cr, const struct cfs_vars *v)
{
	return !cr->only_if.set ||
	       (cr->only_if.slot < v->n &&
		cfs_cond_holds(&cr->only_if, v->item[cr->only_if.slot]));
}

static size_t split_path(char *copy, char **comp)
{
	size_t n = 0;
	char *save = NULL;
	char *tok;

	for (tok = strtok_r(copy, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (n == CFS_MAX_DEPTH)
			return CFS_MAX_DEPTH + 1;
		comp[n++] = tok;
	}
	return n;
}

/* Finds the row of path and binds its variables, checking each. */
static int resolve(struct cfs_tree *t, const char *path,
		   const struct cfs_croute **out, struct cfs_vars *v)
{
	char *copy = strdup(path);
	char *comp[CFS_MAX_DEPTH];
	const struct cfs_croute *cr;
	size_t n;
	size_t i;
	int rc = 0;

	memset(v, 0, sizeof(*v));
	if (!copy)
		return -ENOMEM;
	n = split_path(copy, comp);
	cr = cfs_routes_match(t->routes, comp, n);
	if (!cr) {
		rc = -ENOENT;
		goto out;
	}
	for (i = 0; i < n && !rc; i++) {
		char value[512];

		if (!cr->seg[i].var)
			continue;
		cfs_segment_value(&cr->seg[i], comp[i], value, sizeof(value));
		/* a name being created is, by definition, not listed yet */
		if (cr->r->kind == CFS_NEWFILE && i == n - 1)
			rc = bind_value(v, cr, value);
		else
			rc = bind_listed(t, cr, value, v);
	}
	if (!rc && !only_if_holds(cr, v))
		rc = -ENOENT;
	*out = cr;
out:
	free(copy);
	if (rc)
		vars_clear(v);
	return rc;
}

/* ---- file contents ------------------------------------------------- */

/* Where a file's bytes come from, before rendering. */
struct source {
	struct cfs_resp *resp; /* the response, if any */
	json_t *json;	       /* what to render */
	struct cfs_blob *raw;  /* for CFS_RENDER_RAW */
	/* a persisted copy, read only if the node store lacks its render */
	char *disk_api;
	char disk_fp[17];
	uint64_t version;
	char *url;
	char request_id[128];
	double fetched_at;
	time_t date; /* a view's own date; 0: none */
};

static void source_clear(struct source *s)
{
	cfs_resp_unref(s->resp);
	cfs_blob_unref(s->raw);
	free(s->disk_api);
	free(s->url);
}

static char *full_url(const struct cfs_tree *t, const char *path)
{
	char *url;

	if (asprintf(&url, "%s%s", t->base_url, path) < 0)
		return NULL;
	return url;
}

static void source_from_resp(struct cfs_tree *t, struct source *s,
			     struct cfs_resp *r)
{
	s->resp = r;
	s->json = r->json;
	s->raw = cfs_blob_ref(r->body);
	s->version = r->gen;
	s->url = full_url(t, r->path);
	snprintf(s->request_id, sizeof(s->request_id), "%s", r->request_id);
	s->fetched_at = r->fetched_at;
}

static void item_fingerprint(json_t *item, char out[17])
{
	char *text = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);

	snprintf(out, 17, "%016llx",
		 text ? (unsigned long long)cfs_fingerprint(text, strlen(text))
		      : 0ULL);
	free(text);
}

/* Persistent files: the disk copy while the item is unchanged. */
static int source_from_disk(struct cfs_tree *t, struct source *s,
			    const char *api, const char *fp)
{
	struct cfs_disk_meta meta;

	if (!t->disk || cfs_diskcache_meta(t->disk, api, fp, &meta) != 0)
		return -ENOENT;
	s->disk_api = strdup(api);
	if (!s->disk_api)
		return -ENOMEM;
	snprintf(s->disk_fp, sizeof(s->disk_fp), "%s", fp);
	s->url = full_url(t, api);
	snprintf(s->request_id, sizeof(s->request_id), "%s", meta.request_id);
	s->fetched_at = meta.fetched_at;
	return 0;
}

static void keep_on_disk(struct cfs_tree *t, const struct source *s,
			 const char *api, const char *fp)
{
	struct cfs_disk_meta meta = { .fetched_at = s->fetched_at };

	if (!t->disk)
		return;
	snprintf(meta.request_id, sizeof(meta.request_id), "%s",
		 s->request_id);
	cfs_diskcache_put(t->disk, api, fp, s->raw, &meta);
}

static const struct cfs_fetch_kind *kind_of(const struct cfs_croute *cr)
{
	return cr->r->fetch ? cr->r->fetch : &cfs_fetch_get;
}

static int source_from_get(struct cfs_tree *t, const struct cfs_croute *cr,
			   const struct cfs_vars *v, struct source *s)
{
	const struct cfs_fetch_kind *kind = kind_of(cr);
	struct cfs_fetch_ctx ctx = { t->cache, t->log_lines };
	struct cfs_buf api = { 0 };
	json_t *item = v->n ? v->item[v->n - 1] : NULL;
	struct cfs_resp *resp;
	char fp[17];
	int persist = kind->persisted && item;
	int rc;

	rc = expand(t, &cr->get, v, &api);
	if (rc)
		goto out;
	if (persist) {
		item_fingerprint(item, fp);
		s->version = strtoull(fp, NULL, 16);
		if (source_from_disk(t, s, api.data, fp) == 0)
			goto out;
	}
	rc = kind->fetch(&ctx, api.data, cr->r->accept, &resp);
	if (rc)
		goto out;
	source_from_resp(t, s, resp);
	if (persist) {
		s->version = strtoull(fp, NULL, 16);
		keep_on_disk(t, s, api.data, fp);
	}
out:
	cfs_buf_free(&api);
	return rc;
}

static int source_from_item(struct cfs_tree *t, const struct cfs_vars *v,
			    struct source *s)
{
	struct cfs_resp *src;

	if (!v->n || !v->item[v->n - 1])
		return -ENOENT;
	src = v->src[v->n - 1];
	s->json = v->item[v->n - 1];
	s->version = src ? src->gen : 0;
	if (src) {
		s->url = full_url(t, src->path);
		snprintf(s->request_id, sizeof(s->request_id), "%s",
			 src->request_id);
		s->fetched_at = src->fetched_at;
	}
	return 0;
}

/*
 * A view's bytes stand in for the response's.  Their version is their
 * fingerprint: a view may read more than one response, or the clock (the
 * months of a chart), so no response generation stands for them.
 */
static int source_from_view(struct cfs_tree *t, const struct cfs_croute *cr,
			    const struct cfs_vars *v, struct source *s)
{
	struct cfs_buf b = { 0 };
	int rc = cr->r->view(t, v, s->json, &b, &s->date);

	if (rc) {
		cfs_buf_free(&b);
		return rc;
	}
	cfs_blob_unref(s->raw);
	s->raw = cfs_buf_to_blob(&b);
	if (!s->raw)
		return -ENOMEM;
	s->version = cfs_fingerprint(s->raw->data, s->raw->len);
	return 0;
}

/*
 * The bytes of path for this source version: the remembered ones if the
 * source did not change, else freshly rendered ones.  A SIGHUP drops the
 * remembered bytes, not the mtimes.
 */
static int node_content(struct cfs_tree *t, const char *path,
			const struct cfs_croute *cr, struct source *s,
			struct cfs_node *out)
{
	const struct cfs_route *r = cr->r;
	struct cfs_blob *b;
	int rc;

	cfs_nodes_flush(t->nodes, cfs_cache_flush_epoch());
	if (cfs_nodes_content(t->nodes, path, s->version, &out->content,
			      &out->mtime) == 0)
		return 0;
	if (!s->raw && s->disk_api) {
		struct cfs_disk_meta meta;

		/* gone since its .meta was read: the next lookup fetches */
		if (cfs_diskcache_get(t->disk, s->disk_api, s->disk_fp,
				      &s->raw, &meta) != 0)
			return -EIO;
	}
	b = r->render == CFS_RENDER_RAW || r->view
		    ? cfs_blob_ref(s->raw)
		    : cfs_render(r->render, cfs_jpath_get(s->json, &cr->at));
	if (!b)
		return -EIO;
	rc = cfs_nodes_keep(t->nodes, path, s->version, b, &out->mtime);
	if (rc) {
		cfs_blob_unref(b);
		return rc;
	}
	out->content = b;
	return 0;
}

static int follow_of(struct cfs_tree *t, const struct cfs_croute *cr,
		     const struct cfs_vars *v, const struct source *s,
		     struct cfs_node *out)
{
	struct cfs_buf path = { 0 };
	int rc = expand(t, &cr->get, v, &path);

	if (rc) {
		cfs_buf_free(&path);
		return rc;
	}
	out->follow = path.data;
	out->fetch = kind_of(cr);
	snprintf(out->last_event_id, sizeof(out->last_event_id), "%s",
		 s->resp ? s->resp->last_event_id : "");
	return 0;
}

/*
 * A date of the file's own, where it has one, in place of the node
 * store's: a view's, the resource's, or a log's newest event's (its live
 * follower goes on from there, so the mtime never moves back while it is
 * open); a view's bytes are not its fetch kind's, so only it dates them.
 */
static void own_date(const struct cfs_croute *cr, const struct cfs_vars *v,
		     const struct source *s, struct cfs_node *out)
{
	const struct cfs_fetch_kind *kind = kind_of(cr);
	time_t when = s->date;
	int dated = when != 0;

	if (!dated && cr->mtime.n && v->n)
		dated = cfs_json_date(cfs_jpath_get(v->item[v->n - 1],
						    &cr->mtime),
				      &when) == 0;
	if (!dated && kind->content_date && !cr->r->view)
		dated = kind->content_date(out->content->data,
					   out->content->len, &when) == 0;
	if (dated)
		out->mtime = when;
}

static int file_node(struct cfs_tree *t, const char *path,
		     const struct cfs_croute *cr, const struct cfs_vars *v,
		     struct cfs_node *out)
{
	struct source s = { 0 };
	int rc;

	if (cr->get.n)
		rc = source_from_get(t, cr, v, &s);
	else
		rc = cr->r->view ? 0 : source_from_item(t, v, &s);
	if (!rc && cr->r->view)
		rc = source_from_view(t, cr, v, &s);
	if (!rc)
		rc = node_content(t, path, cr, &s, out);
	if (!rc && kind_of(cr)->follow && !cr->r->view)
		rc = follow_of(t, cr, v, &s, out);
	if (!rc) {
		own_date(cr, v, &s, out);
		out->url = s.url;
		s.url = NULL;
		snprintf(out->request_id, sizeof(out->request_id), "%s",
			 s.request_id);
		out->fetched_at = s.fetched_at;
		if (s.resp)
			out->fresh_for = cfs_cache_fresh_left(t->cache,
							      s.resp);
		else if (cr->r->view)
			/* what it fetched by itself is not known here */
			out->fresh_for = 0;
	}
	source_clear(&s);
	return rc;
}

static void meta_from_binding(struct cfs_tree *t, const struct cfs_vars *v,
			      struct cfs_node *out)
{
	struct cfs_resp *src = v->n ? v->src[v->n - 1] : NULL;

	if (!src)
		return;
	out->url = full_url(t, src->path);
	snprintf(out->request_id, sizeof(out->request_id), "%s",
		 src->request_id);
	out->fetched_at = src->fetched_at;
}

/* Directories where files are written, created or removed: 0755. */
static int dir_writable(const struct cfs_croute *cr, const struct cfs_vars *v)
{
	size_t c;

	for (c = 0; c < cr->nchildren; c++) {
		const struct cfs_croute *child = cr->children[c];

		if ((child->r->write_method ||
		     child->r->kind == CFS_NEWFILE) &&
		    only_if_holds(child, v))
			return 1;
	}
	return 0;
}

static int file_writable(const struct cfs_route *r, const struct cfs_vars *v)
{
	return r->kind == CFS_FILE && r->write_method &&
	       (!r->writable || r->writable(v));
}

static int add_name(void *arg, const char *name, enum cfs_kind kind,
		    enum cfs_cost cost)
{
	uint64_t *sum = arg;

	(void)kind;
	(void)cost;
	*sum += cfs_fingerprint(name, strlen(name));
	return 0;
}

/*
 * A directory's fingerprint is 1 plus the sum of its names', so that its
 * mtime moves when entries come or go, whatever their order.  The names
 * count only when knowing them takes no request: a stat of a directory
 * costs what it did, and its fact stands until its listing is cached.
 */
static time_t dir_mtime(struct cfs_tree *t, const char *path)
{
	uint64_t names = 1;
	int was = cfs_cache_local_only(1);
	int rc = cfs_tree_readdir(t, path, add_name, &names);

	cfs_cache_local_only(was);
	return cfs_nodes_mtime(t->nodes, path,
			       rc == 0 ? names : CFS_NODES_UNKNOWN);
}

/* A symlink's fingerprint is its target's. */
static time_t link_mtime(struct cfs_tree *t, const char *path,
			 const struct cfs_buf *target)
{
	return cfs_nodes_mtime(t->nodes, path,
			       cfs_fingerprint(target->data, target->len));
}

/* What is left of the TTL of the listings that named path's segments,
 * if less than left. */
static double fresh_left(struct cfs_tree *t, const struct cfs_vars *v,
			 double left)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		double l = v->src[i]
				   ? cfs_cache_fresh_left(t->cache, v->src[i])
				   : left;

		if (l < left)
			left = l;
	}
	return left;
}

int cfs_tree_node(struct cfs_tree *t, const char *path, struct cfs_node *out)
{
	const struct cfs_croute *cr;
	struct cfs_vars v;
	struct cfs_buf link = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = resolve(t, path, &cr, &v);
	if (rc)
		return rc;
	out->fresh_for = t->ttl;
	out->kind = cr->r->kind;
	out->writable = cr->r->kind == CFS_DIR ? dir_writable(cr, &v)
					       : file_writable(cr->r, &v);
	out->takes_writes = cr->r->kind == CFS_FILE && cr->r->write_method;
	switch (cr->r->kind) {
	case CFS_FILE:
		rc = file_node(t, path, cr, &v, out);
		break;
	case CFS_NEWFILE:
		rc = -ENOENT;
		break;
	case CFS_LINK:
		rc = expand(t, &cr->link, &v, &link);
		out->link = link.data;
		if (!rc)
			out->mtime = link_mtime(t, path, &link);
		meta_from_binding(t, &v, out);
		break;
	case CFS_DIR:
		meta_from_binding(t, &v, out);
		out->mtime = dir_mtime(t, path);
		break;
	}
	out->fresh_for = fresh_left(t, &v, out->fresh_for);
	vars_clear(&v);
	if (rc)
		cfs_node_clear(out);
	return rc;
}

int cfs_tree_node_cached(struct cfs_tree *t, const char *path,
			 struct cfs_node *out)
{
	int rc;

	cfs_cache_local_only(1);
	rc = cfs_tree_node(t, path, out);
	cfs_cache_local_only(0);
	return rc;
}

void cfs_node_clear(struct cfs_node *n)
{
	cfs_blob_unref(n->content);
	free(n->link);
	free(n->url);
	free(n->follow);
	memset(n, 0, sizeof(*n));
}

/* ---- directories --------------------------------------------------- */

/* Directories, links and listed items: the listing holds what they show;
 * files of their own GET: as their fetch kind says; a view that fetches
 * by itself: known only if its fetches are cached. */
static enum cfs_cost cost_of(const struct cfs_croute *cr)
{
	if (cr->r->kind == CFS_FILE && cr->r->view && !cr->get.n)
		return CFS_COST_CACHED;
	if (cr->r->kind != CFS_FILE || !cr->get.n)
		return CFS_COST_NONE;
	return kind_of(cr)->listing_cost;
}

static int emit_listed(struct cfs_tree *t, const struct cfs_croute *child,
		       const struct cfs_vars *v, cfs_emit_fn emit, void *arg)
{
	const struct cfs_segment *s = &child->seg[child->nseg - 1];
	struct cfs_listing *l = NULL;
	enum cfs_cost cost = cost_of(child);
	char name[1024];
	size_t i;
	int rc;

	rc = get_listing(t, child, v, &l);
	for (i = 0; !rc && i < l->n; i++) {
		snprintf(name, sizeof(name), "%s%s%s", s->prefix, l->names[i],
			 s->suffix);
		rc = emit(arg, name, child->r->kind, cost);
	}
	cfs_listing_unref(l);
	return rc;
}

int cfs_tree_readdir(struct cfs_tree *t, const char *path, cfs_emit_fn emit,
		     void *arg)
{
	const struct cfs_croute *cr;
	struct cfs_vars v;
	size_t i;
	int rc;

	rc = resolve(t, path, &cr, &v);
	if (rc)
		return rc;
	if (cr->r->kind != CFS_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	for (i = 0; !rc && i < cr->nchildren; i++) {
		const struct cfs_croute *child = cr->children[i];

		if (child->r->kind == CFS_NEWFILE)
			continue;
		if (child->seg[child->nseg - 1].var)
			rc = emit_listed(t, child, &v, emit, arg);
		else if (only_if_holds(child, &v))
			rc = emit(arg, child->seg[child->nseg - 1].prefix,
				  child->r->kind, cost_of(child));
	}
out:
	vars_clear(&v);
	return rc;
}

/* ---- what walkers will need ---------------------------------------- */

void cfs_wants_clear(struct cfs_wants *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->path[i]);
	free(w->path);
	free(w->accept);
	free(w->kind);
	memset(w, 0, sizeof(*w));
}

void cfs_tree_fetch_ahead(struct cfs_tree *t, const struct cfs_fetch_kind *k,
			  const char *path, const char *accept)
{
	struct cfs_fetch_ctx ctx = { t->cache, t->log_lines };
	struct cfs_resp *r = NULL;

	if (k->fetch(&ctx, path, accept, &r) == 0)
		cfs_resp_unref(r);
}

static int grow_wants(struct cfs_wants *w)
{
	size_t cap = w->cap ? w->cap * 2 : 16;
	const struct cfs_fetch_kind **k;
	const char **a;
	char **p;

	p = realloc(w->path, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	w->path = p;
	a = realloc(w->accept, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	w->accept = a;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	k = realloc(w->kind, cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	w->kind = k;
	w->cap = cap;
	return 0;
}

/* Takes path (a string of its own) into w. */
static int want_path(struct cfs_wants *w, char *path, const char *accept,
		     const struct cfs_fetch_kind *kind)
{
	int rc = w->n == w->cap ? grow_wants(w) : 0;

	if (rc) {
		free(path);
		return rc;
	}
	w->path[w->n] = path;
	w->accept[w->n] = accept;
	w->kind[w->n++] = kind;
	return 0;
}

static int want(struct cfs_tree *t, const struct cfs_template *tp,
		const struct cfs_vars *v, const char *accept,
		const struct cfs_fetch_kind *kind, struct cfs_wants *w)
{
	struct cfs_buf path = { 0 };
	int rc = expand(t, tp, v, &path);

	if (rc) {
		cfs_buf_free(&path);
		return rc;
	}
	return want_path(w, path.data, accept, kind);
}

typedef void (*entry_fn)(struct cfs_tree *t, const struct cfs_croute *cr,
			 const struct cfs_vars *v, struct cfs_wants *w);

/*
 * What showing one entry will take: a file's own fetch (a GET, or a log
 * snapshot; not a persisted document, which the listing fetched already),
 * or a directory's API listings.
 */
static void entry_wants(struct cfs_tree *t, const struct cfs_croute *cr,
			const struct cfs_vars *v, struct cfs_wants *w)
{
	size_t i;

	if (!only_if_holds(cr, v))
		return;
	if (cr->r->kind == CFS_FILE && cr->get.n && !kind_of(cr)->persisted)
		want(t, &cr->get, v, cr->r->accept, kind_of(cr), w);
	if (cr->r->kind != CFS_DIR)
		return;
	for (i = 0; i < cr->nchildren; i++) {
		const struct cfs_croute *c = cr->children[i];

		if (c->r->kind == CFS_NEWFILE)
			continue;
		if (c->list.n)
			want(t, &c->list, v, NULL, &cfs_fetch_get, w);
		else if (c->lister_fetch.n)
			want(t, &c->lister_fetch, v, NULL, &cfs_fetch_get, w);
	}
}

/* A persisted document of the entry that is not on disk yet. */
static void entry_document(struct cfs_tree *t, const struct cfs_croute *cr,
			   const struct cfs_vars *v, struct cfs_wants *w)
{
	struct cfs_buf api = { 0 };
	json_t *item = v->n ? v->item[v->n - 1] : NULL;
	char fp[17];

	if (cr->r->kind != CFS_FILE || !kind_of(cr)->persisted || !item ||
	    !only_if_holds(cr, v) || expand(t, &cr->get, v, &api) != 0)
		goto out;
	item_fingerprint(item, fp);
	if (t->disk && cfs_diskcache_meta(t->disk, api.data, fp, NULL) == 0)
		goto out;
	want_path(w, api.data, cr->r->accept, &cfs_fetch_get);
	api.data = NULL;
out:
	cfs_buf_free(&api);
}

/* The entries of one listed child row, each bound in turn. */
static void listed_wants(struct cfs_tree *t, const struct cfs_croute *child,
			 struct cfs_vars *v, entry_fn fn, struct cfs_wants *w)
{
	struct cfs_listing *l = NULL;
	size_t i;

	if (get_listing(t, child, v, &l) != 0)
		return;
	for (i = 0; i < l->n; i++) {
		/* borrowed for the call: v->n goes back down after it */
		v->name[v->n] = child->var[v->n];
		v->value[v->n] = l->names[i];
		v->item[v->n] = l->items[i];
		v->src[v->n] = l->src;
		v->n++;
		fn(t, child, v, w);
		v->n--;
		v->value[v->n] = NULL;
		v->item[v->n] = NULL;
		v->src[v->n] = NULL;
	}
	cfs_listing_unref(l);
}

static int collect(struct cfs_tree *t, const char *dir, entry_fn fn,
		   struct cfs_wants *w)
{
	const struct cfs_croute *cr;
	struct cfs_vars v;
	size_t i;
	int rc;

	memset(w, 0, sizeof(*w));
	rc = resolve(t, dir, &cr, &v);
	if (rc)
		return rc;
	for (i = 0; cr->r->kind == CFS_DIR && i < cr->nchildren; i++) {
		const struct cfs_croute *child = cr->children[i];

		if (child->r->kind == CFS_NEWFILE)
			continue;
		if (child->seg[child->nseg - 1].var)
			listed_wants(t, child, &v, fn, w);
		else
			fn(t, child, &v, w);
	}
	vars_clear(&v);
	return 0;
}

int cfs_tree_wants(struct cfs_tree *t, const char *dir, struct cfs_wants *w)
{
	return collect(t, dir, entry_wants, w);
}

void cfs_tree_fetch_documents(struct cfs_tree *t, const char *dir)
{
	struct cfs_wants w;

	if (collect(t, dir, entry_document, &w) == 0 && w.n)
		cfs_cache_prefetch(t->cache, w.path, w.accept, w.n, 0);
	cfs_wants_clear(&w);
}

/* ---- writes -------------------------------------------------------- */

enum cfs_entry cfs_tree_classify(struct cfs_tree *t, const char *path)
{
	const struct cfs_croute *cr;
	struct cfs_vars v;
	enum cfs_entry e = CFS_ENTRY_NONE;
	char *parent;
	int rc;

	rc = resolve(t, path, &cr, &v);
	if (rc == 0) {
		if (cr->r->kind == CFS_NEWFILE)
			e = CFS_ENTRY_NEW;
		else if (file_writable(cr->r, &v))
			e = CFS_ENTRY_WRITABLE;
		else
			e = CFS_ENTRY_READONLY;
		vars_clear(&v);
		return e;
	}
	if (rc != -ENOENT)
		return CFS_ENTRY_NONE;
	parent = cfs_path_parent(path);
	if (parent && resolve(t, parent, &cr, &v) == 0) {
		if (cr->r->kind == CFS_DIR && dir_writable(cr, &v))
			e = CFS_ENTRY_SCRATCH;
		vars_clear(&v);
	}
	free(parent);
	return e;
}

void cfs_write_clear(struct cfs_write *w)
{
	size_t i;

	free(w->path);
	free(w->body);
	for (i = 0; i < w->ndrops; i++)
		free(w->drops[i]);
	free(w->drops);
	memset(w, 0, sizeof(*w));
}

static int plan_drops(struct cfs_tree *t, const struct cfs_croute *cr,
		      const struct cfs_vars *v, struct cfs_write *w)
{
	size_t i;

	w->drops = calloc(cr->ndrops ? cr->ndrops : 1, sizeof(*w->drops));
	if (!w->drops)
		return -ENOMEM;
	for (i = 0; i < cr->ndrops; i++) {
		struct cfs_buf prefix = { 0 };
		int rc = expand(t, &cr->drops[i], v, &prefix);

		if (rc) {
			cfs_buf_free(&prefix);
			return rc;
		}
		w->drops[w->ndrops++] = prefix.data;
	}
	return 0;
}

/* The request of a write, encoded, and what it makes stale. */
static int plan(struct cfs_tree *t, const char *path,
		const struct cfs_croute *cr, const struct cfs_vars *v,
		const char *data, size_t len, struct cfs_write *w)
{
	struct cfs_buf api = { 0 };
	json_t *body = NULL;
	int rc = 0;

	if (cr->r->encode) {
		rc = cr->r->encode(v, data, len, &body);
		if (rc) {
			cfs_warn("not sending %s: its content cannot be valid",
				 path);
			goto out;
		}
		w->body = json_dumps(body,
				     JSON_COMPACT | JSON_REAL_PRECISION(15));
		if (!w->body) {
			rc = -ENOMEM;
			goto out;
		}
		w->body_len = strlen(w->body);
	}
	w->method = cr->r->write_method;
	rc = expand(t, &cr->write_path, v, &api);
	w->path = api.data;
	if (!rc)
		rc = plan_drops(t, cr, v, w);
out:
	json_decref(body);
	if (rc)
		cfs_write_clear(w);
	return rc;
}

/* What closing a written file (or, removal, what rmdir) sends. */
static int plan_for(struct cfs_tree *t, const char *path, int removal,
		    const char *data, size_t len, struct cfs_write *w)
{
	const struct cfs_croute *cr;
	struct cfs_vars v;
	int rc;

	memset(w, 0, sizeof(*w));
	rc = resolve(t, path, &cr, &v);
	if (rc)
		return rc;
	if (!cr->r->write_method || (cr->r->kind == CFS_DIR) != removal) {
		rc = -EACCES;
	} else if (cr->r->kind == CFS_FILE && !file_writable(cr->r, &v)) {
		/* a field the API does not let anyone modify */
		cfs_warn("not sending %s: the API does not allow changing it",
			 path);
		rc = -EINVAL;
	} else {
		rc = plan(t, path, cr, &v, data, len, w);
	}
	vars_clear(&v);
	return rc;
}

int cfs_tree_plan_write(struct cfs_tree *t, const char *path, const char *data,
			size_t len, struct cfs_write *w)
{
	return plan_for(t, path, 0, data, len, w);
}

/*
 * No answer, a timeout or a 5xx: the server may have applied the write,
 * or may still apply it.
 */
static int outcome_unknown(const struct cfs_http_response *rs)
{
	return rs->status == 0 || rs->status == 408 || rs->status >= 500;
}

/* One request, never retried: a write is not repeated blindly.  Every
 * response it may have changed is forgotten, failed write or not. */
static int send_write(struct cfs_tree *t, const struct cfs_write *w)
{
	struct cfs_http_request rq = {
		.method = w->method,
		.path = w->path,
		.body = w->body,
		.body_len = w->body_len,
	};
	struct cfs_http_response rs;
	size_t i;
	int rc;

	rc = cfs_http_perform(cfs_cache_http(t->cache), &rq, &rs);
	for (i = 0; i < w->ndrops; i++)
		(outcome_unknown(&rs)
			 ? cfs_cache_doubt_prefix
			 : cfs_cache_drop_prefix)(t->cache, w->drops[i]);
	cfs_http_response_clear(&rs);
	return rc;
}

int cfs_tree_commit(struct cfs_tree *t, const char *path, const char *data,
		    size_t len)
{
	struct cfs_write w;
	int rc;

	rc = plan_for(t, path, 0, data, len, &w);
	if (rc)
		return rc;
	rc = send_write(t, &w);
	cfs_write_clear(&w);
	return rc;
}

int cfs_tree_remove(struct cfs_tree *t, const char *path)
{
	struct cfs_write w;
	int rc;

	rc = plan_for(t, path, 1, NULL, 0, &w);
	if (rc)
		return rc;
	rc = send_write(t, &w);
	cfs_write_clear(&w);
	return rc;
}
