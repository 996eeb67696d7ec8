/*
 * Unit tests of route compilation: both providers' tables compile, and
 * every kind of broken row is refused at start-up with its pattern and
 * its reason named.
 */
#include "check.h"
#include "provider.h"
#include "routes.h"
#include "tree.h"

static int no_list(struct cfs_tree *t, const struct cfs_vars *v,
		   struct cfs_listing *out)
{
	(void)t;
	(void)v;
	(void)out;
	return 0;
}

static int no_derive(struct cfs_tree *t, const struct cfs_vars *v,
		     struct cfs_buf *out)
{
	(void)t;
	(void)v;
	(void)out;
	return 0;
}

static const struct cfs_lister listers[] = { { .name = "@names",
					       .list = no_list } };
static const struct cfs_derivation derivations[] = {
	{ "now", NULL, no_derive },
	{ "first", "m", no_derive },
};

static void check_compiles(const struct cfs_provider *p)
{
	char err[256] = "";
	struct cfs_routes *rt = cfs_routes_compile(p, err, sizeof(err));

	if (!rt)
		fprintf(stderr, "%s\n", err);
	CHECK(rt != NULL);
	cfs_routes_free(rt);
}

/* A table of `a` (a directory) and the rows given: refused, naming row
 * and reason. */
#define REFUSED(row, reason, ...)                                             \
	check_refused((const struct cfs_route[]){ CFS_ROUTE("a", CFS_DIR),    \
						  __VA_ARGS__ },              \
		      sizeof((const struct cfs_route[]){ __VA_ARGS__ }) /     \
				      sizeof(struct cfs_route) +              \
			      1,                                              \
		      row, reason)

static void check_refused(const struct cfs_route *routes, size_t n,
			  const char *row, const char *reason)
{
	struct cfs_provider p = {
		.name = "test",
		.routes = routes,
		.nroutes = n,
		.listers = listers,
		.nlisters = 1,
		.derivations = derivations,
		.nderivations = 2,
	};
	char err[256] = "";
	char want[128];

	CHECK(cfs_routes_compile(&p, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), "row '%s': ", row);
	if (!strstr(err, want) || !strstr(err, reason)) {
		fprintf(stderr, "got: %s\nwant: %s... %s\n", err, want,
			reason);
		exit(1);
	}
}

static void check_templates(void)
{
	REFUSED("a/f.json", "get: {nosuch} is not a variable bound there",
		CFS_ROUTE("a/f.json", CFS_FILE, .get = "/f/{nosuch}"));
	REFUSED("a/{x}", "list: {x} is not a variable bound there",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x/{x}", .key = "id"));
	REFUSED("a/{x}", "list: @nope is not a derivation of test",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x?{@nope}",
			  .key = "id"));
	REFUSED("a/u.json", "get: {@first} needs {m}",
		CFS_ROUTE("a/u.json", CFS_FILE, .get = "/u?{@first}"));
	REFUSED("a/u.json", "get: '{' without '}'",
		CFS_ROUTE("a/u.json", CFS_FILE, .get = "/u/{@now"));
	REFUSED("a/{x}.json",
		"write_path: {x.id}: a new file's name has no "
		"item",
		CFS_ROUTE("a/{x}.json", CFS_NEWFILE, .write_method = "POST",
			  .write_path = "/x/{x.id}"));
	REFUSED("a/{x}", "drops: {y} is not a variable bound there",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id",
			  .write_method = "DELETE", .write_path = "/x/{x}",
			  .drops = "/x|/y/{y}"));
	REFUSED("a/{x}", "drops: an empty prefix",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id",
			  .write_method = "DELETE", .write_path = "/x/{x}",
			  .drops = "/x||/y"));
}

static void check_conditions(void)
{
	REFUSED("a/{x}", "where 'state!DELETED' is not field=value",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id",
			  .where = "state!DELETED"));
	REFUSED("a/{x}", "where '=UP' is not field=value",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id",
			  .where = "=UP"));
	REFUSED("a/f.json", "only_if 'x.kind=big' names no variable",
		CFS_ROUTE("a/f.json", CFS_FILE, .get = "/f",
			  .only_if = "x.kind=big"));
	REFUSED("a/{x}/f", "only_if 'x.kind' is not var.field=value",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id"),
		CFS_ROUTE("a/{x}/f", CFS_FILE, .get = "/f",
			  .only_if = "x.kind"));
	REFUSED("a/{x}", "an empty part in a dotted field",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "owner..id"));
}

