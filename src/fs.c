/*
 * fs.c - the FUSE low-level operations.
 *
 * Each request names an inode (kernel.h maps it to a path) or a name in a
 * directory inode.  Lookups go to the overlay first (temporary files,
 * hidden names), then to the tree.  Writes go to the open file's buffer;
 * flush (every close) commits a changed buffer through the tree, which
 * validates, sends one request and drops the stale cache entries.
 *
 * What the kernel is told, it serves to every process: each reply says
 * for how long.  Names and attributes of what the API backs are kept for
 * what is left of the TTL of the responses they came from, and read-only
 * files keep their pages, as long as those are one version's (kernel.h);
 * directory listings are kept while they are the same.  Writable files,
 * growing log files and temporary files are kept for no time at all, and
 * read with direct_io, so every read is served from the one version its
 * open file holds.  When data changes before its TTL (a write, a listing
 * fetched again early, SIGHUP), the kernel's copy is taken back.
 */
#define _GNU_SOURCE
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

#include "cache.h"
#include "hashmap.h"
#include "kernel.h"
#include "live.h"
#include "nodes.h"
#include "overlay.h"
#include "tree.h"

/* How long a name the tree does not have stays unknown in the kernel. */
#define NEGATIVE_TIMEOUT 1.0

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
	fuse_ino_t paged;      /* read through the page cache: its inode */
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

/* What a getattr or lookup answers: the attributes, and for how long
 * they and the name hold. */
struct attr {
	struct stat st;
	double timeout;
	double name_timeout;
};

