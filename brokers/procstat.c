/* procstat.c: sampling CPU and RSS of server process trees from /proc. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "procstat.h"

#define MAX_ROOTS 64
#define MAX_TREE 512   /* processes in one tree: beam.smp has a handful */
#define MAX_SEEN 4096  /* distinct processes over one window */

/* One process seen during the window, keyed by PID and start time (PIDs are reused). */
struct seen {
	pid_t pid, ppid;
	uint64_t starttime;
	uint64_t base_u, base_s;   /* user/sys ticks (own + reaped children) when first seen */
	uint64_t last_u, last_s;
	int alive;                 /* in the latest sample */
};

struct procstat {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	FILE *csv;
	int interval_ms;
	pid_t roots[MAX_ROOTS];
	int nroots;
	uint64_t t0_ns;
	long tck;
	/* accounting */
	struct seen *seen;
	int nseen;
	int first_done;
	uint64_t first_u, first_s;  /* tree sums at the first sample */
	uint64_t carry_u, carry_s;  /* time taken away by processes that left the tree */
	uint64_t now_u, now_s;      /* tree sums at the latest sample */
	uint64_t rss_sum_total, rss_peak, rss_first;
	uint64_t last_ns;
	int samples, max_procs, write_errors;
};

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

int procstat_machine(struct procstat_machine *m)
{
	char buf[512];
	if (read_file("/proc/stat", buf, sizeof(buf)) < 0 || strncmp(buf, "cpu ", 4) != 0)
		return -1;
	/* cpu user nice system idle iowait irq softirq steal (guest time is inside user) */
	unsigned long long v[8] = { 0 };
	if (sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
	           &v[7]) < 4)
		return -1;
	m->busy = v[0] + v[1] + v[2] + v[5] + v[6];
	m->steal = v[7];
	m->total = m->busy + m->steal + v[3] + v[4];
	return 0;
}

