/* ingest_main.c: dormant-ingest, the HTTP ingest of a run, its own process.
 *
 * It plays a cloud IoT HTTPS endpoint. nginx terminates TLS and proxies to
 * it over keep-alive HTTP/1.1 upstream connections on 127.0.0.1; it turns
 * device requests into MQTT traffic on the run's private mosquitto, so
 * dormant's backend subscriber sees an HTTP device's telemetry exactly like
 * an MQTT device's.
 *
 * Endpoints ({id} is "dev<N>"; every request carries
 * `Authorization: Bearer <ingest_token(secret, N)>`, see ingest_token.h):
 *   POST /devices/{id}/messages   the body, raw and of any type, is one
 *        message; published unchanged to dormant/{id}/telemetry at QoS 1.
 *        204 once the broker's PUBACK arrived; 413 over --max-body;
 *        503 if the broker connection is down or the publish failed.
 *   GET /devices/{id}/commands    200 with the oldest pending command
 *        (application/octet-stream), removed from the queue; else 204.
 *        Commands are what the broker delivers on dormant/{id}/commands.
 *   Otherwise 404 (unknown path or device name), 405 with Allow (wrong
 *   method), 401 with `WWW-Authenticate: Bearer` (missing or wrong token).
 * Responses carry no body except a command, and only the headers HTTP needs
 * (Content-Length where a body could be, WWW-Authenticate, Allow,
 * Content-Type of a command); no Date: this is a byte-counting testbed, and
 * nginx adds its own Date and Server anyway.
 *
 * Guarantees: a 204 means the broker holds the message, as a PUBACK does for
 * an MQTT device. A 503 after the publish was handed to libmosquitto (the
 * connection dropped before the PUBACK) does not mean the message is lost:
 * libmosquitto resends it after reconnecting, so a device that retries may
 * duplicate it, as an MQTT device that resends after losing its connection
 * does. Commands are queued per device, at most COMMANDS_MAX, the oldest
 * dropped (and counted) beyond that; with a clean session, commands sent
 * while the ingest is disconnected from the broker are lost.
 *
 * Threads: main (start-up, signals, shut-down); MHD's polling thread (all
 * HTTP; it never blocks: a POST waiting for its PUBACK is suspended, not
 * waited for); libmosquitto's loop thread (its callbacks). `lock` guards
 * the table of POSTs waiting for a PUBACK and the command queues; counters
 * are atomics.
 *
 * Start-up: the HTTP port is bound only once the broker accepted the
 * connection and the command subscription, because dormant takes an
 * accepting port for readiness. Exit status: 0 after SIGTERM/SIGINT, 1 if
 * the broker or the port is unavailable, 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>
#include <microhttpd.h>
#include <mosquitto.h>

#include "ingest_token.h"

#define BROKER_TIMEOUT_MS 5000
#define MAX_BODY_DEFAULT 262144
#define MAX_BODY_MAX (64u << 20)
/* Bodies over the limit are read and thrown away up to this much, then
 * answered 413 on a connection that stays open: an answer queued before the
 * body is read makes MHD 0.9.75 close the connection, with the unread body
 * still in its receive buffer, and Linux then resets it, which nginx may
 * report as a 502 instead of our 413. Beyond this, reading costs more. */
#define DRAIN_MAX (8u << 20)
/* Thousands of devices behind nginx; suspended POSTs count against it too. */
#define CONNECTION_LIMIT 4096
/* Above nginx's 60 s upstream keep-alive: if we closed an idle upstream
 * connection as nginx reused it, nginx would answer the POST with a 502. */
#define CONNECTION_TIMEOUT_S 75
#define COMMANDS_MAX 64
/* Device names are dense small numbers: the low bits spread them evenly. */
#define DEVQ_BUCKETS 4096
#define TOPIC_COMMANDS "dormant/+/commands"
#define KEEPALIVE_S 60
/* On SIGTERM, POSTs already published get this long for their PUBACK. */
#define STOP_GRACE_MS 1000

enum route { ROUTE_MESSAGES, ROUTE_COMMANDS };

/* One HTTP request (MHD's per-request context). */
struct req {
	struct MHD_Connection *conn;
	enum route route;
	uint32_t device;
	unsigned status;        /* the decided answer; 0 while a POST is undecided */
	unsigned char *body;    /* what is kept of the body (NULL once refused) */
	size_t len, cap;
	uint64_t expect;        /* Content-Length, 0 if absent (chunked) */
	uint64_t seen;          /* body bytes received, kept or not */
	bool waiting;           /* under lock: published, suspended, in the pending table */
	bool suspended;         /* suspended and not yet answered (MHD's thread only) */
	int mid;
	struct req *prev, *next; /* pending list */
};

