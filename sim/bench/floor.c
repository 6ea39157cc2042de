/* floor.c: the floor of `dormant bench`, the least a client can spend on
 * dormant's MQTT wake.
 *
 * What makes it a floor: the MQTT packets are built once per device
 * before the clock starts (only the client id and topic differ between
 * devices); one epoll loop on one thread drives every connection in
 * flight, edge-triggered, each step run until the socket would block; no
 * timers, no framing beyond the four fixed-size answers it expects; with
 * TLS one mbedTLS context per slot, reset rather than rebuilt between
 * wakes (its 2 x 16 KB record buffers stay), and each device's session
 * kept parsed in memory. It counts nothing but wakes, failures and times.
 * What it still does that a device must: its own source address, a
 * verified server, the server's FIN waited for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "bench.h"
#include "clock.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define DEVICE_NET 0x7f500000u /* as the modem: device d is 127.80.0.0 + d + 1 */
/* A server flight of fewer bytes than this carried no certificate: a full
 * ECDSA handshake from mosquitto brings its leaf and CA (over 1 KB), a
 * resumed one a ServerHello, a ticket and Finished (about 330 B). */
#define RESUMED_BELOW 700

enum st { ST_CONNECTING, ST_HANDSHAKE, ST_SEND_CONNECT, ST_CONNACK, ST_SEND_PUBLISH, ST_PUBACK, ST_SEND_DISC,
	  ST_EOF };

struct dev {
	unsigned char connect[64], publish[128];
	size_t connect_len, publish_len;
	mbedtls_ssl_session session;
	int has_session;
};

struct slot {
	int fd;
	enum st st;
	uint32_t device;
	size_t off;                /* bytes of the packet being written, or of the answer read */
	unsigned char in[8];
	uint64_t start_ns;
	uint64_t hs_in;            /* ciphertext read during the handshake */
	int resumed;
	int busy;
	mbedtls_ssl_context ssl;
};

struct floor {
	const struct bench_target *t;
	const struct bench_load *l;
	struct bench_result *r;
	struct dev *devs;
	struct slot *slots;
	int epfd;
	uint64_t started, ended;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int suites[2];
};

static const mbedtls_ecp_group_id curves[] = { MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE };

static size_t put_str(unsigned char *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (unsigned char)(n >> 8);
	p[1] = (unsigned char)n;
	memcpy(p + 2, s, n);
	return n + 2;
}

/* CONNECT (MQTT 3.1.1, clean session, keep-alive 60 s) and PUBLISH (QoS 1,
 * packet id 1) for device D, as paho writes them for dormant's devices. */
static void build_packets(struct dev *d, uint32_t device, size_t payload)
{
	char id[24], topic[64];
	snprintf(id, sizeof(id), "dev%u", device);
	snprintf(topic, sizeof(topic), "dormant/dev%u/telemetry", device);
	unsigned char *p = d->connect;
	size_t n = 0;
	p[n++] = 0x10;
	n++; /* remaining length, below: under 128 */
	n += put_str(p + n, "MQTT");
	p[n++] = 4;    /* protocol level 3.1.1 */
	p[n++] = 0x02; /* clean session */
	p[n++] = 0;
	p[n++] = 60;
	n += put_str(p + n, id);
	p[1] = (unsigned char)(n - 2);
	d->connect_len = n;

	p = d->publish;
	size_t rem = 2 + strlen(topic) + 2 + payload;
	n = 0;
	p[n++] = 0x32; /* PUBLISH, QoS 1 */
	if (rem < 128) {
		p[n++] = (unsigned char)rem;
	} else {
		p[n++] = (unsigned char)(0x80 | (rem & 0x7f));
		p[n++] = (unsigned char)(rem >> 7);
	}
	n += put_str(p + n, topic);
	p[n++] = 0;
	p[n++] = 1; /* packet id */
	memset(p + n, 'x', payload);
	n += payload;
	d->publish_len = n;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct slot *s = ctx;
	ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct slot *s = ctx;
	ssize_t n = recv(s->fd, buf, len, 0);
	if (n < 0)
		return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
	if (s->st == ST_HANDSHAKE)
		s->hs_in += (uint64_t)n;
	return (int)n;
}

