/*
 * logs.h - Clever Cloud's log streams (server-sent events) as text files.
 *
 * One event is one line:
 *
 *     <date> <instanceId> <severity> <message>
 *
 * with "-" for a missing or empty field.  In the message a backslash is
 * written "\\", a newline "\n", a carriage return "\r" and any other ASCII
 * control character but tab (DEL included) "\xHH", so an event never
 * spans two lines.
 *
 * A snapshot is the recent history of a stream's path, at most `limit`
 * events, up to the moment it is fetched (its `until`); it ends with the
 * stream's END_OF_STREAM.  It asks the API not to pace it
 * (throttleElements = limit: the API's default, 100 events per 300 ms,
 * would make a 1,000-line snapshot take 3 s).  The cache keeps it under
 * the path without `until`, so its TTL counts from when it was fetched.
 * When the stream drops or falls silent (no heartbeat for CFS_LOGS_IDLE
 * seconds) it is resumed with Last-Event-ID, the same `until` and a limit
 * lowered by what already arrived, so no event is lost or repeated.
 *
 * A follower keeps a log growing while it is open: after CFS_FOLLOW_DELAY
 * seconds (so that cat, grep -r and tar, which read and close at once,
 * never start one) it streams the events after the snapshot's last one
 * and appends their lines.  Memory stays bounded: past CFS_FOLLOW_WINDOW
 * bytes the oldest half is dropped; offsets never move, and a read of a
 * dropped range fails with EIO.
 *
 * A log's mtime is its newest event's date: the snapshot's is the date of
 * its last line, and a follower's starts at the snapshot's mtime and
 * moves to each newer event's date, never back.
 */
#ifndef CFS_LOGS_H
#define CFS_LOGS_H

#include <jansson.h>
#include <sys/types.h>
#include <time.h>

#include "util.h"

#define CFS_LOGS_IDLE 3
#define CFS_FOLLOW_DELAY 1.0
#define CFS_FOLLOW_WINDOW (8u << 20)

struct cfs_http;
struct cfs_http_response;
struct cfs_follow;

/* Appends the line of one APPLICATION_LOG event. */
int cfs_logs_format(json_t *event, struct cfs_buf *out);
/* The date of the last of these lines, or -EINVAL if it has none. */
int cfs_logs_last_date(const char *lines, size_t len, time_t *out);

/* The snapshot at path: rs->body holds the lines, rs->json the array of
 * their events (the objects the API sent, all their fields, in order),
 * rs->last_event_id the id to follow from. */
int cfs_logs_snapshot(struct cfs_http *h, const char *path, unsigned int limit,
		      struct cfs_http_response *rs);

/* Starts following path after last_id; initial is the snapshot shown,
 * and mtime its mtime. */
struct cfs_follow *cfs_follow_start(struct cfs_http *h, const char *path,
				    const char *last_id,
				    const struct cfs_blob *initial,
				    time_t mtime);
/* Stops the stream and frees the follower. */
void cfs_follow_stop(struct cfs_follow *f);
size_t cfs_follow_size(struct cfs_follow *f);
time_t cfs_follow_mtime(struct cfs_follow *f);
int cfs_follow_read(struct cfs_follow *f, char *buf, size_t size, off_t off);

#endif
