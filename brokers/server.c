/* server.c: spawn, readiness, stop for the real servers of a run. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "server.h"

#define STOP_GRACE_MS 3000

static struct server *registry;
static int interrupt_fd = -1;

void server_set_interrupt_fd(int fd)
{
	interrupt_fd = fd;
}
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

uint16_t server_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	uint16_t port = 0;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int server_mkdirs(const char *dir)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void unregister(struct server *s)
{
	pthread_mutex_lock(&registry_lock);
	for (struct server **pp = &registry; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
}

enum dormant_err server_spawn(struct server *s, char *const argv[], char *err, size_t errlen)
{
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		snprintf(err, errlen, "%s: cannot create %s: %s", s->name, s->log, strerror(errno));
		return ERR_IO;
	}
	pid_t parent = getpid();
	s->start_ns = clock_mono_ns();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "%s: fork: %s", s->name, strerror(errno));
		close(logfd);
		return ERR_SERVER;
	}
	if (pid == 0) {
		/* Die with dormant, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0); /* a terminal's Ctrl-C reaches dormant only; dormant stops us in order */
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (chdir(s->dir) < 0)
			_exit(126);
		execvp(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	s->pid = pid;
	/* The PID on record, so a test (or a user) can check nothing outlived the run. */
	char pidpath[4200];
	snprintf(pidpath, sizeof(pidpath), "%s/%s.pid", s->dir, s->name);
	FILE *pf = fopen(pidpath, "w");
	if (pf) {
		fprintf(pf, "%d\n", (int)pid);
		fclose(pf);
	}
	unregister(s); /* a retry spawns the same struct again: never list it twice */
	pthread_mutex_lock(&registry_lock);
	s->next = registry;
	registry = s;
	pthread_mutex_unlock(&registry_lock);
	return ERR_OK;
}

static int try_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

enum dormant_err server_wait_ready(struct server *s, uint16_t port, int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		int status;
		pid_t r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid) {
			s->pid = 0;
			unregister(s);
			char tail[600];
			server_log_tail(s, tail, sizeof(tail), 5);
			snprintf(err, errlen, "%s exited during start-up (%s %d); log %s:\n%s", s->name,
			         WIFEXITED(status) ? "status" : "signal",
			         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), s->log, tail);
			return ERR_SERVER;
		}
		if (try_connect(port)) {
			s->ready_ns = clock_mono_ns();
			return ERR_OK;
		}
		struct pollfd pfd = { .fd = interrupt_fd, .events = POLLIN };
		if (interrupt_fd >= 0 && poll(&pfd, 1, 0) > 0) {
			/* Ctrl-C while a slow server starts (RabbitMQ: up to 15 s) stops now. */
			snprintf(err, errlen, "interrupted while %s was starting", s->name);
			server_stop(s);
			return ERR_INTERRUPTED;
		}
		if (clock_mono_ns() > deadline) {
			char tail[600];
			server_log_tail(s, tail, sizeof(tail), 5);
			snprintf(err, errlen, "%s did not accept on 127.0.0.1:%u within %d ms; log %s:\n%s", s->name,
			         port, timeout_ms, s->log, tail);
			server_stop(s);
			return ERR_SERVER;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

enum dormant_err server_start_on(struct server *s, char *const argv[], uint16_t port, int timeout_ms, char *err,
                                 size_t errlen)
{
	enum dormant_err e = server_spawn(s, argv, err, errlen);
	if (e == ERR_OK && (e = server_wait_ready(s, port, timeout_ms, err, errlen)) == ERR_OK)
		s->port = port;
	return e;
}

enum dormant_err server_wait_exit(struct server *s, int timeout_ms, int *status, char *err, size_t errlen)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		if (waitpid(s->pid, status, WNOHANG) == s->pid) {
			s->pid = 0;
			unregister(s);
			return ERR_OK;
		}
		struct pollfd pfd = { .fd = interrupt_fd, .events = POLLIN };
		if (interrupt_fd >= 0 && poll(&pfd, 1, 0) > 0) {
			snprintf(err, errlen, "interrupted while %s was running", s->name);
			server_stop(s);
			return ERR_INTERRUPTED;
		}
		if (clock_mono_ns() > deadline) {
			snprintf(err, errlen, "%s did not finish within %d ms; log %s", s->name, timeout_ms, s->log);
			server_stop(s);
			return ERR_SERVER;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		uint64_t deadline = clock_mono_ns() + (uint64_t)STOP_GRACE_MS * 1000000u;
		int status;
		for (;;) {
			pid_t r = waitpid(s->pid, &status, WNOHANG);
			if (r == s->pid || (r < 0 && errno == ECHILD))
				break;
			if (clock_mono_ns() > deadline) {
				/* The whole group: a master's workers (nginx) must not outlive it. */
				kill(-s->pid, SIGKILL);
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
				break;
			}
			struct timespec ts = { 0, 2 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		s->pid = 0;
	}
	unregister(s);
}

void server_stop_all(void)
{
	for (;;) {
		pthread_mutex_lock(&registry_lock);
		struct server *s = registry;
		pthread_mutex_unlock(&registry_lock);
		if (!s)
			break;
		server_stop(s);
	}
}

void server_log_tail(const struct server *s, char *buf, size_t len, int lines)
{
	buf[0] = 0;
	FILE *f = fopen(s->log, "r");
	if (!f)
		return;
	char ring[16][256];
	int n = 0;
	while (n < 1000000 && fgets(ring[n % 16], sizeof(ring[0]), f))
		n++;
	fclose(f);
	int from = n > lines ? n - lines : 0;
	size_t off = 0;
	for (int i = from; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "  %s", ring[i % 16]);
}

void server_command_line(const char *cmd, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(buf, (int)len, p))
		buf[strcspn(buf, "\r\n")] = 0;
	pclose(p);
}
