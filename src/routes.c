/*
 * routes.c - compiling a provider's route table, matching paths to its
 * rows and expanding its templates (routes.h).
 *
 * Compiling does all the string work once: at run time a template is a
 * walk over tokens, a condition one JSON lookup and a compare, and a
 * path finds its row by descending the table's own tree.
 */
#define _GNU_SOURCE
#include "routes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "provider.h"

static const struct cfs_route root_row = { .pattern = "", .kind = CFS_DIR };

/* Why a row was refused; compiling stops at the first. */
struct refusal {
	char *err;
	size_t len;
	const struct cfs_provider *p;
};

__attribute__((format(printf, 3, 4))) static int
refuse(struct refusal *why, const struct cfs_route *r, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(why->err, why->len, "route table of %s: row '%s': %s",
		 why->p->name, r->pattern, reason);
	return -EINVAL;
}

/* ---- JSON paths and conditions ------------------------------------- */

static void jpath_free(struct cfs_jpath *jp)
{
	size_t i;

	for (i = 0; i < jp->n; i++)
		free(jp->part[i]);
	free(jp->part);
	memset(jp, 0, sizeof(*jp));
}

/* "a.b.c" -> {a, b, c}; an empty part is an error. */
static int jpath_parse(const char *dotted, size_t len, struct cfs_jpath *jp)
{
	const char *p = dotted;
	const char *end = dotted + len;

	jp->n = 1;
	for (p = dotted; p < end; p++)
		jp->n += *p == '.';
	jp->part = calloc(jp->n, sizeof(*jp->part));
	if (!jp->part)
		return -ENOMEM;
	for (p = dotted, jp->n = 0; p <= end; jp->n++) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);

		if (n == 0)
			return -EINVAL;
		jp->part[jp->n] = strndup(p, n);
		if (!jp->part[jp->n])
			return -ENOMEM;
		p += n + 1;
	}
	return 0;
}

static int jpath_of(const char *dotted, struct cfs_jpath *jp)
{
	return dotted ? jpath_parse(dotted, strlen(dotted), jp) : 0;
}

json_t *cfs_jpath_get(json_t *j, const struct cfs_jpath *p)
{
	size_t i;

	for (i = 0; j && i < p->n; i++)
		j = json_object_get(j, p->part[i]);
	return j;
}

/* "field=value" or "field!=value". */
static int cond_parse(const char *text, struct cfs_cond *c)
{
	const char *op = strchr(text, '=');
	size_t flen;

	if (!op || op == text)
		return -EINVAL;
	c->negate = op[-1] == '!';
	flen = (size_t)(op - text) - (size_t)c->negate;
	if (flen == 0 || jpath_parse(text, flen, &c->field) != 0)
		return -EINVAL;
	c->value = strdup(op + 1);
	if (!c->value)
		return -ENOMEM;
	c->set = 1;
	return 0;
}

int cfs_cond_holds(const struct cfs_cond *c, json_t *item)
{
	const char *have;

	if (!c->set)
		return 1;
	have = json_string_value(cfs_jpath_get(item, &c->field));
	return (have && strcmp(have, c->value) == 0) != c->negate;
}

static void cond_free(struct cfs_cond *c)
{
	jpath_free(&c->field);
	free(c->value);
	memset(c, 0, sizeof(*c));
}

/* ---- templates ----------------------------------------------------- */

static int slot_of(const struct cfs_croute *cr, const char *name, size_t len,
		   size_t *slot)
{
	size_t s;

	for (s = 0; s < cr->nvars; s++)
		if (strlen(cr->var[s]) == len &&
		    strncmp(cr->var[s], name, len) == 0) {
			*slot = s;
			return 0;
		}
	return -ENOENT;
}

static const struct cfs_derivation *
find_derivation(const struct cfs_provider *p, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < p->nderivations; i++)
		if (strlen(p->derivations[i].name) == len &&
		    strncmp(p->derivations[i].name, name, len) == 0)
			return &p->derivations[i];
	return NULL;
}

static struct cfs_tok *tok_add(struct cfs_template *tp)
{
	struct cfs_tok *tok = realloc(tp->tok, (tp->n + 1) * sizeof(*tok));

