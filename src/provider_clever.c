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

static const struct cfs_lister clever_listers[] = {
	{ "@owners", list_owners, NULL },
	{ "@owner_names", list_owner_names, NULL },
	/*
	 * A log search is named, never listed: there is no list of texts,
	 * and a listing of guesses would make every scanner run searches.
	 */
	{ "@search_texts", NULL, search_text_valid },
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
