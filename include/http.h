/*
 * http.h - every API request goes through here.
 *
 * One worker thread drives a curl multi handle; callers block on their own
 * request while other requests proceed, so parallel FUSE operations cost
 * one API latency, not the sum.  At most max_conns transfers are in flight
 * at once; the rest queue in arrival order.  GETs that meet a network
 * error, a timeout, 408, 429 or 5xx are retried with exponential backoff
 * (Retry-After honoured) up to CFS_HTTP_ATTEMPTS attempts in all, and
 * all the attempts of one request fit in the timeout, counted from its
 * first attempt.  A response whose body is cut short or claims JSON but
 * does not parse counts as a failed attempt: it never reaches the caller
 * as a success.  Other methods are sent once, on a connection of their
 * own, so that nothing (libcurl included) can send them twice.
 *
 * After CFS_HTTP_DOWN_AFTER attempts in a row got no HTTP answer at all
 * (refused, reset, timed out), the API is down: every request fails at
 * once with EIO until a probe (GET /, every CFS_HTTP_PROBE_EVERY
 * seconds) gets any answer.  Bodies are parsed outside the lock that
 * callers take to queue requests.
 */
#ifndef CFS_HTTP_H
#define CFS_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "util.h"

#define CFS_HTTP_ATTEMPTS 4
#define CFS_HTTP_DOWN_AFTER 6
#define CFS_HTTP_PROBE_EVERY 2.0

struct cfs_auth;
struct cfs_http;

struct cfs_http_request {
	const char *method; /* "GET", "PUT", ... */
	const char *path;   /* escaped, appended to the base URL */
	const char *accept; /* NULL: application/json */
	const char *body;   /* NULL: none */
	size_t body_len;
	const char *content_type; /* of body */
	/* read-ahead: queued behind every request a process waits on, and
	 * never in the last free connection */
	int background;
};

struct cfs_http_response {
	long status;	       /* 0: no HTTP answer */
	int err;	       /* 0 on 2xx, else the mapped -errno */
	struct cfs_blob *body; /* 2xx only */
	json_t *json;	       /* parsed body when it is JSON */
	char content_type[128];
	char request_id[128];
	char message[512];	 /* the API's error text or curl's */
	char last_event_id[128]; /* event streams: where to resume */
	double fetched_at;	 /* wall clock */
};

struct cfs_http *cfs_http_new(const char *base_url,
			      const struct cfs_auth *auth,
			      unsigned int max_conns, unsigned int timeout);
int cfs_http_start(struct cfs_http *h);
/* Finishes what is queued, then joins the worker. */
void cfs_http_stop(struct cfs_http *h);
void cfs_http_free(struct cfs_http *h);
const char *cfs_http_base_url(const struct cfs_http *h);
/* Seconds all the attempts of one request may take (-o timeout). */
unsigned int cfs_http_timeout(const struct cfs_http *h);

/* Blocking; returns rs->err. */
int cfs_http_perform(struct cfs_http *h, const struct cfs_http_request *rq,
		     struct cfs_http_response *rs);
/* n requests at once; returns when all are done. */
void cfs_http_perform_many(struct cfs_http *h,
			   const struct cfs_http_request *rq,
			   struct cfs_http_response *rs, size_t n);
void cfs_http_response_clear(struct cfs_http_response *rs);

/*
 * A streamed GET (server-sent events), in the calling thread: body bytes
 * of a 2xx answer go to on_data as they arrive, until the server closes,
 * on_data returns non-zero, *stop turns non-zero (read atomically), or
 * nothing arrives for idle_seconds.  No retries: the caller resumes with
 * last_event_id.  rs gets the status, errno, request id and, for an
 * error answer, the API's message; never a body.  Without stop (a
 * snapshot, which ends of itself) it first takes one of the max_conns
 * slots, as a queued request does; a live stream stays outside the cap.
 */
typedef int (*cfs_http_data_fn)(void *arg, const char *data, size_t len);
int cfs_http_stream(struct cfs_http *h, const char *path,
		    const char *last_event_id, unsigned int idle_seconds,
		    const int *stop, cfs_http_data_fn on_data, void *arg,
		    struct cfs_http_response *rs);
/* While on for the calling thread, its requests and snapshot streams
 * are read-ahead: they queue behind a process's and leave it a slot.
 * Returns what it was. */
int cfs_http_background(int on);
int cfs_http_in_background(void);
/* A process waits for the read-ahead request of path (and accept): it
 * goes ahead of the read-ahead still queued, as the process's own would. */
void cfs_http_promote(struct cfs_http *h, const char *path,
		      const char *accept);

/* README "Caching and errors": 400/422 EINVAL, 401/403 EACCES, 404 ENOENT,
 * 409 EEXIST. */
int cfs_http_status_errno(long status);

#endif
