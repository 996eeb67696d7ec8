/*
 * util.h - small shared helpers: refcounted byte blobs, a growable buffer,
 * time conversions, numbers with units and a content fingerprint.
 *
 * A blob is immutable once built and shared by reference between the
 * response cache, the rendered-node cache and open files, so a reader
 * holding one never sees it change under it.
 */
#ifndef CFS_UTIL_H
#define CFS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cfs_blob {
	int refs; /* atomic */
	size_t len;
	uint64_t fingerprint; /* atomic; 0 until cfs_blob_fingerprint */
	char data[];	      /* NUL-terminated for convenience */
};

struct cfs_blob *cfs_blob_new(const void *data, size_t len);
struct cfs_blob *cfs_blob_ref(struct cfs_blob *b);
void cfs_blob_unref(struct cfs_blob *b);
/* cfs_fingerprint of the bytes, worked out once: a blob never changes. */
uint64_t cfs_blob_fingerprint(struct cfs_blob *b);

struct cfs_buf {
	char *data;
	size_t len;
	size_t cap;
};

int cfs_buf_append(struct cfs_buf *b, const void *data, size_t len);
int cfs_buf_printf(struct cfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Hands the bytes over as a blob and empties the buffer. */
struct cfs_blob *cfs_buf_to_blob(struct cfs_buf *b);
void cfs_buf_free(struct cfs_buf *b);

/* Paths relative to the mount ("" is its root), as new strings or NULL:
 * the parent ("a/b" of "a/b/c", "" of "a"), and name inside dir. */
char *cfs_path_parent(const char *path);
char *cfs_path_join(const char *dir, const char *name);

/* FNV-1a 64: cheap change detection, not security. */
uint64_t cfs_fingerprint(const void *data, size_t len);

double cfs_now(void);	    /* wall clock, seconds */
double cfs_monotonic(void); /* for timeouts and backoff */
/* now + seconds on CLOCK_REALTIME, for pthread_cond_timedwait */
void cfs_deadline_in(double seconds, struct timespec *until);
void cfs_iso8601(time_t t, char out[32]);
/* ISO 8601 date-time ("2026-07-01T00:00:00Z", offsets, fractions). */
int cfs_parse_iso8601(const char *s, time_t *out);
/* "YYYY-MM" with a real month; fills the first and last second of it. */
int cfs_parse_month(const char *s, time_t *first, time_t *last);

/* A unit a number may carry: "m" is 60 (seconds), "K" 1024 (bytes). */
struct cfs_unit {
	const char *suffix; /* "" for the bare number; NULL ends a list */
	unsigned long long scale;
};

/*
 * Digits, then one of units' suffixes (nothing else: no blank, no sign),
 * scaled to at most max; -EINVAL for anything else.
 */
int cfs_parse_scaled(const char *s, const struct cfs_unit *units,
		     unsigned long long max, unsigned long long *out);

#endif
