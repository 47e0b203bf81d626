// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: a 32-bit caller's ioctls go through compat_ioctl: the
 * request is marked FUSD_REQ_COMPAT and all four encodings work
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

static char client[256];

static int have_client(void **state)
{
	(void)state;
	snprintf(client, sizeof(client), "%s/compat32_client", itest_bindir());
	if (access(client, X_OK)) {
		print_message("no 32-bit client built (gcc-multilib missing)\n");
		exit(77);
	}
	return 0;
}

static void test_example_from_32bit(void **state)
{
	pid_t d;

	(void)state;
	d = itest_start_example("ioctl", "/dev/ioctltest");
	assert_int_equal(itest_sh("%s example /dev/ioctltest", client), 0);
	itest_kill_daemon(d, "/dev/ioctltest");
}

static void *run_client(void *arg)
{
	(void)arg;
	return (void *)(long)itest_sh("%s one /dev/raw32 > /tmp/c32.out", client);
}

static void *accept_open(void *arg)
{
	raw_accept_open(*(int *)arg);
	return NULL;
}

static void test_request_marked_compat(void **state)
{
	struct fusd_request req;
	const int v = 4321;
	char out[32];
	pthread_t t, a;
	void *rc;
	int chan;

	(void)state;
	chan = raw_register("raw32", 0666);
	assert_int_equal(pthread_create(&a, NULL, accept_open, &chan), 0);
	assert_int_equal(pthread_create(&t, NULL, run_client, NULL), 0);
	pthread_join(a, NULL);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_IOCTL);
	assert_int_equal(req.flags & FUSD_REQ_COMPAT, FUSD_REQ_COMPAT);
	assert_true(req.u.ioctl.arg <= 0xffffffffULL);	/* a 32-bit pointer */
	raw_reply(chan, req.hdr.id, 0, &v, sizeof(v));
	raw_read_request(chan, &req, NULL, 0);		/* its close */
	assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
	pthread_join(t, &rc);
	assert_int_equal((long)rc, 0);
	assert_int_equal(itest_slurp("/tmp/c32.out", out, sizeof(out)), 5);
	assert_string_equal(out, "4321\n");
	close(chan);
	assert_int_equal(itest_wait_path("/dev/raw32", 0, 2000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_from_32bit),
		cmocka_unit_test(test_request_marked_compat),
	};

	return itest_run(tests, have_client, NULL);
}
