/*
 * Unit tests of the tree engine on a small table of its own, served from
 * canned responses (no HTTP, no mount): path resolution through listings,
 * `where` and `only_if`, symlinks, listers and derivations, the listing
 * memo and its dependencies, view files, and what each write would send.
 */
#include <errno.h>

#include "cache.h"
#include "check.h"
#include "http.h"
#include "listing.h"
#include "provider.h"
#include "tree.h"

#define APPS                                                                   \
	"[{\"id\":\"a1\",\"name\":\"one\",\"state\":\"UP\",\"kind\":\"big\","  \
	"\"owner\":{\"id\":\"o1\"},\"created\":\"2026-01-02T03:04:05Z\"},"     \
	"{\"id\":\"a2\",\"name\":\"two\",\"state\":\"DELETED\"},"              \
	"{\"id\":\"a3\",\"name\":\"th/ree\",\"state\":\"UP\",\"kind\":\"s\"}," \
	"{\"id\":\"a1\",\"name\":\"again\",\"state\":\"UP\"}]"

static const char *const canned[][2] = {
	{ "/self", "{\"id\":\"u1\"}" },
	{ "/apps", APPS },
	{ "/x/o1", "{\"x\":1}" },
	{ "/apps/a1", "{\"id\":\"a1\",\"name\":\"one\"}" },
	{ "/usage?from=2026-05-01T00:00:00Z", "{\"bytes\":7}" },
};

static int fetches[sizeof(canned) / sizeof(canned[0])];
static int upper_runs;
static const char *apps_body = APPS;

static int serve(void *arg, const char *path, struct cfs_http_response *rs)
{
	size_t i;

	(void)arg;
	for (i = 0; i < sizeof(canned) / sizeof(canned[0]); i++) {
		const char *body = i == 1 ? apps_body : canned[i][1];

		if (strcmp(path, canned[i][0]) != 0)
			continue;
		fetches[i]++;
		rs->status = 200;
		rs->fetched_at = cfs_now();
		rs->json = json_loads(body, 0, NULL);
		rs->body = cfs_blob_new(body, strlen(body));
		return 0;
	}
	rs->status = 404;
	rs->err = -ENOENT;
	return -ENOENT;
}

/* Upper-cased app names: a lister that depends on a response. */
static int list_upper(struct cfs_tree *t, const struct cfs_vars *v,
		      struct cfs_listing *out)
{
	struct cfs_resp *r;
	json_t *app;
	size_t i;
	int rc;

	(void)v;
	upper_runs++;
	rc = cfs_tree_fetch(t, "/apps", NULL, &r);
	if (rc)
		return rc;
	json_array_foreach(r->json, i, app) {
		char name[64];
		char *s;

		snprintf(name, sizeof(name), "%s",
			 json_string_value(json_object_get(app, "name")));
		for (s = name; *s; s++)
			*s = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
		rc = cfs_listing_add(out, name, app);
		if (rc)
			break;
	}
	cfs_resp_unref(r);
	return rc;
}

static int list_months(struct cfs_tree *t, const struct cfs_vars *v,
		       struct cfs_listing *out)
{
	(void)t;
	(void)v;
	return cfs_listing_add(out, "2026-04", NULL);
}

static int month_valid(const char *name)
{
	time_t first;
	time_t last;

	return cfs_parse_month(name, &first, &last) == 0;
}

static int derive_first(struct cfs_tree *t, const struct cfs_vars *v,
			struct cfs_buf *out)
{
	time_t first;
	time_t last;
	char iso[32];

	(void)t;
	if (cfs_parse_month(cfs_vars_value(v, "m"), &first, &last) != 0)
		return -EINVAL;
	cfs_iso8601(first, iso);
	return cfs_buf_append(out, iso, strlen(iso));
}

/* A name line -> {"name": line}; an empty one cannot be valid. */
static int encode_name(const struct cfs_vars *v, const char *data, size_t len,
		       json_t **body)
{
	(void)v;
	while (len && data[len - 1] == '\n')
		len--;
	if (!len)
		return -EINVAL;
	*body = json_pack("{s:s%}", "name", data, len);
	return *body ? 0 : -ENOMEM;
}

