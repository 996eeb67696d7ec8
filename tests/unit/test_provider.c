/*
 * Unit tests of the provider list: names are unique, every descriptor
 * carries every field and hook, lookup by name finds each one and nothing
 * else, the names -h and errors list are all there, the default API
 * bases follow the credential kind, and Clever's log-search accepts the
 * texts the README allows.
 */
#include "auth.h"
#include "check.h"
#include "provider.h"

static size_t count_providers(void)
{
	size_t n = 0;

	while (cfs_providers[n])
		n++;
	return n;
}

static int ends_with(const char *s, const char *end)
{
	size_t n = strlen(s);
	size_t m = strlen(end);

	return n >= m && strcmp(s + n - m, end) == 0;
}

static void check_unique_names(void)
{
	const struct cfs_provider *const *p;
	const struct cfs_provider *const *q;

	for (p = cfs_providers; *p; p++)
		for (q = p + 1; *q; q++)
			CHECK(strcmp((*p)->name, (*q)->name) != 0);
}

static void check_complete(const struct cfs_provider *p)
{
	CHECK(p->name && *p->name);
	CHECK(p->description && *p->description);
	CHECK(p->credentials_help && *p->credentials_help);
	CHECK(p->check_path && p->check_path[0] == '/');
	CHECK(p->routes && p->nroutes > 0);
	CHECK(p->listers || p->nlisters == 0);
	CHECK(p->load_credentials);
	CHECK(p->default_url);
}

static void check_lookup(void)
{
	const struct cfs_provider *const *p;

	for (p = cfs_providers; *p; p++)
		CHECK(cfs_provider_find((*p)->name) == *p);
	CHECK(cfs_provider_find("nope") == NULL);
	CHECK(cfs_provider_find("") == NULL);
	CHECK(cfs_provider_find("clev") == NULL);
	CHECK(cfs_provider_find("clever ") == NULL);
}

static void check_names_listed(void)
{
	const struct cfs_provider *const *p;
	char plain[512];
	char described[512];
	char want[256];
	char tiny[4];

	cfs_provider_names(plain, sizeof(plain), 0);
	cfs_provider_names(described, sizeof(described), 1);
	for (p = cfs_providers; *p; p++) {
		snprintf(want, sizeof(want), "'%s'", (*p)->name);
		CHECK(strstr(plain, want) != NULL);
		snprintf(want, sizeof(want), "'%s' (%s)", (*p)->name,
			 (*p)->description);
		CHECK(strstr(described, want) != NULL);
	}
	if (count_providers() > 1) {
		p = &cfs_providers[count_providers() - 1];
		snprintf(want, sizeof(want), " or '%s'", (*p)->name);
		CHECK(ends_with(plain, want));
	}
	cfs_provider_names(tiny, sizeof(tiny), 1);
	CHECK(strlen(tiny) < sizeof(tiny));
}

static void check_default_url(const char *provider, enum cfs_auth_kind kind,
			      const char *url)
{
	const struct cfs_provider *p = cfs_provider_find(provider);
	struct cfs_auth a = { .kind = kind };

	CHECK(p);
	CHECK_STR(p->default_url(&a), url);
}

/* Any text of 1 to 200 bytes without a '/' names a search. */
static void check_search_texts(void)
{
	const struct cfs_lister *l = cfs_provider_lister(cfs_provider_find(
								 "clever"),
							 "@search_texts");
	char text[202];

	CHECK(l && l->accepts);
	CHECK(l->accepts("error"));
	CHECK(l->accepts("two words & 100% é"));
	CHECK(!l->accepts(""));
	CHECK(!l->accepts("a/b"));
	CHECK(!l->accepts("/"));
	memset(text, 'x', 200);
	text[200] = '\0';
	CHECK(l->accepts(text));
	text[200] = 'x';
	text[201] = '\0';
	CHECK(!l->accepts(text));
}

int main(void)
{
	const struct cfs_provider *const *p;

	CHECK(count_providers() > 0);
	check_unique_names();
	for (p = cfs_providers; *p; p++)
		check_complete(*p);
	check_lookup();
	check_names_listed();
	/* API tokens are only accepted by the bridge */
	check_default_url("clever", CFS_AUTH_BEARER,
			  "https://api-bridge.clever-cloud.com");
	check_default_url("clever", CFS_AUTH_OAUTH1,
			  "https://api.clever-cloud.com");
	check_default_url("upcloud", CFS_AUTH_BEARER,
			  "https://api.upcloud.com");
	check_default_url("upcloud", CFS_AUTH_BASIC,
			  "https://api.upcloud.com");
	check_search_texts();
	return 0;
}
