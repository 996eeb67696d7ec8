/*
 * provider_clever.c - Clever Cloud: its tree (the README's "The Clever
 * Cloud tree"), its credentials and its API base.
 *
 * Every path of the mount is one row below.  Owners are the user (the
 * personal space, whose v2 calls go to /v2/self/...) and each organisation
 * (/v2/organisations/{id}/...); v4 calls take either id as ownerId.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "listing.h"
#include "provider.h"
#include "views.h"

#define V4_APP "/v4/orchestration/organisations/{owner}/applications/{app}"
#define INVOICES "/v4/billing/organisations/{owner}/invoices"
#define INVOICE "orgs/{owner}/invoices/{invoice}"
#define LOGS "/v4/logs/organisations/{owner}/applications/{app}/logs"
/*
 * Every service's events (the API's default is the build ones only).  A
 * snapshot ends when it is fetched; the live stream, on the same path,
 * has no end (logs.h).
 */
#define LOG_ROUTE(pattern, filter, ...)                                       \
	CFS_ROUTE(pattern, CFS_FILE, .get = LOGS "?service=all" filter,       \
		  .render = CFS_RENDER_RAW, .fetch = &cfs_fetch_stream,       \
		  __VA_ARGS__)

/* The longest log-search text (README "Logs"): a word or a phrase. */
#define SEARCH_TEXT_MAX 200

#define POLICIES                                                              \
	"/v4/addon-providers/addon-pulsar/addons/{addon.realId}/storage-policies"

/* The policies as written: any JSON object; the API checks the fields. */
static int encode_json_object(const struct cfs_vars *v, const char *data,
			      size_t len, json_t **body)
{
	(void)v;
	*body = json_loadb(data, len, 0, NULL);
	if (json_is_object(*body))
		return 0;
	json_decref(*body);
	*body = NULL;
	return -EINVAL;
}

static int invoices_csv(struct cfs_tree *t, const struct cfs_vars *v,
			json_t *src, struct cfs_buf *out, time_t *date);
static int costs_svg(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date);
static int logs_jsonl(struct cfs_tree *t, const struct cfs_vars *v,
		      json_t *src, struct cfs_buf *out, time_t *date);

