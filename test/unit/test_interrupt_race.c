// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: an INTERRUPT handled by another dispatcher thread in the
 * moments after a callback returned its answer directly (before the
 * answer is recorded, and between the reply and the call's end) never
 * reaches unblock: the caller gets the driver's real result, never -EINTR
 * (the windows are forced by wrapping pthread_mutex_lock)
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
static int window;	/* before which lock after the callback */

/* Just before lock number 'window' after the callback returns, "another
 * thread" reads and handles the INTERRUPT naming the READ (request 2):
 * lock 1 records the answer, lock 2 ends the call once its reply is
 * written.
 */
int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	if (armed && ++nlocks == window) {
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

static void interrupt_after_direct_answer(int before_lock)
{
	struct fusd_notify_poll np;
	struct fusd_reply rep;
	size_t plen;

	window = before_lock;
	unblocked = 0;
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
	assert_int_equal(armed, 0);	/* the window was reached */
	fakechan_close(&fc);
}

static void test_interrupt_before_answer_is_recorded(void **state)
{
	(void)state;
	interrupt_after_direct_answer(1);
}

static void test_interrupt_after_reply(void **state)
{
	(void)state;
	interrupt_after_direct_answer(2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interrupt_before_answer_is_recorded),
		cmocka_unit_test(test_interrupt_after_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
