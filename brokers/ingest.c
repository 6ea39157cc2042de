/* ingest.c: start-up of dormant-ingest, the HTTP ingest (see ingest.h).
 * A process of its own, like a broker, so its CPU and memory are measured
 * apart from the devices' (procstat.h). It is built next to dormant and
 * found there, not in PATH, so a run never picks up another build's. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest.h"

/* Broker connection (at most 5 s in dormant-ingest) plus its own start. */
#define START_TIMEOUT_MS 10000
#define PORT_TRIES 3

/* DIR-of-this-executable/dormant-ingest. 0, or -1 with ERR filled. */
static int find_exe(char *buf, size_t len, char *err, size_t errlen)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
		snprintf(err, errlen, "ingest: cannot find the dormant executable: readlink /proc/self/exe: %s",
		         n < 0 ? strerror(errno) : "path too long");
		return -1;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	if ((size_t)snprintf(buf, len, "%s/dormant-ingest", self) >= len) {
		snprintf(err, errlen, "ingest: path of %.200s/dormant-ingest too long", self);
		return -1;
	}
	if (access(buf, X_OK) != 0) {
		int e = errno;
		char where[160];
		snprintf(where, sizeof(where), "%.150s", buf); /* a long path is cut, the advice is not */
		snprintf(err, errlen, "ingest: %s: %s (it is built with dormant: cmake --build BUILD --target dormant-ingest)",
		         where, strerror(e));
		return -1;
	}
	return 0;
}

static int write_secret(const char *path, const unsigned char *secret, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char text[2 * INGEST_SECRET_LEN + 1];
	for (size_t i = 0; i < len; i++) {
		text[2 * i] = hex[secret[i] >> 4];
		text[2 * i + 1] = hex[secret[i] & 15];
	}
	text[2 * len] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	/* A file left by an earlier run keeps its mode through O_CREAT; dormant-ingest refuses anything but 0600. */
	ssize_t w = fchmod(fd, 0600) == 0 ? write(fd, text, 2 * len + 1) : -1;
	int saved = errno;
	memset(text, 0, sizeof(text));
	if (close(fd) != 0 || w != (ssize_t)(2 * len + 1)) {
		errno = w < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

enum dormant_err ingest_start(struct server *s, const char *dir, uint16_t broker_port, const unsigned char *secret,
                              size_t secret_len, char *err, size_t errlen)
{
	enum dormant_err e = ERR_SERVER;
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "ingest");
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	snprintf(s->log, sizeof(s->log), "%s/ingest.log", dir);
	if (secret_len != INGEST_SECRET_LEN) {
		snprintf(err, errlen, "ingest: secret of %zu bytes, expected %d", secret_len, INGEST_SECRET_LEN);
		return ERR_INTERNAL;
	}
	char exe[4200];
	if (find_exe(exe, sizeof(exe), err, errlen) != 0)
		return ERR_SERVER;
	if (server_mkdirs(dir) < 0) {
		snprintf(err, errlen, "ingest: cannot create %s: %s", dir, strerror(errno));
		return ERR_IO;
	}
	char secret_path[4200];
	snprintf(secret_path, sizeof(secret_path), "%s/ingest.secret", dir);
	if (write_secret(secret_path, secret, secret_len) != 0) {
		snprintf(err, errlen, "ingest: cannot write %s: %s", secret_path, strerror(errno));
		return ERR_IO;
	}
	char broker[8];
	snprintf(broker, sizeof(broker), "%u", broker_port);
	/* The free port is the kernel's pick a moment ago; if someone takes it
	 * first, dormant-ingest exits at once and we try another. */
	for (int attempt = 0; attempt < PORT_TRIES; attempt++) {
		uint16_t port;
		if ((e = server_pick_ports(&port, 1, err, errlen)) != ERR_OK)
			return e;
		char listen[8];
		snprintf(listen, sizeof(listen), "%u", port);
		char *argv[] = { exe, "--listen", listen, "--broker", broker, "--secret-file", secret_path, NULL };
		e = server_start_on(s, argv, INADDR_LOOPBACK, port, START_TIMEOUT_MS, err, errlen);
		if (e == ERR_OK || e == ERR_INTERRUPTED || e == ERR_IO)
			return e;
	}
	return e;
}

void ingest_version(char *buf, size_t len)
{
	char exe[4200], err[256], cmd[4300];
	buf[0] = 0;
	/* Single-quoted for popen's shell; a path with a quote in it gets no version. */
	if (find_exe(exe, sizeof(exe), err, sizeof(err)) != 0 || strchr(exe, '\''))
		return;
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>&1", exe);
	server_command_line(cmd, buf, len);
}
