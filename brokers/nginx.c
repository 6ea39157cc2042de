/* nginx.c: config and start-up of a private nginx in front of the ingest.
 *
 * Choices, and why (facts measured on Debian 12, nginx 1.22.1):
 * - `-p DIR -c DIR/nginx.conf -e stderr -g 'daemon off;'` and every temp
 *   path inside DIR: nothing touches /var/lib/nginx or /run, so it runs as
 *   root or not, beside a system nginx or none.
 * - one worker: the brokers get one core's worth too, and broker.csv
 *   samples the master and its worker together.
 * - TLS: `ssl_session_cache shared:` is what makes session-id resumption
 *   work (without it nginx issues ids it never takes back); tickets are on
 *   by default with keys made at start. TLS 1.2 and 1.3 are offered; the
 *   device pins 1.2 itself, as it does against mosquitto and RabbitMQ.
 * - the upstream keeps idle keep-alive connections to the ingest, so a
 *   device's request costs the ingest no TCP handshake: what is measured is
 *   the device's connection, as with a cloud endpoint's front end.
 * - access_log off: one line per request would cost more than the request.
 * - `server_tokens off` shortens the Server header to "nginx"; nginx 1.22
 *   cannot drop Server or Date without a third-party module, so responses
 *   carry both, as a real deployment's would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nginx.h"

#define START_TIMEOUT_MS 5000
#define PORT_TRIES 3

static int write_conf(const char *path, const char *dir, uint32_t listen_addr, uint16_t port, uint16_t upstream,
                      unsigned idle_s,
                      const struct nginx_tls *tls)
{
	char ip[INET_ADDRSTRLEN];
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "# written by dormant for one variant; see brokers/nginx.c\n");
	/* As root, workers would switch to nobody, who cannot read the run's 0600 keys or write DIR. */
	if (geteuid() == 0)
		fprintf(f, "user root;\n");
	fprintf(f,
	        "worker_processes 1;\n"
	        "pid %s/tmp/nginx.pid;\n" /* dormant writes DIR/nginx.pid itself */
	        "error_log stderr notice;\n"
	        "events {\n"
	        "    worker_connections 8192;\n"
	        "}\n"
	        "http {\n"
	        "    access_log off;\n"
	        "    server_tokens off;\n"
	        "    client_body_temp_path %s/tmp/body;\n"
	        "    proxy_temp_path %s/tmp/proxy;\n"
	        "    fastcgi_temp_path %s/tmp/fastcgi;\n"
	        "    uwsgi_temp_path %s/tmp/uwsgi;\n"
	        "    scgi_temp_path %s/tmp/scgi;\n"
	        /* the ingest refuses more than 256 KiB itself, with a 413 of its own */
	        "    client_max_body_size 1m;\n"
	        "    client_body_buffer_size 512k;\n"
	        /* persistent devices keep theirs idle between wakes and polls (IDLE_S) */
	        "    keepalive_timeout %us;\n"
	        "    keepalive_requests 1000000;\n"
	        "    upstream ingest {\n"
	        "        server 127.0.0.1:%u;\n"
	        "        keepalive 64;\n"
	        "    }\n"
	        "    server {\n"
	        "        listen %s:%u%s;\n",
	        dir, dir, dir, dir, dir, dir, idle_s ? idle_s : 60u, upstream, server_addr_str(listen_addr, ip, sizeof(ip)),
	        port,
	        tls ? " ssl" : "");
	if (tls) {
		fprintf(f,
		        "        ssl_certificate %s;\n"
		        "        ssl_certificate_key %s;\n"
		        "        ssl_protocols TLSv1.2 TLSv1.3;\n"
		        "        ssl_session_cache shared:dormant:16m;\n"
		        "        ssl_session_timeout 1d;\n"
		        "        ssl_session_tickets on;\n",
		        tls->certfile, tls->keyfile);
		if (tls->require_certificate)
			fprintf(f, "        ssl_client_certificate %s;\n        ssl_verify_client on;\n", tls->cafile);
	}
	fprintf(f,
	        "        location / {\n"
	        "            proxy_pass http://ingest;\n"
	        "            proxy_http_version 1.1;\n"
	        /* keep the upstream connection open: no "Connection: close" towards the ingest */
	        "            proxy_set_header Connection \"\";\n"
	        "            proxy_set_header Host $host;\n"
	        "        }\n"
	        "    }\n"
	        "}\n");
	return fclose(f);
}

enum dormant_err nginx_start(struct server *s, const char *dir, uint32_t listen_addr, uint16_t upstream_port,
                             const struct nginx_tls *tls, unsigned idle_s, char *err, size_t errlen)
{
	enum dormant_err e = ERR_SERVER;
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "nginx");
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(s->log, sizeof(s->log), "%s/nginx.log", dir);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	if (server_mkdirs(tmp) < 0) {
		snprintf(err, errlen, "nginx: cannot create %s: %s", tmp, strerror(errno));
		return ERR_IO;
	}
	char conf[4200];
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	for (int attempt = 0; attempt < PORT_TRIES; attempt++) {
		uint16_t port;
		if ((e = server_pick_ports(&port, 1, err, errlen)) != ERR_OK)
			return e;
		if (write_conf(conf, dir, listen_addr, port, upstream_port, idle_s, tls) != 0) {
			snprintf(err, errlen, "nginx: cannot write %s: %s", conf, strerror(errno));
			return ERR_IO;
		}
		char *argv[] = { "nginx", "-p", s->dir, "-c", conf, "-e", "stderr", "-g", "daemon off;", NULL };
		/* a port taken meanwhile makes nginx exit at once: try another */
		e = server_start_on(s, argv, listen_addr, port, START_TIMEOUT_MS, err, errlen);
		if (e == ERR_OK || e == ERR_INTERRUPTED || e == ERR_IO)
			return e;
	}
	return e;
}

void nginx_version(char *buf, size_t len)
{
	server_command_line("nginx -v 2>&1", buf, len);
}