static struct cfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct open_file *of_of(const struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
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

/*
 * How long the kernel may keep what it is told of a node: what is left of
 * the TTL of what it came from, except for files that change under a
 * reader's eyes (writable ones, and logs, which grow while open somewhere).
 * A directory's entries come and go through the kernel or with a new
 * listing, which opendir compares.
 */
static double node_timeout(const struct cfs_node *n)
{
	if (n->kind != CFS_DIR && (n->writable || n->takes_writes))
		return 0;
	return n->follow ? 0 : n->fresh_for;
}

static void node_attr(const struct cfs_fs *fs, const struct cfs_node *n,
		      struct attr *a)
{
	fill_stat(fs, n->kind, n->writable,
		  n->kind == CFS_FILE	? (off_t)n->content->len
		  : n->kind == CFS_LINK ? (off_t)strlen(n->link)
					: 0,
		  n->mtime, &a->st);
	a->timeout = node_timeout(n);
	/* a writable file's or a log's name stays while its listing does */
	a->name_timeout = n->fresh_for;
}

/* SIGHUP emptied the caches: what the kernel holds goes too, before the
 * first request after it is answered.  A load first, so that every
 * request does not write the shared epoch. */
static void take_back_if_flushed(struct cfs_fs *fs)
{
	unsigned int epoch = cfs_cache_flush_epoch();

	if (__atomic_load_n(&fs->flush_seen, __ATOMIC_RELAXED) != epoch &&
	    __atomic_exchange_n(&fs->flush_seen, epoch, __ATOMIC_RELAXED) !=
		    epoch)
		cfs_kernel_take_back(fs->kernel);
}

static void tree_changed(void *arg)
{
	struct cfs_fs *fs = arg;

	cfs_kernel_take_back(fs->kernel);
}

int cfs_fs_init(struct cfs_fs *fs)
{
	fs->gates = cfs_hashmap_new();
	fs->kernel = cfs_kernel_new();
	if (!fs->gates || !fs->kernel) {
		cfs_hashmap_free(fs->gates, free);
		cfs_kernel_free(fs->kernel);
		fs->gates = NULL;
		return -ENOMEM;
	}
	pthread_mutex_init(&fs->gate_lock, NULL);
	pthread_cond_init(&fs->gate_cv, NULL);
	pthread_mutex_init(&fs->open_lock, NULL);
	fs->flush_seen = cfs_cache_flush_epoch();
	cfs_tree_on_change(fs->tree, tree_changed, fs);
	return 0;
}

int cfs_fs_start(struct cfs_fs *fs, struct fuse_session *se)
{
	return cfs_kernel_start(fs->kernel, se);
}

static void of_free(struct cfs_fs *fs, struct open_file *of);

void cfs_fs_shutdown(struct cfs_fs *fs)
{
	struct open_file *of;

	if (!fs->gates)
		return;
	cfs_kernel_stop(fs->kernel);
	/* the loop is over: no operation runs any more, no lock is needed */
	while ((of = fs->open_files) != NULL)
		of_free(fs, of);
	cfs_tree_shutdown(fs->tree);
}

void cfs_fs_destroy(struct cfs_fs *fs)
{
	if (!fs->gates)
		return;
	cfs_hashmap_free(fs->gates, free);
	cfs_kernel_free(fs->kernel);
	pthread_mutex_destroy(&fs->gate_lock);
	pthread_cond_destroy(&fs->gate_cv);
	pthread_mutex_destroy(&fs->open_lock);
}

/* Size and mtime of a log file open somewhere; 0 if none is. */
static int live_stat(struct cfs_fs *fs, const char *path, struct attr *a)
{
	size_t size;
	time_t mtime;

	if (!cfs_live_stat(cfs_tree_live(fs->tree), path, &size, &mtime))
		return 0;
	fill_stat(fs, CFS_FILE, 0, (off_t)size, mtime, &a->st);
	a->timeout = a->name_timeout = 0;
	return 1;
}

static void stat_open_file(struct cfs_fs *fs, struct open_file *of,
			   struct stat *st)
{
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

/* The attributes of path (relative to the mount) as a stat would see
 * them now, or -errno. */
static int path_attr(struct cfs_fs *fs, const char *path, struct attr *a)
{
	struct cfs_temp *temp;
	struct cfs_node n;
	int rc;

	a->timeout = a->name_timeout = 0;
	temp = cfs_overlay_temp(fs->overlay, path);
	if (temp) {
		pthread_mutex_lock(&temp->lock);
		fill_stat(fs, CFS_FILE, 1, (off_t)temp->data.len, temp->mtime,
			  &a->st);
		pthread_mutex_unlock(&temp->lock);
		cfs_temp_unref(temp);
		return 0;
	}
	if (cfs_overlay_hidden(fs->overlay, path))
		return -ENOENT;
	if (live_stat(fs, path, a))
		return 0;
	rc = cfs_tree_node(fs->tree, path, &n);
	if (rc)
		return rc;
	node_attr(fs, &n, a);
	cfs_node_clear(&n);
	return 0;
}

/* A name in a directory inode, as a path; NULL with *rc set if none. */
static char *child_of(struct cfs_fs *fs, fuse_ino_t parent, const char *name,
		      int *rc)
{
	char *dir = cfs_kernel_path(fs->kernel, parent);
	char *path = NULL;

	*rc = 0;
	if (!dir)
		*rc = -ENOENT;
	else if (strlen(name) > 255)
		*rc = -ENAMETOOLONG;
	else
		path = cfs_path_join(dir, name);
	if (!*rc && !path)
		*rc = -ENOMEM;
	free(dir);
	return path;
}

static int reply_rc(fuse_req_t req, int rc)
{
	return fuse_reply_err(req, -rc);
}

/*
 * Fills e for path, whose attributes a holds, making the kernel hold one
 * more lookup of it.  Our inode numbers (nodes.h) are st_ino, the same in
 * every mount: backup tools take a new number for a new file.
 */
static int entry_of(struct cfs_fs *fs, const char *path, const struct attr *a,
		    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = cfs_kernel_remember(fs->kernel, path);
	if (!e->ino)
		return -ENOMEM;
	e->attr = a->st;
	e->attr.st_ino = cfs_nodes_ino(path);
	e->attr_timeout = a->timeout;
	e->entry_timeout = a->name_timeout;
	return 0;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfs_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct attr a;
	char *path;
	int rc;

	take_back_if_flushed(fs);
	path = child_of(fs, parent, name, &rc);
	if (path)
		rc = path_attr(fs, path, &a);
	if (rc == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = NEGATIVE_TIMEOUT;
		fuse_reply_entry(req, &e);
	} else if (rc || (rc = entry_of(fs, path, &a, &e)) != 0) {
		reply_rc(req, rc);
	} else if (fuse_reply_entry(req, &e) != 0) {
		cfs_kernel_forget(fs->kernel, e.ino, 1);
	}
	free(path);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	cfs_kernel_forget(fs_of(req)->kernel, ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		cfs_kernel_forget(fs_of(req)->kernel, forgets[i].ino,
				  forgets[i].nlookup);
	fuse_reply_none(req);
}

/* The attributes of ino; an open file's are its own version's. */
static int ino_attr(struct cfs_fs *fs, fuse_ino_t ino,
		    struct fuse_file_info *fi, struct attr *a)
{
	char *path = cfs_kernel_path(fs->kernel, ino);
	int rc = 0;

	if (fi && fi->fh) {
		stat_open_file(fs, of_of(fi), &a->st);
		a->timeout = a->name_timeout = 0;
	} else {
		rc = path ? path_attr(fs, path, a) : -ENOENT;
	}
	if (!rc && path)
		a->st.st_ino = cfs_nodes_ino(path);
	free(path);
	return rc;
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	struct attr a;
	int rc;

	take_back_if_flushed(fs);
	rc = ino_attr(fs, ino, fi, &a);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &a.st, a.timeout);
}

/*
 * Directories
 *
 * opendir takes the listing once, for every readdir of that handle: a
 * large directory's offsets stay those of one listing.  The kernel keeps
 * the listing it was handed (cache_readdir) while the directory lists the
 * same entries; a changed listing makes the next opendir drop it.
 *
 * The kernel looks the names of one directory up one at a time, so
 * readers of several files whose sizes need a request each (invoice
 * PDFs: the size is in the bytes) would wait for one another.  readdir
 * therefore works out, in parallel, the attributes of a batch of entries
 * and hands them out with the entries (READDIRPLUS): exact sizes, the
 * ones a stat or a read would give now.  What that costs is the route's
 * (enum cfs_cost): nothing for what the listing holds, a request for
 * invoice documents, only what is cached for other fetched files.
 * Entries it cannot vouch for go out without attributes, never with
 * made-up ones: a READDIRPLUS size sets the size of an inode a reader may
 * be using.
 */
#define DIR_BATCH 64  /* entries worked out per round */
#define DIR_WORKERS 8 /* at most in parallel (max_conns' default) */

struct dir_entry {
	char *name;
	enum cfs_kind kind;
	enum cfs_cost cost;
	int known; /* a is exact */
	struct attr a;
};

struct dir_list {
	struct cfs_fs *fs;
	char *dir;
	struct dir_entry *e;
	size_t n;
	size_t cap;
	struct cfs_hashmap *seen; /* two items may share a by-name name */
	uint64_t fingerprint;	  /* of the names and their kinds */
	int read_ahead;		  /* started: once per handle */
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
	l->fingerprint = l->fingerprint * 31 +
			 cfs_fingerprint(name, strlen(name)) + kind;
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
	free(l->dir);
	cfs_hashmap_free(l->seen, NULL);
	free(l);
}

/* The entries of dir, "." and ".." first (the kernel knows them, and
 * ".." is not ours). */
static int list_dir(struct cfs_fs *fs, char *dir, struct dir_list **out)
{
	struct dir_list *l = calloc(1, sizeof(*l));
	int rc = -ENOMEM;

	if (!l) {
		free(dir);
		return rc;
	}
	l->fs = fs;
	l->dir = dir;
	l->fingerprint = 1;
	l->seen = cfs_hashmap_new();
	if (l->seen)
		rc = list_add(l, ".", CFS_DIR, CFS_COST_NEVER);
	if (!rc)
		rc = list_add(l, "..", CFS_DIR, CFS_COST_NEVER);
	if (!rc)
		rc = cfs_tree_readdir(fs->tree, l->dir, add_listed, l);
	if (!rc)
		rc = cfs_overlay_list(fs->overlay, l->dir, add_temp, l);
	if (rc) {
		list_free(l);
		return rc;
	}
	*out = l;
	return 0;
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
	node_attr(fs, &n, &e->a);
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

		if (e->cost != CFS_COST_NEVER && !e->known)
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
		want += l->e[i].cost == CFS_COST_FETCH && !l->e[i].known;

	while (started + 1 < want &&
	       pthread_create(&workers[started], NULL, stat_worker, &b) == 0)
		started++;
	stat_worker(&b);
	while (started)
		pthread_join(workers[--started], NULL);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	char *dir = cfs_kernel_path(fs->kernel, ino);
	struct dir_list *l;
	int rc;

	take_back_if_flushed(fs);
	rc = dir ? list_dir(fs, dir, &l) : -ENOENT;
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)l;
	fi->cache_readdir = 1;
	fi->keep_cache = cfs_kernel_listing_kept(fs->kernel, ino,
						 l->fingerprint);
	cfs_kernel_listed(fs->kernel, ino, l->fingerprint);
	if (fuse_reply_open(req, fi) != 0)
		list_free(l);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	list_free((struct dir_list *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* What listing a directory starts in the background: once per handle. */
static void start_read_ahead(struct dir_list *l, int plus)
{
	if (l->read_ahead)
		return;
	l->read_ahead = 1;
	cfs_tree_read_ahead(l->fs->tree, l->dir);
	/* one prefetch of them all, rather than a few threads a batch each */
	if (plus)
		cfs_tree_fetch_documents(l->fs->tree, l->dir);
}

/*
 * Adds entry i to the reply buffer if it fits; 0 if it did not.  With
 * attributes, the kernel holds one more lookup of the entry: remembered
 * only once it is sure to go out.
 */
static size_t add_entry(fuse_req_t req, struct dir_list *l, size_t i, int plus,
			char *buf, size_t room)
{
	struct dir_entry *e = &l->e[i];
	struct fuse_entry_param fe;
	char path[4096];
	size_t need;

	if (!e->known)
		fill_stat(l->fs, e->kind, 0, 0, 0, &e->a.st);
	e->a.st.st_ino = entry_ino(l->dir, e->name);
	if (!plus) {
		need = fuse_add_direntry(req, NULL, 0, e->name, &e->a.st, 0);
		return need > room ? 0
				   : fuse_add_direntry(req, buf, room, e->name,
						       &e->a.st, (off_t)i + 1);
	}
	memset(&fe, 0, sizeof(fe));
	fe.attr = e->a.st;
	need = fuse_add_direntry_plus(req, NULL, 0, e->name, &fe, 0);
	if (need > room)
		return 0;
	child_path(l->dir, e->name, path);
	if (e->known && strcmp(e->name, ".") != 0 &&
	    strcmp(e->name, "..") != 0 &&
	    entry_of(l->fs, path, &e->a, &fe) == 0)
		fe.attr.st_ino = e->a.st.st_ino;
	else
		fe.ino = 0; /* the name alone, no attributes */
	return fuse_add_direntry_plus(req, buf, room, e->name, &fe,
				      (off_t)i + 1);
}

static void read_dir(fuse_req_t req, size_t size, off_t off,
		     struct fuse_file_info *fi, int plus)
{
	struct dir_list *l = (struct dir_list *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	size_t i;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	start_read_ahead(l, plus);
	/* offsets are 1, 2, ...: a large directory takes several calls */
	for (i = (size_t)off; i < l->n; i++) {
		size_t added;

		if ((i - (size_t)off) % DIR_BATCH == 0 && plus)
			stat_batch(l, i,
				   i + DIR_BATCH < l->n ? i + DIR_BATCH
							: l->n);
		added = add_entry(req, l, i, plus, buf + used, size - used);
		if (!added)
			break;
		used += added;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, off, fi, 1);
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
	if (of->paged)
		cfs_kernel_close_pages(fs->kernel, of->paged);
	/* an open whose reply failed is freed here too */
	if (of->live)
		cfs_live_detach(cfs_tree_live(fs->tree), of->path, of->live);
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

/*
 * Sends the bytes of a writable or new file.  Whatever the outcome, what
 * the write may have changed is taken back from the kernel before the
 * caller (a close, a rename) returns.
 */
static int commit(struct cfs_fs *fs, const char *path, const struct cfs_buf *b)
{
	int rc = cfs_tree_commit(fs->tree, path, b->data ? b->data : "",
				 b->len);

	cfs_kernel_take_back(fs->kernel);
	return rc;
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

/*
 * A read-only file keeps its pages in the kernel while they are the
 * version it opens; any other file is read with direct_io, from the
 * version its open file holds.
 */
static void choose_pages(struct cfs_fs *fs, struct open_file *of,
			 fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->direct_io = 1;
	if (!of->content || of->writable)
		return;
	switch (cfs_kernel_open_pages(fs->kernel, ino,
				      cfs_blob_fingerprint(of->content))) {
	case CFS_PAGES_KEEP:
		fi->keep_cache = 1;
		/* fall through */
	case CFS_PAGES_REFILL:
		fi->direct_io = 0;
		of->paged = ino;
		break;
	case CFS_PAGES_BYPASS:
		break;
	}
}

static int open_path(struct cfs_fs *fs, struct open_file *of, const char *path,
		     struct fuse_file_info *fi)
{
	int wants_write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct cfs_node n;
	int rc;

	of->temp = cfs_overlay_temp(fs->overlay, path);
	if (of->temp)
		return open_temp(of, fi);
	rc = cfs_overlay_hidden(fs->overlay, path)
		     ? -ENOENT
		     : cfs_tree_node(fs->tree, path, &n);
	if (rc)
		return rc;
	if (n.kind != CFS_FILE)
		rc = -EISDIR;
	else if (wants_write && !n.takes_writes)
		rc = -EACCES;
	else if (wants_write)
		rc = open_for_writing(fs, of, path, fi->flags);
	else if (n.follow) {
		of->live = cfs_live_attach(cfs_tree_live(fs->tree), path,
					   n.fetch, n.follow, n.last_event_id,
					   n.content, n.mtime);
		of->path = strdup(path);
		if (!of->live || !of->path)
			rc = -ENOMEM;
	} else {
		of->content = cfs_blob_ref(n.content);
		of->mtime = n.mtime;
		of->writable = n.writable;
	}
	cfs_node_clear(&n);
	return rc ? rc : of_attach(of, fi);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	char *path = cfs_kernel_path(fs->kernel, ino);
	struct open_file *of = of_new(fs);
	int rc;

	take_back_if_flushed(fs);
	rc = !of ? -ENOMEM : path ? open_path(fs, of, path, fi) : -ENOENT;
	free(path);
	if (rc) {
		if (of)
			of_free(fs, of);
		reply_rc(req, rc);
		return;
	}
	if (!of->temp)
		choose_pages(fs, of, ino, fi);
	/* a reader's close has nothing to send */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY && !of->temp;
	if (fuse_reply_open(req, fi) != 0)
		of_free(fs, of);
}

static int create_path(struct cfs_fs *fs, struct open_file *of,
		       const char *path, struct fuse_file_info *fi)
{
	int rc;

	switch (cfs_tree_classify(fs->tree, path)) {
	case CFS_ENTRY_WRITABLE:
		/* recreated after unlink or rename-away (perl -pi, vim) */
		rc = of_take_turn(fs, of, path);
		if (rc)
			break;
		cfs_overlay_unhide(fs->overlay, path);
		rc = of_start_writing(of, path, NULL, fi->flags,
				      fs->write_max);
		fi->direct_io = 1;
		break;
	case CFS_ENTRY_NEW:
		/* visible by path while written, like a local file */
		rc = cfs_overlay_create(fs->overlay, path, &of->temp);
		of->creating = strdup(path);
		if (!rc && !of->creating)
			rc = -ENOMEM;
		break;
	case CFS_ENTRY_SCRATCH:
		rc = cfs_overlay_create(fs->overlay, path, &of->temp);
		of->append = (fi->flags & O_APPEND) != 0;
		break;
	case CFS_ENTRY_READONLY:
	case CFS_ENTRY_NONE:
	default:
		rc = -EACCES;
		break;
	}
	return rc ? rc : of_attach(of, fi);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	struct open_file *of = of_new(fs);
	struct fuse_entry_param e;
	struct attr a = { .timeout = 0, .name_timeout = 0 };
	char *path;
	int rc;

	(void)mode;
	path = child_of(fs, parent, name, &rc);
	if (!rc)
		rc = of ? create_path(fs, of, path, fi) : -ENOMEM;
	if (!rc) {
		stat_open_file(fs, of, &a.st);
		rc = entry_of(fs, path, &a, &e);
	}
	if (rc) {
		if (of)
			of_free(fs, of);
		reply_rc(req, rc);
	} else if (fuse_reply_create(req, &e, fi) != 0) {
		cfs_kernel_forget(fs->kernel, e.ino, 1);
		of_free(fs, of);
	}
	free(path);
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

static int read_open_file(struct open_file *of, char *buf, size_t size,
			  off_t off)
{
	int n;

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

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	int n;

	(void)ino;
	n = buf ? read_open_file(of_of(fi), buf, size, off) : -ENOMEM;
	if (n < 0)
		reply_rc(req, n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
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

static int write_open_file(struct open_file *of, const char *data, size_t size,
			   off_t off, size_t max)
{
	int rc = -EBADF;

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

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	int rc = write_open_file(of_of(fi), data, size, off,
				 fs_of(req)->write_max);

	(void)ino;
	if (rc < 0)
		reply_rc(req, rc);
	else
		fuse_reply_write(req, (size_t)rc);
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
		rc = commit(fs, p->path, &p->bytes);
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
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	reply_rc(req, commit_if_changed(fs_of(req), of_of(fi), 0));
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0); /* the bytes go out at close, as one request */
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	struct open_file *of = of_of(fi);

	(void)ino;
	/* its errno has no one to go to: the failure is logged */
	commit_if_changed(fs, of, 1);
	of_free(fs, of);
	fuse_reply_err(req, 0);
}

/* The current bytes of a temporary or API file, copied; *takes_writes
 * says whether writing it means anything (else EACCES). */
static int current_bytes(struct cfs_fs *fs, const char *path,
			 struct cfs_buf *out, int *takes_writes)
{
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
static int truncate_path(struct cfs_fs *fs, const char *path, off_t size)
{
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
	rc = current_bytes(fs, path, &b, &takes_writes);
	if (!rc && !takes_writes)
		rc = -EACCES;
	if (!rc)
		rc = buf_resize(&b, (size_t)size, fs->write_max);
	if (!rc)
		rc = commit(fs, path, &b);
	gate_leave(fs, path);
	cfs_buf_free(&b);
	return rc;
}

static int truncate_to(struct cfs_fs *fs, const char *path, off_t size,
		       struct fuse_file_info *fi)
{
	struct open_file *of = fi && fi->fh ? of_of(fi) : NULL;
	size_t max = fs->write_max;
	int rc = -EACCES;

	if (!of)
		return path ? truncate_path(fs, path, size) : -ENOENT;
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

static int unlink_path(struct cfs_fs *fs, const char *path)
{
	if (cfs_overlay_unlink(fs->overlay, path) == 0)
		return 0;
	if (cfs_overlay_hidden(fs->overlay, path))
		return -ENOENT;
	switch (cfs_tree_classify(fs->tree, path)) {
	case CFS_ENTRY_WRITABLE:
		cfs_overlay_hide(fs->overlay, path);
		return 0;
	case CFS_ENTRY_READONLY:
		return -EACCES;
	default:
		return -ENOENT;
	}
}

static int is_temp(struct cfs_fs *fs, const char *path)
{
	struct cfs_temp *temp = cfs_overlay_temp(fs->overlay, path);

	cfs_temp_unref(temp);
	return temp != NULL;
}

static int exists(struct cfs_fs *fs, const char *path)
{
	enum cfs_entry e;

	if (is_temp(fs, path))
		return 1;
	e = cfs_tree_classify(fs->tree, path);
	return (e == CFS_ENTRY_WRITABLE || e == CFS_ENTRY_READONLY) &&
	       !cfs_overlay_hidden(fs->overlay, path);
}

/* What the source leaves behind once its bytes live elsewhere. */
static void retire_source(struct cfs_fs *fs, const char *from)
{
	if (cfs_overlay_unlink(fs->overlay, from) != 0)
		cfs_overlay_hide(fs->overlay, from);
}

static int rename_path(struct cfs_fs *fs, const char *from, const char *to,
		       unsigned int flags)
{
	struct cfs_buf b = { 0 };
	int takes_writes = 0;
	int rc;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	if (strcmp(from, to) == 0)
		return 0;
	if ((flags & RENAME_NOREPLACE) && exists(fs, to))
		return -EEXIST;
	rc = current_bytes(fs, from, &b, &takes_writes);
	/* only a temporary or writable file may move away */
	if (!rc && !is_temp(fs, from) &&
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
		rc = commit(fs, to, &b);
		gate_leave(fs, to);
		if (!rc) {
			retire_source(fs, from);
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

/* Two names in directory inodes, as paths. */
static int two_paths(struct cfs_fs *fs, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname, char **from,
		     char **to)
{
	int rc;

	*to = NULL;
	*from = child_of(fs, parent, name, &rc);
	if (!rc)
		*to = child_of(fs, newparent, newname, &rc);
	return rc;
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct cfs_fs *fs = fs_of(req);
	char *from;
	char *to;
	int rc;

	rc = two_paths(fs, parent, name, newparent, newname, &from, &to);
	if (!rc)
		rc = rename_path(fs, from, to, flags);
	if (!rc)
		cfs_kernel_moved(fs->kernel, from, to);
	reply_rc(req, rc);
	free(from);
	free(to);
}

/* rmdir: sends the directory's removal, which changes its parent. */
static int remove_dir(struct cfs_fs *fs, const char *path)
{
	int rc = cfs_tree_remove(fs->tree, path);

	cfs_kernel_take_back(fs->kernel);
	return rc;
}

/* unlink and rmdir: once removed, the name stands for nothing. */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			int (*remove)(struct cfs_fs *fs, const char *path))
{
	struct cfs_fs *fs = fs_of(req);
	char *path;
	int rc;

	path = child_of(fs, parent, name, &rc);
	if (!rc)
		rc = remove(fs, path);
	if (!rc)
		cfs_kernel_removed(fs->kernel, path);
	reply_rc(req, rc);
	free(path);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, unlink_path);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, remove_dir);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EACCES);
}

/* Modes, owners and times are the API's: changing them is a no-op where
 * writing is allowed (tools set them on their temporary files). */
static int accept_if_writable(struct cfs_fs *fs, const char *path)
{
	if (!path)
		return -ENOENT;
	if (is_temp(fs, path))
		return 0;
	switch (cfs_tree_classify(fs->tree, path)) {
	case CFS_ENTRY_WRITABLE:
		return 0;
	case CFS_ENTRY_READONLY:
		return -EACCES;
	default:
		return -ENOENT;
	}
}

#define SET_METADATA                                                          \
	(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |         \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |                          \
	 FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |                  \
	 FUSE_SET_ATTR_CTIME)

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct cfs_fs *fs = fs_of(req);
	char *path = cfs_kernel_path(fs->kernel, ino);
	int open = fi && fi->fh;
	struct attr a;
	int rc = 0;

	if (to_set & FUSE_SET_ATTR_SIZE)
		rc = truncate_to(fs, path, attr->st_size, fi);
	if (!rc && (to_set & SET_METADATA) && !open)
		rc = accept_if_writable(fs, path);
	free(path);
	if (!rc)
		rc = ino_attr(fs, ino, fi, &a);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &a.st, 0);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cfs_fs *fs = fs_of(req);
	char *path = cfs_kernel_path(fs->kernel, ino);
	struct cfs_node n;
	int rc;

	rc = path ? cfs_tree_node(fs->tree, path, &n) : -ENOENT;
	free(path);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	if (n.kind == CFS_LINK)
		fuse_reply_readlink(req, n.link);
	else
		fuse_reply_err(req, EINVAL);
	cfs_node_clear(&n);
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

/* The node behind an inode for its xattrs; 1 for a temporary file, which
 * exists and holds none. */
static int xattr_node(struct cfs_fs *fs, fuse_ino_t ino, struct cfs_node *n)
{
	char *path = cfs_kernel_path(fs->kernel, ino);
	int rc;

	memset(n, 0, sizeof(*n));
	if (!path)
		return -ENOENT;
	rc = is_temp(fs, path) ? 1 : cfs_tree_node(fs->tree, path, n);
	free(path);
	return rc;
}

/* size 0 asks how many bytes the value takes. */
static void reply_value(fuse_req_t req, const char *value, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct cfs_node n;
	const char *value;
	char iso[32];
	int rc;

	rc = xattr_node(fs_of(req), ino, &n);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	value = rc ? NULL : xattr_value(&n, name, iso);
	if (value)
		reply_value(req, value, strlen(value), size);
	else
		fuse_reply_err(req, ENODATA);
	cfs_node_clear(&n);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const names[] = { XATTR_URL, XATTR_REQUEST_ID,
					     XATTR_FETCHED_AT };
	struct cfs_buf list = { 0 };
	struct cfs_node n;
	char iso[32];
	size_t i;
	int rc;

	rc = xattr_node(fs_of(req), ino, &n);
	if (rc < 0) {
		reply_rc(req, rc);
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && !rc; i++)
		if (xattr_value(&n, names[i], iso))
			rc = cfs_buf_append(&list, names[i],
					    strlen(names[i]) + 1);
	cfs_node_clear(&n);
	if (rc < 0)
		reply_rc(req, rc);
	else
		reply_value(req, list.data, list.len, size);
	cfs_buf_free(&list);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops cfs_fs_operations = {
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.release = fs_release,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
};