/* > 0 bytes moved, 0 would block, -1 failed (why in F->r->why if first). */
static long io_write(struct floor *f, struct slot *s, const unsigned char *p, size_t n)
{
	if (f->t->tls) {
		int r = mbedtls_ssl_write(&s->ssl, p, n);
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ)
			return 0;
		return r < 0 ? -1 : r;
	}
	ssize_t r = send(s->fd, p, n, MSG_NOSIGNAL);
	if (r < 0)
		return errno == EAGAIN ? 0 : -1;
	return r;
}

static long io_read(struct floor *f, struct slot *s, unsigned char *p, size_t n)
{
	if (f->t->tls) {
		int r = mbedtls_ssl_read(&s->ssl, p, n);
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ)
			return 0;
		return r <= 0 ? -1 : r;
	}
	ssize_t r = recv(s->fd, p, n, 0);
	if (r < 0)
		return errno == EAGAIN ? 0 : -1;
	return r == 0 ? -1 : r;
}

static void fail_wake(struct floor *f, struct slot *s, const char *what)
{
	if (!f->r->failed)
		snprintf(f->r->why, sizeof(f->r->why), "dev%u: %s", s->device, what);
	f->r->failed++;
}

static void end_wake(struct floor *f, struct slot *s, int ok)
{
	close(s->fd);
	s->fd = -1;
	s->busy = 0;
	f->ended++;
	/* with TLS only the resumed wakes' times: the bench's TLS rows are about those */
	if (ok && (!f->t->tls || s->resumed))
		samples_add(&f->r->lat, (double)(clock_mono_ns() - s->start_ns) / 1e6);
}

static void start_wake(struct floor *f, struct slot *s);

/* Runs S's wake as far as its socket lets it. */
static void drive(struct floor *f, struct slot *s)
{
	struct dev *d = &f->devs[s->device];
	for (;;) {
		long n;
		switch (s->st) {
		case ST_CONNECTING: {
			int e = 0;
			socklen_t el = sizeof(e);
			getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el);
			if (e == EINPROGRESS || e == EALREADY)
				return;
			if (e) {
				fail_wake(f, s, strerror(e));
				end_wake(f, s, 0);
				return;
			}
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			if (getpeername(s->fd, (struct sockaddr *)&peer, &pl) < 0)
				return; /* not connected yet */
			s->st = f->t->tls ? ST_HANDSHAKE : ST_SEND_CONNECT;
			s->off = 0;
			break;
		}
		case ST_HANDSHAKE: {
			int r = mbedtls_ssl_handshake(&s->ssl);
			if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
				return;
			if (r) {
				char buf[96];
				mbedtls_strerror(r, buf, sizeof(buf));
				fail_wake(f, s, buf);
				end_wake(f, s, 0);
				return;
			}
			s->resumed = s->hs_in < RESUMED_BELOW;
			if (s->resumed)
				f->r->resumed_hs++;
			else
				f->r->full_hs++;
			if (d->has_session)
				mbedtls_ssl_session_free(&d->session);
			mbedtls_ssl_session_init(&d->session);
			d->has_session = mbedtls_ssl_get_session(&s->ssl, &d->session) == 0;
			s->st = ST_SEND_CONNECT;
			break;
		}
		case ST_SEND_CONNECT:
		case ST_SEND_PUBLISH:
		case ST_SEND_DISC: {
			static const unsigned char disc[2] = { 0xe0, 0x00 };
			const unsigned char *p = s->st == ST_SEND_CONNECT ? d->connect : s->st == ST_SEND_PUBLISH ? d->publish : disc;
			size_t len = s->st == ST_SEND_CONNECT ? d->connect_len : s->st == ST_SEND_PUBLISH ? d->publish_len : 2;
			n = io_write(f, s, p + s->off, len - s->off);
			if (n == 0)
				return;
			if (n < 0) {
				fail_wake(f, s, "write failed");
				end_wake(f, s, 0);
				return;
			}
			s->off += (size_t)n;
			if (s->off < len)
				break;
			s->off = 0;
			if (s->st == ST_SEND_DISC) {
				/* MQTT over TLS ends as dormant's modem ends it: FIN, no close_notify */
				shutdown(s->fd, SHUT_WR);
				s->st = ST_EOF;
			} else {
				s->st = s->st == ST_SEND_CONNECT ? ST_CONNACK : ST_PUBACK;
			}
			break;
		}
		case ST_CONNACK:
		case ST_PUBACK: {
			n = io_read(f, s, s->in + s->off, 4 - s->off);
			if (n == 0)
				return;
			if (n < 0) {
				fail_wake(f, s, s->st == ST_CONNACK ? "closed before CONNACK" : "closed before PUBACK");
				end_wake(f, s, 0);
				return;
			}
			s->off += (size_t)n;
			if (s->off < 4)
				break;
			s->off = 0;
			static const unsigned char connack[4] = { 0x20, 2, 0, 0 }, puback[4] = { 0x40, 2, 0, 1 };
			if (memcmp(s->in, s->st == ST_CONNACK ? connack : puback, 4)) {
				fail_wake(f, s, s->st == ST_CONNACK ? "CONNACK refused" : "not the PUBACK of packet 1");
				end_wake(f, s, 0);
				return;
			}
			s->st = s->st == ST_CONNACK ? ST_SEND_PUBLISH : ST_SEND_DISC;
			break;
		}
		case ST_EOF: {
			unsigned char sink[512];
			ssize_t r = recv(s->fd, sink, sizeof(sink), 0);
			if (r > 0)
				break; /* an alert or record after DISCONNECT: read off, not looked at */
			if (r < 0 && errno == EAGAIN)
				return;
			end_wake(f, s, 1);
			start_wake(f, s);
			return;
		}
		}
	}
}

