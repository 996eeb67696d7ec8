/*
 * provider.h - a provider as one descriptor, and the list of them.
 *
 * A descriptor carries everything cloudfs knows of a provider: the name
 * SOURCE gives, what -h says of it, how its credentials are loaded, its
 * default API base, the cheap call that checks the credentials at mount
 * time, and its tree (route table, listers, derivations) for the engine
 * of tree.h.  Each provider is one src/provider_<name>.c defining one
 * descriptor, and one entry of cfs_providers[] in src/provider.c: nothing
 * else in cloudfs depends on which providers there are.
 */
#ifndef CFS_PROVIDER_H
#define CFS_PROVIDER_H

#include <stddef.h>

#include "auth.h"
#include "tree.h"

struct cfs_provider {
	/* what the tree engine uses */
	const char *name;	/* SOURCE: "clever" */
	const char *check_path; /* the cheap call made at mount time */
	/* GETs made beside it, NULL-terminated: the other half of the
	 * listing the check's answer starts (README "Mounting") */
	const char *const *check_also;
	const struct cfs_route *routes;
	size_t nroutes;
	const struct cfs_lister *listers;
	size_t nlisters;
	const struct cfs_derivation *derivations; /* {@name} */
	size_t nderivations;
	/* what the command uses */
	const char *description; /* -h: "Clever Cloud" */
	/* -h: its variables, on lines separated by '\n' */
	const char *credentials_help;
	cfs_auth_load_fn load_credentials;
	/* the API base when -o api_url is not given */
	const char *(*default_url)(const struct cfs_auth *auth);
};

/* Every provider, NULL-terminated. */
extern const struct cfs_provider *const cfs_providers[];

/* NULL for a name no provider has. */
const struct cfs_provider *cfs_provider_find(const char *name);
/* p's lister "@name", or NULL. */
const struct cfs_lister *cfs_provider_lister(const struct cfs_provider *p,
					     const char *name);
/*
 * "'clever' or 'upcloud'" (with descriptions: "'clever' (Clever Cloud) or
 * 'upcloud' (UpCloud)"), cut to fit out.
 */
void cfs_provider_names(char *out, size_t len, int described);

#endif
