// SPDX-License-Identifier: BSD-3-Clause
/*
 * ioctl: /dev/ioctltest answers one ioctl of each _IOC encoding (see
 * ioctl.h): _IO with an integer, _IOR, _IOW and _IOWR with structs.
 * Unknown commands fail with ENOTTY, as a kernel driver's would.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <fusd.h>

#include "ioctl.h"

static int counter;
static struct ioctl_test_name last;

static int test_ioctl(struct fusd_file_info *file, int cmd, void *data)
{
	struct ioctl_test_swap *swap = data;

	(void)file;
	switch ((unsigned int)cmd) {
	case IOCTL_TEST_RESET:
		counter = (int)(intptr_t)data;	/* _IO: data is the value */
		return 0;
	case IOCTL_TEST_GET:
		memcpy(data, &counter, sizeof(counter));
		return 0;
	case IOCTL_TEST_SET:
		memcpy(&last, data, sizeof(last));
		last.name[sizeof(last.name) - 1] = '\0';
		counter++;
		return 0;
	case IOCTL_TEST_SWAP:
		swap->out = swap->in * 2;
		return ++counter;	/* a positive return value is kept */
	case IOCTL_TEST_NAME:
		memcpy(data, &last, sizeof(last));
		return 0;
	}
	return -ENOTTY;
}

int main(void)
{
	static struct fusd_file_operations fops = {
		.ioctl = test_ioctl,
	};

	if (fusd_register("/dev/ioctltest", "misc", "ioctltest", 0666, NULL,
			  &fops) < 0) {
		perror("register of /dev/ioctltest failed");
		return 1;
	}
	fusd_run();
	return 0;
}
