/*
 * merge_patch.c - JSON merge patch (RFC 7386).
 *
 * A direct transcription of the MergePatch() pseudo-code of RFC 7386
 * section 2.  json-c represents JSON null as a NULL json_object pointer,
 * which is also how a missing member reads, so "Name exists in Target"
 * is asked of the object itself.
 */
#include "merge_patch.h"

int
merge_patch_apply(json_object **target, json_object *patch)
{
	struct json_object_iter	 it;
	json_object		*t, *cur;

	if (!json_object_is_type(patch, json_type_object)) {
		json_object_put(*target);
		*target = json_object_get(patch);
		return 0;
	}
	if (!json_object_is_type(*target, json_type_object)) {
		if ((t = json_object_new_object()) == NULL)
			return -1;
		json_object_put(*target);
		*target = t;
	}
	json_object_object_foreachC(patch, it) {
		if (it.val == NULL) {
			json_object_object_del(*target, it.key);
			continue;
		}
		/* Hold our own reference: merging may replace the member. */
		cur = NULL;
		json_object_object_get_ex(*target, it.key, &cur);
		json_object_get(cur);
		if (merge_patch_apply(&cur, it.val) == -1 ||
		    json_object_object_add(*target, it.key, cur) == -1) {
			json_object_put(cur);
			return -1;
		}
	}
	return 0;
}
