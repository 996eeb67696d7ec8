/*
 * main.c - cloudfs SOURCE MOUNTPOINT: parse, check the mountpoint, load
 * credentials, check them with one cheap call, mount, daemonize, serve,
 * and tear down when unmounted or stopped by SIGINT or SIGTERM.
 *
 * Everything that can be checked here (cloudfs's options, the mountpoint,
 * the credentials file, libfuse's options) is checked before the one
 * request of the credential check, and that check runs before anything is
 * mounted and before the process forks: a refusal ends the command with
 * one line and exit status 1, leaving nothing behind.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 312
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

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

/*
 * mount.fuse3 -o drop_privileges mounts by itself and hands the daemon the
 * open connection as /dev/fd/N, which libfuse takes as it is.
 */
static int is_passed_connection(const char *mountpoint)
{
	unsigned int fd;
	char extra;

	/* NOLINTNEXTLINE(cert-err34-c): only the shape counts, not fd */
	return sscanf(mountpoint, "/dev/fd/%u%c", &fd, &extra) == 1;
}

/* mountinfo writes a space, tab, newline or backslash as \ooo. */
static void unescape_mountinfo(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/*
 * ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE ...:
 * the mount point (unescaped) and the filesystem type of one line.
 */
static const char *mountinfo_point(char *line, const char **fstype)
{
	char *save = NULL;
	char *field = strtok_r(line, " ", &save);
	char *point = NULL;
	int i;

	*fstype = "";
	for (i = 0; field && i < 4; i++)
		field = strtok_r(NULL, " ", &save);
	if (!field)
		return NULL;
	point = field;
	unescape_mountinfo(point);
	while ((field = strtok_r(NULL, " ", &save)) && strcmp(field, "-") != 0)
		;
	field = field ? strtok_r(NULL, " ", &save) : NULL;
	if (field)
		*fstype = field;
	return point;
}

/*
 * What is mounted at path (absolute, resolved): 0 nothing, 1 a mount, 2 an
 * automount point (autofs, systemd's .automount), which is there to be
 * mounted over.  Read from /proc/self/mountinfo rather than guessed from
 * st_dev differing from the parent's: a bind mount of a directory of the
 * same filesystem keeps its st_dev, and a btrfs subvolume has one of its
 * own without being mounted.  The last line for path is the topmost mount.
 */
static int mounted_at(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	const char *point;
	const char *fstype;
	int found = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		point = mountinfo_point(line, &fstype);
		if (point && strcmp(point, path) == 0)
			found = strcmp(fstype, "autofs") == 0 ? 2 : 1;
	}
	free(line);
	fclose(f);
	return found;
}

/* 1 if the directory holds nothing but . and .. */
static int is_empty_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -errno;
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 ||
			strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

static int check_empty(const char *path, char *err, size_t errlen)
{
	int rc = is_empty_dir(path);

	if (rc < 0) {
		snprintf(err, errlen, "cannot list %s: %s", path,
			 strerror(-rc));
		return rc;
	}
	if (!rc) {
		snprintf(err, errlen,
			 "%s is not empty (-o nonempty mounts "
			 "over its files)",
			 path);
		return -ENOTEMPTY;
	}
	return 0;
}

/* A mount would hide what is there: another mount, or files. */
static int check_mountpoint(const char *path, int nonempty, char *err,
			    size_t errlen)
{
	struct stat st;
	int rc;

	rc = mounted_at(path);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read /proc/self/mountinfo: %s",
			 strerror(-rc));
		return rc;
	}
	/* listing an automount point would wait for this very mount */
	if (rc == 2)
		return 0;
	if (rc) {
		snprintf(err, errlen, "%s is already a mount point", path);
		return -EBUSY;
	}
	if (stat(path, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "mountpoint %s: %s", path,
			 strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", path);
		return -ENOTDIR;
	}
	return nonempty ? 0 : check_empty(path, err, errlen);
}

/*
 * The mountpoint becomes absolute: the daemon runs in /, and the unmount
 * at exit must find the mount whatever the directory cloudfs started in.
 */
