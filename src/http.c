/*
 * http.c - the curl multi worker, retry policy, response checks and the
 * one log line per request.
 */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "auth.h"
#include "log.h"

#define BACKOFF_BASE 0.25     /* seconds before the first retry */
#define RETRY_AFTER_MAX 30.0  /* a longer wait is not worth blocking on */
#define BODY_MAX (256u << 20) /* refuse absurd bodies */
#define ATTEMPT_MIN 0.5	      /* a retry with less time left is pointless */
#define PROBE_PATH "/"	      /* any HTTP answer means the API is back */
#define PROBE_TIMEOUT 5.0

struct transfer {
	struct transfer *next;
	const struct cfs_http_request *rq;
	struct cfs_http_response *rs;
	CURL *easy;
	struct curl_slist *headers;
	struct cfs_buf body;
	int attempts;
	int done;
	int background;	   /* read-ahead, until a process waits for it */
	int probe;	   /* the worker's own, while the API is down */
	int answered;	   /* the last attempt got an HTTP status */
	long retry_after;  /* seconds the server asked us to wait */
	double not_before; /* monotonic: when a retry may start */
	double started;
	double deadline; /* monotonic: the end of all attempts */
	char errbuf[CURL_ERROR_SIZE];
};

struct cfs_http {
	char *base_url;
	const struct cfs_auth *auth;
	unsigned int max_conns;
	unsigned int timeout;
	CURLM *multi;
	CURLSH *share;
	pthread_mutex_t share_lock;
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	pthread_t worker;
	int running;
	int stopping;
	struct transfer *queue;	  /* waiting to start, in order (enqueue) */
	struct transfer *delayed; /* waiting for their backoff */
	unsigned int active;
	unsigned int streams; /* snapshots holding a slot (take_stream_slot) */
	/* the API is down after CFS_HTTP_DOWN_AFTER attempts in a row got no
	 * answer; until a probe gets one, requests fail at once */
	unsigned int unanswered;
	int down;
	double next_probe; /* monotonic */
	int probing;
	struct transfer probe;
	struct cfs_http_request probe_rq;
	struct cfs_http_response probe_rs;
};

int cfs_http_status_errno(long status)
{
	switch (status) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return status >= 200 && status < 300 ? 0 : -EIO;
	}
}

static void share_lock_cb(CURL *h, curl_lock_data d, curl_lock_access a,
			  void *p)
{
	(void)h;
	(void)d;
	(void)a;
	pthread_mutex_lock(&((struct cfs_http *)p)->share_lock);
}

static void share_unlock_cb(CURL *h, curl_lock_data d, void *p)
{
	(void)h;
	(void)d;
	pthread_mutex_unlock(&((struct cfs_http *)p)->share_lock);
}

struct cfs_http *cfs_http_new(const char *base_url,
			      const struct cfs_auth *auth,
			      unsigned int max_conns, unsigned int timeout)
{
	struct cfs_http *h = calloc(1, sizeof(*h));
	size_t n;

	if (!h)
		return NULL;
	h->base_url = strdup(base_url);
	if (!h->base_url)
		goto fail;
	n = strlen(h->base_url);
	while (n > 0 && h->base_url[n - 1] == '/')
		h->base_url[--n] = '\0';
	h->auth = auth;
	h->max_conns = max_conns;
	h->timeout = timeout;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->share_lock, NULL);
	pthread_cond_init(&h->done_cv, NULL);
	h->share = curl_share_init();
	if (!h->share)
		goto fail;
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	return h;
fail:
	cfs_http_free(h);
	return NULL;
}

const char *cfs_http_base_url(const struct cfs_http *h)
{
	return h->base_url;
}

unsigned int cfs_http_timeout(const struct cfs_http *h)
{
	return h->timeout;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t n = size * nmemb;

	if (t->body.len + n > BODY_MAX)
		return 0;
	return cfs_buf_append(&t->body, data, n) ? 0 : n;
}

