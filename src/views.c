/*
 * views.c - the generic writers of view files (views.h): CSV rows, amounts,
 * months and the SVG bar chart.
 */
#include "views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CSV ----------------------------------------------------------- */

static int csv_field(struct cfs_buf *out, const char *s)
{
	const char *p;
	int rc;

	if (!strpbrk(s, ",\"\r\n"))
		return cfs_buf_append(out, s, strlen(s));
	rc = cfs_buf_append(out, "\"", 1);
	for (p = s; *p && !rc; p++)
		rc = *p == '"' ? cfs_buf_append(out, "\"\"", 2)
			       : cfs_buf_append(out, p, 1);
	return rc ? rc : cfs_buf_append(out, "\"", 1);
}

int cfs_csv_row(struct cfs_buf *out, const char *const *field, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		if (i)
			rc = cfs_buf_append(out, ",", 1);
		if (!rc)
			rc = csv_field(out, field[i] ? field[i] : "");
	}
	return rc ? rc : cfs_buf_append(out, "\r\n", 2);
}

/* ---- numbers ------------------------------------------------------- */

static void dump_number(json_t *num, size_t flags, char out[32])
{
	char *text = json_dumps(num, JSON_ENCODE_ANY | flags);

	snprintf(out, 32, "%s", text ? text : "");
	free(text);
}

void cfs_view_number(json_t *num, char out[32])
{
	int digits;

	out[0] = '\0';
	if (json_is_integer(num)) {
		dump_number(num, 0, out);
		return;
	}
	if (!json_is_real(num))
		return;
	/* jansson's default, 17 digits, prints 0.1 as 0.10000000000000001 */
	for (digits = 1; digits <= 17; digits++) {
		dump_number(num, JSON_REAL_PRECISION(digits), out);
		if (strtod(out, NULL) == json_real_value(num))
			return;
	}
}

/* Decimals of a printed number; -1 for an exponent form. */
static int decimals_of(const char *text)
{
	const char *dot = strchr(text, '.');

	if (strpbrk(text, "eE"))
		return -1;
	return dot ? (int)strlen(dot + 1) : 0;
}

void cfs_amount_add(struct cfs_amount *a, json_t *num)
{
	char text[32];
	int decimals;

	if (!json_is_number(num))
		return;
	cfs_view_number(num, text);
	decimals = decimals_of(text);
	if (decimals < 0 || a->decimals < 0)
		a->decimals = -1;
	else if (decimals > a->decimals)
		a->decimals = decimals;
	a->value += json_number_value(num);
}

void cfs_amount_print(const struct cfs_amount *a, char out[32])
{
	json_t *sum;

	if (a->decimals >= 0) {
		snprintf(out, 32, "%.*f", a->decimals, a->value);
		return;
	}
	sum = json_real(a->value);
	cfs_view_number(sum, out);
	json_decref(sum);
}

/* ---- months -------------------------------------------------------- */

void cfs_view_month(time_t now, int back, char out[16])
{
	struct tm tm;
	int m;

	gmtime_r(&now, &tm);
	m = tm.tm_year * 12 + tm.tm_mon - back;
	snprintf(out, 16, "%04d-%02d", 1900 + m / 12, m % 12 + 1);
}

/* ---- SVG ----------------------------------------------------------- */

#define SVG_W 960
#define SVG_H 420
#define PLOT_X 90.0 /* the y axis, right of its tick labels */
#define PLOT_Y 70.0 /* the plot's top, below the title */
#define PLOT_W 850.0
#define PLOT_H 280.0
#define TICKS 4
#define BAR_FILL "#4c78a8"

/* XML 1.0 has no place for other control characters: they are left out. */
static int xml_escape(struct cfs_buf *out, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			rc = cfs_buf_append(out, "&amp;", 5);
		else if (c == '<')
			rc = cfs_buf_append(out, "&lt;", 4);
		else if (c == '>')
			rc = cfs_buf_append(out, "&gt;", 4);
		else if (c == '"')
			rc = cfs_buf_append(out, "&quot;", 6);
		else if (c >= 0x20 || c == '\t' || c == '\n')
			rc = cfs_buf_append(out, s, 1);
	}
	return rc;
}

