/*
 * Unit tests of the SSE parser: the exact events of each stream, the same
 * however the stream is cut into feeds.
 */
#include <errno.h>

#include "check.h"
#include "sse.h"
#include "util.h"

/* A literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

struct sink {
	struct cfs_buf log; /* one "[id][event][data]\n" per event */
	int events;
	int stop_at; /* return 42 from this event on; 0: never */
};

static int collect(void *arg, const struct cfs_sse_event *ev)
{
	struct sink *k = arg;

	CHECK(ev->data[ev->data_len] == '\0');
	CHECK(cfs_buf_printf(&k->log, "[%s][%s][", ev->id, ev->event) == 0);
	CHECK(cfs_buf_append(&k->log, ev->data, ev->data_len) == 0);
	CHECK(cfs_buf_append(&k->log, "]\n", 2) == 0);
	k->events++;
	return k->stop_at && k->events >= k->stop_at ? 42 : 0;
}

static const char *log_of(const struct sink *k)
{
	return k->log.data ? k->log.data : "";
}

struct want {
	const char *log;
	const char *last_id;
	long retry_ms;
};

/*
 * Feeds s[0, cut) at once, then the rest in pieces of at most step bytes,
 * each followed by an empty feed, and checks what came out.
 */
static void check_feeds(const char *s, size_t len, size_t cut, size_t step,
			const struct want *w)
{
	struct sink k = { 0 };
	struct cfs_sse_parser *p = cfs_sse_new(collect, &k);
	size_t i;
	size_t n;

	CHECK(p);
	CHECK(cfs_sse_feed(p, s, cut) == 0);
	for (i = cut; i < len; i += n) {
		n = len - i < step ? len - i : step;
		CHECK(cfs_sse_feed(p, s + i, n) == 0);
		CHECK(cfs_sse_feed(p, s + i + n, 0) == 0);
	}
	CHECK_STR(log_of(&k), w->log);
	CHECK_STR(cfs_sse_last_id(p), w->last_id);
	CHECK(cfs_sse_retry_ms(p) == w->retry_ms);
	cfs_sse_free(p);
	cfs_buf_free(&k.log);
}

/* Whole, byte by byte, and cut in two at every offset: the same result. */
static void check_stream(const char *s, size_t len, const char *log,
			 const char *last_id, long retry_ms)
{
	struct want w = { log, last_id, retry_ms };
	size_t cut;

	check_feeds(s, len, len, 1, &w);
	check_feeds(s, len, 0, 1, &w);
	for (cut = 1; cut < len; cut++)
		check_feeds(s, len, cut, len, &w);
}

/* Feeds the pieces (NULL-terminated) one by one, as given. */
static void check_pieces(const char *const *pieces, const char *log)
{
	struct sink k = { 0 };
	struct cfs_sse_parser *p = cfs_sse_new(collect, &k);

	CHECK(p);
	for (; *pieces; pieces++)
		CHECK(cfs_sse_feed(p, *pieces, strlen(*pieces)) == 0);
	CHECK_STR(log_of(&k), log);
	cfs_sse_free(p);
	cfs_buf_free(&k.log);
}

static void test_simple(void)
{
	check_stream(LIT("data: hello\n\n"), "[][message][hello]\n", "", -1);
}

static void test_clever_stream(void)
{
	check_stream(LIT(": hello\n\n"
			 "id: 00000000000000000042\n"
			 "event: APPLICATION_LOG\n"
			 "data: {\"message\": \"up\"}\n\n"
			 "event: HEARTBEAT\ndata: \n\n"
			 "id: 00000000000000000043\n"
			 "event: APPLICATION_LOG\n"
			 "data: {\"message\": \"down\"}\n\n"
			 "event: END_OF_STREAM\n"
			 "data: {\"endedBy\": \"UNTIL_REACHED\"}\n\n"),
		     "[00000000000000000042][APPLICATION_LOG]"
		     "[{\"message\": \"up\"}]\n"
		     "[00000000000000000042][HEARTBEAT][]\n"
		     "[00000000000000000043][APPLICATION_LOG]"
		     "[{\"message\": \"down\"}]\n"
		     "[00000000000000000043][END_OF_STREAM]"
		     "[{\"endedBy\": \"UNTIL_REACHED\"}]\n",
		     "00000000000000000043", -1);
}

