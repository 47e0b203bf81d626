// SPDX-License-Identifier: BSD-3-Clause
/*
 * drums: one daemon serving several devices.  It registers
 * /dev/drums/bam, /dev/drums/bum, /dev/drums/beat and /dev/drums/boom with
 * the same callbacks; each device's device_info is its drum's name, so a
 * read knows which drum was hit.  Each open reads one line, then end of
 * file.
 *
 *   $ cat /dev/drums/bam
 *   You have hit the bam drum!
 *   $ cat /dev/drums/boom
 *   You have hit the boom drum!
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <fusd.h>

static const char *const drums[] = { "bam", "bum", "beat", "boom" };

static ssize_t drum_read(struct fusd_file_info *file, char *buffer,
			 size_t length, loff_t *offset)
{
	char line[64];
	int len;

	if (*offset > 0)
		return 0;	/* hit once per open */
	len = snprintf(line, sizeof(line), "You have hit the %s drum!\n",
		       (const char *)file->device_info);
	if (length < (size_t)len)
		return -EINVAL;	/* the reader must take the line at once */
	memcpy(buffer, line, (size_t)len);
	*offset += len;
	return len;
}

int main(void)
{
	static struct fusd_file_operations fops = {
		.read = drum_read,
	};
	char path[64];
	size_t i;

	for (i = 0; i < sizeof(drums) / sizeof(drums[0]); i++) {
		snprintf(path, sizeof(path), "/dev/drums/%s", drums[i]);
		if (fusd_register(path, "drums", NULL, 0666,
				  (void *)drums[i], &fops) < 0) {
			fprintf(stderr, "register of %s failed: %s\n", path,
				strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "calling fusd_run...\n");
	fusd_run();
	return 0;
}
