// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: an INTERRUPT handled by another dispatcher thread in the
 * moment between a callback's direct answer and its reply never reaches
 * unblock: the caller gets the driver's real result, never -EINTR (the
 * window is forced by wrapping pthread_mutex_lock)
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fakechan.h"

int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);

static struct fakechan fc;
static int armed, nlocks, unblocked;

/* The second lock after the callback returns is fusd_return's: just
 * before it, "another thread" reads and handles the INTERRUPT naming the
 * READ (request 2).
 */
int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	if (armed && ++nlocks == 2) {
		armed = 0;
		fakechan_send(&fc, FUSD_OP_INTERRUPT, 5, 2);
	}
	return __real_pthread_mutex_lock(m);
}

static ssize_t race_read(struct fusd_file_info *f, char *buf, size_t len,
			 loff_t *off)
{
	(void)f; (void)len; (void)off;
	memcpy(buf, "DATA!", 5);	/* consumed from the device */
	armed = 1;
	nlocks = 0;
	return 5;			/* answered at once, never deferred */
}

static int race_unblock(struct fusd_file_info *f)
{
	unblocked++;
	return fusd_return(f, -EINTR);
}

static struct fusd_file_operations race_fops = {
	.read = race_read,
	.unblock = race_unblock,
};

static void test_interrupt_after_direct_answer(void **state)
{
	struct fusd_notify_poll np;
	struct fusd_reply rep;
	size_t plen;

	(void)state;
	fakechan_open(&fc, &race_fops, 0);
	fakechan_send(&fc, FUSD_OP_OPEN, 5, 0);
	assert_int_equal(fakechan_next(&fc, &rep, &np, &plen), FUSD_OP_REPLY);
	fakechan_send(&fc, FUSD_OP_READ, 5, 16);

	assert_int_equal(unblocked, 0);
	assert_int_equal(fakechan_next(&fc, &rep, &np, &plen), FUSD_OP_REPLY);
	assert_true(rep.hdr.id == 2);
	assert_int_equal(rep.result, 5);
	assert_int_equal(plen, 5);
	/* Nothing else: no -EINTR for the call. */
	assert_int_equal(fakechan_next(&fc, &rep, &np, &plen), -1);
	fakechan_close(&fc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interrupt_after_direct_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
