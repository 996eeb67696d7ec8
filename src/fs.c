/*
 * fs.c - the fuse_operations table.
 *
 * Lookups go to the overlay first (temporary files, hidden names), then
 * to the tree.  Writes go to the open file's buffer; flush (every close)
 * commits a changed buffer through the tree, which validates, sends one
 * request and drops the stale cache entries.
 *
 * What the kernel is told is never something a concurrent reader could
 * take for content: directory entries carry exact attributes or none
 * (see readdir below), attributes are never cached, and API files are
 * opened with direct_io, so every read is served from the one version
 * its open file holds and two versions never share cached pages.
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
#include "live.h"
#include "nodes.h"
#include "overlay.h"
#include "tree.h"

/* One path's writers take turns (gate_enter / gate_leave). */
struct gate {
	int held;
	int waiters;
};

/* What an open file holds on to: exactly one of content, temp, buffer. */
struct open_file {
	struct open_file *prev; /* every open file, for shutdown */
	struct open_file *next;
	pthread_mutex_t lock;
	struct cfs_blob *content; /* an API file opened for reading */
	time_t mtime;
	int writable;
	struct cfs_temp *temp; /* a temporary file */
	struct cfs_live *live; /* a log file, growing */
	char *creating;	       /* a new file: its temp goes here */
	int writing;	       /* an API file opened for writing */
	int dirty;	       /* bytes written since the last commit */
	int truncated;	       /* opened with O_TRUNC, nothing sent yet */
	int append;
	int failed; /* a write failed: -errno at every close,
				     * and nothing is ever sent */
	struct cfs_buf buf;
	char *path;
	char *gate; /* the path whose writers' turn it holds */
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
	 * Attributes are never cached in the kernel: every stat becomes a
	 * GETATTR, answered from our cache with the exact size of the
	 * version a read would return now.
	 */
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 1.0;
	/* our inode numbers (nodes.h), the same in every mount, not libfuse's
	 * counter: backup tools take a new number for a new file */
	cfg->use_ino = 1;
	return fs_ctx();
}

static void fill_stat(const struct cfs_fs *fs, enum cfs_kind kind,
		      int writable, off_t size, time_t mtime, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	writable = writable && !fs->ro;
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
	fs->gates = cfs_hashmap_new();
	if (!fs->gates)
		return -ENOMEM;
	pthread_mutex_init(&fs->gate_lock, NULL);
	pthread_cond_init(&fs->gate_cv, NULL);
	pthread_mutex_init(&fs->open_lock, NULL);
	return 0;
}

static void of_free(struct cfs_fs *fs, struct open_file *of);

void cfs_fs_shutdown(struct cfs_fs *fs)
{
	struct open_file *of;

	if (!fs->gates)
		return;
	/* the loop is over: no operation runs any more, no lock is needed */
	while ((of = fs->open_files) != NULL) {
		if (of->live)
			cfs_live_detach(cfs_tree_live(fs->tree), of->path,
					of->live);
		of_free(fs, of);
	}
	cfs_tree_shutdown(fs->tree);
}

void cfs_fs_destroy(struct cfs_fs *fs)
{
	if (!fs->gates)
		return;
	cfs_hashmap_free(fs->gates, free);
	pthread_mutex_destroy(&fs->gate_lock);
	pthread_cond_destroy(&fs->gate_cv);
	pthread_mutex_destroy(&fs->open_lock);
}

/* Size and mtime of a log file open somewhere; 0 if none is. */
static int live_stat(const char *path, struct stat *st)
{
	struct cfs_fs *fs = fs_ctx();
	size_t size;
	time_t mtime;

	if (!cfs_live_stat(cfs_tree_live(fs->tree), path, &size, &mtime))
		return 0;
	fill_stat(fs, CFS_FILE, 0, (off_t)size, mtime, st);
	return 1;
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
		fill_stat(fs, CFS_FILE, 0, (off_t)cfs_live_size(of->live),
			  cfs_live_mtime(of->live), st);
	} else if (of->writing) {
		fill_stat(fs, CFS_FILE, 1, (off_t)of->buf.len, of->mtime, st);
	} else {
		fill_stat(fs, CFS_FILE, of->writable, (off_t)of->content->len,
			  of->mtime, st);
	}
	pthread_mutex_unlock(&of->lock);
}

