/*
 * auth.c - where credentials are read from (the credentials file, with its
 * permissions and syntax, the environment, or another tool's YAML
 * configuration file), the secrets once chosen, and the three ways of
 * signing a request: Bearer, OAuth 1.0a PLAINTEXT and HTTP Basic.
 */
#define _GNU_SOURCE
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <yaml.h>

/* KEY=VALUE pairs read from -o credentials=FILE. */
struct cred_file {
	char **keys;
	char **values;
	size_t n;
};

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static char *unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

static int cred_file_add(struct cred_file *cf, const char *k, const char *v)
{
	char **keys = realloc(cf->keys, (cf->n + 1) * sizeof(*keys));
	char **values;

	if (!keys)
		return -ENOMEM;
	cf->keys = keys;
	values = realloc(cf->values, (cf->n + 1) * sizeof(*values));
	if (!values)
		return -ENOMEM;
	cf->values = values;
	cf->keys[cf->n] = strdup(k);
	cf->values[cf->n] = strdup(v);
	cf->n++;
	return cf->keys[cf->n - 1] && cf->values[cf->n - 1] ? 0 : -ENOMEM;
}

static void cred_file_free(struct cred_file *cf)
{
	size_t i;

	for (i = 0; i < cf->n; i++) {
		free(cf->keys[i]);
		if (cf->values[i])
			explicit_bzero(cf->values[i], strlen(cf->values[i]));
		free(cf->values[i]);
	}
	free(cf->keys);
	free(cf->values);
}

static int cred_file_parse_line(struct cred_file *cf, char *line)
{
	char *s = trim(line);
	char *eq;

	if (!*s || *s == '#')
		return 0;
	if (strncmp(s, "export ", 7) == 0)
		s = trim(s + 7);
	eq = strchr(s, '=');
	if (!eq)
		return -EINVAL;
	*eq = '\0';
	return cred_file_add(cf, trim(s), unquote(trim(eq + 1)));
}

/*
 * Any bit for group or others is refused, not only read: a file others may
 * write can be swapped for credentials of their choosing.
 */
static int check_private(FILE *f, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fileno(f), &st) != 0) {
		int rc = -errno;

		snprintf(err, errlen, "cannot stat credentials file %s: %s",
			 path, strerror(-rc));
		return rc;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
			 "credentials file %s is open to group "
			 "or others (mode %04o); chmod 600 it",
			 path, (unsigned int)(st.st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

/* Open for reading, and only if private (check_private). */
static FILE *open_private(const char *path, int *rc, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");

	if (!f) {
		*rc = -errno;
		snprintf(err, errlen, "cannot read credentials file %s: %s",
			 path, strerror(-*rc));
		return NULL;
	}
	*rc = check_private(f, path, err, errlen);
	if (*rc) {
		fclose(f);
		return NULL;
	}
	return f;
}

static int cred_file_read(struct cred_file *cf, const char *path, char *err,
			  size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	FILE *f;
	int rc;

	f = open_private(path, &rc, err, errlen);
	if (!f)
		return rc;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		rc = cred_file_parse_line(cf, line);
		if (rc) {
			snprintf(err, errlen,
				 "credentials file %s, line %u: "
				 "expected KEY=VALUE",
				 path, lineno);
			goto out;
		}
	}
out:
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	return rc;
}

/* ~ and null mean no value in YAML, when not quoted. */
static int yaml_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
			return 1;
	return 0;
}

/* The scalar value of each scalar key of a top-level mapping. */
static int yaml_take_pairs(struct cred_file *cf, yaml_document_t *doc)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	yaml_node_pair_t *pair;
	yaml_node_t *k;
	yaml_node_t *v;
	int rc;

	if (!root)
		return 0; /* an empty file */
	if (root->type != YAML_MAPPING_NODE)
		return -EINVAL;
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(doc, pair->key);
		v = yaml_document_get_node(doc, pair->value);
		if (k->type != YAML_SCALAR_NODE ||
		    v->type != YAML_SCALAR_NODE || yaml_is_null(v))
			continue;
		rc = cred_file_add(cf, (const char *)k->data.scalar.value,
				   (const char *)v->data.scalar.value);
		if (rc)
			return rc;
	}
	return 0;
}