static int svg_text(struct cfs_buf *out, double x, double y, const char *attrs,
		    const char *text)
{
	int rc = cfs_buf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y,
				attrs);

	if (!rc)
		rc = xml_escape(out, text);
	return rc ? rc : cfs_buf_append(out, "</text>\n", 8);
}

/* The top of the y axis: 1, 2 or 5 times a power of ten, >= max. */
static double axis_top(double max)
{
	double step = 1.0;

	if (max <= 0)
		return 1.0;
	while (step < max)
		step *= 10;
	while (step / 10 >= max)
		step /= 10;
	if (step / 5 >= max)
		return step / 5;
	if (step / 2 >= max)
		return step / 2;
	return step;
}

static int svg_axes(struct cfs_buf *out, const struct cfs_chart *c, double top)
{
	char tick[32];
	int rc;
	int i;

	rc = cfs_buf_printf(out,
			    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			    "y2=\"%.1f\" stroke=\"black\"/>\n"
			    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			    "y2=\"%.1f\" stroke=\"black\"/>\n",
			    PLOT_X, PLOT_Y, PLOT_X, PLOT_Y + PLOT_H, PLOT_X,
			    PLOT_Y + PLOT_H, PLOT_X + PLOT_W, PLOT_Y + PLOT_H);
	for (i = 0; i <= TICKS && !rc; i++) {
		double y = PLOT_Y + PLOT_H - PLOT_H * i / TICKS;

		snprintf(tick, sizeof(tick), "%g", top * i / TICKS);
		rc = svg_text(out, PLOT_X - 6, y + 4,
			      "font-size=\"11\" text-anchor=\"end\"", tick);
	}
	if (!rc)
		rc = svg_text(out, PLOT_X - 6, PLOT_Y - 12,
			      "font-size=\"12\" text-anchor=\"end\"", c->unit);
	return rc;
}

static int svg_bar(struct cfs_buf *out, const struct cfs_chart *c, size_t i,
		   double top)
{
	double slot = PLOT_W / (double)c->n;
	double value = c->value[i] > 0 ? c->value[i] : 0;
	double h = PLOT_H * value / top;
	double x = PLOT_X + slot * (double)i;
	int rc;

	rc = cfs_buf_printf(out,
			    "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
			    "width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			    "<title>",
			    x + slot * 0.15, PLOT_Y + PLOT_H - h, slot * 0.7,
			    h, BAR_FILL);
	if (!rc)
		rc = xml_escape(out, c->label[i]);
	if (!rc)
		rc = cfs_buf_append(out, ": ", 2);
	if (!rc)
		rc = xml_escape(out, c->value_text[i]);
	if (!rc)
		rc = cfs_buf_append(out, " ", 1);
	if (!rc)
		rc = xml_escape(out, c->unit);
	if (!rc)
		rc = cfs_buf_append(out, "</title></rect>\n", 16);
	if (!rc)
		rc = svg_text(out, x + slot / 2, PLOT_Y + PLOT_H - h - 4,
			      "font-size=\"10\" text-anchor=\"middle\"",
			      c->value_text[i]);
	if (!rc)
		rc = svg_text(out, x + slot / 2, PLOT_Y + PLOT_H + 18,
			      "font-size=\"11\" text-anchor=\"middle\"",
			      c->label[i]);
	return rc;
}

int cfs_svg_bar_chart(const struct cfs_chart *c, struct cfs_buf *out)
{
	double max = 0;
	double top;
	size_t i;
	int rc;

	for (i = 0; i < c->n; i++)
		if (c->value[i] > max)
			max = c->value[i];
	top = axis_top(max);
	rc = cfs_buf_printf(out,
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			    "<svg xmlns=\"http://www.w3.org/2000/svg\" "
			    "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
			    "font-family=\"sans-serif\">\n"
			    "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
			    SVG_W, SVG_H, SVG_W, SVG_H, SVG_W, SVG_H);
	if (!rc)
		rc = svg_text(out, SVG_W / 2.0, 32,
			      "font-size=\"18\" text-anchor=\"middle\"",
			      c->title);
	if (!rc)
		rc = svg_axes(out, c, top);
	for (i = 0; i < c->n && !rc; i++)
		rc = svg_bar(out, c, i, top);
	return rc ? rc : cfs_buf_append(out, "</svg>\n", 7);
}
