/* measure.c: the candidates a deployment needs and its runs lack, measured
 * by a small `dormant run` of their own (measure.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "measure.h"
#include "recommend.h"
#include "report.h"
#include "simulate.h"

struct need {
	const char *protocol, *tls;
	int client_cert, have[2]; /* have: resume none / session-id measured */
};

/* The per-wake candidates deployment D needs (see measure.h), into N; how many. */
static size_t needed(const struct deployment *d, struct need *n, size_t cap)
{
	static const char *const protos[] = { "mqtt", "amqp", "http" };
	size_t k = 0;
	for (size_t p = 0; p < 3; p++)
		for (int t = 0; t < 3; t++) {
			const char *tls = t == 0 ? "ecdsa" : t == 1 ? "none" : "psk";
			if (t == 1 && d->encryption == ENCRYPT_REQUIRED)
				continue;
			/* PSK only where the devices authenticate by it, and not over HTTP (nginx has none) */
			if (t == 2 && (d->client_auth != AUTH_PSK || p == 2))
				continue;
			if (t == 0 && d->client_auth == AUTH_PSK)
				continue;
			if (!deploy_port_ok(d, recommend_port(protos[p], tls)) || k == cap)
				continue;
			n[k++] = (struct need){ protos[p], tls, t == 0 && d->client_auth == AUTH_CERTIFICATE, { 0, 0 } };
		}
	return k;
}

/* Marks in N what SET's candidates already measured: per-wake, the same
 * protocol, TLS, client certificate, payload and messages a wake. */
static void mark_measured(const struct sim_set *set, struct need *n, size_t nn)
{
	const struct deployment *d = &set->d;
	for (size_t i = 0; i < set->n; i++) {
		const struct sim_cand *c = &set->c[i];
		if (!c->usable || c->kept || c->payload_b != (double)d->payload_bytes ||
		    c->msgs != (double)d->messages_per_wake)
			continue;
		int resumed = c->resume && strcmp(c->resume, "none") != 0;
		for (size_t k = 0; k < nn; k++)
			if (strcmp(n[k].protocol, c->protocol) == 0 && strcmp(n[k].tls, c->tls) == 0 &&
			    n[k].client_cert == c->client_cert)
				n[k].have[strcmp(c->tls, "none") == 0 ? 0 : resumed] = 1;
	}
	for (size_t k = 0; k < nn; k++)
		if (strcmp(n[k].tls, "none") == 0)
			n[k].have[1] = 1; /* plaintext has nothing to resume */
}

/* Runs `dormant run SCEN -o ROOT --no-progress`, its output line by line to
 * LOG, the run directory from its "results: DIR" line into DIR. */
