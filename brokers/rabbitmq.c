/* rabbitmq.c: config, start-up and stop of a private RabbitMQ broker.
 *
 * Facts measured on Debian 12 (RabbitMQ 3.10.8, Erlang/OTP 25, 2 cores):
 * - /usr/lib/rabbitmq/bin/rabbitmq-server is run directly: Debian's
 *   wrapper in /usr/sbin switches to user rabbitmq and to /var/lib/rabbitmq.
 * - That script forks the VM and waits on it, unless RABBITMQ_ALLOW_INPUT
 *   (never: it drops -noinput) or NOTIFY_SOCKET is set. With NOTIFY_SOCKET
 *   it execs erl, which execs beam.smp: our child's PID is beam.smp's, so
 *   PR_SET_PDEATHSIG (kept across exec) reaches the VM itself and
 *   server_stop() reaps it. NOTIFY_SOCKET names a path nobody listens on:
 *   RabbitMQ's systemd notifications to it are lost, harmlessly.
 * - The broker gets a clean environment through env(1): `env -i VAR=...
 *   rabbitmq-server` execs in place (same PID, death signal kept), leaves
 *   dormant's environment alone (setenv() in a threaded process races with
 *   every getenv()), and keeps the user's variables out: rabbit_env reads
 *   RABBITMQ_X and, when unset, plain X (NODENAME, LOGS, CONFIG_FILE...),
 *   and erl reads ERL_AFLAGS/ERL_FLAGS/ERL_ZFLAGS.
 * - erl starts `epmd -daemon` (detached, bound to every address, never
 *   exits) unless one answers on ERL_EPMD_PORT; RabbitMQ also starts a
 *   throw-away VM ("epmd-starter") for that. So dormant starts its own epmd
 *   first, a child like the broker, on 127.0.0.1 (it adds ::1, also
 *   loopback), and every VM gets `-start_epmd false`: none can start another.
 * - Listeners come from rabbitmq.conf; the distribution listener from
 *   RABBITMQ_DIST_PORT and -kernel inet_dist_use_interface (in ERL_ZFLAGS,
 *   so the epmd-starter VM binds loopback too).
 * - A fresh node makes the MQTT plugin wait 300 ms x (11..20) for cluster
 *   peers: cold starts take 8-15 s, warm (same DIR, same node name) 4-10 s.
 *   Loading every module for the upgrade and boot-step scans is most of the
 *   rest. TERM stops it in about 2.7 s: more than server_stop()'s grace.
 * - TLS 1.2 resumes by session ID only (no TLS 1.2 tickets in Erlang), and
 *   Erlang's server session cache holds 1,000 sessions per listener, oldest
 *   evicted first: a fleet larger than that, waking round-robin, resumes
 *   nothing. Left at the shipped default on purpose: it is a finding.
 * - RabbitMQ's default tcp_listen_options for AMQP include linger {true,0}:
 *   when the broker closes first it sends RST, not FIN. Shipped default kept.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "procstat.h"
#include "rabbitmq.h"

#define RABBITMQ_SERVER "/usr/lib/rabbitmq/bin/rabbitmq-server"
#define RABBITMQ_LIB "/usr/lib/rabbitmq/lib"
/* Debian's erl and epmd, not one earlier in the user's PATH. */
#define CHILD_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define TAG_VAR "DORMANT_RABBITMQ"
#define START_TIMEOUT_MS 30000
#define EPMD_TIMEOUT_MS 5000
#define STOP_GRACE_MS 15000
#define PORT_TRIES 2

static atomic_uint start_seq;

/* argv built in one buffer: strings packed into text[], pointers in v[]. */
struct argv_buf {
	char *v[64];
	int n;
	char text[16384];
	size_t used;
	int overflow;
};

