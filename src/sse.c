/*
 * sse.c - the Server-Sent Events parser: splitting bytes into lines,
 * lines into fields, and blank lines into dispatched events.
 */
#include "sse.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define BOM "\xEF\xBB\xBF"

struct cfs_sse_parser {
	cfs_sse_cb cb;
	void *arg;
	struct cfs_buf line;	/* the line read so far, without its end */
	struct cfs_buf data;	/* the data buffer */
	struct cfs_buf type;	/* the event type buffer */
	struct cfs_buf id;	/* the last event id buffer */
	struct cfs_buf last_id; /* the id buffer as of the last blank line */
	long retry_ms;
	bool seen_line; /* the BOM can only open the first line */
	bool after_cr;	/* a LF now ends no line: CRLF is one end */
	int err;	/* what every feed returns once non-zero */
};

static const char *buf_str(const struct cfs_buf *b)
{
	return b->data ? b->data : "";
}

static void buf_clear(struct cfs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_set(struct cfs_buf *b, const char *s, size_t n)
{
	buf_clear(b);
	return n ? cfs_buf_append(b, s, n) : 0;
}

static bool field_is(const char *name, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(name, want, n) == 0;
}

/* Only ASCII digits, at least one, and a value a long holds. */
static void set_retry(struct cfs_sse_parser *p, const char *v, size_t n)
{
	long ms = 0;
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		if (ms > (LONG_MAX - (v[i] - '0')) / 10)
			return;
		ms = ms * 10 + (v[i] - '0');
	}
	p->retry_ms = ms;
}

static int append_data(struct cfs_sse_parser *p, const char *v, size_t n)
{
	int rc;

	if (p->data.len + n + 1 > CFS_SSE_MAX_DATA)
		return -E2BIG;
	rc = n ? cfs_buf_append(&p->data, v, n) : 0;
	if (!rc)
		rc = cfs_buf_append(&p->data, "\n", 1);
	return rc;
}

static int process_field(struct cfs_sse_parser *p, const char *name,
			 size_t name_len, const char *v, size_t n)
{
	if (field_is(name, name_len, "data"))
		return append_data(p, v, n);
	if (field_is(name, name_len, "event"))
		return buf_set(&p->type, v, n);
	if (field_is(name, name_len, "id") && !memchr(v, '\0', n))
		return buf_set(&p->id, v, n);
	if (field_is(name, name_len, "retry"))
		set_retry(p, v, n);
	return 0;
}

/*
 * The id is committed even when nothing is dispatched; data and type are
 * reset either way, the id never.
 */
static int dispatch(struct cfs_sse_parser *p)
{
	struct cfs_sse_event ev;
	int rc;

	rc = buf_set(&p->last_id, p->id.data, p->id.len);
	if (rc || !p->data.len)
		goto out;
	p->data.data[--p->data.len] = '\0';
	ev.id = buf_str(&p->last_id);
	ev.event = p->type.len ? p->type.data : "message";
	ev.data = p->data.data;
	ev.data_len = p->data.len;
	rc = p->cb(p->arg, &ev);
out:
	buf_clear(&p->data);
	buf_clear(&p->type);
	return rc;
}

static int process_line(struct cfs_sse_parser *p, const char *s, size_t n)
{
	const char *colon;
	const char *v;
	size_t vn;

	if (!p->seen_line && n >= 3 && memcmp(s, BOM, 3) == 0) {
		s += 3;
		n -= 3;
	}
	p->seen_line = true;
	if (!n)
		return dispatch(p);
	if (s[0] == ':')
		return 0;
	colon = memchr(s, ':', n);
	if (!colon)
		return process_field(p, s, n, s + n, 0);
	v = colon + 1;
	vn = n - (size_t)(v - s);
	if (vn && v[0] == ' ') {
		v++;
		vn--;
	}
	return process_field(p, s, (size_t)(colon - s), v, vn);
}

static int append_line(struct cfs_sse_parser *p, const char *s, size_t n)
{
	if (!n)
		return 0;
	if (p->line.len + n > CFS_SSE_MAX_LINE)
		return -E2BIG;
	return cfs_buf_append(&p->line, s, n);
}

/* The offset of the first CR or LF at or after i, or len. */
static size_t find_eol(const char *buf, size_t i, size_t len)
{
	while (i < len && buf[i] != '\r' && buf[i] != '\n')
		i++;
	return i;
}

int cfs_sse_feed(struct cfs_sse_parser *p, const char *buf, size_t len)
{
	size_t i = 0;
	size_t eol;
	int rc = p->err;

	while (!rc && i < len) {
		if (p->after_cr) {
			p->after_cr = false;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		eol = find_eol(buf, i, len);
		rc = append_line(p, buf + i, eol - i);
		if (rc || eol == len)
			break;
		rc = process_line(p, buf_str(&p->line), p->line.len);
		buf_clear(&p->line);
		p->after_cr = buf[eol] == '\r';
		i = eol + 1;
	}
	p->err = rc;
	return rc;
}

struct cfs_sse_parser *cfs_sse_new(cfs_sse_cb cb, void *arg)
{
	struct cfs_sse_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cb = cb;
	p->arg = arg;
	p->retry_ms = -1;
	return p;
}

const char *cfs_sse_last_id(const struct cfs_sse_parser *p)
{
	return buf_str(&p->last_id);
}

long cfs_sse_retry_ms(const struct cfs_sse_parser *p)
{
	return p->retry_ms;
}

void cfs_sse_free(struct cfs_sse_parser *p)
{
	if (!p)
		return;
	cfs_buf_free(&p->line);
	cfs_buf_free(&p->data);
	cfs_buf_free(&p->type);
	cfs_buf_free(&p->id);
	cfs_buf_free(&p->last_id);
	free(p);
}
