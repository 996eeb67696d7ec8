/*
 * options.c - the fuse_opt table, the checks on what it parsed, and -h.
 */
#define FUSE_USE_VERSION 312
#include "options.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes.h"
#include "provider.h"
#include "util.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE,
	KEY_RO,
};

/* fuse_opt_parse hands the same pointer to the offsets above and to
 * option_proc, so the options must come first. */
struct parse_state {
	struct cfs_options o;
	/* numbers arrive as text: fuse_opt's %u would print its own line */
	char *ttl;
	char *max_conns;
	char *timeout;
	char *log_lines;
	char *write_buffer;
	char *node_cache;
	char *err;
	size_t errlen;
};

#define CFS_OPT(t, p)                                                         \
	{                                                                     \
		t, offsetof(struct parse_state, o.p), 1                       \
	}

static const struct fuse_opt option_table[] = {
	CFS_OPT("api_url=%s", api_url),
	CFS_OPT("credentials=%s", credentials),
	CFS_OPT("cache_dir=%s", cache_dir),
	{ "ttl=%s", offsetof(struct parse_state, ttl), 1 },
	{ "max_conns=%s", offsetof(struct parse_state, max_conns), 1 },
	{ "timeout=%s", offsetof(struct parse_state, timeout), 1 },
	{ "log_lines=%s", offsetof(struct parse_state, log_lines), 1 },
	{ "write_buffer=%s", offsetof(struct parse_state, write_buffer), 1 },
	{ "node_cache=%s", offsetof(struct parse_state, node_cache), 1 },
	/* libfuse 3 no longer knows it: mounting over files is ours to allow */
	CFS_OPT("nonempty", nonempty),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_END
};

static int take_positional(struct parse_state *st, const char *arg)
{
	struct cfs_options *o = &st->o;

	if (!o->source) {
		o->source = strdup(arg);
		o->provider = cfs_provider_find(arg);
		return o->source ? 0 : -1;
	}
	if (!o->mountpoint) {
		o->mountpoint = strdup(arg);
		return o->mountpoint ? 0 : -1;
	}
	snprintf(st->err, st->errlen, "unexpected argument '%s'", arg);
	return -1;
}

/* Returns 0 to drop the argument, 1 to leave it for libfuse. */
static int option_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct parse_state *st = data;
	struct cfs_options *o = &st->o;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		return take_positional(st, arg) ? -1 : 0;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = 1;
		o->foreground = 1;
		return 0;
	case KEY_SINGLE:
		o->single_thread = 1;
		return 0;
	case KEY_RO:
		/* also handed to the kernel, which then answers EROFS */
		o->ro = 1;
		return 1;
	default:
		return 1;
	}
}

static int check_values(const struct cfs_options *o, char *err, size_t errlen)
{
	char names[256];

	if (!o->source || !o->mountpoint) {
		snprintf(err, errlen,
			 "usage: cloudfs SOURCE MOUNTPOINT "
			 "[-o OPTIONS] (see --help)");
		return -EINVAL;
	}
	if (!o->provider) {
		cfs_provider_names(names, sizeof(names), 0);
		snprintf(err, errlen, "unknown source '%s': expected %s",
			 o->source, names);
		return -EINVAL;
	}
	if (o->max_conns < 1 || o->max_conns > 64) {
		snprintf(err, errlen, "max_conns must be between 1 and 64");
		return -EINVAL;
	}
	if (o->log_lines < 1) {
		snprintf(err, errlen, "log_lines must be at least 1");
		return -EINVAL;
	}
	if (o->timeout < 1) {
		snprintf(err, errlen, "timeout must be at least 1 second");
		return -EINVAL;
	}
	if (o->api_url && strncmp(o->api_url, "http://", 7) != 0 &&
	    strncmp(o->api_url, "https://", 8) != 0) {
		snprintf(err, errlen,
			 "api_url must start with http:// or "
			 "https://");
		return -EINVAL;
	}
	return 0;
}

static const struct cfs_unit bare[] = { { "", 1 }, { NULL, 0 } };

static const struct cfs_unit seconds[] = { { "", 1 },
					   { "s", 1 },
					   { "m", 60 },
					   { "h", 60 * 60 },
					   { "d", 24 * 60 * 60 },
					   { NULL, 0 } };

static const struct cfs_unit bytes[] = { { "", 1 },
					 { "K", 1ULL << 10 },
					 { "M", 1ULL << 20 },
					 { "G", 1ULL << 30 },
					 { NULL, 0 } };

