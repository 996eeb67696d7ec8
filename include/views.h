/*
 * views.h - the generic writers of view files, the files the API has no
 * single call for (README "The Clever Cloud tree", "The UpCloud tree"):
 * RFC 4180 CSV rows, API amounts printed and summed without float noise,
 * the months of a chart, and an SVG bar chart.
 *
 * Which fields and which months a view shows is its provider's business;
 * a row names its view function (tree.h, cfs_view_fn).
 */
#ifndef CFS_VIEWS_H
#define CFS_VIEWS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "util.h"

/* The months of a chart, and of UpCloud's billing/: now's and 12 before. */
#define CFS_VIEW_MONTHS 13

/* One CSV row of n fields (NULL: empty), CRLF-terminated; a field is
 * quoted only if it holds a comma, a quote, a CR or a LF. */
int cfs_csv_row(struct cfs_buf *out, const char *const *field, size_t n);

/* A JSON number in the shortest form that reads back as the same double
 * (12.34, 5.0, 7); "" for anything but a number. */
void cfs_view_number(json_t *num, char out[32]);

/*
 * A sum of API amounts, printed with the largest count of decimals its
 * terms were printed with: 12.34 + 2.468 is 14.808, never
 * 14.808000000000002.
 */
struct cfs_amount {
	double value;
	int decimals;
};

/* Adds num (a JSON number; anything else adds nothing). */
void cfs_amount_add(struct cfs_amount *a, json_t *num);
void cfs_amount_print(const struct cfs_amount *a, char out[32]);

/* "YYYY-MM" of the month `back` months before the month of now (UTC). */
void cfs_view_month(time_t now, int back, char out[16]);

/* A bar chart: one bar per label, oldest first, each with its value
 * printed (value_text) above it and in its <title>. */
struct cfs_chart {
	const char *title;
	const char *unit; /* the y axis' name: a currency */
	size_t n;
	const char *const *label;
	const double *value;
	const char *const *value_text;
};

/* The chart as a standalone SVG document; text is XML-escaped. */
int cfs_svg_bar_chart(const struct cfs_chart *c, struct cfs_buf *out);

#endif