static void test_line_ends(void)
{
	static const char *const split_crlf[] = { "data: a\r", "",     "\n",
						  "data: b\r", "\n\r", "\n",
						  "data: c\r", "\r",   "\n",
						  NULL };

	check_stream(LIT("data: a\r\n\r\ndata: b\r\rdata: c\n\n"),
		     "[][message][a]\n[][message][b]\n[][message][c]\n", "",
		     -1);
	check_stream(LIT("data: a\r\ndata: b\rdata: c\n\r\n"),
		     "[][message][a\nb\nc]\n", "", -1);
	/* a CR then anything but LF: the LF further on is a line end */
	check_stream(LIT("data: a\rb\n\n"), "[][message][a]\n", "", -1);
	check_stream(LIT("data: a\r\r\n\n"), "[][message][a]\n", "", -1);
	check_pieces(split_crlf, "[][message][a\nb]\n[][message][c]\n");
}

static void test_data_lines(void)
{
	check_stream(LIT("data: a\ndata:\ndata:  b\ndata\n\n"),
		     "[][message][a\n\n b\n]\n", "", -1);
	check_stream(LIT("data: a: b\n\n"), "[][message][a: b]\n", "", -1);
}

static void test_comments(void)
{
	check_stream(LIT(": c\ndata: a\n:\n: x\n\n: only a comment\n\n"
			 ":data: x\n\n"),
		     "[][message][a]\n", "", -1);
}

static void test_unknown_fields(void)
{
	check_stream(LIT("foo: bar\nData: x\nDATA: y\n data: z\n"
			 "data : w\ndata: a\n\n"),
		     "[][message][a]\n", "", -1);
}

static void test_no_colon(void)
{
	check_stream(LIT("data\n\n"), "[][message][]\n", "", -1);
	check_stream(LIT("event: x\nevent\ndata: a\n\n"), "[][message][a]\n",
		     "", -1);
	check_stream(LIT("id: 1\ndata: a\n\nid\ndata: b\n\nretry\n"),
		     "[1][message][a]\n[][message][b]\n", "", -1);
}

static void test_no_space(void)
{
	check_stream(LIT("id:7\nevent:x\ndata:a\n\ndata:  two\ndata:\tt\n\n"),
		     "[7][x][a]\n[7][message][ two\n\tt]\n", "7", -1);
}

static void test_ids(void)
{
	check_stream(LIT("id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"),
		     "[1][message][a]\n[1][message][b]\n[2][message][c]\n",
		     "2", -1);
	check_stream(LIT("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"),
		     "[1][message][a]\n[1][message][b]\n", "1", -1);
	/* the id in force when the blank line comes */
	check_stream(LIT("data: a\nid: 9\n\n"), "[9][message][a]\n", "9", -1);
	/* a blank line commits the id even with nothing to dispatch */
	check_stream(LIT("id: 5\n\n"), "", "5", -1);
	/* an event cut short does not move the id to resume from */
	check_stream(LIT("id: 1\ndata: a\n\nid: 2\ndata: b\n"),
		     "[1][message][a]\n", "1", -1);
}

static void test_retry(void)
{
	check_stream(LIT("retry: 3000\n\n"), "", "", 3000);
	check_stream(LIT("retry:250\nretry: 0\n"), "", "", 0);
	check_stream(LIT("retry: 3000\nretry: 1x\nretry: -1\nretry:\n"
			 "retry:  5\nretry: 5 \nretry: 1.5\n"
			 "retry: 99999999999999999999999\n"),
		     "", "", 3000);
}

static void test_bom(void)
{
	check_stream(LIT("\xEF\xBB\xBF"
			 "data: a\n\n"),
		     "[][message][a]\n", "", -1);
	check_stream(LIT("\xEF\xBB\xBF: c\ndata: a\n\n"), "[][message][a]\n",
		     "", -1);
	check_stream(LIT("\xEF\xBB\xBF\ndata: a\n\n"), "[][message][a]\n", "",
		     -1);
	/* one BOM only, and only at the very start */
	check_stream(LIT("\xEF\xBB\xBF\xEF\xBB\xBF"
			 "data: a\n\ndata: b\n\n"),
		     "[][message][b]\n", "", -1);
	check_stream(LIT("data: a\n\n\xEF\xBB\xBF"
			 "data: b\n\n"),
		     "[][message][a]\n", "", -1);
}

static void test_blank_lines(void)
{
	check_stream(LIT("\n\n\r\n\revent: x\n\ndata: a\n\n"),
		     "[][message][a]\n", "", -1);
}

static void test_heartbeat(void)
{
	check_stream(LIT("event: HEARTBEAT\ndata: \n\n"), "[][HEARTBEAT][]\n",
		     "", -1);
}

