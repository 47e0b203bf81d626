// SPDX-License-Identifier: BSD-3-Clause
/* See notifier.h. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "bench.h"
#include "notifier.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t armed = PTHREAD_COND_INITIALIZER;
static void *target;
static uint64_t stamp;
static void (*fire_fn)(void *target);

uint64_t notifier_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *notifier_main(void *arg)
{
	const struct timespec delay = { 0, BENCH_POLL_DELAY_NS };

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!target)
			pthread_cond_wait(&armed, &lock);
		pthread_mutex_unlock(&lock);
		nanosleep(&delay, NULL);
		pthread_mutex_lock(&lock);
		/* Under the lock, so notifier_cancel() waits for it. */
		if (target) {
			void *t = target;

			target = NULL;
			stamp = notifier_now_ns();
			fire_fn(t);
		}
	}
	return NULL;
}

int notifier_start(void (*fire)(void *target))
{
	pthread_t th;
	int err;

	fire_fn = fire;
	err = pthread_create(&th, NULL, notifier_main, NULL);
	if (err)
		return -err;
	pthread_detach(th);
	return 0;
}

void notifier_arm(void *t)
{
	pthread_mutex_lock(&lock);
	target = t;
	pthread_cond_signal(&armed);
	pthread_mutex_unlock(&lock);
}

void notifier_cancel(void *t)
{
	pthread_mutex_lock(&lock);
	if (target == t)
		target = NULL;
	pthread_mutex_unlock(&lock);
}

uint64_t notifier_stamp(void)
{
	uint64_t s;

	pthread_mutex_lock(&lock);
	s = stamp;
	pthread_mutex_unlock(&lock);
	return s;
}
