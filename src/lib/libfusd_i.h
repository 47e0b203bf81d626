/* SPDX-License-Identifier: BSD-3-Clause */
/* libfusd internals: not installed. */
#ifndef LIBFUSD_I_H
#define LIBFUSD_I_H

#include <stddef.h>
#include <stdint.h>

#include <linux/fusd.h>

#include "fusd.h"

#define FUSD_API __attribute__((visibility("default")))

/* One open client file, known by the kernel's handle id. */
struct fusd_open {
	uint64_t fh;
	void *private_data;
	unsigned int refs;	/* the open itself + calls in flight */
	int closed;		/* released (or refused): no more polling */
	struct fusd_open *next;
};

#define FUSD_OPEN_BUCKETS 64

/* One registered device = one channel descriptor. */
struct fusd_dev {
	int fd;			/* channel; /dev/null once unregistered */
	int dead;		/* unregistered: nothing more to send */
	unsigned int refs;	/* the table + calls in flight */
	int nonblock;		/* channel set O_NONBLOCK by the ready loop */
	struct fusd_file_operations *fops;
	void *device_info;
	struct fusd_open *opens[FUSD_OPEN_BUCKETS];
	struct fusd_call_ctx *deferred;	/* calls not answered yet */
};

/*
 * One request being answered.  The public fusd_file_info comes first so
 * the driver's pointer converts back.  The reply header is followed
 * directly by 'cap' bytes (read data, or the write payload) so that the
 * reply goes to the kernel in one contiguous write().
 */
struct fusd_call_ctx {
	struct fusd_file_info info;
	unsigned int refs;	/* driver's + dispatcher's + unblock's */
	struct fusd_call_ctx *next_deferred;	/* dev->deferred list */
	int is_deferred;	/* on dev->deferred (calls INTERRUPT can find) */
	int in_callback;	/* the driver's callback is running */
	int answered;		/* fusd_return/destroy was called */
	int interrupted;	/* the kernel said the caller left */
	unsigned int poll_cached;	/* poll_diff: the state last reported */
	struct fusd_dev *dev;
	struct fusd_open *open;
	void *private_in;	/* private_data handed to the callback */
	loff_t offset;
	struct fusd_request req;
	size_t payload_len;	/* bytes the request carried */
	size_t cap;
	struct fusd_reply reply;
	char data[];
};

/* protocol.c: wire format helpers (pure, unit tested) */
int fusd_proto_next(const char *buf, size_t len, size_t *off,
		    struct fusd_request *req, const char **payload,
		    size_t *payload_len);
size_t fusd_proto_reply(struct fusd_reply *rep, const struct fusd_request *req,
			long long result, loff_t offset, size_t data_len);
loff_t fusd_proto_default_llseek(const struct fusd_request *req);

/* device.c: device table */
struct fusd_dev *fusd_dev_attach(int fd, void *device_info,
				 struct fusd_file_operations *fops);
struct fusd_dev *fusd_dev_get(int fd);
void fusd_dev_put(struct fusd_dev *dev);
void fusd_dev_put_locked(struct fusd_dev *dev);
void fusd_open_put(struct fusd_open *o);
void fusd_lock(void);
void fusd_unlock(void);

/* dispatch.c */
void fusd_dispatch_buffer(struct fusd_dev *dev, const char *buf, size_t len);

#endif /* LIBFUSD_I_H */
