/* http.c: HTTP/1.1 on libcurl (multi interface), through the modem.
 *
 * What a device does each wake, the way cloud IoT HTTPS endpoints are used:
 * one `POST /devices/dev<N>/messages` per message with the raw payload,
 * then, when the fleet has `downlink: true`, one `GET
 * /devices/dev<N>/commands` (200 with a command, or 204); all on one
 * keep-alive connection that the device closes after the last response.
 *
 * How libcurl is driven, and why:
 * - One multi handle on one thread of ours for all wakes of a variant
 *   (curl_multi_poll, woken by curl_multi_wakeup when the engine hands over
 *   a wake): no thread per device, no blocking curl_easy_perform.
 * - An easy handle per wake, re-added for each request so the connection
 *   is reused within the wake; CURLOPT_FRESH_CONNECT on the first request
 *   and CURLOPT_FORBID_REUSE on the last, so no connection outlives its
 *   wake (a sleeping device's radio is off) and curl closes it itself.
 * - curl connects to the modem's endpoint with CURLOPT_CONNECT_TO; the URL
 *   keeps the server's name (127.0.0.1, the certificates' name), so the
 *   Host header is what the device would send to the real server.
 *   (A pre-connected socket, CURL_SOCKOPT_ALREADY_CONNECTED, is broken in
 *   curl 7.88.)
 * - Headers, each one justified, since bytes are what is measured:
 *   Host (HTTP/1.1 requires it), Authorization: Bearer (the device's
 *   credential), Content-Type: application/octet-stream (the body is raw
 *   bytes; curl's default would call it a form), Content-Length. Removed:
 *   curl's default Accept header (any type: it says nothing) and `Expect:
 *   100-continue` (a round trip of waiting, for bodies over curl's
 *   threshold). No User-Agent.
 * - POSTFIELDS points at the payload: no copy.
 * - A message is acked when its response is 2xx: the ingest answers only
 *   once the broker acknowledged the publish, so an HTTP ack means what an
 *   MQTT QoS 1 PUBACK means. 401 is an `auth` failure; any other status is
 *   a `protocol` failure with the status in the detail.
 *
 * connection: persistent: a device's connection stays in curl's connection
 * cache between its wakes (no FORBID_REUSE; FRESH_CONNECT only on the
 * first request over a new kept connection; CURLOPT_MAXAGE_CONN raised
 * from curl's 118 s and CURLMOPT_MAXCONNECTS above the persistent device
 * limit, so curl never drops an idle one itself), matched by its modem
 * endpoint in CONNECT_TO. HTTP has no keep-alive frame of its own, so the
 * device keeps the connection (and the NAT's mapping) alive as devices do:
 * a poll, `GET /devices/dev<N>/commands` (204), once no request ended for
 * a keepalive (struct http_kept, one per device, run by the curl thread;
 * nginx keeps idle client connections for twice the keepalive). A wake
 * that comes while a poll is on the connection waits for its answer (one
 * connection, no pipelining). A dead connection shows through the modem:
 * its TCP gives up once data went unacknowledged for a keepalive
 * (TCP_USER_TIMEOUT), the modem closes curl's side, the poll or the wake's
 * POST fails, and the wake (this one or the next) reconnects.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <curl/curl.h>

#include "adapter.h"
#include "clock.h"
#include "http_frame.h"
#include "ingest_token.h"

/* connection: persistent: how long curl may keep an idle connection for reuse (its default is 118 s). */
#define KEPT_MAXAGE_S (365L * 24 * 3600)

struct http_kept;

struct http_wake {
	int poll;                 /* 0: CURLOPT_PRIVATE of a wake's handle (1: of a keep-alive poll's) */
	struct wake *w;
	struct http_kept *kept;   /* connection: persistent: the device's, else NULL */
	CURL *easy;
	struct curl_slist *post_hdrs, *get_hdrs, *connect_to;
	unsigned char *payload;   /* nmsg * payload_bytes */
	uint32_t step;            /* < nmsg: POST message STEP; == nmsg: GET commands */
	uint32_t steps;
	long status;              /* of the last response */
	char url_post[80], url_get[80];
	char errbuf[CURL_ERROR_SIZE];
	char *command;            /* the body of a 200 to the poll */
	size_t command_len;
	_Atomic int done;
	_Atomic int aborted;
	struct http_wake *next;   /* the hand-over queue */
};

