/*
 * provider.c - the list of providers, and finding one by name.
 */
#include "provider.h"

#include <stdio.h>
#include <string.h>

/* Each is defined in its own src/provider_<name>.c. */
extern const struct cfs_provider cfs_provider_clever;
extern const struct cfs_provider cfs_provider_upcloud;

const struct cfs_provider *const cfs_providers[] = {
	&cfs_provider_clever,
	&cfs_provider_upcloud,
	NULL,
};

const struct cfs_provider *cfs_provider_find(const char *name)
{
	const struct cfs_provider *const *p;

	for (p = cfs_providers; *p; p++)
		if (strcmp((*p)->name, name) == 0)
			return *p;
	return NULL;
}

const struct cfs_lister *cfs_provider_lister(const struct cfs_provider *p,
					     const char *name)
{
	size_t i;

	for (i = 0; i < p->nlisters; i++)
		if (strcmp(p->listers[i].name, name) == 0)
			return &p->listers[i];
	return NULL;
}

/* What comes before the name of p: "", ", " or, before the last, " or ". */
static const char *separator(const struct cfs_provider *const *p)
{
	if (p == cfs_providers)
		return "";
	return p[1] ? ", " : " or ";
}

void cfs_provider_names(char *out, size_t len, int described)
{
	const struct cfs_provider *const *p;
	size_t used = 0;
	int n;

	out[0] = '\0';
	for (p = cfs_providers; *p && used + 1 < len; p++) {
		if (described)
			n = snprintf(out + used, len - used, "%s'%s' (%s)",
				     separator(p), (*p)->name,
				     (*p)->description);
		else
			n = snprintf(out + used, len - used, "%s'%s'",
				     separator(p), (*p)->name);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}
