/*
 * fs.c - the fuse_operations table.
 *
 * Lookups go to the overlay first (temporary files, hidden names), then
 * to the tree.  Writes go to the open file's buffer; flush (every close)
 * commits a changed buffer through the tree, which validates, sends one
 * request and drops the stale cache entries.
 */
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "hashmap.h"
#include "logs.h"
#include "overlay.h"
#include "tree.h"

/* A log file that some process has open, and how many opens it has. */
struct live {
	struct cfs_follow *follow;
	int opens;
};

/* What an open file holds on to: exactly one of content, temp, buffer. */
struct open_file {
	pthread_mutex_t lock;
	struct cfs_blob *content;   /* an API file opened for reading */
	time_t mtime;
	int writable;
	struct cfs_temp *temp;      /* a temporary file */
	struct live *live;          /* a log file, growing */
	char *creating;             /* a new file: its temp goes here */
	int writing;                /* an API file opened for writing */
	int dirty;                  /* bytes written since the last commit */
	int truncated;              /* opened with O_TRUNC, nothing sent yet */
	int append;
	struct cfs_buf buf;
	char *path;
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

static struct open_file *of_of(const struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
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
	 * exact size, and those run in parallel.  Without auto_cache or
	 * keep_cache every open drops the kernel's page cache, so a read
	 * never shows bytes older than our cache's.
	 */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 1.0;
	return fs_ctx();
}

static void fill_stat(const struct cfs_fs *fs, enum cfs_kind kind,
		      int writable, off_t size, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	switch (kind) {
	case CFS_DIR:
		st->st_mode = S_IFDIR | (writable ? 0755 : 0555);
		st->st_nlink = 2;
		break;
	case CFS_FILE:
	case CFS_NEWFILE:
		st->st_mode = S_IFREG | (writable ? 0644 : 0444);
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

int cfs_fs_init(struct cfs_fs *fs)
{
	fs->live = cfs_hashmap_new();
	if (!fs->live)
		return -ENOMEM;
	pthread_mutex_init(&fs->live_lock, NULL);
	return 0;
}

static int stop_live(const char *key, void *value, void *arg)
{
	struct live *l = value;

	(void)key;
	(void)arg;
	cfs_follow_stop(l->follow);
	free(l);
	return 1;
}

void cfs_fs_shutdown(struct cfs_fs *fs)
{
	if (!fs->live)
		return;
	pthread_mutex_lock(&fs->live_lock);
	cfs_hashmap_filter(fs->live, stop_live, NULL);
	pthread_mutex_unlock(&fs->live_lock);
}

void cfs_fs_destroy(struct cfs_fs *fs)
{
	if (!fs->live)
		return;
	cfs_hashmap_free(fs->live, NULL);   /* every open was released */
	pthread_mutex_destroy(&fs->live_lock);
}

/* The follower of path, started for the first open. */
static struct live *live_attach(const char *path, const struct cfs_node *n)
{
	struct cfs_fs *fs = fs_ctx();
	struct live *l;

	pthread_mutex_lock(&fs->live_lock);
	l = cfs_hashmap_get(fs->live, path);
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (l)
			l->follow = cfs_follow_start(fs->http, n->follow,
						     n->last_event_id,
						     n->content);
		if (l && (!l->follow ||
			  cfs_hashmap_put(fs->live, path, l, NULL) != 0)) {
			if (l->follow)
				cfs_follow_stop(l->follow);
			free(l);
			l = NULL;
		}
	}
	if (l)
		l->opens++;
	pthread_mutex_unlock(&fs->live_lock);
	return l;
}

static void live_detach(const char *path, struct live *l)
{
	struct cfs_fs *fs = fs_ctx();
	int last;

	pthread_mutex_lock(&fs->live_lock);
	last = --l->opens == 0;
	if (last)
		cfs_hashmap_remove(fs->live, path);
	pthread_mutex_unlock(&fs->live_lock);
	if (last) {
		cfs_follow_stop(l->follow);
		free(l);
	}
}

/* Size and mtime of a log file open somewhere; 0 if none is. */
static int live_stat(const char *path, struct stat *st)
{
	struct cfs_fs *fs = fs_ctx();
	struct live *l;

	pthread_mutex_lock(&fs->live_lock);
	l = cfs_hashmap_get(fs->live, path);
	if (l)
		fill_stat(fs, CFS_FILE, 0, (off_t)cfs_follow_size(l->follow),
			  cfs_follow_mtime(l->follow), st);
	pthread_mutex_unlock(&fs->live_lock);
	return l != NULL;
}

static void stat_open_file(struct open_file *of, struct stat *st)
{
	struct cfs_fs *fs = fs_ctx();

	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		pthread_mutex_lock(&of->temp->lock);
		fill_stat(fs, CFS_FILE, 1, (off_t)of->temp->data.len,
			  of->temp->mtime, st);
		pthread_mutex_unlock(&of->temp->lock);
	} else if (of->live) {
		fill_stat(fs, CFS_FILE, 0,
			  (off_t)cfs_follow_size(of->live->follow),
			  cfs_follow_mtime(of->live->follow), st);
	} else if (of->writing) {
		fill_stat(fs, CFS_FILE, 1, (off_t)of->buf.len, of->mtime, st);
	} else {
		fill_stat(fs, CFS_FILE, of->writable,
			  (off_t)of->content->len, of->mtime, st);
	}
	pthread_mutex_unlock(&of->lock);
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	struct cfs_temp *temp;
	struct cfs_node n;
	int rc;

	if (fi && fi->fh) {
		stat_open_file(of_of(fi), st);
		return 0;
	}
	temp = cfs_overlay_temp(fs->overlay, rel(path));
	if (temp) {
		pthread_mutex_lock(&temp->lock);
		fill_stat(fs, CFS_FILE, 1, (off_t)temp->data.len, temp->mtime,
			  st);
		pthread_mutex_unlock(&temp->lock);
		cfs_temp_unref(temp);
		return 0;
	}
	if (cfs_overlay_hidden(fs->overlay, rel(path)))
		return -ENOENT;
	if (live_stat(rel(path), st))
		return 0;
	rc = cfs_tree_node(fs->tree, rel(path), &n);
	if (rc)
		return rc;
	fill_stat(fs, n.kind, n.writable,
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
	const char *dir;
	off_t from;                 /* entries up to this one were sent */
	off_t next;
	struct cfs_hashmap *seen;   /* two items may share a by-name name */
};

/* Returns 1 once the kernel's buffer is full. */
static int emit_entry(void *arg, const char *name, enum cfs_kind kind)
{
	struct dir_fill *d = arg;
	struct stat st;
	char path[4096];

	if (cfs_hashmap_get(d->seen, name))
		return 0;
	if (cfs_hashmap_put(d->seen, name, d, NULL) != 0)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s%s%s", d->dir, *d->dir ? "/" : "",
		 name);
	if (cfs_overlay_hidden(fs_ctx()->overlay, path))
		return 0;
	if (++d->next <= d->from)
		return 0;
	/* only the type: attr_timeout 0 makes the kernel ask for the rest */
	fill_stat(fs_ctx(), kind, 0, 0, 0, &st);
	return d->filler(d->buf, name, &st, d->next, d->plus) ? 1 : 0;
}

static int emit_temp(void *arg, const char *name)
{
	return emit_entry(arg, name, CFS_FILE);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct dir_fill d = { buf, filler,
			      (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS
							  : 0,
			      rel(path), offset, 0, cfs_hashmap_new() };
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
	if (!rc)
		rc = cfs_overlay_list(fs_ctx()->overlay, rel(path), emit_temp,
				      &d);
	cfs_hashmap_free(d.seen, NULL);
	return rc < 0 ? rc : 0;
}

static struct open_file *of_new(void)
{
	struct open_file *of = calloc(1, sizeof(*of));

	if (of)
		pthread_mutex_init(&of->lock, NULL);
	return of;
}

static void of_free(struct open_file *of)
{
	cfs_blob_unref(of->content);
	cfs_temp_unref(of->temp);
	cfs_buf_free(&of->buf);
	free(of->creating);
	free(of->path);
	pthread_mutex_destroy(&of->lock);
	free(of);
}

static int of_attach(struct open_file *of, struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)of;
	return 0;
}

/* A buffer for writing path: empty with O_TRUNC, else its content. */
static int of_start_writing(struct open_file *of, const char *path,
			    const struct cfs_blob *current, int flags)
{
	of->writing = 1;
	of->append = (flags & O_APPEND) != 0;
	of->mtime = time(NULL);
	of->path = strdup(path);
	if (!of->path)
		return -ENOMEM;
	if (!current || (flags & O_TRUNC)) {
		of->truncated = 1;  /* emptying it is a change too */
		return 0;
	}
	return cfs_buf_append(&of->buf, current->data, current->len);
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	int wants_write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct open_file *of;
	struct cfs_node n;
	int rc;

	of = of_new();
	if (!of)
		return -ENOMEM;
	of->temp = cfs_overlay_temp(fs->overlay, rel(path));
	if (of->temp) {
		if (fi->flags & O_TRUNC) {
			pthread_mutex_lock(&of->temp->lock);
			of->temp->data.len = 0;
			pthread_mutex_unlock(&of->temp->lock);
		}
		of->append = (fi->flags & O_APPEND) != 0;
		return of_attach(of, fi);
	}
	rc = cfs_overlay_hidden(fs->overlay, rel(path))
		     ? -ENOENT
		     : cfs_tree_node(fs->tree, rel(path), &n);
	if (rc)
		goto fail;
	if (n.kind != CFS_FILE)
		rc = -EISDIR;
	else if (wants_write && !n.takes_writes)
		rc = -EACCES;
	else if (wants_write)
		rc = of_start_writing(of, rel(path), n.content, fi->flags);
	if (!rc && !wants_write && n.follow) {
		of->live = live_attach(rel(path), &n);
		of->path = strdup(rel(path));
		if (!of->live || !of->path)
			rc = -ENOMEM;
	} else if (!rc && !wants_write) {
		of->content = cfs_blob_ref(n.content);
		of->mtime = n.mtime;
		of->writable = n.writable;
	}
	cfs_node_clear(&n);
	if (rc)
		goto fail;
	return of_attach(of, fi);
fail:
	of_free(of);
	return rc;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	struct open_file *of = of_new();
	int rc;

	(void)mode;
	if (!of)
		return -ENOMEM;
	switch (cfs_tree_classify(fs->tree, rel(path))) {
	case CFS_ENTRY_WRITABLE:
		/* recreated after unlink or rename-away (perl -pi, vim) */
		cfs_overlay_unhide(fs->overlay, rel(path));
		rc = of_start_writing(of, rel(path), NULL, fi->flags);
		break;
	case CFS_ENTRY_NEW:
		/* visible by path while written, like a local file */
		rc = cfs_overlay_create(fs->overlay, rel(path), &of->temp);
		of->creating = strdup(rel(path));
		if (!rc && !of->creating)
			rc = -ENOMEM;
		break;
	case CFS_ENTRY_SCRATCH:
		rc = cfs_overlay_create(fs->overlay, rel(path), &of->temp);
		of->append = (fi->flags & O_APPEND) != 0;
		break;
	case CFS_ENTRY_READONLY:
	case CFS_ENTRY_NONE:
	default:
		rc = -EACCES;
		break;
	}
	if (rc) {
		of_free(of);
		return rc;
	}
	return of_attach(of, fi);
}

static int bytes_read(const char *data, size_t len, char *buf, size_t size,
		      off_t off)
{
	if ((size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, data + off, size);
	return (int)size;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct open_file *of = of_of(fi);
	int n;

	(void)path;
	if (of->live)
		return cfs_follow_read(of->live->follow, buf, size, off);
	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		pthread_mutex_lock(&of->temp->lock);
		n = bytes_read(of->temp->data.data, of->temp->data.len, buf,
			       size, off);
		pthread_mutex_unlock(&of->temp->lock);
	} else if (of->writing) {
		n = bytes_read(of->buf.data, of->buf.len, buf, size, off);
	} else {
		n = bytes_read(of->content->data, of->content->len, buf,
			       size, off);
	}
	pthread_mutex_unlock(&of->lock);
	return n;
}

/* Grows (zero-filled) or shrinks b to len bytes. */
static int buf_resize(struct cfs_buf *b, size_t len)
{
	if (len > b->len) {
		size_t gap = len - b->len;
		char *zeros = calloc(1, gap);
		int rc;

		if (!zeros)
			return -ENOMEM;
		rc = cfs_buf_append(b, zeros, gap);
		free(zeros);
		return rc;
	}
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
	return 0;
}

static int buf_write(struct cfs_buf *b, const char *data, size_t size,
		     off_t off, int append)
{
	size_t at = append ? b->len : (size_t)off;
	int rc = 0;

	if (at + size > b->len)
		rc = buf_resize(b, at + size);
	if (rc)
		return rc;
	memcpy(b->data + at, data, size);
	return (int)size;
}

static int fs_write(const char *path, const char *data, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	struct open_file *of = of_of(fi);
	int rc = -EBADF;

	(void)path;
	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		pthread_mutex_lock(&of->temp->lock);
		rc = buf_write(&of->temp->data, data, size, off, of->append);
		of->temp->mtime = time(NULL);
		pthread_mutex_unlock(&of->temp->lock);
		of->dirty = 1;
	} else if (of->writing) {
		rc = buf_write(&of->buf, data, size, off, of->append);
		of->dirty = 1;
	}
	pthread_mutex_unlock(&of->lock);
	return rc;
}

