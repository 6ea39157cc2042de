/* tls.c: the TLS layer of the network seam (layer.h): mbedTLS client
 * profiles, per-device sessions, the handshake evidence parser, and records
 * over the layer below. See tls.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/platform.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "clock.h"
#include "heap.h"
#include "layer.h"
#include "pki.h"
#include "tls.h"

/* I/O towards the server: send appends ciphertext, recv reads it. Both
 * return a byte count or MBEDTLS_ERR_SSL_WANT_WRITE / WANT_READ; recv
 * returns 0 at EOF. */
typedef int (*tls_io_fn)(void *ctx, unsigned char *buf, size_t len);

/* The pinned suites (README "TLS"): AES-128-GCM everywhere, ECDHE for the
 * certificate modes, plain PSK (no ECDHE) for the cheapest handshake. */
static const char *const default_suite[TLS_COUNT] = {
	[TLS_ECDSA] = "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
	[TLS_RSA] = "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
	[TLS_PSK] = "TLS-PSK-WITH-AES-128-GCM-SHA256",
};

static const mbedtls_ecp_group_id curves[] = { MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE };

/* A device's own credentials: PSK and mutual TLS only (identity, certificate). */
struct tls_own {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	unsigned char psk[PKI_PSK_LEN];
};

/* What a device keeps while it sleeps: 24 B here, and its session as
 * mbedtls_ssl_session_save() writes it, without the server's certificate
 * (a resumed handshake never looks at it; mbedTLS keeps it parsed, 2 KB
 * and more, in a live session): about 250 B with a ticket. A sleeping
 * device of 100,000 costs what a deployed one would keep in its RAM. */
struct tls_device {
	struct tls_own *own;         /* NULL: the profile's shared configuration */
	unsigned char *session;      /* serialized, in its slot (struct tls_profile) or malloc'd; NULL: none to offer */
	uint16_t session_len;
	uint8_t has_ticket;          /* the stored session carries a ticket */
	uint8_t in_slot;             /* SESSION is the device's slot */
};

struct tls_profile {
	const struct scenario *sc;
	const struct variant *v;
	struct pki *pki;
	enum resume_mode resume;     /* what is offered: none on PSK (see tls_profile_create) */
	int suites[2];
	char suite[64];
	mbedtls_x509_crt ca;
	mbedtls_ssl_config conf;     /* shared by devices without their own */
	int per_device;
	struct tls_device *dev;      /* ndevices */
	/* The stored sessions, one slot of slot_len bytes per device, the
	 * length set by the first session stored (a variant's are alike) with
	 * room to spare; a longer one is malloc'd. Slots are dense and touched
	 * only when used: a session malloc'd among a wake's freed buffers
	 * would pin their pages (measured: 460 B a device more at 10,000). */
	unsigned char *slots;
	size_t slot_len;
	uint64_t init_ns;
};

/* Reads TLS records in one direction as they pass, up to ChangeCipherSpec. */
struct rec_parser {
	unsigned char hdr[5];
	size_t hlen, left;
	unsigned char type;
	int encrypted;
	unsigned char mh[4];         /* handshake message header */
	size_t mhlen, mleft;
	unsigned char body[80];      /* start of the message: enough for a Hello's session id */
	size_t blen;
};

struct tls_conn {
	struct tls_profile *p;
	struct tls_device *d;
	mbedtls_ssl_context ssl;
	tls_io_fn send, recv;
	void *io;
	struct rec_parser up, down;
	unsigned char client_sid[32], server_sid[32];
	size_t client_sid_len, server_sid_len;
	int server_hello;
	int offered_ticket;
	struct tls_stats st;
	struct heap_scope heap;
	int done;
};


static void mbed_detail(int ret, const char *what, char *detail, size_t len)
{
	char buf[88]; /* mbedTLS's messages are shorter; DETAIL is 128 in the layer's calls */
	mbedtls_strerror(ret, buf, sizeof(buf));
	snprintf(detail, len, "%s: %s (-0x%04x)", what, buf, (unsigned)-ret);
}

/* ---- profile ---- */