static void arg(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct argv_buf *a, const char *fmt, ...)
{
	if (a->n >= (int)(sizeof(a->v) / sizeof(a->v[0])) - 1 || a->used >= sizeof(a->text)) {
		a->overflow = 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(a->text + a->used, sizeof(a->text) - a->used, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(a->text) - a->used) {
		a->overflow = 1;
		return;
	}
	a->v[a->n++] = a->text + a->used;
	a->v[a->n] = NULL;
	a->used += (size_t)len + 1;
}

static int localhost_resolves(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return 0;
	int ok = 0;
	for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next)
		ok = ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) == INADDR_LOOPBACK;
	freeaddrinfo(res);
	return ok;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int write_conf(const char *path, const struct rabbitmq *r, uint32_t listen_addr, const struct mosq_tls *tls,
                      unsigned heartbeat_s)
{
	char ip[INET_ADDRSTRLEN];
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f,
	        "# written by dormant for one variant; see brokers/rabbitmq.c\n"
	        /* plaintext AMQP always: the devices' port without TLS, a diagnostic one with it */
	        "listeners.tcp.1 = %s:%u\n"
	        /* dormant's backend subscribes here (libmosquitto), outside every wake's figures */
	        "mqtt.listeners.tcp.1 = 127.0.0.1:%u\n"
	        "mqtt.allow_anonymous = true\n"
	        "mqtt.default_user = guest\n"
	        "mqtt.default_pass = guest\n"
	        "mqtt.vhost = /\n"
	        /* MQTT topic a/b/c is routing key a.b.c here, where AMQP devices publish too */
	        "mqtt.exchange = amq.topic\n"
	        /* SASL ANONYMOUS acts as this user */
	        "amqp1_0.default_user = guest\n"
	        "amqp1_0.default_vhost = /\n"
	        /* guest is refused from non-loopback peers by default; devices may come
	         * from an emulated link's addresses (198.18.0.0/15) */
	        "loopback_users.guest = false\n"
	        /* one log: stdout, which is the file server_spawn opened */
	        "log.file = false\n"
	        "log.console = true\n"
	        "log.console.level = info\n"
	        "log.console.use_colors = off\n"
	        /* per-connection lines would dominate the log under load */
	        "log.connection.level = warning\n"
	        /* the run directory may sit on a small file system: a disk alarm would
	         * block publishers and look like a protocol failure */
	        "disk_free_limit.absolute = 8MB\n",
	        server_addr_str(tls ? INADDR_LOOPBACK : listen_addr, ip, sizeof(ip)), r->amqp, r->mqtt);
	/* connection: persistent AMQP: the devices' keep-alive period is half of this (rabbitmq.h) */
	if (heartbeat_s)
		fprintf(f, "heartbeat = %u\n", heartbeat_s);
	/* MQTT devices without TLS share the backend's port; on a link they reach it at LISTEN_ADDR */
	if (!tls && listen_addr != INADDR_LOOPBACK)
		fprintf(f, "mqtt.listeners.tcp.2 = %s:%u\n", server_addr_str(listen_addr, ip, sizeof(ip)), r->mqtt);
	if (tls) {
		fprintf(f,
		        "listeners.ssl.1 = %s:%u\n"
		        "mqtt.listeners.ssl.1 = %s:%u\n"
		        /* TLS 1.2 only; Erlang's default reuse_sessions = true keeps session-ID resumption */
		        "ssl_options.versions.1 = tlsv1.2\n"
		        "ssl_options.certfile = %s\n"
		        "ssl_options.keyfile = %s\n",
		        server_addr_str(listen_addr, ip, sizeof(ip)), r->amqps, ip, r->mqtts, tls->certfile, tls->keyfile);
		if (tls->cafile)
			fprintf(f, "ssl_options.cacertfile = %s\n", tls->cafile);
		if (tls->require_certificate)
			fprintf(f, "ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n");
		else
			fprintf(f, "ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n");
	}
	return fclose(f);
}

