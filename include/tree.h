/*
 * tree.h - the directory tree as data, and the engine that walks it.
 *
 * Each provider describes its whole tree in one table of struct cfs_route
 * rows: a path pattern, where the names of a {variable} segment come from
 * (an API list, or a provider "lister"), what a file holds (an API GET or
 * the list item that named it) and how it is rendered.  A path resolves by
 * matching a pattern, then checking every variable segment against its
 * parent's listing: a name the API did not list does not exist (except
 * where a lister accepts well-formed names it does not list).
 *
 * Templates ("/v2/organisations/{owner}/applications") expand {var} to the
 * URL-escaped segment value, {var.field} to a field of the item that named
 * var, and {@name} to what the provider derives (Clever's "self" versus
 * "organisations/<id>", a month's first and last instant, ...).
 */
#ifndef CFS_TREE_H
#define CFS_TREE_H

#include <jansson.h>
#include <time.h>

#include "fetch.h"
#include "util.h"

#define CFS_MAX_DEPTH 8

/* CFS_NEWFILE: a name that exists only while a process creates it */
enum cfs_kind { CFS_DIR, CFS_FILE, CFS_LINK, CFS_NEWFILE };

enum cfs_render {
	CFS_RENDER_JSON,   /* pretty-printed, newline-terminated */
	CFS_RENDER_RAW,	   /* the body as the API sent it */
	CFS_RENDER_LABELS, /* [{key, value}] -> "key=value" lines */
	CFS_RENDER_LINES,  /* array of strings -> one per line */
	CFS_RENDER_SCALAR, /* one value -> value + "\n" */
};

struct cfs_vars;

/* A file's bytes -> the request body, or -EINVAL if they cannot be valid. */
typedef int (*cfs_encode_fn)(const struct cfs_vars *v, const char *data,
			     size_t len, json_t **body);
typedef int (*cfs_writable_fn)(const struct cfs_vars *v);
struct cfs_tree;
/*
 * A view file's bytes (views.h), from the response of the row's get (NULL
 * for a row without get: the view fetches what it needs itself).  *date:
 * the bytes' own date, their mtime; left at 0 if they carry none.
 */
typedef int (*cfs_view_fn)(struct cfs_tree *t, const struct cfs_vars *v,
			   json_t *src, struct cfs_buf *out, time_t *date);

struct cfs_route {
	const char *pattern; /* "orgs/{owner}/apps/{app}/app.json" */
	enum cfs_kind kind;
	/* names of a pattern ending in a {variable}: */
	const char *list;    /* API path template, or "@lister" */
	const char *list_at; /* dotted path of the array in the response */
	const char *key;     /* item field giving the name */
	const char *where;   /* keep items with "field=value"/"field!=value" */
	/* what a file holds: */
	const char *get;    /* API path template; NULL: the named item */
	const char *accept; /* Accept of get; NULL: application/json */
	const char *at;	    /* dotted path of what to render */
	enum cfs_render render;
	const char *mtime;   /* item field with the resource's own date */
	const char *link;    /* symlink target template */
	const char *only_if; /* "var.dotted.field=value" */
	const struct cfs_fetch_kind *fetch; /* NULL: cfs_fetch_get */
	/* a view renders the file itself: it takes no render or at, and a
	 * growing fetch kind's file stays its snapshot */
	cfs_view_fn view;
	/*
	 * Writes: what closing a written file sends (CFS_FILE), what
	 * closing a created one sends (CFS_NEWFILE), or what rmdir sends
	 * (CFS_DIR).
	 */
	const char *write_method;
	const char *write_path;	  /* API path template */
	cfs_encode_fn encode;	  /* NULL: no body */
	cfs_writable_fn writable; /* NULL: always, given write_method */
	const char *drops; /* '|'-separated API path prefixes it stales */
};

/* One row: CFS_ROUTE("zones/{zone}.json", CFS_FILE, .list = ...). */
#define CFS_ROUTE(pat, k, ...)                                                \
	{                                                                     \
		.pattern = (pat), .kind = (k), __VA_ARGS__                    \
	}

struct cfs_provider;
struct cfs_resp;
struct cfs_cache;
struct cfs_diskcache;
struct cfs_live_set;

/* The variable segments bound while resolving a path. */
struct cfs_vars {
	size_t n;
	const char *name[CFS_MAX_DEPTH];
	char *value[CFS_MAX_DEPTH];
	json_t *item[CFS_MAX_DEPTH];	     /* the item that named it */
	struct cfs_resp *src[CFS_MAX_DEPTH]; /* the response it came from */
};

const char *cfs_vars_value(const struct cfs_vars *v, const char *name);
json_t *cfs_vars_item(const struct cfs_vars *v, const char *name);

struct cfs_listing;

struct cfs_lister {
	const char *name; /* "@owners" */
	/* NULL: it lists nothing, and only the names it accepts resolve */
	int (*list)(struct cfs_tree *t, const struct cfs_vars *v,
		    struct cfs_listing *out);
	/* names that resolve although not listed; NULL: none */
	int (*accepts)(const char *name);
	/* the API GET its listing comes from, a template of the variables
	 * above the one it binds, so that read-ahead can fetch it; NULL: none
	 * (or more than one) */
	const char *fetches;
};

/* {@name} in templates: what the provider computes from the variables. */
struct cfs_derivation {
	const char *name;
	const char *needs; /* the variable it reads, or NULL */
	int (*derive)(struct cfs_tree *t, const struct cfs_vars *v,
		      struct cfs_buf *out);
};