static int conf_base(struct tls_profile *p, mbedtls_ssl_config *conf, mbedtls_x509_crt *ca, char *err, size_t errlen)
{
	mbedtls_ssl_config_init(conf);
	int ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                      MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret) {
		mbed_detail(ret, "mbedtls_ssl_config_defaults", err, errlen);
		return -1;
	}
	mbedtls_ssl_conf_rng(conf, pki_random, p->pki);
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(conf, p->suites);
	mbedtls_ssl_conf_curves(conf, curves);
	/* Tickets only when the variant resumes by ticket: a session-id variant must not be saved by one. */
	mbedtls_ssl_conf_session_tickets(conf, p->resume == RESUME_TICKET ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
	                                                                    : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	if (p->v->tls != TLS_PSK) {
		mbedtls_ssl_conf_ca_chain(conf, ca, NULL);
		mbedtls_ssl_conf_authmode(conf, p->sc->tls_verify ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
	}
	return 0;
}

static int device_init(struct tls_profile *p, uint32_t device, char *err, size_t errlen)
{
	if (!p->per_device)
		return 0;
	struct tls_own *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "tls: out of memory for device %u", device);
		return -1;
	}
	p->dev[device].own = d;
	mbedtls_x509_crt_init(&d->crt);
	mbedtls_pk_init(&d->key);
	if (conf_base(p, &d->conf, &p->ca, err, errlen) < 0)
		return -1;
	if (p->v->tls == TLS_PSK) {
		char identity[24];
		snprintf(identity, sizeof(identity), "dev%u", device);
		pki_psk(p->pki, device, d->psk);
		if (p->sc->tls_fault == TLS_FAULT_WRONG_PSK)
			d->psk[0] ^= 0x5a; /* the device's key no longer matches the server's psk file */
		int ret = mbedtls_ssl_conf_psk(&d->conf, d->psk, sizeof(d->psk), (const unsigned char *)identity,
		                               strlen(identity));
		if (ret) {
			mbed_detail(ret, "mbedtls_ssl_conf_psk", err, errlen);
			return -1;
		}
	}
	if (p->v->client_cert) {
		if (pki_client(p->pki, device, &d->crt, &d->key, err, errlen) != ERR_OK)
			return -1;
		int ret = mbedtls_ssl_conf_own_cert(&d->conf, &d->crt, &d->key);
		if (ret) {
			mbed_detail(ret, "mbedtls_ssl_conf_own_cert", err, errlen);
			return -1;
		}
	}
	return 0;
}

struct tls_profile *tls_profile_create(const struct scenario *sc, const struct variant *v, struct pki *pki,
                                       char *note, size_t notelen, char *err, size_t errlen)
{
	uint64_t cpu0 = clock_thread_cpu_ns();
	struct tls_profile *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "tls: out of memory");
		return NULL;
	}
	p->sc = sc;
	p->v = v;
	p->pki = pki;
	p->resume = v->resume;
	note[0] = 0;
	if (v->tls == TLS_PSK && v->resume != RESUME_NONE) {
		/* Measured on mosquitto 2.0.11: a resumed session on a PSK listener
		 * loses its PSK identity and the CONNECT is refused (CONNACK 4). */
		p->resume = RESUME_NONE;
		snprintf(note, notelen, "resumption not offered: mosquitto's PSK listeners lose the PSK identity of a "
		                        "resumed session (CONNACK 4)");
	}
	snprintf(p->suite, sizeof(p->suite), "%s", sc->tls_ciphersuite[0] ? sc->tls_ciphersuite : default_suite[v->tls]);
	p->suites[0] = mbedtls_ssl_get_ciphersuite_id(p->suite);
	p->suites[1] = 0;
	mbedtls_x509_crt_init(&p->ca);
	p->per_device = v->tls == TLS_PSK || v->client_cert;
	p->dev = calloc(sc->ndevices, sizeof(*p->dev));
	if (!p->dev || !p->suites[0]) {
		snprintf(err, errlen, "tls: %s", p->dev ? "unknown cipher suite" : "out of memory");
		tls_profile_destroy(p);
		return NULL;
	}
	if (v->tls != TLS_PSK) {
		const char *ca = sc->tls_fault == TLS_FAULT_WRONG_CA ? pki->other_ca_crt : pki->ca_crt;
		int ret = mbedtls_x509_crt_parse_file(&p->ca, ca);
		if (ret) {
			mbed_detail(ret, ca, err, errlen);
			tls_profile_destroy(p);
			return NULL;
		}
	}
	if (conf_base(p, &p->conf, &p->ca, err, errlen) < 0) {
		tls_profile_destroy(p);
		return NULL;
	}
	/* Every device's keys and configuration now, not in its first wake. */
	for (uint32_t d = 0; d < sc->ndevices; d++)
		if (device_init(p, d, err, errlen) < 0) {
			tls_profile_destroy(p);
			return NULL;
		}
	p->init_ns = clock_thread_cpu_ns() - cpu0;
	return p;
}