static int getattr_of(const char *path, struct stat *st,
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
		  n.kind == CFS_FILE   ? (off_t)n.content->len
		  : n.kind == CFS_LINK ? (off_t)strlen(n.link)
				       : 0,
		  n.mtime, st);
	cfs_node_clear(&n);
	return 0;
}

/* libfuse passes no path for an open file whose name is gone. */
static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	int rc = getattr_of(path, st, fi);

	if (!rc && path)
		st->st_ino = cfs_nodes_ino(rel(path));
	return rc;
}

/*
 * readdir
 *
 * The kernel looks the names of one directory up one at a time, so
 * readers of several files whose sizes need a request each (invoice
 * PDFs: the size is in the bytes) would wait for one another.  readdir
 * therefore works out, in parallel, the attributes of a batch of entries
 * and hands them out with the entries (READDIRPLUS): exact sizes, the
 * ones a stat or a read would give now.  What that costs is the route's
 * (enum cfs_cost): nothing for what the listing holds, a request for
 * invoice documents, only what is cached for other fetched files.
 * Entries it cannot vouch for go out without attributes (and without
 * FUSE_FILL_DIR_PLUS), never with made-up ones: a READDIRPLUS size sets
 * the size of an inode a reader may be using.
 */
#define DIR_BATCH 64  /* entries worked out per round */
#define DIR_WORKERS 8 /* at most in parallel (max_conns' default) */

struct dir_entry {
	char *name;
	enum cfs_kind kind;
	enum cfs_cost cost;
	int known; /* st is exact */
	struct stat st;
};

struct dir_list {
	struct cfs_fs *fs;
	const char *dir;
	struct dir_entry *e;
	size_t n;
	size_t cap;
	struct cfs_hashmap *seen; /* two items may share a by-name name */
};

static void child_path(const char *dir, const char *name, char out[4096])
{
	snprintf(out, 4096, "%s%s%s", dir, *dir ? "/" : "", name);
}

static int list_add(struct dir_list *l, const char *name, enum cfs_kind kind,
		    enum cfs_cost cost)
{
	char path[4096];
	struct dir_entry *e;

	if (cfs_hashmap_get(l->seen, name))
		return 0;
	if (cfs_hashmap_put(l->seen, name, l, NULL) != 0)
		return -ENOMEM;
	child_path(l->dir, name, path);
	if (cfs_overlay_hidden(l->fs->overlay, path))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;

		e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	e = &l->e[l->n];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return -ENOMEM;
	e->kind = kind;
	e->cost = cost;
	l->n++;
	return 0;
}

static int add_listed(void *arg, const char *name, enum cfs_kind kind,
		      enum cfs_cost cost)
{
	return list_add(arg, name, kind, cost);
}

/* Temporary files: their attributes change with every write. */
static int add_temp(void *arg, const char *name)
{
	return list_add(arg, name, CFS_FILE, CFS_COST_NEVER);
}

/* The number getattr gives the entry's path (the parent's for ".."). */
static ino_t entry_ino(const char *dir, const char *name)
{
	const char *slash = strrchr(dir, '/');
	char path[4096];

	if (strcmp(name, "..") == 0)
		snprintf(path, sizeof(path), "%.*s",
			 slash ? (int)(slash - dir) : 0, dir);
	else if (strcmp(name, ".") == 0)
		snprintf(path, sizeof(path), "%s", dir);
	else
		child_path(dir, name, path);
	return cfs_nodes_ino(path);
}

static void list_free(struct dir_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	cfs_hashmap_free(l->seen, NULL);
}

static void entry_stat(struct cfs_fs *fs, const char *dir, struct dir_entry *e)
{
	struct cfs_node n;
	char path[4096];

	child_path(dir, e->name, path);
	if ((e->cost == CFS_COST_CACHED
		     ? cfs_tree_node_cached(fs->tree, path, &n)
		     : cfs_tree_node(fs->tree, path, &n)) != 0)
		return;
	fill_stat(fs, n.kind, n.writable,
		  n.kind == CFS_FILE   ? (off_t)n.content->len
		  : n.kind == CFS_LINK ? (off_t)strlen(n.link)
				       : 0,
		  n.mtime, &e->st);
	e->known = 1;
	cfs_node_clear(&n);
}

/* Entries [next, end) of a batch, shared by its workers. */
struct dir_batch {
	struct dir_list *l;
	size_t next; /* atomic */
	size_t end;
};

