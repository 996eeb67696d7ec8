/* Unit tests of the view writers: CSV quoting, amounts, months, SVG. */
#include "check.h"
#include "views.h"

static void check_row(const char *const *field, size_t n, const char *want)
{
	struct cfs_buf b = { 0 };

	CHECK(cfs_csv_row(&b, field, n) == 0);
	CHECK(b.len == strlen(want));
	CHECK_STR(b.data, want);
	cfs_buf_free(&b);
}

static void check_csv(void)
{
	check_row((const char *[]){ "a", "b c", NULL }, 3, "a,b c,\r\n");
	check_row((const char *[]){ "x,y", "say \"hi\"", "l1\nl2", "r\r" }, 4,
		  "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"r\r\"\r\n");
	check_row((const char *[]){ "" }, 1, "\r\n");
}

static void check_number(const char *json, const char *want)
{
	json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
	char out[32];

	CHECK(j);
	cfs_view_number(j, out);
	CHECK_STR(out, want);
	json_decref(j);
}

static void check_sum(const char *a, const char *b, const char *want)
{
	json_t *x = json_loads(a, JSON_DECODE_ANY, NULL);
	json_t *y = json_loads(b, JSON_DECODE_ANY, NULL);
	struct cfs_amount sum = { 0 };
	char out[32];

	cfs_amount_add(&sum, x);
	cfs_amount_add(&sum, y);
	cfs_amount_print(&sum, out);
	CHECK_STR(out, want);
	json_decref(x);
	json_decref(y);
}

static void check_amounts(void)
{
	struct cfs_amount none = { 0 };
	char out[32];

	check_number("0.1", "0.1");
	check_number("12.34", "12.34");
	check_number("5.0", "5.0");
	check_number("7", "7");
	check_number("\"7\"", "");
	check_sum("12.34", "2.468", "14.808");
	check_sum("0.1", "0.2", "0.3");
	check_sum("5.0", "1", "6.0");
	check_sum("3", "4", "7");
	check_sum("1.5", "null", "1.5");
	cfs_amount_print(&none, out);
	CHECK_STR(out, "0");
}

static void check_months(void)
{
	char m[16];
	time_t mar = 1772323200; /* 2026-03-01T00:00:00Z */

	cfs_view_month(mar, 0, m);
	CHECK_STR(m, "2026-03");
	cfs_view_month(mar, 2, m);
	CHECK_STR(m, "2026-01");
	cfs_view_month(mar, 12, m);
	CHECK_STR(m, "2025-03");
	cfs_view_month(mar - 1, 0, m);
	CHECK_STR(m, "2026-02");
}

static void check_svg(void)
{
	const char *label[] = { "2026-01", "2026-02" };
	const char *text[] = { "0", "2.5" };
	double value[] = { 0, 2.5 };
	struct cfs_chart c = { "R&D <\"x\">", "EUR", 2, label, value, text };
	struct cfs_buf b = { 0 };

	CHECK(cfs_svg_bar_chart(&c, &b) == 0);
	CHECK(strncmp(b.data, "<?xml", 5) == 0);
	CHECK(strstr(b.data, ">R&amp;D &lt;&quot;x&quot;&gt;</text>"));
	CHECK(strstr(b.data, "<title>2026-02: 2.5 EUR</title>"));
	/* 2.5 on an axis topped at 5: half the plot's 280 */
	CHECK(strstr(b.data, "height=\"140.0\""));
	CHECK(strstr(b.data, "height=\"0.0\""));
	CHECK(strcmp(b.data + b.len - 7, "</svg>\n") == 0);
	cfs_buf_free(&b);
}

int main(void)
{
	check_csv();
	check_amounts();
	check_months();
	check_svg();
	return 0;
}