struct cmd {
	struct cmd *next;
	size_t len;
	unsigned char data[];
};

struct devq {
	struct devq *next;
	uint32_t device;
	unsigned n;
	struct cmd *head, *tail;
};

struct counters {
	_Atomic uint64_t posts, published, acked, unauthorized, too_large, unavailable, polls;
	_Atomic uint64_t cmd_queued, cmd_delivered, cmd_dropped;
};

struct ingest {
	unsigned char secret[INGEST_SECRET_LEN];
	size_t max_body, drain_max;
	uint16_t listen_port, broker_port;
	struct mosquitto *mosq;
	struct MHD_Daemon *mhd;
	struct MHD_Response *resp_empty, *resp_401, *resp_405_post, *resp_405_get;
	_Atomic int broker_state;   /* 0 not yet, 1 subscribed, -1 refused */
	struct counters n;

	pthread_mutex_t lock;
	/* Under lock: */
	bool connected, stopping;
	bool logged_publish_error, logged_drop, logged_foreign, logged_nomem;
	unsigned suspended;         /* connections suspended and not yet answered */
	unsigned waiting;           /* of those, waiting for a PUBACK */
	struct req *pending;        /* the waiting ones, to fail them all at once */
	/* mid -> waiting request. libmosquitto counts mids up to 65535 and wraps;
	 * at most CONNECTION_LIMIT requests wait at a time, so a mid cannot come
	 * round again while its request still waits. */
	struct req *by_mid[65536];
	struct devq *devqs[DEVQ_BUCKETS];
};

/* ---- log ---- */

/* One line, with a wall-clock label like mosquitto's log, in one write so
 * lines from different threads do not interleave. */
__attribute__((format(printf, 1, 0))) static void log_va(const char *fmt, va_list ap)
{
	char line[600];
	time_t now = time(NULL);
	struct tm tm;
	size_t off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S dormant-ingest: ", localtime_r(&now, &tm));
	int n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	if (n < 0)
		return;
	off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
	while (off > 0 && line[off - 1] == '\n')
		off--; /* MHD's messages end in a newline, ours do not */
	line[off++] = '\n';
	fwrite(line, 1, off, stderr);
}

__attribute__((format(printf, 1, 2))) static void log_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_va(fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 0))) static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[500];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_line("libmicrohttpd: %s", msg);
}

/* ---- pending POSTs (caller holds lock) ---- */

static void pending_add(struct ingest *in, struct req *r, int mid)
{
	r->mid = mid;
	r->waiting = true;
	r->prev = NULL;
	r->next = in->pending;
	if (in->pending)
		in->pending->prev = r;
	in->pending = r;
	in->by_mid[mid & 0xffff] = r;
	in->waiting++;
}

static void pending_remove(struct ingest *in, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		in->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	in->by_mid[r->mid & 0xffff] = NULL;
	r->waiting = false;
	in->waiting--;
}

/* Answers every waiting POST with 503 and resumes it. The requests leave the
 * table under the lock; the resumes happen after it, so the lock is never
 * held while MHD takes its own. A request out of the table is ours alone
 * until resumed: suspended, MHD neither answers nor frees it. */
static void pending_fail_all(struct ingest *in)
{
	pthread_mutex_lock(&in->lock);
	struct req *list = NULL;
	while (in->pending) {
		struct req *r = in->pending;
		pending_remove(in, r);
		r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		atomic_fetch_add(&in->n.unavailable, 1);
		r->next = list;
		list = r;
	}
	pthread_mutex_unlock(&in->lock);
	while (list) {
		struct req *r = list;
		list = r->next;
		r->next = NULL;
		MHD_resume_connection(r->conn);
	}
}

/* ---- command queues (caller holds lock) ---- */

static struct devq *devq_find(struct ingest *in, uint32_t device, bool create)
{
	struct devq **pp = &in->devqs[device & (DEVQ_BUCKETS - 1)];
	for (struct devq *q = *pp; q; q = q->next)
		if (q->device == device)
			return q;
	if (!create)
		return NULL;
	struct devq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->device = device;
	q->next = *pp;
	*pp = q;
	return q;
}

static void devq_push(struct ingest *in, struct devq *q, struct cmd *c)
{
	if (q->n == COMMANDS_MAX) {
		struct cmd *old = q->head;
		q->head = old->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		free(old);
		atomic_fetch_add(&in->n.cmd_dropped, 1);
		if (!in->logged_drop) {
			log_line("commands for dev%u: %d pending, dropping the oldest (further drops only counted)",
			         (unsigned)q->device, COMMANDS_MAX);
			in->logged_drop = true;
		}
	}
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->n++;
}