static void *stat_worker(void *arg)
{
	struct dir_batch *b = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) <
	       b->end) {
		struct dir_entry *e = &b->l->e[i];

		if (e->cost != CFS_COST_NEVER)
			entry_stat(b->l->fs, b->l->dir, e);
	}
	return NULL;
}

/* Workers only for entries that take a request; the rest are cheap. */
static void stat_batch(struct dir_list *l, size_t from, size_t end)
{
	struct dir_batch b = { l, from, end };
	pthread_t workers[DIR_WORKERS];
	size_t started = 0;
	size_t want = 0;
	size_t i;

	for (i = from; i < end && want < DIR_WORKERS; i++)
		want += l->e[i].cost == CFS_COST_FETCH;

	while (started + 1 < want &&
	       pthread_create(&workers[started], NULL, stat_worker, &b) == 0)
		started++;
	stat_worker(&b);
	while (started)
		pthread_join(workers[--started], NULL);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct dir_list l = { fs_ctx(), rel(path), NULL,
			      0,	0,	   cfs_hashmap_new() };
	size_t i;
	int rc;

	(void)fi;
	if (!l.seen)
		return -ENOMEM;
	/* "." and "..": the kernel knows them, and ".." is not ours */
	rc = list_add(&l, ".", CFS_DIR, CFS_COST_NEVER);
	if (!rc)
		rc = list_add(&l, "..", CFS_DIR, CFS_COST_NEVER);
	if (!rc)
		rc = cfs_tree_readdir(l.fs->tree, l.dir, add_listed, &l);
	if (!rc)
		rc = cfs_overlay_list(l.fs->overlay, l.dir, add_temp, &l);
	if (!rc && offset == 0)
		cfs_tree_read_ahead(l.fs->tree, l.dir);
	/* one prefetch of them all, rather than a few threads a batch each */
	if (!rc && offset == 0 && (flags & FUSE_READDIR_PLUS))
		cfs_tree_fetch_documents(l.fs->tree, l.dir);
	/* offsets are 1, 2, ...: a large directory takes several calls */
	for (i = (size_t)offset; !rc && i < l.n; i++) {
		struct dir_entry *e = &l.e[i];

		if ((i - (size_t)offset) % DIR_BATCH == 0 &&
		    (flags & FUSE_READDIR_PLUS))
			stat_batch(&l, i,
				   i + DIR_BATCH < l.n ? i + DIR_BATCH : l.n);
		if (!e->known)
			fill_stat(l.fs, e->kind, 0, 0, 0, &e->st);
		e->st.st_ino = entry_ino(l.dir, e->name);
		if (filler(buf, e->name, &e->st, (off_t)i + 1,
			   e->known ? FUSE_FILL_DIR_PLUS : 0))
			break;
	}
	list_free(&l);
	return rc;
}

/* ---- writers of one path take turns ------------------------------- */

/*
 * Waits for path's writers before this one, at most the HTTP timeout: a
 * writer that keeps the file open longer makes the others fail with
 * EBUSY rather than hang.
 */
static int gate_enter(struct cfs_fs *fs, const char *path)
{
	struct timespec until;
	struct gate *g;
	int rc = 0;

	cfs_deadline_in((double)fs->turn_timeout, &until);
	pthread_mutex_lock(&fs->gate_lock);
	g = cfs_hashmap_get(fs->gates, path);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g || cfs_hashmap_put(fs->gates, path, g, NULL) != 0) {
			free(g);
			rc = -ENOMEM;
			goto out;
		}
	}
	g->waiters++;
	while (g->held && rc == 0)
		if (pthread_cond_timedwait(&fs->gate_cv, &fs->gate_lock,
					   &until) == ETIMEDOUT &&
		    g->held)
			rc = -EBUSY;
	g->waiters--;
	if (rc == 0)
		g->held = 1;
	else if (!g->held && !g->waiters)
		free(cfs_hashmap_remove(fs->gates, path));
out:
	pthread_mutex_unlock(&fs->gate_lock);
	return rc;
}

static void gate_leave(struct cfs_fs *fs, const char *path)
{
	struct gate *g;

	pthread_mutex_lock(&fs->gate_lock);
	g = cfs_hashmap_get(fs->gates, path);
	if (g) {
		g->held = 0;
		if (!g->waiters)
			free(cfs_hashmap_remove(fs->gates, path));
	}
	pthread_cond_broadcast(&fs->gate_cv);
	pthread_mutex_unlock(&fs->gate_lock);
}