static void session_drop(struct tls_device *d)
{
	if (d->session)
		mbedtls_platform_zeroize(d->session, d->session_len); /* its master secret */
	if (!d->in_slot)
		free(d->session);
	d->session = NULL;
	d->session_len = 0;
	d->has_ticket = 0;
	d->in_slot = 0;
}

/* Room for a session of LEN bytes for device D of P: its slot, or malloc. */
static unsigned char *session_room(struct tls_profile *p, struct tls_device *d, size_t len)
{
	if (!p->slots) {
		size_t slot = (len + len / 4 + 15) & ~(size_t)15;
		/* untouched pages of a large calloc are not resident: a device costs its slot once it stores a session */
		if ((p->slots = calloc(p->sc->ndevices, slot)))
			p->slot_len = slot;
	}
	if (p->slots && len <= p->slot_len) {
		d->in_slot = 1;
		return p->slots + (size_t)(d - p->dev) * p->slot_len;
	}
	d->in_slot = 0;
	return malloc(len);
}

void tls_profile_forget_session(struct tls_profile *p, uint32_t device)
{
	if (!p || device >= p->sc->ndevices)
		return;
	session_drop(&p->dev[device]);
}

void tls_profile_destroy(struct tls_profile *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; p->dev && i < p->sc->ndevices; i++) {
		struct tls_device *d = &p->dev[i];
		session_drop(d);
		if (!d->own)
			continue;
		mbedtls_x509_crt_free(&d->own->crt);
		mbedtls_pk_free(&d->own->key);
		mbedtls_ssl_config_free(&d->own->conf);
		mbedtls_platform_zeroize(d->own->psk, sizeof(d->own->psk));
		free(d->own);
	}
	free(p->dev);
	free(p->slots);
	mbedtls_ssl_config_free(&p->conf);
	mbedtls_x509_crt_free(&p->ca);
	free(p);
}

const char *tls_profile_suite(const struct tls_profile *p) { return p->suite; }
enum resume_mode tls_profile_resume(const struct tls_profile *p) { return p->resume; }
uint64_t tls_profile_init_ns(const struct tls_profile *p) { return p->init_ns; }

void tls_profile_memory(const struct tls_profile *p, size_t *per_device, uint64_t *stored, uint64_t *bytes)
{
	*per_device = sizeof(struct tls_device) + (p->per_device ? sizeof(struct tls_own) : 0);
	*stored = *bytes = 0;
	for (uint32_t i = 0; i < p->sc->ndevices; i++)
		if (p->dev[i].session) {
			++*stored;
			*bytes += p->dev[i].session_len;
		}
}

/* ---- evidence: records as they pass ---- */

static void on_message(struct tls_conn *c, int down, const struct rec_parser *r)
{
	unsigned type = r->mh[0];
	if (down) {
		size_t o = strlen(c->st.hs_server);
		if (o + 4 < sizeof(c->st.hs_server))
			snprintf(c->st.hs_server + o, sizeof(c->st.hs_server) - o, "%s%u", o ? "/" : "", type);
		if (type == 11)
			c->st.cert_msgs++;
		if (type == 4)
			c->st.tickets++;
	}
	/* ClientHello (1) and ServerHello (2): version 2, random 32, session id length 1, id */
	if ((type == 1 && !down) || (type == 2 && down)) {
		if (r->blen < 35)
			return;
		size_t n = r->body[34];
		if (n > 32 || r->blen < 35 + n)
			return;
		memcpy(down ? c->server_sid : c->client_sid, r->body + 35, n);
		*(down ? &c->server_sid_len : &c->client_sid_len) = n;
		if (down)
			c->server_hello = 1;
	}
}