static struct cmd *devq_pop(struct ingest *in, uint32_t device)
{
	struct devq *q = devq_find(in, device, false);
	struct cmd *c = q ? q->head : NULL;
	if (c) {
		q->head = c->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	return c;
}

/* Puts back a command that could not be sent, where it was. */
static void devq_unpop(struct ingest *in, uint32_t device, struct cmd *c)
{
	struct devq *q = devq_find(in, device, false);
	if (!q) {
		free(c);
		return;
	}
	c->next = q->head;
	q->head = c;
	if (!q->tail)
		q->tail = c;
	q->n++;
}

static void devq_free_all(struct ingest *in)
{
	for (size_t i = 0; i < DEVQ_BUCKETS; i++)
		while (in->devqs[i]) {
			struct devq *q = in->devqs[i];
			in->devqs[i] = q->next;
			while (q->head) {
				struct cmd *c = q->head;
				q->head = c->next;
				free(c);
			}
			free(q);
		}
}

/* ---- libmosquitto callbacks (its loop thread) ---- */

static void on_connect(struct mosquitto *m, void *cls, int rc)
{
	struct ingest *in = cls;
	if (rc != 0) {
		log_line("broker 127.0.0.1:%u refused the connection: %s", in->broker_port, mosquitto_connack_string(rc));
		if (atomic_load(&in->broker_state) == 0)
			atomic_store(&in->broker_state, -1);
		return;
	}
	pthread_mutex_lock(&in->lock);
	bool again = atomic_load(&in->broker_state) != 0;
	in->connected = true;
	pthread_mutex_unlock(&in->lock);
	if (again)
		log_line("broker connection back");
	/* A clean session forgets subscriptions: subscribe on every connect.
	 * QoS 1, so a command the broker accepted reaches the queue. */
	rc = mosquitto_subscribe(m, NULL, TOPIC_COMMANDS, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		log_line("subscribe %s: %s", TOPIC_COMMANDS, mosquitto_strerror(rc));
}

/* mosquitto does not set TCP_NODELAY by default: its next packet to us
 * (a command, a PUBACK) waits while its last one is unacknowledged, for up
 * to our 40 ms delayed ACK. Quick ACKs, asked for after every read (Linux
 * drops them again), keep that wait out of the HTTP figures. */
static void quickack(struct mosquitto *m)
{
	int one = 1;
	int fd = mosquitto_socket(m);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void on_subscribe(struct mosquitto *m, void *cls, int mid, int count, const int *granted)
{
	struct ingest *in = cls;
	quickack(m);
	if (count < 1 || granted[0] > 2) {
		log_line("broker refused the subscription to %s: commands will not arrive", TOPIC_COMMANDS);
		if (atomic_load(&in->broker_state) == 0)
			atomic_store(&in->broker_state, -1);
		return;
	}
	if (atomic_load(&in->broker_state) == 0)
		atomic_store(&in->broker_state, 1);
}

static void on_disconnect(struct mosquitto *m, void *cls, int rc)
{
	struct ingest *in = cls;
	pthread_mutex_lock(&in->lock);
	bool was = in->connected, stopping = in->stopping;
	in->connected = false;
	pthread_mutex_unlock(&in->lock);
	if (was && !stopping)
		log_line("broker connection lost (%s): POSTs answer 503 until it is back", mosquitto_strerror(rc));
	/* No PUBACK can come for them now: the waiting devices get their answer
	 * (503) rather than hang until nginx gives up. */
	pending_fail_all(in);
}

static void on_publish(struct mosquitto *m, void *cls, int mid)
{
	struct ingest *in = cls;
	quickack(m);
	pthread_mutex_lock(&in->lock);
	struct req *r = in->by_mid[mid & 0xffff];
	if (r && r->mid == mid) {
		pending_remove(in, r);
		r->status = MHD_HTTP_NO_CONTENT;
		atomic_fetch_add(&in->n.acked, 1);
	} else {
		r = NULL; /* a resend acknowledged after its request was answered 503 */
	}
	pthread_mutex_unlock(&in->lock);
	if (r)
		MHD_resume_connection(r->conn); /* see pending_fail_all() for why outside the lock */
}

static void on_message(struct mosquitto *m, void *cls, const struct mosquitto_message *msg)
{
	static const char prefix[] = "dormant/", suffix[] = "/commands";
	struct ingest *in = cls;
	quickack(m);
	size_t tlen = strlen(msg->topic), plen = sizeof(prefix) - 1, slen = sizeof(suffix) - 1;
	uint32_t device;
	if (tlen <= plen + slen || memcmp(msg->topic, prefix, plen) != 0 ||
	    memcmp(msg->topic + tlen - slen, suffix, slen) != 0 ||
	    ingest_device_id(msg->topic + plen, tlen - plen - slen, &device) != 0) {
		pthread_mutex_lock(&in->lock);
		bool first = !in->logged_foreign;
		in->logged_foreign = true;
		pthread_mutex_unlock(&in->lock);
		if (first)
			log_line("ignoring a command on %s: not a device topic (further ones ignored silently)", msg->topic);
		return;
	}
	size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	struct cmd *c = malloc(sizeof(*c) + len);
	pthread_mutex_lock(&in->lock);
	struct devq *q = c ? devq_find(in, device, true) : NULL;
	if (q) {
		c->len = len;
		if (len)
			memcpy(c->data, msg->payload, len);
		devq_push(in, q, c);
		atomic_fetch_add(&in->n.cmd_queued, 1);
	} else {
		free(c);
		atomic_fetch_add(&in->n.cmd_dropped, 1);
		if (!in->logged_nomem)
			log_line("out of memory queueing a command for dev%u: dropped", (unsigned)device);
		in->logged_nomem = true;
	}
	pthread_mutex_unlock(&in->lock);
}

/* ---- HTTP (MHD's thread) ---- */

struct route_def {
	const char *leaf, *method;
	enum route route;
};

static const struct route_def routes[] = {
	{ "messages", MHD_HTTP_METHOD_POST, ROUTE_MESSAGES },
	{ "commands", MHD_HTTP_METHOD_GET, ROUTE_COMMANDS },
};

static int authorized(struct ingest *in, struct MHD_Connection *conn, uint32_t device)
{
	static const char scheme[] = "Bearer ";
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, scheme, sizeof(scheme) - 1) != 0)
		return 0;
	h += sizeof(scheme) - 1;
	while (*h == ' ')
		h++;
	/* Every token has this length: it tells nothing about the secret. */
	if (strlen(h) != INGEST_TOKEN_LEN)
		return 0;
	char want[INGEST_TOKEN_LEN + 1];
	ingest_token(in->secret, sizeof(in->secret), device, want);
	if (!want[0])
		return 0;
	/* Constant time: how far a guess matches must not show in the answer's timing. */
	unsigned char diff = 0;
	for (size_t i = 0; i < INGEST_TOKEN_LEN; i++)
		diff |= (unsigned char)(h[i] ^ want[i]);
	mbedtls_platform_zeroize(want, sizeof(want));
	return diff == 0;
}

/* Content-Length as MHD accepted it (it refuses malformed ones itself with
 * 400 before we are called); UINT64_MAX if it does not fit. */
static uint64_t content_length(struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t v = 0;
	for (; h && *h >= '0' && *h <= '9'; h++) {
		if (v > (UINT64_MAX - 9) / 10)
			return UINT64_MAX;
		v = v * 10 + (unsigned)(*h - '0');
	}
	return v;
}

static void decide(struct ingest *in, struct req *r, unsigned status)
{
	r->status = status;
	if (status == MHD_HTTP_UNAUTHORIZED)
		atomic_fetch_add(&in->n.unauthorized, 1);
	else if (status == MHD_HTTP_CONTENT_TOO_LARGE)
		atomic_fetch_add(&in->n.too_large, 1);
	else if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		atomic_fetch_add(&in->n.unavailable, 1);
}

/* First call of a request: everything the headers decide. */
static void classify(struct ingest *in, struct req *r, const char *url, const char *method)
{
	static const char prefix[] = "/devices/";
	const struct route_def *rt = NULL;
	const char *id = url + sizeof(prefix) - 1, *slash;
	if (strncmp(url, prefix, sizeof(prefix) - 1) != 0 || !(slash = strchr(id, '/'))) {
		decide(in, r, MHD_HTTP_NOT_FOUND);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(slash + 1, routes[i].leaf) == 0)
			rt = &routes[i];
	if (!rt || ingest_device_id(id, (size_t)(slash - id), &r->device) != 0) {
		decide(in, r, MHD_HTTP_NOT_FOUND);
		return;
	}
	r->route = rt->route;
	if (strcmp(method, rt->method) != 0) {
		decide(in, r, MHD_HTTP_METHOD_NOT_ALLOWED);
		return;
	}
	atomic_fetch_add(rt->route == ROUTE_MESSAGES ? &in->n.posts : &in->n.polls, 1);
	if (!authorized(in, r->conn, r->device)) {
		decide(in, r, MHD_HTTP_UNAUTHORIZED);
		return;
	}
	if (rt->route == ROUTE_MESSAGES) {
		r->expect = content_length(r->conn);
		if (r->expect > in->max_body)
			decide(in, r, MHD_HTTP_CONTENT_TOO_LARGE);
	}
}

/* A piece of the body. Returns false to have MHD close the connection. */
static bool take_body(struct ingest *in, struct req *r, const char *data, size_t n)
{
	r->seen += n;
	if (r->seen > in->drain_max)
		return false; /* a chunked body that never ends: no answer can be queued mid-body in MHD 0.9.75 */
	if (r->status)
		return true; /* refused already: read and forget */
	if (r->len + n > in->max_body) {
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		decide(in, r, MHD_HTTP_CONTENT_TOO_LARGE);
		return true;
	}
	if (r->len + n > r->cap) {
		/* Content-Length known: one allocation; chunked: doubling. */
		size_t cap = r->expect ? (size_t)r->expect : (r->cap ? 2 * r->cap : 4096);
		if (cap < r->len + n)
			cap = r->len + n;
		if (cap > in->max_body)
			cap = in->max_body;
		unsigned char *b = realloc(r->body, cap);
		if (!b) {
			pthread_mutex_lock(&in->lock);
			bool first = !in->logged_nomem;
			in->logged_nomem = true;
			pthread_mutex_unlock(&in->lock);
			if (first)
				log_line("out of memory for a %zu-byte body: answering 503", cap);
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
			decide(in, r, MHD_HTTP_SERVICE_UNAVAILABLE);
			return true;
		}
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return true;
}

static enum MHD_Result answer(struct ingest *in, struct req *r)
{
	struct MHD_Response *resp = in->resp_empty;
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		resp = in->resp_401;
	else if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		resp = r->route == ROUTE_MESSAGES ? in->resp_405_post : in->resp_405_get;
	return MHD_queue_response(r->conn, r->status, resp);
}

static enum MHD_Result poll_command(struct ingest *in, struct req *r)
{
	pthread_mutex_lock(&in->lock);
	struct cmd *c = devq_pop(in, r->device);
	pthread_mutex_unlock(&in->lock);
	if (!c) {
		r->status = MHD_HTTP_NO_CONTENT;
		return answer(in, r);
	}
	/* The response owns the command from here and frees it once sent. */
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(c->len, c->data, free, c);
	if (!resp || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream") != MHD_YES) {
		if (resp)
			MHD_destroy_response(resp); /* frees c */
		else {
			pthread_mutex_lock(&in->lock);
			devq_unpop(in, r->device, c);
			pthread_mutex_unlock(&in->lock);
		}
		return MHD_NO;
	}
	enum MHD_Result ok = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	if (ok == MHD_YES)
		atomic_fetch_add(&in->n.cmd_delivered, 1);
	return ok;
}

static enum MHD_Result publish(struct ingest *in, struct req *r)
{
	char topic[40];
	snprintf(topic, sizeof(topic), "dormant/dev%u/telemetry", (unsigned)r->device);
	int mid = 0, rc = MOSQ_ERR_NO_CONN;
	pthread_mutex_lock(&in->lock);
	if (in->connected && !in->stopping)
		rc = mosquitto_publish(in->mosq, &mid, topic, (int)r->len, r->body, 1, false);
	if (rc == MOSQ_ERR_SUCCESS) {
		in->logged_publish_error = false;
		atomic_fetch_add(&in->n.published, 1);
		pending_add(in, r, mid);
		r->suspended = true;
		in->suspended++;
		/* Mapped and suspended under the lock: the PUBACK may come before
		 * mosquitto_publish() returns, and its callback, which takes the
		 * lock, must find the request in the table and suspended. */
		MHD_suspend_connection(r->conn);
		pthread_mutex_unlock(&in->lock);
		free(r->body); /* libmosquitto has its own copy */
		r->body = NULL;
		r->len = r->cap = 0;
		return MHD_YES;
	}
	bool first = !in->logged_publish_error && in->connected && !in->stopping;
	if (first)
		in->logged_publish_error = true;
	pthread_mutex_unlock(&in->lock);
	if (first)
		log_line("publish to %s failed: %s: answering 503 (further failures only counted)", topic,
		         mosquitto_strerror(rc));
	decide(in, r, MHD_HTTP_SERVICE_UNAVAILABLE);
	return answer(in, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct ingest *in = cls;
	struct req *r = *con_cls;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		r->conn = conn;
		*con_cls = r;
		classify(in, r, url, method);
		if (r->status == MHD_HTTP_CONTENT_TOO_LARGE && r->expect > in->drain_max)
			return answer(in, r); /* too big to read through: answer now, MHD closes after it */
		/* Any other answer waits for the final call: one queued in this
		 * first call makes MHD 0.9.75 close the connection after it, even
		 * for a GET, and nginx's upstream connections are meant to stay. */
		return MHD_YES;
	}
	if (*upload_size) {
		bool ok = take_body(in, r, upload, *upload_size);
		*upload_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	/* The final call; for a POST that waited for its PUBACK, again after the resume. */
	if (r->suspended) {
		pthread_mutex_lock(&in->lock);
		r->suspended = false;
		in->suspended--;
		pthread_mutex_unlock(&in->lock);
	}
	if (r->status)
		return answer(in, r);
	if (r->route == ROUTE_COMMANDS)
		return poll_command(in, r);
	return publish(in, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct ingest *in = cls;
	struct req *r = *con_cls;
	if (!r)
		return;
	/* Only MHD_stop_daemon() ends a request that is still suspended, and
	 * only after main resumed them all; then nothing waits any more. Check
	 * anyway: a callback thread must never find a freed request. */
	pthread_mutex_lock(&in->lock);
	if (r->waiting)
		pending_remove(in, r);
	if (r->suspended)
		in->suspended--;
	pthread_mutex_unlock(&in->lock);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- command line ---- */

static const char usage[] =
	"usage: dormant-ingest --listen PORT --broker PORT --secret-file FILE [--max-body BYTES]\n"
	"\n"
	"The HTTP ingest of a dormant run: devices POST telemetry to\n"
	"/devices/dev<N>/messages and poll /devices/dev<N>/commands, with\n"
	"Authorization: Bearer <token>. Messages are published to the MQTT broker,\n"
	"commands come from it. Everything is on 127.0.0.1.\n"
	"\n"
	"  --listen PORT       HTTP port, bound once the broker connection is up\n"
	"  --broker PORT       the broker's plaintext, anonymous MQTT listener\n"
	"  --secret-file FILE  the token secret, 64 hex characters, mode 0600\n"
	"  --max-body BYTES    largest message accepted (default 262144); larger: 413\n"
	"  --help, --version\n"
	"\n"
	"Exit status: 0 stopped by SIGTERM or SIGINT; 1 broker unreachable within 5 s\n"
	"or port unavailable; 2 bad arguments.\n";

__attribute__((format(printf, 1, 2), noreturn)) static void bad_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("dormant-ingest: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see dormant-ingest --help)\n", stderr);
	va_end(ap);
	exit(2);
}

/* Strict decimal in [min, max]; names what is wrong with anything else. */
static uint64_t number_arg(const char *opt, const char *what, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v = 0;
	int big = 0;
	const char *p = s;
	if (*p == '-')
		bad_usage("--%s: expected %s, got \"%s\" (negative)", opt, what, s);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			big = 1;
		else
			v = v * 10 + (unsigned)(*p - '0');
	}
	if (p == s || *p)
		bad_usage("--%s: expected %s, got \"%s\"", opt, what, s);
	if (big || v > max)
		bad_usage("--%s: %s must be at most %llu, got %s", opt, what, (unsigned long long)max, s);
	if (v < min)
		bad_usage("--%s: %s must be at least %llu, got %s", opt, what, (unsigned long long)min, s);
	return v;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The secret never comes on argv, where every process can read it. */
static void read_secret(const char *path, unsigned char secret[INGEST_SECRET_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		bad_usage("--secret-file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		bad_usage("--secret-file %s: not a regular file", path);
	if (st.st_mode & 077)
		bad_usage("--secret-file %s: mode %03o lets others read it; it must be 0600", path,
		          (unsigned)(st.st_mode & 0777));
	char buf[2 * INGEST_SECRET_LEN + 4];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n != 2 * INGEST_SECRET_LEN)
		bad_usage("--secret-file %s: expected %d hex characters", path, 2 * INGEST_SECRET_LEN);
	for (size_t i = 0; i < INGEST_SECRET_LEN; i++) {
		int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
		if (hi < 0 || lo < 0)
			bad_usage("--secret-file %s: expected %d hex characters", path, 2 * INGEST_SECRET_LEN);
		secret[i] = (unsigned char)(hi << 4 | lo);
	}
	mbedtls_platform_zeroize(buf, sizeof(buf));
}

static void parse_args(struct ingest *in, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "broker", required_argument, NULL, 'b' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "max-body", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *secret_file = NULL;
	in->max_body = MAX_BODY_DEFAULT;
	opterr = 0; /* our messages, one line each */
	int c;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			in->listen_port = (uint16_t)number_arg("listen", "a port", optarg, 1, 65535);
			break;
		case 'b':
			in->broker_port = (uint16_t)number_arg("broker", "a port", optarg, 1, 65535);
			break;
		case 's':
			secret_file = optarg;
			break;
		case 'm':
			in->max_body = (size_t)number_arg("max-body", "a size in bytes", optarg, 1, MAX_BODY_MAX);
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		case 'V': {
			int ma, mi, rv;
			mosquitto_lib_version(&ma, &mi, &rv);
			printf("dormant-ingest %s (libmicrohttpd %s, libmosquitto %d.%d.%d)\n", DORMANT_VERSION,
			       MHD_get_version(), ma, mi, rv);
			exit(0);
		}
		case ':':
			bad_usage("%s needs a value", argv[optind - 1]);
		default:
			bad_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument \"%s\"", argv[optind]);
	if (!in->listen_port)
		bad_usage("--listen PORT is required");
	if (!in->broker_port)
		bad_usage("--broker PORT is required");
	if (!secret_file)
		bad_usage("--secret-file FILE is required");
	read_secret(secret_file, in->secret);
	in->drain_max = in->max_body > DRAIN_MAX ? in->max_body : DRAIN_MAX;
}

/* ---- start and stop (main thread) ---- */

/* Each connection is a descriptor; 1024, the usual soft limit, is too few. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = CONNECTION_LIMIT + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_line("only %llu file descriptors: fewer than %d connections at a time", (unsigned long long)rl.rlim_cur,
		         CONNECTION_LIMIT);
}

static int mosq_create(struct ingest *in)
{
	char id[40];
	snprintf(id, sizeof(id), "dormant-ingest-%d", (int)getpid());
	mosquitto_lib_init();
	if (!(in->mosq = mosquitto_new(id, true, in))) {
		log_line("mosquitto_new: %s", strerror(errno));
		return -1;
	}
	mosquitto_connect_callback_set(in->mosq, on_connect);
	mosquitto_disconnect_callback_set(in->mosq, on_disconnect);
	mosquitto_subscribe_callback_set(in->mosq, on_subscribe);
	mosquitto_publish_callback_set(in->mosq, on_publish);
	mosquitto_message_callback_set(in->mosq, on_message);
	/* libmosquitto keeps 20 QoS 1 messages in flight by default and holds
	 * the rest back; every device's POST should reach the broker at once. */
	mosquitto_max_inflight_messages_set(in->mosq, 0);
	/* Without TCP_NODELAY a PUBLISH written while the previous one is
	 * unacknowledged waits for the broker's delayed ACK: up to 40 ms added
	 * to an HTTP device's wake, which is the ingest's cost, not HTTP's. */
	mosquitto_int_option(in->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	return 0;
}

/* Connects, retrying until the broker's TCP port accepts, then waits for its
 * CONNACK and SUBACK. 1 ready, 0 a signal came, -1 failed.
 * Not mosquitto_connect_async(): in libmosquitto 2.0.11, when the broker is
 * not listening yet, its failed first attempt leaves the loop thread waiting
 * for a connect forever instead of retrying. Once connected, the loop
 * thread's own reconnects work. */
static int wait_broker(struct ingest *in, const sigset_t *sigs)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int waited = 0, rc;
	for (;;) {
		/* Blocking, but on loopback it is refused or accepted at once. */
		rc = mosquitto_connect(in->mosq, "127.0.0.1", in->broker_port, KEEPALIVE_S);
		if (rc == MOSQ_ERR_SUCCESS)
			break;
		if (rc != MOSQ_ERR_ERRNO || waited >= BROKER_TIMEOUT_MS) {
			log_line("broker 127.0.0.1:%u: no connection within %d ms: %s", in->broker_port, BROKER_TIMEOUT_MS,
			         rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
			return -1;
		}
		for (int i = 0; i < 10; i++, waited += 10)
			if (sigtimedwait(sigs, NULL, &tick) > 0)
				return 0;
	}
	if ((rc = mosquitto_loop_start(in->mosq)) != MOSQ_ERR_SUCCESS) {
		log_line("mosquitto loop: %s", mosquitto_strerror(rc));
		return -1;
	}
	for (; waited < BROKER_TIMEOUT_MS; waited += 10) {
		int st = atomic_load(&in->broker_state);
		if (st != 0)
			return st > 0 ? 1 : -1;
		if (sigtimedwait(sigs, NULL, &tick) > 0)
			return 0;
	}
	if (atomic_load(&in->broker_state) > 0)
		return 1;
	log_line("broker 127.0.0.1:%u: no CONNACK and SUBACK within %d ms", in->broker_port, BROKER_TIMEOUT_MS);
	return -1;
}

static int http_start(struct ingest *in)
{
	in->resp_empty = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	in->resp_401 = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	in->resp_405_post = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	in->resp_405_get = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!in->resp_empty || !in->resp_401 || !in->resp_405_post || !in->resp_405_get ||
	    MHD_add_response_header(in->resp_401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer") != MHD_YES ||
	    MHD_add_response_header(in->resp_405_post, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_POST) != MHD_YES ||
	    MHD_add_response_header(in->resp_405_get, MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET) != MHD_YES) {
		log_line("cannot create the responses: out of memory");
		return -1;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(in->listen_port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	/* epoll: thousands of connections in one thread; no Date header (nginx
	 * sends its own to the device); suspend/resume for POSTs awaiting PUBACK. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG;
	/* The logger first, or MHD logs the options before it to its default. */
	in->mhd = MHD_start_daemon(flags, in->listen_port, NULL, NULL, on_request, in,
	                           MHD_OPTION_EXTERNAL_LOGGER, log_mhd, in,
	                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                           MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
	                           MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
	                           MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)CONNECTION_LIMIT,
	                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, in,
	                           MHD_OPTION_END);
	if (!in->mhd) {
		log_line("cannot listen on 127.0.0.1:%u", in->listen_port);
		return -1;
	}
	return 0;
}

static unsigned count_locked(struct ingest *in, const unsigned *field)
{
	pthread_mutex_lock(&in->lock);
	unsigned v = *field;
	pthread_mutex_unlock(&in->lock);
	return v;
}

static void wait_until_zero(struct ingest *in, const unsigned *field, int ms)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	for (int waited = 0; waited < ms && count_locked(in, field) > 0; waited += 5)
		nanosleep(&tick, NULL);
}

/* In this order: no POST is suspended when MHD stops (MHD 0.9.75 panics on
 * one), and no libmosquitto callback runs once requests may be freed. */
static void stop(struct ingest *in)
{
	pthread_mutex_lock(&in->lock);
	in->stopping = true; /* new POSTs: 503 */
	pthread_mutex_unlock(&in->lock);
	if (in->mhd)
		wait_until_zero(in, &in->waiting, STOP_GRACE_MS);
	if (in->mosq) {
		mosquitto_disconnect(in->mosq);
		mosquitto_loop_stop(in->mosq, false);
	}
	pending_fail_all(in); /* whatever on_disconnect did not (it runs only if connected) */
	if (in->mhd) {
		wait_until_zero(in, &in->suspended, STOP_GRACE_MS); /* let the 503s out */
		MHD_stop_daemon(in->mhd);
	}
	if (in->mosq)
		mosquitto_destroy(in->mosq);
	mosquitto_lib_cleanup();
	MHD_destroy_response(in->resp_empty);
	MHD_destroy_response(in->resp_401);
	MHD_destroy_response(in->resp_405_post);
	MHD_destroy_response(in->resp_405_get);
	devq_free_all(in);
	mbedtls_platform_zeroize(in->secret, sizeof(in->secret));
}

static void print_counters(const struct ingest *in)
{
	const struct counters *n = &in->n;
	fprintf(stderr,
	        "dormant-ingest: stopped: posts=%llu published=%llu acked=%llu 401=%llu 413=%llu 503=%llu polls=%llu "
	        "commands_queued=%llu commands_delivered=%llu commands_dropped=%llu\n",
	        (unsigned long long)n->posts, (unsigned long long)n->published, (unsigned long long)n->acked,
	        (unsigned long long)n->unauthorized, (unsigned long long)n->too_large,
	        (unsigned long long)n->unavailable, (unsigned long long)n->polls,
	        (unsigned long long)n->cmd_queued, (unsigned long long)n->cmd_delivered,
	        (unsigned long long)n->cmd_dropped);
}

int main(int argc, char **argv)
{
	static struct ingest in; /* 800 KiB with its mid table: not on the stack */
	parse_args(&in, argc, argv);
	pthread_mutex_init(&in.lock, NULL);

	/* Blocked before any thread starts, so they all inherit it and only
	 * main's sigwait sees them; SIGPIPE from a device gone mid-answer must
	 * not kill the process. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	int ready = mosq_create(&in) == 0 ? wait_broker(&in, &sigs) : -1;
	if (ready > 0 && http_start(&in) != 0)
		ready = -1;
	if (ready > 0) {
		log_line("listening on 127.0.0.1:%u, broker 127.0.0.1:%u, max body %zu bytes", in.listen_port,
		         in.broker_port, in.max_body);
		int sig;
		while (sigwait(&sigs, &sig) != 0)
			;
	}
	stop(&in);
	if (ready < 0)
		return 1;
	print_counters(&in);
	return 0;
}
