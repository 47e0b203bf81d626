// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: a program outside the fusd tree, built with nothing but
 * `pkg-config --cflags --libs libfusd` against the installed libfusd-dev,
 * serves /dev/downstream and reads back what it writes there.
 * Exit: 0 pass, 1 fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fusd.h>

#define NODE "/dev/downstream"

static char stored[64];
static size_t stored_len;

static int ds_open(struct fusd_file_info *file)
{
	(void)file;
	return 0;
}

static int ds_close(struct fusd_file_info *file)
{
	(void)file;
	return 0;
}

/* Reads return the last write, upper-cased: proof the daemon answered. */
static ssize_t ds_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *off)
{
	size_t i, n;

	(void)file;
	if (*off < 0 || (size_t)*off >= stored_len)
		return 0;
	n = stored_len - (size_t)*off;
	if (n > len)
		n = len;
	for (i = 0; i < n; i++) {
		char c = stored[*off + i];

		buf[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
	}
	*off += (loff_t)n;
	return (ssize_t)n;
}

static ssize_t ds_write(struct fusd_file_info *file, const char *buf,
			size_t len, loff_t *off)
{
	(void)file;
	(void)off;
	if (len > sizeof(stored))
		return -ENOSPC;
	memcpy(stored, buf, len);
	stored_len = len;
	return (ssize_t)len;
}

static int serve(void)
{
	static struct fusd_file_operations fops = {
		.open = ds_open,
		.close = ds_close,
		.read = ds_read,
		.write = ds_write,
	};

	if (fusd_register(NODE, "misc", "downstream", 0666, NULL, &fops) < 0) {
		perror("downstream: fusd_register");
		return 1;
	}
	fusd_run();
	return 1;
}

static int wait_for_node(void)
{
	struct timespec ms = { 0, 10 * 1000 * 1000 };
	struct stat st;
	int i;

	for (i = 0; i < 500; i++) {
		if (stat(NODE, &st) == 0 && S_ISCHR(st.st_mode))
			return 0;
		nanosleep(&ms, NULL);
	}
	return -1;
}

int main(void)
{
	char got[64] = "";
	ssize_t n;
	pid_t pid;
	int fd, ok = 0;

	pid = fork();
	if (pid < 0) {
		perror("downstream: fork");
		return 1;
	}
	if (pid == 0)
		_exit(serve());

	if (wait_for_node() < 0) {
		fprintf(stderr, "downstream: %s never appeared\n", NODE);
	} else if ((fd = open(NODE, O_RDWR)) < 0) {
		perror("downstream: open " NODE);
	} else {
		if (write(fd, "built downstream", 16) != 16)
			perror("downstream: write");
		else if ((n = pread(fd, got, sizeof(got) - 1, 0)) != 16)
			fprintf(stderr, "downstream: pread gave %zd (%s)\n", n,
				n < 0 ? strerror(errno) : "short");
		else if (memcmp(got, "BUILT DOWNSTREAM", 16) != 0)
			fprintf(stderr, "downstream: read back '%s'\n", got);
		else
			ok = 1;
		close(fd);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	printf("downstream: %s\n", ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