	if (!tok)
		return NULL;
	tp->tok = tok;
	memset(&tok[tp->n], 0, sizeof(*tok));
	return &tok[tp->n++];
}

/* What a template of the row may refer to. */
struct scope {
	const char *what;  /* "get", "list", ... for the reason */
	size_t nslots;	   /* slots bound when it is expanded */
	int last_has_item; /* whether slot nslots - 1 has an item */
};

static int compile_ref(struct refusal *why, const struct cfs_croute *cr,
		       const struct scope *sc, const char *ref, size_t len,
		       struct cfs_tok *tok)
{
	const char *dot = memchr(ref, '.', len);
	size_t vlen = dot ? (size_t)(dot - ref) : len;
	const struct cfs_derivation *d;

	if (len > 0 && ref[0] == '@') {
		d = find_derivation(why->p, ref + 1, len - 1);
		if (!d)
			return refuse(why, cr->r,
				      "%s: %.*s is not a "
				      "derivation of %s",
				      sc->what, (int)len, ref, why->p->name);
		if (d->needs && (slot_of(cr, d->needs, strlen(d->needs),
					 &tok->slot) != 0 ||
				 tok->slot >= sc->nslots))
			return refuse(why, cr->r, "%s: {%.*s} needs {%s}",
				      sc->what, (int)len, ref, d->needs);
		tok->kind = CFS_TOK_DERIVED;
		tok->derived = d;
		return 0;
	}
	if (slot_of(cr, ref, vlen, &tok->slot) != 0 || tok->slot >= sc->nslots)
		return refuse(why, cr->r,
			      "%s: {%.*s} is not a variable bound "
			      "there",
			      sc->what, (int)len, ref);
	if (!dot) {
		tok->kind = CFS_TOK_VAR;
		return 0;
	}
	if (tok->slot == sc->nslots - 1 && !sc->last_has_item)
		return refuse(why, cr->r,
			      "%s: {%.*s}: a new file's name has "
			      "no item",
			      sc->what, (int)len, ref);
	tok->kind = CFS_TOK_FIELD;
	if (jpath_parse(dot + 1, len - vlen - 1, &tok->field) != 0)
		return refuse(why, cr->r, "%s: bad field in {%.*s}", sc->what,
			      (int)len, ref);
	return 0;
}

static int compile_template(struct refusal *why, const struct cfs_croute *cr,
			    const struct scope *sc, const char *text,
			    struct cfs_template *tp)
{
	const char *p = text;
	struct cfs_tok *tok;
	int rc;

	while (p && *p) {
		const char *open = strchr(p, '{');
		const char *close = open ? strchr(open, '}') : NULL;
		size_t n = open ? (size_t)(open - p) : strlen(p);

		if (open && !close)
			return refuse(why, cr->r, "%s: '{' without '}'",
				      sc->what);
		if (n) {
			tok = tok_add(tp);
			if (!tok || !(tok->text = strndup(p, n)))
				return -ENOMEM;
		}
		if (!open)
			break;
		tok = tok_add(tp);
		if (!tok)
			return -ENOMEM;
		rc = compile_ref(why, cr, sc, open + 1,
				 (size_t)(close - open - 1), tok);
		if (rc)
			return rc;
		p = close + 1;
	}
	return 0;
}

static void template_free(struct cfs_template *tp)
{
	size_t i;

	for (i = 0; i < tp->n; i++) {
		free(tp->tok[i].text);
		jpath_free(&tp->tok[i].field);
	}
	free(tp->tok);
	memset(tp, 0, sizeof(*tp));
}

static int append_escaped(struct cfs_buf *out, const char *s)
{
	char *esc = curl_easy_escape(NULL, s, 0);
	int rc = esc ? cfs_buf_append(out, esc, strlen(esc)) : -ENOMEM;

	curl_free(esc);
	return rc;
}

static int expand_field(const struct cfs_tok *tok, const struct cfs_vars *v,
			struct cfs_buf *out)
{
	json_t *j = tok->slot < v->n
			    ? cfs_jpath_get(v->item[tok->slot], &tok->field)
			    : NULL;
	char num[32];
	const char *s = json_string_value(j);

	if (json_is_integer(j)) {
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(j));
		s = num;
	}
	return s ? append_escaped(out, s) : -ENOENT;
}

