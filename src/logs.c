/*
 * logs.c - log events to lines, snapshots that resume after a drop, and
 * followers that keep a log growing while it is open.
 */
#define _GNU_SOURCE
#include "logs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "fetch.h"
#include "http.h"
#include "log.h"
#include "sse.h"

#define RESUME_ATTEMPTS 5

static int append_field(struct cfs_buf *out, json_t *event, const char *key)
{
	const char *v = json_string_value(json_object_get(event, key));

	return cfs_buf_printf(out, "%s ", v && *v ? v : "-");
}

static int append_escaped(struct cfs_buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\')
			rc = cfs_buf_append(out, "\\\\", 2);
		else if (c == '\n')
			rc = cfs_buf_append(out, "\\n", 2);
		else if (c == '\r')
			rc = cfs_buf_append(out, "\\r", 2);
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			rc = cfs_buf_printf(out, "\\x%02x", c);
		else
			rc = cfs_buf_append(out, s, 1);
	}
	return rc;
}

int cfs_logs_format(json_t *event, struct cfs_buf *out)
{
	const char *msg = json_string_value(json_object_get(event, "message"));

	if (append_field(out, event, "date") ||
	    append_field(out, event, "instanceId") ||
	    append_field(out, event, "severity") ||
	    append_escaped(out, msg ? msg : "") ||
	    cfs_buf_append(out, "\n", 1))
		return -ENOMEM;
	return 0;
}

int cfs_logs_last_date(const char *lines, size_t len, time_t *out)
{
	const char *start;
	const char *end;
	char date[64];

	while (len && lines[len - 1] == '\n')
		len--;
	start = memrchr(lines, '\n', len);
	start = start ? start + 1 : lines;
	end = memchr(start, ' ', len - (size_t)(start - lines));
	if (!end || (size_t)(end - start) >= sizeof(date))
		return -EINVAL;
	memcpy(date, start, (size_t)(end - start));
	date[end - start] = '\0';
	return cfs_parse_iso8601(date, out);
}

/* What one stream (snapshot or live) has received so far. */
struct reader {
	struct cfs_sse_parser *sse;
	struct cfs_buf *lines;	   /* snapshot: where lines go */
	json_t *events;		   /* snapshot: the events themselves */
	struct cfs_follow *follow; /* live: where lines go */
	char last_id[128];
	unsigned int received;
	int ended; /* END_OF_STREAM seen */
};

static int follow_append(struct cfs_follow *f, const char *line, size_t n);

static int on_event(void *arg, const struct cfs_sse_event *ev)
{
	struct reader *r = arg;
	struct cfs_buf line = { 0 };
	json_t *j;
	int rc = 0;

	if (strcmp(ev->event, "END_OF_STREAM") == 0) {
		r->ended = 1;
		return 1;
	}
	if (strcmp(ev->event, "APPLICATION_LOG") != 0)
		return 0; /* heartbeats, and events we do not know */
	j = json_loadb(ev->data, ev->data_len, 0, NULL);
	if (json_is_object(j))
		rc = cfs_logs_format(j, &line);
	if (!rc && line.len && r->events &&
	    json_array_append(r->events, j) != 0)
		rc = -ENOMEM;
	json_decref(j);
	if (!rc && line.len)
		rc = r->lines ? cfs_buf_append(r->lines, line.data, line.len)
			      : follow_append(r->follow, line.data, line.len);
	cfs_buf_free(&line);
	if (rc)
		return rc;
	snprintf(r->last_id, sizeof(r->last_id), "%s", ev->id);
	r->received++;
	return 0;
}

static int on_bytes(void *arg, const char *data, size_t len)
{
	struct reader *r = arg;

	return cfs_sse_feed(r->sse, data, len);
}

