/* gnuplot.c: writing figure scripts and running gnuplot on them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnuplot.h"

extern char **environ;

int gnuplot_find(char *buf, size_t len)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n) {
			snprintf(buf, len, "%.*s/gnuplot", (int)n, path);
			if (access(buf, X_OK) == 0)
				return 0;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	buf[0] = 0;
	return -1;
}

void gnuplot_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
	fputc('\'', f);
}

/* S as a double-quoted literal, with a line break for each '\n'. */
static void dquote(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len && s[i]; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', f);
		if (s[i] == '\n')
			fputs("\\n", f);
		else
			fputc(s[i], f);
	}
	fputc('"', f);
}

/* Length of the next piece of P to keep on one line: up to a space, or
 * just past an '=' when the word is longer than WIDTH ("client_cert=" "true"). */
static size_t piece(const char *p, size_t width)
{
	size_t word = strcspn(p, " ");
	if (word <= width)
		return word;
	size_t cut = 0;
	for (size_t k = 0; k + 1 < word; k++)
		if (p[k] == '=' && (k + 1 <= width || !cut))
			cut = k + 1;
	return cut ? cut : word;
}

void gnuplot_xtics(FILE *f, const char *const *labels, size_t n, int w)
{
	double slot = (double)(w - 200) / (double)(n ? n : 1);
	/* DejaVu Sans at 10 pt averages under 8 px a character; leave some air */
	size_t width = slot / 8.5 < 8 ? 8 : (size_t)(slot / 8.5);
	int slant = 0;
	size_t maxlen = 0, maxlines = 1;
	for (size_t i = 0; i < n; i++) {
		if (strlen(labels[i]) > maxlen)
			maxlen = strlen(labels[i]);
		for (const char *p = labels[i]; *p;) {
			size_t k = piece(p, width);
			if (k > width)
				slant = 1;
			p += k;
			p += strspn(p, " ");
		}
	}
	fputs(slant ? "set xtics rotate by 25 right scale 0 (" : "set xtics norotate scale 0 (", f);
	for (size_t i = 0; i < n; i++) {
		char buf[512];
		size_t o = 0, line = 0, lines = 1;
		for (const char *p = labels[i]; *p && o + 2 < sizeof(buf);) {
			int glued = p > labels[i] && p[-1] != ' '; /* the rest of a word cut after '=' */
			size_t k = slant ? strcspn(p, " ") : piece(p, width);
			if (k + o + 2 >= sizeof(buf))
				k = sizeof(buf) - o - 2;
			if (line && !slant && line + (glued ? 0 : 1) + k > width) {
				buf[o++] = '\n';
				line = 0;
				lines++;
			} else if (line && !glued) {
				buf[o++] = ' ';
				line++;
			}
			memcpy(buf + o, p, k);
			o += k;
			line += k;
			p += k;
			p += strspn(p, " ");
		}
		buf[o] = 0;
		if (lines > maxlines)
			maxlines = lines;
		fputs(i ? ", " : "", f);
		dquote(f, buf, o);
		fprintf(f, " %zu", i);
	}
	fputs(")\n", f);
	/* in character heights: the label lines (slanted, about a quarter of its length) and a gap */
	double lines = slant ? 0.25 * (double)maxlen + 1 : (double)maxlines;
	fprintf(f, "set bmargin %.0f\n", lines + 2);
}

FILE *gnuplot_script_open(const char *dir, const char *name, const char *purpose, int w, int h, char *err,
                          size_t errlen)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.gp", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	fprintf(f,
	        "# %s.gp: %s\n"
	        "# Written by `dormant plot`; the data files beside it are tab-separated.\n"
	        "# Edit and re-run here:  gnuplot %s.gp   (one format: gnuplot -e 'fmts=\"svg\"' %s.gp)\n"
	        "if (!exists(\"fmts\")) fmts = \"png svg\"\n"
	        "if (!exists(\"W\")) W = %d\n"
	        "if (!exists(\"H\")) H = %d\n"
	        "do for [fmt in fmts] {\n"
	        "reset\n"
	        "if (fmt eq \"png\") {\n"
	        "  set terminal pngcairo size W,H font \"DejaVu Sans,10\" noenhanced\n"
	        "} else {\n"
	        "  set terminal svg size W,H font \"DejaVu Sans,12\" noenhanced background \"#ffffff\"\n"
	        "}\n"
	        "set output \"%s.\" . fmt\n"
	        "set encoding utf8\n"
	        "set datafile separator \"\\t\"\n"
	        "set border 3 lc rgb \"#444444\"\n"
	        "set tics nomirror\n"
	        "set grid ytics lc rgb \"#dddddd\" lw 1 dt 1\n\n",
	        name, purpose, name, name, w, h, name);
	return f;
}

int gnuplot_script_close(FILE *f, const char *dir, const char *name, char *err, size_t errlen)
{
	fputs("\nunset output\n}\n", f);
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.gp", dir, name);
	return gnuplot_file_close(f, path, err, errlen);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
	pid_t pid;
	double started;
	int done, ok, killed;
};

static pid_t spawn_one(const char *gnuplot, const char *dir, const char *name, const char *fmts, char *err,
                       size_t errlen)
{
	char script[512], log[512], fmtarg[64];
	snprintf(script, sizeof(script), "%s.gp", name);
	snprintf(log, sizeof(log), "%s.log", name);
	snprintf(fmtarg, sizeof(fmtarg), "fmts=\"%s\"", fmts);
	char *argv[] = { (char *)"gnuplot", (char *)"-e", fmtarg, script, NULL };

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	/* dormant blocks and ignores signals for its own handling; gnuplot gets the defaults */
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int rc = posix_spawn(&pid, gnuplot, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start %.400s: %s", gnuplot, strerror(rc));
		return -1;
	}
	return pid;
}

