/*
 * util.c - blobs, buffers, fingerprints, mount-relative paths, time
 * conversions and numbers with units, shared by every other module.
 */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfs_blob *cfs_blob_new(const void *data, size_t len)
{
	struct cfs_blob *b = malloc(sizeof(*b) + len + 1);

	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	b->fingerprint = 0;
	if (len)
		memcpy(b->data, data, len);
	b->data[len] = '\0';
	return b;
}

struct cfs_blob *cfs_blob_ref(struct cfs_blob *b)
{
	if (b)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void cfs_blob_unref(struct cfs_blob *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

static int buf_reserve(struct cfs_buf *b, size_t extra)
{
	size_t want = b->len + extra + 1;
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (want <= b->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int cfs_buf_append(struct cfs_buf *b, const void *data, size_t len)
{
	int rc = buf_reserve(b, len);

	if (rc)
		return rc;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int cfs_buf_printf(struct cfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	int rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *cfs_path_parent(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? strndup(path, (size_t)(slash - path)) : strdup("");
}

char *cfs_path_join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return path;
}

uint64_t cfs_blob_fingerprint(struct cfs_blob *b)
{
	uint64_t fp = __atomic_load_n(&b->fingerprint, __ATOMIC_RELAXED);

	/* 1 stands for a sum that came out 0 */
	if (!fp) {
		fp = cfs_fingerprint(b->data, b->len) ?: 1;
		__atomic_store_n(&b->fingerprint, fp, __ATOMIC_RELAXED);
	}
	return fp;
}

struct cfs_blob *cfs_buf_to_blob(struct cfs_buf *b)
{
	struct cfs_blob *blob = cfs_blob_new(b->data, b->len);

	cfs_buf_free(b);
	return blob;
}

void cfs_buf_free(struct cfs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

uint64_t cfs_fingerprint(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static double clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cfs_now(void)
{
	return clock_seconds(CLOCK_REALTIME);
}

double cfs_monotonic(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

void cfs_deadline_in(double seconds, struct timespec *until)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += (time_t)seconds;
	until->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

void cfs_iso8601(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int parse_offset(const char *p, long *seconds)
{
	int hh;
	int mm = 0;
	int sign;

	if (*p == 'Z' || *p == 'z' || *p == '\0') {
		*seconds = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p == '-' ? -1 : 1;
	/* NOLINTBEGIN(cert-err34-c): two digits cannot overflow */
	if (sscanf(p + 1, "%2d:%2d", &hh, &mm) < 2 &&
	    sscanf(p + 1, "%2d%2d", &hh, &mm) < 1)
		return -EINVAL;
	/* NOLINTEND(cert-err34-c) */
	*seconds = sign * (hh * 3600L + mm * 60L);
	return 0;
}

int cfs_parse_iso8601(const char *s, time_t *out)
{
	struct tm tm;
	const char *rest;
	long offset;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -EINVAL;
	if (*rest == '.')
		while (*++rest >= '0' && *rest <= '9')
			;
	if (parse_offset(rest, &offset))
		return -EINVAL;
	*out = timegm(&tm) - offset;
	return 0;
}

int cfs_parse_month(const char *s, time_t *first, time_t *last)
{
	static const char shape[] = "dddd-dd";
	struct tm tm;
	int year;
	int month;
	int i;

	for (i = 0; shape[i]; i++)
		if (!s[i] || (shape[i] == 'd' ? !isdigit((unsigned char)s[i])
					      : s[i] != shape[i]))
			return -EINVAL;
	if (s[i])
		return -EINVAL;
	/* NOLINTBEGIN(cert-err34-c): the shape is checked, all digits */
	year = atoi(s);
	month = atoi(s + 5);
	/* NOLINTEND(cert-err34-c) */
	if (year < 1970 || month < 1 || month > 12)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = 1;
	*first = timegm(&tm);
	tm.tm_mon += 1;
	*last = timegm(&tm) - 1;
	return 0;
}

int cfs_parse_scaled(const char *s, const struct cfs_unit *units,
		     unsigned long long max, unsigned long long *out)
{
	const struct cfs_unit *u;
	unsigned long long v;
	char *end;

	/* strtoull takes blanks and signs, and wraps negative numbers */
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (u = units; u->suffix; u++)
		if (strcmp(end, u->suffix) == 0)
			break;
	if (!u->suffix || v > max / u->scale)
		return -EINVAL;
	*out = v * u->scale;
	return 0;
}