static int encode_any(const struct cfs_vars *v, const char *data, size_t len,
		      json_t **body)
{
	(void)v;
	*body = json_loadb(data, len, 0, NULL);
	return *body ? 0 : -EINVAL;
}

/* How many apps the list holds, dated 2026-01-02. */
static int count_apps(struct cfs_tree *t, const struct cfs_vars *v,
		      json_t *src, struct cfs_buf *out, time_t *date)
{
	(void)t;
	(void)v;
	cfs_parse_iso8601("2026-01-02T00:00:00Z", date);
	return cfs_buf_printf(out, "%zu\n", json_array_size(src));
}

/* From two fetches of its own. */
static int self_and_app(struct cfs_tree *t, const struct cfs_vars *v,
			json_t *src, struct cfs_buf *out, time_t *date)
{
	struct cfs_resp *self = NULL;
	struct cfs_resp *app = NULL;
	int rc;

	(void)v;
	(void)date;
	CHECK(src == NULL);
	rc = cfs_tree_fetch(t, "/self", NULL, &self);
	if (!rc)
		rc = cfs_tree_fetch(t, "/apps/a1", NULL, &app);
	if (!rc)
		rc = cfs_buf_printf(out, "%s %s\n",
				    json_string_value(
					    json_object_get(self->json, "id")),
				    json_string_value(
					    json_object_get(app->json,
							    "name")));
	cfs_resp_unref(self);
	cfs_resp_unref(app);
	return rc;
}

static const struct cfs_route routes[] = {
	CFS_ROUTE("self.json", CFS_FILE, .get = "/self"),
	CFS_ROUTE("apps", CFS_DIR),
	CFS_ROUTE("apps/{app}", CFS_DIR, .list = "/apps", .key = "id",
		  .where = "state!=DELETED"),
	CFS_ROUTE("apps/{app}.json", CFS_NEWFILE, .write_method = "POST",
		  .write_path = "/apps", .encode = encode_any,
		  .drops = "/apps"),
	CFS_ROUTE("apps/by-name", CFS_DIR),
	CFS_ROUTE("apps/by-name/{name}", CFS_LINK, .list = "/apps",
		  .key = "name", .link = "../{name.id}"),
	CFS_ROUTE("apps/{app}/app.json", CFS_FILE, .mtime = "created"),
	CFS_ROUTE("apps/{app}/extra.json", CFS_FILE,
		  .get = "/x/{app.owner.id}", .only_if = "app.kind=big"),
	CFS_ROUTE("apps/{app}/name", CFS_FILE, .get = "/apps/{app}",
		  .at = "name", .render = CFS_RENDER_SCALAR,
		  .write_method = "PUT", .write_path = "/apps/{app}",
		  .encode = encode_name, .drops = "/apps/{app}|/apps"),
	CFS_ROUTE("upper", CFS_DIR),
	CFS_ROUTE("upper/{u}", CFS_LINK, .list = "@upper",
		  .link = "../apps/{u.id}"),
	CFS_ROUTE("months", CFS_DIR),
	CFS_ROUTE("months/{m}", CFS_DIR, .list = "@months"),
	CFS_ROUTE("months/{m}/usage.json", CFS_FILE,
		  .get = "/usage?from={@first}"),
	CFS_ROUTE("named", CFS_DIR),
	CFS_ROUTE("named/{n}", CFS_DIR, .list = "@named"),
	CFS_ROUTE("apps.count", CFS_FILE, .get = "/apps", .view = count_apps),
	CFS_ROUTE("both.txt", CFS_FILE, .view = self_and_app),
};

static const struct cfs_lister listers[] = {
	{ .name = "@upper", .list = list_upper },
	{ .name = "@months", .list = list_months, .accepts = month_valid },
	{ .name = "@named", .accepts = month_valid },
};

static const struct cfs_derivation derivations[] = {
	{ "first", "m", derive_first },
};

static const struct cfs_provider test_provider = {
	.name = "test",
	.routes = routes,
	.nroutes = sizeof(routes) / sizeof(routes[0]),
	.listers = listers,
	.nlisters = sizeof(listers) / sizeof(listers[0]),
	.derivations = derivations,
	.nderivations = 1,
};

struct names {
	char text[512];
};

