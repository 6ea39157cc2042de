/* json.c: recursive-descent JSON reader (RFC 8259), depth-limited. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define JSON_MAX_DEPTH 64

struct jp {
	const char *s, *p;
	char *err;
	size_t errlen;
	int failed;
};

static void jp_fail(struct jp *jp, const char *fmt, ...)
{
	if (jp->failed)
		return;
	jp->failed = 1;
	int line = 1, col = 1;
	for (const char *q = jp->s; q < jp->p; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (jp->errlen)
		snprintf(jp->err, jp->errlen, "%d:%d: %s", line, col, msg);
}

static void skip_ws(struct jp *jp)
{
	while (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r')
		jp->p++;
}

static struct json *node(enum json_type t)
{
	struct json *j = calloc(1, sizeof(*j));
	if (j)
		j->type = t;
	return j;
}

void json_free(struct json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->nkids; i++)
		json_free(j->kids[i]);
	free(j->kids);
	free(j->str);
	free(j->key);
	free(j);
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote; returns a malloc'd decoded string. */
static char *parse_string(struct jp *jp)
{
	const char *start = ++jp->p;
	size_t n = 0;
	while (*jp->p && *jp->p != '"') {
		if (*jp->p == '\\' && jp->p[1])
			jp->p++;
		jp->p++;
		n++;
	}
	if (*jp->p != '"') {
		jp_fail(jp, "unterminated string");
		return NULL;
	}
	/* decoded text is never longer than 4 bytes per source character */
	char *out = malloc(n * 4 + 1), *o = out;
	if (!out) {
		jp_fail(jp, "out of memory");
		return NULL;
	}
	for (const char *q = start; q < jp->p; q++) {
		if ((unsigned char)*q < 0x20) {
			jp->p = q;
			jp_fail(jp, "control character in string");
			free(out);
			return NULL;
		}
		if (*q != '\\') {
			*o++ = *q;
			continue;
		}
		q++;
		switch (*q) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (jp->p - q < 5 || hex4(q + 1, &cp) != 0) {
				jp->p = q;
				jp_fail(jp, "bad \\u escape");
				free(out);
				return NULL;
			}
			q += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && jp->p - q >= 7 && q[1] == '\\' && q[2] == 'u' &&
			    hex4(q + 3, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				q += 6;
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			jp->p = q;
			jp_fail(jp, "bad escape '\\%c'", *q);
			free(out);
			return NULL;
		}
	}
	*o = 0;
	jp->p++;
	return out;
}

static int add_kid(struct json *parent, struct json *kid)
{
	struct json **k = realloc(parent->kids, (parent->nkids + 1) * sizeof(*k));
	if (!k)
		return -1;
	parent->kids = k;
	k[parent->nkids++] = kid;
	return 0;
}

static struct json *parse_value(struct jp *jp, int depth);

static struct json *parse_container(struct jp *jp, int depth, int is_obj)
{
	char close = is_obj ? '}' : ']';
	struct json *j = node(is_obj ? JSON_OBJ : JSON_ARR);
	if (!j) {
		jp_fail(jp, "out of memory");
		return NULL;
	}
	jp->p++;
	skip_ws(jp);
	if (*jp->p == close) {
		jp->p++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(jp);
		if (is_obj) {
			if (*jp->p != '"') {
				jp_fail(jp, "expected a member name in quotes");
				break;
			}
			key = parse_string(jp);
			if (!key)
				break;
			skip_ws(jp);
			if (*jp->p != ':') {
				free(key);
				jp_fail(jp, "expected ':' after the member name");
				break;
			}
			jp->p++;
		}
		struct json *kid = parse_value(jp, depth + 1);
		if (!kid) {
			free(key);
			break;
		}
		kid->key = key;
		if (add_kid(j, kid) != 0) {
			json_free(kid);
			jp_fail(jp, "out of memory");
			break;
		}
		skip_ws(jp);
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p == close) {
			jp->p++;
			return j;
		}
		jp_fail(jp, "expected ',' or '%c'", close);
		break;
	}
	json_free(j);
	return NULL;
}