static void feed_handshake(struct tls_conn *c, int down, struct rec_parser *r, const unsigned char *p, size_t n)
{
	while (n) {
		if (r->mhlen < 4) {
			r->mh[r->mhlen++] = *p++;
			n--;
			if (r->mhlen == 4) {
				r->mleft = ((size_t)r->mh[1] << 16) | ((size_t)r->mh[2] << 8) | r->mh[3];
				r->blen = 0;
				if (!r->mleft) {
					on_message(c, down, r);
					r->mhlen = 0;
				}
			}
			continue;
		}
		size_t take = n < r->mleft ? n : r->mleft;
		size_t room = sizeof(r->body) - r->blen;
		memcpy(r->body + r->blen, p, take < room ? take : room);
		r->blen += take < room ? take : room;
		r->mleft -= take;
		p += take;
		n -= take;
		if (!r->mleft) {
			on_message(c, down, r);
			r->mhlen = 0;
		}
	}
}

static void parse_records(struct tls_conn *c, int down, const unsigned char *p, size_t n)
{
	struct rec_parser *r = down ? &c->down : &c->up;
	while (n && !r->encrypted) {
		if (!r->left) {
			r->hdr[r->hlen++] = *p++;
			n--;
			if (r->hlen == 5) {
				r->type = r->hdr[0];
				r->left = ((size_t)r->hdr[3] << 8) | r->hdr[4];
				r->hlen = 0;
			}
			continue;
		}
		size_t take = n < r->left ? n : r->left;
		if (r->type == 22)
			feed_handshake(c, down, r, p, take);
		r->left -= take;
		p += take;
		n -= take;
		if (!r->left && r->type == 20)
			r->encrypted = 1; /* ChangeCipherSpec: what follows in this direction is encrypted */
	}
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *c = ctx;
	int n = c->send(c->io, (unsigned char *)buf, len);
	if (n > 0)
		parse_records(c, 0, buf, (size_t)n);
	return n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn *c = ctx;
	int n = c->recv(c->io, buf, len);
	if (n > 0)
		parse_records(c, 1, buf, (size_t)n);
	return n;
}

/* ---- connection ---- */

static void tls_conn_free(struct tls_conn *c);

static struct tls_conn *tls_conn_create(struct tls_profile *p, uint32_t device, tls_io_fn send, tls_io_fn recv,
                                        void *io, enum dormant_err *err, char *detail, size_t detail_len)
{
	struct tls_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		*err = ERR_NOMEM;
		snprintf(detail, detail_len, "tls: out of memory");
		return NULL;
	}
	c->p = p;
	c->d = &p->dev[device];
	c->send = send;
	c->recv = recv;
	c->io = io;
	c->st.used = 1;
	c->st.heap_peak = -1;
	c->st.session_bytes = -1;
	uint64_t cpu0 = clock_thread_cpu_ns();
	struct heap_scope *prev = heap_enter(&c->heap);
	mbedtls_ssl_init(&c->ssl);
	int ret = mbedtls_ssl_setup(&c->ssl, c->d->own ? &c->d->own->conf : &p->conf);
	if (!ret && p->v->tls != TLS_PSK)
		ret = mbedtls_ssl_set_hostname(&c->ssl, PKI_SERVER_NAME);
	if (!ret && p->resume != RESUME_NONE && c->d->session) {
		/* the stored session, loaded for as long as set_session copies it */
		mbedtls_ssl_session s;
		mbedtls_ssl_session_init(&s);
		ret = mbedtls_ssl_session_load(&s, c->d->session, c->d->session_len);
		if (!ret)
			ret = mbedtls_ssl_set_session(&c->ssl, &s);
		mbedtls_ssl_session_free(&s);
		c->st.offered = ret == 0;
		c->offered_ticket = c->st.offered && c->d->has_ticket;
	}
	heap_leave(prev);
	c->st.cpu_ns += clock_thread_cpu_ns() - cpu0;
	if (ret) {
		*err = ERR_LIBRARY;
		mbed_detail(ret, "mbedtls_ssl_setup", detail, detail_len);
		tls_conn_free(c);
		return NULL;
	}
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	return c;
}

