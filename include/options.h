/*
 * options.h - the command line: SOURCE MOUNTPOINT [-f] [-d] [-s] [-o ...].
 *
 * Every cloudfs option lives in the one fuse_opt table of options.c;
 * options cloudfs does not know are left in args for libfuse (allow_other,
 * the generic mount flags mount.fuse3 passes, ...).
 */
#ifndef CFS_OPTIONS_H
#define CFS_OPTIONS_H

#include <stddef.h>

struct cfs_provider;
struct fuse_args;

struct cfs_options {
	char *source;			     /* a provider's name */
	const struct cfs_provider *provider; /* source's, or NULL */
	char *mountpoint;
	char *api_url;		/* NULL: the provider's default */
	char *credentials;	/* KEY=VALUE file, NULL: the environment */
	char *cache_dir;	/* persistent cache; NULL: XDG default */
	unsigned int ttl;	/* seconds API data stays fresh */
	unsigned int max_conns; /* API requests in flight at once */
	unsigned int timeout;	/* seconds one request may take */
	unsigned int log_lines; /* events in a log snapshot */
	size_t write_buffer; /* bytes one open file may buffer for writing */
	size_t node_cache;   /* bytes of rendered files kept in memory */
	int nonempty;	     /* mount over a directory that holds files */
	int ro;
	int foreground;
	int debug;
	int single_thread;
	int show_help;
	int show_version;
};

/*
 * Fills o from args and removes what cloudfs consumed.  On a bad command
 * line returns -EINVAL with a one-line reason in err.
 */
int cfs_options_parse(struct fuse_args *args, struct cfs_options *o, char *err,
		      size_t errlen);
/*
 * -h: cloudfs's options, libfuse's (those of the modules args names too),
 * then each provider's credentials.
 */
void cfs_options_usage(struct fuse_args *args);
void cfs_options_free(struct cfs_options *o);

#endif