static struct json *parse_value(struct jp *jp, int depth)
{
	if (depth > JSON_MAX_DEPTH) {
		jp_fail(jp, "nested deeper than %d", JSON_MAX_DEPTH);
		return NULL;
	}
	skip_ws(jp);
	const char *p = jp->p;
	struct json *j;
	switch (*p) {
	case '{':
	case '[':
		return parse_container(jp, depth, *p == '{');
	case '"': {
		char *s = parse_string(jp);
		if (!s)
			return NULL;
		j = node(JSON_STR);
		if (!j) {
			free(s);
			jp_fail(jp, "out of memory");
			return NULL;
		}
		j->str = s;
		return j;
	}
	case 't':
	case 'f':
	case 'n': {
		static const struct { const char *word; enum json_type t; double v; } words[] = {
			{ "true", JSON_BOOL, 1 }, { "false", JSON_BOOL, 0 }, { "null", JSON_NULL, 0 } };
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			size_t n = strlen(words[i].word);
			if (!strncmp(p, words[i].word, n)) {
				jp->p += n;
				j = node(words[i].t);
				if (j)
					j->num = words[i].v;
				else
					jp_fail(jp, "out of memory");
				return j;
			}
		}
		break;
	}
	default:
		if (*p == '-' || (*p >= '0' && *p <= '9')) {
			char *end;
			errno = 0;
			double v = strtod(p, &end);
			if (end == p) {
				jp_fail(jp, "bad number");
				return NULL;
			}
			jp->p = end;
			j = node(JSON_NUM);
			if (j)
				j->num = v;
			else
				jp_fail(jp, "out of memory");
			return j;
		}
	}
	jp_fail(jp, *p ? "unexpected '%c'" : "unexpected end of text", *p);
	return NULL;
}

struct json *json_parse(const char *text, char *err, size_t errlen)
{
	struct jp jp = { .s = text, .p = text, .err = err, .errlen = errlen };
	struct json *j = parse_value(&jp, 0);
	if (j) {
		skip_ws(&jp);
		if (*jp.p) {
			jp_fail(&jp, "text after the value");
			json_free(j);
			return NULL;
		}
	}
	return j;
}

struct json *json_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			char *b = realloc(buf, cap);
			if (!b) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return NULL;
			}
			buf = b;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "%s: read error", path);
		return NULL;
	}
	buf[len] = 0;
	char perr[300];
	struct json *j = json_parse(buf, perr, sizeof(perr));
	free(buf);
	if (!j)
		snprintf(err, errlen, "%s:%s", path, perr);
	return j;
}

const struct json *json_get(const struct json *j, const char *key)
{
	while (j && key) {
		if (j->type != JSON_OBJ)
			return NULL;
		const char *dot = strchr(key, '.');
		size_t n = dot ? (size_t)(dot - key) : strlen(key);
		const struct json *found = NULL;
		for (size_t i = 0; i < j->nkids; i++)
			if (j->kids[i]->key && strlen(j->kids[i]->key) == n && !strncmp(j->kids[i]->key, key, n)) {
				found = j->kids[i];
				break;
			}
		j = found;
		key = dot ? dot + 1 : NULL;
	}
	return j;
}

const struct json *json_at(const struct json *j, size_t i)
{
	if (!j || j->type != JSON_ARR || i >= j->nkids)
		return NULL;
	return j->kids[i];
}

double json_num_at(const struct json *j, const char *key, double fallback)
{
	const struct json *v = key ? json_get(j, key) : j;
	return v && (v->type == JSON_NUM || v->type == JSON_BOOL) ? v->num : fallback;
}

const char *json_str_at(const struct json *j, const char *key, const char *fallback)
{
	const struct json *v = key ? json_get(j, key) : j;
	return v && v->type == JSON_STR ? v->str : fallback;
}

void json_write_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}
