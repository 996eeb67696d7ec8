/*
 * sse.h - a Server-Sent Events parser (the WHATWG HTML "event stream
 * interpretation"), fed the body of a text/event-stream response in
 * pieces of any size.
 *
 * Lines end in CRLF, LF or CR, even when the CR and the LF arrive in
 * different feeds; bytes after the last line end wait for the next feed.
 * Memory is bounded: a line over CFS_SSE_MAX_LINE bytes or an event's data
 * over CFS_SSE_MAX_DATA bytes makes cfs_sse_feed fail with -E2BIG.
 *
 * Once cfs_sse_feed has returned non-zero (-E2BIG, -ENOMEM or what the
 * callback returned) the stream is over for the parser: every later feed
 * returns that value again.  cfs_sse_last_id and cfs_sse_retry_ms still
 * answer, which is what a caller needs to reconnect.
 */
#ifndef CFS_SSE_H
#define CFS_SSE_H

#include <stddef.h>

#define CFS_SSE_MAX_LINE (1024 * 1024)
#define CFS_SSE_MAX_DATA (8 * 1024 * 1024)

/* The strings belong to the parser and live until the callback returns. */
struct cfs_sse_event {
	const char *id;	   /* the last event id in force ("" if none) */
	const char *event; /* the type; "message" when no event: field */
	const char *data;  /* data: lines joined with "\n", no final \n */
	size_t data_len;
};

/* Return 0 to go on; a non-zero value stops cfs_sse_feed, which returns it. */
typedef int (*cfs_sse_cb)(void *arg, const struct cfs_sse_event *ev);

struct cfs_sse_parser;

/* NULL when out of memory. */
struct cfs_sse_parser *cfs_sse_new(cfs_sse_cb cb, void *arg);
/* 0, or the first non-zero value of the callback, -E2BIG or -ENOMEM. */
int cfs_sse_feed(struct cfs_sse_parser *p, const char *buf, size_t len);
/*
 * The id to resume from (the Last-Event-ID header): the id in force at the
 * last blank line, so an id: whose event never completed is not in it.
 */
const char *cfs_sse_last_id(const struct cfs_sse_parser *p);
long cfs_sse_retry_ms(const struct cfs_sse_parser *p); /* -1 if none */
void cfs_sse_free(struct cfs_sse_parser *p);

#endif