static int prepare_mountpoint(struct cfs_options *o, char *err, size_t errlen)
{
	char *path;
	int rc;

	if (is_passed_connection(o->mountpoint))
		return 0;
	path = realpath(o->mountpoint, NULL);
	if (!path) {
		rc = -errno;
		snprintf(err, errlen, "mountpoint %s: %s%s", o->mountpoint,
			 strerror(-rc),
			 rc == -ENOTCONN ? " (a dead mount: fusermount3 -u it)"
					 : "");
		return rc;
	}
	free(o->mountpoint);
	o->mountpoint = path;
	return check_mountpoint(path, o->nonempty, err, errlen);
}

/*
 * libfuse takes over only the signals still at their default, and a shell
 * without job control starts `cloudfs ... &` with SIGINT ignored: both
 * stop signals are reset so that either always unmounts.
 */
static int install_signal_handlers(struct fuse_session *se)
{
	if (signal(SIGINT, SIG_DFL) == SIG_ERR ||
	    signal(SIGTERM, SIG_DFL) == SIG_ERR ||
	    fuse_set_signal_handlers(se) != 0)
		return -1;
	return install_sighup();
}

/*
 * libfuse's workers block the stop signals so that they reach the thread
 * waiting in the loop, which then ends it; the threads of our own (the
 * HTTP worker and the resolver threads it starts, the kernel cache's
 * thread) must block them too, or a signal taken there would go unnoticed
 * until the next request.  They inherit the mask they are started with.
 */
static void block_stop_signals(sigset_t *old)
{
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, old);
}

static int start_threads(struct cfs_http *http, struct cfs_fs *fs,
			 struct fuse_session *se)
{
	sigset_t old;
	int rc;

