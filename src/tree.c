/*
 * tree.c - path routing over a provider's route table, listings, file
 * contents and the node cache that keeps sizes and mtimes stable.
 *
 * The node cache remembers, per path, the rendered bytes and the version
 * of the source they were rendered from (a response generation, or an
 * invoice fingerprint for persistent files).  While the source is the same
 * the same bytes are served, so size and mtime never move during a read;
 * when the source changes the bytes are rendered again, and the mtime moves
 * only if they differ.
 */
#define _GNU_SOURCE
#include "tree.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "cache.h"
#include "diskcache.h"
#include "hashmap.h"
#include "http.h"
#include "log.h"
#include "logs.h"
#include "render.h"

#define NODE_CACHE_BYTES (64u << 20)

struct segment {
	char *prefix;           /* the whole segment when var is NULL */
	char *var;
	char *suffix;
};

struct route_info {
	const struct cfs_route *r;  /* NULL for the root */
	size_t nseg;
	struct segment seg[CFS_MAX_DEPTH];
	/* routes[def[i]] is the ancestor whose last segment is seg[i] */
	size_t def[CFS_MAX_DEPTH];
	size_t *children;
	size_t nchildren;
	const struct cfs_lister *lister;
};

struct node_state {
	uint64_t version;
	uint64_t fingerprint;
	time_t changed;
	struct cfs_blob *content;
	double last_used;
};

struct cfs_tree {
	const struct cfs_provider *p;
	struct cfs_cache *cache;
	struct cfs_diskcache *disk;
	char *base_url;
	time_t mounted;
	struct route_info *routes;  /* routes[0] is the root */
	size_t nroutes;
	unsigned int log_lines;
	unsigned int ttl;
	pthread_mutex_t lock;
	struct cfs_hashmap *nodes;
	size_t node_bytes;
	unsigned int flush_seen;
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

time_t cfs_tree_period_start(const struct cfs_tree *t)
{
	time_t now = time(NULL);

	return t->ttl ? now / (time_t)t->ttl * (time_t)t->ttl : now;
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

static void vars_clear(struct cfs_vars *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		free(v->value[i]);
		json_decref(v->item[i]);
		cfs_resp_unref(v->src[i]);
	}
	memset(v, 0, sizeof(*v));
}

int cfs_listing_add(struct cfs_listing *l, const char *name, json_t *item)
{
	char *copy;
	char *s;

	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **names = realloc(l->names, cap * sizeof(*names));
		json_t **items;

		if (!names)
			return -ENOMEM;
		l->names = names;
		/* an array of pointers:
		 * NOLINTNEXTLINE(bugprone-sizeof-expression) */
		items = realloc(l->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	/* a name is one path component */
	for (s = copy; *s; s++)
		if (*s == '/')
			*s = '_';
	l->names[l->n] = copy;
	l->items[l->n] = json_incref(item);
	l->n++;
	return 0;
}

void cfs_listing_clear(struct cfs_listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->names[i]);
		json_decref(l->items[i]);
	}
	free(l->names);
	free(l->items);
	cfs_resp_unref(l->src);
	memset(l, 0, sizeof(*l));
}

/* ---- the route table ----------------------------------------------- */

static int parse_segment(const char *text, size_t len, struct segment *s)
{
	const char *open = memchr(text, '{', len);
	const char *close = open ? memchr(open, '}', len - (size_t)(open -
								      text))
				 : NULL;

	if (!open) {
		s->prefix = strndup(text, len);
		return s->prefix ? 0 : -ENOMEM;
	}
	if (!close)
		return -EINVAL;
	s->prefix = strndup(text, (size_t)(open - text));
	s->var = strndup(open + 1, (size_t)(close - open - 1));
	s->suffix = strndup(close + 1, len - (size_t)(close + 1 - text));
	return s->prefix && s->var && s->suffix ? 0 : -ENOMEM;
}

static int parse_pattern(struct route_info *ri)
{
	const char *p = ri->r->pattern;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (ri->nseg == CFS_MAX_DEPTH ||
		    parse_segment(p, len, &ri->seg[ri->nseg]) != 0)
			return -EINVAL;
		ri->nseg++;
		p += len;
		if (*p == '/')
			p++;
	}
	return 0;
}