/* connection: persistent: a device's kept connection, as the curl thread
 * keeps it alive. Made on the engine thread (start), listed in H.kept;
 * drop() marks it gone, and the curl thread frees it. */
struct http_kept {
	int poll;                 /* 1: CURLOPT_PRIVATE of the poll's handle */
	struct persist *pc;       /* the engine's (for wake_persist_lost); NULL once dropped */
	CURL *easy;               /* the poll */
	struct curl_slist *hdrs, *connect_to;
	char url[80];
	char errbuf[CURL_ERROR_SIZE];
	uint64_t keepalive_ns;
	uint64_t next_poll_ns;    /* 0: none due (a wake is on it, or it is dead) */
	int polling;              /* the poll's handle is in the multi */
	int busy;                 /* a wake's request is on it */
	struct http_wake *waiting; /* a wake that came during a poll */
	int dead, gone;
	uint32_t polls;
	struct http_kept *next;
};

static struct {
	const struct adapter_env *env;
	CURLM *multi;
	struct http_kept *kept;   /* under lock */
	pthread_t thread;
	int running;
	pthread_mutex_t lock;
	struct http_wake *queue;  /* started on the engine thread, not yet added */
	_Atomic int stop;
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void done(struct http_wake *hw, enum dormant_err err, const char *detail)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&hw->done, &expected, 1))
		return;
	wake_adapter_done(hw->w, err, detail);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_wake *hw = arg;
	size_t len = size * n;
	if (hw->step < hw->w->nmsg)
		return len; /* a POST's response has no body worth keeping */
	char *c = realloc(hw->command, hw->command_len + len);
	if (!c)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	memcpy(c + hw->command_len, p, len);
	hw->command = c;
	hw->command_len += len;
	return len;
}

/* Called by curl once the connection is up, right before it sends the
 * request: the moment a POST is the "publish call", as MQTT's PUBLISH
 * after CONNACK is. Stamping at curl_multi_add_handle instead would count
 * the TCP and TLS handshakes into HTTP's end-to-end latency alone. */
static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct http_wake *hw = arg;
	struct wake *w = hw->w;
	if (hw->step < w->nmsg) {
		uint32_t len = w->fleet->payload_bytes;
		wake_message(w, hw->step, hw->payload + (size_t)hw->step * len, len);
		wake_message_sent(w, hw->step); /* as with MQTT: not sent if the connection never came up */
	}
	return CURL_PREREQFUNC_OK;
}

/* Sets the easy handle up for request STEP and hands it to the multi. */
static int add_step(struct http_wake *hw)
{
	struct wake *w = hw->w;
	CURL *e = hw->easy;
	int last = hw->step + 1 == hw->steps;
	/* A kept connection is made fresh by the wake that connects, and never closed by curl. */
	int fresh = hw->step == 0 && (!hw->kept || w->connected);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, last && !hw->kept ? 1L : 0L);
	if (hw->step < w->nmsg) {
		uint32_t len = w->fleet->payload_bytes;
		unsigned char *msg = hw->payload + (size_t)hw->step * len;
		curl_easy_setopt(e, CURLOPT_URL, hw->url_post);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hw->post_hdrs);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, msg); /* its header is written in on_prereq */
	} else {
		curl_easy_setopt(e, CURLOPT_URL, hw->url_get);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, hw->get_hdrs);
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	CURLMcode mc = curl_multi_add_handle(H.multi, e);
	if (mc != CURLM_OK) {
		char d[96];
		snprintf(d, sizeof(d), "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		done(hw, ERR_LIBRARY, d);
		return -1;
	}
	return 0;
}