/* text in units, up to UINT_MAX, or "NAME must be EXPECTED, not 'text'". */
static int take_uint(const char *name, const char *text,
		     const struct cfs_unit *units, const char *expected,
		     unsigned int *out, char *err, size_t errlen)
{
	unsigned long long v;

	if (!text)
		return 0;
	if (cfs_parse_scaled(text, units, UINT_MAX, &v) != 0) {
		snprintf(err, errlen, "%s must be %s, not '%s'", name,
			 expected, text);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

static int take_number(const char *name, const char *text, unsigned int *out,
		       char *err, size_t errlen)
{
	return take_uint(name, text, bare, "a whole number", out, err, errlen);
}

/* In seconds: a bare number, or with an s, m, h or d unit. */
static int take_duration(const char *name, const char *text, unsigned int *out,
			 char *err, size_t errlen)
{
	return take_uint(name, text, seconds,
			 "a duration (90, 90s, 5m, 1h "
			 "or 1d)",
			 out, err, errlen);
}

/* A size in bytes, or in K, M or G (powers of 1024): 1 byte to max_gib G. */
static int take_size(const char *name, const char *text, unsigned int max_gib,
		     size_t *out, char *err, size_t errlen)
{
	unsigned long long v;

	if (!text)
		return 0;
	if (cfs_parse_scaled(text, bytes, (unsigned long long)max_gib << 30,
			     &v) != 0 ||
	    v == 0) {
		snprintf(err, errlen,
			 "%s must be from 1 to %uG (bytes, or "
			 "with a K, M or G suffix), not '%s'",
			 name, max_gib, text);
		return -EINVAL;
	}
	*out = (size_t)v;
	return 0;
}

int cfs_options_parse(struct fuse_args *args, struct cfs_options *o, char *err,
		      size_t errlen)
{
	struct parse_state st = { .err = err, .errlen = errlen };
	int rc;

	st.o.ttl = 60;
	st.o.max_conns = 8;
	st.o.timeout = 30;
	st.o.log_lines = 1000;
	st.o.write_buffer = 1024 * 1024;
	st.o.node_cache = CFS_NODES_CACHE_BYTES;
	err[0] = '\0';
	rc = fuse_opt_parse(args, &st, option_table, option_proc);
	if (!rc)
		rc = take_duration("ttl", st.ttl, &st.o.ttl, err, errlen) ||
		     take_number("max_conns", st.max_conns, &st.o.max_conns,
				 err, errlen) ||
		     take_duration("timeout", st.timeout, &st.o.timeout, err,
				   errlen) ||
		     take_number("log_lines", st.log_lines, &st.o.log_lines,
				 err, errlen) ||
		     take_size("write_buffer", st.write_buffer, 1,
			       &st.o.write_buffer, err, errlen) ||
		     take_size("node_cache", st.node_cache, 64,
			       &st.o.node_cache, err, errlen);
	free(st.ttl);
	free(st.max_conns);
	free(st.timeout);
	free(st.log_lines);
	free(st.write_buffer);
	free(st.node_cache);
	*o = st.o;
	if (rc != 0) {
		if (!err[0])
			snprintf(err, errlen, "invalid option");
		return -EINVAL;
	}
	if (o->show_help || o->show_version)
		return 0;
	return check_values(o, err, errlen);
}

/*
 * "  clever:  CLEVER_API_TOKEN, ...", the variables in a column after the
 * longest name, each further line of them starting in that column.
 */
static void print_credentials_help(const struct cfs_provider *p, int column)
{
	const char *line = p->credentials_help;
	size_t n;

	printf("  %s:%*s", p->name, column - 3 - (int)strlen(p->name), "");
	for (;;) {
		n = strcspn(line, "\n");
		printf("%.*s\n", (int)n, line);
		if (!line[n])
			return;
		line += n + 1;
		printf("%*s", column, "");
	}
}

static int credentials_column(void)
{
	const struct cfs_provider *const *p;
	size_t longest = 0;

	for (p = cfs_providers; *p; p++)
		if (strlen((*p)->name) > longest)
			longest = strlen((*p)->name);
	/* two spaces, the name, a colon and at least one space */
	return (int)longest + 4;
}

/* The name the command was run by, without the directory it was found in. */
static const char *command_name(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	return slash ? slash + 1 : argv0;
}

void cfs_options_usage(struct fuse_args *args)
{
	const struct cfs_provider *const *p;
	char names[512];
	int column = credentials_column();

	cfs_provider_names(names, sizeof(names), 1);
	printf("usage: %s SOURCE MOUNTPOINT [-f] [-d] [-s] [-o OPT[,OPT...]]\n"
	       "\n"
	       "SOURCE is %s.\n"
	       "\n"
	       "cloudfs options:\n"
	       "  -f                   stay in the foreground\n"
	       "  -d                   debug: foreground, one line per API request\n"
	       "  -s                   single-threaded\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        the version\n"
	       "\n"
	       "  -o api_url=URL       API base URL (default: the provider's)\n"
	       "  -o credentials=FILE  KEY=VALUE credentials (mode 0600 or stricter)\n"
	       "  -o ttl=DURATION      cache lifetime of API data (default 60);\n"
	       "                       DURATION: seconds, or 90s, 5m, 1h, 1d\n"
	       "  -o max_conns=N       API requests in flight at once (default 8)\n"
	       "  -o timeout=DURATION  time one API request may take (default 30)\n"
	       "  -o log_lines=N       events in a log file's snapshot (default 1000)\n"
	       "  -o write_buffer=SIZE\n"
	       "                       cap of one open file's write buffer: bytes,\n"
	       "                       or K, M, G (default 1M, at most 1G); a write\n"
	       "                       past it fails with EFBIG and nothing is sent\n"
	       "  -o node_cache=SIZE   rendered files kept in memory: bytes, or K,\n"
	       "                       M, G (default 64M, at most 64G)\n"
	       "  -o cache_dir=DIR     persistent invoice cache\n"
	       "                       (default $XDG_CACHE_HOME/cloudfs)\n"
	       "  -o ro                read-only mount\n"
	       "  -o nonempty          mount over a directory that is not empty\n"
	       "\n"
	       "FUSE options:\n",
	       command_name(args->argv[0]), names);
	fuse_lowlevel_help();
	printf("\nCredentials, from the environment "
	       "(with -o credentials=FILE, from FILE):\n");
	for (p = cfs_providers; *p; p++)
		print_credentials_help(*p, column);
}

void cfs_options_free(struct cfs_options *o)
{
	free(o->source);
	free(o->mountpoint);
	free(o->api_url);
	free(o->credentials);
	free(o->cache_dir);
}