static int want(int ret)
{
	return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* The session the device keeps while it sleeps, ticket included, the
 * server's certificate left out (see struct tls_device). */
static void session_keep(struct tls_conn *c)
{
	struct tls_device *d = c->d;
	mbedtls_ssl_session s;
	mbedtls_ssl_session_init(&s);
	session_drop(d);
	int ok = mbedtls_ssl_get_session(&c->ssl, &s) == 0;
#if defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
	if (ok && s.peer_cert) {
		mbedtls_x509_crt_free(s.peer_cert);
		mbedtls_free(s.peer_cert);
		s.peer_cert = NULL;
	}
#endif
	/* resume: ticket means by ticket only: a session the server gave no
	 * ticket for would be offered by its id, which is the other variant. */
	if (c->p->resume == RESUME_TICKET)
		ok = ok && s.ticket_len;
	size_t len = 0;
	unsigned char *b = NULL;
	if (ok && mbedtls_ssl_session_save(&s, NULL, 0, &len) == MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL && len <= UINT16_MAX &&
	    (b = session_room(c->p, d, len))) {
		d->session = b;
		if (mbedtls_ssl_session_save(&s, b, len, &len) == 0) {
			d->session_len = (uint16_t)len;
			d->has_ticket = s.ticket_len > 0;
			c->st.session_bytes = (int64_t)len;
		} else {
			session_drop(d); /* none kept: the next wake makes a full handshake */
		}
	}
	mbedtls_ssl_session_free(&s);
}

static int tls_conn_handshake(struct tls_conn *c, enum dormant_err *err, char *detail, size_t detail_len)
{
	uint64_t cpu0 = clock_thread_cpu_ns();
	struct heap_scope *prev = heap_enter(&c->heap);
	int ret = mbedtls_ssl_handshake(&c->ssl);
	int rc = 0;
	if (ret == 0) {
		rc = 1;
		c->done = 1;
		if (c->p->resume != RESUME_NONE)
			session_keep(c);
	} else if (!want(ret)) {
		rc = -1;
		uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
		if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags) {
			char info[160];
			mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
			info[strcspn(info, "\n")] = 0;
			*err = ERR_TLS_VERIFY;
			snprintf(detail, detail_len, "server certificate: %.100s", info);
		} else {
			*err = ERR_TLS_HANDSHAKE;
			mbed_detail(ret, "handshake", detail, detail_len);
		}
		/* A session the server refused to finish is not offered again. */
		session_drop(c->d);
	}
	heap_leave(prev);
	uint64_t d = clock_thread_cpu_ns() - cpu0;
	c->st.hs_cpu_ns += d;
	c->st.cpu_ns += d;
	return rc;
}

static long tls_conn_write(struct tls_conn *c, const unsigned char *buf, size_t len, enum dormant_err *err,
                           char *detail, size_t detail_len)
{
	uint64_t cpu0 = clock_thread_cpu_ns();
	struct heap_scope *prev = heap_enter(&c->heap);
	int ret = mbedtls_ssl_write(&c->ssl, buf, len);
	heap_leave(prev);
	c->st.cpu_ns += clock_thread_cpu_ns() - cpu0;
	if (ret >= 0)
		return ret;
	if (want(ret))
		return 0;
	*err = ERR_TLS_RECORD;
	mbed_detail(ret, "write", detail, detail_len);
	return -1;
}

