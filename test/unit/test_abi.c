// SPDX-License-Identifier: BSD-3-Clause
/* Description: the wire structs keep the sizes and offsets of protocols 1.0 and 1.1 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <linux/fusd.h>

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct fusd_msg_header), 16);
	assert_int_equal(sizeof(struct fusd_request), FUSD_REQUEST_SIZE_V1_0);
	assert_int_equal(sizeof(struct fusd_reply), FUSD_REPLY_SIZE_V1_0);
	assert_int_equal(sizeof(struct fusd_register), FUSD_REGISTER_SIZE_V1_0);
	assert_int_equal(sizeof(struct fusd_version), 16);
	assert_int_equal(offsetof(struct fusd_version, features),
			 FUSD_VERSION_SIZE_V1_0);
	assert_int_equal(sizeof(struct fusd_notify_poll),
			 FUSD_NOTIFY_POLL_SIZE_V1_0);
}

static void test_offsets(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct fusd_msg_header, id), 8);
	assert_int_equal(offsetof(struct fusd_request, fh), 16);
	assert_int_equal(offsetof(struct fusd_request, pid), 24);
	assert_int_equal(offsetof(struct fusd_request, f_flags), 40);
	assert_int_equal(offsetof(struct fusd_request, u), 48);
	assert_int_equal(offsetof(struct fusd_request, u.seek.pos), 64);
	assert_int_equal(offsetof(struct fusd_reply, result), 16);
	assert_int_equal(offsetof(struct fusd_reply, flags), 32);
	/* 1.1: the former reserved0 of the reply. */
	assert_int_equal(offsetof(struct fusd_reply, poll_mask), 36);
	/* 1.4: reserved[0] became the cookie. */
	assert_int_equal(offsetof(struct fusd_reply, cookie), 40);
	assert_int_equal(offsetof(struct fusd_reply, reserved), 48);
	assert_int_equal(offsetof(struct fusd_register, name), 16);
	assert_int_equal(offsetof(struct fusd_register, dev_major), 400);
	/* 1.1: the first two of 1.0's four reserved words. */
	assert_int_equal(offsetof(struct fusd_register, features), 416);
	assert_int_equal(offsetof(struct fusd_register, supported), 424);
	/* 1.4: reserved[0] became grace_ms and resend. */
	assert_int_equal(offsetof(struct fusd_register, grace_ms), 432);
	assert_int_equal(offsetof(struct fusd_register, resend), 436);
	assert_int_equal(offsetof(struct fusd_register, reserved), 440);
	assert_int_equal(offsetof(struct fusd_request, u.reopen.cookie), 56);
	/* 1.3: mmap, inside the request union and a reply payload. */
	assert_int_equal(offsetof(struct fusd_request, u.mmap.offset), 48);
	assert_int_equal(offsetof(struct fusd_request, u.mmap.length), 56);
	assert_int_equal(offsetof(struct fusd_request, u.mmap.prot), 64);
	assert_int_equal(offsetof(struct fusd_request, u.mmap.flags), 68);
	assert_int_equal(sizeof(struct fusd_mmap_reply),
			 FUSD_MMAP_REPLY_SIZE_V1_3);
	assert_int_equal(offsetof(struct fusd_mmap_reply, offset), 16);
	assert_int_equal(offsetof(struct fusd_mmap_reply, fd), 24);
	assert_int_equal(offsetof(struct fusd_mmap_reply, flags), 28);
	assert_int_equal(offsetof(struct fusd_mmap_reply, reserved), 32);
}

static void test_ioctl_numbers(void **state)
{
	(void)state;
	/* Encodes direction, magic and size: fixed once released. */
	assert_int_equal(_IOC_TYPE(FUSD_IOC_REGISTER), FUSD_IOC_MAGIC);
	assert_int_equal(_IOC_SIZE(FUSD_IOC_REGISTER), FUSD_REGISTER_SIZE_V1_0);
	assert_int_equal(_IOC_DIR(FUSD_IOC_REGISTER), _IOC_READ | _IOC_WRITE);
	assert_int_equal(_IOC_DIR(FUSD_IOC_VERSION), _IOC_READ);
	assert_int_equal(_IOC_NR(FUSD_IOC_REGISTER), FUSD_IOC_NR_REGISTER);
	assert_int_equal(_IOC_NR(FUSD_IOC_VERSION), FUSD_IOC_NR_VERSION);
	assert_int_equal(_IOC_NR(FUSD_IOC_SET_BATCH), FUSD_IOC_NR_SET_BATCH);
	assert_int_equal(_IOC_NR(FUSD_IOC_COPY_FROM_CALLER),
			 FUSD_IOC_NR_COPY_FROM_CALLER);
	assert_int_equal(_IOC_NR(FUSD_IOC_COPY_TO_CALLER),
			 FUSD_IOC_NR_COPY_TO_CALLER);
	/* Feature and flag bits of 1.1. */
	assert_true(FUSD_FEATURE_REPLY_POLL == 1);
	assert_int_equal(FUSD_REPLY_POLL, 2);
	/* ... and of 1.3, 1.4. */
	assert_true(FUSD_FEATURE_MMAP == 8 && FUSD_FEATURE_RECOVERY == 16);
	assert_int_equal(FUSD_REPLY_COOKIE, 4);
	assert_int_equal(FUSD_REPLY_FLAGS_ALL, 7);
	assert_int_equal(FUSD_REGISTER_ATTACH, 4);
	assert_int_equal(FUSD_OP_REOPEN, 12);
	assert_int_equal(FUSD_REQ_RESENT, 2);
	assert_true(FUSD_MSG_MAX >= FUSD_IO_MAX + sizeof(struct fusd_request));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_ioctl_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