/* Sends a new file's bytes; whatever the outcome its temp goes: the
 * server's state shows from then on. */
static int commit_creation(struct open_file *of)
{
	struct cfs_fs *fs = fs_ctx();
	struct cfs_buf b = { 0 };
	int rc;

	pthread_mutex_lock(&of->temp->lock);
	rc = cfs_buf_append(&b, of->temp->data.data ? of->temp->data.data
						    : "",
			    of->temp->data.len);
	pthread_mutex_unlock(&of->temp->lock);
	if (!rc)
		rc = cfs_tree_commit(fs->tree, of->creating, b.data, b.len);
	cfs_buf_free(&b);
	cfs_overlay_unlink(fs->overlay, of->creating);
	free(of->creating);
	of->creating = NULL;
	of->dirty = 0;
	return rc;
}

static int commit(struct open_file *of)
{
	if (of->creating)
		return commit_creation(of);
	of->dirty = 0;
	of->truncated = 0;
	return cfs_tree_commit(fs_ctx()->tree, of->path,
			       of->buf.data ? of->buf.data : "", of->buf.len);
}

/*
 * Every close: written bytes go out whole, as one request, and close
 * returns its errno.  A file only emptied by O_TRUNC waits for the last
 * close (release): a shell's `> file` closes a duplicate descriptor before
 * the command writes, and sending then would send an empty file first.
 */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = of_of(fi);
	int rc = 0;

	(void)path;
	pthread_mutex_lock(&of->lock);
	if ((of->writing || of->creating) && of->dirty)
		rc = commit(of);
	pthread_mutex_unlock(&of->lock);
	return rc;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	return 0;       /* the bytes go out at close, as one request */
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = of_of(fi);

	(void)path;
	if (of->creating || (of->writing && (of->dirty || of->truncated)))
		commit(of);     /* its errno has no one to go to: logged */
	if (of->live)
		live_detach(of->path, of->live);
	of_free(of);
	return 0;
}

