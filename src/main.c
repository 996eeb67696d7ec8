/*
 * main.c - cloudfs SOURCE MOUNTPOINT: parse, load credentials, check them
 * with one cheap call, mount, daemonize, serve.
 *
 * The credential check runs before anything is mounted and before the
 * process forks, so a bad option, bad credentials or an unreachable API end
 * the command with one line and a non-zero exit, leaving nothing behind.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cache.h"
#include "diskcache.h"
#include "fs.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "overlay.h"
#include "provider.h"
#include "tree.h"

static void on_sighup(int sig)
{
	(void)sig;
	cfs_cache_request_flush();
}

/* libfuse's handlers end the loop on SIGHUP; ours empties the caches. */
static int install_sighup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sighup;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	return sigaction(SIGHUP, &sa, NULL);
}

static int check_credentials(struct cfs_http *http,
			     const struct cfs_provider *p)
{
	struct cfs_http_request rq = { .method = "GET",
				       .path = p->check_path };
	struct cfs_http_response rs;
	int rc;

	if (cfs_http_start(http) != 0) {
		fprintf(stderr, "cloudfs: cannot start the HTTP worker\n");
		return -1;
	}
	cfs_log_quiet(1);
	rc = cfs_http_perform(http, &rq, &rs);
	cfs_log_quiet(0);
	cfs_http_stop(http);
	if (rc == -EACCES)
		fprintf(stderr, "cloudfs: %s refused the credentials (%ld%s%s)\n",
			cfs_http_base_url(http), rs.status,
			rs.message[0] ? ": " : "", rs.message);
	else if (rc && rs.status == 0)
		fprintf(stderr, "cloudfs: cannot reach %s: %s\n",
			cfs_http_base_url(http), rs.message);
	else if (rc)
		fprintf(stderr, "cloudfs: %s%s answered %ld%s%s\n",
			cfs_http_base_url(http), p->check_path, rs.status,
			rs.message[0] ? ": " : "", rs.message);
	cfs_http_response_clear(&rs);
	return rc ? -1 : 0;
}

static int add_mount_options(struct fuse_args *args, const char *source)
{
	char opt[256];

	snprintf(opt, sizeof(opt), "-ofsname=%s,subtype=cloudfs", source);
	return fuse_opt_add_arg(args, opt);
}

static int serve(struct fuse_args *args, const struct cfs_options *o,
		 struct cfs_fs *fs, struct cfs_http *http)
{
	struct fuse *fuse;
	int rc = 1;

	fuse = fuse_new(args, &cfs_fs_operations, sizeof(cfs_fs_operations),
			fs);
	if (!fuse)
		return 1;
	if (fuse_mount(fuse, o->mountpoint) != 0)
		goto out_destroy;
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0 ||
	    install_sighup() != 0)
		goto out_unmount;
	if (fuse_daemonize(o->foreground) != 0)
		goto out_signals;
	cfs_log_init(o->debug, o->foreground);
	if (cfs_http_start(http) != 0) {
		cfs_err("cannot start the HTTP worker");
		goto out_signals;
	}
	rc = o->single_thread ? fuse_loop(fuse) : fuse_loop_mt(fuse, 0);
	rc = rc ? 1 : 0;
	cfs_http_stop(http);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
	return rc;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cfs_options o;
	struct cfs_auth auth = { 0 };
	struct cfs_http *http = NULL;
	struct cfs_cache *cache = NULL;
	struct cfs_diskcache *disk = NULL;
	struct cfs_fs fs = { 0 };
	const struct cfs_provider *p;
	const char *base;
	char err[512];
	int rc = 1;

	if (cfs_options_parse(&args, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "cloudfs: %s\n", err);
		goto out;
	}
	if (o.show_help || o.show_version) {
		if (o.show_help)
			cfs_options_usage(argv[0]);
		else
			printf("cloudfs %s (libfuse %s, %s)\n", CFS_VERSION,
			       fuse_pkgversion(), curl_version());
		rc = 0;
		goto out;
	}
	cfs_log_init(o.debug, 1);
	p = cfs_provider_find(o.source);
	if (cfs_auth_load(&auth, p->name, o.credentials, err,
			  sizeof(err)) != 0) {
		fprintf(stderr, "cloudfs: %s\n", err);
		goto out;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = o.api_url ? o.api_url : cfs_provider_default_url(p, &auth);
	http = cfs_http_new(base, &auth, o.max_conns, o.timeout);
	if (!http || check_credentials(http, p) != 0)
		goto out_curl;
	cache = cfs_cache_new(http, o.ttl);
	disk = cfs_diskcache_open(o.cache_dir, base);
	fs.tree = cache ? cfs_tree_new(p, cache, disk, base, err,
				       sizeof(err))
			: NULL;
	if (!fs.tree) {
		fprintf(stderr, "cloudfs: %s\n", err[0] ? err : "out of memory");
		goto out_curl;
	}
	cfs_tree_set_logs(fs.tree, o.log_lines, o.ttl);
	fs.overlay = cfs_overlay_new(o.ttl);
	fs.http = http;
	fs.write_max = o.write_buffer;
	if (!fs.overlay || cfs_fs_init(&fs) != 0)
		goto out_curl;
	fs.uid = getuid();
	fs.gid = getgid();
	if (add_mount_options(&args, o.source) != 0)
		goto out_curl;
	rc = serve(&args, &o, &fs, http);
out_curl:
	cfs_fs_destroy(&fs);
	cfs_overlay_free(fs.overlay);
	cfs_tree_free(fs.tree);
	cfs_diskcache_close(disk);
	cfs_cache_free(cache);
	cfs_http_free(http);
	curl_global_cleanup();
	cfs_auth_free(&auth);
out:
	cfs_options_free(&o);
	fuse_opt_free_args(&args);
	return rc;
}