static int same_prefix(const struct route_info *a,
		       const struct route_info *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct segment *x = &a->seg[i];
		const struct segment *y = &b->seg[i];

		if (strcmp(x->prefix, y->prefix) != 0 ||
		    !x->var != !y->var ||
		    (x->var && (strcmp(x->var, y->var) != 0 ||
				strcmp(x->suffix, y->suffix) != 0)))
			return 0;
	}
	return 1;
}

static int find_ancestor(const struct cfs_tree *t, const struct route_info *ri,
			 size_t depth, size_t *out)
{
	size_t i;

	if (depth == 0) {
		*out = 0;
		return 0;
	}
	for (i = 1; i < t->nroutes; i++)
		if (t->routes[i].nseg == depth &&
		    same_prefix(&t->routes[i], ri, depth)) {
			*out = i;
			return 0;
		}
	return -ENOENT;
}

static const struct cfs_lister *find_lister(const struct cfs_provider *p,
					    const char *name)
{
	size_t i;

	for (i = 0; i < p->nlisters; i++)
		if (strcmp(p->listers[i].name, name) == 0)
			return &p->listers[i];
	return NULL;
}

static int add_child(struct route_info *parent, size_t child)
{
	size_t *c = realloc(parent->children,
			    (parent->nchildren + 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	c[parent->nchildren++] = child;
	parent->children = c;
	return 0;
}

/* Checks one row against the rest of the table and links it in. */
static int link_route(struct cfs_tree *t, size_t i, char *err, size_t errlen)
{
	struct route_info *ri = &t->routes[i];
	const struct cfs_route *r = ri->r;
	size_t d;
	size_t parent;

	for (d = 1; d <= ri->nseg; d++)
		if (find_ancestor(t, ri, d, &ri->def[d - 1]) != 0)
			goto bad;
	if (find_ancestor(t, ri, ri->nseg - 1, &parent) != 0 ||
	    t->routes[parent].r->kind != CFS_DIR)
		goto bad;
	if (ri->seg[ri->nseg - 1].var && r->kind != CFS_NEWFILE) {
		if (!r->list)
			goto bad;
		if (r->list[0] == '@') {
			ri->lister = find_lister(t->p, r->list);
			if (!ri->lister)
				goto bad;
		}
	}
	if ((r->kind == CFS_LINK) != (r->link != NULL) ||
	    (r->kind == CFS_NEWFILE && !r->write_method))
		goto bad;
	return add_child(&t->routes[parent], i);
bad:
	snprintf(err, errlen, "route table of %s: bad row '%s'", t->p->name,
		 r->pattern);
	return -EINVAL;
}

static const struct cfs_route root_route = { .pattern = "", .kind = CFS_DIR };

static int build_routes(struct cfs_tree *t, char *err, size_t errlen)
{
	size_t i;

	t->nroutes = t->p->nroutes + 1;
	t->routes = calloc(t->nroutes, sizeof(*t->routes));
	if (!t->routes)
		return -ENOMEM;
	t->routes[0].r = &root_route;
	for (i = 1; i < t->nroutes; i++) {
		t->routes[i].r = &t->p->routes[i - 1];
		if (parse_pattern(&t->routes[i]) != 0 ||
		    t->routes[i].nseg == 0) {
			snprintf(err, errlen, "route table of %s: bad pattern "
				 "'%s'", t->p->name, t->routes[i].r->pattern);
			return -EINVAL;
		}
	}
	for (i = 1; i < t->nroutes; i++)
		if (link_route(t, i, err, errlen) != 0)
			return -EINVAL;
	return 0;
}

static void free_routes(struct cfs_tree *t)
{
	size_t i;
	size_t s;

	for (i = 0; t->routes && i < t->nroutes; i++) {
		for (s = 0; s < t->routes[i].nseg; s++) {
			free(t->routes[i].seg[s].prefix);
			free(t->routes[i].seg[s].var);
			free(t->routes[i].seg[s].suffix);
		}
		free(t->routes[i].children);
	}
	free(t->routes);
}

struct cfs_tree *cfs_tree_new(const struct cfs_provider *p,
			      struct cfs_cache *cache,
			      struct cfs_diskcache *disk,
			      const char *base_url, char *err, size_t errlen)
{
	struct cfs_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->p = p;
	t->cache = cache;
	t->disk = disk;
	t->mounted = time(NULL);
	t->log_lines = 1000;
	t->base_url = strdup(base_url);
	t->nodes = cfs_hashmap_new();
	t->flush_seen = cfs_cache_flush_epoch();
	pthread_mutex_init(&t->lock, NULL);
	if (!t->base_url || !t->nodes || build_routes(t, err, errlen) != 0) {
		cfs_tree_free(t);
		return NULL;
	}
	return t;
}

void cfs_tree_set_logs(struct cfs_tree *t, unsigned int lines,
		       unsigned int ttl)
{
	t->log_lines = lines;
	t->ttl = ttl;
}

static void node_state_free(void *p)
{
	struct node_state *s = p;

	cfs_blob_unref(s->content);
	free(s);
}

void cfs_tree_free(struct cfs_tree *t)
{
	if (!t)
		return;
	free_routes(t);
	cfs_hashmap_free(t->nodes, node_state_free);
	pthread_mutex_destroy(&t->lock);
	free(t->base_url);
	free(t);
}

/* ---- templates ----------------------------------------------------- */

static int expand_field(const struct cfs_vars *v, const char *ref,
			struct cfs_buf *out)
{
	char var[64];
	const char *dot = strchr(ref, '.');
	json_t *j;
	char *esc;
	char num[32];
	const char *s;
	int rc;

	if (!dot) {
		s = cfs_vars_value(v, ref);
	} else {
		snprintf(var, sizeof(var), "%.*s", (int)(dot - ref), ref);
		j = cfs_json_at(cfs_vars_item(v, var), dot + 1);
		s = json_string_value(j);
		if (json_is_integer(j)) {
			snprintf(num, sizeof(num), "%lld",
				 (long long)json_integer_value(j));
			s = num;
		}
	}
	if (!s)
		return -ENOENT;
	esc = cfs_tree_escape(s);
	if (!esc)
		return -ENOMEM;
	rc = cfs_buf_append(out, esc, strlen(esc));
	free(esc);
	return rc;
}

static int expand(struct cfs_tree *t, const char *tmpl,
		  const struct cfs_vars *v, struct cfs_buf *out)
{
	const char *p = tmpl;
	int rc = 0;

	while (*p && !rc) {
		const char *open = strchr(p, '{');
		const char *close = open ? strchr(open, '}') : NULL;
		char ref[128];

		if (!open || !close)
			return cfs_buf_append(out, p, strlen(p));
		rc = cfs_buf_append(out, p, (size_t)(open - p));
		if ((size_t)(close - open) >= sizeof(ref))
			return -EINVAL;
		snprintf(ref, sizeof(ref), "%.*s", (int)(close - open - 1),
			 open + 1);
		if (!rc && ref[0] == '@')
			rc = t->p->derive ? t->p->derive(t, ref + 1, v, out)
					  : -EINVAL;
		else if (!rc)
			rc = expand_field(v, ref, out);
		p = close + 1;
	}
	return rc;
}

int cfs_tree_fetch(struct cfs_tree *t, const char *path, const char *accept,
		   struct cfs_resp **out)
{
	return cfs_cache_get(t->cache, path, accept, out);
}

void cfs_tree_prefetch(struct cfs_tree *t, char *const *paths, size_t n)
{
	cfs_cache_prefetch(t->cache, paths, NULL, n);
}

/* ---- listings ------------------------------------------------------ */

static int item_matches(json_t *item, const char *where)
{
	const char *op;
	char field[64];
	int negate;
	const char *have;

	if (!where)
		return 1;
	op = strchr(where, '=');
	if (!op)
		return 0;
	negate = op > where && op[-1] == '!';
	snprintf(field, sizeof(field), "%.*s",
		 (int)(op - where - negate), where);
	have = json_string_value(cfs_json_at(item, field));
	return (have && strcmp(have, op + 1) == 0) != negate;
}

static int item_name(json_t *item, const char *key, char *out, size_t len)
{
	json_t *k = cfs_json_at(item, key);

	if (json_is_string(k))
		snprintf(out, len, "%s", json_string_value(k));
	else if (json_is_integer(k))
		snprintf(out, len, "%lld", (long long)json_integer_value(k));
	else
		return -ENOENT;
	return 0;
}

/* The API list of route ri, by its list, list_at, key and where. */
static int list_from_api(struct cfs_tree *t, const struct cfs_route *r,
			 const struct cfs_vars *v, struct cfs_listing *out)
{
	struct cfs_buf path = { 0 };
	json_t *arr;
	json_t *item;
	size_t i;
	char name[512];
	int rc;

	rc = expand(t, r->list, v, &path);
	if (!rc)
		rc = cfs_tree_fetch(t, path.data, NULL, &out->src);
	cfs_buf_free(&path);
	if (rc)
		return rc;
	arr = r->list_at ? cfs_json_at(out->src->json, r->list_at)
			 : out->src->json;
	json_array_foreach(arr, i, item) {
		if (!item_matches(item, r->where) ||
		    item_name(item, r->key, name, sizeof(name)) != 0)
			continue;
		rc = cfs_listing_add(out, name, item);
		if (rc)
			return rc;
	}
	return 0;
}

static int run_listing(struct cfs_tree *t, const struct route_info *ri,
		       const struct cfs_vars *v, struct cfs_listing *out)
{
	if (ri->lister)
		return ri->lister->list(t, v, out);
	return list_from_api(t, ri->r, v, out);
}

/* ---- resolving a path ---------------------------------------------- */

static int segment_value(const struct segment *s, const char *comp,
			 char *out, size_t len)
{
	size_t n = strlen(comp);
	size_t pl = strlen(s->prefix);
	size_t sl;

	if (!s->var)
		return strcmp(s->prefix, comp) == 0 ? 0 : -ENOENT;
	sl = strlen(s->suffix);
	if (n <= pl + sl || strncmp(comp, s->prefix, pl) != 0 ||
	    strcmp(comp + n - sl, s->suffix) != 0 || n - pl - sl >= len)
		return -ENOENT;
	snprintf(out, len, "%.*s", (int)(n - pl - sl), comp + pl);
	return 0;
}

/* How specific a segment is: a literal, then a {var} with affixes. */
static unsigned int segment_rank(const struct segment *s)
{
	if (!s->var)
		return 2;
	return s->prefix[0] || s->suffix[0] ? 1 : 0;
}

/* The most specific matching route wins, earlier segments first. */
static const struct route_info *match(const struct cfs_tree *t,
				      char **comp, size_t n)
{
	const struct route_info *best = n == 0 ? &t->routes[0] : NULL;
	unsigned long best_score = 0;
	size_t i;
	size_t s;

	for (i = 1; i < t->nroutes; i++) {
		const struct route_info *ri = &t->routes[i];
		unsigned long score = 1;
		char value[512];

		if (ri->nseg != n)
			continue;
		for (s = 0; s < n; s++) {
			if (segment_value(&ri->seg[s], comp[s], value,
					  sizeof(value)) != 0)
				break;
			score = score * 3 + segment_rank(&ri->seg[s]);
		}
		if (s == n && score > best_score) {
			best = ri;
			best_score = score;
		}
	}
	return best;
}

static int find_name(const struct cfs_listing *l, const char *value,
		     size_t *at)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->names[i], value) == 0) {
			*at = i;
			return 0;
		}
	return -ENOENT;
}