int cfs_template_expand(const struct cfs_template *tp, struct cfs_tree *t,
			const struct cfs_vars *v, struct cfs_buf *out)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < tp->n; i++) {
		const struct cfs_tok *tok = &tp->tok[i];

		switch (tok->kind) {
		case CFS_TOK_TEXT:
			rc = cfs_buf_append(out, tok->text, strlen(tok->text));
			break;
		case CFS_TOK_VAR:
			rc = tok->slot < v->n
				     ? append_escaped(out, v->value[tok->slot])
				     : -ENOENT;
			break;
		case CFS_TOK_FIELD:
			rc = expand_field(tok, v, out);
			break;
		case CFS_TOK_DERIVED:
			rc = tok->derived->derive(t, v, out);
			break;
		}
	}
	/* an empty template still yields a string */
	return rc ? rc : cfs_buf_append(out, "", 0);
}

/* ---- patterns ------------------------------------------------------ */

static int parse_segment(const char *text, size_t len, struct cfs_segment *s)
{
	const char *open = memchr(text, '{', len);
	const char *close = open ? memchr(open, '}',
					  len - (size_t)(open - text))
				 : NULL;
	const char *end = text + len;

	if (len == 0 || (!open && memchr(text, '}', len)))
		return -EINVAL;
	if (!open) {
		s->prefix = strndup(text, len);
		s->suffix = strdup("");
		return s->prefix && s->suffix ? 0 : -ENOMEM;
	}
	if (!close || close == open + 1 ||
	    memchr(close + 1, '{', (size_t)(end - close - 1)) ||
	    memchr(close + 1, '}', (size_t)(end - close - 1)))
		return -EINVAL;
	s->prefix = strndup(text, (size_t)(open - text));
	s->var = strndup(open + 1, (size_t)(close - open - 1));
	s->suffix = strndup(close + 1, (size_t)(end - close - 1));
	return s->prefix && s->var && s->suffix ? 0 : -ENOMEM;
}

/* Splits the pattern into segments and names its variables' slots. */
static int parse_pattern(struct refusal *why, struct cfs_croute *cr)
{
	const char *p = cr->r->pattern;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct cfs_segment *s = &cr->seg[cr->nseg];
		size_t slot;
		int rc;

		if (cr->nseg == CFS_MAX_DEPTH)
			return refuse(why, cr->r, "deeper than %d",
				      CFS_MAX_DEPTH);
		rc = parse_segment(p, len, s);
		cr->nseg++;
		if (rc == -EINVAL)
			return refuse(why, cr->r, "bad segment '%.*s'",
				      (int)len, p);
		if (rc)
			return rc;
		if (s->var && slot_of(cr, s->var, strlen(s->var), &slot) == 0)
			return refuse(why, cr->r, "two variables named {%s}",
				      s->var);
		if (s->var)
			cr->var[cr->nvars++] = s->var;
		p += len + (slash != NULL);
		if (slash && !*p)
			return refuse(why, cr->r, "ends with '/'");
	}
	if (cr->nseg == 0)
		return refuse(why, cr->r, "empty pattern");
	return 0;
}

static int same_segment(const struct cfs_segment *a,
			const struct cfs_segment *b)
{
	return !a->var == !b->var && strcmp(a->prefix, b->prefix) == 0 &&
	       strcmp(a->suffix, b->suffix) == 0 &&
	       (!a->var || strcmp(a->var, b->var) == 0);
}

/* The row of the first `depth` segments of cr, if the table has it. */
static struct cfs_croute *
find_prefix(struct cfs_routes *rt, const struct cfs_croute *cr, size_t depth)
{
	size_t i;
	size_t s;

	if (depth == 0)
		return &rt->route[0];
	for (i = 1; i < rt->n; i++) {
		struct cfs_croute *o = &rt->route[i];

		if (o->nseg != depth)
			continue;
		for (s = 0; s < depth; s++)
			if (!same_segment(&o->seg[s], &cr->seg[s]))
				break;
		if (s == depth)
			return o;
	}
	return NULL;
}

/* How specific a segment is: a literal, then a {var} with affixes. */
static unsigned int segment_rank(const struct cfs_segment *s)
{
	if (!s->var)
		return 2;
	return s->prefix[0] || s->suffix[0] ? 1 : 0;
}