static void yaml_document_zero(yaml_document_t *doc)
{
	yaml_node_t *n;

	for (n = doc->nodes.start; n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE)
			explicit_bzero(n->data.scalar.value,
				       n->data.scalar.length);
}

static int yaml_file_read(struct cred_file *cf, const char *path, char *err,
			  size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *f;
	int rc;

	f = open_private(path, &rc, err, errlen);
	if (!f)
		return rc;
	rc = -ENOMEM;
	if (!yaml_parser_initialize(&parser))
		goto out_file;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s, line %zu: %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "not YAML");
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		goto out_parser;
	}
	rc = yaml_take_pairs(cf, &doc);
	if (rc == -EINVAL)
		snprintf(err, errlen,
			 "%s: expected a YAML mapping "
			 "(key: value lines)",
			 path);
	yaml_document_zero(&doc);
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
out_file:
	fclose(f);
	return rc;
}

struct cfs_auth_source {
	struct cred_file file;
	int use_env;	     /* no credentials file: the environment */
	char path[PATH_MAX]; /* a configuration file's */
};

int cfs_auth_config_path(const char *name, char *path, size_t len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;

	if (xdg && *xdg)
		n = snprintf(path, len, "%s/%s", xdg, name);
	else if (home && *home)
		n = snprintf(path, len, "%s/.config/%s", home, name);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cfs_auth_config_load(const struct cfs_auth_source *src, const char *name,
			 struct cfs_auth_source **conf, char *err,
			 size_t errlen)
{
	struct cfs_auth_source *c;
	int rc;

	*conf = NULL;
	if (!src->use_env)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	rc = cfs_auth_config_path(name, c->path, sizeof(c->path));
	if (rc == -ENAMETOOLONG)
		snprintf(err, errlen, "the path of %s is too long", name);
	else if (rc == 0)
		rc = yaml_file_read(&c->file, c->path, err, errlen);
	if (rc == 0) {
		*conf = c;
		return 0;
	}
	cfs_auth_config_free(c);
	if (rc != -ENOENT)
		return rc;
	/* no such file, or no directory to look in: nothing to read */
	err[0] = '\0';
	return 0;
}

const char *cfs_auth_source_path(const struct cfs_auth_source *conf)
{
	return conf->path;
}

void cfs_auth_config_free(struct cfs_auth_source *conf)
{
	if (!conf)
		return;
	cred_file_free(&conf->file);
	free(conf);
}

const char *cfs_auth_get(const struct cfs_auth_source *src, const char *name)
{
	const struct cred_file *cf = &src->file;
	const char *v = NULL;
	size_t i;

	for (i = 0; i < cf->n; i++)
		if (strcmp(cf->keys[i], name) == 0)
			v = cf->values[i];
	if (!v && src->use_env)
		v = getenv(name);
	return v && *v ? v : NULL;
}

static int dup_all(char **dst[], const char *src[], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*dst[i] = strdup(src[i]);
		if (!*dst[i])
			return -ENOMEM;
	}
	return 0;
}

int cfs_auth_set_bearer(struct cfs_auth *a, const char *token)
{
	a->kind = CFS_AUTH_BEARER;
	return dup_all((char **[]){ &a->token }, &token, 1);
}

int cfs_auth_set_oauth1(struct cfs_auth *a, const char *consumer_key,
			const char *consumer_secret, const char *token,
			const char *token_secret)
{
	a->kind = CFS_AUTH_OAUTH1;
	return dup_all((char **[]){ &a->consumer_key, &a->consumer_secret,
				    &a->token, &a->token_secret },
		       (const char *[]){ consumer_key, consumer_secret, token,
					 token_secret },
		       4);
}

