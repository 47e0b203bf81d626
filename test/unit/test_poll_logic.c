// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the library's classic poll_diff protocol on top of poll
 * notifications: asked after each accepted open with the state the kernel
 * holds, its answers (at once or deferred) become masks and it is asked
 * again, never after close; fusd_notify_poll's errors
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fakechan.h"

#define MAX_ASKS 8

/* What poll_diff was asked, and what it answers next. */
static unsigned int asked[MAX_ASKS];
static int nasked;
static int answers[MAX_ASKS];	/* -FUSD_NOREPLY: hold it */
static int nanswers;
static struct fusd_file_info *held;	/* the latest held call */
static struct fusd_file_info *held_fh[8];	/* held calls, by fh */
static int open_result;

static int pl_open(struct fusd_file_info *file)
{
	(void)file;
	return open_result;
}

static int pl_poll_diff(struct fusd_file_info *file, unsigned int cached)
{
	int a;

	assert_true(nasked < MAX_ASKS);
	asked[nasked] = cached;
	a = nasked < nanswers ? answers[nasked] : -FUSD_NOREPLY;
	nasked++;
	if (a == -FUSD_NOREPLY) {
		held = file;
		held_fh[file->fusd_msg->fh % 8] = file;
	}
	return a;
}

/* The held call of 'fh', handed to the test (which answers it). */
static struct fusd_file_info *take(uint64_t fh)
{
	struct fusd_file_info *h = held_fh[fh % 8];

	held_fh[fh % 8] = NULL;
	if (held == h)
		held = NULL;
	return h;
}

static int pl_close(struct fusd_file_info *file)
{
	struct fusd_file_info *h = take(file->fusd_msg->fh);

	if (h)			/* as the classic examples do */
		fusd_destroy(h);
	return 0;
}

static const struct fusd_file_operations pl_fops = {
	.open = pl_open,
	.close = pl_close,
	.poll_diff = pl_poll_diff,
};

static int setup(void **state)
{
	static struct fakechan f;

	nasked = nanswers = 0;
	held = NULL;
	open_result = 0;
	fakechan_open(&f, &pl_fops, 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	uint64_t fh;

	for (fh = 0; fh < 8; fh++)	/* what the driver still holds */
		fusd_destroy(take(fh));
	fakechan_close(*state);
	return 0;
}

static void expect_notify(struct fakechan *f, uint64_t fh, unsigned int mask)
{
	struct fusd_notify_poll np;
	struct fusd_reply rep;

	assert_int_equal(fakechan_next(f, &rep, &np, NULL),
			 FUSD_OP_NOTIFY_POLL);
	assert_true(np.fh == fh);
	assert_int_equal(np.mask, mask);
	assert_true(np.hdr.id == 0);
}

static void expect_reply(struct fakechan *f, uint64_t id, long long result)
{
	struct fusd_notify_poll np;
	struct fusd_reply rep;

	assert_int_equal(fakechan_next(f, &rep, &np, NULL), FUSD_OP_REPLY);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, result);
}

static void expect_nothing(struct fakechan *f)
{
	struct fusd_notify_poll np;
	struct fusd_reply rep;

	assert_int_equal(fakechan_next(f, &rep, &np, NULL), -1);
}

/* Answers at once: each becomes a mask and poll_diff is asked again with
 * it, until it holds the call; the classic bits map to POLL* bits.
 */
static void test_answers_at_once(void **state)
{
	struct fakechan *f = *state;
	uint64_t id;

	answers[0] = FUSD_NOTIFY_INPUT;
	answers[1] = FUSD_NOTIFY_OUTPUT | FUSD_NOTIFY_EXCEPT;
	answers[2] = -FUSD_NOREPLY;
	nanswers = 3;
	id = fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	expect_reply(f, id, 0);		/* the open first ... */
	expect_notify(f, 5, POLLIN | POLLRDNORM);	/* ... then its state */
	expect_notify(f, 5, POLLOUT | POLLWRNORM | POLLPRI);
	expect_nothing(f);
	assert_int_equal(nasked, 3);
	assert_int_equal(asked[0], 0);	/* files start with nothing ready */
	assert_int_equal(asked[1], FUSD_NOTIFY_INPUT);
	assert_int_equal(asked[2], FUSD_NOTIFY_OUTPUT | FUSD_NOTIFY_EXCEPT);
	assert_int_equal(fusd_get_poll_diff_cached_state(held),
			 FUSD_NOTIFY_OUTPUT | FUSD_NOTIFY_EXCEPT);
	assert_int_equal(fusd_get_call_type(held), FUSD_OP_POLL);
}