static int add_child(struct cfs_croute *parent, struct cfs_croute *child)
{
	struct cfs_croute **c;
	size_t at;
	unsigned int rank = segment_rank(&child->seg[child->nseg - 1]);

	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	c = realloc(parent->children, (parent->nchildren + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	parent->children = c;
	/* stable: among equals, table order */
	for (at = parent->nchildren; at > 0; at--) {
		const struct cfs_croute *o = c[at - 1];

		if (segment_rank(&o->seg[o->nseg - 1]) >= rank)
			break;
		c[at] = c[at - 1];
	}
	c[at] = child;
	parent->nchildren++;
	return 0;
}

/* ---- checking and compiling one row -------------------------------- */

static int link_row(struct refusal *why, struct cfs_routes *rt,
		    struct cfs_croute *cr)
{
	struct cfs_croute *parent = find_prefix(rt, cr, cr->nseg - 1);
	const struct cfs_croute *a = cr;
	size_t slot = cr->nvars;
	size_t d;

	if (!parent || parent->r->kind != CFS_DIR)
		return refuse(why, cr->r, "no parent directory row");
	for (d = cr->nseg; d > 0; d--) {
		if (a->nseg != d)
			a = find_prefix(rt, cr, d);
		if (!a)
			return refuse(why, cr->r,
				      "no row for its first %zu "
				      "segments",
				      d);
		if (cr->seg[d - 1].var)
			cr->def[--slot] = a;
	}
	return add_child(parent, cr);
}

/* Where its names come from: an API list or a lister, never neither. */
static int check_listing(struct refusal *why, struct cfs_croute *cr)
{
	const struct cfs_route *r = cr->r;
	int listed = cr->seg[cr->nseg - 1].var && r->kind != CFS_NEWFILE;

	if (!listed && (r->list || r->key || r->where || r->list_at))
		return refuse(why, r,
			      "list, key, where and list_at are for "
			      "a listed {variable} as the last segment");
	if (!listed)
		return 0;
	if (!r->list)
		return refuse(why, r, "a {variable} with no list");
	if (r->list[0] == '@') {
		cr->lister = cfs_provider_lister(why->p, r->list);
		if (!cr->lister)
			return refuse(why, r, "no lister %s", r->list);
		if (r->key || r->where || r->list_at)
			return refuse(why, r,
				      "key, where and list_at are for "
				      "API lists, not %s",
				      r->list);
		return 0;
	}
	if (!r->key)
		return refuse(why, r, "an API list with no key");
	return 0;
}

/* A view makes its bytes from the response itself, on every fetch. */
static int check_view(struct refusal *why, const struct cfs_route *r)
{
	if (!r->view)
		return 0;
	if (r->kind != CFS_FILE)
		return refuse(why, r, "a view is for files");
	if (r->render != CFS_RENDER_JSON || r->at)
		return refuse(why, r, "a view takes no render or at");
	if (r->fetch && r->fetch->persisted)
		return refuse(why, r, "a view is not persisted");
	if (r->write_method)
		return refuse(why, r, "a view takes no writes");
	return 0;
}

static int check_kind(struct refusal *why, const struct cfs_croute *cr)
{
	const struct cfs_route *r = cr->r;

	if ((r->kind == CFS_LINK) != (r->link != NULL))
		return refuse(why, r,
			      "link is for symlink rows, and they "
			      "need one");
	if (r->kind == CFS_NEWFILE &&
	    (!r->write_method || !cr->seg[cr->nseg - 1].var))
		return refuse(why, r,
			      "a new file needs a {variable} name "
			      "and a write_method");
	if (r->kind != CFS_FILE &&
	    (r->get || r->at || r->mtime || r->fetch || r->accept))
		return refuse(why, r,
			      "get, at, mtime, fetch and accept are "
			      "for files");
	if (r->kind == CFS_FILE && !r->get && !r->view && cr->nvars == 0)
		return refuse(why, r,
			      "a file with neither get, a view nor an item "
			      "to show");
	if (r->kind == CFS_FILE && !r->get && r->render == CFS_RENDER_RAW)
		return refuse(why, r, "raw rendering needs get");
	if ((r->accept || r->fetch) && !r->get)
		return refuse(why, r, "accept and fetch without get");
	return check_view(why, r);
}

static int check_writes(struct refusal *why, const struct cfs_croute *cr)
{
	const struct cfs_route *r = cr->r;

	if (!r->write_method != !r->write_path)
		return refuse(why, r,
			      "write_method and write_path go "
			      "together");
	if (!r->write_method && (r->encode || r->writable || r->drops))
		return refuse(why, r,
			      "encode, writable and drops need a "
			      "write_method");
	if (r->kind == CFS_LINK && r->write_method)
		return refuse(why, r, "a symlink takes no writes");
	return 0;
}

static int compile_drops(struct refusal *why, struct cfs_croute *cr,
			 const struct scope *sc)
{
	const char *p = cr->r->drops;
	int rc;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		struct cfs_template *d;
		char *one = strndup(p, n);

		d = realloc(cr->drops, (cr->ndrops + 1) * sizeof(*d));
		if (!one || !d) {
			free(one);
			if (d)
				cr->drops = d;
			return -ENOMEM;
		}
		cr->drops = d;
		memset(&d[cr->ndrops], 0, sizeof(*d));
		rc = n ? compile_template(why, cr, sc, one, &d[cr->ndrops++])
		       : refuse(why, cr->r, "drops: an empty prefix");
		free(one);
		if (rc)
			return rc;
		p += n + (bar != NULL);
	}
	return 0;
}

static int compile_conds(struct refusal *why, struct cfs_croute *cr)
{
	const struct cfs_route *r = cr->r;
	const char *dot;

	if (r->where && cond_parse(r->where, &cr->where) != 0)
		return refuse(why, r,
			      "where '%s' is not field=value or "
			      "field!=value",
			      r->where);
	if (!r->only_if)
		return 0;
	dot = strchr(r->only_if, '.');
	if (!dot || slot_of(cr, r->only_if, (size_t)(dot - r->only_if),
			    &cr->only_if.slot) != 0)
		return refuse(why, r,
			      "only_if '%s' names no variable of the "
			      "row",
			      r->only_if);
	if (cond_parse(dot + 1, &cr->only_if) != 0)
		return refuse(why, r,
			      "only_if '%s' is not var.field=value "
			      "or var.field!=value",
			      r->only_if);
	return 0;
}

static int compile_fields(struct refusal *why, struct cfs_croute *cr)
{
	const struct cfs_route *r = cr->r;

	if (jpath_of(r->list_at, &cr->list_at) || jpath_of(r->key, &cr->key) ||
	    jpath_of(r->at, &cr->at) || jpath_of(r->mtime, &cr->mtime))
		return refuse(why, r, "an empty part in a dotted field");
	return 0;
}

static int compile_templates(struct refusal *why, struct cfs_croute *cr)
{
	const struct cfs_route *r = cr->r;
	const struct {
		const char *what;
		const char *text;
		struct cfs_template *tp;
	} rows[] = {
		{ "get", r->get, &cr->get },
		{ "link", r->link, &cr->link },
		{ "write_path", r->write_path, &cr->write_path },
	};
	/* a list is expanded with the variables above the one it binds */
	struct scope above = { "list", cr->nvars - (cr->nvars > 0), 1 };
	struct scope whole = { "drops", cr->nvars, r->kind != CFS_NEWFILE };
	size_t i;
	int rc;

	rc = compile_template(why, cr, &above,
			      r->list && r->list[0] != '@' ? r->list : NULL,
			      &cr->list);
	if (!rc)
		rc = compile_template(why, cr, &above,
				      cr->lister ? cr->lister->fetches : NULL,
				      &cr->lister_fetch);
	for (i = 0; !rc && i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct scope sc = whole;

		sc.what = rows[i].what;
		rc = compile_template(why, cr, &sc, rows[i].text, rows[i].tp);
	}
	return rc ? rc : compile_drops(why, cr, &whole);
}

static int compile_row(struct refusal *why, struct cfs_routes *rt,
		       struct cfs_croute *cr)
{
	int rc = link_row(why, rt, cr);

	if (!rc)
		rc = check_listing(why, cr);
	if (!rc)
		rc = check_kind(why, cr);
	if (!rc)
		rc = check_writes(why, cr);
	if (!rc)
		rc = compile_conds(why, cr);
	if (!rc)
		rc = compile_fields(why, cr);
	if (!rc)
		rc = compile_templates(why, cr);
	return rc;
}

static int check_unique(struct refusal *why, const struct cfs_routes *rt,
			size_t i)
{
	size_t j;

	for (j = 1; j < i; j++)
		if (strcmp(rt->route[j].r->pattern, rt->route[i].r->pattern) ==
		    0)
			return refuse(why, rt->route[i].r,
				      "a second row with "
				      "this pattern");
	return 0;
}

struct cfs_routes *cfs_routes_compile(const struct cfs_provider *p, char *err,
				      size_t errlen)
{
	struct refusal why = { err, errlen, p };
	struct cfs_routes *rt = calloc(1, sizeof(*rt));
	size_t i;
	int rc = 0;

	snprintf(err, errlen, "route table of %s: out of memory", p->name);
	if (!rt)
		return NULL;
	rt->p = p;
	rt->n = p->nroutes + 1;
	rt->route = calloc(rt->n, sizeof(*rt->route));
	if (!rt->route)
		goto fail;
	rt->route[0].r = &root_row;
	for (i = 1; !rc && i < rt->n; i++) {
		rt->route[i].r = &p->routes[i - 1];
		rc = parse_pattern(&why, &rt->route[i]);
		if (!rc)
			rc = check_unique(&why, rt, i);
	}
	for (i = 1; !rc && i < rt->n; i++)
		rc = compile_row(&why, rt, &rt->route[i]);
	if (!rc)
		return rt;
fail:
	cfs_routes_free(rt);
	return NULL;
}

void cfs_routes_free(struct cfs_routes *rt)
{
	size_t i;
	size_t s;

	if (!rt)
		return;
	for (i = 0; rt->route && i < rt->n; i++) {
		struct cfs_croute *cr = &rt->route[i];

		for (s = 0; s < cr->nseg; s++) {
			free(cr->seg[s].prefix);
			free(cr->seg[s].var);
			free(cr->seg[s].suffix);
		}
		free(cr->children);
		template_free(&cr->list);
		template_free(&cr->lister_fetch);
		template_free(&cr->get);
		template_free(&cr->link);
		template_free(&cr->write_path);
		for (s = 0; s < cr->ndrops; s++)
			template_free(&cr->drops[s]);
		free(cr->drops);
		cond_free(&cr->where);
		cond_free(&cr->only_if);
		jpath_free(&cr->list_at);
		jpath_free(&cr->key);
		jpath_free(&cr->at);
		jpath_free(&cr->mtime);
	}
	free(rt->route);
	free(rt);
}

/* ---- matching ------------------------------------------------------ */

int cfs_segment_value(const struct cfs_segment *s, const char *comp, char *out,
		      size_t len)
{
	size_t n = strlen(comp);
	size_t pl = strlen(s->prefix);
	size_t sl = strlen(s->suffix);

	if (!s->var)
		return strcmp(s->prefix, comp) == 0 ? 0 : -ENOENT;
	if (n <= pl + sl || strncmp(comp, s->prefix, pl) != 0 ||
	    strcmp(comp + n - sl, s->suffix) != 0 || n - pl - sl >= len)
		return -ENOENT;
	snprintf(out, len, "%.*s", (int)(n - pl - sl), comp + pl);
	return 0;
}

/* Depth first, most specific child first: the first full match is the
 * most specific one. */
static const struct cfs_croute *descend(const struct cfs_croute *at,
					char *const *comp, size_t n)
{
	char value[512];
	size_t i;

	if (n == 0)
		return at;
	for (i = 0; i < at->nchildren; i++) {
		const struct cfs_croute *c = at->children[i];
		const struct cfs_croute *found;

		if (cfs_segment_value(&c->seg[c->nseg - 1], comp[0], value,
				      sizeof(value)) != 0)
			continue;
		found = descend(c, comp + 1, n - 1);
		if (found)
			return found;
	}
	return NULL;
}

const struct cfs_croute *cfs_routes_match(const struct cfs_routes *rt,
					  char *const *comp, size_t n)
{
	return n <= CFS_MAX_DEPTH ? descend(&rt->route[0], comp, n) : NULL;
}