/* One connection; returns rs->err, and r->ended once the stream ended. */
static int read_stream(struct cfs_http *h, const char *path, struct reader *r,
		       const int *stop, struct cfs_http_response *rs)
{
	int rc;

	r->sse = cfs_sse_new(on_event, r);
	if (!r->sse) {
		memset(rs, 0, sizeof(*rs));
		return rs->err = -ENOMEM;
	}
	rc = cfs_http_stream(h, path, r->last_id, CFS_LOGS_IDLE, stop,
			     on_bytes, r, rs);
	cfs_sse_free(r->sse);
	r->sse = NULL;
	return rc;
}

static int resumable(const struct cfs_http_response *rs)
{
	return rs->status == 0 || rs->status == 408 || rs->status == 429 ||
	       rs->status >= 500 || (rs->status >= 200 && rs->status < 300);
}

static void backoff(int attempt)
{
	usleep((useconds_t)(250000u << (attempt < 4 ? attempt : 4)));
}

/*
 * Now, to the millisecond: `until` is exclusive, so an until cut to the
 * second would leave out the events of that second's last fraction.
 */
static void until_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

int cfs_logs_snapshot(struct cfs_http *h, const char *path, unsigned int limit,
		      struct cfs_http_response *rs)
{
	struct cfs_buf lines = { 0 };
	struct reader r = { .lines = &lines, .events = json_array() };
	char *url = NULL;
	char until[32];
	int attempt;
	int rc = -EIO;

	if (!r.events) {
		memset(rs, 0, sizeof(*rs));
		return rs->err = -ENOMEM;
	}
	until_now(until);
	for (attempt = 0; attempt < RESUME_ATTEMPTS; attempt++) {
		if (attempt)
			backoff(attempt - 1);
		free(url);
		if (asprintf(&url, "%s%suntil=%s&throttleElements=%u&limit=%u",
			     path, strchr(path, '?') ? "&" : "?", until, limit,
			     limit - r.received) < 0) {
			url = NULL;
			rc = -ENOMEM;
			break;
		}
		rc = read_stream(h, url, &r, NULL, rs);
		if (r.ended || r.received >= limit) {
			rc = 0;
			break;
		}
		if (!resumable(rs))
			break;
		cfs_warn("log stream %s ended early after %u events; resuming",
			 path, r.received);
		rc = -EIO;
	}
	free(url);
	if (rc == 0) {
		rs->err = 0;
		rs->body = cfs_buf_to_blob(&lines);
		rs->json = r.events;
		r.events = NULL;
		snprintf(rs->last_event_id, sizeof(rs->last_event_id), "%s",
			 r.last_id);
		if (!rs->body)
			rc = rs->err = -ENOMEM;
	} else {
		rs->err = rc;
	}
	json_decref(r.events);
	cfs_buf_free(&lines);
	return rc;
}

/* ---- followers ----------------------------------------------------- */

struct cfs_follow {
	struct cfs_http *http;
	char *path;
	char last_id[128];
	pthread_t thread;
	int stop; /* atomic: read by the stream's callback */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct cfs_buf window; /* bytes [base, base + window.len) */
	size_t base;
	time_t mtime;
};

