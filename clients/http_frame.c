/* http_frame.c: the HTTP/1.1 framer (see http_frame.h). Pure: no library,
 * no socket, so tests/unit/test_framers.c links it alone. */
#include "http_frame.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Which phase a request is: POST (telemetry) data, GET (a command poll)
 * downlink. Responses come back in order (no pipelining), so the framer
 * queues each request's phase in STATE: bits 0-4 the count, then one bit
 * per unanswered request, oldest lowest. */
#define HQ_COUNT(s) ((s) & 31u)
#define HQ_MAX 26u

/* Value of header NAME (lowercase, with the colon) in the head P..END, or NULL. */
static const unsigned char *header(const unsigned char *p, const unsigned char *end, const char *name)
{
	size_t nl = strlen(name);
	for (const unsigned char *l = p; l < end;) {
		const unsigned char *eol = memchr(l, '\n', (size_t)(end - l));
		if (!eol)
			break;
		if ((size_t)(eol - l) > nl && !strncasecmp((const char *)l, name, nl)) {
			const unsigned char *v = l + nl;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			return v;
		}
		l = eol + 1;
	}
	return NULL;
}

int http_frame(int down, const unsigned char *p, size_t avail, size_t *len, enum phase *ph,
                      uint32_t *state)
{
	const unsigned char *end_of_head = memmem(p, avail, "\r\n\r\n", 4);
	if (!end_of_head)
		return 0;
	const unsigned char *body = end_of_head + 4;
	size_t head = (size_t)(body - p);
	if (header(p, body, "transfer-encoding:"))
		return -1; /* chunked: neither side here sends it */
	const unsigned char *cl = header(p, body, "content-length:");
	unsigned long long n = cl ? strtoull((const char *)cl, NULL, 10) : 0;
	uint32_t s = *state, count = HQ_COUNT(s);
	if (!down) {
		enum phase rp;
		if (avail >= 5 && !memcmp(p, "POST ", 5))
			rp = PHASE_DATA;
		else if (avail >= 4 && !memcmp(p, "GET ", 4))
			rp = PHASE_DOWNLINK;
		else
			return -1;
		if (count >= HQ_MAX)
			return -1;
		s |= (uint32_t)(rp == PHASE_DOWNLINK) << (5 + count);
		*state = (s & ~31u) | (count + 1);
		*ph = rp;
		*len = head + (size_t)n;
		return 1;
	}
	if (avail < 12 || memcmp(p, "HTTP/1.", 7) || !count)
		return -1;
	int status = atoi((const char *)p + 9);
	*ph = (s >> 5) & 1u ? PHASE_DOWNLINK : PHASE_DATA;
	if (status >= 100 && status < 200) {
		*len = head; /* an interim response: the request is still unanswered */
		return 1;
	}
	if (status == 204 || status == 304)
		n = 0;
	else if (!cl)
		return -1; /* a body up to the close: not what these servers send */
	*state = ((s >> 6) << 5) | (count - 1);
	*len = head + (size_t)n;
	return 1;
}
