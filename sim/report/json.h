/* json.h: dormant's own JSON files (summary.json, env.json) read back for
 * plots, the report and compare, over libjansson. (The runtime writes them
 * with jansson directly: sim/results.c, sim/rundir.c.)
 *
 * Lookups on a NULL node or a node of the wrong type return the fallback,
 * so a reader asks for what it wants and gets "absent" for a file of an
 * older or newer format instead of an error. Objects keep their members in
 * file order (jansson keeps insertion order), which the report shows.
 *
 * Ownership: json_read_file returns a tree the caller frees with
 * json_decref; every node and string a lookup returns belongs to that tree.
 */
#ifndef DORMANT_JSON_H
#define DORMANT_JSON_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Reads and parses PATH; NULL when it is missing or invalid, with
 * "PATH:LINE:COL: message" (or "PATH: why") in ERR. */
json_t *json_read_file(const char *path, char *err, size_t errlen);

/* Member KEY of an object; a '.' in KEY descends ("cpu.library_threads_ms"). */
const json_t *json_path(const json_t *j, const char *key);
/* The number at KEY (NULL: J itself; true and false are 1 and 0), or FALLBACK. */
double json_num_at(const json_t *j, const char *key, double fallback);
/* The string at KEY (NULL: J itself), or FALLBACK. */
const char *json_str_at(const json_t *j, const char *key, const char *fallback);

#endif
