/* ytree.c: a YAML document to a tree of located nodes (see ytree.h). */
#include "ytree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

void ytree_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nchild; i++)
		ytree_free(n->child[i]);
	free(n->child);
	free(n->text);
	free(n);
}

/* ---- Messages ------------------------------------------------------- */

const char *ytree_printable(const char *text, char *buf, size_t n)
{
	size_t o = 0, shown = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (shown == YTREE_QUOTE_MAX) {
			o += (size_t)snprintf(buf + o, n - o, "...");
			break;
		}
		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
			buf[o++] = (char)*p;
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", *p);
		shown++;
	}
	buf[o] = '\0';
	return buf;
}

/* TEXT, printable, in double quotes: for "got ..." */
const char *ytree_quoted(const char *text, char *buf, size_t n)
{
	char p[YTREE_PRINTABLE_SIZE];
	snprintf(buf, n, "\"%s\"", ytree_printable(text, p, sizeof p));
	return buf;
}

int ytree_fail(struct yreader *ld, unsigned long line, unsigned long col, const char *key,
               const char *fmt, ...)
{
	if (ld->rc != ERR_OK)
		return -1;
	ld->rc = ERR_SCENARIO;
	if (!ld->err || ld->errlen == 0)
		return -1;

	char msg[1024], keybuf[YTREE_PRINTABLE_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (key)
		snprintf(ld->err, ld->errlen, "%s:%lu:%lu: %s: %s", ld->path, line, col,
		         ytree_printable(key, keybuf, sizeof keybuf), msg);
	else
		snprintf(ld->err, ld->errlen, "%s:%lu:%lu: %s", ld->path, line, col, msg);
	return -1;
}

int ytree_fail_as_is(struct yreader *ld, enum dormant_err rc, const char *msg)
{
	if (ld->rc != ERR_OK)
		return -1;
	ld->rc = rc;
	if (ld->err && ld->errlen)
		snprintf(ld->err, ld->errlen, "%s", msg);
	return -1;
}

int ytree_nomem(struct yreader *ld)
{
	if (ld->rc == ERR_OK) {
		ld->rc = ERR_NOMEM;
		if (ld->err && ld->errlen)
			snprintf(ld->err, ld->errlen, "%s: out of memory", ld->path);
	}
	return -1;
}

/* What a node is, for "got ...": the quoted value of a scalar, else its kind. */
const char *ytree_describe(const struct ynode *n, char *buf, size_t len)
{
	switch (n->kind) {
	case YNODE_SEQUENCE:
		return "a sequence";
	case YNODE_MAPPING:
		return "a mapping";
	case YNODE_SCALAR:
		break;
	}
	return ytree_quoted(n->text, buf, len);
}

/* ---- YAML events to a tree ------------------------------------------ */

/* Line and column (1-based, in bytes) of byte OFFSET of the input. */
static void offset_mark(const struct yreader *ld, size_t offset, unsigned long *line,
                        unsigned long *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < offset && i < ld->len; i++) {
		if (ld->text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int fail_yaml(struct yreader *ld)
{
	const yaml_parser_t *p = ld->parser_;
	unsigned long line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return ytree_nomem(ld);
	case YAML_READER_ERROR:
		offset_mark(ld, p->problem_offset, &line, &col);
		return ytree_fail(ld, line, col, NULL, "not valid UTF-8 text: %s",
		                 p->problem ? p->problem : "unreadable input");
	default:
		line = (unsigned long)p->problem_mark.line + 1;
		col = (unsigned long)p->problem_mark.column + 1;
		if (p->context)
			return ytree_fail(ld, line, col, NULL, "YAML syntax error: %s (%s starting at %lu:%lu)",
			                 p->problem ? p->problem : "unknown problem", p->context,
			                 (unsigned long)p->context_mark.line + 1,
			                 (unsigned long)p->context_mark.column + 1);
		return ytree_fail(ld, line, col, NULL, "YAML syntax error: %s",
		                 p->problem ? p->problem : "unknown problem");
	}
}

static int next_event(struct yreader *ld, yaml_event_t *ev)
{
	if (!yaml_parser_parse(ld->parser_, ev))
		return fail_yaml(ld);
	return 0;
}

/* A node for the event EV, appended to PARENT (or made the root). */
static struct ynode *add_node(struct yreader *ld, struct ynode *parent, enum ynode_kind kind,
                             const yaml_event_t *ev)
{
	struct ynode *n = calloc(1, sizeof *n);
	if (!n) {
		ytree_nomem(ld);
		return NULL;
	}
	n->kind = kind;
	n->line = (unsigned long)ev->start_mark.line + 1;
	n->col = (unsigned long)ev->start_mark.column + 1;
	if (!parent) {
		ld->root = n;
		return n;
	}
	if (parent->nchild == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **c = realloc(parent->child, cap * sizeof *c);
		if (!c) {
			free(n);
			ytree_nomem(ld);
			return NULL;
		}
		parent->child = c;
		parent->cap = cap;
	}
	parent->child[parent->nchild++] = n;
	return n;
}

/* Reads the node that starts with EV (owned by the caller) and everything
 * in it into PARENT. */
static int read_node(struct yreader *ld, const yaml_event_t *ev, struct ynode *parent, int depth)
{
	struct ynode *n;
	yaml_event_type_t end;

	switch (ev->type) {
	case YAML_ALIAS_EVENT: {
		char p[YTREE_PRINTABLE_SIZE];
		return ytree_fail(ld, (unsigned long)ev->start_mark.line + 1,
		                 (unsigned long)ev->start_mark.column + 1, NULL,
		                 "aliases (*%s) are not supported, write the value out",
		                 ytree_printable((const char *)ev->data.alias.anchor, p, sizeof p));
	}
	case YAML_SCALAR_EVENT: {
		size_t len = ev->data.scalar.length;
		const char *v = (const char *)ev->data.scalar.value;
		if (memchr(v, '\0', len))
			return ytree_fail(ld, (unsigned long)ev->start_mark.line + 1,
			                 (unsigned long)ev->start_mark.column + 1, NULL,
			                 "values must not contain NUL characters");
		n = add_node(ld, parent, YNODE_SCALAR, ev);
		if (!n)
			return -1;
		n->text = malloc(len + 1);
		if (!n->text)
			return ytree_nomem(ld);
		memcpy(n->text, v, len);
		n->text[len] = '\0';
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
		n = add_node(ld, parent, YNODE_SEQUENCE, ev);
		end = YAML_SEQUENCE_END_EVENT;
		break;
	case YAML_MAPPING_START_EVENT:
		n = add_node(ld, parent, YNODE_MAPPING, ev);
		end = YAML_MAPPING_END_EVENT;
		break;
	default:
		return ytree_fail(ld, (unsigned long)ev->start_mark.line + 1,
		                 (unsigned long)ev->start_mark.column + 1, NULL,
		                 "unexpected YAML event");
	}
	if (!n)
		return -1;
	if (depth >= YTREE_DEPTH_MAX)
		return ytree_fail_at(ld, n, NULL, "nested deeper than %d levels", YTREE_DEPTH_MAX);

	for (;;) {
		yaml_event_t child;
		if (next_event(ld, &child) < 0)
			return -1;
		if (child.type == end) {
			yaml_event_delete(&child);
			return 0;
		}
		int rc = read_node(ld, &child, n, depth + 1);
		yaml_event_delete(&child);
		if (rc < 0)
			return -1;
	}
}

/* Reads the next event, which must be of TYPE (libyaml guarantees the
 * order of a good stream; this only guards it). */
static int expect_event(struct yreader *ld, yaml_event_type_t type)
{
	yaml_event_t ev;
	if (next_event(ld, &ev) < 0)
		return -1;
	int ok = ev.type == type;
	unsigned long line = (unsigned long)ev.start_mark.line + 1;
	unsigned long col = (unsigned long)ev.start_mark.column + 1;
	yaml_event_delete(&ev);
	if (!ok)
		return ytree_fail(ld, line, col, NULL, "unexpected YAML event");
	return 0;
}

/* The one document of the stream into ld->root. */
static int read_doc(struct yreader *ld)
{
	yaml_event_t ev;

	if (expect_event(ld, YAML_STREAM_START_EVENT) < 0)
		return -1;
	if (next_event(ld, &ev) < 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return ytree_fail(ld, 1, 1, NULL,
		                 "empty file, expected a mapping of %s keys (required: %s)",
		                  ld->what, ld->required);
	}
	yaml_event_delete(&ev); /* DOCUMENT_START */

	if (next_event(ld, &ev) < 0)
		return -1;
	int rc = read_node(ld, &ev, NULL, 0);
	yaml_event_delete(&ev);
	if (rc < 0)
		return -1;
	if (expect_event(ld, YAML_DOCUMENT_END_EVENT) < 0)
		return -1;

	if (next_event(ld, &ev) < 0)
		return -1;
	int more = ev.type == YAML_DOCUMENT_START_EVENT;
	unsigned long line = (unsigned long)ev.start_mark.line + 1;
	unsigned long col = (unsigned long)ev.start_mark.column + 1;
	yaml_event_delete(&ev);
	if (more)
		return ytree_fail(ld, line, col, NULL, "a %s file holds one YAML document, found a second",
		                  ld->what);
	return 0;
}
int ytree_read(struct yreader *ld)
{
	yaml_parser_t parser;

	ld->rc = ERR_OK;
	ld->root = NULL;
	if (ld->err && ld->errlen)
		ld->err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return ytree_nomem(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->len);
	ld->parser_ = &parser;
	int rc = read_doc(ld);
	ld->parser_ = NULL;
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- Files ---------------------------------------------------------- */

/* What a file that is not a regular file is, for the message. */
static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
	       : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

/* Opens PATH for reading only if it is a regular file: a FIFO or a device
 * would block or never end. The kind is checked before opening (opening a
 * FIFO blocks until a writer comes) and again on the descriptor (the path
 * may have changed in between). Returns the stream, or NULL with the
 * message in errbuf. */
static FILE *open_regular(const char *path, const char *what, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = -1;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		goto not_regular;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(saved));
		return NULL;
	}
	if (!S_ISREG(st.st_mode))
		goto not_regular;
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		int saved = errno;
		close(fd);
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(saved));
	}
	return f;

not_regular:
	if (fd >= 0)
		close(fd);
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s: not a regular file (%s); %s is a YAML file", path,
		         file_kind(st.st_mode), what);
	return NULL;
}

char *ytree_slurp(const char *path, const char *what, size_t max, size_t *len,
                  enum dormant_err *rc, char *errbuf, size_t errlen)
{
	*rc = ERR_SCENARIO;
	FILE *f = open_regular(path, what, errbuf, errlen);
	if (!f)
		return NULL;
	char *text = malloc(max + 1);
	if (!text) {
		fclose(f);
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: out of memory", path);
		*rc = ERR_NOMEM;
		return NULL;
	}
	size_t n = fread(text, 1, max + 1, f);
	int saved = errno;
	int bad = ferror(f);
	fclose(f);
	if (bad || n > max) {
		if (errbuf && errlen) {
			if (bad)
				snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(saved));
			else
				snprintf(errbuf, errlen, "%s: larger than %zuMiB, not %s file", path,
				         max >> 20, what);
		}
		free(text);
		return NULL;
	}
	text[n] = '\0';
	*len = n;
	*rc = ERR_OK;
	return text;
}

void ytree_dir(const char *path, char *buf, size_t n)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, n, ".");
	else if (slash == path)
		snprintf(buf, n, "/");
	else
		snprintf(buf, n, "%.*s", (int)(slash - path), path);
}
