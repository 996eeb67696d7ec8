/*
 * provider_upcloud.c - the UpCloud tree (SPEC section 4).
 *
 * Every path of the mount is one row below.  Months (billing/, network/)
 * list the current one and the twelve before it, and any valid YYYY-MM
 * resolves when named; network usage covers the whole calendar month, the
 * current one up to the start of the current hour (so the URL, and with it
 * the cache entry, stays the same for an hour).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "hashmap.h"
#include "provider.h"

#define DETAILS "/1.3/account/details/{user}"
#define NET_WINDOW "from={@month_from}&to={@month_to}"
#define NETWORK "/1.3/account/network_usage?" NET_WINDOW
#define RES_NETWORK "/1.3/account/resource_network_usage?" NET_WINDOW

static const struct cfs_route upcloud_routes[] = {
	CFS_ROUTE("account.json", CFS_FILE, .get = "/1.3/account"),
	CFS_ROUTE("accounts", CFS_DIR),
	CFS_ROUTE("accounts/{user}", CFS_DIR, .list = "/1.3/account/list",
		  .list_at = "accounts.account", .key = "username"),
	CFS_ROUTE("accounts/{user}/details.json", CFS_FILE, .get = DETAILS),
	CFS_ROUTE("accounts/{user}/labels", CFS_FILE, .get = DETAILS,
		  .at = "account.labels", .render = CFS_RENDER_LABELS),
	CFS_ROUTE("accounts/{user}/roles", CFS_FILE, .get = DETAILS,
		  .at = "account.roles.role", .render = CFS_RENDER_LINES),
	CFS_ROUTE("accounts/{user}/{field}", CFS_FILE, .list = "@fields",
		  .render = CFS_RENDER_SCALAR),
	CFS_ROUTE("labels", CFS_DIR),
	CFS_ROUTE("labels/{label}", CFS_DIR, .list = "@label_pairs"),
	CFS_ROUTE("labels/{label}/{user}", CFS_LINK,
		  .list = "/1.3/account/list?label={label}",
		  .list_at = "accounts.account", .key = "username",
		  .link = "../../accounts/{user}"),
	CFS_ROUTE("billing", CFS_DIR),
	CFS_ROUTE("billing/{month}", CFS_DIR, .list = "@months"),
	CFS_ROUTE("billing/{month}/summary.json", CFS_FILE,
		  .get = "/1.3/account/billing/summary/{month}"),
	CFS_ROUTE("billing/{month}/legacy-summary.json", CFS_FILE,
		  .get = "/1.3/account/billing_summary/{month}"),
	CFS_ROUTE("billing/{month}/legacy-detailed.json", CFS_FILE,
		  .get = "/1.3/account/billing_summary/{month}/detailed"),
	CFS_ROUTE("billing/{month}/resources", CFS_DIR),
	CFS_ROUTE("billing/{month}/resources/{resource}.json", CFS_FILE,
		  .list = "@billed_resources",
		  .get = "/1.3/account/resource_billing_summary/{resource}/{month}"),
	CFS_ROUTE("network", CFS_DIR),
	CFS_ROUTE("network/current.json", CFS_FILE,
		  .get = "/1.3/account/current_network_usage"),
	CFS_ROUTE("network/{month}", CFS_DIR, .list = "@months"),
	CFS_ROUTE("network/{month}/daily.json", CFS_FILE,
		  .get = NETWORK "&accumulate=day"),
	CFS_ROUTE("network/{month}/daily.csv", CFS_FILE,
		  .get = NETWORK "&accumulate=day", .accept = "text/csv",
		  .render = CFS_RENDER_RAW),
	CFS_ROUTE("network/{month}/hourly.json", CFS_FILE,
		  .get = NETWORK "&accumulate=hour"),
	CFS_ROUTE("network/{month}/hourly.csv", CFS_FILE,
		  .get = NETWORK "&accumulate=hour", .accept = "text/csv",
		  .render = CFS_RENDER_RAW),
	CFS_ROUTE("network/{month}/resources-daily.json", CFS_FILE,
		  .get = RES_NETWORK "&accumulate=day"),
	CFS_ROUTE("network/{month}/resources-daily.csv", CFS_FILE,
		  .get = RES_NETWORK "&accumulate=day", .accept = "text/csv",
		  .render = CFS_RENDER_RAW),
};

/* Scalar fields of the details: one file each. */
static int list_fields(struct cfs_tree *t, const struct cfs_vars *v,
		       struct cfs_listing *out)
{
	struct cfs_buf path = { 0 };
	const char *user = cfs_vars_value(v, "user");
	char *esc = user ? cfs_tree_escape(user) : NULL;
	const char *key;
	json_t *value;
	int rc;

	if (!esc)
		return -ENOMEM;
	rc = cfs_buf_printf(&path, "/1.3/account/details/%s", esc);
	free(esc);
	if (!rc)
		rc = cfs_tree_fetch(t, path.data, NULL, &out->src);
	cfs_buf_free(&path);
	if (rc)
		return rc;
	json_object_foreach(json_object_get(out->src->json, "account"), key,
			    value) {
		if (json_is_object(value) || json_is_array(value))
			continue;
		rc = cfs_listing_add(out, key, value);
		if (rc)
			break;
	}
	return rc;
}