int procstat_read(pid_t pid, struct procstat_proc *p)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'. */
	char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -1;
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	size_t clen = (size_t)(close_paren - open_paren - 1);
	if (clen >= sizeof(p->comm))
		clen = sizeof(p->comm) - 1;
	memcpy(p->comm, open_paren + 1, clen);
	/* Fields after comm, numbered as in proc(5): 3 state, 4 ppid, 14 utime,
	 * 15 stime, 16 cutime, 17 cstime, 22 starttime. */
	char *save = NULL, *tok = strtok_r(close_paren + 1, " ", &save);
	for (int field = 3; tok && field <= 22; field++, tok = strtok_r(NULL, " ", &save)) {
		unsigned long long v = strtoull(tok, NULL, 10);
		switch (field) {
		case 3: p->state = tok[0]; break;
		case 4: p->ppid = (pid_t)v; break;
		case 14: p->utime = v; break;
		case 15: p->stime = v; break;
		case 16: p->cutime = v; break;
		case 17: p->cstime = v; break;
		case 22: p->starttime = v; break;
		default: break;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (read_file(path, buf, sizeof(buf)) > 0) {
		unsigned long long size = 0, resident = 0;
		if (sscanf(buf, "%llu %llu", &size, &resident) == 2)
			p->rss_kib = resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024u;
	}
	return 0;
}

struct pp {
	pid_t pid, ppid;
};

int procstat_tree(const pid_t *roots, int n, pid_t *out, int max)
{
	int count = 0;
	for (int i = 0; i < n && count < max; i++) {
		struct procstat_proc p;
		if (roots[i] > 0 && procstat_read(roots[i], &p) == 0)
			out[count++] = roots[i];
	}
	if (count == 0)
		return 0;
	/* Every process's parent, from one pass over /proc. */
	size_t cap = 1024, np = 0;
	struct pp *all = malloc(cap * sizeof(*all));
	DIR *d = opendir("/proc");
	if (!all || !d) {
		free(all);
		if (d)
			closedir(d);
		return count;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if (read_file(path, buf, sizeof(buf)) < 0)
			continue;
		char *cp = strrchr(buf, ')');
		char st;
		int ppid;
		if (!cp || sscanf(cp + 1, " %c %d", &st, &ppid) != 2)
			continue;
		if (np == cap) {
			struct pp *bigger = realloc(all, 2 * cap * sizeof(*all));
			if (!bigger)
				break;
			all = bigger;
			cap *= 2;
		}
		all[np++] = (struct pp){ (pid_t)pid, (pid_t)ppid };
	}
	closedir(d);
	/* Breadth first from the roots: out[] is the queue. */
	for (int head = 0; head < count; head++)
		for (size_t i = 0; i < np && count < max; i++) {
			if (all[i].ppid != out[head])
				continue;
			int dup = 0;
			for (int k = 0; k < count && !dup; k++)
				dup = out[k] == all[i].pid;
			if (!dup)
				out[count++] = all[i].pid;
		}
	free(all);
	return count;
}

static struct seen *find_seen(struct procstat *ps, pid_t pid, uint64_t starttime)
{
	for (int i = 0; i < ps->nseen; i++)
		if (ps->seen[i].pid == pid && ps->seen[i].starttime == starttime)
			return &ps->seen[i];
	return NULL;
}

static double ticks_ms(const struct procstat *ps, uint64_t ticks)
{
	return (double)ticks * 1000.0 / (double)ps->tck;
}

/* One sample: rows to the CSV, sums into the totals. Called with ps->lock held. */
static void sample(struct procstat *ps)
{
	pid_t tree[MAX_TREE];
	int n = procstat_tree(ps->roots, ps->nroots, tree, MAX_TREE);
	uint64_t now = clock_mono_ns();
	double t_s = (double)(now - ps->t0_ns) / 1e9;
	uint64_t sum_u = 0, sum_s = 0, rss = 0;
	int live = 0;
	for (int i = 0; i < ps->nseen; i++)
		ps->seen[i].alive = 0;
	for (int i = 0; i < n; i++) {
		struct procstat_proc p;
		if (procstat_read(tree[i], &p) < 0)
			continue;
		uint64_t u = p.utime + p.cutime, s = p.stime + p.cstime;
		struct seen *e = find_seen(ps, p.pid, p.starttime);
		if (!e) {
			/* a settled slot (pid 0) first, so a long window with short-lived helpers never fills up */
			for (int k = 0; k < ps->nseen && !e; k++)
				if (ps->seen[k].pid == 0)
					e = &ps->seen[k];
			if (!e && ps->nseen < MAX_SEEN)
				e = &ps->seen[ps->nseen++];
		}
		if (e && e->pid != p.pid) {
			*e = (struct seen){ .pid = p.pid, .starttime = p.starttime };
			/* Alive at the first sample: count from now on. Born later: count it all. */
			if (!ps->first_done) {
				e->base_u = u;
				e->base_s = s;
			}
		}
		if (e) {
			e->ppid = p.ppid;
			e->last_u = u;
			e->last_s = s;
			e->alive = 1;
		}
		sum_u += u;
		sum_s += s;
		rss += p.rss_kib;
		live++;
		if (ps->csv) {
			uint64_t bu = e ? e->base_u : 0, bs = e ? e->base_s : 0;
			if (fprintf(ps->csv, "%.3f,%d,%.0f,%.0f,%llu\n", t_s, (int)p.pid, ticks_ms(ps, u - bu),
			            ticks_ms(ps, s - bs), (unsigned long long)p.rss_kib) < 0)
				ps->write_errors++;
		}
	}
	/* A process gone since the last sample took its time along unless its
	 * parent, still in the tree, reaped it (then the time is in that parent's
	 * cutime/cstime). Roots given as children of other roots count once. */
	for (int i = 0; i < ps->nseen; i++) {
		struct seen *e = &ps->seen[i];
		if (e->alive || e->pid == 0)
			continue;
		int parent_in_tree = 0;
		for (int k = 0; k < n && !parent_in_tree; k++)
			parent_in_tree = tree[k] == e->ppid;
		if (!parent_in_tree) {
			ps->carry_u += e->last_u;
			ps->carry_s += e->last_s;
		}
		e->pid = 0; /* settled */
	}
	if (ps->csv && fflush(ps->csv) != 0)
		ps->write_errors++;
	if (!ps->first_done) {
		ps->first_done = 1;
		ps->first_u = sum_u;
		ps->first_s = sum_s;
		ps->rss_first = rss;
	}
	ps->now_u = sum_u + ps->carry_u;
	ps->now_s = sum_s + ps->carry_s;
	ps->rss_sum_total += rss;
	if (rss > ps->rss_peak)
		ps->rss_peak = rss;
	if (live > ps->max_procs)
		ps->max_procs = live;
	ps->samples++;
	ps->last_ns = now;
}

static void *run(void *arg)
{
	struct procstat *ps = arg;
	pthread_mutex_lock(&ps->lock);
	uint64_t next = ps->t0_ns;
	while (!ps->stop) {
		next += (uint64_t)ps->interval_ms * 1000000u;
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		int rc = 0;
		while (!ps->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&ps->cond, &ps->lock, &ts);
		if (ps->stop)
			break;
		sample(ps);
		uint64_t now = clock_mono_ns();
		if (next < now) /* fell behind (a slow /proc scan): keep the period, skip the missed ticks */
			next = now;
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

struct procstat *procstat_start(const pid_t *pids, int n, const char *csv_path, int interval_ms)
{
	if (n < 1 || n > MAX_ROOTS || interval_ms < 10) {
		errno = EINVAL;
		return NULL;
	}
	struct procstat *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->seen = calloc(MAX_SEEN, sizeof(*ps->seen));
	if (!ps->seen) {
		free(ps);
		return NULL;
	}
	memcpy(ps->roots, pids, (size_t)n * sizeof(*pids));
	ps->nroots = n;
	ps->interval_ms = interval_ms;
	ps->tck = sysconf(_SC_CLK_TCK);
	if (ps->tck <= 0)
		ps->tck = 100;
	if (csv_path) {
		ps->csv = fopen(csv_path, "we");
		if (!ps->csv) {
			int saved = errno;
			free(ps->seen);
			free(ps);
			errno = saved;
			return NULL;
		}
		fprintf(ps->csv, "t_s,pid,cpu_user_ms,cpu_sys_ms,rss_kib\n");
	}
	pthread_mutex_init(&ps->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ps->cond, &ca);
	pthread_condattr_destroy(&ca);
	ps->t0_ns = clock_mono_ns();
	sample(ps); /* the baseline, at t = 0 */
	int rc = pthread_create(&ps->thread, NULL, run, ps);
	if (rc != 0) {
		if (ps->csv)
			fclose(ps->csv);
		pthread_cond_destroy(&ps->cond);
		pthread_mutex_destroy(&ps->lock);
		free(ps->seen);
		free(ps);
		errno = rc;
		return NULL;
	}
	return ps;
}

void procstat_stop(struct procstat *ps, struct procstat_totals *out)
{
	if (!ps) {
		if (out)
			memset(out, 0, sizeof(*out));
		return;
	}
	pthread_mutex_lock(&ps->lock);
	ps->stop = 1;
	pthread_cond_signal(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->thread, NULL);
	sample(ps); /* the window ends now */
	if (out) {
		memset(out, 0, sizeof(*out));
		out->window_s = (double)(ps->last_ns - ps->t0_ns) / 1e9;
		out->cpu_user_ms = ps->now_u > ps->first_u ? ticks_ms(ps, ps->now_u - ps->first_u) : 0;
		out->cpu_sys_ms = ps->now_s > ps->first_s ? ticks_ms(ps, ps->now_s - ps->first_s) : 0;
		out->rss_peak_kib = ps->rss_peak;
		out->rss_mean_kib = ps->samples ? ps->rss_sum_total / (uint64_t)ps->samples : 0;
		out->rss_first_kib = ps->rss_first;
		out->samples = ps->samples;
		out->max_procs = ps->max_procs;
		out->write_errors = ps->write_errors;
	}
	if (ps->csv && fclose(ps->csv) != 0 && out)
		out->write_errors++;
	pthread_cond_destroy(&ps->cond);
	pthread_mutex_destroy(&ps->lock);
	free(ps->seen);
	free(ps);
}