static int follow_append(struct cfs_follow *f, const char *line, size_t n)
{
	time_t when;
	int rc;

	pthread_mutex_lock(&f->lock);
	if (f->window.len + n > CFS_FOLLOW_WINDOW) {
		size_t drop = f->window.len / 2;

		memmove(f->window.data, f->window.data + drop,
			f->window.len - drop);
		f->window.len -= drop;
		f->base += drop;
	}
	rc = cfs_buf_append(&f->window, line, n);
	if (cfs_logs_last_date(line, n, &when) == 0 && when > f->mtime)
		f->mtime = when;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int follow_stopping(struct cfs_follow *f)
{
	return __atomic_load_n(&f->stop, __ATOMIC_ACQUIRE);
}

/* Waits up to seconds; returns non-zero once asked to stop. */
static int follow_sleep(struct cfs_follow *f, double seconds)
{
	struct timespec until;
	int stop;

	cfs_deadline_in(seconds, &until);
	pthread_mutex_lock(&f->lock);
	while (!follow_stopping(f) &&
	       pthread_cond_timedwait(&f->wake, &f->lock, &until) == 0)
		;
	stop = follow_stopping(f);
	pthread_mutex_unlock(&f->lock);
	return stop;
}

static void *follow_main(void *arg)
{
	struct cfs_follow *f = arg;
	struct reader r = { .follow = f };
	struct cfs_http_response rs;
	int failures = 0;

	snprintf(r.last_id, sizeof(r.last_id), "%s", f->last_id);
	if (follow_sleep(f, CFS_FOLLOW_DELAY))
		return NULL;
	while (!follow_stopping(f)) {
		unsigned int before = r.received;

		read_stream(f->http, f->path, &r, &f->stop, &rs);
		if (follow_stopping(f) || !resumable(&rs))
			break;
		/* a stream that brought events starts the count again */
		failures = r.received > before ? 0 : failures + 1;
		if (follow_sleep(f,
				 0.25 * (1 << (failures < 5 ? failures : 5))))
			break;
	}
	return NULL;
}

struct cfs_follow *cfs_follow_start(struct cfs_http *h, const char *path,
				    const char *last_id,
				    const struct cfs_blob *initial,
				    time_t mtime)
{
	struct cfs_follow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->http = h;
	f->path = strdup(path);
	f->mtime = mtime;
	snprintf(f->last_id, sizeof(f->last_id), "%s", last_id);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	if (!f->path ||
	    cfs_buf_append(&f->window, initial->data, initial->len) ||
	    pthread_create(&f->thread, NULL, follow_main, f) != 0) {
		free(f->path);
		cfs_buf_free(&f->window);
		free(f);
		return NULL;
	}
	return f;
}

void cfs_follow_stop(struct cfs_follow *f)
{
	pthread_mutex_lock(&f->lock);
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	cfs_buf_free(&f->window);
	free(f->path);
	free(f);
}

size_t cfs_follow_size(struct cfs_follow *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->base + f->window.len;
	pthread_mutex_unlock(&f->lock);
	return n;
}

time_t cfs_follow_mtime(struct cfs_follow *f)
{
	time_t t;

	pthread_mutex_lock(&f->lock);
	t = f->mtime;
	pthread_mutex_unlock(&f->lock);
	return t;
}

int cfs_follow_read(struct cfs_follow *f, char *buf, size_t size, off_t off)
{
	size_t end;
	size_t at;
	int n = 0;

	pthread_mutex_lock(&f->lock);
	end = f->base + f->window.len;
	if ((size_t)off < f->base) {
		n = -EIO; /* dropped to bound memory */
	} else if ((size_t)off < end) {
		at = (size_t)off - f->base;
		if (size > f->window.len - at)
			size = f->window.len - at;
		memcpy(buf, f->window.data + at, size);
		n = (int)size;
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* ---- the stream fetch kind ----------------------------------------- */

struct snapshot_arg {
	struct cfs_http *http;
	unsigned int lines;
};

static int fetch_snapshot(void *arg, const char *path,
			  struct cfs_http_response *rs)
{
	const struct snapshot_arg *a = arg;

	return cfs_logs_snapshot(a->http, path, a->lines, rs);
}

static int fetch_stream(const struct cfs_fetch_ctx *ctx, const char *api,
			const char *accept, struct cfs_resp **out)
{
	struct snapshot_arg a = { cfs_cache_http(ctx->cache), ctx->log_lines };

	(void)accept;
	return cfs_cache_get_with(ctx->cache, api, "text/event-stream",
				  fetch_snapshot, &a, out);
}

/* A snapshot costs seconds of streaming: never fetched for a listing. */
const struct cfs_fetch_kind cfs_fetch_stream = {
	.name = "stream",
	.listing_cost = CFS_COST_NEVER,
	.fetch = fetch_stream,
	.content_date = cfs_logs_last_date,
	.follow = cfs_follow_start,
	.stop = cfs_follow_stop,
	.size = cfs_follow_size,
	.mtime = cfs_follow_mtime,
	.read = cfs_follow_read,
};
