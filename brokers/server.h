/* server.h: real servers dormant starts for a run, and stops on every exit path.
 *
 * A server runs from a private directory, binds 127.0.0.1 on a port chosen
 * free at run time, logs into its directory, and dies with dormant even if
 * dormant is killed (PR_SET_PDEATHSIG). server_stop() sends TERM, then KILL
 * after a grace period, and reaps the process. Every started server is in a
 * registry, so server_stop_all() (called on exit and on SIGINT/SIGTERM)
 * leaves nothing behind.
 *
 * Ownership: the caller owns struct server (usually embedded); server_start
 * fills it; server_stop releases what it holds and may be called any number
 * of times.
 */
#ifndef DORMANT_SERVER_H
#define DORMANT_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct server {
	char name[32];          /* "mosquitto" */
	char dir[4096];         /* private directory (config, log) */
	char log[4200];         /* its stderr/stdout */
	pid_t pid;              /* 0 once stopped */
	uint16_t port;          /* where devices connect */
	uint16_t backend_port;  /* where dormant's backend connects (plaintext), if apart */
	uint64_t start_ns, ready_ns;
	int port_taken;         /* the last wait found the port held by a process dormant did not start */
	struct server *next;    /* registry */
};

/* Picks N distinct TCP ports on 127.0.0.1 that are free at this moment (the
 * kernel's choice; the server binds them right after, and server_wait_ready
 * proves it did). ERR_SERVER with "no free port" in ERR when the ephemeral
 * range is used up.
 * Test hook: DORMANT_TEST_PORTS=P1,P2,... in the environment hands out
 * those ports first, in order and unchecked, as if the kernel had picked
 * them and another process had bound them before the server could. */
enum dormant_err server_pick_ports(uint16_t *ports, int n, char *err, size_t errlen);
/* Starts ARGV (argv[0] a path or name in PATH) in S->dir with stdout and stderr to S->log. */
enum dormant_err server_spawn(struct server *s, char *const argv[], char *err, size_t errlen);
/* Waits until S is ready on ADDR:PORT (host order): the process is alive and every
 * listening socket on that address and port belongs to it (or to one of its
 * descendants), matched by socket inode between /proc/net/tcp and
 * /proc/PID/fd. Whatever else answers there is not the server dormant
 * started: then S is stopped, S->port_taken set and ERR_SERVER returned, so
 * the caller can try other ports. Also ERR_SERVER when the process died or
 * TIMEOUT_MS passed, ERR_INTERRUPTED on a signal (see server_set_interrupt). */
enum dormant_err server_wait_ready_on(struct server *s, uint32_t addr, uint16_t port, int timeout_ms, char *err,
                                      size_t errlen);
/* ADDR (host order) as dotted quad into BUF (at least 16 bytes); returns BUF. */
const char *server_addr_str(uint32_t addr, char *buf, size_t len);
/* server_wait_ready_on 127.0.0.1. */
enum dormant_err server_wait_ready(struct server *s, uint16_t port, int timeout_ms, char *err, size_t errlen);
/* server_spawn, then server_wait_ready_on ADDR:PORT; on success S->port = PORT. */
enum dormant_err server_start_on(struct server *s, char *const argv[], uint32_t addr, uint16_t port, int timeout_ms,
                                 char *err, size_t errlen);
/* For a command started with server_spawn: waits up to TIMEOUT_MS for it to
 * exit by itself, its wait status in *STATUS. Past the deadline, or when the
 * interrupt fd is readable, it is stopped and ERR_SERVER / ERR_INTERRUPTED
 * returned. */
enum dormant_err server_wait_exit(struct server *s, int timeout_ms, int *status, char *err, size_t errlen);
/* TERM, then KILL (the whole process group) after a grace of 3 s; reaps. */
void server_stop(struct server *s);
/* The same with a grace of GRACE_MS (RabbitMQ needs about 3 s to stop cleanly). */
void server_stop_grace(struct server *s, int grace_ms);
/* TERM-then-KILL for processes that are not our children (a server's
 * helpers): TERM to each, up to GRACE_MS for all to be gone, KILL to the rest. */
void server_terminate(const pid_t *pids, int n, int grace_ms);
/* FN(ARG) says whether the run was interrupted (non-zero); every wait in
 * brokers/ (readiness, a command's exit, the backend's subscription, a
 * stop's grace) calls it, so a signal is seen wherever dormant waits. FN
 * may itself never return (a second Ctrl-C). NULL: never interrupted. */
void server_set_interrupt(int (*fn)(void *arg), void *arg);
/* Calls that function: non-zero once the run was interrupted. */
int server_interrupted(void);
void server_stop_all(void);
/* The newest server started so far (NULL: none), and stopping every server
 * started after it, newest first: a run inside a longer-lived caller
 * (`dormant bench`) stops its own servers and leaves the caller's. */
const struct server *server_registry_top(void);
void server_stop_newer(const struct server *mark);
/* SIGKILL to every registered server and its process group, and reap them:
 * for a second Ctrl-C, which must not wait for anything. */
void server_kill_all(void);
/* Appends the last lines of the server's log to ERR (for failure messages). */
void server_log_tail(const struct server *s, char *buf, size_t len, int lines);
/* First line of `CMD ARGS` output, for versions. */
void server_command_line(const char *cmd, char *buf, size_t len);
/* Creates DIR and its parents (0700: a run's configs, keys and secrets are
 * nobody else's business; a local user who could read a port from them
 * could try to stand in for the server). */
int server_mkdirs(const char *dir);

#endif
