/* procstat.h: CPU time and RSS of server processes, sampled from /proc.
 *
 * procstat_start() samples the given processes and all their descendants
 * (found again at every sample by their parent PIDs, so beam.smp's helpers,
 * or a broker under a wrapper script, are counted) on its own thread, every
 * INTERVAL_MS, and appends one row per process to CSV_PATH:
 *   t_s,pid,cpu_user_ms,cpu_sys_ms,rss_kib
 * t_s is seconds since procstat_start() (CLOCK_MONOTONIC); cpu_* are the
 * milliseconds that process (with its children it has reaped) used since the
 * window opened, or since it was born if later; rss_kib its resident set.
 * A final sample is taken at procstat_stop().
 *
 * The totals count CPU as the change of the sum, over the live tree, of
 * utime+stime+cutime+cstime: a helper that exits and is reaped by a process
 * in the tree moves its time into its parent's cutime/cstime, so nothing is
 * lost or counted twice. Only a process that leaves the tree (a daemon that
 * detaches) takes its time with it.
 *
 * Ownership: procstat_start returns a sampler (or NULL with errno set) that
 * the caller always releases with procstat_stop (NULL accepted). */
#ifndef DORMANT_PROCSTAT_H
#define DORMANT_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct procstat;

struct procstat_totals {
	double window_s;         /* from start to the final sample */
	double cpu_user_ms, cpu_sys_ms; /* consumed in the window by the whole tree */
	uint64_t rss_peak_kib;   /* largest sum of RSS over the tree at one sample */
	uint64_t rss_mean_kib;   /* mean of that sum over the samples */
	uint64_t rss_first_kib;  /* that sum at the first sample */
	int samples;
	int max_procs;           /* most processes seen in one sample */
	int write_errors;        /* rows that could not be written */
};

/* One process as /proc tells it (times in clock ticks, see sysconf(_SC_CLK_TCK)). */
struct procstat_proc {
	pid_t pid, ppid;
	char state;              /* 'R', 'S', 'Z', ... */
	char comm[32];
	uint64_t utime, stime, cutime, cstime, starttime;
	uint64_t rss_kib;
};

/* PIDS: the roots (N of them, at most 64); INTERVAL_MS >= 10. */
struct procstat *procstat_start(const pid_t *pids, int n, const char *csv_path, int interval_ms);
/* Takes the final sample, joins the thread, fills OUT (if not NULL), frees PS. */
void procstat_stop(struct procstat *ps, struct procstat_totals *out);

/* Reads /proc/PID/stat and statm: 0, or -1 when no such process. */
int procstat_read(pid_t pid, struct procstat_proc *p);
/* The whole machine's CPU time from /proc/stat's first line, in clock
 * ticks: busy (user, nice, system, irq, softirq), steal (taken by the
 * hypervisor for others: a shared machine's noise) and all of it (idle and
 * iowait too). Two readings bracket a window. 0, or -1. */
struct procstat_machine {
	uint64_t busy, steal, total;
};
int procstat_machine(struct procstat_machine *m);
/* Appends to OUT (up to MAX) the descendants of the N ROOTS, roots first;
 * returns the count. Zombies are included (their times still count). */
int procstat_tree(const pid_t *roots, int n, pid_t *out, int max);

#endif