static long tls_conn_read(struct tls_conn *c, unsigned char *buf, size_t len, enum dormant_err *err,
                          char *detail, size_t detail_len)
{
	uint64_t cpu0 = clock_thread_cpu_ns();
	struct heap_scope *prev = heap_enter(&c->heap);
	int ret = mbedtls_ssl_read(&c->ssl, buf, len);
	heap_leave(prev);
	c->st.cpu_ns += clock_thread_cpu_ns() - cpu0;
	if (ret > 0)
		return ret;
	if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == MBEDTLS_ERR_SSL_CONN_EOF)
		return -2; /* close_notify, or TCP closed without one: the server is done either way */
	if (want(ret))
		return 0;
	*err = ERR_TLS_RECORD;
	mbed_detail(ret, "read", detail, detail_len);
	return -1;
}

static int tls_conn_close_notify(struct tls_conn *c)
{
	struct heap_scope *prev = heap_enter(&c->heap);
	int ret = mbedtls_ssl_close_notify(&c->ssl);
	heap_leave(prev);
	return ret;
}

static void tls_conn_stats(struct tls_conn *c, struct tls_stats *out)
{
	struct tls_stats *st = &c->st;
	st->sid_echo = c->server_hello && c->client_sid_len && c->client_sid_len == c->server_sid_len &&
	               !memcmp(c->client_sid, c->server_sid, c->client_sid_len);
	st->resumed = st->offered && st->sid_echo && st->cert_msgs == 0 && c->done;
	st->refused = st->offered && !st->resumed && c->server_hello;
	/* A ticket variant whose server issues no tickets is refused on every handshake. */
	if (c->p->resume == RESUME_TICKET && c->done && !st->resumed && !st->tickets)
		st->refused = 1;
	snprintf(st->resumed_by, sizeof(st->resumed_by), "%s",
	         !st->resumed ? "" : c->offered_ticket ? "ticket" : "session-id");
	st->heap_peak = heap_available() ? c->heap.peak : -1;
	*out = *st;
}

static void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	struct heap_scope *prev = heap_enter(&c->heap);
	mbedtls_ssl_free(&c->ssl);
	heap_leave(prev);
	free(c);
}

/* ---- the layer: records over the layer below ---- */

#define TLS_BUF_SIZE (64 * 1024)

struct tls_buf {
	size_t off, len;
	unsigned char data[TLS_BUF_SIZE];
};

struct tls_layer {
	struct net_layer l;
	struct tls_profile *p;
	uint32_t device;
	int close_notify, sent_close_notify;
	struct tls_conn *c;         /* from the first connect() */
	struct tls_buf *in, *out;   /* ciphertext from / for the layer below */
	uint64_t produced, consumed; /* ciphertext into OUT, out of IN: the stream bytes of the records */
	int below_eof;              /* the layer below is at EOF or failed: nothing more comes */
	struct net_io below_fail;   /* what the layer below said when it failed */
	int eof;                    /* no more plaintext: close_notify, EOF, or a failed read */
};

static void tbuf_compact(struct tls_buf *b)
{
	if (b->off && b->len)
		memmove(b->data, b->data + b->off, b->len);
	b->off = 0;
}

/* Fills IN from the layer below, once: > 0 bytes, NET_AGAIN, NET_EOF (EOF or failure). */
static long fill_in(struct tls_layer *t)
{
	if (t->below_eof)
		return NET_EOF;
	tbuf_compact(t->in);
	size_t room = TLS_BUF_SIZE - t->in->len;
	if (!room)
		return NET_AGAIN;
	struct net_io io = { 0 };
	struct net_layer *b = t->l.below;
	long n = b->ops->read(b, t->in->data + t->in->len, room, &io);
	if (n > 0) {
		t->in->len += (size_t)n;
		return n;
	}
	if (n == NET_AGAIN)
		return NET_AGAIN;
	t->below_eof = 1;
	if (n == NET_FAIL)
		t->below_fail = io;
	return NET_EOF;
}

/* BIO for mbedTLS: ciphertext goes to OUT, comes from IN (filled from the layer below when empty). */
static int layer_send(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_layer *t = ctx;
	struct tls_buf *b = t->out;
	tbuf_compact(b);
	size_t room = TLS_BUF_SIZE - b->len;
	if (!room)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	size_t n = len < room ? len : room;
	memcpy(b->data + b->len, buf, n);
	b->len += n;
	t->produced += n;
	return (int)n;
}

