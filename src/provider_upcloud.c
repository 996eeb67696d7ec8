/*
 * provider_upcloud.c - UpCloud: its tree (the README's "The UpCloud
 * tree"), its credentials and its API base.
 *
 * Every path of the mount is one row below.  Months (billing/, network/)
 * list the current one and the twelve before it, and any valid YYYY-MM
 * resolves when named; network usage covers the whole calendar month, the
 * current one up to the start of the current hour (so the URL, and with it
 * the cache entry, stays the same for an hour).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "hashmap.h"
#include "listing.h"
#include "provider.h"
#include "views.h"

#define DETAILS "/1.3/account/details/{user}"
/* what changing an account makes stale: its details, and every list */
#define ACCOUNT_DROPS DETAILS "|/1.3/account/list"
#define NET_WINDOW "from={@month_from}&to={@month_to}"
#define NETWORK "/1.3/account/network_usage?" NET_WINDOW
#define RES_NETWORK "/1.3/account/resource_network_usage?" NET_WINDOW
#define SUMMARY "/1.3/account/billing/summary/"

static int encode_details(const struct cfs_vars *v, const char *data,
			  size_t len, json_t **body);
static int encode_labels(const struct cfs_vars *v, const char *data,
			 size_t len, json_t **body);
static int encode_roles(const struct cfs_vars *v, const char *data, size_t len,
			json_t **body);
static int encode_field(const struct cfs_vars *v, const char *data, size_t len,
			json_t **body);
static int encode_sub_account(const struct cfs_vars *v, const char *data,
			      size_t len, json_t **body);
static int field_modifiable(const struct cfs_vars *v);
static int costs_csv(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date);
static int costs_svg(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date);

