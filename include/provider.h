/*
 * provider.h - the providers cloudfs knows, each one file of src/.
 */
#ifndef CFS_PROVIDER_H
#define CFS_PROVIDER_H

#include "tree.h"

struct cfs_auth;

extern const struct cfs_provider cfs_provider_clever;
extern const struct cfs_provider cfs_provider_upcloud;

const struct cfs_provider *cfs_provider_find(const char *name);
/* The API base when -o api_url is not given. */
const char *cfs_provider_default_url(const struct cfs_provider *p,
				     const struct cfs_auth *auth);

#endif