static struct open_file *of_new(struct cfs_fs *fs)
{
	struct open_file *of = calloc(1, sizeof(*of));

	if (!of)
		return NULL;
	pthread_mutex_init(&of->lock, NULL);
	pthread_mutex_lock(&fs->open_lock);
	of->next = fs->open_files;
	if (of->next)
		of->next->prev = of;
	fs->open_files = of;
	pthread_mutex_unlock(&fs->open_lock);
	return of;
}

static void of_free(struct cfs_fs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->open_lock);
	if (of->prev)
		of->prev->next = of->next;
	else
		fs->open_files = of->next;
	if (of->next)
		of->next->prev = of->prev;
	pthread_mutex_unlock(&fs->open_lock);
	cfs_blob_unref(of->content);
	cfs_temp_unref(of->temp);
	cfs_buf_free(&of->buf);
	free(of->creating);
	free(of->path);
	if (of->gate) {
		gate_leave(fs, of->gate);
		free(of->gate);
	}
	pthread_mutex_destroy(&of->lock);
	free(of);
}

static int of_attach(struct open_file *of, struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)of;
	return 0;
}

/* The open file takes path's turn, until it is freed. */
static int of_take_turn(struct cfs_fs *fs, struct open_file *of,
			const char *path)
{
	int rc = gate_enter(fs, path);

	if (rc)
		return rc;
	of->gate = strdup(path);
	if (!of->gate) {
		gate_leave(fs, path);
		return -ENOMEM;
	}
	return 0;
}

/* A buffer for writing path: empty with O_TRUNC, else its content. */
static int of_start_writing(struct open_file *of, const char *path,
			    const struct cfs_blob *current, int flags,
			    size_t max)
{
	of->writing = 1;
	of->append = (flags & O_APPEND) != 0;
	of->mtime = time(NULL);
	of->path = strdup(path);
	if (!of->path)
		return -ENOMEM;
	if (!current || (flags & O_TRUNC)) {
		of->truncated = 1; /* emptying it is a change too */
		return 0;
	}
	if (current->len > max)
		return -EFBIG;
	return cfs_buf_append(&of->buf, current->data, current->len);
}

/* Opening an API file to write it: after the writers before us, so that
 * the content it starts from is theirs. */
static int open_for_writing(struct cfs_fs *fs, struct open_file *of,
			    const char *path, int flags)
{
	struct cfs_node n;
	int rc = of_take_turn(fs, of, path);

	if (rc)
		return rc;
	rc = cfs_tree_node(fs->tree, path, &n);
	if (rc)
		return rc;
	rc = n.kind == CFS_FILE && n.takes_writes
		     ? of_start_writing(of, path, n.content, flags,
					fs->write_max)
		     : -EACCES;
	cfs_node_clear(&n);
	return rc;
}

static int open_temp(struct open_file *of, struct fuse_file_info *fi)
{
	if (fi->flags & O_TRUNC) {
		pthread_mutex_lock(&of->temp->lock);
		of->temp->data.len = 0;
		pthread_mutex_unlock(&of->temp->lock);
	}
	of->append = (fi->flags & O_APPEND) != 0;
	return of_attach(of, fi);
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	int wants_write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct open_file *of;
	struct cfs_node n;
	int rc;

	of = of_new(fs);
	if (!of)
		return -ENOMEM;
	of->temp = cfs_overlay_temp(fs->overlay, rel(path));
	if (of->temp)
		return open_temp(of, fi);
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
		rc = open_for_writing(fs, of, rel(path), fi->flags);
	else if (n.follow) {
		of->live = cfs_live_attach(cfs_tree_live(fs->tree), rel(path),
					   n.fetch, n.follow, n.last_event_id,
					   n.content, n.mtime);
		of->path = strdup(rel(path));
		if (!of->live || !of->path)
			rc = -ENOMEM;
	} else {
		of->content = cfs_blob_ref(n.content);
		of->mtime = n.mtime;
		of->writable = n.writable;
	}
	cfs_node_clear(&n);
	if (rc)
		goto fail;
	fi->direct_io = 1;
	return of_attach(of, fi);
fail:
	of_free(fs, of);
	return rc;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	struct open_file *of = of_new(fs);
	int rc;

	(void)mode;
	if (!of)
		return -ENOMEM;
	switch (cfs_tree_classify(fs->tree, rel(path))) {
	case CFS_ENTRY_WRITABLE:
		/* recreated after unlink or rename-away (perl -pi, vim) */
		rc = of_take_turn(fs, of, rel(path));
		if (rc)
			break;
		cfs_overlay_unhide(fs->overlay, rel(path));
		rc = of_start_writing(of, rel(path), NULL, fi->flags,
				      fs->write_max);
		fi->direct_io = 1;
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
		of_free(fs, of);
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
		return cfs_live_read(of->live, buf, size, off);
	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		pthread_mutex_lock(&of->temp->lock);
		n = bytes_read(of->temp->data.data, of->temp->data.len, buf,
			       size, off);
		pthread_mutex_unlock(&of->temp->lock);
	} else if (of->writing) {
		n = bytes_read(of->buf.data, of->buf.len, buf, size, off);
	} else {
		n = bytes_read(of->content->data, of->content->len, buf, size,
			       off);
	}
	pthread_mutex_unlock(&of->lock);
	return n;
}