static const struct cfs_route upcloud_routes[] = {
	CFS_ROUTE("account.json", CFS_FILE, .get = "/1.3/account"),
	CFS_ROUTE("accounts", CFS_DIR),
	CFS_ROUTE("accounts/{user}", CFS_DIR, .list = "/1.3/account/list",
		  .list_at = "accounts.account", .key = "username",
		  .write_method = "DELETE",
		  .write_path = "/1.3/account/sub/{user}",
		  .drops = ACCOUNT_DROPS),
	CFS_ROUTE("accounts/{user}.json", CFS_NEWFILE, .write_method = "POST",
		  .write_path = "/1.3/account/sub",
		  .encode = encode_sub_account, .drops = "/1.3/account/list"),
	CFS_ROUTE("accounts/{user}/details.json", CFS_FILE, .get = DETAILS,
		  .write_method = "PUT", .write_path = DETAILS,
		  .encode = encode_details, .drops = ACCOUNT_DROPS),
	CFS_ROUTE("accounts/{user}/labels", CFS_FILE, .get = DETAILS,
		  .at = "account.labels", .render = CFS_RENDER_LABELS,
		  .write_method = "PUT", .write_path = DETAILS,
		  .encode = encode_labels, .drops = ACCOUNT_DROPS),
	CFS_ROUTE("accounts/{user}/roles", CFS_FILE, .get = DETAILS,
		  .at = "account.roles.role", .render = CFS_RENDER_LINES,
		  .write_method = "PUT", .write_path = DETAILS,
		  .encode = encode_roles, .drops = ACCOUNT_DROPS),
	CFS_ROUTE("accounts/{user}/{field}", CFS_FILE, .list = "@fields",
		  .render = CFS_RENDER_SCALAR, .write_method = "PUT",
		  .write_path = DETAILS, .encode = encode_field,
		  .writable = field_modifiable, .drops = ACCOUNT_DROPS),
	CFS_ROUTE("labels", CFS_DIR),
	CFS_ROUTE("labels/{label}", CFS_DIR, .list = "@label_pairs"),
	CFS_ROUTE("labels/{label}/{user}", CFS_LINK,
		  .list = "/1.3/account/list?label={label}",
		  .list_at = "accounts.account", .key = "username",
		  .link = "../../accounts/{user}"),
	CFS_ROUTE("billing", CFS_DIR),
	CFS_ROUTE("billing/{month}", CFS_DIR, .list = "@months"),
	CFS_ROUTE("billing/costs.csv", CFS_FILE, .view = costs_csv),
	CFS_ROUTE("billing/costs.svg", CFS_FILE, .view = costs_svg),
	CFS_ROUTE("billing/{month}/summary.json", CFS_FILE,
		  .get = SUMMARY "{month}"),
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
				       "accounts.account"),
			   i, account) {
		json_array_foreach(json_object_get(account, "labels"), k,
				   label) {
			char pair[512];

			snprintf(pair, sizeof(pair), "%s=%s",
				 json_string_value(
					 json_object_get(label, "key"))
					 ?: "",
				 json_string_value(
					 json_object_get(label, "value"))
					 ?: "");
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
	int i;
	int rc = 0;

	(void)v;
	for (i = 0; i < CFS_VIEW_MONTHS && !rc; i++) {
		char name[16];

		cfs_view_month(cfs_tree_now(t), i, name);
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
static int list_billed_resources(struct cfs_tree *t, const struct cfs_vars *v,
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

/* ---- writes ------------------------------------------------------- */

/* The one-line fields "Modify account details" accepts. */
static const char *const modifiable_fields[] = {
	"first_name",
	"last_name",
	"company",
	"address",
	"postal_code",
	"city",
	"state",
	"country",
	"currency",
	"language",
	"phone",
	"email",
	"vat_number",
	"timezone",
	"allow_api",
	"allow_gui",
	"enable_3rd_party_services",
};

static int field_modifiable(const struct cfs_vars *v)
{
	const char *field = cfs_vars_value(v, "field");
	size_t i;

	for (i = 0; field && i < sizeof(modifiable_fields) /
					     sizeof(modifiable_fields[0]);
	     i++)
		if (strcmp(field, modifiable_fields[i]) == 0)
			return 1;
	return 0;
}

static int wrap(const char *wrapper, json_t *inner, json_t **body)
{
	*body = json_pack("{s:o}", wrapper, inner);
	return *body ? 0 : -ENOMEM;
}

/* A JSON object, with or without its {"wrapper": {...}} around it. */
static int object_body(const char *wrapper, const char *data, size_t len,
		       json_t **inner)
{
	json_t *j = json_loadb(data, len, 0, NULL);
	json_t *w;

	if (!json_is_object(j)) {
		json_decref(j);
		return -EINVAL;
	}
	w = json_object_get(j, wrapper);
	if (json_is_object(w) && json_object_size(j) == 1) {
		*inner = json_incref(w);
		json_decref(j);
	} else {
		*inner = j;
	}
	return 0;
}

static int encode_details(const struct cfs_vars *v, const char *data,
			  size_t len, json_t **body)
{
	json_t *account;
	int rc;

	(void)v;
	rc = object_body("account", data, len, &account);
	return rc ? rc : wrap("account", account, body);
}

/*
 * Calls line_fn for each line; a final newline ends the last line, and a
 * line may end in CRLF (a file written on Windows), the CR no part of it.
 */
static int each_line(const char *data, size_t len,
		     int (*line_fn)(const char *line, size_t n, void *arg),
		     void *arg)
{
	const char *end = data + len;
	int rc = 0;

	while (data < end && !rc) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t n = nl ? (size_t)(nl - data) : (size_t)(end - data);
		size_t text = n && data[n - 1] == '\r' ? n - 1 : n;

		if (memchr(data, '\0', n))
			return -EINVAL;
		rc = line_fn(data, text, arg);
		data += n + (nl ? 1 : 0);
	}
	return rc;
}

/* What the lines become, and the label keys seen (case-insensitively,
 * as the API compares them), so that each line costs one lookup. */
struct lines {
	json_t *arr;
	struct cfs_hashmap *keys;
};

static int key_seen_before(struct cfs_hashmap *keys, const char *key)
{
	char *folded = strdup(key);
	char *c;
	int rc;

	if (!folded)
		return -ENOMEM;
	for (c = folded; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	rc = cfs_hashmap_get(keys, folded)
		     ? 1
		     : cfs_hashmap_put(keys, folded, keys, NULL);
	free(folded);
	return rc;
}

static int add_label(const char *line, size_t n, void *arg)
{
	struct lines *l = arg;
	const char *eq = memchr(line, '=', n);
	json_t *label;
	int rc;

	if (n == 0)
		return 0;
	if (!eq || eq == line)
		return -EINVAL; /* no key: nothing to send */
	label = json_pack("{s:s%, s:s%}", "key", line, (size_t)(eq - line),
			  "value", eq + 1, (size_t)(line + n - eq - 1));
	if (!label)
		return -EINVAL; /* not UTF-8 */
	rc = key_seen_before(l->keys,
			     json_string_value(json_object_get(label, "key")));
	if (rc) {
		json_decref(label);
		return rc > 0 ? -EINVAL : rc; /* a key twice */
	}
	return json_array_append_new(l->arr, label) ? -ENOMEM : 0;
}

/* The array line_fn builds from the lines, or -errno. */
static int lines_to_array(const char *data, size_t len,
			  int (*line_fn)(const char *line, size_t n,
					 void *lines),
			  json_t **out)
{
	struct lines l = { json_array(), cfs_hashmap_new() };
	int rc = l.arr && l.keys ? each_line(data, len, line_fn, &l) : -ENOMEM;

	cfs_hashmap_free(l.keys, NULL);
	if (rc) {
		json_decref(l.arr);
		return rc;
	}
	*out = l.arr;
	return 0;
}

static int encode_labels(const struct cfs_vars *v, const char *data,
			 size_t len, json_t **body)
{
	json_t *labels;
	int rc;

	(void)v;
	rc = lines_to_array(data, len, add_label, &labels);
	if (rc)
		return rc;
	return wrap("account", json_pack("{s:o}", "labels", labels), body);
}

static int add_role(const char *line, size_t n, void *arg)
{
	struct lines *l = arg;
	json_t *role;

	if (n == 0)
		return 0;
	role = json_stringn(line, n);
	if (!role)
		return -EINVAL;
	return json_array_append_new(l->arr, role) ? -ENOMEM : 0;
}

static int encode_roles(const struct cfs_vars *v, const char *data, size_t len,
			json_t **body)
{
	json_t *roles;
	int rc;

	(void)v;
	rc = lines_to_array(data, len, add_role, &roles);
	if (rc)
		return rc;
	return wrap("account", json_pack("{s:{s:o}}", "roles", "role", roles),
		    body);
}

/* value + an optional final newline; a newline elsewhere cannot be valid */
static int encode_field(const struct cfs_vars *v, const char *data, size_t len,
			json_t **body)
{
	const char *field = cfs_vars_value(v, "field");
	json_t *value;

	if (!field_modifiable(v))
		return -EINVAL;
	if (len && data[len - 1] == '\n')
		len--;
	if (len && data[len - 1] == '\r')
		len--;
	if (memchr(data, '\n', len) || memchr(data, '\0', len))
		return -EINVAL;
	value = json_stringn(data, len);
	if (!value)
		return -EINVAL;
	return wrap("account", json_pack("{s:o}", field, value), body);
}

/* The username comes from the file name; a different one in the body
 * cannot be what was meant. */
static int encode_sub_account(const struct cfs_vars *v, const char *data,
			      size_t len, json_t **body)
{
	const char *user = cfs_vars_value(v, "user");
	json_t *sub;
	json_t *named;
	int rc;

	rc = object_body("sub_account", data, len, &sub);
	if (rc)
		return rc;
	named = json_object_get(sub, "username");
	if (named && (!json_is_string(named) ||
		      strcmp(json_string_value(named), user) != 0)) {
		json_decref(sub);
		return -EINVAL;
	}
	if (!named &&
	    json_object_set_new(sub, "username", json_string(user)) != 0) {
		json_decref(sub);
		return -ENOMEM;
	}
	return wrap("sub_account", sub, body);
}

/* ---- the costs of the months billing/ lists (README "The UpCloud tree") */

struct month_cost {
	char month[16];
	char total[32];
	double value;
	char currency[16];
};

/* One summary's total; a month without one (404) costs 0. */
static int month_cost(struct cfs_tree *t, const char *path,
		      struct month_cost *mc)
{
	struct cfs_resp *r = NULL;
	json_t *total;
	int rc = cfs_tree_fetch(t, path, NULL, &r);

	snprintf(mc->total, sizeof(mc->total), "0");
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	total = json_object_get(r->json, "total_amount");
	if (json_is_number(total)) {
		cfs_view_number(total, mc->total);
		mc->value = json_number_value(total);
	}
	snprintf(mc->currency, sizeof(mc->currency), "%s",
		 json_string_value(json_object_get(r->json, "currency"))
			 ?: "");
	cfs_resp_unref(r);
	return 0;
}

/*
 * The months of billing/, newest first, from summary.json's GETs, all
 * asked at once with also (another GET the view needs, or NULL); a month
 * without a summary takes the other months' currency.
 */
static int month_costs(struct cfs_tree *t, struct month_cost *mc,
		       const char *also)
{
	char path[CFS_VIEW_MONTHS + 1][64];
	char *paths[CFS_VIEW_MONTHS + 1];
	const char *currency = "";
	size_t n = 0;
	int i;
	int rc = 0;

	memset(mc, 0, CFS_VIEW_MONTHS * sizeof(*mc));
	for (i = 0; i < CFS_VIEW_MONTHS; i++) {
		cfs_view_month(cfs_tree_now(t), i, mc[i].month);
		snprintf(path[i], sizeof(path[i]), SUMMARY "%s", mc[i].month);
		paths[n++] = path[i];
	}
	if (also) {
		snprintf(path[n], sizeof(path[n]), "%s", also);
		paths[n] = path[n];
		n++;
	}
	cfs_tree_prefetch(t, paths, n);
	for (i = 0; i < CFS_VIEW_MONTHS && !rc; i++)
		rc = month_cost(t, path[i], &mc[i]);
	for (i = 0; i < CFS_VIEW_MONTHS; i++)
		if (!*currency)
			currency = mc[i].currency;
	for (i = 0; i < CFS_VIEW_MONTHS; i++)
		if (!mc[i].currency[0])
			snprintf(mc[i].currency, sizeof(mc[i].currency), "%s",
				 currency);
	return rc;
}

static int costs_csv(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date)
{
	static const char *const header[] = { "month", "currency", "total" };
	struct month_cost mc[CFS_VIEW_MONTHS];
	int i;
	int rc;

	(void)v;
	(void)src;
	(void)date;
	rc = month_costs(t, mc, NULL);
	if (!rc)
		rc = cfs_csv_row(out, header, 3);
	for (i = 0; i < CFS_VIEW_MONTHS && !rc; i++)
		rc = cfs_csv_row(out,
				 (const char *[]){ mc[i].month, mc[i].currency,
						   mc[i].total },
				 3);
	return rc;
}

/* The account's username, from account.json's GET. */
static int account_username(struct cfs_tree *t, char *out, size_t len)
{
	struct cfs_resp *r = NULL;
	int rc = cfs_tree_fetch(t, "/1.3/account", NULL, &r);

	if (rc)
		return rc;
	snprintf(out, len, "%s",
		 json_string_value(cfs_json_at(r->json, "account.username"))
			 ?: "");
	cfs_resp_unref(r);
	return 0;
}

/* The bars go oldest first, left to right. */
static int costs_svg(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date)
{
	struct month_cost mc[CFS_VIEW_MONTHS];
	const char *label[CFS_VIEW_MONTHS];
	const char *text[CFS_VIEW_MONTHS];
	double value[CFS_VIEW_MONTHS];
	char user[128] = "";
	struct cfs_buf title = { 0 };
	int i;
	int rc;

	(void)v;
	(void)src;
	(void)date;
	rc = month_costs(t, mc, "/1.3/account");
	if (!rc)
		rc = account_username(t, user, sizeof(user));
	for (i = 0; i < CFS_VIEW_MONTHS; i++) {
		const struct month_cost *m = &mc[CFS_VIEW_MONTHS - 1 - i];

		label[i] = m->month;
		text[i] = m->total;
		value[i] = m->value;
	}
	if (!rc)
		rc = cfs_buf_printf(&title, "Costs of %s (%s)", user,
				    mc[0].currency);
	if (!rc)
		rc = cfs_svg_bar_chart(&(struct cfs_chart){ title.data,
							    mc[0].currency,
							    CFS_VIEW_MONTHS,
							    label, value,
							    text },
				       out);
	cfs_buf_free(&title);
	return rc;
}

static const struct cfs_lister upcloud_listers[] = {
	{ .name = "@fields", .list = list_fields, .fetches = DETAILS },
	{ .name = "@label_pairs",
	  .list = list_label_pairs,
	  .accepts = label_pair_valid },
	{ .name = "@months", .list = list_months, .accepts = month_valid },
	{ .name = "@billed_resources",
	  .list = list_billed_resources,
	  .fetches = "/1.3/account/billing/summary/{month}" },
};

/* Network usage covers the month, the current one up to this hour. */
static int month_window(struct cfs_tree *t, const struct cfs_vars *v,
			time_t *first, time_t *last)
{
	time_t hour = cfs_tree_now(t) / 3600 * 3600;

	if (cfs_parse_month(cfs_vars_value(v, "month"), first, last) != 0)
		return -EINVAL;
	if (*last > hour)
		*last = hour > *first ? hour : *first;
	return 0;
}

static int append_window_end(struct cfs_tree *t, const struct cfs_vars *v,
			     int last_end, struct cfs_buf *out)
{
	time_t first;
	time_t last;
	char iso[32];
	int rc = month_window(t, v, &first, &last);

	if (rc)
		return rc;
	cfs_iso8601(last_end ? last : first, iso);
	return cfs_buf_append(out, iso, strlen(iso));
}

static int derive_month_from(struct cfs_tree *t, const struct cfs_vars *v,
			     struct cfs_buf *out)
{
	return append_window_end(t, v, 0, out);
}

static int derive_month_to(struct cfs_tree *t, const struct cfs_vars *v,
			   struct cfs_buf *out)
{
	return append_window_end(t, v, 1, out);
}

static const struct cfs_derivation upcloud_derivations[] = {
	{ "month_from", "month", derive_month_from },
	{ "month_to", "month", derive_month_to },
};

/* The names one source gives UpCloud's credentials. */
struct upcloud_keys {
	const char *token;
	const char *username;
	const char *password;
};

static const struct upcloud_keys env_keys = { "UPCLOUD_TOKEN",
					      "UPCLOUD_USERNAME",
					      "UPCLOUD_PASSWORD" };

/* upctl's own names, in its configuration file */
static const struct upcloud_keys upctl_keys = { "token", "username",
						"password" };

/*
 * A token, or a username and password, from one source; 1 when it holds
 * none of them (the next source's turn).  where ends the messages: ""
 * for the environment, " in FILE" for a file.
 */
static int take_source(struct cfs_auth *a, const struct cfs_auth_source *src,
		       const struct upcloud_keys *k, const char *where,
		       char *err, size_t errlen)
{
	const char *token = cfs_auth_get(src, k->token);
	const char *user = cfs_auth_get(src, k->username);
	const char *pass = cfs_auth_get(src, k->password);

	if (token && (user || pass)) {
		snprintf(err, errlen, "both %s and %s/%s are set%s; keep one",
			 k->token, k->username, k->password, where);
		return -EINVAL;
	}
	if (token)
		return cfs_auth_set_bearer(a, token);
	if (user && pass)
		return cfs_auth_set_basic(a, user, pass);
	if (user || pass) {
		snprintf(err, errlen, "%s is set%s, but not %s",
			 user ? k->username : k->password, where,
			 user ? k->password : k->username);
		return -EACCES;
	}
	return 1;
}

/* The environment first, then upctl's configuration file. */
static int load_credentials(struct cfs_auth *a,
			    const struct cfs_auth_source *src, char *err,
			    size_t errlen)
{
	struct cfs_auth_source *upctl;
	char where[PATH_MAX + 8];
	int rc;

	rc = take_source(a, src, &env_keys, "", err, errlen);
	if (rc <= 0)
		return rc;
	rc = cfs_auth_config_load(src, "upctl.yaml", &upctl, err, errlen);
	if (rc)
		return rc;
	if (upctl) {
		snprintf(where, sizeof(where), " in %s",
			 cfs_auth_source_path(upctl));
		rc = take_source(a, upctl, &upctl_keys, where, err, errlen);
		cfs_auth_config_free(upctl);
		if (rc <= 0)
			return rc;
	}
	snprintf(err, errlen,
		 "no UpCloud credentials: set UPCLOUD_TOKEN, or "
		 "UPCLOUD_USERNAME and UPCLOUD_PASSWORD");
	return -EACCES;
}

static const char *default_url(const struct cfs_auth *auth)
{
	(void)auth;
	return "https://api.upcloud.com";
}

const struct cfs_provider cfs_provider_upcloud = {
	.name = "upcloud",
	.check_path = "/1.3/account",
	.routes = upcloud_routes,
	.nroutes = sizeof(upcloud_routes) / sizeof(upcloud_routes[0]),
	.listers = upcloud_listers,
	.nlisters = sizeof(upcloud_listers) / sizeof(upcloud_listers[0]),
	.derivations = upcloud_derivations,
	.nderivations = sizeof(upcloud_derivations) /
			sizeof(upcloud_derivations[0]),
	.description = "UpCloud",
	.credentials_help =
		"UPCLOUD_TOKEN, or UPCLOUD_USERNAME + UPCLOUD_PASSWORD;\n"
		"else token, or username + password, from upctl's\n"
		"$XDG_CONFIG_HOME/upctl.yaml (~/.config/upctl.yaml)",
	.load_credentials = load_credentials,
	.default_url = default_url,
};
