/* mosq.c: config and start-up of a private mosquitto broker.
 * Facts measured on Debian 12 (shared/DESIGN.md): starts in ~60 ms; 2.0
 * needs allow_anonymous on anonymous listeners; as root it drops to user
 * mosquitto unless told `user root`; its listen backlog is fixed at 100. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mosq.h"

#define START_TIMEOUT_MS 5000
#define PORT_TRIES 3

static int write_conf(const char *path, uint32_t listen_addr, uint16_t port, uint16_t backend_port,
                      const struct mosq_tls *tls)
{
	char ip[INET_ADDRSTRLEN];
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
	        "# written by dormant for one variant; see brokers/mosq.c\n"
	        "per_listener_settings false\n"
	        "allow_anonymous true\n"
	        "persistence false\n"
	        /* stderr is the log file dormant opened: no permission games after a user switch */
	        "log_dest stderr\n"
	        "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
	        /* per-connection lines would dominate the log under load */
	        "connection_messages false\n"
	        "log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S\n"
	        /* the backend must not lose messages to a queue limit while it catches up */
	        "max_queued_messages 0\n"
	        "max_inflight_messages 0\n"
	        /* Without it, a packet mosquitto sends right behind an unacknowledged
	         * one (a PUBACK after a SUBACK, a command after CONNACK) waits for
	         * the device's delayed ACK: 41 ms measured. nginx (tcp_nodelay on)
	         * and RabbitMQ (nodelay true) send without Nagle by default; so
	         * does every server here, so protocols are compared, not defaults. */
	        "set_tcp_nodelay true\n"
	        /* dormant's backend subscribes here, in plaintext, outside every wake's figures */
	        "listener %u 127.0.0.1\n"
	        /* the devices' listener (an emulated link's server address with links);
	         * TLS settings below apply to it, the last one */
	        "listener %u %s\n",
	        backend_port, port, server_addr_str(listen_addr, ip, sizeof(ip)));
	if (geteuid() == 0)
		fprintf(f, "user root\n"); /* else it drops to user mosquitto, who cannot read the run's 0600 keys */
	if (tls) {
		/* "tlsv1.2" means 1.2 or newer to mosquitto; the device pins 1.2 itself. */
		fprintf(f, "tls_version tlsv1.2\n");
		if (tls->psk_file)
			fprintf(f, "psk_hint dormant\npsk_file %s\nuse_identity_as_username false\n", tls->psk_file);
		else
			fprintf(f, "cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %s\n", tls->cafile,
			        tls->certfile, tls->keyfile, tls->require_certificate ? "true" : "false");
	}
	return fclose(f);
}

enum dormant_err mosq_start(struct server *s, const char *dir, uint32_t listen_addr, const struct mosq_tls *tls, char *err,
                            size_t errlen)
{
	enum dormant_err e = ERR_SERVER;
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "mosquitto");
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(s->log, sizeof(s->log), "%s/mosquitto.log", dir);
	if (server_mkdirs(dir) < 0) {
		snprintf(err, errlen, "mosquitto: cannot create %s: %s", dir, strerror(errno));
		return ERR_IO;
	}
	char conf[4200];
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
	/* The free port is the kernel's pick a moment ago; if someone takes it
	 * first, mosquitto exits at once and we try another. */
	for (int attempt = 0; attempt < PORT_TRIES; attempt++) {
		uint16_t p[2];
		if ((e = server_pick_ports(p, 2, err, errlen)) != ERR_OK)
			return e;
		if (write_conf(conf, listen_addr, p[0], p[1], tls) != 0) {
			snprintf(err, errlen, "mosquitto: cannot write %s: %s", conf, strerror(errno));
			return ERR_IO;
		}
		char *argv[] = { "mosquitto", "-c", conf, NULL };
		if ((e = server_spawn(s, argv, err, errlen)) != ERR_OK)
			return e;
		if ((e = server_wait_ready_on(s, listen_addr, p[0], START_TIMEOUT_MS, err, errlen)) == ERR_OK &&
		    (e = server_wait_ready(s, p[1], START_TIMEOUT_MS, err, errlen)) == ERR_OK) {
			s->port = p[0];
			s->backend_port = p[1];
			return ERR_OK;
		}
		if (e == ERR_INTERRUPTED)
			return e;
		server_stop(s); /* the device port was fine, the backend's was not: this one must go too */
	}
	return e;
}

void mosq_version(char *buf, size_t len)
{
	server_command_line("mosquitto -h 2>&1", buf, len);
}