static enum dormant_err curl_err_kind(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: return ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT: return ERR_TIMEOUT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR: return ERR_RESET;
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE: return ERR_CLOSED;
	default: return ERR_LIBRARY;
	}
}

/* The wake ends before its last request (an error answer): curl keeps
 * the connection for reuse, since only the last request forbids it, so the
 * modem would see no EOF until nginx's keep-alive timeout. Shut it down:
 * a device that gives up closes its connection. */
static void kept_lost(struct http_kept *k, const char *why);
static struct curl_slist *append_all(struct curl_slist *list, const char *const *h, size_t n);

static void end_early(struct http_wake *hw, enum dormant_err err, const char *detail)
{
	curl_socket_t fd = CURL_SOCKET_BAD;
	if (curl_easy_getinfo(hw->easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd != CURL_SOCKET_BAD)
		shutdown(fd, SHUT_RDWR);
	curl_multi_remove_handle(H.multi, hw->easy);
	if (hw->kept)
		kept_lost(hw->kept, detail); /* before done(): the engine reconnects a wake whose connection was lost */
	done(hw, err, detail);
}

/* Request STEP of HW finished with RC (curl thread). */
static void step_done(struct http_wake *hw, CURLcode rc)
{
	struct wake *w = hw->w;
	wake_note_thread(w);
	if (atomic_load(&hw->aborted)) {
		end_early(hw, ERR_TIMEOUT, "aborted at the wake's deadline");
		return;
	}
	if (rc != CURLE_OK) {
		char d[160];
		snprintf(d, sizeof(d), "%s %s: %.100s", hw->step < w->nmsg ? "POST" : "GET", curl_easy_strerror(rc),
		         hw->errbuf);
		end_early(hw, curl_err_kind(rc), d);
		return;
	}
	curl_easy_getinfo(hw->easy, CURLINFO_RESPONSE_CODE, &hw->status);
	if (hw->status == 401 || hw->status < 200 || hw->status > 299) {
		char d[96];
		snprintf(d, sizeof(d), "%s answered HTTP %ld", hw->step < w->nmsg ? "POST" : "GET", hw->status);
		end_early(hw, hw->status == 401 ? ERR_AUTH : ERR_PROTOCOL, d);
		return;
	}
	curl_multi_remove_handle(H.multi, hw->easy);
	if (hw->step < w->nmsg)
		wake_message_acked(w, hw->step);
	else if (hw->status == 200 && hw->command_len)
		wake_command(w, hw->command, hw->command_len); /* one not from this run is ignored */
	if (++hw->step == hw->steps) {
		if (hw->kept) { /* idle from now: the next poll is a keepalive away, unless a wake comes first */
			hw->kept->busy = 0;
			hw->kept->next_poll_ns = clock_mono_ns() + hw->kept->keepalive_ns;
		}
		done(hw, ERR_OK, NULL);
		return;
	}
	/* The next request: the engine sees the phase from the bytes themselves. */
	add_step(hw);
}

static void take_queue(void)
{
	pthread_mutex_lock(&H.lock);
	struct http_wake *q = H.queue, *fifo = NULL;
	H.queue = NULL;
	pthread_mutex_unlock(&H.lock);
	while (q) { /* pushed newest first: started first, connects first */
		struct http_wake *n = q->next;
		q->next = fifo;
		fifo = q;
		q = n;
	}
	q = fifo;
	while (q) {
		struct http_wake *hw = q;
		q = q->next;
		wake_note_thread(hw->w);
		struct http_kept *k = hw->kept;
		if (k && k->dead) {
			done(hw, ERR_CLOSED, "the kept connection is not up");
			continue;
		}
		if (k && k->polling) {
			k->waiting = hw; /* one connection: after the poll's answer */
			continue;
		}
		if (k) {
			k->busy = 1;
			k->next_poll_ns = 0;
		}
		add_step(hw);
	}
}

/* What every easy handle of ours has: PRIV (a struct http_wake or
 * http_kept) for the curl thread, the modem endpoint CTO, HTTP/1.1, no
 * signals, no Nagle, and the wake's timeout for connect and transfer. */
static void easy_common(CURL *e, void *priv, struct curl_slist *cto, char *errbuf, const struct scenario *sc)
{
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)priv);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, cto);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(sc->wake_timeout_us / 1000u));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(sc->wake_timeout_us / 1000u));
}