/* The slot's next wake, for the next device of the slot's share. */
static void start_wake(struct floor *f, struct slot *s)
{
	if (f->started >= f->l->wakes)
		return;
	int idx = (int)(s - f->slots);
	s->device = bench_slot_device(f->l, idx, f->started);
	f->started++;
	s->busy = 1;
	s->st = ST_CONNECTING;
	s->off = 0;
	s->hs_in = 0;
	s->resumed = 0;
	s->start_ns = clock_mono_ns();
	int one = 1;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		fail_wake(f, s, strerror(errno));
		f->ended++;
		s->busy = 0;
		return;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(DEVICE_NET + s->device + 1) };
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(f->t->port),
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(s->fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    (connect(s->fd, (struct sockaddr *)&srv, sizeof(srv)) < 0 && errno != EINPROGRESS)) {
		fail_wake(f, s, strerror(errno));
		end_wake(f, s, 0);
		return;
	}
	if (f->t->tls) {
		mbedtls_ssl_session_reset(&s->ssl);
		struct dev *d = &f->devs[s->device];
		if (d->has_session)
			mbedtls_ssl_set_session(&s->ssl, &d->session);
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = s };
	epoll_ctl(f->epfd, EPOLL_CTL_ADD, s->fd, &ev);
	drive(f, s);
}