static enum dormant_err run_child(const char *scen, const char *root, FILE *log, char *dir, size_t dn, char *err,
                                  size_t errlen)
{
	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0) {
		snprintf(err, errlen, "cannot find dormant's own binary: %s", strerror(errno));
		return ERR_INTERNAL;
	}
	self[sl] = 0;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return ERR_INTERNAL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return ERR_INTERNAL;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execl(self, self, "run", scen, "-o", root, "--no-progress", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* Ctrl-C reaches the run too (one process group): it stops its servers
	 * and writes its rows; this side waits for that instead of dying under it */
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_term;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGTERM, &ign, &old_term);
	FILE *in = fdopen(fds[0], "r");
	char line[8192];
	dir[0] = 0;
	while (in && fgets(line, sizeof line, in)) {
		if (log)
			fputs(line, log);
		if (strncmp(line, "results: ", 9) == 0) {
			snprintf(dir, dn, "%.*s", (int)(dn - 1), line + 9);
			dir[strcspn(dir, "\n")] = 0;
		}
	}
	if (in)
		fclose(in);
	else
		close(fds[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (rc == 130) {
		snprintf(err, errlen, "the measuring run was interrupted%s%s (its rows are kept)", dir[0] ? ": " : "", dir);
		return ERR_INTERRUPTED;
	}
	if (rc != 0 || !dir[0]) {
		snprintf(err, errlen, "the measuring run `dormant run %s` exited %d%s%s", scen, rc, dir[0] ? ": " : "", dir);
		return ERR_INTERNAL;
	}
	return ERR_OK;
}

/* Writes TEXT to PATH through a temporary file beside it: all or nothing. */
static enum dormant_err write_scenario(const char *root, const char *name, const char *text, char *path, size_t pn,
                                       char *err, size_t errlen)
{
	char tmp[PATH_MAX + 80];
	snprintf(path, pn, "%s/%s.yaml", root, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.yaml.tmp", root, name);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return ERR_IO;
	}
	fputs(text, f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
		unlink(tmp);
		return ERR_IO;
	}
	return ERR_OK;
}

/* Whether D needs a kept MQTT connection that takes pushed commands and
 * SET has none measured on its link: its commands have a deadline under
 * its period (no per-wake device meets it), its link can listen, and
 * MQTT's port is reachable. */
/* Its TLS into *TLS: the deployment's (TLS-PSK, else ECDSA), or plaintext
 * when only MQTT's plaintext port is reachable and encryption is optional. */
static int kept_needed(const struct sim_set *set, const char **tls)
{
	const struct deployment *d = &set->d;
	*tls = d->client_auth == AUTH_PSK ? "psk" : "ecdsa";
	if (!deploy_port_ok(d, recommend_port("mqtt", *tls)) && d->encryption == ENCRYPT_OPTIONAL &&
	    d->client_auth != AUTH_CERTIFICATE && d->client_auth != AUTH_PSK)
		*tls = "none";
	if (d->commands_per_day <= 0 || !d->command_deadline_us || d->command_deadline_us >= d->wake_every_us ||
	    !d->link.can_listen || !deploy_port_ok(d, recommend_port("mqtt", *tls)))
		return 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct sim_cand *c = &set->c[i];
		if (c->usable && c->kept && c->listening && strcmp(c->protocol, "mqtt") == 0 &&
		    c->client_cert == (d->client_auth == AUTH_CERTIFICATE))
			return 0;
	}
	return 1;
}