/* ---------- connection: persistent ---------- */

static size_t discard(char *p, size_t size, size_t n, void *arg) { return size * n; }

static void kept_free(struct http_kept *k)
{
	if (k->polling)
		curl_multi_remove_handle(H.multi, k->easy);
	if (k->easy)
		curl_easy_cleanup(k->easy);
	curl_slist_free_all(k->hdrs);
	curl_slist_free_all(k->connect_to);
	free(k);
}

/* The connection is gone (curl thread): the engine hears of it, no more polls. */
static void kept_lost(struct http_kept *k, const char *why)
{
	k->dead = 1;
	k->next_poll_ns = 0;
	pthread_mutex_lock(&H.lock);
	if (k->pc)
		wake_persist_lost(k->pc, why);
	pthread_mutex_unlock(&H.lock);
}

/* A poll came back (curl thread). */
static void poll_done(struct http_kept *k, CURLcode rc)
{
	long status = 0;
	curl_multi_remove_handle(H.multi, k->easy);
	k->polling = 0;
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status < 200 || status > 299) {
		char d[200];
		if (rc != CURLE_OK)
			snprintf(d, sizeof(d), "keep-alive poll: %s: %.100s", curl_easy_strerror(rc), k->errbuf);
		else
			snprintf(d, sizeof(d), "keep-alive poll answered HTTP %ld", status);
		kept_lost(k, d);
	} else {
		k->polls++;
		k->next_poll_ns = clock_mono_ns() + k->keepalive_ns;
	}
	struct http_wake *hw = k->waiting;
	k->waiting = NULL;
	if (!hw)
		return;
	if (k->dead) {
		done(hw, ERR_CLOSED, "the kept connection died in a keep-alive poll");
		return;
	}
	k->busy = 1;
	k->next_poll_ns = 0;
	add_step(hw);
}

/* Frees dropped connections and starts the polls that are due; returns
 * how many ms until the next one (-1: none). Curl thread. */
static long run_polls(void)
{
	uint64_t now = clock_mono_ns(), next = 0;
	pthread_mutex_lock(&H.lock);
	for (struct http_kept **pp = &H.kept; *pp;) {
		struct http_kept *k = *pp;
		if (k->gone) {
			*pp = k->next;
			if (k->waiting)
				done(k->waiting, ERR_CLOSED, "the kept connection was closed");
			kept_free(k);
			continue;
		}
		pp = &k->next;
		if (k->dead || k->busy || k->polling || !k->next_poll_ns)
			continue;
		if (k->next_poll_ns <= now) {
			if (curl_multi_add_handle(H.multi, k->easy) == CURLM_OK)
				k->polling = 1;
			else
				k->next_poll_ns = now + k->keepalive_ns;
			continue;
		}
		if (!next || k->next_poll_ns < next)
			next = k->next_poll_ns;
	}
	pthread_mutex_unlock(&H.lock);
	return next ? (long)((next - now) / 1000000u) + 1 : -1;
}

/* The device's kept connection as the curl thread sees it (engine thread, at its first wake). */
static struct http_kept *kept_new(struct wake *w, const char *auth, const char *cto)
{
	struct http_kept *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->poll = 1;
	k->pc = w->pc;
	k->keepalive_ns = w->fleet->keepalive_us * 1000u;
	const char *const get[] = { auth, "Accept:" };
	k->hdrs = append_all(NULL, get, 2);
	k->connect_to = append_all(NULL, &cto, 1);
	k->easy = curl_easy_init();
	if (!k->hdrs || !k->connect_to || !k->easy) {
		kept_free(k);
		return NULL;
	}
	snprintf(k->url, sizeof(k->url), "http://127.0.0.1/devices/dev%u/commands", w->device);
	CURL *e = k->easy;
	easy_common(e, k, k->connect_to, k->errbuf, w->sc);
	curl_easy_setopt(e, CURLOPT_URL, k->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, (long)KEPT_MAXAGE_S);
	return k;
}