/* The node name: an earlier instance's from DIR when its database is there (warm start), else a new one. */
static void choose_node(struct rabbitmq *r, const char *dir)
{
	char path[4200], name[sizeof(r->node)] = "";
	snprintf(path, sizeof(path), "%s/mnesia/dormant-node", dir);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\r\n")] = 0;
		fclose(f);
	}
	struct stat st;
	snprintf(path, sizeof(path), "%s/mnesia/%s", dir, name);
	if (name[0] && strchr(name, '@') && !strchr(name, '/') && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(r->node, sizeof(r->node), "%s", name);
		r->warm = 1;
		return;
	}
	snprintf(r->node, sizeof(r->node), "dormant-%d-%u@localhost", (int)getpid(), atomic_fetch_add(&start_seq, 1) + 1);
	r->warm = 0;
}

/* Does the environment of PID carry TAG=<value>? */
static int proc_has_tag(pid_t pid, const char *tag, char *buf, size_t buflen)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, buflen - 1);
	close(fd);
	if (n <= 0)
		return 0;
	size_t tlen = strlen(tag);
	for (ssize_t off = 0; off < n;) {
		const char *s = buf + off;
		size_t len = strnlen(s, (size_t)(n - off));
		if (len == tlen && memcmp(s, tag, tlen) == 0)
			return 1;
		off += (ssize_t)len + 1;
	}
	return 0;
}

/* Live (non-zombie) processes tagged with this instance's node name. */
static int tagged_pids(const char *node, pid_t *out, int max)
{
	char tag[160];
	snprintf(tag, sizeof(tag), TAG_VAR "=%s", node);
	size_t buflen = 65536; /* ours are small (env -i); another process's may be big, and the tag is not in it */
	char *buf = malloc(buflen);
	DIR *d = buf ? opendir("/proc") : NULL;
	if (!d) {
		free(buf);
		return 0;
	}
	int n = 0;
	pid_t self = getpid();
	struct dirent *de;
	while ((de = readdir(d)) && n < max) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		struct procstat_proc p;
		if (procstat_read((pid_t)pid, &p) < 0 || p.state == 'Z' || p.state == 'X')
			continue;
		if (proc_has_tag((pid_t)pid, tag, buf, buflen))
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	free(buf);
	return n;
}

/* Still running (a zombie has finished), and the same process (PIDs are reused)? */
static int proc_running(pid_t pid, uint64_t starttime)
{
	struct procstat_proc p;
	if (pid <= 0 || procstat_read(pid, &p) < 0)
		return 0;
	return p.state != 'Z' && p.state != 'X' && (!starttime || p.starttime == starttime);
}

/* The first error lines of a failed boot, which say why (the last ones are only the crash). */
static void boot_errors(const char *log, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *f = fopen(log, "r");
	if (!f)
		return;
	char line[512];
	size_t off = 0;
	int n = 0;
	while (fgets(line, sizeof(line), f) && n < 6 && off + 1 < len) {
		char *lvl = strstr(line, "[error]");
		if (!lvl || strstr(line, "BOOT FAILED") || strstr(line, "=========="))
			continue;
		char *msg = strchr(lvl, '>'); /* after the Erlang pid "<0.132.0>" */
		msg = msg ? msg + 1 : lvl + 7;
		while (*msg == ' ')
			msg++;
		if (*msg == '\n' || !*msg)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "  %s", msg);
		n++;
	}
	fclose(f);
}

