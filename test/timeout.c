// SPDX-License-Identifier: GPL-2.0
/*
 * /usr/bin/timeout of the test initramfs.
 *
 * 6.1's kselftest runner (kselftest/runner.sh) enforces the per-directory
 * "settings" timeouts only if /usr/bin/timeout exists, and calls it GNU
 * style:
 *
 *	/usr/bin/timeout --foreground SECS /usr/bin/timeout SECS prog
 *
 * busybox's timeout takes no --foreground, kills only the program (not the
 * children a kselftest_harness program forks for its tests, which keep the
 * runner's output pipe open) and does not exit with 124, the status the
 * runner reports as "# TIMEOUT".  This is the subset of GNU timeout the
 * runner needs:
 *
 *	timeout [--foreground] [-k KILL_SECS] [-s SIG] SECS PROG [ARGS...]
 *
 * Without --foreground the program runs in a session of its own and every
 * process of that session is signalled (a kselftest_harness test child
 * calls setpgrp(), so a process group is not enough: it would survive its
 * program and keep the runner's output pipe open).  When the time is up it sends SIG (default
 * SIGTERM), then SIGKILL KILL_SECS later (default 10 s, not "never" as in
 * GNU: a test must not outlive its timeout), and exits with 124.  If the
 * program ends by itself, its exit status is returned (128 + signal if it
 * was killed by a signal).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Signal every process of session @sid (none but us has the id: setsid) */
static void kill_session(pid_t sid, int sig)
{
	char path[64], buf[512], *p;
	struct dirent *d;
	DIR *dir;
	pid_t pid;

	kill(-sid, sig);
	dir = opendir("/proc");
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		FILE *f;
		int n = 0;
		long s = -1;

		pid = atoi(d->d_name);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			/* fields after "(comm)": state ppid pgrp session */
			p = strrchr(buf, ')');
			if (p)
				n = sscanf(p + 1, " %*c %*d %*d %ld", &s);
		}
		fclose(f);
		if (n == 1 && s == sid)
			kill(pid, sig);
	}
	closedir(dir);
}

static int parse_secs(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	/* GNU accepts a suffix; "s" is the only one the runner could use */
	if (end == s || (*end && strcmp(end, "s")) || v < 0 || v > 1000000) {
		fprintf(stderr, "timeout: bad duration '%s'\n", s);
		exit(125);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int secs, kill_secs = 10, sig = SIGTERM, foreground = 0, status, i = 1;
	int sent = 0;
	struct sigaction sa;
	pid_t child, r;

	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--foreground"))
			foreground = 1;
		else if (!strcmp(argv[i], "-k") && i + 1 < argc)
			kill_secs = parse_secs(argv[++i]);
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			sig = atoi(argv[++i]) ? atoi(argv[i]) :
			      !strcmp(argv[i], "KILL") ? SIGKILL : SIGTERM;
		else
			break;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: timeout [--foreground] [-k SECS] [-s SIG] SECS PROG [ARGS...]\n");
		return 125;
	}
	secs = parse_secs(argv[i++]);

	child = fork();
	if (child < 0) {
		perror("timeout: fork");
		return 125;
	}
	if (!child) {
		if (!foreground)
			setsid();
		execvp(argv[i], &argv[i]);
		fprintf(stderr, "timeout: %s: %s\n", argv[i], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	/* the outer timeout of the runner ends us with SIGTERM: same thing */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (secs)
		alarm(secs);

	for (;;) {
		r = waitpid(child, &status, 0);
		if (r == child)
			break;
		if (r < 0 && errno != EINTR)
			return 125;
		if (alarms > sent) {
			/* first the signal, then SIGKILL kill_secs later */
			if (foreground)
				kill(child, sent ? SIGKILL : sig);
			else
				kill_session(child, sent ? SIGKILL : sig);
			if (!sent++)
				alarm(kill_secs);
		}
	}
	if (sent)
		return 124;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
