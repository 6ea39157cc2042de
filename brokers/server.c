/* server.c: spawn, readiness, stop for the real servers of a run. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include "procstat.h"
#include "server.h"

#define STOP_GRACE_MS 3000
#define PICK_TRIES 20

static struct server *registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static int (*interrupt_fn)(void *);
static void *interrupt_arg;

void server_set_interrupt(int (*fn)(void *arg), void *arg)
{
	interrupt_fn = fn;
	interrupt_arg = arg;
}

int server_interrupted(void)
{
	return interrupt_fn ? interrupt_fn(interrupt_arg) : 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* DORMANT_TEST_PORTS (server.h): the next port of the list, 0 when it is used up. */
static uint16_t test_port(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static size_t used;
	const char *list = getenv("DORMANT_TEST_PORTS");
	uint16_t port = 0;
	if (!list)
		return 0;
	pthread_mutex_lock(&lock);
	const char *p = list + used;
	while (*p == ',')
		p++;
	char *end;
	unsigned long v = strtoul(p, &end, 10);
	if (end != p && v > 0 && v < 65536) {
		port = (uint16_t)v;
		used = (size_t)(end - list);
	}
	pthread_mutex_unlock(&lock);
	return port;
}

/* The kernel's pick of a port free on 127.0.0.1 now; 0 (errno set) when none is. */
static uint16_t free_port(void)
{
	uint16_t port = test_port();
	if (port)
		return port;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return port;
}

enum dormant_err server_pick_ports(uint16_t *ports, int n, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		/* each is the kernel's pick of a port free at that moment: a pick may repeat an earlier one */
		for (int tries = 0;; tries++) {
			uint16_t p = free_port();
			if (!p) {
				snprintf(err, errlen, "no free port on 127.0.0.1: %s (the ephemeral range, "
				         "net.ipv4.ip_local_port_range, is used up)", strerror(errno));
				return ERR_SERVER;
			}
			int dup = 0;
			for (int k = 0; k < i; k++)
				dup |= ports[k] == p;
			if (!dup) {
				ports[i] = p;
				break;
			}
			if (tries >= PICK_TRIES) {
				snprintf(err, errlen, "no free port on 127.0.0.1: the kernel offers only ports already picked");
				return ERR_SERVER;
			}
		}
	}
	return ERR_OK;
}

int server_mkdirs(const char *dir)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
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
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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

const char *server_addr_str(uint32_t addr, char *buf, size_t len)
{
	struct in_addr ia = { .s_addr = htonl(addr) };
	return inet_ntop(AF_INET, &ia, buf, (socklen_t)len) ? buf : "?";
}

static int try_connect(uint32_t addr, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

#define MAX_LISTENERS 16

/* Inodes of the sockets listening on ADDR:PORT (IPv4, host order), from
 * /proc/net/tcp; how many (at most MAX), or -1 if it cannot be read. */
static int listeners(uint32_t want, uint16_t port, unsigned long *inodes, int max)
{
	FILE *f = fopen("/proc/net/tcp", "re");
	if (!f)
		return -1;
	char line[512];
	int n = 0;
	if (!fgets(line, sizeof(line), f)) { /* the header */
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned addr, lport, st;
		unsigned long inode;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X %*8X:%*8X %*2X:%*8X %*8X %*u %*d %lu", &addr, &lport, &st,
		           &inode) != 4)
			continue;
		/* the address is printed as the in-memory __be32 */
		if (st == 0x0A && lport == port && addr == htonl(want) && n < max)
			inodes[n++] = inode;
	}
	fclose(f);
	return n;
}

/* Does PID hold socket INODE among its file descriptors? */
static int holds_socket(pid_t pid, unsigned long inode)
{
	char dir[64], want[48];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		char path[320], target[64];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = 0;
			found = strcmp(target, want) == 0;
		}
	}
	closedir(d);
	return found;
}

/* 1: every listener on ADDR:PORT is S's process's or a descendant's;
 * 0: none listens yet; -1: one belongs to a process dormant did not start. */
static int port_owned(const struct server *s, uint32_t addr, uint16_t port)
{
	unsigned long inodes[MAX_LISTENERS];
	int n = listeners(addr, port, inodes, MAX_LISTENERS);
	if (n <= 0)
		return 0;
	pid_t tree[64];
	int nt = procstat_tree(&s->pid, 1, tree, 64);
	for (int i = 0; i < n; i++) {
		int ours = 0;
		for (int k = 0; k < nt && !ours; k++)
			ours = holds_socket(tree[k], inodes[i]);
		if (!ours)
			return -1;
	}
	return 1;
}