static int log_mentions(const char *log, const char *what)
{
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	char line[1024];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static enum dormant_err start_epmd(struct rabbitmq *r, const char *dir, char *err, size_t errlen)
{
	memset(&r->epmd, 0, sizeof(r->epmd));
	snprintf(r->epmd.name, sizeof(r->epmd.name), "epmd");
	snprintf(r->epmd.dir, sizeof(r->epmd.dir), "%s", dir);
	snprintf(r->epmd.log, sizeof(r->epmd.log), "%s/log/epmd.log", dir);
	struct argv_buf a = { .n = 0 };
	arg(&a, "env");
	arg(&a, "-i");
	arg(&a, CHILD_PATH);
	arg(&a, TAG_VAR "=%s", r->node);
	arg(&a, "ERL_EPMD_ADDRESS=127.0.0.1");
	arg(&a, "ERL_EPMD_PORT=%u", r->epmd_port);
	arg(&a, "epmd");
	arg(&a, "-port");
	arg(&a, "%u", r->epmd_port);
	arg(&a, "-address");
	arg(&a, "127.0.0.1");
	enum dormant_err e = server_spawn(&r->epmd, a.v, err, errlen);
	if (e != ERR_OK)
		return e;
	return server_wait_ready(&r->epmd, r->epmd_port, EPMD_TIMEOUT_MS, err, errlen);
}

/* The environment of every process of the node (the broker, rabbitmqctl). */
static void node_env(struct argv_buf *a, const struct rabbitmq *r, const char *dir)
{
	arg(a, "env");
	arg(a, "-i");
	arg(a, CHILD_PATH);
	arg(a, "HOME=%s", dir); /* the Erlang cookie goes there */
	arg(a, "LANG=C.UTF-8");
	arg(a, TAG_VAR "=%s", r->node);
	arg(a, "RABBITMQ_NODENAME=%s", r->node);
	arg(a, "RABBITMQ_USE_LONGNAME=false");
	arg(a, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1");
	arg(a, "RABBITMQ_NODE_PORT=%u", r->amqp);
	arg(a, "RABBITMQ_DIST_PORT=%u", r->dist);
	arg(a, "ERL_EPMD_PORT=%u", r->epmd_port);
	arg(a, "ERL_EPMD_ADDRESS=127.0.0.1");
	arg(a, "RABBITMQ_MNESIA_BASE=%s/mnesia", dir);
	arg(a, "RABBITMQ_LOG_BASE=%s/log", dir);
	arg(a, "RABBITMQ_CONFIG_FILE=%s/config/rabbitmq.conf", dir);
	arg(a, "RABBITMQ_CONFIG_FILES=%s/config/conf.d/*.conf", dir);
	arg(a, "RABBITMQ_ADVANCED_CONFIG_FILE=%s/config/advanced.config", dir);
	arg(a, "RABBITMQ_ENABLED_PLUGINS_FILE=%s/config/enabled_plugins", dir);
	arg(a, "RABBITMQ_CONF_ENV_FILE=%s/config/rabbitmq-env.conf", dir);
	arg(a, "RABBITMQ_MOTD_FILE=%s/config/motd", dir);
	arg(a, "RABBITMQ_PID_FILE=%s/beam.pid", dir);
	/* every VM of ours: no epmd of its own, distribution on loopback */
	arg(a, "ERL_ZFLAGS=-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}");
}

static enum dormant_err spawn_broker(struct rabbitmq *r, const char *dir, char *err, size_t errlen)
{
	struct argv_buf a = { .n = 0 };
	node_env(&a, r, dir);
	arg(&a, "NOTIFY_SOCKET=%s/notify", dir); /* exec mode, see the top of this file */
	/* ignore SIGINT, as the script does when it is not exec'ing */
	arg(&a, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=+B i");
	arg(&a, "ERL_CRASH_DUMP=%s/log/erl_crash.dump", dir);
	arg(&a, "ERL_CRASH_DUMP_SECONDS=10");
	arg(&a, RABBITMQ_SERVER);
	if (a.overflow) {
		snprintf(err, errlen, "rabbitmq: directory name too long: %s", dir);
		return ERR_IO;
	}
	return server_spawn(&r->srv, a.v, err, errlen);
}

enum dormant_err rabbitmq_start(struct rabbitmq *r, const char *dir, uint32_t listen_addr, const struct mosq_tls *tls,
                                unsigned heartbeat_s, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->srv.name, sizeof(r->srv.name), "rabbitmq");
	snprintf(r->srv.dir, sizeof(r->srv.dir), "%s", dir);
	snprintf(r->srv.log, sizeof(r->srv.log), "%s/log/rabbitmq.log", dir);
	if (tls && tls->psk_file) {
		snprintf(err, errlen, "rabbitmq: TLS-PSK is not supported on RabbitMQ (Erlang's PSK needs a "
		                      "lookup function inside the broker); use certificates, or mosquitto for PSK");
		return ERR_SERVER;
	}
	if (tls && (!tls->certfile || !tls->keyfile)) {
		snprintf(err, errlen, "rabbitmq: TLS needs a certificate and a key file");
		return ERR_SERVER;
	}
	if (access(RABBITMQ_SERVER, X_OK) != 0) {
		snprintf(err, errlen, "rabbitmq: %s: %s (install rabbitmq-server)", RABBITMQ_SERVER, strerror(errno));
		return ERR_SERVER;
	}
	if (!localhost_resolves()) {
		snprintf(err, errlen, "rabbitmq: the name localhost does not resolve to 127.0.0.1 (check /etc/hosts); "
		                      "the node name needs it");
		return ERR_SERVER;
	}
	const char *sub[] = { "", "/mnesia", "/log", "/config" };
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		char d[4200];
		snprintf(d, sizeof(d), "%s%s", dir, sub[i]);
		if (server_mkdirs(d) < 0) {
			snprintf(err, errlen, "rabbitmq: cannot create %s: %s", d, strerror(errno));
			return ERR_IO;
		}
	}
	char conf[4200], path[4200];
	snprintf(conf, sizeof(conf), "%s/config/rabbitmq.conf", dir);
	snprintf(path, sizeof(path), "%s/config/enabled_plugins", dir);
	if (write_text(path, "[rabbitmq_amqp1_0,rabbitmq_mqtt].\n") != 0) {
		snprintf(err, errlen, "rabbitmq: cannot write %s: %s", path, strerror(errno));
		return ERR_IO;
	}
	/* an empty one, so Debian's /etc/rabbitmq/rabbitmq-env.conf is not read */
	snprintf(path, sizeof(path), "%s/config/rabbitmq-env.conf", dir);
	if (write_text(path, "# written by dormant: nothing from /etc/rabbitmq\n") != 0) {
		snprintf(err, errlen, "rabbitmq: cannot write %s: %s", path, strerror(errno));
		return ERR_IO;
	}
	/* nothing needs advanced.config (it would replace whole lists such as ssl_options) */
	snprintf(path, sizeof(path), "%s/config/advanced.config", dir);
	unlink(path);
	choose_node(r, dir);
	r->tls = tls != NULL;

	enum dormant_err e = ERR_SERVER;
	for (int attempt = 0; attempt < PORT_TRIES; attempt++) {
		uint16_t p[6] = { 0 };
		if ((e = server_pick_ports(p, 6, err, errlen)) != ERR_OK)
			return e;
		r->amqp = p[0];
		r->mqtt = p[1];
		r->dist = p[2];
		r->epmd_port = p[3];
		r->amqps = tls ? p[4] : 0;
		r->mqtts = tls ? p[5] : 0;
		if (write_conf(conf, r, listen_addr, tls, heartbeat_s) != 0) {
			snprintf(err, errlen, "rabbitmq: cannot write %s: %s", conf, strerror(errno));
			return ERR_IO;
		}
		if ((e = start_epmd(r, dir, err, errlen)) != ERR_OK) {
			server_stop(&r->epmd);
			if (e == ERR_INTERRUPTED)
				return e;
			continue;
		}
		r->epmd_pid = r->epmd.pid;
		if ((e = spawn_broker(r, dir, err, errlen)) != ERR_OK) {
			server_stop(&r->epmd);
			return e;
		}
		r->beam_pid = r->srv.pid;
		uint64_t deadline = clock_mono_ns() + (uint64_t)START_TIMEOUT_MS * 1000000u;
		uint16_t need[3] = { tls ? r->amqps : r->amqp, r->mqtt, r->mqtts };
		for (int i = 0; i < 3 && e == ERR_OK; i++) {
			if (!need[i])
				continue;
			uint64_t now = clock_mono_ns();
			int left_ms = now < deadline ? (int)((deadline - now) / 1000000u) : 1;
			/* the devices' ports are on LISTEN_ADDR, the backend's (the second) on 127.0.0.1 */
			e = server_wait_ready_on(&r->srv, i == 1 ? INADDR_LOOPBACK : listen_addr, need[i], left_ms, err,
			                         errlen);
		}
		if (e == ERR_OK) {
			r->srv.port = need[0];
			r->srv.backend_port = r->mqtt;
			snprintf(path, sizeof(path), "%s/mnesia/dormant-node", dir);
			char line[sizeof(r->node) + 2];
			snprintf(line, sizeof(line), "%s\n", r->node);
			write_text(path, line); /* only a warm start later depends on it */
			return ERR_OK;
		}
		/* server_wait_ready stopped it on a timeout, or saw it exit; say why. */
		int port_taken = r->srv.port_taken || log_mentions(r->srv.log, "eaddrinuse");
		if (e == ERR_INTERRUPTED) {
			rabbitmq_stop(r);
			return e;
		}
		char why[1200];
		boot_errors(r->srv.log, why, sizeof(why));
		if (why[0]) { /* keep the first line ("exited during start-up (status 1)"), then the reasons */
			size_t first = strcspn(err, "\n");
			snprintf(err + first, errlen - first, "\nfirst errors:\n%s", why);
		}
		rabbitmq_stop(r);
		if (!port_taken)
			break; /* a new set of ports would not help */
	}
	return e;
}

enum dormant_err rabbitmq_command_queues(struct rabbitmq *r, const uint32_t *first, const uint32_t *count, int n,
                                         char *err, size_t errlen)
{
	/* AMQP 1.0 in RabbitMQ 3.10 cannot declare a queue bound to amq.topic
	 * (/topic and /exchange sources make a new queue on every attach, which
	 * is never deleted), so the queues are declared, bound and emptied
	 * here, once per variant, through the node's own API. */
	char expr[8192];
	size_t used = (size_t)snprintf(expr, sizeof(expr),
	        "lists:foreach(fun(D) -> "
	        "N = list_to_binary(\"dormant.dev\" ++ integer_to_list(D) ++ \".commands\"), "
	        "Q = rabbit_misc:r(<<\"/\">>, queue, N), "
	        "rabbit_amqqueue:declare(Q, true, false, [], none, <<\"dormant\">>), "
	        "{ok, QQ} = rabbit_amqqueue:lookup(Q), "
	        "rabbit_amqqueue:purge(QQ), "
	        "ok = rabbit_binding:add({binding, rabbit_misc:r(<<\"/\">>, exchange, <<\"amq.topic\">>), N, Q, []}, "
	        "<<\"dormant\">>) end, []");
	for (int i = 0; i < n && used < sizeof(expr); i++)
		if (count[i])
			used += (size_t)snprintf(expr + used, sizeof(expr) - used, " ++ lists:seq(%u, %u)", first[i],
			                         first[i] + count[i] - 1);
	if (used + 16 >= sizeof(expr)) {
		snprintf(err, errlen, "rabbitmq: too many device ranges for the command queues");
		return ERR_INTERNAL;
	}
	snprintf(expr + used, sizeof(expr) - used, "), io:format(\"queues ready~n\").");
	struct argv_buf a = { .n = 0 };
	node_env(&a, r, r->srv.dir);
	arg(&a, "/usr/lib/rabbitmq/bin/rabbitmqctl");
	arg(&a, "-q");
	arg(&a, "-n");
	arg(&a, "%s", r->node);
	arg(&a, "eval");
	arg(&a, "%s", expr);
	if (a.overflow) {
		snprintf(err, errlen, "rabbitmq: command line too long for the command queues");
		return ERR_INTERNAL;
	}
	/* rabbitmqctl starts a VM of its own: about 0.5 s. As a registered
	 * child, Ctrl-C and dormant's exit stop it like the servers. */
	struct server ctl = { 0 };
	snprintf(ctl.name, sizeof(ctl.name), "rabbitmqctl");
	snprintf(ctl.dir, sizeof(ctl.dir), "%s", r->srv.dir);
	snprintf(ctl.log, sizeof(ctl.log), "%s/log/command-queues.log", r->srv.dir);
	int status = 0;
	enum dormant_err e = server_spawn(&ctl, a.v, err, errlen);
	if (e == ERR_OK)
		e = server_wait_exit(&ctl, 30000, &status, err, errlen);
	if (e != ERR_OK)
		return e;
	char text[600] = "";
	FILE *f = fopen(ctl.log, "r");
	if (f) {
		size_t got = fread(text, 1, sizeof(text) - 1, f);
		text[got] = 0;
		fclose(f);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(text, "queues ready")) {
		snprintf(err, errlen, "rabbitmq: declaring the command queues failed (%s %d): %.300s",
		         WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		         text);
		return ERR_SERVER;
	}
	return ERR_OK;
}

void rabbitmq_stop(struct rabbitmq *r)
{
	uint64_t beam_start = 0, epmd_start = 0;
	struct procstat_proc p;
	if (r->beam_pid > 0 && procstat_read(r->beam_pid, &p) == 0)
		beam_start = p.starttime;
	if (r->epmd_pid > 0 && procstat_read(r->epmd_pid, &p) == 0)
		epmd_start = p.starttime;
	/* A longer grace than other servers get: RabbitMQ needs ~3 s to stop
	 * cleanly, and a clean stop keeps the database for a warm start. */
	server_stop_grace(&r->srv, STOP_GRACE_MS);
	server_stop(&r->epmd);
	/* Anything else of this instance: the VM's helpers (erl_child_setup,
	 * inet_gethost) normally exit with it; a stray epmd would not. */
	if (r->node[0]) {
		pid_t left[64];
		int n = tagged_pids(r->node, left, 64);
		if (n > 0)
			server_terminate(left, n, 1000);
	}
	/* By PID: both were our children and are reaped; a survivor here would be a bug. */
	if (proc_running(r->beam_pid, beam_start))
		kill(r->beam_pid, SIGKILL);
	if (proc_running(r->epmd_pid, epmd_start))
		kill(r->epmd_pid, SIGKILL);
}

int rabbitmq_pids(const struct rabbitmq *r, pid_t *pids, int max)
{
	if (!r->node[0] || max <= 0)
		return 0;
	return tagged_pids(r->node, pids, max);
}

void rabbitmq_version(char *buf, size_t len)
{
	buf[0] = 0;
	glob_t g;
	char rmq[64] = "";
	if (glob(RABBITMQ_LIB "/rabbitmq_server-*", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
		const char *base = strrchr(g.gl_pathv[g.gl_pathc - 1], '/');
		snprintf(rmq, sizeof(rmq), "%s", base ? base + 1 + strlen("rabbitmq_server-") : "");
	}
	globfree(&g);
	char otp[32] = "";
	if (glob("/usr/lib/erlang/releases/*/OTP_VERSION", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
		FILE *f = fopen(g.gl_pathv[g.gl_pathc - 1], "r");
		if (f) {
			if (fgets(otp, sizeof(otp), f))
				otp[strcspn(otp, "\r\n")] = 0;
			fclose(f);
		}
	}
	globfree(&g);
	if (rmq[0])
		snprintf(buf, len, "RabbitMQ %s on Erlang/OTP %s", rmq, otp[0] ? otp : "?");
}