/*
 * Grows (zero-filled) or shrinks b to len bytes; a length past max is
 * EFBIG before anything is allocated.
 */
static int buf_resize(struct cfs_buf *b, size_t len, size_t max)
{
	size_t old = b->len;

	if (len > max)
		return -EFBIG;
	if (len <= old) {
		b->len = len;
		if (b->data)
			b->data[len] = '\0';
		return 0;
	}
	if (b->cap < len + 1) {
		char *p = realloc(b->data, len + 1);

		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = len + 1;
	}
	memset(b->data + old, 0, len - old + 1);
	b->len = len;
	return 0;
}

static int buf_write(struct cfs_buf *b, const char *data, size_t size,
		     off_t off, int append, size_t max)
{
	size_t at = append ? b->len : (size_t)off;
	int rc = 0;

	if (off < 0 || at > max || size > max - at)
		return -EFBIG;
	if (at + size > b->len)
		rc = buf_resize(b, at + size, max);
	if (rc)
		return rc;
	memcpy(b->data + at, data, size);
	return (int)size;
}

/* A failed write leaves the buffer unfit to send: remember why. */
static int note_failure(struct open_file *of, int rc)
{
	if (rc < 0 && of->writing && !of->failed)
		of->failed = rc;
	return rc;
}

static int fs_write(const char *path, const char *data, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct open_file *of = of_of(fi);
	size_t max = fs_ctx()->write_max;
	int rc = -EBADF;

	(void)path;
	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		pthread_mutex_lock(&of->temp->lock);
		rc = buf_write(&of->temp->data, data, size, off, of->append,
			       max);
		of->temp->mtime = time(NULL);
		pthread_mutex_unlock(&of->temp->lock);
		of->dirty = 1;
	} else if (of->writing && of->failed) {
		rc = of->failed;
	} else if (of->writing) {
		rc = note_failure(of, buf_write(&of->buf, data, size, off,
						of->append, max));
		of->dirty = 1;
	}
	pthread_mutex_unlock(&of->lock);
	return rc;
}

/*
 * What the next commit sends, taken under of->lock: a copy of the bytes
 * and the path (or, for a new file, the name it is created under), so
 * that the request runs without the lock readers and fstat need.
 */
struct pending {
	struct cfs_buf bytes;
	char *path;
	int creating;
};

static int take_pending(struct open_file *of, struct pending *p)
{
	const struct cfs_buf *src = &of->buf;
	int rc;

	memset(p, 0, sizeof(*p));
	if (of->creating) {
		pthread_mutex_lock(&of->temp->lock);
		rc = cfs_buf_append(&p->bytes, of->temp->data.data ?: "",
				    of->temp->data.len);
		pthread_mutex_unlock(&of->temp->lock);
		p->path = of->creating;
		p->creating = 1;
		of->creating = NULL;
	} else {
		rc = cfs_buf_append(&p->bytes, src->data ?: "", src->len);
		p->path = strdup(of->path);
		if (!p->path)
			rc = -ENOMEM;
	}
	of->dirty = 0;
	of->truncated = 0;
	return rc;
}

/* Sends p; a new file's temp goes whatever the outcome: the server's
 * state shows from then on. */