static const struct cfs_route clever_routes[] = {
	CFS_ROUTE("self.json", CFS_FILE, .get = "/v2/self"),
	CFS_ROUTE("zones", CFS_DIR),
	CFS_ROUTE("zones/{zone}.json", CFS_FILE, .list = "/v4/products/zones",
		  .key = "name"),
	CFS_ROUTE("orgs", CFS_DIR),
	CFS_ROUTE("orgs/{owner}", CFS_DIR, .list = "@owners"),
	CFS_ROUTE("orgs/by-name", CFS_DIR),
	CFS_ROUTE("orgs/by-name/{org}", CFS_LINK, .list = "@owner_names",
		  .link = "../{org.id}"),
	CFS_ROUTE("orgs/{owner}/org.json", CFS_FILE, .get = "/v2/{@v2owner}"),
	CFS_ROUTE("orgs/{owner}/invoices", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/invoices.csv", CFS_FILE, .get = INVOICES,
		  .view = invoices_csv),
	CFS_ROUTE("orgs/{owner}/costs.svg", CFS_FILE, .get = INVOICES,
		  .view = costs_svg),
	CFS_ROUTE(INVOICE ".json", CFS_FILE, .list = INVOICES,
		  .key = "invoice_number", .mtime = "emission_date"),
	CFS_ROUTE(INVOICE ".html", CFS_FILE, .list = INVOICES,
		  .key = "invoice_number", .get = INVOICES "/{invoice}.html",
		  .accept = "text/html", .render = CFS_RENDER_RAW,
		  .mtime = "emission_date", .fetch = &cfs_fetch_persisted),
	CFS_ROUTE(INVOICE ".pdf", CFS_FILE, .list = INVOICES,
		  .key = "invoice_number", .get = INVOICES "/{invoice}.pdf",
		  .accept = "application/pdf", .render = CFS_RENDER_RAW,
		  .mtime = "emission_date", .fetch = &cfs_fetch_persisted),
	CFS_ROUTE("orgs/{owner}/apps", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/apps/{app}", CFS_DIR,
		  .list = "/v2/{@v2owner}/applications", .key = "id"),
	CFS_ROUTE("orgs/{owner}/apps/by-name", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/apps/by-name/{name}", CFS_LINK,
		  .list = "/v2/{@v2owner}/applications", .key = "name",
		  .link = "../{name.id}"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/app.json", CFS_FILE,
		  .mtime = "creationDate"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/deployments", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/apps/{app}/deployments/{deployment}.json",
		  CFS_FILE, .list = V4_APP "/deployments", .key = "id",
		  .mtime = "startDate"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/instances", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/apps/{app}/instances/{instance}.json",
		  CFS_FILE, .list = V4_APP "/instances", .key = "id",
		  .where = "state!=DELETED", .mtime = "creationDate"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/instances/deleted", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/apps/{app}/instances/deleted/{instance}.json",
		  CFS_FILE, .list = V4_APP "/instances", .key = "id",
		  .where = "state=DELETED", .mtime = "creationDate"),
	LOG_ROUTE("orgs/{owner}/apps/{app}/logs", ""),
	/* the same snapshot's events; a view, so it stays that snapshot */
	CFS_ROUTE("orgs/{owner}/apps/{app}/logs.jsonl", CFS_FILE,
		  .get = LOGS "?service=all", .fetch = &cfs_fetch_stream,
		  .view = logs_jsonl),
	/* apart from the .json files, so listing those stays one request */
	CFS_ROUTE("orgs/{owner}/apps/{app}/deployment-logs", CFS_DIR),
	LOG_ROUTE("orgs/{owner}/apps/{app}/deployment-logs/{deployment}",
		  "&deploymentId={deployment}", .list = V4_APP "/deployments",
		  .key = "id"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/instance-logs", CFS_DIR),
	LOG_ROUTE("orgs/{owner}/apps/{app}/instance-logs/{instance}",
		  "&instanceId={instance}", .list = V4_APP "/instances",
		  .key = "id"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/log-search", CFS_DIR),
	LOG_ROUTE("orgs/{owner}/apps/{app}/log-search/{text}",
		  "&filter={text}", .list = "@search_texts"),
	CFS_ROUTE("orgs/{owner}/apps/{app}/load-balancer.json", CFS_FILE,
		  .get = "/v4/load-balancers/organisations/{owner}/applications/"
			 "{app}/load-balancers/default"),
	CFS_ROUTE("orgs/{owner}/addons", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/addons/{addon}", CFS_DIR,
		  .list = "/v2/{@v2owner}/addons", .key = "id"),
	CFS_ROUTE("orgs/{owner}/addons/by-name", CFS_DIR),
	CFS_ROUTE("orgs/{owner}/addons/by-name/{name}", CFS_LINK,
		  .list = "/v2/{@v2owner}/addons", .key = "name",
		  .link = "../{name.id}"),
	CFS_ROUTE("orgs/{owner}/addons/{addon}/addon.json", CFS_FILE,
		  .mtime = "creationDate"),
	CFS_ROUTE("orgs/{owner}/addons/{addon}/storage-policies.json",
		  CFS_FILE, .get = POLICIES,
		  .only_if = "addon.provider.id=addon-pulsar",
		  .write_method = "PATCH", .write_path = POLICIES,
		  .encode = encode_json_object, .drops = POLICIES),
};

static int is_personal(const char *owner)
{
	return strncmp(owner, "user_", 5) == 0;
}

/* The user (personal space) and every organisation, as one list. */
static int list_owners(struct cfs_tree *t, const struct cfs_vars *v,
		       struct cfs_listing *out)
{
	struct cfs_resp *self = NULL;
	struct cfs_resp *orgs = NULL;
	json_t *org;
	size_t i;
	int rc;

	(void)v;
	cfs_tree_prefetch(t,
			  (char *const[]){ "/v2/self", "/v2/organisations" },
			  2);
	rc = cfs_tree_fetch(t, "/v2/self", NULL, &self);
	if (!rc)
		rc = cfs_tree_fetch(t, "/v2/organisations", NULL, &orgs);
	if (rc)
		goto out;
	out->src = cfs_resp_ref(orgs);
	rc = cfs_listing_add(out,
			     json_string_value(
				     json_object_get(self->json, "id"))
				     ?: "",
			     self->json);
	json_array_foreach(orgs->json, i, org) {
		if (rc)
			break;
		rc = cfs_listing_add(out,
				     json_string_value(
					     json_object_get(org, "id"))
					     ?: "",
				     org);
	}
out:
	cfs_resp_unref(self);
	cfs_resp_unref(orgs);
	return rc;
}

/* by-name listings name the same owners by their "name". */
static int list_owner_names(struct cfs_tree *t, const struct cfs_vars *v,
			    struct cfs_listing *out)
{
	struct cfs_listing ids = { 0 };
	size_t i;
	int rc;

	rc = list_owners(t, v, &ids);
	out->src = cfs_resp_ref(ids.src);
	for (i = 0; !rc && i < ids.n; i++) {
		const char *name = json_string_value(
			json_object_get(ids.items[i], "name"));

		if (name)
			rc = cfs_listing_add(out, name, ids.items[i]);
	}
	cfs_listing_clear(&ids);
	return rc;
}

static int search_text_valid(const char *name)
{
	size_t len = strnlen(name, SEARCH_TEXT_MAX + 1);

	return len > 0 && len <= SEARCH_TEXT_MAX && !strchr(name, '/');
}

/* ---- views of the invoice list (README "The Clever Cloud tree") ---- */

struct dated_invoice {
	json_t *invoice;
	time_t emitted;
	size_t order; /* in the list: ties keep the API's order */
};

static int newest_first(const void *a, const void *b)
{
	const struct dated_invoice *x = a;
	const struct dated_invoice *y = b;

	if (x->emitted != y->emitted)
		return x->emitted > y->emitted ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The invoices of the list, newest emission first; free *out. */
static int sort_invoices(json_t *list, struct dated_invoice **out, size_t *n)
{
	json_t *invoice;
	size_t i;

	*n = 0;
	*out = calloc(json_array_size(list) + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(list, i, invoice) {
		struct dated_invoice *d = &(*out)[(*n)++];

		d->invoice = invoice;
		d->order = i;
		if (cfs_json_date(json_object_get(invoice, "emission_date"),
				  &d->emitted) != 0)
			d->emitted = 0;
	}
	qsort(*out, *n, sizeof(**out), newest_first);
	return 0;
}

/* A field as text: strings as they are, numbers as the API wrote them. */
static const char *field_text(json_t *j, char buf[32])
{
	if (json_is_string(j))
		return json_string_value(j);
	cfs_view_number(j, buf);
	return buf;
}

static int invoice_row(struct cfs_buf *out, json_t *inv)
{
	json_t *excluded = json_object_get(inv, "total_tax_excluded");
	json_t *tax = json_object_get(inv, "total_tax");
	struct cfs_amount total = { 0 };
	char num[6][32];
	const char *field[9];

	cfs_amount_add(&total, json_object_get(excluded, "amount"));
	cfs_amount_add(&total, json_object_get(tax, "amount"));
	cfs_amount_print(&total, num[5]);
	field[0] = field_text(json_object_get(inv, "invoice_number"), num[0]);
	field[1] = field_text(json_object_get(inv, "kind"), num[1]);
	field[2] = json_string_value(json_object_get(inv, "emission_date"));
	field[3] = json_string_value(json_object_get(inv, "pay_date"));
	field[4] = field_text(json_object_get(inv, "status"), num[2]);
	field[5] = json_string_value(json_object_get(excluded, "currency"));
	field[6] = field_text(json_object_get(excluded, "amount"), num[3]);
	field[7] = field_text(json_object_get(tax, "amount"), num[4]);
	field[8] = num[5];
	return cfs_csv_row(out, field, 9);
}

static const char *const invoice_header[] = {
	"number", "kind",     "emission_date",	    "pay_date",
	"status", "currency", "total_tax_excluded", "total_tax",
	"total",
};

/* One row an invoice, newest first; dated by the newest emission. */
static int invoices_csv(struct cfs_tree *t, const struct cfs_vars *v,
			json_t *src, struct cfs_buf *out, time_t *date)
{
	struct dated_invoice *inv;
	size_t n;
	size_t i;
	int rc;

	(void)t;
	(void)v;
	rc = sort_invoices(src, &inv, &n);
	if (rc)
		return rc;
	rc = cfs_csv_row(out, invoice_header, 9);
	for (i = 0; i < n && !rc; i++)
		rc = invoice_row(out, inv[i].invoice);
	if (n)
		*date = inv[0].emitted;
	free(inv);
	return rc;
}

/* The owner's name, from the item that listed it: no request of its own. */
static const char *owner_name(const struct cfs_vars *v)
{
	const char *name = json_string_value(
		json_object_get(cfs_vars_item(v, "owner"), "name"));

	return name && *name ? name : cfs_vars_value(v, "owner");
}

/*
 * The invoices' total_tax_excluded per month of emission, the last 13
 * months, in the newest invoice's currency (an invoice in another one is
 * left out: bars of two currencies would not compare).
 */
static void sum_months(const struct dated_invoice *inv, size_t n,
		       const char *currency, char month[][16],
		       struct cfs_amount *sum)
{
	char emitted[16];
	size_t i;
	size_t m;

	for (i = 0; i < n; i++) {
		json_t *excl = json_object_get(inv[i].invoice,
					       "total_tax_excluded");
		const char *cur = json_string_value(
			json_object_get(excl, "currency"));

		if (!cur || strcmp(cur, currency) != 0)
			continue;
		cfs_view_month(inv[i].emitted, 0, emitted);
		for (m = 0; m < CFS_VIEW_MONTHS; m++)
			if (strcmp(month[m], emitted) == 0)
				cfs_amount_add(&sum[m],
					       json_object_get(excl,
							       "amount"));
	}
}

static int costs_svg(struct cfs_tree *t, const struct cfs_vars *v, json_t *src,
		     struct cfs_buf *out, time_t *date)
{
	char month[CFS_VIEW_MONTHS][16];
	char text[CFS_VIEW_MONTHS][32];
	const char *label[CFS_VIEW_MONTHS];
	const char *value_text[CFS_VIEW_MONTHS];
	double value[CFS_VIEW_MONTHS];
	struct cfs_amount sum[CFS_VIEW_MONTHS] = { 0 };
	struct cfs_buf title = { 0 };
	struct dated_invoice *inv;
	const char *currency = "";
	size_t n;
	int i;
	int rc;

	(void)date;
	rc = sort_invoices(src, &inv, &n);
	if (rc)
		return rc;
	if (n)
		currency = json_string_value(
				   cfs_json_at(inv[0].invoice,
					       "total_tax_excluded.currency"))
				   ?: "";
	for (i = 0; i < CFS_VIEW_MONTHS; i++)
		cfs_view_month(cfs_tree_now(t), CFS_VIEW_MONTHS - 1 - i,
			       month[i]);
	sum_months(inv, n, currency, month, sum);
	for (i = 0; i < CFS_VIEW_MONTHS; i++) {
		cfs_amount_print(&sum[i], text[i]);
		label[i] = month[i];
		value_text[i] = text[i];
		value[i] = sum[i].value;
	}
	rc = cfs_buf_printf(&title, "Costs of %s (%s, tax excluded)",
			    owner_name(v), currency);
	if (!rc)
		rc = cfs_svg_bar_chart(&(struct cfs_chart){ title.data,
							    currency,
							    CFS_VIEW_MONTHS,
							    label, value,
							    value_text },
				       out);
	cfs_buf_free(&title);
	free(inv);
	return rc;
}

/* One API log object a line, all its fields; dated by the last one. */
static int logs_jsonl(struct cfs_tree *t, const struct cfs_vars *v,
		      json_t *src, struct cfs_buf *out, time_t *date)
{
	json_t *event;
	size_t i;
	int rc = 0;

	(void)t;
	(void)v;
	json_array_foreach(src, i, event) {
		char *line = json_dumps(event, JSON_COMPACT);

		rc = line ? cfs_buf_printf(out, "%s\n", line) : -ENOMEM;
		free(line);
		if (rc)
			return rc;
	}
	event = json_array_get(src, json_array_size(src) - 1);
	if (cfs_json_date(json_object_get(event, "date"), date) != 0)
		*date = 0;
	return 0;
}

static const struct cfs_lister clever_listers[] = {
	/* and /v2/self, the credentials check's, which the cache keeps */
	{ .name = "@owners",
	  .list = list_owners,
	  .fetches = "/v2/organisations" },
	{ .name = "@owner_names", .list = list_owner_names },
	/*
	 * A log search is named, never listed: there is no list of texts,
	 * and a listing of guesses would make every scanner run searches.
	 */
	{ .name = "@search_texts", .accepts = search_text_valid },
};

/* v2 calls name the personal space "self", an organisation by its id. */
static int derive_v2owner(struct cfs_tree *t, const struct cfs_vars *v,
			  struct cfs_buf *out)
{
	const char *owner = cfs_vars_value(v, "owner");
	char *esc;
	int rc;

	(void)t;
	if (is_personal(owner))
		return cfs_buf_append(out, "self", 4);
	esc = cfs_tree_escape(owner);
	if (!esc)
		return -ENOMEM;
	rc = cfs_buf_printf(out, "organisations/%s", esc);
	free(esc);
	return rc;
}

static const struct cfs_derivation clever_derivations[] = {
	{ "v2owner", "owner", derive_v2owner },
};

/*
 * The token and secret that `clever login` saved in path, in either of
 * its forms (the legacy one, or profiles[0]).  They belong to the JSON
 * returned; NULL, leaving token and secret alone, when there are none.
 */
static json_t *load_clever_tools(const char **token, const char **secret,
				 char *path, size_t len)
{
	const char *t;
	const char *ts;
	json_t *root;
	json_t *profile;

	if (cfs_auth_config_path("clever-cloud/clever-tools.json", path,
				 len) != 0)
		return NULL;
	root = json_load_file(path, 0, NULL);
	profile = json_array_get(json_object_get(root, "profiles"), 0);
	if (!profile)
		profile = root;
	t = json_string_value(json_object_get(profile, "token"));
	ts = json_string_value(json_object_get(profile, "secret"));
	if (!t || !ts || !*t || !*ts) {
		json_decref(root);
		return NULL;
	}
	*token = t;
	*secret = ts;
	return root;
}

/*
 * Those of names[] that src lacks, in out as "A", "A and B" or "A, B and
 * C"; returns how many.
 */
static size_t list_missing(const struct cfs_auth_source *src,
			   const char *const names[], size_t n, char *out,
			   size_t len)
{
	const char *missing[4];
	size_t count = 0;
	size_t used = 0;
	size_t i;

	for (i = 0; i < n && count < 4; i++)
		if (!cfs_auth_get(src, names[i]))
			missing[count++] = names[i];
	out[0] = '\0';
	for (i = 0; i < count && used < len; i++)
		used += snprintf(out + used, len - used, "%s%s",
				 i == 0		 ? ""
				 : i + 1 < count ? ", "
						 : " and ",
				 missing[i]);
	return count;
}

/* the token pair, then the consumer pair */
static const char *const oauth_vars[] = { "CLEVER_TOKEN", "CLEVER_SECRET",
					  "CLEVER_CONSUMER_KEY",
					  "CLEVER_CONSUMER_SECRET" };

/*
 * No API token and no whole OAuth 1.0a set: say what is missing, by name.
 * tools_path: where the token pair came from, when not the variables.
 */
static int refuse_oauth1(const struct cfs_auth_source *src,
			 const char *tools_path, char *err, size_t errlen)
{
	char consumer[64];
	char tokens[64] = "";
	char all[128];
	size_t no_consumer;
	size_t no_token = 0;

	no_consumer = list_missing(src, oauth_vars + 2, 2, consumer,
				   sizeof(consumer));
	if (!tools_path)
		no_token = list_missing(src, oauth_vars, 2, tokens,
					sizeof(tokens));

	if (no_consumer == 2 && no_token == 2)
		snprintf(err, errlen,
			 "no Clever Cloud credentials: set "
			 "CLEVER_API_TOKEN, or CLEVER_CONSUMER_KEY and "
			 "CLEVER_CONSUMER_SECRET with CLEVER_TOKEN and "
			 "CLEVER_SECRET (or `clever login`)");
	else if (!no_token)
		snprintf(err, errlen,
			 "no Clever Cloud OAuth consumer%s%s: "
			 "set %s, or use CLEVER_API_TOKEN instead",
			 tools_path ? " for the token of " : "",
			 tools_path ? tools_path : "", consumer);
	else if (!no_consumer)
		snprintf(err, errlen,
			 "no Clever Cloud OAuth token: set %s, "
			 "or run `clever login`",
			 tokens);
	else {
		list_missing(src, oauth_vars, 4, all, sizeof(all));
		snprintf(err, errlen,
			 "incomplete Clever Cloud OAuth "
			 "credentials: set %s, or use CLEVER_API_TOKEN "
			 "instead",
			 all);
	}
	return -EACCES;
}

/*
 * An API token first, else OAuth 1.0a: the consumer pair from the
 * variables, the token pair from them too, else from clever-tools.json.
 */
static int load_credentials(struct cfs_auth *a,
			    const struct cfs_auth_source *src, char *err,
			    size_t errlen)
{
	const char *token = cfs_auth_get(src, "CLEVER_API_TOKEN");
	const char *ck = cfs_auth_get(src, "CLEVER_CONSUMER_KEY");
	const char *cs = cfs_auth_get(src, "CLEVER_CONSUMER_SECRET");
	const char *t = cfs_auth_get(src, "CLEVER_TOKEN");
	const char *ts = cfs_auth_get(src, "CLEVER_SECRET");
	char tools_path[PATH_MAX];
	json_t *tools = NULL;
	int rc;

	if (token)
		return cfs_auth_set_bearer(a, token);
	if (!t || !ts)
		tools = load_clever_tools(&t, &ts, tools_path,
					  sizeof(tools_path));
	if (ck && cs && t && ts)
		rc = cfs_auth_set_oauth1(a, ck, cs, t, ts);
	else
		rc = refuse_oauth1(src, tools ? tools_path : NULL, err,
				   errlen);
	json_decref(tools);
	return rc;
}

static const char *default_url(const struct cfs_auth *auth)
{
	/* API tokens are only accepted by the bridge */
	return auth->kind == CFS_AUTH_BEARER
		       ? "https://api-bridge.clever-cloud.com"
		       : "https://api.clever-cloud.com";
}

const struct cfs_provider cfs_provider_clever = {
	.name = "clever",
	.check_path = "/v2/self",
	.check_also = (const char *const[]){ "/v2/organisations", NULL },
	.routes = clever_routes,
	.nroutes = sizeof(clever_routes) / sizeof(clever_routes[0]),
	.listers = clever_listers,
	.nlisters = sizeof(clever_listers) / sizeof(clever_listers[0]),
	.derivations = clever_derivations,
	.nderivations = sizeof(clever_derivations) /
			sizeof(clever_derivations[0]),
	.description = "Clever Cloud",
	.credentials_help =
		"CLEVER_API_TOKEN, or CLEVER_TOKEN + CLEVER_SECRET +\n"
		"CLEVER_CONSUMER_KEY + CLEVER_CONSUMER_SECRET; the token\n"
		"and secret may come from `clever login` instead",
	.load_credentials = load_credentials,
	.default_url = default_url,
};