static int collect(void *arg, const char *name, enum cfs_kind kind,
		   enum cfs_cost cost)
{
	struct names *n = arg;

	(void)kind;
	(void)cost;
	snprintf(n->text + strlen(n->text), sizeof(n->text) - strlen(n->text),
		 "%s%s", n->text[0] ? " " : "", name);
	return 0;
}

static void check_listed(struct cfs_tree *t, const char *dir, const char *want)
{
	struct names n = { "" };

	CHECK(cfs_tree_readdir(t, dir, collect, &n) == 0);
	CHECK_STR(n.text, want);
}

static int node_rc(struct cfs_tree *t, const char *path)
{
	struct cfs_node n;
	int rc = cfs_tree_node(t, path, &n);

	cfs_node_clear(&n);
	return rc;
}

static void check_resolution(struct cfs_tree *t)
{
	struct cfs_node n;
	time_t created;

	check_listed(t, "",
		     "self.json apps upper months named apps.count both.txt");
	/* filtered by where, the duplicate id once, new files never */
	check_listed(t, "apps", "by-name a1 a3");
	check_listed(t, "apps/a1", "app.json extra.json name");
	check_listed(t, "apps/a3", "app.json name");
	CHECK(node_rc(t, "apps/a2") == -ENOENT);
	CHECK(node_rc(t, "apps/zz/app.json") == -ENOENT);
	CHECK(node_rc(t, "apps/a3/extra.json") == -ENOENT);
	CHECK(node_rc(t, "apps/a1/nosuch") == -ENOENT);
	CHECK(node_rc(t, "self.json/x") == -ENOENT);

	CHECK(cfs_tree_node(t, "apps/a1/app.json", &n) == 0);
	CHECK(n.kind == CFS_FILE);
	CHECK(strstr(n.content->data, "\"owner\"") != NULL);
	CHECK(cfs_parse_iso8601("2026-01-02T03:04:05Z", &created) == 0);
	CHECK(n.mtime == created);
	cfs_node_clear(&n);

	CHECK(cfs_tree_node(t, "apps/a1/extra.json", &n) == 0);
	CHECK_STR(n.content->data, "{\n  \"x\": 1\n}\n");
	cfs_node_clear(&n);

	CHECK(cfs_tree_node(t, "apps/a1/name", &n) == 0);
	CHECK_STR(n.content->data, "one\n");
	CHECK(n.writable);
	cfs_node_clear(&n);

	/* a '/' in a name is a '_' */
	check_listed(t, "apps/by-name", "one two th_ree again");
	CHECK(cfs_tree_node(t, "apps/by-name/th_ree", &n) == 0);
	CHECK(n.kind == CFS_LINK);
	CHECK_STR(n.link, "../a3");
	cfs_node_clear(&n);
}

static void check_listers(struct cfs_tree *t)
{
	struct cfs_node n;

	/* accepted although not listed; derivations see the variable */
	check_listed(t, "months", "2026-04");
	CHECK(node_rc(t, "months/2026-05") == 0);
	CHECK(node_rc(t, "months/2026-13") == -ENOENT);
	CHECK(cfs_tree_node(t, "months/2026-05/usage.json", &n) == 0);
	CHECK(strstr(n.content->data, "\"bytes\": 7") != NULL);
	cfs_node_clear(&n);

	/* a lister without a list: only the names it accepts */
	check_listed(t, "named", "");
	CHECK(node_rc(t, "named/2026-05") == 0);
	CHECK(node_rc(t, "named/2026-13") == -ENOENT);

	CHECK(cfs_tree_node(t, "upper/TWO", &n) == 0);
	CHECK_STR(n.link, "../apps/a2");
	cfs_node_clear(&n);
}

/* A listing is built once while its responses stay the same. */
static void check_memo(struct cfs_tree *t, struct cfs_cache *c)
{
	int runs = upper_runs;
	int i;

	for (i = 0; i < 100; i++)
		CHECK(node_rc(t, "upper/ONE") == 0);
	CHECK(upper_runs == runs);
	CHECK(fetches[1] == 1);

	/* a new response: the listing is built again, from it */
	apps_body = "[{\"id\":\"a9\",\"name\":\"nine\",\"state\":\"UP\"}]";
	cfs_cache_expire(c, "/apps");
	CHECK(node_rc(t, "upper/NINE") == 0);
	CHECK(upper_runs == runs + 1);
	CHECK(node_rc(t, "upper/ONE") == -ENOENT);
	check_listed(t, "apps", "by-name a9");
	apps_body = APPS;
	cfs_cache_expire(c, "/apps");
}