enum dormant_err server_wait_ready_on(struct server *s, uint32_t addr, uint16_t port, int timeout_ms, char *err,
                                      size_t errlen)
{
	char ip[INET_ADDRSTRLEN];
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	s->port_taken = 0;
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
		/* Something accepts: ready only if it is the process we started.
		 * Whatever else listens there is not our server, even when ours
		 * is still alive (it will die of "address in use"). */
		int owned = try_connect(addr, port) ? port_owned(s, addr, port) : 0;
		if (owned > 0 && waitpid(s->pid, &status, WNOHANG) == 0) {
			s->ready_ns = clock_mono_ns();
			return ERR_OK;
		}
		if (owned < 0) {
			s->port_taken = 1;
			snprintf(err, errlen, "%s: %s:%u is held by a process dormant did not start; not using it",
			         s->name, server_addr_str(addr, ip, sizeof(ip)), port);
			server_stop(s);
			return ERR_SERVER;
		}
		if (server_interrupted()) {
			/* Ctrl-C while a slow server starts (RabbitMQ: up to 15 s) stops now. */
			snprintf(err, errlen, "interrupted while %s was starting", s->name);
			server_stop(s);
			return ERR_INTERRUPTED;
		}
		if (clock_mono_ns() > deadline) {
			char tail[600];
			server_log_tail(s, tail, sizeof(tail), 5);
			snprintf(err, errlen, "%s did not accept on %s:%u within %d ms; log %s:\n%s", s->name,
			         server_addr_str(addr, ip, sizeof(ip)), port, timeout_ms, s->log, tail);
			server_stop(s);
			return ERR_SERVER;
		}
		sleep_ms(5);
	}
}

enum dormant_err server_wait_ready(struct server *s, uint16_t port, int timeout_ms, char *err, size_t errlen)
{
	return server_wait_ready_on(s, INADDR_LOOPBACK, port, timeout_ms, err, errlen);
}

enum dormant_err server_start_on(struct server *s, char *const argv[], uint32_t addr, uint16_t port, int timeout_ms,
                                 char *err, size_t errlen)
{
	enum dormant_err e = server_spawn(s, argv, err, errlen);
	if (e == ERR_OK && (e = server_wait_ready_on(s, addr, port, timeout_ms, err, errlen)) == ERR_OK)
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
		if (server_interrupted()) {
			snprintf(err, errlen, "interrupted while %s was running", s->name);
			server_stop(s);
			return ERR_INTERRUPTED;
		}
		if (clock_mono_ns() > deadline) {
			snprintf(err, errlen, "%s did not finish within %d ms; log %s", s->name, timeout_ms, s->log);
			server_stop(s);
			return ERR_SERVER;
		}
		sleep_ms(5);
	}
}

/* Still running? A zombie has finished; one of our children is reaped here. */
static int running(pid_t pid)
{
	int status;
	if (pid <= 0)
		return 0;
	pid_t r = waitpid(pid, &status, WNOHANG);
	if (r == pid || (r < 0 && errno != ECHILD))
		return 0;
	struct procstat_proc p;
	return procstat_read(pid, &p) == 0 && p.state != 'Z' && p.state != 'X';
}

/* The one TERM-then-KILL: GROUP also kills each one's process group at
 * the end (a master's workers, nginx's, must not outlive it). */
static void terminate(const pid_t *pids, int n, int grace_ms, int group)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	uint64_t deadline = clock_mono_ns() + (uint64_t)grace_ms * 1000000u;
	int left;
	for (;;) {
		left = 0;
		for (int i = 0; i < n; i++)
			left += running(pids[i]);
		if (!left || clock_mono_ns() > deadline)
			break;
		(void)server_interrupted(); /* a second Ctrl-C must not wait for the grace */
		sleep_ms(2);
	}
	for (int i = 0; left && i < n; i++) {
		if (pids[i] <= 0)
			continue;
		if (group)
			kill(-pids[i], SIGKILL);
		if (running(pids[i])) {
			kill(pids[i], SIGKILL);
			int status;
			waitpid(pids[i], &status, 0); /* ECHILD for a process that is not ours: nothing to reap */
		}
	}
}

void server_terminate(const pid_t *pids, int n, int grace_ms)
{
	terminate(pids, n, grace_ms, 0);
}

void server_stop_grace(struct server *s, int grace_ms)
{
	if (s->pid > 0) {
		terminate(&s->pid, 1, grace_ms, 1);
		s->pid = 0;
	}
	unregister(s);
}

void server_stop(struct server *s)
{
	server_stop_grace(s, STOP_GRACE_MS);
}

void server_kill_all(void)
{
	pthread_mutex_lock(&registry_lock);
	for (struct server *s = registry; s; s = s->next)
		if (s->pid > 0) {
			kill(-s->pid, SIGKILL);
			kill(s->pid, SIGKILL);
		}
	for (struct server *s = registry; s; s = s->next)
		if (s->pid > 0) {
			int status;
			waitpid(s->pid, &status, 0);
			s->pid = 0;
		}
	registry = NULL;
	pthread_mutex_unlock(&registry_lock);
}

const struct server *server_registry_top(void)
{
	pthread_mutex_lock(&registry_lock);
	const struct server *s = registry;
	pthread_mutex_unlock(&registry_lock);
	return s;
}

void server_stop_newer(const struct server *mark)
{
	for (;;) {
		pthread_mutex_lock(&registry_lock);
		struct server *s = registry;
		pthread_mutex_unlock(&registry_lock);
		if (!s || s == mark)
			break;
		server_stop(s);
	}
}

void server_stop_all(void)
{
	server_stop_newer(NULL);
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