static int add_header(struct curl_slist **list, const char *name,
		      const char *value)
{
	char line[512];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	l = curl_slist_append(*list, line);
	if (!l)
		return -ENOMEM;
	*list = l;
	return 0;
}

static int retryable_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/*
 * This attempt's share of the operation's time: at most half the timeout
 * (so that a timed-out first attempt leaves room for a retry), never
 * more than what is left.
 */
static long attempt_ms(const struct cfs_http *h, const struct transfer *t)
{
	double left = t->deadline - cfs_monotonic();
	double half = t->probe ? left : (double)h->timeout / 2.0;

	if (left > half && t->attempts < CFS_HTTP_ATTEMPTS)
		left = half;
	return left > 0.001 ? (long)(left * 1000.0) : 1L;
}

/* A handle for base_url + path with what every request shares. */
static CURL *new_easy(struct cfs_http *h, const char *path)
{
	char url[4096];
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", h->base_url, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_SHARE, h->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cloudfs/" CFS_VERSION);
	return e;
}

static int setup_easy(struct cfs_http *h, struct transfer *t)
{
	const struct cfs_http_request *rq = t->rq;
	CURL *e = new_easy(h, rq->path);

	if (!e)
		return -ENOMEM;
	t->easy = e;
	t->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, attempt_ms(h, t));
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	if (!retryable_method(rq->method)) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
		/*
		 * libcurl sends a request again, unasked, when the kept-alive
		 * connection it used turns out dead; on a fresh connection
		 * it cannot, so a write goes out at most once.
		 */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		if (add_header(&t->headers, "Expect", ""))
			return -ENOMEM;
	}
	if (rq->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
		if (add_header(&t->headers, "Content-Type",
			       rq->content_type ? rq->content_type
						: "application/json"))
			return -ENOMEM;
	}
	if (add_header(&t->headers, "Accept",
		       rq->accept ? rq->accept : "application/json") ||
	    cfs_auth_apply(h->auth, e, &t->headers))
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	return 0;
}

static void release_easy(struct transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	t->easy = NULL;
	curl_slist_free_all(t->headers);
	t->headers = NULL;
}

static void copy_header(CURL *e, const char *name, char *out, size_t len)
{
	struct curl_header *hdr;

	if (!out[0] &&
	    curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
		snprintf(out, len, "%s", hdr->value);
}

static void copy_json_string(json_t *obj, const char *key, char *out,
			     size_t len)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s && !out[0])
		snprintf(out, len, "%s", s);
}

/*
 * The error text of both providers' forms: v2 "message", v4 "error",
 * UpCloud {"error": {"error_code", "error_message"}}, RFC 7807 title.
 */
static void read_api_error(json_t *j, struct cfs_http_response *rs)
{
	json_t *legacy = json_object_get(j, "error");
	const char *code;

	copy_json_string(j, "correlation_id", rs->request_id,
			 sizeof(rs->request_id));
	copy_json_string(j, "api_request_id", rs->request_id,
			 sizeof(rs->request_id));
	if (json_is_object(legacy)) {
		code = json_string_value(
			json_object_get(legacy, "error_code"));
		snprintf(rs->message, sizeof(rs->message), "%s: %s",
			 code ? code : "error",
			 json_string_value(
				 json_object_get(legacy, "error_message"))
				 ?: "");
		return;
	}
	copy_json_string(j, "message", rs->message, sizeof(rs->message));
	copy_json_string(j, "error", rs->message, sizeof(rs->message));
	copy_json_string(j, "title", rs->message, sizeof(rs->message));
	copy_json_string(j, "detail", rs->message, sizeof(rs->message));
}

static int is_json_type(const char *ct)
{
	return strstr(ct, "json") != NULL;
}