static int layer_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_layer *t = ctx;
	struct tls_buf *b = t->in;
	if (!b->len) {
		long r = fill_in(t);
		if (r == NET_EOF)
			return 0;
		if (r == NET_AGAIN)
			return MBEDTLS_ERR_SSL_WANT_READ;
	}
	size_t n = len < b->len ? len : b->len;
	memcpy(buf, b->data + b->off, n);
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
	t->consumed += n;
	return (int)n;
}

/* OUT to the layer below: NET_DONE when empty, NET_AGAIN, or NET_FAIL (IO
 * says why; what OUT held is dropped, as on a dead socket). */
static int flush_out(struct tls_layer *t, struct net_io *io)
{
	struct net_layer *b = t->l.below;
	while (t->out->len) {
		struct net_io bio = { 0 };
		long n = b->ops->write(b, t->out->data + t->out->off, t->out->len, &bio);
		if (n == NET_AGAIN)
			return NET_AGAIN;
		if (n < 0) {
			io->err = bio.err;
			io->fatal = bio.fatal;
			memcpy(io->detail, bio.detail, sizeof(io->detail));
			t->out->off = t->out->len = 0;
			return NET_FAIL;
		}
		t->out->off += (size_t)n;
		t->out->len -= (size_t)n;
	}
	t->out->off = 0;
	return NET_DONE;
}

static void io_set(struct net_io *io, enum dormant_err e, const char *detail, int fatal)
{
	io->err = e;
	io->fatal = fatal;
	snprintf(io->detail, sizeof(io->detail), "%s", detail);
}

static int layer_connect(struct net_layer *l, struct net_io *io)
{
	struct tls_layer *t = (struct tls_layer *)l;
	enum dormant_err e = ERR_OK;
	char d[128] = "";
	if (!t->c) {
		t->c = tls_conn_create(t->p, t->device, layer_send, layer_recv, t, &e, d, sizeof(d));
		if (!t->c) {
			io_set(io, e, d, 1);
			return NET_FAIL;
		}
	}
	uint64_t p0 = t->produced, c0 = t->consumed;
	int rc = tls_conn_handshake(t->c, &e, d, sizeof(d));
	io->up += t->produced - p0;
	io->down += t->consumed - c0;
	int fe = flush_out(t, io); /* the alert too, when the handshake failed */
	if (rc < 0) {
		io_set(io, e, d, 1);
		return NET_FAIL;
	}
	if (fe == NET_FAIL) {
		io_set(io, ERR_RESET, "send to server during the handshake", 1);
		return NET_FAIL;
	}
	if (rc == 1)
		return NET_DONE;
	if (t->below_eof) {
		io_set(io, ERR_TLS_HANDSHAKE, "server closed the connection during the handshake", 1);
		return NET_FAIL;
	}
	return NET_AGAIN;
}

static long layer_write(struct net_layer *l, const unsigned char *p, size_t n, struct net_io *io)
{
	struct tls_layer *t = (struct tls_layer *)l;
	/* mbedTLS takes at most one record a call; a WANT_WRITE on a full OUT
	 * that the socket then takes whole is worth one more try. */
	for (int tries = 0; tries < 2; tries++) {
		enum dormant_err e = ERR_OK;
		char d[128] = "";
		uint64_t p0 = t->produced;
		long w = tls_conn_write(t->c, p, n, &e, d, sizeof(d));
		io->up += t->produced - p0;
		if (w < 0) {
			io_set(io, e, d, 1);
			return NET_FAIL;
		}
		if (flush_out(t, io) == NET_FAIL)
			return NET_FAIL;
		if (w > 0)
			return w;
		if (t->out->len)
			return NET_AGAIN;
	}
	return NET_AGAIN;
}

/* After the plaintext ended: read the layer below to its end, so the wire
 * figures are final (the bytes count as stream bytes there, never here). */
static long drain(struct tls_layer *t, struct net_io *io)
{
	for (;;) {
		t->in->off = t->in->len = 0;
		long r = fill_in(t);
		if (r == NET_AGAIN)
			return NET_AGAIN;
		if (r == NET_EOF)
			break;
	}
	if (t->below_fail.err != ERR_OK) {
		*io = t->below_fail;
		io->up = io->down = 0;
		io->fatal = 0;
		return NET_FAIL;
	}
	return NET_EOF;
}

