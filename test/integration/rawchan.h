/* SPDX-License-Identifier: BSD-3-Clause */
/* Speaking the wire protocol by hand, without libfusd. */
#ifndef RAWCHAN_H
#define RAWCHAN_H

#include <stddef.h>
#include <stdint.h>

#include <linux/fusd.h>

/* A FUSD_IOC_REGISTER argument for protocol 1.0: name, mode, rest 0. */
void raw_register_init(struct fusd_register *reg, const char *name,
		       unsigned int mode);

/* Open /dev/fusd/control and register 'name'; returns the channel fd. */
int raw_register(const char *name, unsigned int mode);
/* The same with FUSD_REGISTER_* flags. */
int raw_register_flags(const char *name, unsigned int mode, uint32_t flags);

/*
 * Open /dev/fusd/control and register 'name' (mode 0666) speaking minor
 * 'minor' and asking for 'features'; asserts the answer (that minor,
 * 'features' granted from minor 1 on, every feature supported, io_max
 * FUSD_IO_MAX).  Returns the channel fd.
 */
int raw_register_features(const char *name, uint16_t minor,
			  uint64_t features);

/* Read one request (blocking); returns its payload length. */
size_t raw_read_request(int chan, struct fusd_request *req, void *payload,
			size_t cap);

/* Build and write a reply; returns write()'s result (errno on -1). */
ssize_t raw_reply(int chan, uint64_t id, int64_t result, const void *data,
		  size_t len);
/* The same with every field of 'r' but the header's sizes and opcode. */
ssize_t raw_reply_rep(int chan, const struct fusd_reply *r, const void *data,
		      size_t len);

/* Accept the next request, which must be an OPEN; returns its fh. */
uint64_t raw_accept_open(int chan);

/* open(path, O_RDWR) here while a thread accepts it as the daemon of
 * 'chan'; asserts success, sets '*fh' (if not NULL), returns the fd.
 */
int raw_open(int chan, const char *path, uint64_t *fh);

#endif /* RAWCHAN_H */
