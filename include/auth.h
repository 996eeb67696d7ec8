/*
 * auth.h - where credentials come from (SPEC section 2) and how each kind
 * is put on a request.
 *
 * With -o credentials=FILE only that file is read; otherwise the
 * environment (and, for Clever Cloud, clever-tools.json).  No secret ever
 * leaves this module except on the wire.
 */
#ifndef CFS_AUTH_H
#define CFS_AUTH_H

#include <curl/curl.h>
#include <stddef.h>

enum cfs_auth_kind { CFS_AUTH_BEARER, CFS_AUTH_OAUTH1, CFS_AUTH_BASIC };

struct cfs_auth {
	enum cfs_auth_kind kind;
	char *token;            /* bearer token, or OAuth token */
	char *token_secret;     /* OAuth */
	char *consumer_key;     /* OAuth */
	char *consumer_secret;  /* OAuth */
	char *username;         /* Basic */
	char *password;         /* Basic */
};

/* provider is "clever" or "upcloud"; err gets a one-line reason. */
int cfs_auth_load(struct cfs_auth *a, const char *provider,
		  const char *credentials_file, char *err, size_t errlen);
/* Puts the credential on h (Basic) or appends the header (the others). */
int cfs_auth_apply(const struct cfs_auth *a, CURL *h,
		   struct curl_slist **headers);
void cfs_auth_free(struct cfs_auth *a);

#endif
