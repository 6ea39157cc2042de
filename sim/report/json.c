/* json.c: lookups over jansson trees, and reading a file with the place of an error. */
#include <string.h>

#include "json.h"

json_t *json_read_file(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		/* line 0 or below: the file could not be read at all (jansson says why) */
		if (je.line > 0)
			snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		else
			snprintf(err, errlen, "%s: %s", path, je.text);
	}
	return j;
}

const json_t *json_path(const json_t *j, const char *key)
{
	while (j && key) {
		if (!json_is_object(j))
			return NULL;
		const char *dot = strchr(key, '.');
		size_t n = dot ? (size_t)(dot - key) : strlen(key);
		j = json_object_getn(j, key, n);
		key = dot ? dot + 1 : NULL;
	}
	return j;
}

double json_num_at(const json_t *j, const char *key, double fallback)
{
	const json_t *v = key ? json_path(j, key) : j;
	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? 1 : 0;
	return fallback;
}

const char *json_str_at(const json_t *j, const char *key, const char *fallback)
{
	const json_t *v = key ? json_path(j, key) : j;
	return json_is_string(v) ? json_string_value(v) : fallback;
}
