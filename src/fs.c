/*
 * fs.c - the fuse_operations table.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "hashmap.h"
#include "tree.h"

/* What an open file holds on to. */
struct open_file {
	struct cfs_blob *content;
	time_t mtime;
};

static struct cfs_fs *fs_ctx(void)
{
	return fuse_get_context()->private_data;
}

/* FUSE paths start with '/'; the tree's are relative to the mount. */
static const char *rel(const char *path)
{
	return path[0] == '/' ? path + 1 : path;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/*
	 * The kernel looks names up one at a time per directory, so a
	 * lookup that fetched content would serialize parallel readers.
	 * readdir therefore hands out entries (READDIRPLUS) carrying only
	 * their type, and attributes are never cached in the kernel: every
	 * stat becomes a per-file GETATTR, answered from our cache with the
	 * exact size, and those run in parallel.  auto_cache drops page-cache
	 * copies whose mtime or size moved.
	 */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 1.0;
	cfg->auto_cache = 1;
	return fs_ctx();
}

static void fill_stat(const struct cfs_fs *fs, enum cfs_kind kind,
		      off_t size, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	switch (kind) {
	case CFS_DIR:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		break;
	case CFS_FILE:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		break;
	case CFS_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		break;
	}
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = size;
	st->st_blksize = 4096;
	st->st_blocks = (size + 511) / 512;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	struct cfs_node n;
	int rc;

	if (fi && fi->fh) {
		struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;

		fill_stat(fs, CFS_FILE, (off_t)of->content->len, of->mtime,
			  st);
		return 0;
	}
	rc = cfs_tree_node(fs->tree, rel(path), &n);
	if (rc)
		return rc;
	fill_stat(fs, n.kind,
		  n.kind == CFS_FILE ? (off_t)n.content->len
		  : n.kind == CFS_LINK ? (off_t)strlen(n.link) : 0,
		  n.mtime, st);
	cfs_node_clear(&n);
	return 0;
}

/*
 * Entries carry their offset (1, 2, ...): only then does libfuse reply to
 * READDIRPLUS with real entry timeouts; from a buffered (offset 0) fill it
 * replies with zero timeouts and the kernel looks every name up again.
 */
struct dir_fill {
	void *buf;
	fuse_fill_dir_t filler;
	enum fuse_fill_dir_flags plus;
	off_t from;                 /* entries up to this one were sent */
	off_t next;
	struct cfs_hashmap *seen;   /* two items may share a by-name name */
};

/* Returns 1 once the kernel's buffer is full. */
static int emit_entry(void *arg, const char *name, enum cfs_kind kind)
{
	struct dir_fill *d = arg;
	struct stat st;

	if (cfs_hashmap_get(d->seen, name))
		return 0;
	if (cfs_hashmap_put(d->seen, name, d, NULL) != 0)
		return -ENOMEM;
	if (++d->next <= d->from)
		return 0;
	/* only the type: attr_timeout 0 makes the kernel ask for the rest */
	fill_stat(fs_ctx(), kind, 0, 0, &st);
	return d->filler(d->buf, name, &st, d->next, d->plus) ? 1 : 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct dir_fill d = { buf, filler,
			      (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS
							  : 0,
			      offset, 0, cfs_hashmap_new() };
	int rc;

	(void)fi;
	if (!d.seen)
		return -ENOMEM;
	rc = emit_entry(&d, ".", CFS_DIR);
	if (!rc)
		rc = emit_entry(&d, "..", CFS_DIR);
	if (!rc)
		rc = cfs_tree_readdir(fs_ctx()->tree, rel(path), emit_entry,
				      &d);
	cfs_hashmap_free(d.seen, NULL);
	return rc < 0 ? rc : 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of;
	struct cfs_node n;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	rc = cfs_tree_node(fs_ctx()->tree, rel(path), &n);
	if (rc)
		return rc;
	if (n.kind != CFS_FILE) {
		cfs_node_clear(&n);
		return -EISDIR;
	}
	of = malloc(sizeof(*of));
	if (!of) {
		cfs_node_clear(&n);
		return -ENOMEM;
	}
	of->content = n.content;
	of->mtime = n.mtime;
	n.content = NULL;
	cfs_node_clear(&n);
	fi->fh = (uint64_t)(uintptr_t)of;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	size_t len = of->content->len;

	(void)path;
	if ((size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, of->content->data + off, size);
	return (int)size;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;

	(void)path;
	cfs_blob_unref(of->content);
	free(of);
	return 0;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	struct cfs_node n;
	int rc;

	rc = cfs_tree_node(fs_ctx()->tree, rel(path), &n);
	if (rc)
		return rc;
	if (n.kind == CFS_LINK)
		snprintf(buf, size, "%s", n.link);
	else
		rc = -EINVAL;
	cfs_node_clear(&n);
	return rc;
}

#define XATTR_URL "user.cloudfs.url"
#define XATTR_REQUEST_ID "user.cloudfs.request_id"
#define XATTR_FETCHED_AT "user.cloudfs.fetched_at"

/* The value of one of our attributes, or NULL if the node has none. */
static const char *xattr_value(const struct cfs_node *n, const char *name,
			       char iso[32])
{
	if (!n->url)
		return NULL;
	if (strcmp(name, XATTR_URL) == 0)
		return n->url;
	if (strcmp(name, XATTR_REQUEST_ID) == 0)
		return n->request_id[0] ? n->request_id : NULL;
	if (strcmp(name, XATTR_FETCHED_AT) == 0) {
		cfs_iso8601((time_t)n->fetched_at, iso);
		return iso;
	}
	return NULL;
}

static int copy_out(const char *value, char *buf, size_t size)
{
	size_t len = strlen(value);

	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(buf, value, len);
	return (int)len;
}

static int fs_getxattr(const char *path, const char *name, char *buf,
		       size_t size)
{
	struct cfs_node n;
	const char *value;
	char iso[32];
	int rc;

	rc = cfs_tree_node(fs_ctx()->tree, rel(path), &n);
	if (rc)
		return rc;
	value = xattr_value(&n, name, iso);
	rc = value ? copy_out(value, buf, size) : -ENODATA;
	cfs_node_clear(&n);
	return rc;
}

static int fs_listxattr(const char *path, char *buf, size_t size)
{
	static const char *const names[] = { XATTR_URL, XATTR_REQUEST_ID,
					     XATTR_FETCHED_AT };
	struct cfs_buf list = { 0 };
	struct cfs_node n;
	char iso[32];
	size_t i;
	int rc;

	rc = cfs_tree_node(fs_ctx()->tree, rel(path), &n);
	if (rc)
		return rc;
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && !rc; i++)
		if (xattr_value(&n, names[i], iso))
			rc = cfs_buf_append(&list, names[i],
					    strlen(names[i]) + 1);
	cfs_node_clear(&n);
	if (!rc) {
		if (size == 0)
			rc = (int)list.len;
		else if (size < list.len)
			rc = -ERANGE;
		else
			rc = (int)list.len;
		if (size >= list.len && list.len)
			memcpy(buf, list.data, list.len);
	}
	cfs_buf_free(&list);
	return rc;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	return 0;
}

const struct fuse_operations cfs_fs_operations = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.readlink = fs_readlink,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.statfs = fs_statfs,
};
