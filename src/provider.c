/*
 * provider.c - picking a provider by name and its default API base.
 */
#include "provider.h"

#include <string.h>

#include "auth.h"

const struct cfs_provider *cfs_provider_find(const char *name)
{
	if (strcmp(name, "clever") == 0)
		return &cfs_provider_clever;
	if (strcmp(name, "upcloud") == 0)
		return &cfs_provider_upcloud;
	return NULL;
}

const char *cfs_provider_default_url(const struct cfs_provider *p,
				     const struct cfs_auth *auth)
{
	if (p == &cfs_provider_upcloud)
		return "https://api.upcloud.com";
	/* API tokens are only accepted by the bridge */
	return auth->kind == CFS_AUTH_BEARER
		       ? "https://api-bridge.clever-cloud.com"
		       : "https://api.clever-cloud.com";
}