/*
 * A name the listing lacks may have been created since: if the listing is
 * older than the negative TTL, it is fetched again, once.
 */
static int list_again_if_old(struct cfs_tree *t, const struct route_info *def,
			     const struct cfs_vars *v, struct cfs_listing *l)
{
	if (!l->src || cfs_now() - l->src->fetched_at < CFS_NEGATIVE_TTL)
		return -ENOENT;
	cfs_cache_expire(t->cache, l->src->path);
	cfs_listing_clear(l);
	return run_listing(t, def, v, l);
}

static int bind_var(struct cfs_tree *t, const struct route_info *ri,
		    size_t depth, const char *value, struct cfs_vars *v)
{
	const struct route_info *def = &t->routes[ri->def[depth]];
	struct cfs_listing l = { 0 };
	size_t i;
	int rc;

	rc = run_listing(t, def, v, &l);
	if (rc)
		goto out;
	rc = find_name(&l, value, &i);
	if (rc && list_again_if_old(t, def, v, &l) == 0)
		rc = find_name(&l, value, &i);
	v->name[v->n] = ri->seg[depth].var;
	if (rc == 0) {
		v->item[v->n] = json_incref(l.items[i]);
		v->src[v->n] = cfs_resp_ref(l.src);
	}
	if (rc && def->lister && def->lister->accepts &&
	    def->lister->accepts(value))
		rc = 0;
	if (rc == 0) {
		v->value[v->n] = strdup(value);
		rc = v->value[v->n] ? 0 : -ENOMEM;
		v->n++;
	}
out:
	cfs_listing_clear(&l);
	return rc;
}

