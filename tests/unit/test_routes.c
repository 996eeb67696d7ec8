/*
 * Unit tests of the route tables: every provider's table links (every row
 * has its parent directory, every {variable} a source of names), and a
 * broken table is refused with the row named.
 */
#include "cache.h"
#include "check.h"
#include "provider.h"
#include "tree.h"

static void check_table_links(const struct cfs_provider *p)
{
	char err[256] = "";
	struct cfs_tree *t = cfs_tree_new(p, NULL, NULL, "http://x", err,
					  sizeof(err));

	if (!t)
		fprintf(stderr, "%s\n", err);
	CHECK(t != NULL);
	cfs_tree_free(t);
}

static const struct cfs_route orphan_routes[] = {
	CFS_ROUTE("a", CFS_DIR),
	CFS_ROUTE("b/c.json", CFS_FILE, .get = "/c"),
};

static const struct cfs_route unlisted_routes[] = {
	CFS_ROUTE("a", CFS_DIR),
	CFS_ROUTE("a/{x}.json", CFS_FILE, .get = "/x/{x}"),
};

static void check_refused(const struct cfs_route *routes, size_t n,
			  const char *row)
{
	struct cfs_provider p = { .name = "test", .routes = routes,
				  .nroutes = n };
	char err[256] = "";

	CHECK(cfs_tree_new(&p, NULL, NULL, "http://x", err, sizeof(err)) ==
	      NULL);
	CHECK(strstr(err, row) != NULL);
}

int main(void)
{
	const struct cfs_provider *const *p;

	for (p = cfs_providers; *p; p++)
		check_table_links(*p);
	check_refused(orphan_routes, 2, "b/c.json");
	check_refused(unlisted_routes, 2, "a/{x}.json");
	return 0;
}