/* What FUSE needs to know of one path. */
struct cfs_node {
	enum cfs_kind kind;
	int writable;		  /* files: 0644; dirs: 0755 */
	int takes_writes;	  /* a file with a write; maybe one the
				     * API refuses: EINVAL at close */
	struct cfs_blob *content; /* files */
	char *link;		  /* symlinks */
	time_t mtime;
	char *url; /* API URL it came from, or NULL */
	char request_id[128];
	double fetched_at;
	/* seconds the tree will answer the same for it (what is left of the
	 * TTL of the oldest response it came from): how long the kernel may
	 * keep it */
	double fresh_for;
	const struct cfs_fetch_kind *fetch; /* growing files: their kind */
	char *follow;			    /* growing files: what to follow */
	char last_event_id[128]; /* logs: where the live stream starts */
};

struct cfs_tree *cfs_tree_new(const struct cfs_provider *p,
			      struct cfs_cache *cache,
			      struct cfs_diskcache *disk, const char *base_url,
			      char *err, size_t errlen);
void cfs_tree_free(struct cfs_tree *t);
/* The followers of growing files open somewhere (live.h): the tree owns
 * them, so that one place stops them all at shutdown. */
struct cfs_live_set *cfs_tree_live(struct cfs_tree *t);
/* Fetches, in the background, what listing dir's entries will need
 * (readahead.h). */
void cfs_tree_read_ahead(struct cfs_tree *t, const char *dir);
/* Once no FUSE operation runs, before the HTTP worker stops: stops the
 * read-ahead worker and every live follower. */
void cfs_tree_shutdown(struct cfs_tree *t);
/* How many events a log snapshot holds (-o log_lines), and the TTL. */
void cfs_tree_set_logs(struct cfs_tree *t, unsigned int lines,
		       unsigned int ttl);
/* The cap of rendered files kept in memory (-o node_cache). */
void cfs_tree_set_node_cache(struct cfs_tree *t, size_t bytes);
/* changed is called when what the tree answers changed before the TTL
 * of what it answered before ran out (a listing fetched again early). */
void cfs_tree_on_change(struct cfs_tree *t, void (*changed)(void *arg),
			void *arg);

/* path is relative to the mount ("" is the root). */
int cfs_tree_node(struct cfs_tree *t, const char *path, struct cfs_node *out);
/* The same, from what is cached (memory or disk) only: -EAGAIN where
 * that would take a request. */
int cfs_tree_node_cached(struct cfs_tree *t, const char *path,
			 struct cfs_node *out);
void cfs_node_clear(struct cfs_node *n);
/* emit returns 0 to go on, 1 to stop early, -errno to fail. */
typedef int (*cfs_emit_fn)(void *arg, const char *name, enum cfs_kind kind,
			   enum cfs_cost cost);
int cfs_tree_readdir(struct cfs_tree *t, const char *path, cfs_emit_fn emit,
		     void *arg);

/* API requests (path, Accept, and the fetch kind), for read-ahead. */
struct cfs_wants {
	size_t n;
	size_t cap;
	char **path;
	const char **accept;
	const struct cfs_fetch_kind **kind;
};

/* What listing dir's entries, one level down, will ask the API: the
 * fetches of its files (log snapshots included) and the listings of its
 * subdirectories.  Persisted documents, which the listing fetches itself,
 * are left out; so is every live stream. */
int cfs_tree_wants(struct cfs_tree *t, const char *dir, struct cfs_wants *w);
void cfs_wants_clear(struct cfs_wants *w);
/* Fetches, all at once within max_conns, the persisted documents among
 * dir's entries that are not on disk yet (their sizes need their bytes). */
void cfs_tree_fetch_documents(struct cfs_tree *t, const char *dir);
/* Makes one wanted fetch of a kind of its own (a log snapshot) through
 * the cache, for read-ahead. */
void cfs_tree_fetch_ahead(struct cfs_tree *t, const struct cfs_fetch_kind *k,
			  const char *path, const char *accept);

/* What a name is to the write side (create and rename targets). */
enum cfs_entry {
	CFS_ENTRY_NONE,	    /* nothing, and nothing may be created */
	CFS_ENTRY_READONLY, /* exists, not writable */
	CFS_ENTRY_WRITABLE, /* a writable file */
	CFS_ENTRY_NEW,	    /* creating it sends a request at close */
	CFS_ENTRY_SCRATCH,  /* absent; a temporary file may live here */
};

enum cfs_entry cfs_tree_classify(struct cfs_tree *t, const char *path);
/* What a write sends, and the API path prefixes it makes stale. */
struct cfs_write {
	const char *method;
	char *path;
	char *body; /* NULL: none */
	size_t body_len;
	char **drops;
	size_t ndrops;
};

/* The request closing a written file would send (checked and encoded:
 * -EINVAL for bytes that cannot be valid), without sending it. */
int cfs_tree_plan_write(struct cfs_tree *t, const char *path, const char *data,
			size_t len, struct cfs_write *w);
void cfs_write_clear(struct cfs_write *w);
/* Sends the bytes of a writable or new file; drops what it made stale. */
int cfs_tree_commit(struct cfs_tree *t, const char *path, const char *data,
		    size_t len);
/* rmdir: sends the directory's removal. */
int cfs_tree_remove(struct cfs_tree *t, const char *path);

/* For providers' listers and derivations. */
int cfs_tree_fetch(struct cfs_tree *t, const char *path, const char *accept,
		   struct cfs_resp **out);
/* Fetches several JSON paths at once, so the fetches after it hit. */
void cfs_tree_prefetch(struct cfs_tree *t, char *const *paths, size_t n);
char *cfs_tree_escape(const char *s);
time_t cfs_tree_now(const struct cfs_tree *t);
json_t *cfs_json_at(json_t *j, const char *dotted);
/* A JSON date: ISO 8601 string or epoch milliseconds. */
int cfs_json_date(json_t *j, time_t *out);

#endif