/* An answer equal to the cached state is sent but not asked again (no
 * endless loop).
 */
static void test_same_state_not_asked_again(void **state)
{
	struct fakechan *f = *state;
	uint64_t id;

	answers[0] = 0;
	nanswers = 1;
	id = fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	expect_reply(f, id, 0);
	expect_notify(f, 5, 0);
	expect_nothing(f);
	assert_int_equal(nasked, 1);
}

/* A held poll_diff answered later, from outside any callback: the mask
 * goes at once and poll_diff is asked again with the new state.
 */
static void test_held_then_answered(void **state)
{
	struct fakechan *f = *state;
	struct fusd_file_info *h;
	uint64_t id;

	id = fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	expect_reply(f, id, 0);
	expect_nothing(f);
	assert_non_null(held);
	h = take(5);
	assert_int_equal(fusd_return(h, FUSD_NOTIFY_INPUT), 0);
	expect_notify(f, 5, POLLIN | POLLRDNORM);
	assert_int_equal(nasked, 2);
	assert_int_equal(asked[1], FUSD_NOTIFY_INPUT);
	assert_non_null(held);
	assert_true(held != h);		/* a new call: 'h' was freed */
}

/* After close, poll_diff is never asked again, and a held one answered
 * late sends nothing.
 */
static void test_not_after_close(void **state)
{
	struct fakechan *f = *state;
	uint64_t id;

	answers[0] = -FUSD_NOREPLY;
	nanswers = 1;
	id = fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	expect_reply(f, id, 0);
	id = fakechan_send(f, FUSD_OP_RELEASE, 5, 0);	/* close destroys */
	expect_reply(f, id, 0);
	expect_nothing(f);
	assert_null(held);
	assert_int_equal(nasked, 1);
}

/* A refused open is never polled. */
static void test_refused_open_not_polled(void **state)
{
	struct fakechan *f = *state;
	uint64_t id;

	open_result = -EACCES;
	id = fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	expect_reply(f, id, -EACCES);
	expect_nothing(f);
	assert_int_equal(nasked, 0);
}

/* Each open file has its own cycle. */
static void test_files_apart(void **state)
{
	struct fakechan *f = *state;
	struct fusd_file_info *first;

	fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	first = take(5);
	fakechan_send(f, FUSD_OP_OPEN, 6, 0);
	assert_true(held != first);
	expect_reply(f, 1, 0);
	expect_reply(f, 2, 0);
	assert_int_equal(fusd_return(first, FUSD_NOTIFY_OUTPUT), 0);
	expect_notify(f, 5, POLLOUT | POLLWRNORM);
	expect_nothing(f);
}

static void test_notify_poll_errors(void **state)
{
	struct fakechan *f = *state;
	struct fusd_file_info *h;

	assert_int_equal(fusd_notify_poll(NULL, POLLIN), -1);
	assert_int_equal(errno, EINVAL);
	fakechan_send(f, FUSD_OP_OPEN, 5, 0);
	h = take(5);
	assert_int_equal(fusd_notify_poll(h, POLLIN), 0);
	fusd_unregister(f->chan);
	assert_int_equal(fusd_notify_poll(h, POLLIN), -1);
	assert_int_equal(errno, EPIPE);
	fusd_destroy(h);
	f->chan = dup(f->kern);		/* teardown closes something valid */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answers_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_same_state_not_asked_again,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_then_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_after_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_open_not_polled,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_apart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_notify_poll_errors, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
