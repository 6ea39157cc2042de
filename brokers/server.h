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
	struct server *next;    /* registry */
};

/* Picks a free TCP port on 127.0.0.1 (the kernel's choice; the server binds it right after). */
uint16_t server_free_port(void);
/* Starts ARGV (argv[0] a path or name in PATH) in S->dir with stdout and stderr to S->log. */
enum dormant_err server_spawn(struct server *s, char *const argv[], char *err, size_t errlen);
/* Waits until 127.0.0.1:PORT accepts TCP, or the process died, or TIMEOUT_MS passed. */
enum dormant_err server_wait_ready(struct server *s, uint16_t port, int timeout_ms, char *err, size_t errlen);
/* server_spawn, then server_wait_ready on PORT; on success S->port = PORT. */
enum dormant_err server_start_on(struct server *s, char *const argv[], uint16_t port, int timeout_ms, char *err,
                                 size_t errlen);
/* For a command started with server_spawn: waits up to TIMEOUT_MS for it to
 * exit by itself, its wait status in *STATUS. Past the deadline, or when the
 * interrupt fd is readable, it is stopped and ERR_SERVER / ERR_INTERRUPTED
 * returned. */
enum dormant_err server_wait_exit(struct server *s, int timeout_ms, int *status, char *err, size_t errlen);
void server_stop(struct server *s);
/* While FD (the run's signalfd) is readable, server_wait_ready() gives up
 * with ERR_INTERRUPTED instead of waiting out its deadline. -1: never. */
void server_set_interrupt_fd(int fd);
void server_stop_all(void);
/* Appends the last lines of the server's log to ERR (for failure messages). */
void server_log_tail(const struct server *s, char *buf, size_t len, int lines);
/* First line of `CMD ARGS` output, for versions. */
void server_command_line(const char *cmd, char *buf, size_t len);
/* Creates DIR and its parents (0755). */
int server_mkdirs(const char *dir);

#endif