static void test_stop(void)
{
	struct sink k = { .stop_at = 2 };
	struct cfs_sse_parser *p = cfs_sse_new(collect, &k);

	CHECK(p);
	CHECK(cfs_sse_feed(p, LIT("data: a\n\nid: 1\ndata: b\n\n"
				  "data: c\n\n")) == 42);
	CHECK_STR(log_of(&k), "[][message][a]\n[1][message][b]\n");
	CHECK(cfs_sse_feed(p, LIT("data: d\n\n")) == 42);
	CHECK(k.events == 2);
	CHECK_STR(cfs_sse_last_id(p), "1");
	cfs_sse_free(p);
	cfs_buf_free(&k.log);
}

/* A data: line of len bytes, "data:" included, without its line end. */
static char *data_line(size_t len)
{
	char *s = malloc(len);

	CHECK(s);
	memset(s, 'x', len);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): no string */
	memcpy(s, "data:", 5);
	return s;
}

static void test_long_line(void)
{
	struct sink k = { 0 };
	struct cfs_sse_parser *p = cfs_sse_new(collect, &k);
	char *line = data_line(CFS_SSE_MAX_LINE);
	size_t i;

	CHECK(p);
	CHECK(cfs_sse_feed(p, line, CFS_SSE_MAX_LINE) == 0);
	CHECK(cfs_sse_feed(p, LIT("\n\n")) == 0);
	CHECK(k.events == 1);
	CHECK(k.log.len == strlen("[][message][]\n") + CFS_SSE_MAX_LINE - 5);
	for (i = 0; i < CFS_SSE_MAX_LINE; i += 4096)
		CHECK(cfs_sse_feed(p, line + i, 4096) == 0);
	CHECK(cfs_sse_feed(p, LIT("x")) == -E2BIG);
	CHECK(cfs_sse_feed(p, LIT("\n\n")) == -E2BIG);
	CHECK(k.events == 1);
	cfs_sse_free(p);
	cfs_buf_free(&k.log);
	free(line);
}

static void test_big_data(void)
{
	struct sink k = { 0 };
	struct cfs_sse_parser *p = cfs_sse_new(collect, &k);
	char *line = data_line(CFS_SSE_MAX_LINE);
	size_t total = 0;
	int i;

	CHECK(p);
	/* each line adds its value and a "\n" */
	for (i = 0; i < 8; i++) {
		CHECK(cfs_sse_feed(p, line, CFS_SSE_MAX_LINE) == 0);
		CHECK(cfs_sse_feed(p, LIT("\n")) == 0);
		total += CFS_SSE_MAX_LINE - 5 + 1;
	}
	CHECK(cfs_sse_feed(p, line, 5 + CFS_SSE_MAX_DATA - total - 1) == 0);
	CHECK(cfs_sse_feed(p, LIT("\n\n")) == 0);
	CHECK(k.log.len == strlen("[][message][]\n") + CFS_SSE_MAX_DATA - 1);
	for (i = 0; i < 8; i++) {
		CHECK(cfs_sse_feed(p, line, CFS_SSE_MAX_LINE) == 0);
		CHECK(cfs_sse_feed(p, LIT("\n")) == 0);
	}
	CHECK(cfs_sse_feed(p, line, 5 + CFS_SSE_MAX_DATA - total - 1) == 0);
	CHECK(cfs_sse_feed(p, LIT("\ndata\n")) == -E2BIG);
	CHECK(k.events == 1);
	cfs_sse_free(p);
	cfs_buf_free(&k.log);
	free(line);
}

static void test_partial_frame(void)
{
	struct sink k = { 0 };
	struct cfs_sse_parser *p = cfs_sse_new(collect, &k);

	CHECK(p);
	CHECK(cfs_sse_feed(p, LIT("data: a\n\ndata: b\n")) == 0);
	CHECK_STR(log_of(&k), "[][message][a]\n");
	CHECK(cfs_sse_feed(p, LIT("data: c")) == 0);
	CHECK(cfs_sse_feed(p, LIT("\n")) == 0);
	CHECK_STR(log_of(&k), "[][message][a]\n");
	CHECK(cfs_sse_feed(p, LIT("\n")) == 0);
	CHECK_STR(log_of(&k), "[][message][a]\n[][message][b\nc]\n");
	CHECK(cfs_sse_feed(p, LIT("data: d\n")) == 0);
	CHECK(k.events == 2);
	cfs_sse_free(p);
	cfs_buf_free(&k.log);
}

int main(void)
{
	test_simple();
	test_clever_stream();
	test_line_ends();
	test_data_lines();
	test_comments();
	test_unknown_fields();
	test_no_colon();
	test_no_space();
	test_ids();
	test_retry();
	test_bom();
	test_blank_lines();
	test_heartbeat();
	test_stop();
	test_long_line();
	test_big_data();
	test_partial_frame();
	return 0;
}