static long read_once(struct tls_layer *t, unsigned char *p, size_t n, struct net_io *io)
{
	if (t->eof)
		return drain(t, io);
	enum dormant_err e = ERR_OK;
	char d[128] = "";
	uint64_t c0 = t->consumed;
	long r = tls_conn_read(t->c, p, n, &e, d, sizeof(d));
	io->down += t->consumed - c0;
	if (r > 0)
		return r;
	if (r == 0)
		return NET_AGAIN;
	t->eof = 1;
	if (r == -2) {
		/* close_notify, or the layer below ended (a RST too: say so) */
		if (t->below_eof && t->below_fail.err != ERR_OK)
			return drain(t, io);
		return NET_EOF;
	}
	io_set(io, e, d, 1);
	return NET_FAIL;
}

static long layer_read(struct net_layer *l, unsigned char *p, size_t n, struct net_io *io)
{
	struct tls_layer *t = (struct tls_layer *)l;
	long r = read_once(t, p, n, io);
	io->closed = t->below_eof && (t->eof || r == NET_FAIL);
	return r;
}

static int layer_shutdown(struct net_layer *l, struct net_io *io)
{
	struct tls_layer *t = (struct tls_layer *)l;
	if (t->close_notify && !t->sent_close_notify && t->c) {
		/* Protocols whose server waits for the TLS close (AMQP on RabbitMQ) get one. */
		t->sent_close_notify = 1;
		uint64_t p0 = t->produced;
		tls_conn_close_notify(t->c);
		io->up += t->produced - p0;
	}
	int rc = flush_out(t, io);
	if (rc != NET_DONE)
		return rc;
	struct net_layer *b = l->below;
	return b->ops->shutdown(b, io);
}

static int layer_flush(struct net_layer *l, struct net_io *io)
{
	return flush_out((struct tls_layer *)l, io);
}

static size_t layer_pending(const struct net_layer *l)
{
	return ((const struct tls_layer *)l)->out->len;
}

static size_t layer_buffered(const struct net_layer *l)
{
	const struct tls_layer *t = (const struct tls_layer *)l;
	if (t->eof || !t->c)
		return 0;
	return t->in->len + mbedtls_ssl_get_bytes_avail(&t->c->ssl);
}

static void layer_report(struct net_layer *l, struct modem_counts *c)
{
	struct tls_layer *t = (struct tls_layer *)l;
	if (t->c)
		tls_conn_stats(t->c, &c->tls);
}

static void layer_close(struct net_layer *l)
{
	struct tls_layer *t = (struct tls_layer *)l;
	tls_conn_free(t->c);
	free(t->in);
	free(t->out);
	free(t);
}

static const struct net_layer_ops tls_layer_ops = {
	.name = "tls",
	.connect = layer_connect,
	.write = layer_write,
	.read = layer_read,
	.shutdown = layer_shutdown,
	.flush = layer_flush,
	.pending = layer_pending,
	.buffered = layer_buffered,
	.report = layer_report,
	.close = layer_close,
};

struct net_layer *net_tls_open(struct tls_profile *p, uint32_t device, int close_notify, struct net_layer *below,
                               struct net_io *io)
{
	struct tls_layer *t = calloc(1, sizeof(*t));
	if (t) {
		t->in = malloc(sizeof(*t->in));
		t->out = malloc(sizeof(*t->out));
	}
	if (!t || !t->in || !t->out) {
		if (t) {
			free(t->in);
			free(t->out);
		}
		free(t);
		io_set(io, ERR_NOMEM, "tls: out of memory", 1);
		return NULL;
	}
	t->in->off = t->in->len = t->out->off = t->out->len = 0;
	t->l.ops = &tls_layer_ops;
	t->l.below = below;
	t->l.phase = PHASE_TLS;
	t->p = p;
	t->device = device;
	t->close_notify = close_notify;
	return &t->l;
}