enum dormant_err measure_missing(const char *deployment, const char *const *rundirs, size_t nruns, const char *root,
                                 FILE *log, struct measured *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct sim_set *set;
	enum dormant_err e = sim_load_any(deployment, rundirs, nruns, &set, err, errlen);
	if (e != ERR_OK)
		return e;
	const struct deployment *d = &set->d;
	struct need n[12];
	size_t nn = needed(d, n, sizeof n / sizeof n[0]), nvar = 0;
	mark_measured(set, n, nn);
	for (size_t k = 0; k < nn; k++)
		nvar += !n[k].have[0] + !n[k].have[1];
	const char *ktls;
	int kept = kept_needed(set, &ktls);
	if (!nvar && !kept) {
		if (log)
			fprintf(log, "measure: the runs given measured every candidate %s needs\n", d->name);
		sim_free(set);
		return ERR_OK;
	}
	char link[LINK_PATH_MAX + 64], lrp[PATH_MAX];
	if (deploy_link_path(d, d->link.name, link, sizeof link) != 0 || !realpath(link, lrp)) {
		snprintf(err, errlen, "%s: its link profile %s: %s", deployment, d->link.name, strerror(errno));
		sim_free(set);
		return ERR_USAGE;
	}
	/* three wakes a device: one with a full handshake, two resumed; slow links get longer periods */
	double slow = d->link.delay_ms_max >= 100, P = slow ? 30 : 10, deploy_p = (double)d->wake_every_us / 1e6;
	if (deploy_p < P)
		P = deploy_p;
	if (report_mkdirs(root) != 0) {
		snprintf(err, errlen, "%s: %s", root, strerror(errno));
		sim_free(set);
		return ERR_IO;
	}
	time_t now = time(NULL);
	char when[32], name[160];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	char *text = NULL;
	size_t tlen = 0;
	struct {
		char path[PATH_MAX + 64];
		size_t nvar;
		double est;
	} scen[2];
	size_t ns = 0;
	if (nvar) {
		FILE *f = open_memstream(&text, &tlen);
		if (!f) {
			sim_free(set);
			snprintf(err, errlen, "out of memory");
			return ERR_NOMEM;
		}
		fprintf(f, "# Written by `dormant recommend --measure` at %s for %s:\n"
		           "# the per-wake candidates it needs that the runs given did not measure.\n"
		           "name: %s-measure\nseed: 1\nduration: %gs\nwake_timeout: 3m\nbattery_wh: %g\n\n"
		           "fleets:\n  - name: devices\n    count: 2\n    wake_every: %gs\n    jitter: %gs\n"
		           "    payload: %lluB\n    messages_per_wake: %u\n    qos: 1\n    link: %s\n    downlink: %s\n\n"
		           "matrix:\n",
		        when, deployment, d->name, 3 * P, d->battery_wh, P, floor(P / 3), (unsigned long long)d->payload_bytes,
		        d->messages_per_wake, lrp, d->commands_per_day > 0 ? "true" : "false");
		for (size_t k = 0; k < nn; k++) {
			if (n[k].have[0] && n[k].have[1])
				continue;
			fprintf(f, "  - protocol: %s\n    tls: %s\n", n[k].protocol, n[k].tls);
			if (n[k].client_cert)
				fprintf(f, "    client_cert: true\n");
			if (strcmp(n[k].tls, "none") != 0)
				fprintf(f, "    resume: %s\n", !n[k].have[0] && !n[k].have[1] ? "[none, session-id]"
				                               : n[k].have[0]                  ? "session-id"
				                                                               : "none");
		}
		fclose(f);
		snprintf(name, sizeof name, "%s-measure", d->name);
		e = write_scenario(root, name, text, scen[ns].path, sizeof scen[ns].path, err, errlen);
		free(text);
		if (e != ERR_OK) {
			sim_free(set);
			return e;
		}
		/* each variant: its window, then the last wakes' drain and the servers' start and stop */
		scen[ns].nvar = nvar;
		scen[ns++].est = (double)nvar * (3 * P + (slow ? 40 : 15));
	}
	if (kept) {
		/* A kept MQTT connection that listens for its commands: six periods
		 * (at most 30 s each), a command every 0.7 of one, so most come
		 * while the device sleeps and some during its wakes. */
		double K = deploy_p < 30 ? deploy_p : 30;
		const char *tls = ktls;
		FILE *f = open_memstream(&text, &tlen);
		if (!f) {
			sim_free(set);
			snprintf(err, errlen, "out of memory");
			return ERR_NOMEM;
		}
		fprintf(f, "# Written by `dormant recommend --measure` at %s for %s:\n"
		           "# its commands' deadline is under its period, so only a kept connection that\n"
		           "# takes pushed commands can meet it: MQTT, listening through its sleeps.\n"
		           "name: %s-measure-kept\nseed: 1\nduration: %gs\nwake_timeout: 3m\nbattery_wh: %g\n\n"
		           "fleets:\n  - name: devices\n    count: 2\n    wake_every: %gs\n    jitter: %gs\n"
		           "    payload: %lluB\n    messages_per_wake: %u\n    qos: 1\n    link: %s\n"
		           "    connection: persistent\n    downlink: true\n    command_every: %gms\n\n"
		           "matrix:\n  - protocol: mqtt\n    tls: %s\n%s",
		        when, deployment, d->name, 6 * K, d->battery_wh, K, floor(K / 5), (unsigned long long)d->payload_bytes,
		        d->messages_per_wake, lrp, floor(700 * K), tls,
		        d->client_auth == AUTH_CERTIFICATE ? "    client_cert: true\n" : "");
		fclose(f);
		snprintf(name, sizeof name, "%s-measure-kept", d->name);
		e = write_scenario(root, name, text, scen[ns].path, sizeof scen[ns].path, err, errlen);
		free(text);
		if (e != ERR_OK) {
			sim_free(set);
			return e;
		}
		scen[ns].nvar = 1;
		scen[ns++].est = 6 * K + (slow ? 40 : 15);
	}
	if (log) {
		double est = 0;
		for (size_t k = 0; k < ns; k++)
			est += scen[k].est;
		fprintf(log, "measure: %zu candidate%s %s needs %s not measured on %s; running %s%s%s (2 devices, about %.0f "
		             "min)\n",
		        nvar + (size_t)kept, nvar + (size_t)kept == 1 ? "" : "s", d->name,
		        nvar + (size_t)kept == 1 ? "was" : "were", d->link.name, scen[0].path, ns > 1 ? " and " : "",
		        ns > 1 ? scen[1].path : "", ceil(est / 60));
	}
	sim_free(set);
	for (size_t k = 0; k < ns; k++) {
		e = run_child(scen[k].path, root, log, out->dir[k], sizeof out->dir[k], err, errlen);
		if (out->dir[k][0])
			out->n = (int)k + 1;
		if (e != ERR_OK)
			return e;
	}
	return ERR_OK;
}