static int tls_setup(struct floor *f)
{
	mbedtls_entropy_init(&f->entropy);
	mbedtls_ctr_drbg_init(&f->drbg);
	mbedtls_x509_crt_init(&f->ca);
	mbedtls_ssl_config_init(&f->conf);
	int r = mbedtls_ctr_drbg_seed(&f->drbg, mbedtls_entropy_func, &f->entropy, (const unsigned char *)"floor", 5);
	if (!r)
		r = mbedtls_x509_crt_parse_file(&f->ca, f->t->ca_file);
	if (!r)
		r = mbedtls_ssl_config_defaults(&f->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
		                                MBEDTLS_SSL_PRESET_DEFAULT);
	if (r) {
		char buf[96];
		mbedtls_strerror(r, buf, sizeof(buf));
		snprintf(f->r->why, sizeof(f->r->why), "floor TLS set-up: %s", buf);
		return -1;
	}
	f->suites[0] = mbedtls_ssl_get_ciphersuite_id("TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256");
	f->suites[1] = 0;
	mbedtls_ssl_conf_rng(&f->conf, mbedtls_ctr_drbg_random, &f->drbg);
	mbedtls_ssl_conf_min_version(&f->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&f->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&f->conf, f->suites);
	mbedtls_ssl_conf_curves(&f->conf, curves);
	mbedtls_ssl_conf_session_tickets(&f->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	mbedtls_ssl_conf_ca_chain(&f->conf, &f->ca, NULL);
	mbedtls_ssl_conf_authmode(&f->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	for (int i = 0; i < f->l->concurrency; i++) {
		struct slot *s = &f->slots[i];
		mbedtls_ssl_init(&s->ssl);
		if (mbedtls_ssl_setup(&s->ssl, &f->conf) || mbedtls_ssl_set_hostname(&s->ssl, "127.0.0.1")) {
			snprintf(f->r->why, sizeof(f->r->why), "floor TLS set-up: mbedtls_ssl_setup failed");
			return -1;
		}
		mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
	}
	return 0;
}

static void tls_teardown(struct floor *f)
{
	for (int i = 0; f->slots && i < f->l->concurrency; i++)
		mbedtls_ssl_free(&f->slots[i].ssl);
	for (uint32_t d = 0; f->devs && d < f->l->devices; d++)
		if (f->devs[d].has_session)
			mbedtls_ssl_session_free(&f->devs[d].session);
	mbedtls_ssl_config_free(&f->conf);
	mbedtls_x509_crt_free(&f->ca);
	mbedtls_ctr_drbg_free(&f->drbg);
	mbedtls_entropy_free(&f->entropy);
}

int floor_run(const struct bench_target *t, const struct bench_load *l, struct bench_result *r)
{
	memset(r, 0, sizeof(*r));
	struct floor f = { .t = t, .l = l, .r = r, .epfd = -1 };
	int rc = -1;
	f.devs = calloc(l->devices, sizeof(*f.devs));
	f.slots = calloc((size_t)l->concurrency, sizeof(*f.slots));
	f.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!f.devs || !f.slots || f.epfd < 0) {
		snprintf(r->why, sizeof(r->why), "floor: %s", strerror(errno ? errno : ENOMEM));
		goto out;
	}
	for (uint32_t d = 0; d < l->devices; d++)
		build_packets(&f.devs[d], d, l->payload);
	for (int i = 0; i < l->concurrency; i++)
		f.slots[i].fd = -1;
	if (t->tls && tls_setup(&f) < 0)
		goto out;

	uint64_t c0 = clock_process_cpu_ns(), t0 = clock_mono_ns();
	for (int i = 0; i < l->concurrency; i++)
		start_wake(&f, &f.slots[i]);
	struct epoll_event evs[64];
	while (f.ended < l->wakes) {
		/* a slot whose wake failed starts its next one here */
		for (int i = 0; i < l->concurrency; i++)
			if (!f.slots[i].busy && f.started < l->wakes)
				start_wake(&f, &f.slots[i]);
		if (f.ended >= l->wakes)
			break;
		int n = epoll_wait(f.epfd, evs, 64, 10000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			char was[sizeof(r->why)];
			snprintf(was, sizeof(was), "%s", r->why);
			snprintf(r->why, sizeof(r->why), "floor: no progress for 10 s (%s)%s%.160s", n < 0 ? strerror(errno) : "timeout",
			         was[0] ? "; first failure: " : "", was);
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;
			if (s->busy)
				drive(&f, s);
		}
	}
	r->wall_s = (double)(clock_mono_ns() - t0) / 1e9;
	r->client_cpu_s = (double)(clock_process_cpu_ns() - c0) / 1e9;
	r->wakes = f.ended;
	rc = 0;
out:
	for (int i = 0; f.slots && i < l->concurrency; i++)
		if (f.slots[i].fd >= 0)
			close(f.slots[i].fd);
	if (t->tls)
		tls_teardown(&f);
	if (f.epfd >= 0)
		close(f.epfd);
	free(f.devs);
	free(f.slots);
	return rc;
}