/* Fills rs from a completed transfer; returns 1 if worth retrying. */
static int read_outcome(struct transfer *t, CURLcode cc)
{
	struct cfs_http_response *rs = t->rs;
	const char *ct = NULL;
	curl_off_t after = 0;
	json_error_t jerr;

	rs->status = 0;
	rs->message[0] = rs->request_id[0] = rs->content_type[0] = '\0';
	t->answered = 0;
	t->retry_after = 0;
	if (cc != CURLE_OK) {
		snprintf(rs->message, sizeof(rs->message), "%s",
			 t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc));
		rs->err = -EIO;
		return 1;
	}
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &rs->status);
	t->answered = rs->status > 0;
	curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &after);
	t->retry_after = (long)after;
	curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(rs->content_type, sizeof(rs->content_type), "%s",
		 ct ? ct : "");
	copy_header(t->easy, "Sozu-Id", rs->request_id,
		    sizeof(rs->request_id));
	copy_header(t->easy, "X-Request-Id", rs->request_id,
		    sizeof(rs->request_id));
	rs->err = cfs_http_status_errno(rs->status);
	if (is_json_type(rs->content_type) && t->body.len) {
		rs->json = json_loadb(t->body.data, t->body.len,
				      JSON_ALLOW_NUL, &jerr);
		if (!rs->json && rs->err == 0) {
			snprintf(rs->message, sizeof(rs->message),
				 "malformed JSON body: %s", jerr.text);
			rs->err = -EIO;
			return 1;
		}
	}
	if (rs->err) {
		if (rs->json)
			read_api_error(rs->json, rs);
		json_decref(rs->json);
		rs->json = NULL;
		return rs->status == 408 || rs->status == 429 ||
		       rs->status >= 500;
	}
	rs->body = cfs_buf_to_blob(&t->body);
	if (!rs->body) {
		rs->err = -ENOMEM;
		return 0;
	}
	rs->fetched_at = cfs_now();
	return 0;
}

static double retry_delay(const struct transfer *t)
{
	double d = BACKOFF_BASE * (double)(1u << (t->attempts - 1));

	/* NOLINTNEXTLINE(cert-msc30-c): jitter, no secret */
	d *= 0.75 + (double)(rand() % 500) / 1000.0;
	if (t->retry_after > 0 && (double)t->retry_after > d)
		d = (double)t->retry_after;
	return d;
}

static void log_attempt(const struct transfer *t, double ms, int retry,
			double delay)
{
	const struct cfs_http_response *rs = t->rs;
	char status[16];

	if (rs->status)
		snprintf(status, sizeof(status), "%ld", rs->status);
	else
		snprintf(status, sizeof(status), "---");
	if (!rs->err) {
		cfs_debug("%s %s %s %.0f ms id=%s", t->rq->method, t->rq->path,
			  status, ms,
			  rs->request_id[0] ? rs->request_id : "-");
		return;
	}
	cfs_warn("%s %s %s %.0f ms id=%s: %s%s", t->rq->method, t->rq->path,
		 status, ms, rs->request_id[0] ? rs->request_id : "-",
		 rs->message[0] ? rs->message : "failed",
		 retry ? "; retrying" : "");
	if (retry)
		cfs_debug("retry %d of %s in %.2f s", t->attempts, t->rq->path,
			  delay);
}

/* Another attempt, if the outcome is worth one and time is left; lock
 * held. */
static int should_retry(const struct cfs_http *h, const struct transfer *t,
			int worth_it, double *delay)
{
	if (!worth_it || !retryable_method(t->rq->method) || t->probe ||
	    t->attempts >= CFS_HTTP_ATTEMPTS || h->stopping || h->down)
		return 0;
	*delay = retry_delay(t);
	return *delay <= RETRY_AFTER_MAX &&
	       cfs_monotonic() + *delay + ATTEMPT_MIN <= t->deadline;
}

/* Counts attempts without an answer; lock held.  1 when the API just
 * went down or came back, for the caller to say so. */
static int note_answer(struct cfs_http *h, int answered)
{
	if (answered) {
		h->unanswered = 0;
		if (!h->down)
			return 0;
		h->down = 0;
		return 1;
	}
	if (h->down || ++h->unanswered < CFS_HTTP_DOWN_AFTER)
		return 0;
	h->down = 1;
	h->next_probe = cfs_monotonic() + CFS_HTTP_PROBE_EVERY;
	return 1;
}