static void http_drop(struct persist *pc)
{
	struct http_kept *k = pc->adapter;
	if (!k)
		return;
	pthread_mutex_lock(&H.lock);
	k->pc = NULL;
	k->gone = 1; /* the curl thread frees it */
	pthread_mutex_unlock(&H.lock);
	pc->adapter = NULL;
	curl_multi_wakeup(H.multi);
}

static void *curl_thread(void *arg)
{
	while (!atomic_load(&H.stop)) {
		take_queue();
		int running = 0;
		curl_multi_perform(H.multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(H.multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct http_wake *hw = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&hw);
			if (hw && hw->poll)
				poll_done((struct http_kept *)(void *)hw, m->data.result);
			else if (hw)
				step_done(hw, m->data.result);
		}
		long wait = run_polls();
		curl_multi_poll(H.multi, NULL, 0, wait >= 0 && wait < 1000 ? (int)wait : 1000, NULL);
	}
	return NULL;
}

static enum dormant_err http_init(const struct adapter_env *env, char *err, size_t errlen)
{
	static int global_done;
	if (!global_done) {
		CURLcode rc = curl_global_init(CURL_GLOBAL_NOTHING); /* TLS is the modem's */
		if (rc != CURLE_OK) {
			snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(rc));
			return ERR_LIBRARY;
		}
		global_done = 1;
	}
	H.env = env;
	H.queue = NULL;
	atomic_store(&H.stop, 0);
	H.kept = NULL;
	H.multi = curl_multi_init();
	if (!H.multi) {
		snprintf(err, errlen, "curl_multi_init failed");
		return ERR_LIBRARY;
	}
	/* Kept connections idle in curl's cache: room for every one of them
	 * (curl's default is 4 x the handles added, which evicts idle ones). */
	curl_multi_setopt(H.multi, CURLMOPT_MAXCONNECTS, (long)PERSISTENT_DEVICES_MAX + 64);
	if (pthread_create(&H.thread, NULL, curl_thread, NULL) != 0) {
		snprintf(err, errlen, "cannot start the curl thread");
		curl_multi_cleanup(H.multi);
		H.multi = NULL;
		return ERR_LIBRARY;
	}
	H.running = 1;
	return ERR_OK;
}

static void http_fini(void)
{
	if (H.running) {
		atomic_store(&H.stop, 1);
		curl_multi_wakeup(H.multi);
		pthread_join(H.thread, NULL);
		H.running = 0;
	}
	while (H.kept) {
		struct http_kept *k = H.kept;
		H.kept = k->next;
		kept_free(k);
	}
	if (H.multi) {
		curl_multi_cleanup(H.multi);
		H.multi = NULL;
	}
}

static void http_wake_free(struct http_wake *hw)
{
	if (hw->easy)
		curl_easy_cleanup(hw->easy);
	curl_slist_free_all(hw->post_hdrs);
	curl_slist_free_all(hw->get_hdrs);
	curl_slist_free_all(hw->connect_to);
	free(hw->payload);
	free(hw->command);
	free(hw);
}

/* LIST with the N headers appended, or NULL (LIST freed) when an append fails. */
static struct curl_slist *append_all(struct curl_slist *list, const char *const *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct curl_slist *t = curl_slist_append(list, h[i]);
		if (!t) { /* a failed append leaves the list as it was */
			curl_slist_free_all(list);
			return NULL;
		}
		list = t;
	}
	return list;
}

