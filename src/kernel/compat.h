/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Kernel-version differences, all in one place.  Prefer a feature test;
 * fall back to a version test only where the difference is a prototype
 * that cannot be detected by the preprocessor.
 */
#ifndef FUSD_COMPAT_H
#define FUSD_COMPAT_H

#include <linux/version.h>
#include <linux/device.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "fusd needs Linux 6.1 or newer"
#endif

/* 6.2 made the device_type devnode() callback take a const device. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define FUSD_DEVNODE_CONST const
#else
#define FUSD_DEVNODE_CONST
#endif

#endif /* FUSD_COMPAT_H */
