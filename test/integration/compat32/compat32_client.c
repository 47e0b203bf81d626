// SPDX-License-Identifier: BSD-3-Clause
/*
 * A 32-bit client, built -m32 -static and run inside the VM by
 * test_compat32: its ioctls reach the daemon through compat_ioctl.
 *
 *   compat32_client example DEV   drive the ioctl example; exit 0 if all
 *                                 four encodings behave
 *   compat32_client one DEV       one _IOR ioctl (for a raw daemon); prints
 *                                 the int it got back
 * Exit codes: 0 pass, 1-9 the step that failed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../../examples/ioctl.h"

static int example(int fd)
{
	struct ioctl_test_name name = { .id = 32, .name = "thirty-two" }, back;
	struct ioctl_test_swap swap = { .in = 16, .out = 0 };
	int v = 0;

	if (ioctl(fd, IOCTL_TEST_RESET, 5) != 0)
		return 2;
	if (ioctl(fd, IOCTL_TEST_GET, &v) != 0 || v != 5)
		return 3;
	if (ioctl(fd, IOCTL_TEST_SET, &name) != 0)
		return 4;
	memset(&back, 0, sizeof(back));
	if (ioctl(fd, IOCTL_TEST_NAME, &back) != 0 || back.id != 32 ||
	    strcmp(back.name, "thirty-two"))
		return 5;
	if (ioctl(fd, IOCTL_TEST_SWAP, &swap) != 7 || swap.out != 32)
		return 6;
	return 0;
}

int main(int argc, char **argv)
{
	int fd, v = 0;

	if (argc != 3 || sizeof(void *) != 4)
		return 9;
	fd = open(argv[2], O_RDWR);
	if (fd < 0)
		return 1;
	if (!strcmp(argv[1], "example"))
		return example(fd);
	if (ioctl(fd, _IOR('c', 1, int), &v) != 0)
		return 7;
	printf("%d\n", v);
	return 0;
}