/* The current bytes of a temporary or API file, copied; *takes_writes
 * says whether writing it means anything (else EACCES). */
static int current_bytes(const char *path, struct cfs_buf *out,
			 int *takes_writes)
{
	struct cfs_fs *fs = fs_ctx();
	struct cfs_temp *temp = cfs_overlay_temp(fs->overlay, path);
	struct cfs_node n;
	int rc;

	if (temp) {
		pthread_mutex_lock(&temp->lock);
		rc = cfs_buf_append(out, temp->data.data ? temp->data.data : "",
				    temp->data.len);
		pthread_mutex_unlock(&temp->lock);
		cfs_temp_unref(temp);
		*takes_writes = 1;
		return rc;
	}
	if (cfs_overlay_hidden(fs->overlay, path))
		return -ENOENT;
	rc = cfs_tree_node(fs->tree, path, &n);
	if (rc)
		return rc;
	*takes_writes = n.kind == CFS_FILE && n.takes_writes;
	rc = n.kind == CFS_FILE ? cfs_buf_append(out, n.content->data,
						 n.content->len)
				: -EISDIR;
	cfs_node_clear(&n);
	return rc;
}

static int truncate_path(const char *path, off_t size)
{
	struct cfs_fs *fs = fs_ctx();
	struct cfs_temp *temp = cfs_overlay_temp(fs->overlay, path);
	struct cfs_buf b = { 0 };
	int takes_writes = 0;
	int rc;

	if (temp) {
		pthread_mutex_lock(&temp->lock);
		rc = buf_resize(&temp->data, (size_t)size);
		pthread_mutex_unlock(&temp->lock);
		cfs_temp_unref(temp);
		return rc;
	}
	rc = current_bytes(path, &b, &takes_writes);
	if (!rc && !takes_writes)
		rc = -EACCES;
	if (!rc)
		rc = buf_resize(&b, (size_t)size);
	if (!rc)
		rc = cfs_tree_commit(fs->tree, path, b.data ? b.data : "",
				     b.len);
	cfs_buf_free(&b);
	return rc;
}

