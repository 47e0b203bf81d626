/* SPDX-License-Identifier: BSD-3-Clause */
/* Commands of the ioctl example (/dev/ioctltest): one per _IOC encoding. */
#ifndef FUSD_EXAMPLE_IOCTL_H
#define FUSD_EXAMPLE_IOCTL_H

#include <sys/ioctl.h>

struct ioctl_test_name {
	int id;
	char name[32];
};

struct ioctl_test_swap {
	int in;		/* doubled into 'out' */
	int out;
};

#define IOCTL_TEST_MAGIC 'Q'
/* _IO: the argument is a plain integer, the new counter value. */
#define IOCTL_TEST_RESET _IO(IOCTL_TEST_MAGIC, 0)
/* _IOR: the driver fills an int with the counter. */
#define IOCTL_TEST_GET   _IOR(IOCTL_TEST_MAGIC, 1, int)
/* _IOW: the driver takes a struct from the caller. */
#define IOCTL_TEST_SET   _IOW(IOCTL_TEST_MAGIC, 2, struct ioctl_test_name)
/* _IOWR: in and out through one struct; returns the counter too. */
#define IOCTL_TEST_SWAP  _IOWR(IOCTL_TEST_MAGIC, 3, struct ioctl_test_swap)
/* _IOR of the name last set. */
#define IOCTL_TEST_NAME  _IOR(IOCTL_TEST_MAGIC, 4, struct ioctl_test_name)

#endif /* FUSD_EXAMPLE_IOCTL_H */