static int bind_unlisted(const struct route_info *ri, size_t depth,
			 const char *value, struct cfs_vars *v)
{
	v->name[v->n] = ri->seg[depth].var;
	v->value[v->n] = strdup(value);
	if (!v->value[v->n])
		return -ENOMEM;
	v->n++;
	return 0;
}

/* "var.field=value": the condition on the item that named var. */
static int only_if_holds(const struct cfs_route *r, const struct cfs_vars *v)
{
	const char *dot = r->only_if ? strchr(r->only_if, '.') : NULL;
	char var[64];

	if (!r->only_if)
		return 1;
	if (!dot)
		return 0;
	snprintf(var, sizeof(var), "%.*s", (int)(dot - r->only_if),
		 r->only_if);
	return item_matches(cfs_vars_item(v, var), dot + 1);
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

/* Finds the route of path and binds its variables, checking each. */
static int resolve(struct cfs_tree *t, const char *path,
		   const struct route_info **out, struct cfs_vars *v)
{
	char *copy = strdup(path);
	char *comp[CFS_MAX_DEPTH];
	const struct route_info *ri;
	size_t n;
	size_t i;
	int rc = 0;

	memset(v, 0, sizeof(*v));
	if (!copy)
		return -ENOMEM;
	n = split_path(copy, comp);
	ri = n <= CFS_MAX_DEPTH ? match(t, comp, n) : NULL;
	if (!ri) {
		rc = -ENOENT;
		goto out;
	}
	for (i = 0; i < n && !rc; i++) {
		char value[512];

		if (!ri->seg[i].var)
			continue;
		segment_value(&ri->seg[i], comp[i], value, sizeof(value));
		/* a name being created is, by definition, not listed yet */
		if (ri->r->kind == CFS_NEWFILE && i == n - 1)
			rc = bind_unlisted(ri, i, value, v);
		else
			rc = bind_var(t, ri, i, value, v);
	}
	if (!rc && !only_if_holds(ri->r, v))
		rc = -ENOENT;
	*out = ri;
out:
	free(copy);
	if (rc)
		vars_clear(v);
	return rc;
}

/* ---- file contents ------------------------------------------------- */

/* Where a file's bytes come from, before rendering. */
struct source {
	struct cfs_resp *resp;      /* the response, if any */
	json_t *json;               /* what to render */
	struct cfs_blob *raw;       /* for CFS_RENDER_RAW */
	uint64_t version;
	char *url;
	char request_id[128];
	double fetched_at;
};

static void source_clear(struct source *s)
{
	cfs_resp_unref(s->resp);
	cfs_blob_unref(s->raw);
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

	if (!t->disk ||
	    cfs_diskcache_get(t->disk, api, fp, &s->raw, &meta) != 0)
		return -ENOENT;
	s->url = full_url(t, api);
	snprintf(s->request_id, sizeof(s->request_id), "%s",
		 meta.request_id);
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

static int fetch_log_snapshot(void *arg, const char *path,
			      struct cfs_http_response *rs)
{
	struct cfs_tree *t = arg;

	return cfs_logs_snapshot(cfs_cache_http(t->cache), path, t->log_lines,
				 rs);
}

static int source_from_get(struct cfs_tree *t, const struct cfs_route *r,
			   const struct cfs_vars *v, struct source *s)
{
	struct cfs_buf api = { 0 };
	json_t *item = v->n ? v->item[v->n - 1] : NULL;
	struct cfs_resp *resp;
	char fp[17];
	int persist = (r->flags & CFS_PERSIST) && item;
	int rc;

	rc = expand(t, r->get, v, &api);
	if (rc)
		goto out;
	if (persist) {
		item_fingerprint(item, fp);
		s->version = strtoull(fp, NULL, 16);
		if (source_from_disk(t, s, api.data, fp) == 0)
			goto out;
	}
	rc = r->flags & CFS_STREAM
		     ? cfs_cache_get_with(t->cache, api.data, "text/event-stream",
					  fetch_log_snapshot, t, &resp)
		     : cfs_tree_fetch(t, api.data, r->accept, &resp);
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

static void drop_old_nodes(struct cfs_tree *t)
{
	struct cfs_hashmap *fresh;

	if (t->node_bytes <= NODE_CACHE_BYTES &&
	    t->flush_seen == cfs_cache_flush_epoch())
		return;
	/* Rare: start over rather than track recency per node. */
	fresh = cfs_hashmap_new();
	if (!fresh)
		return;
	cfs_hashmap_free(t->nodes, node_state_free);
	t->nodes = fresh;
	t->node_bytes = 0;
	t->flush_seen = cfs_cache_flush_epoch();
}

/*
 * The bytes of path for this source version: the remembered ones if the
 * source did not change, else freshly rendered ones.
 */
static int node_content(struct cfs_tree *t, const char *path,
			const struct cfs_route *r, struct source *s,
			struct cfs_node *out)
{
	struct node_state *st;
	struct cfs_blob *b;
	uint64_t fp;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	drop_old_nodes(t);
	st = cfs_hashmap_get(t->nodes, path);
	if (st && st->version == s->version) {
		out->content = cfs_blob_ref(st->content);
		out->mtime = st->changed;
		goto out;
	}
	pthread_mutex_unlock(&t->lock);
	b = r->render == CFS_RENDER_RAW
		    ? cfs_blob_ref(s->raw)
		    : cfs_render(r->render, r->at ? cfs_json_at(s->json, r->at)
						  : s->json);
	if (!b)
		return -EIO;
	fp = cfs_fingerprint(b->data, b->len);
	pthread_mutex_lock(&t->lock);
	st = cfs_hashmap_get(t->nodes, path);
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st || cfs_hashmap_put(t->nodes, path, st, NULL) != 0) {
			free(st);
			cfs_blob_unref(b);
			rc = -ENOMEM;
			goto out;
		}
		st->changed = time(NULL);
	} else if (st->fingerprint != fp) {
		st->changed = time(NULL);
	}
	if (st->content)
		t->node_bytes -= st->content->len;
	cfs_blob_unref(st->content);
	st->content = b;
	t->node_bytes += b->len;
	st->version = s->version;
	st->fingerprint = fp;
	out->content = cfs_blob_ref(b);
	out->mtime = st->changed;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int follow_of(struct cfs_tree *t, const struct cfs_route *r,
		     const struct cfs_vars *v, const struct source *s,
		     struct cfs_node *out)
{
	struct cfs_buf path = { 0 };
	int rc = expand(t, r->follow, v, &path);

	if (rc) {
		cfs_buf_free(&path);
		return rc;
	}
	out->follow = path.data;
	snprintf(out->last_event_id, sizeof(out->last_event_id), "%s",
		 s->resp ? s->resp->last_event_id : "");
	return 0;
}

static void own_date(const struct cfs_route *r, const struct cfs_vars *v,
		     time_t *mtime)
{
	time_t when;

	if (r->mtime && v->n &&
	    cfs_json_date(cfs_json_at(v->item[v->n - 1], r->mtime),
			  &when) == 0)
		*mtime = when;
}

static int file_node(struct cfs_tree *t, const char *path,
		     const struct cfs_route *r, const struct cfs_vars *v,
		     struct cfs_node *out)
{
	struct source s = { 0 };
	int rc;

	rc = r->get ? source_from_get(t, r, v, &s)
		    : source_from_item(t, v, &s);
	if (!rc)
		rc = node_content(t, path, r, &s, out);
	if (!rc && r->follow)
		rc = follow_of(t, r, v, &s, out);
	if (!rc) {
		own_date(r, v, &out->mtime);
		out->url = s.url;
		s.url = NULL;
		snprintf(out->request_id, sizeof(out->request_id), "%s",
			 s.request_id);
		out->fetched_at = s.fetched_at;
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
static int dir_writable(const struct cfs_tree *t, const struct route_info *ri,
			const struct cfs_vars *v)
{
	size_t c;

	for (c = 0; c < ri->nchildren; c++) {
		const struct cfs_route *r = t->routes[ri->children[c]].r;

		if ((r->write_method || r->kind == CFS_NEWFILE) &&
		    only_if_holds(r, v))
			return 1;
	}
	return 0;
}

static int file_writable(const struct cfs_route *r, const struct cfs_vars *v)
{
	return r->kind == CFS_FILE && r->write_method &&
	       (!r->writable || r->writable(v));
}

int cfs_tree_node(struct cfs_tree *t, const char *path, struct cfs_node *out)
{
	const struct route_info *ri;
	struct cfs_vars v;
	struct cfs_buf link = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = resolve(t, path, &ri, &v);
	if (rc)
		return rc;
	out->kind = ri->r->kind;
	out->mtime = t->mounted;
	out->writable = ri->r->kind == CFS_DIR ? dir_writable(t, ri, &v)
						: file_writable(ri->r, &v);
	out->takes_writes = ri->r->kind == CFS_FILE && ri->r->write_method;
	switch (ri->r->kind) {
	case CFS_FILE:
		rc = file_node(t, path, ri->r, &v, out);
		break;
	case CFS_NEWFILE:
		rc = -ENOENT;
		break;
	case CFS_LINK:
		rc = expand(t, ri->r->link, &v, &link);
		out->link = link.data;
		meta_from_binding(t, &v, out);
		break;
	case CFS_DIR:
		meta_from_binding(t, &v, out);
		break;
	}
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

/*
 * Invoice documents are fetched for a listing: their sizes need their
 * bytes, and they are kept on disk, so that costs one request per
 * document ever.
 */
static enum cfs_cost cost_of(const struct cfs_route *r)
{
	if (r->kind != CFS_FILE || !r->get)
		return CFS_COST_NONE;
	if (r->flags & CFS_STREAM)
		return CFS_COST_NEVER;
	return r->flags & CFS_PERSIST ? CFS_COST_FETCH : CFS_COST_CACHED;
}

static int emit_listed(struct cfs_tree *t, const struct route_info *child,
		       const struct cfs_vars *v, cfs_emit_fn emit, void *arg)
{
	const struct segment *s = &child->seg[child->nseg - 1];
	struct cfs_listing l = { 0 };
	char name[1024];
	size_t i;
	int rc;

	rc = run_listing(t, child, v, &l);
	for (i = 0; !rc && i < l.n; i++) {
		snprintf(name, sizeof(name), "%s%s%s", s->prefix, l.names[i],
			 s->suffix);
		rc = emit(arg, name, child->r->kind, cost_of(child->r));
	}
	cfs_listing_clear(&l);
	return rc;
}

int cfs_tree_readdir(struct cfs_tree *t, const char *path, cfs_emit_fn emit,
		     void *arg)
{
	const struct route_info *ri;
	struct cfs_vars v;
	size_t i;
	int rc;

	rc = resolve(t, path, &ri, &v);
	if (rc)
		return rc;
	if (ri->r->kind != CFS_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	for (i = 0; !rc && i < ri->nchildren; i++) {
		const struct route_info *child = &t->routes[ri->children[i]];

		if (child->r->kind == CFS_NEWFILE)
			continue;
		if (child->seg[child->nseg - 1].var)
			rc = emit_listed(t, child, &v, emit, arg);
		else if (only_if_holds(child->r, &v))
			rc = emit(arg, child->seg[child->nseg - 1].prefix,
				  child->r->kind, cost_of(child->r));
	}
out:
	vars_clear(&v);
	return rc;
}

/* ---- writes -------------------------------------------------------- */

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? strndup(path, (size_t)(slash - path)) : strdup("");
}

enum cfs_entry cfs_tree_classify(struct cfs_tree *t, const char *path)
{
	const struct route_info *ri;
	struct cfs_vars v;
	enum cfs_entry e = CFS_ENTRY_NONE;
	char *parent;
	int rc;

	rc = resolve(t, path, &ri, &v);
	if (rc == 0) {
		if (ri->r->kind == CFS_NEWFILE)
			e = CFS_ENTRY_NEW;
		else if (file_writable(ri->r, &v))
			e = CFS_ENTRY_WRITABLE;
		else
			e = CFS_ENTRY_READONLY;
		vars_clear(&v);
		return e;
	}
	if (rc != -ENOENT)
		return CFS_ENTRY_NONE;
	parent = parent_of(path);
	if (parent && resolve(t, parent, &ri, &v) == 0) {
		if (ri->r->kind == CFS_DIR && dir_writable(t, ri, &v))
			e = CFS_ENTRY_SCRATCH;
		vars_clear(&v);
	}
	free(parent);
	return e;
}

/*
 * No answer, a timeout or a 5xx: the server may have applied the write,
 * or may still apply it.
 */
static int outcome_unknown(const struct cfs_http_response *rs)
{
	return rs->status == 0 || rs->status == 408 || rs->status >= 500;
}

/* Forgets every response the write may have changed. */
static void drop_stale(struct cfs_tree *t, const struct cfs_route *r,
		       const struct cfs_vars *v, int doubtful)
{
	char *list = r->drops ? strdup(r->drops) : NULL;
	char *save = NULL;
	char *tmpl;

	for (tmpl = list ? strtok_r(list, "|", &save) : NULL; tmpl;
	     tmpl = strtok_r(NULL, "|", &save)) {
		struct cfs_buf prefix = { 0 };

		if (expand(t, tmpl, v, &prefix) == 0)
			(doubtful ? cfs_cache_doubt_prefix
				  : cfs_cache_drop_prefix)(t->cache,
							   prefix.data);
		cfs_buf_free(&prefix);
	}
	free(list);
}

/* One request, never retried: a write is not repeated blindly. */
static int send_write(struct cfs_tree *t, const struct cfs_route *r,
		      const struct cfs_vars *v, json_t *body)
{
	struct cfs_http_request rq = { .method = r->write_method };
	struct cfs_http_response rs;
	struct cfs_buf path = { 0 };
	char *text = NULL;
	int rc;

	rc = expand(t, r->write_path, v, &path);
	if (rc)
		goto out;
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
		if (!text) {
			rc = -ENOMEM;
			goto out;
		}
		rq.body = text;
		rq.body_len = strlen(text);
	}
	rq.path = path.data;
	rc = cfs_http_perform(cfs_cache_http(t->cache), &rq, &rs);
	drop_stale(t, r, v, outcome_unknown(&rs));
	cfs_http_response_clear(&rs);
out:
	free(text);
	cfs_buf_free(&path);
	return rc;
}

int cfs_tree_commit(struct cfs_tree *t, const char *path, const char *data,
		    size_t len)
{
	const struct route_info *ri;
	struct cfs_vars v;
	json_t *body = NULL;
	int rc;

	rc = resolve(t, path, &ri, &v);
	if (rc)
		return rc;
	if (ri->r->kind == CFS_DIR || !ri->r->write_method) {
		rc = -EACCES;
		goto out;
	}
	if (ri->r->kind == CFS_FILE && !file_writable(ri->r, &v)) {
		/* a field the API does not let anyone modify */
		cfs_warn("not sending %s: the API does not allow changing it",
			 path);
		rc = -EINVAL;
		goto out;
	}
	if (ri->r->encode) {
		rc = ri->r->encode(&v, data, len, &body);
		if (rc) {
			cfs_warn("not sending %s: its content cannot be valid",
				 path);
			goto out;
		}
	}
	rc = send_write(t, ri->r, &v, body);
out:
	json_decref(body);
	vars_clear(&v);
	return rc;
}

int cfs_tree_remove(struct cfs_tree *t, const char *path)
{
	const struct route_info *ri;
	struct cfs_vars v;
	int rc;

	rc = resolve(t, path, &ri, &v);
	if (rc)
		return rc;
	if (ri->r->kind != CFS_DIR || !ri->r->write_method)
		rc = -EACCES;
	else
		rc = send_write(t, ri->r, &v, NULL);
	vars_clear(&v);
	return rc;
}
