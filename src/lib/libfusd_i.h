/* SPDX-License-Identifier: BSD-3-Clause */
/* libfusd internals: not installed. */
#ifndef LIBFUSD_I_H
#define LIBFUSD_I_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
	/* Poll masks reach the kernel in the order the driver set them:
	 * each one takes a number, and a reply carries its mask only if no
	 * later one was set (see fusd_set_poll).
	 */
	pthread_mutex_t poll_lock;	/* held while a mask is written */
	unsigned int poll_seq;		/* number of the latest mask */
};

#define FUSD_OPEN_BUCKETS 64

/* Most the kernel ever grants to FUSD_IOC_SET_IO_MAX. */
#define FUSD_IO_LIMIT (64u << 20)

/*
 * Size of the callback table of libfusd 1.0 (FUSD_1.0 fusd_register(),
 * whose binaries pass no size): every member up to fsync.  Members added
 * later go after fsync and are read only from tables that say they have
 * them (fusd_register_size()).
 */
#define FUSD_FOPS_SIZE_V1_0                                              \
	(offsetof(struct fusd_file_operations, fsync) +                  \
	 sizeof(((struct fusd_file_operations *)0)->fsync))

/*
 * An INTERRUPT whose call is not tracked yet (another dispatcher thread
 * read the request and has not reached fusd_ctx_track), or whose call is
 * already over.  Matched when the call is tracked; answered -EAGAIN once
 * a later request is handled (the kernel then sends it again if the call
 * still waits).
 */
struct fusd_intr {
	uint64_t id;		/* the INTERRUPT's own id */
	uint64_t target;	/* the call it names */
	struct fusd_intr *next;
};

/* A call the driver dropped with fusd_destroy() unanswered: its caller
 * still waits; a signal to it ends the call with EINTR, as in classic FUSD.
 */
struct fusd_dropped {
	uint64_t id;
	struct fusd_dropped *next;
};

/* One registered device = one channel descriptor. */
struct fusd_dev {
	int fd;			/* channel; /dev/null once unregistered */
	int dead;		/* unregistered: nothing more to send */
	unsigned int refs;	/* the table + calls in flight */
	int nonblock;		/* channel set O_NONBLOCK by the ready loop */
	uint64_t features;	/* FUSD_FEATURE_* the kernel granted */
	size_t io_max;		/* largest READ/WRITE payload it may send */
	struct fusd_file_operations fops;	/* the driver's, copied */
	void *device_info;
	struct fusd_open *opens[FUSD_OPEN_BUCKETS];
	struct fusd_call_ctx *deferred;	/* calls not answered yet */
	struct fusd_intr *interrupts;	/* INTERRUPTs not matched yet */
	struct fusd_dropped *dropped;	/* destroyed calls still waiting */
};

/*
 * One request being answered.  The public fusd_file_info comes first so
 * the driver's pointer converts back.  A new call is zeroed up to 'req'
 * only (fusd_ctx_new): a member added after it must be set there.  The
 * reply header is followed directly by 'cap' bytes (read data, or the
 * write payload) so that the reply goes to the kernel in one contiguous
 * write().
 */
struct fusd_call_ctx {
	struct fusd_file_info info;
	unsigned int refs;	/* driver's + dispatcher's + unblock's */
	struct fusd_call_ctx *next_deferred;	/* dev->deferred list */
	int is_deferred;	/* on dev->deferred (calls INTERRUPT can find) */
	int in_callback;	/* the driver's callback is running */
	int answered;		/* fusd_return/destroy was called */
	int interrupted;	/* the caller got a signal (INTERRUPT) */
	int has_poll_mask;	/* the reply carries poll_mask */
	int mmap_named;		/* MMAP: data holds the memory to map */
	int detached;		/* held reply only: no open, no device ref */
	int has_cookie;		/* the reply sets the file's cookie */
	uint64_t cookie;	/* fusd_set_cookie() */
	unsigned int poll_mask;	/* FUSD_REPLY_POLL: mask set in the callback */
	unsigned int poll_seq;	/* its number (fusd_open.poll_seq) */
	unsigned int poll_cached;	/* poll_diff: the state last reported */
	struct fusd_dev *dev;
	struct fusd_open *open;
	void *private_in;	/* private_data handed to the callback */
	loff_t offset;
	struct fusd_request req;	/* members from here: set one by one */
	size_t payload_len;	/* bytes the request carried */
	size_t cap;
	size_t room;		/* bytes allocated for data */
	size_t ioctl_len;	/* _IOC_READ bytes the reply carries */
	/* WRITE: the payload, in place in the read buffer it came in
	 * ('wbuf', kept until the call is answered), or copied into data.
	 */
	const char *wdata;
	struct fusd_buf *wbuf;
	struct fusd_reply reply;
	char data[];
};

/*
 * A read buffer: a thread reads requests into it; a WRITE call keeps it
 * (its payload stays in place) until answered.  Refcounted with atomics.
 */
struct fusd_buf {
	unsigned int refs;
	size_t cap;
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
				 const struct fusd_file_operations *fops,
				 size_t fops_size, uint64_t features);
void fusd_intr_free_locked(struct fusd_dev *dev);
struct fusd_dev *fusd_dev_get(int fd);
void fusd_dev_put(struct fusd_dev *dev);
void fusd_dev_put_locked(struct fusd_dev *dev);
void fusd_open_put(struct fusd_open *o);
void fusd_lock(void);
void fusd_unlock(void);

size_t fusd_table_snapshot(int **fds, size_t *cap, unsigned int *gen);
unsigned int fusd_table_generation(void);
size_t fusd_table_count(void);

/* dispatch.c */
void fusd_dispatch_buffer(struct fusd_dev *dev, const char *buf, size_t len);
void fusd_dispatch_shared(struct fusd_dev *dev, struct fusd_buf *owner,
			  size_t len);
void fusd_ctx_done(struct fusd_call_ctx *ctx);
void fusd_ctx_cache_drop(void);

/* mmap.c */
long long fusd_mmap_call(struct fusd_call_ctx *ctx);
size_t fusd_mmap_reply_len(struct fusd_call_ctx *ctx, ssize_t *retval);

/* loop.c: run loops */
struct fusd_buf *fusd_thread_buffer(struct fusd_dev *dev);
void fusd_buf_put(struct fusd_buf *b);
int fusd_may_hold(const struct fusd_dev *dev);
int fusd_hold_reply(struct fusd_call_ctx *ctx, size_t len);

#endif /* LIBFUSD_I_H */