int cfs_auth_set_basic(struct cfs_auth *a, const char *username,
		       const char *password)
{
	a->kind = CFS_AUTH_BASIC;
	return dup_all((char **[]){ &a->username, &a->password },
		       (const char *[]){ username, password }, 2);
}

int cfs_auth_load(struct cfs_auth *a, cfs_auth_load_fn load,
		  const char *credentials_file, char *err, size_t errlen)
{
	struct cfs_auth_source src = { .use_env = !credentials_file };
	int rc;

	memset(a, 0, sizeof(*a));
	if (credentials_file) {
		rc = cred_file_read(&src.file, credentials_file, err, errlen);
		if (rc)
			goto out;
	}
	rc = load(a, &src, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	cred_file_free(&src.file);
	if (rc)
		cfs_auth_free(a);
	return rc;
}

/* RFC 5849 percent-encoding, which curl_easy_escape implements. */
static char *oauth_escape(CURL *h, const char *s)
{
	return curl_easy_escape(h, s, 0);
}

static int oauth_header(const struct cfs_auth *a, CURL *h,
			struct curl_slist **headers)
{
	char *cs = oauth_escape(h, a->consumer_secret);
	char *ts = oauth_escape(h, a->token_secret);
	char *ck = oauth_escape(h, a->consumer_key);
	char *tok = oauth_escape(h, a->token);
	char *sig_raw = NULL;
	char *sig = NULL;
	char *line = NULL;
	unsigned long long nonce = 0;
	struct curl_slist *l;
	int rc = -ENOMEM;

	if (!cs || !ts || !ck || !tok ||
	    asprintf(&sig_raw, "%s&%s", cs, ts) < 0)
		goto out;
	sig = oauth_escape(h, sig_raw);
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		nonce ^= (unsigned long long)time(NULL);
	if (!sig ||
	    asprintf(&line,
		     "Authorization: OAuth "
		     "oauth_consumer_key=\"%s\", oauth_token=\"%s\", "
		     "oauth_signature_method=\"PLAINTEXT\", "
		     "oauth_signature=\"%s\", oauth_timestamp=\"%lld\", "
		     "oauth_nonce=\"%016llx\", oauth_version=\"1.0\"",
		     ck, tok, sig, (long long)time(NULL), nonce) < 0) {
		line = NULL;
		goto out;
	}
	l = curl_slist_append(*headers, line);
	if (l) {
		*headers = l;
		rc = 0;
	}
out:
	if (line)
		explicit_bzero(line, strlen(line));
	free(line);
	free(sig_raw);
	curl_free(sig);
	curl_free(cs);
	curl_free(ts);
	curl_free(ck);
	curl_free(tok);
	return rc;
}

static int bearer_header(const struct cfs_auth *a, struct curl_slist **headers)
{
	struct curl_slist *l;
	char *line;

	if (asprintf(&line, "Authorization: Bearer %s", a->token) < 0)
		return -ENOMEM;
	l = curl_slist_append(*headers, line);
	explicit_bzero(line, strlen(line));
	free(line);
	if (!l)
		return -ENOMEM;
	*headers = l;
	return 0;
}

int cfs_auth_apply(const struct cfs_auth *a, CURL *h,
		   struct curl_slist **headers)
{
	switch (a->kind) {
	case CFS_AUTH_BEARER:
		return bearer_header(a, headers);
	case CFS_AUTH_OAUTH1:
		return oauth_header(a, h, headers);
	case CFS_AUTH_BASIC:
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, a->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, a->password);
		return 0;
	}
	return -EINVAL;
}

static void free_secret(char **s)
{
	if (*s)
		explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

void cfs_auth_free(struct cfs_auth *a)
{
	free_secret(&a->token);
	free_secret(&a->token_secret);
	free_secret(&a->consumer_key);
	free_secret(&a->consumer_secret);
	free_secret(&a->username);
	free_secret(&a->password);
}
