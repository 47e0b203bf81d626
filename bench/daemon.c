// SPDX-License-Identifier: BSD-3-Clause
/* See daemon.h. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define NODE_WAIT_MS 20000

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait until the node exists (want=1) or not (want=0), while pid lives. */
static int wait_node(const char *node, int want, pid_t pid, int wait_ms)
{
	struct stat st;
	int ms;

	for (ms = 0; ms < wait_ms; ms += 10) {
		if ((stat(node, &st) == 0) == want)
			return 0;
		if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		sleep_ms(10);
	}
	errno = ETIMEDOUT;
	return -1;
}

int daemon_run(struct daemon *d, char *const argv[], int wait_ms)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "fusd-bench: exec %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	if (wait_node(d->node, 1, pid, wait_ms) < 0) {
		fprintf(stderr, "fusd-bench: %s: no %s (%s)\n", d->prog,
			d->node, errno == ETIMEDOUT ? "timed out" : "daemon exited");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	d->pid = pid;
	return 0;
}

int daemon_start(struct daemon *d, int threads)
{
	char nt[16];
	char *argv[] = { (char *)d->prog, "-t", nt, NULL };

	snprintf(nt, sizeof(nt), "%d", threads);
	return daemon_run(d, argv, NODE_WAIT_MS);
}

void daemon_stop(struct daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	if (wait_node(d->node, 0, 0, NODE_WAIT_MS) < 0)
		fprintf(stderr, "fusd-bench: %s still there after its daemon ended\n",
			d->node);
}

/* First field of /proc/PID/task/TID/schedstat: time on the CPU, ns. */
static uint64_t task_cpu_ns(pid_t pid, const char *tid)
{
	char path[320];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0;	/* the thread just ended */
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

uint64_t daemon_cpu_ns(const struct daemon *d)
{
	char path[32];
	struct dirent *e;
	uint64_t sum = 0;
	DIR *dir;

	if (d->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			sum += task_cpu_ns(d->pid, e->d_name);
	closedir(dir);
	return sum;
}