static void say_api_state(const struct cfs_http *h, int down)
{
	if (down)
		cfs_warn("%s does not answer: requests fail at once (last good "
			 "copies are served) until it answers again",
			 h->base_url);
	else
		cfs_warn("%s answers again", h->base_url);
}

static void probe_done(struct cfs_http *h)
{
	cfs_http_response_clear(&h->probe_rs);
	h->probing = 0;
	h->next_probe = cfs_monotonic() + CFS_HTTP_PROBE_EVERY;
}

/*
 * A finished attempt, outside h->lock: the body is parsed and the line
 * logged first, then the transfer is either put back for a retry or
 * handed to its waiter.
 */
static void finish_transfer(struct cfs_http *h, struct transfer *t,
			    CURLcode cc)
{
	double ms = (cfs_monotonic() - t->started) * 1000.0;
	int worth_it = read_outcome(t, cc);
	double delay = 0;
	int changed;
	int retry;
	int down;

	curl_multi_remove_handle(h->multi, t->easy);
	pthread_mutex_lock(&h->lock);
	changed = note_answer(h, t->answered);
	down = h->down;
	retry = should_retry(h, t, worth_it, &delay);
	pthread_mutex_unlock(&h->lock);
	if (!t->probe)
		log_attempt(t, ms, retry, delay);
	if (changed)
		say_api_state(h, down);
	release_easy(t);
	cfs_buf_free(&t->body);
	pthread_mutex_lock(&h->lock);
	h->active--;
	/* a slot for a stream that waits for one (take_stream_slot) */
	pthread_cond_broadcast(&h->done_cv);
	if (t->probe) {
		probe_done(h);
	} else if (retry) {
		t->not_before = cfs_monotonic() + delay;
		t->next = h->delayed;
		h->delayed = t;
	} else {
		t->done = 1;
		pthread_cond_broadcast(&h->done_cv);
	}
	pthread_mutex_unlock(&h->lock);
}

static void fail_transfer(struct cfs_http *h, struct transfer *t, int err,
			  const char *why)
{
	release_easy(t);
	t->rs->err = err;
	snprintf(t->rs->message, sizeof(t->rs->message), "%s", why);
	if (t->probe) {
		probe_done(h);
		return;
	}
	t->done = 1;
	pthread_cond_broadcast(&h->done_cv);
}

static int start_one(struct cfs_http *h, struct transfer *t)
{
	t->attempts++;
	t->started = cfs_monotonic();
	if (t->attempts == 1)
		t->deadline = t->started +
			      (t->probe ? PROBE_TIMEOUT : (double)h->timeout);
	if (setup_easy(h, t) ||
	    curl_multi_add_handle(h->multi, t->easy) != CURLM_OK)
		return -ENOMEM;
	h->active++;
	return 0;
}

/* While the API is down, a probe every CFS_HTTP_PROBE_EVERY seconds. */
static void start_probe(struct cfs_http *h)
{
	struct transfer *t = &h->probe;

	if (!h->down || h->probing || h->stopping ||
	    cfs_monotonic() < h->next_probe)
		return;
	memset(t, 0, sizeof(*t));
	h->probe_rq = (struct cfs_http_request){ .method = "GET",
						 .path = PROBE_PATH };
	memset(&h->probe_rs, 0, sizeof(h->probe_rs));
	t->rq = &h->probe_rq;
	t->rs = &h->probe_rs;
	t->probe = 1;
	h->probing = 1;
	if (start_one(h, t) != 0)
		fail_transfer(h, t, -ENOMEM, strerror(ENOMEM));
}

/* What read-ahead may hold: all but one slot, kept for a process. */
static unsigned int slots_for(const struct cfs_http *h, int background)
{
	return background && h->max_conns > 1 ? h->max_conns - 1
					      : h->max_conns;
}

/* Whether the head of the queue may start now. */
static int may_start(const struct cfs_http *h)
{
	if (!h->queue)
		return 0;
	return h->down ||
	       h->active + h->streams < slots_for(h, h->queue->background);
}

