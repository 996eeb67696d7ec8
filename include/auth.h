/*
 * auth.h - where credentials are read from, and how each kind is put on
 * a request.
 *
 * With -o credentials=FILE only that file is read; otherwise the
 * environment, and the configuration files of other tools that a
 * provider's hook asks for (UpCloud's upctl.yaml).  Which variables a
 * provider takes, in which order, and what else it reads (Clever Cloud's
 * clever-tools.json) is its credential hook's business (provider.h): the
 * hook asks this module for variables and hands the secrets it chose back
 * to it.  Secrets live in struct cfs_auth only, are zeroed when freed, and
 * leave it only on the wire.
 */
#ifndef CFS_AUTH_H
#define CFS_AUTH_H

#include <curl/curl.h>
#include <stddef.h>

enum cfs_auth_kind { CFS_AUTH_BEARER, CFS_AUTH_OAUTH1, CFS_AUTH_BASIC };

struct cfs_auth {
	enum cfs_auth_kind kind;
	char *token;	       /* bearer token, or OAuth token */
	char *token_secret;    /* OAuth */
	char *consumer_key;    /* OAuth */
	char *consumer_secret; /* OAuth */
	char *username;	       /* Basic */
	char *password;	       /* Basic */
};

/* The credentials file's variables, or the environment's. */
struct cfs_auth_source;

/*
 * A provider's credential hook: fills a with cfs_auth_set_*, or returns
 * -errno with a one-line reason in err (-ENOMEM needs none).
 */
typedef int (*cfs_auth_load_fn)(struct cfs_auth *a,
				const struct cfs_auth_source *src, char *err,
				size_t errlen);

/* credentials_file NULL: the environment; err gets a one-line reason. */
int cfs_auth_load(struct cfs_auth *a, cfs_auth_load_fn load,
		  const char *credentials_file, char *err, size_t errlen);
/* A variable's value; NULL when it is unset or empty. */
const char *cfs_auth_get(const struct cfs_auth_source *src, const char *name);
/* $XDG_CONFIG_HOME/<name>, else ~/.config/<name>; -ENOENT with neither. */
int cfs_auth_config_path(const char *name, char *path, size_t len);
/*
 * Another tool's YAML configuration file (cfs_auth_config_path's), as a
 * source of its own for cfs_auth_get: the scalars of its top-level
 * mapping, quoted or not.  Read only when src is the environment (with
 * -o credentials=FILE that file is the one source), and refused like the
 * credentials file when group or others may use it.  0 with *conf NULL
 * when there is no such file; -errno with a one-line reason in err.
 */
int cfs_auth_config_load(const struct cfs_auth_source *src, const char *name,
			 struct cfs_auth_source **conf, char *err,
			 size_t errlen);
/* Where a configuration file was read from, for messages. */
const char *cfs_auth_source_path(const struct cfs_auth_source *conf);
void cfs_auth_config_free(struct cfs_auth_source *conf);
/* For credential hooks, one of them once: it copies the strings. */
int cfs_auth_set_bearer(struct cfs_auth *a, const char *token);
int cfs_auth_set_oauth1(struct cfs_auth *a, const char *consumer_key,
			const char *consumer_secret, const char *token,
			const char *token_secret);
int cfs_auth_set_basic(struct cfs_auth *a, const char *username,
		       const char *password);
/* Puts the credential on h (Basic) or appends the header (the others). */
int cfs_auth_apply(const struct cfs_auth *a, CURL *h,
		   struct curl_slist **headers);
void cfs_auth_free(struct cfs_auth *a);

#endif
