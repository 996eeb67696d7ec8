/*
 * routes.h - a provider's route table, compiled once at start-up.
 *
 * cfs_routes_compile checks every row of the table (tree.h) against the
 * rest of the table and against what the provider declares (its listers
 * and derivations), and turns the strings of a row into typed parts: the
 * pattern into segments, each template into tokens bound to variable
 * slots, `where` and `only_if` into conditions, `drops` into templates,
 * dotted fields into JSON paths.  A row that cannot work is refused with
 * its pattern and the reason, so a typo fails the mount at start-up
 * rather than showing as a silent ENOENT or an empty directory.
 *
 * Variables are numbered by slot: the n-th {variable} segment of a path,
 * which is where cfs_vars keeps what resolving bound to it.
 */
#ifndef CFS_ROUTES_H
#define CFS_ROUTES_H

#include <jansson.h>
#include <stddef.h>

#include "tree.h"

/* A dotted JSON path ("account.labels"), split once. */
struct cfs_jpath {
	size_t n;
	char **part;
};

enum cfs_tok_kind {
	CFS_TOK_TEXT,	 /* literal text */
	CFS_TOK_VAR,	 /* {var}: its value, URL-escaped */
	CFS_TOK_FIELD,	 /* {var.field}: a field of its item */
	CFS_TOK_DERIVED, /* {@name}: what the provider derives */
};

struct cfs_tok {
	enum cfs_tok_kind kind;
	char *text;			      /* TEXT */
	size_t slot;			      /* VAR, FIELD */
	struct cfs_jpath field;		      /* FIELD */
	const struct cfs_derivation *derived; /* DERIVED */
};

struct cfs_template {
	size_t n; /* 0: the row has no such template */
	struct cfs_tok *tok;
};

/* "field=value" or "field!=value" on an item; for only_if, the item is
 * the one that named the variable in slot. */
struct cfs_cond {
	int set;
	int negate;
	size_t slot;
	struct cfs_jpath field;
	char *value;
};

/* prefix{var}suffix, or a literal (var NULL, the text in prefix) */
struct cfs_segment {
	char *prefix;
	char *var;
	char *suffix;
};

struct cfs_croute {
	const struct cfs_route *r;
	size_t nseg;
	struct cfs_segment seg[CFS_MAX_DEPTH];
	size_t nvars;
	const char *var[CFS_MAX_DEPTH]; /* slot -> its name */
	/* def[s]: the route whose last segment binds slot s */
	const struct cfs_croute *def[CFS_MAX_DEPTH];
	struct cfs_croute **children; /* most specific first */
	size_t nchildren;
	const struct cfs_lister *lister; /* list = "@name" */
	struct cfs_template list, get, link, write_path;
	struct cfs_template lister_fetch; /* lister->fetches */
	struct cfs_template *drops;
	size_t ndrops;
	struct cfs_cond where, only_if;
	struct cfs_jpath list_at, key, at, mtime;
};

struct cfs_routes {
	const struct cfs_provider *p;
	size_t n;
	struct cfs_croute *route; /* route[0] is the root */
};

/* NULL and err filled ("route table of P: row 'PATTERN': REASON"). */
struct cfs_routes *cfs_routes_compile(const struct cfs_provider *p, char *err,
				      size_t errlen);
void cfs_routes_free(struct cfs_routes *rt);

/* The route of a path split into n components, or NULL.  The most
 * specific wins, earlier components first: a literal segment before a
 * {var} with a prefix or suffix, before a bare {var}. */
const struct cfs_croute *cfs_routes_match(const struct cfs_routes *rt,
					  char *const *comp, size_t n);
/* The value a {var} segment takes from a component; -ENOENT if it does
 * not fit (or, for a literal segment, is not it). */
int cfs_segment_value(const struct cfs_segment *s, const char *comp, char *out,
		      size_t len);

json_t *cfs_jpath_get(json_t *j, const struct cfs_jpath *p);
int cfs_cond_holds(const struct cfs_cond *c, json_t *item);
/* Appends the expansion; -ENOENT when a variable or field is missing. */
int cfs_template_expand(const struct cfs_template *tp, struct cfs_tree *t,
			const struct cfs_vars *v, struct cfs_buf *out);

#endif
