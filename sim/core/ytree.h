/* ytree.h: a YAML document as a small tree that remembers where each node
 * starts, and the one-line messages that point into it.
 *
 * The scenario loader (scenario.c) and the link profile loader (link.c)
 * read their files through this: libyaml's event parser builds the tree,
 * aliases, NUL characters, a second document and nesting deeper than
 * YTREE_DEPTH_MAX are refused, and the first error becomes the one message
 *   FILE:LINE:COL: KEY: what was expected, got "..."
 * Checking the tree against a key table is the caller's.
 *
 * Ownership: ytree_read() leaves r->root allocated, or NULL for an empty
 * stream or on error; the caller always releases it with ytree_free(), which
 * accepts NULL.
 */
#ifndef DORMANT_YTREE_H
#define DORMANT_YTREE_H

#include <stddef.h>

#include "error.h"

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

struct ynode {
	enum ynode_kind kind;
	unsigned long line, col;  /* 1-based start */
	char *text;               /* scalar: the value, NUL-terminated */
	struct ynode **child;     /* sequence: items; mapping: key, value, key, value, ... */
	size_t nchild, cap;
};

/* One file being read. The caller fills the first block; rc stays ERR_OK
 * until the first error, whose message is then in err. */
struct yreader {
	const char *path;         /* in messages only */
	const char *text;
	size_t len;
	const char *what;         /* "scenario": "empty file, expected a mapping of scenario keys" */
	const char *required;     /* the required top-level keys, for that message */
	char *err;                /* may be NULL */
	size_t errlen;

	enum dormant_err rc;
	struct ynode *root;
	void *parser_;            /* libyaml's, during ytree_read() only */
};

#define YTREE_DEPTH_MAX 16    /* YAML nesting; a valid scenario needs 4 */

/* Parses the one document of r->text into r->root. Returns 0, or -1 with
 * r->rc and the message set. An empty stream is an error too (naming
 * r->required). */
int ytree_read(struct yreader *r);
void ytree_free(struct ynode *n);

/* Records the first error: "PATH:LINE:COL: KEY: message" (no KEY part when
 * key is NULL) with rc ERR_SCENARIO. Later calls are ignored. Returns -1. */
int ytree_fail(struct yreader *r, unsigned long line, unsigned long col, const char *key,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same, for a node. */
#define ytree_fail_at(r, node, key, ...) ytree_fail((r), (node)->line, (node)->col, (key), __VA_ARGS__)
/* Records MSG as it is, with RC: another file's message (a link profile's
 * named by a scenario). Later calls are ignored. Returns -1. */
int ytree_fail_as_is(struct yreader *r, enum dormant_err rc, const char *msg);
/* Records "PATH: out of memory" with rc ERR_NOMEM. Returns -1. */
int ytree_nomem(struct yreader *r);

/* The contents of the regular file PATH (a FIFO or a device would block or
 * never end), at most MAX bytes, NUL-terminated after *len bytes; the caller
 * frees it. NULL on error, with *rc (ERR_SCENARIO or ERR_NOMEM) and the
 * message in errbuf: "PATH: cannot open: ...", "PATH: not a regular file (a
 * directory); WHAT is a YAML file". WHAT is "a scenario", "a link profile". */
char *ytree_slurp(const char *path, const char *what, size_t max, size_t *len,
                  enum dormant_err *rc, char *errbuf, size_t errlen);

/* The directory of the file PATH, for paths relative to it ("." for a bare
 * file name, "/" for one at the root). */
void ytree_dir(const char *path, char *buf, size_t n);

#define YTREE_QUOTE_MAX 60    /* characters of a value shown in a message */
#define YTREE_PRINTABLE_SIZE (YTREE_QUOTE_MAX * 4 + 8)
#define YTREE_QUOTED_SIZE (YTREE_PRINTABLE_SIZE + 2)

/* TEXT made printable and bounded, for a one-line message: control and
 * non-ASCII bytes become \xNN, a long value ends in "...". buf holds
 * YTREE_PRINTABLE_SIZE. */
const char *ytree_printable(const char *text, char *buf, size_t n);
/* The same in double quotes, for "got ...": buf holds YTREE_QUOTED_SIZE. */
const char *ytree_quoted(const char *text, char *buf, size_t n);
/* What a node is, for "got ...": the quoted value of a scalar, else "a
 * sequence" or "a mapping". */
const char *ytree_describe(const struct ynode *n, char *buf, size_t len);

#endif