static void start_ready(struct cfs_http *h)
{
	start_probe(h);
	while (may_start(h)) {
		struct transfer *t = h->queue;

		h->queue = t->next;
		if (h->down)
			fail_transfer(h, t, -EIO, "the API does not answer");
		else if (start_one(h, t) != 0)
			fail_transfer(h, t, -ENOMEM, strerror(ENOMEM));
	}
}

/* In order within each class: what a process waits on, then read-ahead. */
static void enqueue(struct cfs_http *h, struct transfer *t)
{
	struct transfer **p = &h->queue;

	while (*p && (t->background || !(*p)->background))
		p = &(*p)->next;
	t->next = *p;
	*p = t;
}

/* Moves due retries to the queue; returns ms until the next one is due
 * (or the next probe). */
static long release_due(struct cfs_http *h)
{
	struct transfer **p = &h->delayed;
	double now = cfs_monotonic();
	long wait = 1000;

	while (*p) {
		struct transfer *t = *p;

		if (t->not_before <= now || h->stopping || h->down) {
			*p = t->next;
			enqueue(h, t);
			continue;
		}
		if ((t->not_before - now) * 1000.0 < (double)wait)
			wait = (long)((t->not_before - now) * 1000.0) + 1;
		p = &t->next;
	}
	if (h->down && !h->probing &&
	    (h->next_probe - now) * 1000.0 < (double)wait)
		wait = h->next_probe > now
			       ? (long)((h->next_probe - now) * 1000.0) + 1
			       : 0;
	return wait;
}

/* The worker alone touches the multi handle: no lock needed for it. */
static void collect_finished(struct cfs_http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		struct transfer *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
		finish_transfer(h, t, msg->data.result);
	}
}

static int worker_busy(const struct cfs_http *h)
{
	return !h->stopping || h->queue || h->delayed || h->active ||
	       h->probing;
}

static void *worker_main(void *arg)
{
	struct cfs_http *h = arg;
	int still;
	long wait;

	pthread_mutex_lock(&h->lock);
	while (worker_busy(h)) {
		release_due(h);
		start_ready(h);
		pthread_mutex_unlock(&h->lock);
		curl_multi_perform(h->multi, &still);
		collect_finished(h);
		pthread_mutex_lock(&h->lock);
		/* after collecting: a retry just scheduled sets the wait */
		wait = release_due(h);
		if (may_start(h))
			continue;
		pthread_mutex_unlock(&h->lock);
		curl_multi_poll(h->multi, NULL, 0, (int)wait, NULL);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int cfs_http_start(struct cfs_http *h)
{
	h->multi = curl_multi_init();
	if (!h->multi)
		return -ENOMEM;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			  (long)h->max_conns);
	h->stopping = 0;
	if (pthread_create(&h->worker, NULL, worker_main, h) != 0) {
		curl_multi_cleanup(h->multi);
		h->multi = NULL;
		return -EAGAIN;
	}
	h->running = 1;
	return 0;
}

void cfs_http_stop(struct cfs_http *h)
{
	if (!h->running)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	pthread_mutex_unlock(&h->lock);
	curl_multi_wakeup(h->multi);
	pthread_join(h->worker, NULL);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	h->running = 0;
}

void cfs_http_free(struct cfs_http *h)
{
	if (!h)
		return;
	cfs_http_stop(h);
	if (h->share)
		curl_share_cleanup(h->share);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->share_lock);
	pthread_cond_destroy(&h->done_cv);
	free(h->base_url);
	free(h);
}

static __thread int in_background;

int cfs_http_background(int on)
{
	int was = in_background;

	in_background = on;
	return was;
}

int cfs_http_in_background(void)
{
	return in_background;
}

