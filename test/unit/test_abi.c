// SPDX-License-Identifier: BSD-3-Clause
/* Description: the wire structs keep the sizes and offsets of protocol 1.0 */
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
	assert_int_equal(sizeof(struct fusd_version), 8);
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
	assert_int_equal(offsetof(struct fusd_register, name), 16);
	assert_int_equal(offsetof(struct fusd_register, dev_major), 400);
	assert_int_equal(offsetof(struct fusd_register, reserved), 416);
}

static void test_ioctl_numbers(void **state)
{
	(void)state;
	/* Encodes direction, magic and size: fixed once released. */
	assert_int_equal(_IOC_TYPE(FUSD_IOC_REGISTER), FUSD_IOC_MAGIC);
	assert_int_equal(_IOC_SIZE(FUSD_IOC_REGISTER), FUSD_REGISTER_SIZE_V1_0);
	assert_int_equal(_IOC_DIR(FUSD_IOC_REGISTER), _IOC_READ | _IOC_WRITE);
	assert_int_equal(_IOC_DIR(FUSD_IOC_VERSION), _IOC_READ);
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
