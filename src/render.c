/*
 * render.c - JSON pretty-printing and the line formats (labels, roles,
 * single values).
 */
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * 15 significant digits print a real the way the API wrote it (0.85704,
 * not 0.85704000000000002) for every value written with 15 or fewer.
 */
#define REAL_DIGITS JSON_REAL_PRECISION(15)

static struct cfs_blob *render_json(json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY |
					   REAL_DIGITS);
	struct cfs_buf b = { 0 };

	if (!text)
		return NULL;
	if (cfs_buf_append(&b, text, strlen(text)) ||
	    cfs_buf_append(&b, "\n", 1)) {
		free(text);
		cfs_buf_free(&b);
		return NULL;
	}
	free(text);
	return cfs_buf_to_blob(&b);
}

/* A value on one line: strings as they are, anything else as JSON. */
static int append_scalar(struct cfs_buf *b, json_t *j)
{
	char *text;
	int rc;

	if (json_is_string(j))
		return cfs_buf_append(b, json_string_value(j),
				      json_string_length(j));
	if (json_is_null(j))
		return 0;
	text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | REAL_DIGITS);
	if (!text)
		return -1;
	rc = cfs_buf_append(b, text, strlen(text));
	free(text);
	return rc;
}

static struct cfs_blob *render_labels(json_t *j)
{
	struct cfs_buf b = { 0 };
	json_t *label;
	size_t i;

	if (!json_is_array(j))
		return NULL;
	json_array_foreach(j, i, label) {
		if (append_scalar(&b, json_object_get(label, "key")) ||
		    cfs_buf_append(&b, "=", 1) ||
		    append_scalar(&b, json_object_get(label, "value")) ||
		    cfs_buf_append(&b, "\n", 1)) {
			cfs_buf_free(&b);
			return NULL;
		}
	}
	return cfs_buf_to_blob(&b);
}

static struct cfs_blob *render_lines(json_t *j)
{
	struct cfs_buf b = { 0 };
	json_t *v;
	size_t i;

	if (!json_is_array(j))
		return NULL;
	json_array_foreach(j, i, v) {
		if (append_scalar(&b, v) || cfs_buf_append(&b, "\n", 1)) {
			cfs_buf_free(&b);
			return NULL;
		}
	}
	return cfs_buf_to_blob(&b);
}

static struct cfs_blob *render_scalar(json_t *j)
{
	struct cfs_buf b = { 0 };

	if (!j || append_scalar(&b, j) || cfs_buf_append(&b, "\n", 1)) {
		cfs_buf_free(&b);
		return NULL;
	}
	return cfs_buf_to_blob(&b);
}

struct cfs_blob *cfs_render(enum cfs_render how, json_t *j)
{
	if (!j)
		return NULL;
	switch (how) {
	case CFS_RENDER_JSON:
		return render_json(j);
	case CFS_RENDER_LABELS:
		return render_labels(j);
	case CFS_RENDER_LINES:
		return render_lines(j);
	case CFS_RENDER_SCALAR:
		return render_scalar(j);
	case CFS_RENDER_RAW:
		break;
	}
	return NULL;
}