static void check_shapes(void)
{
	REFUSED("b/c.json", "no parent directory row",
		CFS_ROUTE("b/c.json", CFS_FILE, .get = "/c"));
	REFUSED("a/f.json/g", "no parent directory row",
		CFS_ROUTE("a/f.json", CFS_FILE, .get = "/f"),
		CFS_ROUTE("a/f.json/g", CFS_FILE, .get = "/g"));
	REFUSED("a/{x", "bad segment '{x'",
		CFS_ROUTE("a/{x", CFS_DIR, .list = "/x", .key = "id"));
	REFUSED("a/{x}{y}", "bad segment '{x}{y}'",
		CFS_ROUTE("a/{x}{y}", CFS_DIR, .list = "/x", .key = "id"));
	REFUSED("a/", "ends with '/'", CFS_ROUTE("a/", CFS_DIR));
	REFUSED("a/{x}/{x}", "two variables named {x}",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id"),
		CFS_ROUTE("a/{x}/{x}", CFS_DIR, .list = "/y", .key = "id"));
	REFUSED("a", "a second row with this pattern",
		CFS_ROUTE("a", CFS_DIR));
	REFUSED("a/{x}.json", "a {variable} with no list",
		CFS_ROUTE("a/{x}.json", CFS_FILE, .get = "/x/{x}"));
	REFUSED("a/{x}", "no lister @nope",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "@nope"));
	REFUSED("a/{x}", "key, where and list_at are for API lists",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "@names", .key = "id"));
	REFUSED("a/{x}", "an API list with no key",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x"));
	REFUSED("a/b", "list, key, where and list_at are for a listed",
		CFS_ROUTE("a/b", CFS_DIR, .list = "/x", .key = "id"));
}

static void check_kinds(void)
{
	REFUSED("a/l", "link is for symlink rows", CFS_ROUTE("a/l", CFS_LINK));
	REFUSED("a/f", "link is for symlink rows",
		CFS_ROUTE("a/f", CFS_FILE, .get = "/f", .link = "x"));
	REFUSED("a/{x}.json",
		"a new file needs a {variable} name and a "
		"write_method",
		CFS_ROUTE("a/{x}.json", CFS_NEWFILE));
	REFUSED("a/f", "a file with neither get, a view nor an item",
		CFS_ROUTE("a/f", CFS_FILE));
	REFUSED("a/{x}/raw", "raw rendering needs get",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id"),
		CFS_ROUTE("a/{x}/raw", CFS_FILE, .render = CFS_RENDER_RAW));
	REFUSED("a/b", "get, at, mtime, fetch and accept are for files",
		CFS_ROUTE("a/b", CFS_DIR, .get = "/b"));
	REFUSED("a/{x}/f", "accept and fetch without get",
		CFS_ROUTE("a/{x}", CFS_DIR, .list = "/x", .key = "id"),
		CFS_ROUTE("a/{x}/f", CFS_FILE, .fetch = &cfs_fetch_persisted));
	REFUSED("a/f", "write_method and write_path go together",
		CFS_ROUTE("a/f", CFS_FILE, .get = "/f",
			  .write_method = "PUT"));
	REFUSED("a/f", "encode, writable and drops need a write_method",
		CFS_ROUTE("a/f", CFS_FILE, .get = "/f", .drops = "/f"));
}

static int some_view(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date)
{
	(void)t;
	(void)v;
	(void)src;
	(void)date;
	return cfs_buf_append(out, "x", 1);
}

static void check_views(void)
{
	REFUSED("a/b", "a view is for files",
		CFS_ROUTE("a/b", CFS_DIR, .view = some_view));
	REFUSED("a/f", "a view takes no render or at",
		CFS_ROUTE("a/f", CFS_FILE, .get = "/f",
			  .render = CFS_RENDER_RAW, .view = some_view));
	REFUSED("a/f", "a view takes no render or at",
		CFS_ROUTE("a/f", CFS_FILE, .get = "/f", .at = "x",
			  .view = some_view));
	REFUSED("a/f", "a view is not persisted",
		CFS_ROUTE("a/f", CFS_FILE, .get = "/f",
			  .fetch = &cfs_fetch_persisted, .view = some_view));
	REFUSED("a/f", "a view takes no writes",
		CFS_ROUTE("a/f", CFS_FILE, .view = some_view,
			  .write_method = "PUT", .write_path = "/f"));
}

int main(void)
{
	const struct cfs_provider *const *p;

	for (p = cfs_providers; *p; p++)
		check_compiles(*p);
	check_templates();
	check_conditions();
	check_shapes();
	check_kinds();
	check_views();
	return 0;
}