static enum dormant_err http_start(struct wake *w)
{
	struct http_wake *hw = calloc(1, sizeof(*hw));
	if (!hw)
		return ERR_NOMEM;
	hw->w = w;
	hw->steps = w->nmsg + (w->fleet->downlink ? 1 : 0);
	hw->payload = malloc((size_t)w->nmsg * w->fleet->payload_bytes + 1);
	hw->easy = curl_easy_init();
	char token[INGEST_TOKEN_LEN + 1], auth[32 + INGEST_TOKEN_LEN], cto[64];
	ingest_token(H.env->secret, H.env->secret_len, w->device, token);
	if (w->sc->auth_fault == AUTH_FAULT_WRONG_TOKEN)
		token[0] = token[0] == '0' ? '1' : '0'; /* a stale token: one digit off */
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(cto, sizeof(cto), "::127.0.0.1:%u", w->modem_port);
	snprintf(hw->url_post, sizeof(hw->url_post), "http://127.0.0.1/devices/dev%u/messages", w->device);
	snprintf(hw->url_get, sizeof(hw->url_get), "http://127.0.0.1/devices/dev%u/commands", w->device);
	const char *const post[] = { auth, "Content-Type: application/octet-stream", "Accept:", "Expect:" };
	const char *const get[] = { auth, "Accept:" };
	const char *const to[] = { cto };
	hw->post_hdrs = append_all(NULL, post, sizeof(post) / sizeof(post[0]));
	hw->get_hdrs = append_all(NULL, get, sizeof(get) / sizeof(get[0]));
	hw->connect_to = append_all(NULL, to, 1);
	if (!hw->payload || !hw->easy || !hw->post_hdrs || !hw->get_hdrs || !hw->connect_to) {
		http_wake_free(hw);
		return ERR_NOMEM;
	}
	CURL *e = hw->easy;
	easy_common(e, hw, hw->connect_to, hw->errbuf, w->sc);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, hw);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, hw);
	if (w->pc) {
		curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, (long)KEPT_MAXAGE_S);
		if (!w->pc->adapter) {
			struct http_kept *k = kept_new(w, auth, cto);
			if (!k) {
				http_wake_free(hw);
				return ERR_NOMEM;
			}
			w->pc->adapter = k; /* drop() releases it */
			pthread_mutex_lock(&H.lock);
			k->next = H.kept;
			H.kept = k;
			pthread_mutex_unlock(&H.lock);
		}
		hw->kept = w->pc->adapter;
	}
	w->adapter = hw;
	modem_set_phase(w->mc, PHASE_DATA);
	pthread_mutex_lock(&H.lock);
	hw->next = H.queue;
	H.queue = hw;
	pthread_mutex_unlock(&H.lock);
	curl_multi_wakeup(H.multi);
	return ERR_OK;
}

static void http_abort(struct wake *w)
{
	/* The modem side is closed already, so curl's transfer fails at once;
	 * the flag makes the failure read as the deadline it is. */
	struct http_wake *hw = w->adapter;
	if (hw)
		atomic_store(&hw->aborted, 1);
	curl_multi_wakeup(H.multi);
}

static void http_reap(struct wake *w)
{
	struct http_wake *hw = w->adapter;
	if (!hw)
		return;
	/* done() ran on the curl thread after curl_multi_remove_handle: the
	 * easy handle is nobody's now. */
	http_wake_free(hw);
	w->adapter = NULL;
}

static void http_version(char *buf, size_t len)
{
	curl_version_info_data *d = curl_version_info(CURLVERSION_NOW);
	snprintf(buf, len, "libcurl %s", d ? d->version : "?");
}

const struct adapter_ops http_adapter = {
	.name = "http",
	.protocol = PROTO_HTTP,
	.init = http_init,
	.fini = http_fini,
	.start = http_start,
	.frame = http_frame,
	.tls_close_notify = 1,
	.abort = http_abort,
	.reap = http_reap,
	.drop = http_drop,
	.persist_user_timeout = 1,
	.version = http_version,
};
