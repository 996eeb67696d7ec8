/* Unit tests of the renderers: exact bytes for each format. */
#include "check.h"
#include "render.h"

static void check_render(enum cfs_render how, const char *json,
			 const char *want)
{
	json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
	struct cfs_blob *b;

	CHECK(j);
	b = cfs_render(how, j);
	CHECK(b);
	CHECK(b->len == strlen(want));
	CHECK_STR(b->data, want);
	cfs_blob_unref(b);
	json_decref(j);
}

int main(void)
{
	json_t *obj = json_object();

	check_render(CFS_RENDER_JSON, "{\"b\": 1, \"a\": [true]}",
		     "{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}\n");
	check_render(CFS_RENDER_LABELS,
		     "[{\"key\": \"env\", \"value\": \"dev\"},"
		     " {\"key\": \"k\", \"value\": \"a=b c\"}]",
		     "env=dev\nk=a=b c\n");
	check_render(CFS_RENDER_LABELS, "[]", "");
	check_render(CFS_RENDER_LINES, "[\"billing\", \"technical\"]",
		     "billing\ntechnical\n");
	check_render(CFS_RENDER_SCALAR, "\"UTC\"", "UTC\n");
	check_render(CFS_RENDER_SCALAR, "9972.5", "9972.5\n");
	check_render(CFS_RENDER_JSON, "[0.85704, 9972.2324]",
		     "[\n  0.85704,\n  9972.2324\n]\n");
	check_render(CFS_RENDER_SCALAR, "null", "\n");
	/* shapes a renderer cannot use are refused, not guessed */
	CHECK(cfs_render(CFS_RENDER_LABELS, obj) == NULL);
	CHECK(cfs_render(CFS_RENDER_LINES, obj) == NULL);
	CHECK(cfs_render(CFS_RENDER_JSON, NULL) == NULL);
	json_decref(obj);
	return 0;
}