/* The first error line gnuplot wrote to DIR/NAME.log, or "". Removes an empty log. */
static void log_summary(const char *dir, const char *name, char *buf, size_t len)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.log", dir, name);
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[512], first[512] = "";
	int any = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		if (!any)
			snprintf(first, sizeof(first), "%s", line);
		any = 1;
		if (strstr(line, "line ") || strstr(line, "rror")) {
			snprintf(buf, len, "%s", line);
			break;
		}
	}
	fclose(f);
	if (!buf[0])
		snprintf(buf, len, "%s", first);
	if (!any)
		unlink(path);
}

/* Kills every job still running and waits for it: after a stop, no gnuplot
 * writes into DIR any more. */
static void stop_all(struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!jobs[i].done && jobs[i].pid > 0)
			kill(jobs[i].pid, SIGKILL);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].done || jobs[i].pid <= 0)
			continue;
		while (waitpid(jobs[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		jobs[i].done = 1;
	}
}

int gnuplot_run(const char *dir, const char *const *names, size_t n, const char *fmts, int deadline_s,
                int (*interrupted)(void), int *ok, char *err, size_t errlen)
{
	char gp[4096];
	int failed = 0;
	for (size_t i = 0; i < n; i++)
		ok[i] = 0;
	if (gnuplot_find(gp, sizeof(gp)) != 0) {
		snprintf(err, errlen, "gnuplot not found in PATH (Debian: apt-get install gnuplot-nox; scripts/setup does it)");
		return (int)n;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t par = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (size_t)ncpu;
	struct job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	if (!jobs) {
		snprintf(err, errlen, "out of memory");
		return (int)n;
	}
	size_t next = 0, running = 0, finished = 0;
	while (finished < n) {
		if (interrupted && interrupted()) {
			stop_all(jobs, next);
			free(jobs);
			snprintf(err, errlen, "interrupted");
			return -1;
		}
		while (running < par && next < n) {
			char e[512];
			jobs[next].pid = spawn_one(gp, dir, names[next], fmts, e, sizeof(e));
			jobs[next].started = now_s();
			if (jobs[next].pid < 0) {
				jobs[next].done = 1;
				finished++;
				if (!failed++)
					snprintf(err, errlen, "%s.gp: %s", names[next], e);
			} else {
				running++;
			}
			next++;
		}
		int progressed = 0;
		for (size_t i = 0; i < next; i++) {
			struct job *j = &jobs[i];
			if (j->done || j->pid < 0)
				continue;
			int st;
			pid_t r = waitpid(j->pid, &st, WNOHANG);
			if (r == 0) {
				if (!j->killed && now_s() - j->started > deadline_s) {
					kill(j->pid, SIGKILL);
					j->killed = 1;
				}
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			j->done = 1;
			running--;
			finished++;
			progressed = 1;
			j->ok = r == j->pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
			char why[512];
			log_summary(dir, names[i], why, sizeof(why));
			ok[i] = j->ok;
			if (!j->ok && !failed++) {
				if (j->killed)
					snprintf(err, errlen, "%s/%s.gp: gnuplot took longer than %d s and was stopped", dir,
					         names[i], deadline_s);
				else
					snprintf(err, errlen, "%s/%s.gp: gnuplot failed: %s (see %s.log)", dir, names[i],
					         why[0] ? why : "no message", names[i]);
			}
		}
		if (!progressed && finished < n) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	free(jobs);
	return failed;
}

int gnuplot_file_close(FILE *f, const char *path, char *err, size_t errlen)
{
	int bad = ferror(f);
	errno = 0;
	int rc = fclose(f);
	if (rc == 0 && !bad)
		return 0;
	/* a buffered write that failed earlier left no errno of its own: the close's flush usually says */
	snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
	unlink(path);
	return -1;
}

/* 1 when PATH holds a whole image of format EXT. */
static int image_whole(const char *path, const char *ext)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	unsigned char tail[64];
	size_t n = 0;
	if (fseek(f, -(long)sizeof(tail), SEEK_END) != 0)
		rewind(f); /* shorter than the tail: read it all */
	n = fread(tail, 1, sizeof(tail), f);
	fclose(f);
	if (!strcmp(ext, "png")) {
		static const unsigned char iend[12] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82 };
		return n >= sizeof(iend) && !memcmp(tail + n - sizeof(iend), iend, sizeof(iend));
	}
	while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
		n--;
	return n >= 6 && !memcmp(tail + n - 6, "</svg>", 6);
}

int gnuplot_outputs_check(const char *dir, const char *name, const char *fmts, char *err, size_t errlen)
{
	static const char *const exts[] = { "png", "svg" };
	const char *bad = NULL;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]) && !bad; i++) {
		char path[4400];
		snprintf(path, sizeof(path), "%s/%s.%s", dir, name, exts[i]);
		if (strstr(fmts, exts[i]) && !image_whole(path, exts[i]))
			bad = exts[i];
	}
	if (!bad)
		return 0;
	/* before the cut files go and free their space: is the file system full? */
	struct statvfs vfs;
	int full = statvfs(dir, &vfs) == 0 && (double)vfs.f_bavail * (double)vfs.f_frsize < 64.0 * 1024.0;
	snprintf(err, errlen, "%s/%s.%s: %s", dir, name, bad,
	         full ? strerror(ENOSPC) : "incomplete: gnuplot could not write it whole");
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		char path[4400];
		snprintf(path, sizeof(path), "%s/%s.%s", dir, name, exts[i]);
		unlink(path);
	}
	return full ? -2 : -1;
}