static int fs_truncate(const char *path, off_t size,
		       struct fuse_file_info *fi)
{
	struct open_file *of = fi && fi->fh ? of_of(fi) : NULL;
	int rc = -EACCES;

	if (!of)
		return truncate_path(rel(path), size);
	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		pthread_mutex_lock(&of->temp->lock);
		rc = buf_resize(&of->temp->data, (size_t)size);
		pthread_mutex_unlock(&of->temp->lock);
	} else if (of->writing) {
		rc = buf_resize(&of->buf, (size_t)size);
		of->truncated = 1;
	}
	pthread_mutex_unlock(&of->lock);
	return rc;
}

static int fs_unlink(const char *path)
{
	struct cfs_fs *fs = fs_ctx();

	if (cfs_overlay_unlink(fs->overlay, rel(path)) == 0)
		return 0;
	if (cfs_overlay_hidden(fs->overlay, rel(path)))
		return -ENOENT;
	switch (cfs_tree_classify(fs->tree, rel(path))) {
	case CFS_ENTRY_WRITABLE:
		cfs_overlay_hide(fs->overlay, rel(path));
		return 0;
	case CFS_ENTRY_READONLY:
		return -EACCES;
	default:
		return -ENOENT;
	}
}

static int is_temp(const char *path)
{
	struct cfs_temp *temp = cfs_overlay_temp(fs_ctx()->overlay, path);

	cfs_temp_unref(temp);
	return temp != NULL;
}

