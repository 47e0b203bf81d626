/* SPDX-License-Identifier: BSD-3-Clause */
/* A fake kernel end of a channel for unit tests: a socketpair whose one
 * end libfusd serves and whose other end the test reads and writes.
 */
#ifndef FAKECHAN_H
#define FAKECHAN_H

#include <stdint.h>

#include "libfusd_i.h"

struct fakechan {
	int chan;		/* libfusd's end */
	int kern;		/* the test's end, playing the kernel */
	uint64_t next_id;
	struct fusd_dev *dev;
};

/* Serve a new fake channel with 'fops' and granted 'features'. */
void fakechan_open(struct fakechan *f, const struct fusd_file_operations *fops,
		   uint64_t features);
void fakechan_close(struct fakechan *f);

/* Send one request as the kernel would (u0: rw.size, or interrupt.id)
 * and let the library handle it; returns its id.
 */
uint64_t fakechan_send(struct fakechan *f, uint16_t op, uint64_t fh,
		       uint64_t u0);

/* The next message from the library (reply or notification); returns
 * its opcode, -1 if there is none.  'payload' may be NULL.
 */
int fakechan_next(struct fakechan *f, struct fusd_reply *rep,
		  struct fusd_notify_poll *np, size_t *payload);

#endif /* FAKECHAN_H */
