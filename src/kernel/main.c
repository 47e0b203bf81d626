// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fusd: Framework for User-Space Devices -- module entry points.
 */
#include <linux/module.h>

#include "fusd_i.h"

static int __init fusd_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct fusd_msg_header) != 16);
	BUILD_BUG_ON(sizeof(struct fusd_request) != FUSD_REQUEST_SIZE_V1_0);
	BUILD_BUG_ON(sizeof(struct fusd_reply) != FUSD_REPLY_SIZE_V1_0);
	BUILD_BUG_ON(sizeof(struct fusd_register) != FUSD_REGISTER_SIZE_V1_0);
	BUILD_BUG_ON(sizeof(struct fusd_notify_poll) != FUSD_NOTIFY_POLL_SIZE_V1_0);
	BUILD_BUG_ON(sizeof(struct fusd_version) <= FUSD_VERSION_SIZE_V1_0);

	ret = fusd_registry_init();
	if (ret)
		return ret;
	ret = fusd_control_init();
	if (ret)
		goto err_registry;
	ret = fusd_status_init();
	if (ret)
		goto err_control;
	pr_info("protocol %d.%d loaded\n", FUSD_PROTO_MAJOR, FUSD_PROTO_MINOR);
	return 0;

err_control:
	fusd_control_exit();
err_registry:
	fusd_registry_exit();
	return ret;
}

static void __exit fusd_exit(void)
{
	fusd_recovery_exit();
	fusd_status_exit();
	fusd_control_exit();
	fusd_registry_exit();
}

module_init(fusd_init);
module_exit(fusd_exit);

MODULE_DESCRIPTION("Framework for User-Space Devices");
MODULE_AUTHOR("fusd developers");
/* GPL-compatible: shmem helpers used for mmap are GPL-only exports. */
MODULE_LICENSE("Dual BSD/GPL");
#ifdef FUSD_MODULE_VERSION
/* Set by the build (CMake, DKMS) from the project version. */
MODULE_VERSION(FUSD_MODULE_VERSION);
#endif
