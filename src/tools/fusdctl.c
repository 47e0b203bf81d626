// SPDX-License-Identifier: BSD-3-Clause
/*
 * fusdctl: show the fusd devices of this machine.
 *
 *   fusdctl list          one line per device
 *   fusdctl stat NAME     every attribute of one device (sysfs name or
 *                         node path, e.g. hello-world or /dev/drums/bam)
 *   fusdctl status        the classic /dev/fusd/status table
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSFS_DIR "/sys/class/fusd"

static const char *const attrs[] = {
	"node", "owner_pid", "open_files", "pending", "total",
};

/* Read one attribute of a device, without its newline. */
static int read_attr(const char *dev, const char *attr, char *buf, size_t cap)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), SYSFS_DIR "/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int cmd_list(void)
{
	char v[5][256];
	struct dirent *de;
	DIR *d = opendir(SYSFS_DIR);
	size_t i;

	if (!d) {
		fprintf(stderr, "fusdctl: %s: %s (is fusd.ko loaded?)\n",
			SYSFS_DIR, strerror(errno));
		return 1;
	}
	printf("%-20s %-28s %8s %6s %8s %10s\n", "NAME", "NODE", "PID",
	       "OPEN", "PENDING", "REQUESTS");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		for (i = 0; i < 5; i++)
			if (read_attr(de->d_name, attrs[i], v[i], sizeof(v[i])))
				strcpy(v[i], "?");
		printf("%-20s %-28s %8s %6s %8s %10s\n", de->d_name, v[0],
		       v[1], v[2], v[3], v[4]);
	}
	closedir(d);
	return 0;
}

/* Find a device by sysfs name or by node path. */
static int find_device(const char *want, char *name, size_t cap)
{
	char node[256], path[300];
	struct dirent *de;
	DIR *d = opendir(SYSFS_DIR);
	int found = -1;

	if (!d)
		return -1;
	snprintf(path, sizeof(path), "%s%s",
		 strncmp(want, "/dev/", 5) ? "/dev/" : "", want);
	while (found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!strcmp(de->d_name, want) ||
		    (!read_attr(de->d_name, "node", node, sizeof(node)) &&
		     !strcmp(node, path))) {
			snprintf(name, cap, "%s", de->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

static int cmd_stat(const char *want)
{
	char name[256], v[256];
	size_t i;

	if (find_device(want, name, sizeof(name))) {
		fprintf(stderr, "fusdctl: no fusd device '%s'\n", want);
		return 1;
	}
	printf("name: %s\n", name);
	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (!read_attr(name, attrs[i], v, sizeof(v)))
			printf("%s: %s\n", attrs[i], v);
	return 0;
}

static int cmd_status(void)
{
	FILE *f = fopen("/dev/fusd/status", "r");
	char buf[4096];
	size_t n;

	if (!f) {
		fprintf(stderr, "fusdctl: /dev/fusd/status: %s\n",
			strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fusdctl list | stat NAME | status\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return cmd_list();
	if (argc == 3 && !strcmp(argv[1], "stat"))
		return cmd_stat(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "status"))
		return cmd_status();
	return usage();
}
