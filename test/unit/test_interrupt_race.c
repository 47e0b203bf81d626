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
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "libfusd_i.h"

int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __wrap_pthread_mutex_lock(pthread_mutex_t *m);

static int chan, kern, armed, nlocks, unblocked;

static void send_raw(uint16_t op, uint64_t id, uint64_t fh, uint64_t x)
{
	struct fusd_request r;

	memset(&r, 0, sizeof(r));
	r.hdr.size = sizeof(r);
	r.hdr.hdr_size = sizeof(r);
	r.hdr.opcode = op;
	r.hdr.id = id;
	r.fh = fh;
	if (op == FUSD_OP_INTERRUPT)
		r.u.interrupt.id = x;
	else
		r.u.rw.size = x;
	assert_int_equal(write(kern, &r, sizeof(r)), sizeof(r));
}

/* The second lock after the callback returns is fusd_return's: just
 * before it, "another thread" reads and handles the INTERRUPT.
 */
int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
	if (armed && ++nlocks == 2) {
		armed = 0;
		send_raw(FUSD_OP_INTERRUPT, 3, 5, 2);
		fusd_dispatch(chan);
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
	char buf[512];
	struct fusd_reply *r = (struct fusd_reply *)buf;
	int sv[2];
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	chan = sv[0];
	kern = sv[1];
	assert_non_null(fusd_dev_attach(chan, NULL, &race_fops,
					sizeof(race_fops), 0));
	send_raw(FUSD_OP_OPEN, 1, 5, 0);
	fusd_dispatch(chan);
	assert_int_equal(recv(kern, buf, sizeof(buf), MSG_DONTWAIT),
			 sizeof(*r));
	send_raw(FUSD_OP_READ, 2, 5, 16);
	fusd_dispatch(chan);

	assert_int_equal(unblocked, 0);
	n = recv(kern, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, sizeof(*r) + 5);
	assert_true(r->hdr.id == 2);
	assert_int_equal(r->result, 5);
	assert_memory_equal(buf + sizeof(*r), "DATA!", 5);
	/* Nothing else: no -EINTR for the call. */
	assert_int_equal(recv(kern, buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interrupt_after_direct_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