static int same_accept(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

void cfs_http_promote(struct cfs_http *h, const char *path, const char *accept)
{
	struct transfer **p;
	struct transfer *t = NULL;

	pthread_mutex_lock(&h->lock);
	for (p = &h->queue; *p; p = &(*p)->next)
		if ((*p)->background && strcmp((*p)->rq->path, path) == 0 &&
		    same_accept((*p)->rq->accept, accept)) {
			t = *p;
			*p = t->next;
			break;
		}
	if (t) {
		t->background = 0;
		enqueue(h, t);
	}
	for (t = h->delayed; t; t = t->next)
		if (strcmp(t->rq->path, path) == 0 &&
		    same_accept(t->rq->accept, accept))
			t->background = 0;
	pthread_mutex_unlock(&h->lock);
	if (h->multi)
		curl_multi_wakeup(h->multi);
}

void cfs_http_perform_many(struct cfs_http *h,
			   const struct cfs_http_request *rq,
			   struct cfs_http_response *rs, size_t n)
{
	struct transfer *t = calloc(n ? n : 1, sizeof(*t));
	size_t i;

	for (i = 0; i < n; i++)
		memset(&rs[i], 0, sizeof(rs[i]));
	if (!t || !h->running) {
		for (i = 0; i < n; i++)
			rs[i].err = t ? -ENOTCONN : -ENOMEM;
		free(t);
		return;
	}
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < n; i++) {
		t[i].rq = &rq[i];
		t[i].rs = &rs[i];
		t[i].background = rq[i].background || in_background;
		enqueue(h, &t[i]);
	}
	pthread_mutex_unlock(&h->lock);
	curl_multi_wakeup(h->multi);
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < n; i++)
		while (!t[i].done)
			pthread_cond_wait(&h->done_cv, &h->lock);
	pthread_mutex_unlock(&h->lock);
	free(t);
}

int cfs_http_perform(struct cfs_http *h, const struct cfs_http_request *rq,
		     struct cfs_http_response *rs)
{
	cfs_http_perform_many(h, rq, rs, 1);
	return rs->err;
}

void cfs_http_response_clear(struct cfs_http_response *rs)
{
	cfs_blob_unref(rs->body);
	json_decref(rs->json);
	memset(rs, 0, sizeof(*rs));
}

/* ---- streamed requests ------------------------------------------- */

struct stream {
	CURL *easy;
	cfs_http_data_fn on_data;
	void *arg;
	const int *stop;
	struct cfs_buf error_body;
	int handed_over; /* on_data asked to stop */
};

static int stop_asked(const struct stream *st)
{
	return st->stop && __atomic_load_n(st->stop, __ATOMIC_ACQUIRE);
}

static size_t on_stream_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct stream *st = arg;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		if (st->error_body.len + n > 65536)
			return 0;
		return cfs_buf_append(&st->error_body, data, n) ? 0 : n;
	}
	if (st->on_data(st->arg, data, n) != 0) {
		st->handed_over = 1;
		return 0;
	}
	return n;
}

static int on_stream_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			      curl_off_t ultotal, curl_off_t ulnow)
{
	const struct stream *st = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stop_asked(st);
}

static void read_stream_outcome(struct stream *st, CURLcode cc,
				struct cfs_http_response *rs)
{
	json_t *j;

	curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &rs->status);
	copy_header(st->easy, "Sozu-Id", rs->request_id,
		    sizeof(rs->request_id));
	rs->fetched_at = cfs_now();
	if (rs->status && (rs->status < 200 || rs->status >= 300)) {
		rs->err = cfs_http_status_errno(rs->status);
		j = json_loadb(st->error_body.data ? st->error_body.data : "",
			       st->error_body.len, 0, NULL);
		if (j)
			read_api_error(j, rs);
		json_decref(j);
		return;
	}
	if (cc != CURLE_OK && !st->handed_over &&
	    !(cc == CURLE_ABORTED_BY_CALLBACK && stop_asked(st))) {
		rs->err = -EIO;
		snprintf(rs->message, sizeof(rs->message), "%s",
			 curl_easy_strerror(cc));
	}
}

/* Streams count towards the API being down, and fail at once while it is. */
static int api_down(struct cfs_http *h)
{
	int down;

	pthread_mutex_lock(&h->lock);
	down = h->down;
	pthread_mutex_unlock(&h->lock);
	return down;
}

