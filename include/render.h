/*
 * render.h - turning API JSON into the bytes of a file.
 *
 * Rendering is deterministic: the same JSON always gives the same bytes,
 * so a size reported by stat holds for every later read of that version.
 */
#ifndef CFS_RENDER_H
#define CFS_RENDER_H

#include <jansson.h>

#include "tree.h"
#include "util.h"

/* NULL if j does not have the shape the renderer needs. */
struct cfs_blob *cfs_render(enum cfs_render how, json_t *j);

#endif