	block_stop_signals(&old);
	rc = cfs_http_start(http);
	if (rc)
		cfs_err("cannot start the HTTP worker");
	else if ((rc = cfs_fs_start(fs, se)) != 0)
		cfs_err("cannot start the kernel cache's thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * Writers of one file wait their turn inside a FUSE operation (the fs
 * layer serializes them), each holding a libfuse worker, and so do readers
 * waiting on the API.  With libfuse's default of 10 workers, ten such
 * waits stall every other request, even those the cache answers at once.
 * 64 matches the most API requests max_conns allows in flight; a higher
 * cap buys little, since each worker, once started, keeps its stack and a
 * request buffer of about 1 MiB for the life of the mount.
 */
#define CFS_MAX_THREADS 64

/* 0 after an unmount, the signal's number after SIGINT or SIGTERM, or
 * negative when the loop failed. */
static int run_loop(struct fuse_session *se, const struct cfs_options *o)
{
	struct fuse_loop_config *cfg;
	int rc;

	if (o->single_thread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_max_threads(cfg, CFS_MAX_THREADS);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/*
 * The check's answer stays in the cache, and the GETs the provider names
 * beside it go at once: the round trip the check costs anyway brings the
 * owners' listing (README "Mounting").
 */
static int check_credentials(struct cfs_http *http, struct cfs_cache *cache,
			     const struct cfs_provider *p)
{
	struct cfs_http_response rs;
	size_t n = 0;
	int rc;

	if (cfs_http_start(http) != 0) {
		fprintf(stderr, "cloudfs: cannot start the HTTP worker\n");
		return -1;
	}
	while (p->check_also && p->check_also[n])
		n++;
	cfs_log_quiet(1);
	rc = cfs_cache_check(cache, p->check_path, p->check_also, n, &rs);
	cfs_log_quiet(0);
	cfs_http_stop(http);
	if (rc == -EACCES)
		fprintf(stderr,
			"cloudfs: %s refused the credentials (%ld%s%s)\n",
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

/*
 * libfuse reports a bad option in pieces ("fuse: unknown option(s): `",
 * then each option).  Until cloudfs is mounted they are joined into the
 * one "cloudfs: " line of a refusal, and nothing of ours follows it.
 */
static void log_fuse_setup(enum fuse_log_level level, const char *fmt,
			   va_list ap)
{
	static char line[1024];
	static size_t len;
	const char *text = line;
	int n;

	(void)level;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len = len + (size_t)n < sizeof(line) ? len + (size_t)n
						     : sizeof(line) - 1;
	/* each of libfuse's messages ends its format with the newline */
	if (!*fmt || fmt[strlen(fmt) - 1] != '\n')
		return;
	line[strcspn(line, "\n")] = '\0';
	if (strncmp(text, "fuse: ", 6) == 0)
		text += 6;
	fprintf(stderr, "cloudfs: %s\n", text);
	len = 0;
	line[0] = '\0';
}

/* libfuse parses its options here, so a bad one is refused unsent. */
static struct fuse_session *new_session(struct fuse_args *args,
					struct cfs_fs *fs)
{
	fuse_set_log_func(log_fuse_setup);
	return fuse_session_new(args, &cfs_fs_operations,
				sizeof(cfs_fs_operations), fs);
}

/*
 * Once the loop has returned no FUSE operation runs (libfuse joins its
 * workers), but live log followers still stream: they stop before the
 * HTTP worker, and main frees the HTTP and auth objects only after
 * fuse_session_destroy, the last caller of the fs.
 */
static int serve(struct fuse_session *se, const struct cfs_options *o,
		 struct cfs_fs *fs, struct cfs_http *http)
{
	int mounted;
	int rc = 1;

	/* before the mount: a stop signal from then on still unmounts */
	if (install_signal_handlers(se) != 0)
		return 1;
	mounted = fuse_session_mount(se, o->mountpoint) == 0;
	fuse_set_log_func(NULL);
	if (!mounted)
		goto out_signals;
	if (fuse_daemonize(o->foreground) != 0)
		goto out_unmount;
	cfs_log_init(o->debug, o->foreground);
	if (start_threads(http, fs, se) == 0)
		rc = run_loop(se, o) < 0; /* a stop signal is a clean exit */
	cfs_fs_shutdown(fs);
	cfs_http_stop(http);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
	return rc;
}

/* The libraries as loaded, which may be newer than those built against. */
static void print_version(void)
{
	printf("cloudfs %s (libfuse %s, %s, jansson %s, libyaml %s)\n",
	       CFS_VERSION, fuse_pkgversion(), curl_version(),
	       jansson_version_str(), yaml_get_version_string());
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_session *se;
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
			cfs_options_usage(&args);
		else
			print_version();
		rc = 0;
		goto out;
	}
	if (prepare_mountpoint(&o, err, sizeof(err)) != 0) {
		fprintf(stderr, "cloudfs: %s\n", err);
		goto out;
	}
	cfs_log_init(o.debug, 1);
	p = o.provider;
	if (cfs_auth_load(&auth, p->load_credentials, o.credentials, err,
			  sizeof(err)) != 0) {
		fprintf(stderr, "cloudfs: %s\n", err);
		goto out;
	}
	if (add_mount_options(&args, o.source) != 0)
		goto out_auth;
	se = new_session(&args, &fs);
	if (!se)
		goto out_auth;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = o.api_url ? o.api_url : p->default_url(&auth);
	http = cfs_http_new(base, &auth, o.max_conns, o.timeout);
	cache = http ? cfs_cache_new(http, o.ttl) : NULL;
	disk = cfs_diskcache_open(o.cache_dir, base);
	fs.tree = cache ? cfs_tree_new(p, cache, disk, base, err, sizeof(err))
			: NULL;
	if (!fs.tree) {
		fprintf(stderr, "cloudfs: %s\n",
			err[0] ? err : "out of memory");
		goto out_curl;
	}
	cfs_tree_set_logs(fs.tree, o.log_lines, o.ttl);
	cfs_tree_set_node_cache(fs.tree, o.node_cache);
	if (check_credentials(http, cache, p) != 0)
		goto out_curl;
	fs.overlay = cfs_overlay_new(o.ttl);
	fs.turn_timeout = o.timeout;
	fs.write_max = o.write_buffer;
	fs.ro = o.ro;
	if (!fs.overlay || cfs_fs_init(&fs) != 0)
		goto out_curl;
	fs.uid = getuid();
	fs.gid = getgid();
	rc = serve(se, &o, &fs, http);
out_curl:
	fuse_session_destroy(se);
	cfs_fs_destroy(&fs);
	cfs_overlay_free(fs.overlay);
	cfs_tree_free(fs.tree);
	cfs_diskcache_close(disk);
	cfs_cache_free(cache);
	cfs_http_free(http);
	curl_global_cleanup();
out_auth:
	cfs_auth_free(&auth);
out:
	cfs_options_free(&o);
	fuse_opt_free_args(&args);
	return rc;
}