static void check_writes(struct cfs_tree *t)
{
	struct cfs_write w;

	CHECK(cfs_tree_plan_write(t, "apps/a1/name", "new\n", 4, &w) == 0);
	CHECK_STR(w.method, "PUT");
	CHECK_STR(w.path, "/apps/a1");
	CHECK_STR(w.body, "{\"name\":\"new\"}");
	CHECK(w.ndrops == 2);
	CHECK_STR(w.drops[0], "/apps/a1");
	CHECK_STR(w.drops[1], "/apps");
	cfs_write_clear(&w);

	CHECK(cfs_tree_plan_write(t, "apps/a1/name", "\n", 1, &w) == -EINVAL);
	CHECK(cfs_tree_plan_write(t, "self.json", "{}", 2, &w) == -EACCES);
	CHECK(cfs_tree_plan_write(t, "apps/a1", "x", 1, &w) == -EACCES);

	CHECK(cfs_tree_classify(t, "apps/new.json") == CFS_ENTRY_NEW);
	CHECK(cfs_tree_plan_write(t, "apps/new.json", "{\"a\":1}", 7, &w) ==
	      0);
	CHECK_STR(w.method, "POST");
	CHECK_STR(w.path, "/apps");
	CHECK_STR(w.body, "{\"a\":1}");
	cfs_write_clear(&w);

	CHECK(cfs_tree_classify(t, "apps/a1/name") == CFS_ENTRY_WRITABLE);
	CHECK(cfs_tree_classify(t, "apps/a1/app.json") == CFS_ENTRY_READONLY);
	/* apps takes new files, so a temporary one may live there */
	CHECK(cfs_tree_classify(t, "apps/.tmp") == CFS_ENTRY_SCRATCH);
	CHECK(cfs_tree_classify(t, "months/zz") == CFS_ENTRY_NONE);
}

static int cost_of_both(void *arg, const char *name, enum cfs_kind kind,
			enum cfs_cost cost)
{
	(void)kind;
	if (strcmp(name, "both.txt") == 0)
		*(enum cfs_cost *)arg = cost;
	return 0;
}

static void check_views(struct cfs_tree *t)
{
	enum cfs_cost cost = CFS_COST_NONE;
	struct cfs_node n;
	time_t date;
	int before;

	/* a view of a get: the same cached response as the listing */
	check_listed(t, "apps", "by-name a1 a3");
	before = fetches[1];
	CHECK(cfs_tree_node(t, "apps.count", &n) == 0);
	CHECK_STR(n.content->data, "4\n");
	CHECK(cfs_parse_iso8601("2026-01-02T00:00:00Z", &date) == 0);
	CHECK(n.mtime == date);
	CHECK_STR(n.url, "http://api/apps");
	CHECK(fetches[1] == before);
	cfs_node_clear(&n);

	/* a view of its own fetches: known to a listing only once cached */
	CHECK(cfs_tree_readdir(t, "", cost_of_both, &cost) == 0);
	CHECK(cost == CFS_COST_CACHED);
	CHECK(cfs_tree_node(t, "both.txt", &n) == 0);
	CHECK_STR(n.content->data, "u1 one\n");
	CHECK(n.url == NULL);
	cfs_node_clear(&n);
}

int main(void)
{
	struct cfs_cache *c = cfs_cache_new(NULL, 3600);
	char err[256] = "";
	struct cfs_tree *t;

	CHECK(c != NULL);
	cfs_cache_set_source(c, serve, NULL);
	t = cfs_tree_new(&test_provider, c, NULL, "http://api", err,
			 sizeof(err));
	if (!t)
		fprintf(stderr, "%s\n", err);
	CHECK(t != NULL);
	check_resolution(t);
	check_listers(t);
	check_memo(t, c);
	check_views(t);
	check_writes(t);
	cfs_tree_free(t);
	cfs_cache_free(c);
	return 0;
}
