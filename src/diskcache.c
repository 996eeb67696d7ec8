/*
 * diskcache.c - files under the cache directory, written atomically.
 */
#define _GNU_SOURCE
#include "diskcache.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct cfs_diskcache {
	char *root; /* DIR/<host> */
};

static char *default_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *dir = NULL;

	if (xdg && *xdg) {
		if (asprintf(&dir, "%s/cloudfs", xdg) < 0)
			dir = NULL;
	} else if (home && *home) {
		if (asprintf(&dir, "%s/.cache/cloudfs", home) < 0)
			dir = NULL;
	}
	return dir;
}

/* "https://api.example.com:443/x" -> "api.example.com_443" */
static char *host_dir_name(const char *api_url)
{
	const char *p = strstr(api_url, "://");
	char *name = strdup(p ? p + 3 : api_url);
	char *s;

	if (!name)
		return NULL;
	s = strchr(name, '/');
	if (s)
		*s = '\0';
	for (s = name; *s; s++)
		if (*s == ':')
			*s = '_';
	return name;
}

struct cfs_diskcache *cfs_diskcache_open(const char *dir, const char *api_url)
{
	struct cfs_diskcache *d = calloc(1, sizeof(*d));
	char *base = dir ? strdup(dir) : default_dir();
	char *host = host_dir_name(api_url);

	if (!d || !base || !host ||
	    asprintf(&d->root, "%s/%s", base, host) < 0) {
		free(d);
		d = NULL;
	}
	free(base);
	free(host);
	return d;
}

void cfs_diskcache_close(struct cfs_diskcache *d)
{
	if (!d)
		return;
	free(d->root);
	free(d);
}

/* Refuses paths that could leave the cache directory. */
static int file_for(const struct cfs_diskcache *d, const char *path,
		    const char *suffix, char *out, size_t len)
{
	if (path[0] != '/' || strstr(path, "/..") || strstr(path, "/./") ||
	    strchr(path, '?'))
		return -EINVAL;
	if ((size_t)snprintf(out, len, "%s%s%s", d->root, path, suffix) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int mkdir_parents(char *file)
{
	char *s;

	for (s = strchr(file + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(file, 0700) != 0 && errno != EEXIST) {
			*s = '/';
			return -errno;
		}
		*s = '/';
	}
	return 0;
}

static int read_whole(const char *file, struct cfs_blob **out)
{
	struct cfs_buf b = { 0 };
	char chunk[65536];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (cfs_buf_append(&b, chunk, (size_t)n)) {
			n = -1;
			errno = ENOMEM;
			break;
		}
	close(fd);
	if (n < 0) {
		cfs_buf_free(&b);
		return -errno;
	}
	*out = cfs_buf_to_blob(&b);
	return *out ? 0 : -ENOMEM;
}

/* 0 if path's .meta names fingerprint (filling meta when given). */
static int meta_matches(const struct cfs_diskcache *d, const char *path,
			const char *fingerprint, struct cfs_disk_meta *meta)
{
	char file[4096];
	const char *fp;
	json_t *m;
	int rc;

	rc = file_for(d, path, ".meta", file, sizeof(file));
	if (rc)
		return rc;
	m = json_load_file(file, 0, NULL);
	if (!m)
		return -ENOENT;
	fp = json_string_value(json_object_get(m, "fingerprint"));
	rc = fp && strcmp(fp, fingerprint) == 0 ? 0 : -ESTALE;
	if (!rc && meta) {
		snprintf(meta->request_id, sizeof(meta->request_id), "%s",
			 json_string_value(json_object_get(m, "request_id"))
				 ?: "");
		meta->fetched_at = json_number_value(
			json_object_get(m, "fetched_at"));
	}
	json_decref(m);
	return rc;
}

int cfs_diskcache_meta(struct cfs_diskcache *d, const char *path,
		       const char *fingerprint, struct cfs_disk_meta *meta)
{
	return meta_matches(d, path, fingerprint, meta);
}

int cfs_diskcache_get(struct cfs_diskcache *d, const char *path,
		      const char *fingerprint, struct cfs_blob **out,
		      struct cfs_disk_meta *meta)
{
	char file[4096];
	int rc;

	*out = NULL;
	rc = meta_matches(d, path, fingerprint, meta);
	if (rc)
		return rc;
	file_for(d, path, "", file, sizeof(file));
	return read_whole(file, out);
}

static int write_atomically(const char *file, const void *data, size_t len)
{
	char tmp[4200];
	const char *p = data;
	int fd;

	/* a name of its own: two threads may keep the same file at once */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			int err = -errno;

			close(fd);
			unlink(tmp);
			return err;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0 || rename(tmp, file) != 0) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

int cfs_diskcache_put(struct cfs_diskcache *d, const char *path,
		      const char *fingerprint, const struct cfs_blob *b,
		      const struct cfs_disk_meta *meta)
{
	char file[4096];
	char *text = NULL;
	json_t *m;
	int rc;

	/* readers that waited on one request all come to keep its body */
	if (meta_matches(d, path, fingerprint, NULL) == 0)
		return 0;
	rc = file_for(d, path, ".meta", file, sizeof(file));
	if (rc || (rc = mkdir_parents(file)) != 0)
		goto out;
	/* the old .meta goes first and the new one comes last, so a .meta
	 * only ever describes the complete file beside it */
	if (unlink(file) != 0 && errno != ENOENT) {
		rc = -errno;
		goto out;
	}
	file_for(d, path, "", file, sizeof(file));
	rc = write_atomically(file, b->data, b->len);
	if (rc)
		goto out;
	m = json_pack("{s:s, s:s, s:f}", "fingerprint", fingerprint,
		      "request_id", meta->request_id, "fetched_at",
		      meta->fetched_at);
	text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	file_for(d, path, ".meta", file, sizeof(file));
	rc = write_atomically(file, text, strlen(text));
out:
	if (rc)
		cfs_warn("cannot keep %s in the persistent cache: %s", path,
			 strerror(-rc));
	free(text);
	return rc;
}

static int state_file(const struct cfs_diskcache *d, const char *name,
		      char *out, size_t len)
{
	if (!*name || strchr(name, '/') || name[0] == '.')
		return -EINVAL;
	if ((size_t)snprintf(out, len, "%s/%s", d->root, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cfs_diskcache_read_state(struct cfs_diskcache *d, const char *name,
			     struct cfs_blob **out)
{
	char file[4096];
	int rc;

	*out = NULL;
	rc = state_file(d, name, file, sizeof(file));
	return rc ? rc : read_whole(file, out);
}

int cfs_diskcache_write_state(struct cfs_diskcache *d, const char *name,
			      const void *data, size_t len)
{
	char file[4096];
	int rc;

	rc = state_file(d, name, file, sizeof(file));
	if (!rc)
		rc = mkdir_parents(file);
	return rc ? rc : write_atomically(file, data, len);
}