static int send_pending(struct cfs_fs *fs, struct pending *p, int rc)
{
	if (!rc)
		rc = cfs_tree_commit(fs->tree, p->path, p->bytes.data ?: "",
				     p->bytes.len);
	if (p->creating)
		cfs_overlay_unlink(fs->overlay, p->path);
	cfs_buf_free(&p->bytes);
	free(p->path);
	return rc;
}

/*
 * Whether a close has something to send: written bytes; at the last close
 * also a file only emptied by O_TRUNC, or a new file left empty.
 */
static int has_pending(const struct open_file *of, int at_release)
{
	if (of->creating)
		return of->dirty || at_release;
	return of->writing && (of->dirty || (at_release && of->truncated));
}

/* Sends what of has pending; the errno of the close. */
static int commit_if_changed(struct cfs_fs *fs, struct open_file *of,
			     int at_release)
{
	struct pending p;
	int rc = 0;

	pthread_mutex_lock(&of->lock);
	if (of->failed) {
		rc = of->failed;
		of->dirty = of->truncated = 0;
	} else if (has_pending(of, at_release)) {
		rc = take_pending(of, &p);
		pthread_mutex_unlock(&of->lock);
		return send_pending(fs, &p, rc);
	}
	pthread_mutex_unlock(&of->lock);
	return rc;
}

/*
 * Every close: written bytes go out whole, as one request, and close
 * returns its errno.  A file only emptied by O_TRUNC waits for the last
 * close (release): a shell's `> file` closes a duplicate descriptor before
 * the command writes, and sending then would send an empty file first.
 */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	return commit_if_changed(fs_ctx(), of_of(fi), 0);
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	return 0; /* the bytes go out at close, as one request */
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_ctx();
	struct open_file *of = of_of(fi);

	(void)path;
	/* its errno has no one to go to: the failure is logged */
	commit_if_changed(fs, of, 1);
	if (of->live)
		cfs_live_detach(cfs_tree_live(fs->tree), of->path, of->live);
	of_free(fs, of);
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
		rc = cfs_buf_append(out,
				    temp->data.data ? temp->data.data : "",
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
	rc = n.kind == CFS_FILE
		     ? cfs_buf_append(out, n.content->data, n.content->len)
		     : -EISDIR;
	cfs_node_clear(&n);
	return rc;
}

static int resize_temp(struct cfs_temp *temp, off_t size, size_t max)
{
	int rc;

	pthread_mutex_lock(&temp->lock);
	rc = buf_resize(&temp->data, (size_t)size, max);
	temp->mtime = time(NULL);
	pthread_mutex_unlock(&temp->lock);
	return rc;
}

/* truncate(2) of a path no process holds open: sent at once, in turn. */
static int truncate_path(const char *path, off_t size)
{
	struct cfs_fs *fs = fs_ctx();
	struct cfs_temp *temp = cfs_overlay_temp(fs->overlay, path);
	struct cfs_buf b = { 0 };
	int takes_writes = 0;
	int rc;

	if (temp) {
		rc = resize_temp(temp, size, fs->write_max);
		cfs_temp_unref(temp);
		return rc;
	}
	rc = gate_enter(fs, path);
	if (rc)
		return rc;
	rc = current_bytes(path, &b, &takes_writes);
	if (!rc && !takes_writes)
		rc = -EACCES;
	if (!rc)
		rc = buf_resize(&b, (size_t)size, fs->write_max);
	if (!rc)
		rc = cfs_tree_commit(fs->tree, path, b.data ? b.data : "",
				     b.len);
	gate_leave(fs, path);
	cfs_buf_free(&b);
	return rc;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct open_file *of = fi && fi->fh ? of_of(fi) : NULL;
	size_t max = fs_ctx()->write_max;
	int rc = -EACCES;

	if (!of)
		return truncate_path(rel(path), size);
	pthread_mutex_lock(&of->lock);
	if (of->temp) {
		rc = resize_temp(of->temp, size, max);
	} else if (of->writing && of->failed) {
		rc = of->failed;
	} else if (of->writing) {
		rc = note_failure(of, buf_resize(&of->buf, (size_t)size, max));
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
		/* replacing a writable file is writing it, in its turn */
		rc = gate_enter(fs, to);
		if (rc)
			break;
		rc = cfs_tree_commit(fs->tree, to, b.data ? b.data : "",
				     b.len);
		gate_leave(fs, to);
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

	if (is_temp(rel(path)))
		return -ENODATA; /* it exists, and holds no attribute */
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

	if (is_temp(rel(path)))
		return 0;
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
