/*
 * Unit tests of the date parsers, numbers with units, the growable
 * buffer and the path helpers.
 */
#include "check.h"
#include "util.h"

static void test_iso8601(void)
{
	time_t t;
	char out[32];

	CHECK(cfs_parse_iso8601("2026-07-01T00:00:00Z", &t) == 0);
	CHECK(t == 1782864000);
	CHECK(cfs_parse_iso8601("2026-07-01T02:00:00+02:00", &t) == 0);
	CHECK(t == 1782864000);
	CHECK(cfs_parse_iso8601("2026-07-01T00:00:00.123456Z", &t) == 0);
	CHECK(t == 1782864000);
	CHECK(cfs_parse_iso8601("2026-06-30T19:00:00-0500", &t) == 0);
	CHECK(t == 1782864000);
	CHECK(cfs_parse_iso8601("2026-07-01T05:30:00+0530", &t) == 0);
	CHECK(t == 1782864000);
	CHECK(cfs_parse_iso8601("yesterday", &t) != 0);
	cfs_iso8601(1782864000, out);
	CHECK_STR(out, "2026-07-01T00:00:00Z");
}

static void test_month(void)
{
	time_t first;
	time_t last;

	CHECK(cfs_parse_month("2024-02", &first, &last) == 0);
	CHECK(last - first + 1 == 29 * 86400);
	CHECK(cfs_parse_month("2025-12", &first, &last) == 0);
	CHECK(last - first + 1 == 31 * 86400);
	CHECK(cfs_parse_month("2025-13", &first, &last) != 0);
	CHECK(cfs_parse_month("2025-00", &first, &last) != 0);
	CHECK(cfs_parse_month("2025-1", &first, &last) != 0);
	CHECK(cfs_parse_month("2025-011", &first, &last) != 0);
	CHECK(cfs_parse_month("2025/01", &first, &last) != 0);
	CHECK(cfs_parse_month("+025-01", &first, &last) != 0);
}

static void test_scaled(void)
{
	static const struct cfs_unit seconds[] = {
		{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { NULL, 0 }
	};
	unsigned long long v;

	CHECK(cfs_parse_scaled("90", seconds, 86400, &v) == 0 && v == 90);
	CHECK(cfs_parse_scaled("90s", seconds, 86400, &v) == 0 && v == 90);
	CHECK(cfs_parse_scaled("5m", seconds, 86400, &v) == 0 && v == 300);
	CHECK(cfs_parse_scaled("1h", seconds, 86400, &v) == 0 && v == 3600);
	CHECK(cfs_parse_scaled("0m", seconds, 86400, &v) == 0 && v == 0);
	CHECK(cfs_parse_scaled("24h", seconds, 86400, &v) == 0 && v == 86400);
	/* past max, before and after scaling */
	CHECK(cfs_parse_scaled("86401", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("25h", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("99999999999999999999", seconds, ~0ULL, &v) !=
	      0);
	CHECK(cfs_parse_scaled("5000000000000000000h", seconds, ~0ULL, &v) !=
	      0);
	/* what strtoull would take, and what no unit is */
	CHECK(cfs_parse_scaled("", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("s", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled(" 5", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("-5", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("+5", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("5 m", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("5M", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("5ms", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("1.5h", seconds, 86400, &v) != 0);
	CHECK(cfs_parse_scaled("0x10", seconds, 86400, &v) != 0);
}

static void test_buf(void)
{
	struct cfs_buf b = { 0 };
	struct cfs_blob *blob;
	int i;

	for (i = 0; i < 1000; i++)
		CHECK(cfs_buf_printf(&b, "%d,", i) == 0);
	CHECK(b.len == 3890);
	blob = cfs_buf_to_blob(&b);
	CHECK(blob && blob->len == 3890 && b.data == NULL);
	CHECK(strncmp(blob->data, "0,1,2,", 6) == 0);
	/* the bytes' fingerprint, the same every time it is asked */
	CHECK(cfs_blob_fingerprint(blob) == cfs_fingerprint(blob->data, 3890));
	CHECK(blob->fingerprint == cfs_fingerprint(blob->data, 3890));
	CHECK(cfs_blob_fingerprint(blob) == blob->fingerprint);
	CHECK(cfs_blob_ref(blob) == blob);
	cfs_blob_unref(blob);
	cfs_blob_unref(blob);
}

static void test_paths(void)
{
	char *s;

	s = cfs_path_parent("orgs/o1/apps");
	CHECK_STR(s, "orgs/o1");
	free(s);
	s = cfs_path_parent("orgs");
	CHECK_STR(s, "");
	free(s);
	s = cfs_path_join("orgs/o1", "apps");
	CHECK_STR(s, "orgs/o1/apps");
	free(s);
	s = cfs_path_join("", "orgs");
	CHECK_STR(s, "orgs");
	free(s);
}

int main(void)
{
	test_iso8601();
	test_month();
	test_scaled();
	test_buf();
	test_paths();
	return 0;
}