static int exists(const char *path)
{
	struct cfs_fs *fs = fs_ctx();
	enum cfs_entry e;

	if (is_temp(path))
		return 1;
	e = cfs_tree_classify(fs->tree, path);
	return (e == CFS_ENTRY_WRITABLE || e == CFS_ENTRY_READONLY) &&
	       !cfs_overlay_hidden(fs->overlay, path);
}

/* What the source leaves behind once its bytes live elsewhere. */
static void retire_source(const char *from)
{
	struct cfs_fs *fs = fs_ctx();

	if (cfs_overlay_unlink(fs->overlay, from) != 0)
		cfs_overlay_hide(fs->overlay, from);
}

static int fs_rename(const char *from_abs, const char *to_abs,
		     unsigned int flags)
{
	struct cfs_fs *fs = fs_ctx();
	const char *from = rel(from_abs);
	const char *to = rel(to_abs);
	struct cfs_buf b = { 0 };
	int takes_writes = 0;
	int rc;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	if (strcmp(from, to) == 0)
		return 0;
	if ((flags & RENAME_NOREPLACE) && exists(to))
		return -EEXIST;
	rc = current_bytes(from, &b, &takes_writes);
	/* only a temporary or writable file may move away */
	if (!rc && !is_temp(from) &&
	    cfs_tree_classify(fs->tree, from) != CFS_ENTRY_WRITABLE)
		rc = -EACCES;
	if (rc)
		goto out;
	switch (cfs_tree_classify(fs->tree, to)) {
	case CFS_ENTRY_WRITABLE:
	case CFS_ENTRY_NEW:
		/* replacing a writable file is writing it */
		rc = cfs_tree_commit(fs->tree, to, b.data ? b.data : "",
				     b.len);
		if (!rc) {
			retire_source(from);
			cfs_overlay_unhide(fs->overlay, to);
		}
		break;
	case CFS_ENTRY_SCRATCH:
		if (cfs_overlay_move(fs->overlay, from, to) != 0) {
			rc = cfs_overlay_put(fs->overlay, to,
					     b.data ? b.data : "", b.len);
			if (!rc)
				cfs_overlay_hide(fs->overlay, from);
		}
		break;
	default:
		rc = -EACCES;
		break;
	}
out:
	cfs_buf_free(&b);
	return rc;
}

static int fs_rmdir(const char *path)
{
	return cfs_tree_remove(fs_ctx()->tree, rel(path));
}

static int fs_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EACCES;
}

/* Modes, owners and times are the API's: changing them is a no-op where
 * writing is allowed (tools set them on their temporary files). */
static int accept_if_writable(const char *path)
{
	if (is_temp(rel(path)))
		return 0;
	switch (cfs_tree_classify(fs_ctx()->tree, rel(path))) {
	case CFS_ENTRY_WRITABLE:
		return 0;
	case CFS_ENTRY_READONLY:
		return -EACCES;
	default:
		return -ENOENT;
	}
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	return fi && fi->fh ? 0 : accept_if_writable(path);
}

static int fs_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	(void)uid;
	(void)gid;
	return fi && fi->fh ? 0 : accept_if_writable(path);
}

static int fs_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	(void)tv;
	return fi && fi->fh ? 0 : accept_if_writable(path);
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

static int copy_out(const char *value, size_t len, char *buf, size_t size)
{
	if (size == 0 || len == 0)
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
	rc = value ? copy_out(value, strlen(value), buf, size) : -ENODATA;
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
	if (!rc)
		rc = copy_out(list.data, list.len, buf, size);
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
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.release = fs_release,
	.truncate = fs_truncate,
	.unlink = fs_unlink,
	.rename = fs_rename,
	.rmdir = fs_rmdir,
	.mkdir = fs_mkdir,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
	.readlink = fs_readlink,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.statfs = fs_statfs,
};
