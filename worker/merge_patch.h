/*
 * merge_patch.h - JSON merge patch (RFC 7386) over json-c values.
 */
#ifndef BATCHD_MERGE_PATCH_H
#define BATCHD_MERGE_PATCH_H

#include <json-c/json.h>

/*
 * Apply patch to *target in place, as RFC 7386 section 2 defines it: an
 * object patch merges member by member (null removes a member, a nested
 * object merges recursively), anything else replaces the target.  *target
 * may be NULL (JSON null or absent) and may be replaced; the caller keeps
 * its reference to patch, and parts of patch may end up shared (not
 * copied) inside *target.  Returns 0, or -1 when memory ran out (*target
 * is then partly patched but still a valid value the caller must put).
 */
int	merge_patch_apply(json_object **target, json_object *patch);

#endif