static void note_stream_answer(struct cfs_http *h, int answered)
{
	int changed;
	int down;

	pthread_mutex_lock(&h->lock);
	changed = note_answer(h, answered);
	down = h->down;
	pthread_mutex_unlock(&h->lock);
	if (changed)
		say_api_state(h, down);
}

/*
 * A stream that ends of itself (a log snapshot) is a request like any
 * other: it waits for one of the max_conns slots and holds it.  A live
 * stream stays outside the cap, or a few `tail -f` would stop every
 * other request.
 */
static void take_stream_slot(struct cfs_http *h)
{
	pthread_mutex_lock(&h->lock);
	while (!h->down && !h->stopping &&
	       h->active + h->streams >= slots_for(h, in_background))
		pthread_cond_wait(&h->done_cv, &h->lock);
	h->streams++;
	pthread_mutex_unlock(&h->lock);
}

static void give_stream_slot(struct cfs_http *h)
{
	pthread_mutex_lock(&h->lock);
	h->streams--;
	pthread_cond_broadcast(&h->done_cv);
	pthread_mutex_unlock(&h->lock);
	if (h->multi)
		curl_multi_wakeup(h->multi);
}

int cfs_http_stream(struct cfs_http *h, const char *path,
		    const char *last_event_id, unsigned int idle_seconds,
		    const int *stop, cfs_http_data_fn on_data, void *arg,
		    struct cfs_http_response *rs)
{
	struct stream st = { .on_data = on_data, .arg = arg, .stop = stop };
	struct curl_slist *headers = NULL;
	double started = cfs_monotonic();
	CURLcode cc;

	memset(rs, 0, sizeof(*rs));
	if (api_down(h)) {
		snprintf(rs->message, sizeof(rs->message),
			 "the API does not answer");
		return rs->err = -EIO;
	}
	st.easy = new_easy(h, path);
	if (!st.easy)
		return rs->err = -ENOMEM;
	if (!stop)
		take_stream_slot(h);
	if (add_header(&headers, "Accept", "text/event-stream") ||
	    (last_event_id && *last_event_id &&
	     add_header(&headers, "Last-Event-ID", last_event_id)) ||
	    cfs_auth_apply(h->auth, st.easy, &headers)) {
		rs->err = -ENOMEM;
		goto out;
	}
	/* the heartbeat watchdog: silence this long means a dead stream */
	curl_easy_setopt(st.easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(st.easy, CURLOPT_LOW_SPEED_TIME, (long)idle_seconds);
	curl_easy_setopt(st.easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(st.easy, CURLOPT_WRITEFUNCTION, on_stream_data);
	curl_easy_setopt(st.easy, CURLOPT_WRITEDATA, &st);
	curl_easy_setopt(st.easy, CURLOPT_XFERINFOFUNCTION,
			 on_stream_progress);
	curl_easy_setopt(st.easy, CURLOPT_XFERINFODATA, &st);
	curl_easy_setopt(st.easy, CURLOPT_NOPROGRESS, 0L);
	cc = curl_easy_perform(st.easy);
	read_stream_outcome(&st, cc, rs);
	if (!stop_asked(&st))
		note_stream_answer(h, rs->status > 0);
	if (rs->err)
		cfs_warn("GET %s %ld %.0f ms id=%s: %s", path, rs->status,
			 (cfs_monotonic() - started) * 1000.0,
			 rs->request_id[0] ? rs->request_id : "-",
			 rs->message[0] ? rs->message : "stream failed");
	else
		cfs_debug("GET %s %ld %.0f ms id=%s (stream)", path,
			  rs->status, (cfs_monotonic() - started) * 1000.0,
			  rs->request_id[0] ? rs->request_id : "-");
out:
	if (!stop)
		give_stream_slot(h);
	cfs_buf_free(&st.error_body);
	curl_slist_free_all(headers);
	curl_easy_cleanup(st.easy);
	return rs->err;
}