/* Every key=value pair some account carries, once each. */
static int list_label_pairs(struct cfs_tree *t, const struct cfs_vars *v,
			    struct cfs_listing *out)
{
	struct cfs_hashmap *seen = cfs_hashmap_new();
	json_t *account;
	json_t *label;
	size_t i;
	size_t k;
	int rc;

	(void)v;
	if (!seen)
		return -ENOMEM;
	rc = cfs_tree_fetch(t, "/1.3/account/list", NULL, &out->src);
	json_array_foreach(cfs_json_at(rc ? NULL : out->src->json,
				       "accounts.account"), i, account) {
		json_array_foreach(json_object_get(account, "labels"), k,
				   label) {
			char pair[512];

			snprintf(pair, sizeof(pair), "%s=%s",
				 json_string_value(json_object_get(label,
								   "key")) ?: "",
				 json_string_value(json_object_get(
					 label, "value")) ?: "");
			if (rc || cfs_hashmap_get(seen, pair))
				continue;
			rc = cfs_hashmap_put(seen, pair, seen, NULL);
			if (!rc)
				rc = cfs_listing_add(out, pair, NULL);
		}
	}
	cfs_hashmap_free(seen, NULL);
	return rc;
}

static int label_pair_valid(const char *name)
{
	const char *eq = strchr(name, '=');

	return eq && eq > name;
}

static int list_months(struct cfs_tree *t, const struct cfs_vars *v,
		       struct cfs_listing *out)
{
	time_t now = cfs_tree_now(t);
	struct tm tm;
	int i;
	int rc = 0;

	(void)v;
	gmtime_r(&now, &tm);
	for (i = 0; i <= 12 && !rc; i++) {
		char name[16];
		int m = tm.tm_year * 12 + tm.tm_mon - i;

		snprintf(name, sizeof(name), "%04d-%02d", 1900 + m / 12,
			 m % 12 + 1);
		rc = cfs_listing_add(out, name, NULL);
	}
	return rc;
}

static int month_valid(const char *name)
{
	time_t first;
	time_t last;

	return cfs_parse_month(name, &first, &last) == 0;
}

static int add_resources(json_t *j, struct cfs_hashmap *seen,
			 struct cfs_listing *out)
{
	const char *id = json_string_value(json_object_get(j, "resource_id"));
	const char *key;
	json_t *child;
	size_t i;
	int rc = 0;

	if (id && !cfs_hashmap_get(seen, id)) {
		rc = cfs_hashmap_put(seen, id, j, NULL);
		if (!rc)
			rc = cfs_listing_add(out, id, j);
	}
	if (json_is_object(j))
		json_object_foreach(j, key, child) {
			if (rc)
				break;
			rc = add_resources(child, seen, out);
		}
	if (json_is_array(j))
		json_array_foreach(j, i, child) {
			if (rc)
				break;
			rc = add_resources(child, seen, out);
		}
	return rc;
}

/* The resources the month's billing summary names. */
static int list_billed_resources(struct cfs_tree *t,
				 const struct cfs_vars *v,
				 struct cfs_listing *out)
{
	struct cfs_hashmap *seen = cfs_hashmap_new();
	const char *month = cfs_vars_value(v, "month");
	char path[128];
	int rc;

	if (!seen)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/1.3/account/billing/summary/%s",
		 month ? month : "");
	rc = cfs_tree_fetch(t, path, NULL, &out->src);
	if (!rc)
		rc = add_resources(out->src->json, seen, out);
	cfs_hashmap_free(seen, NULL);
	return rc;
}

static const struct cfs_lister upcloud_listers[] = {
	{ "@fields", list_fields, NULL },
	{ "@label_pairs", list_label_pairs, label_pair_valid },
	{ "@months", list_months, month_valid },
	{ "@billed_resources", list_billed_resources, NULL },
};

static int derive(struct cfs_tree *t, const char *name,
		  const struct cfs_vars *v, struct cfs_buf *out)
{
	const char *month = cfs_vars_value(v, "month");
	time_t first;
	time_t last;
	time_t hour = cfs_tree_now(t) / 3600 * 3600;
	char iso[32];

	if (!month || cfs_parse_month(month, &first, &last) != 0)
		return -EINVAL;
	if (strcmp(name, "month_from") == 0) {
		cfs_iso8601(first, iso);
	} else if (strcmp(name, "month_to") == 0) {
		if (last > hour)
			last = hour > first ? hour : first;
		cfs_iso8601(last, iso);
	} else {
		return -EINVAL;
	}
	return cfs_buf_append(out, iso, strlen(iso));
}

const struct cfs_provider cfs_provider_upcloud = {
	.name = "upcloud",
	.check_path = "/1.3/account",
	.routes = upcloud_routes,
	.nroutes = sizeof(upcloud_routes) / sizeof(upcloud_routes[0]),
	.listers = upcloud_listers,
	.nlisters = sizeof(upcloud_listers) / sizeof(upcloud_listers[0]),
	.derive = derive,
};
