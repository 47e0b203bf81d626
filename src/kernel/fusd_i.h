/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * fusd internal declarations shared by the module's files.
 *
 * Objects and their lifetimes:
 *
 *   fusd_channel  one open of /dev/fusd/control, i.e. one daemon endpoint.
 *                 Refcounted (kref): the control file holds one reference,
 *                 a registered fusd_device holds one.
 *   fusd_device   the character device a channel registered.  Embeds the
 *                 struct device (class "fusd") and the cdev; freed by the
 *                 device release callback once the node is gone and the
 *                 last client file is closed.
 *   fusd_file     one open of a fusd device by a client (file->private_data).
 *                 Holds a reference on its fusd_device.
 *   fusd_call     one client system call travelling to the daemon and back.
 *                 Refcounted: the caller holds one reference, the channel
 *                 one while the call is queued or awaiting its reply.
 */
#ifndef FUSD_I_H
#define FUSD_I_H

#include <linux/bvec.h>
#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/device.h>
#include <linux/hashtable.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/fusd.h>

#include "compat.h"

struct fusd_device;

struct fusd_channel {
	struct kref kref;
	spinlock_t lock;		/* protects everything below */
	struct list_head queue;		/* calls not yet read by the daemon */
	DECLARE_HASHTABLE(sent, 8);	/* calls read, awaiting a reply */
	DECLARE_HASHTABLE(files, 8);	/* open client files, by fh */
	u64 next_id;			/* last request id issued */
	u64 next_fh;			/* last open-file handle issued */
	unsigned int npending;		/* calls on the channel (not INTERRUPTs) */
	unsigned int nopen;		/* client files the daemon accepted */
	bool dead;			/* daemon gone: every call fails */
	wait_queue_head_t readers;	/* daemon threads waiting for calls */
	wait_queue_head_t copies;	/* callers draining FUSD_IOC_COPY_* */
	wait_queue_head_t room;		/* callers waiting under max_pending */

	struct mutex reg_lock;		/* serialises REGISTER and teardown */
	struct fusd_device *dev;	/* registered device, or NULL */
	u16 proto_minor;		/* negotiated protocol minor */
	u32 reg_flags;			/* FUSD_REGISTER_* */
	u64 features;			/* FUSD_FEATURE_* granted */
	u32 batch_max;			/* requests per read(), 0: no limit */
	u32 io_max;			/* most payload bytes per READ/WRITE */

	/* The daemon's credentials at open and its thread group (pid ns
	 * too): replaced when a new daemon attaches (RCU).
	 */
	const struct cred __rcu *cred;
	struct pid __rcu *owner;

	/* Recovery (recovery.c): the daemon is gone and the device waits
	 * for the next one (reg_lock and chan->lock to set, either to read).
	 */
	bool detached;
	u32 grace_ms;			/* granted FUSD_FEATURE_RECOVERY wait */
	unsigned long grace_end;	/* jiffies: the wait ends (reg_lock) */
	struct delayed_work grace_work;	/* ends the wait */
	struct list_head detached_entry;	/* in the detached list */
};

struct fusd_device {
	struct device dev;
	struct cdev cdev;
	struct fusd_channel *chan;	/* reference held until release */
	struct list_head entry;		/* in the registry */
	char name[FUSD_NAME_MAX];	/* node path under /dev */
	umode_t mode;
	kuid_t uid;
	kgid_t gid;
	int minor;
};

struct fusd_file {
	struct fusd_device *fdev;	/* kept alive by the cdev reference */
	struct fusd_channel *chan;	/* kept alive by fdev */
	u64 fh;
	struct hlist_node fh_node;	/* in chan->files */
	wait_queue_head_t poll_wq;
	__poll_t poll_mask;		/* set by the daemon's notifications */
	bool opened;			/* the daemon accepted the OPEN */
	struct file *filp;		/* its file: position and flags */
	u64 cookie;			/* FUSD_REPLY_COOKIE, for REOPEN */
	struct fusd_call *release;	/* prepared at open, sent at close */
};

enum fusd_call_state {
	FUSD_CALL_NEW,		/* not yet queued */
	FUSD_CALL_QUEUED,	/* on chan->queue */
	FUSD_CALL_SENT,		/* in chan->sent, daemon has read it */
	FUSD_CALL_FILLING,	/* its reply's payload is being copied in */
	FUSD_CALL_DONE,		/* answered (or failed), off the channel */
};

struct fusd_call {
	refcount_t ref;
	enum fusd_call_state state;
	struct list_head link;		/* chan->queue */
	struct hlist_node hnode;	/* chan->sent */
	struct completion done;
	bool orphan;			/* no waiter; the channel frees it */
	bool abandoned;			/* its caller was killed while waiting */
	bool no_reply;			/* INTERRUPT: done once delivered */
	bool counted;			/* in chan->npending */
	bool interrupted;		/* its caller got a signal once read */

	/* IOCTL: for FUSD_IOC_COPY_*, only while the caller is inside. */
	struct task_struct *caller;
	const struct cred *caller_cred;
	unsigned int copying;		/* copies in progress (chan->lock) */
	/* The INTERRUPT naming this call, allocated with it (so a signal can
	 * always be told) and queued once the caller got a signal and the
	 * daemon has fully received the call; it ends with the call.  The
	 * INTERRUPT's references are its owner's.
	 */
	struct fusd_call *intr;
	struct fusd_call *owner;	/* INTERRUPT: the call it is part of */
	bool delivering;		/* being copied to the daemon */

	/* What the daemon reads: request header then payload (in msg, or
	 * in the caller's pages).
	 */
	struct fusd_request *req;	/* points into msg */
	size_t msg_len;

	/* READ/WRITE payload in the caller's own pages, pinned for the life
	 * of the call: the daemon's read() copies a WRITE's data straight
	 * from them and its reply puts a READ's data straight into them.
	 */
	struct bio_vec *bvec;
	unsigned int nr_bvec;
	size_t direct_len;		/* bytes the pages hold */
	bool pages_written;		/* a reply was copied into them */

	/* OPEN only: the RELEASE that undoes it.  If the caller gives up
	 * after the daemon read the OPEN and the daemon accepts it late,
	 * the channel sends this RELEASE so the open is closed exactly once.
	 */
	struct fusd_call *undo;

	/* MMAP: the caller's address space (compared, never used) and the
	 * shmem memory the daemon's reply named (fusd_mmap_take_reply).
	 */
	struct mm_struct *caller_mm;
	struct file *mmap_file;
	pgoff_t mmap_pgoff;
	bool mmap_may_write;		/* the daemon maps it writable */
	int mmap_err;			/* why that memory was refused */

	/* The answer. */
	s64 result;
	s64 offset;
	u32 reply_flags;
	void *data;			/* reply payload (READ) */
	size_t data_len;

	/* Request header and payload, contiguous. */
	u8 msg[] __aligned(8);
};

/* channel.c: the control node */
int fusd_control_init(void);
void fusd_control_exit(void);
void fusd_channel_put(struct fusd_channel *chan);
void fusd_channel_kill(struct fusd_channel *chan);

/* recovery.c: a device that outlives its daemon */
extern unsigned int fusd_max_grace_ms;
void fusd_recovery_init_channel(struct fusd_channel *chan);
bool fusd_recovery_detach(struct fusd_channel *chan);
int fusd_recovery_attach(struct fusd_channel *old, struct fusd_channel *own,
			 struct fusd_register *args);
void fusd_recovery_exit(void);

/* call.c: requests and replies */
extern unsigned int fusd_max_pending;
struct fusd_call *fusd_call_new(struct fusd_channel *chan, u64 fh, u16 opcode,
				size_t payload_len);
void fusd_call_put(struct fusd_call *call);
void fusd_call_set_caller(struct fusd_call *call, struct fusd_channel *chan);
int fusd_call_submit(struct fusd_channel *chan, struct fusd_call *call);
s64 fusd_call_wait(struct fusd_channel *chan, struct fusd_call *call,
		   unsigned int freeze);
ssize_t fusd_channel_read_calls(struct fusd_channel *chan, char __user *buf,
				size_t count, bool nonblock, long timeout);
ssize_t fusd_channel_write_replies(struct fusd_channel *chan,
				   const char __user *buf, size_t count);
void fusd_channel_fail_all(struct fusd_channel *chan);
int fusd_channel_copy(struct fusd_channel *chan, const struct fusd_copy *cp,
		      bool to_caller);
void fusd_call_lend_memory(struct fusd_call *call);
void fusd_call_drain_copies(struct fusd_channel *chan, struct fusd_call *call);
bool fusd_channel_has_calls(struct fusd_channel *chan);
void fusd_file_set_poll_locked(struct fusd_channel *chan, u64 fh,
			       __poll_t mask);
void fusd_file_poll_set(struct fusd_file *ff, __poll_t mask);

/*
 * A file's poll mask until the daemon sets one: ready, as a driver
 * without poll, unless the daemon registered FUSD_REGISTER_POLL.
 */
static inline __poll_t fusd_poll_default(const struct fusd_channel *chan)
{
	return chan->reg_flags & FUSD_REGISTER_POLL ? 0 :
	       EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM;
}

void fusd_call_unlink_locked(struct fusd_channel *chan,
			     struct fusd_call *call);
void fusd_wake_reader(struct fusd_channel *chan);

/* pages.c: the caller's pages, for a data path with one copy */
extern unsigned int fusd_direct_min;
extern unsigned int fusd_max_io;
bool fusd_want_direct(struct fusd_channel *chan, struct iov_iter *iter,
		      size_t size);
ssize_t fusd_call_pin(struct fusd_call *call, struct iov_iter *iter,
		      size_t size);
void fusd_unpin(struct bio_vec *bvec, unsigned int nr, bool dirty);
void fusd_call_unpin(struct fusd_call *call);
int fusd_pages_to_user(const struct fusd_call *call, char __user *buf,
		       size_t len);
int fusd_pages_from_user(struct fusd_call *call, const char __user *buf,
			 size_t len);

/* mmap.c: client mappings of the daemon's shmem memory */
int fusd_client_mmap(struct file *file, struct vm_area_struct *vma);
int fusd_mmap_take_reply(struct fusd_call *call, const char __user *ubuf,
			 size_t len);

/* stats.c: sysfs attributes and /dev/fusd/status */
struct fusd_stats {
	u64 pending;		/* calls queued or awaiting a reply */
	u64 open_files;
	u64 total;		/* requests ever issued on the channel */
};

extern const struct attribute_group *fusd_dev_groups[];
void fusd_channel_stats(struct fusd_channel *chan, struct fusd_stats *st);
int fusd_status_init(void);
void fusd_status_exit(void);

/* registry.c: device names, nodes and minors */
int fusd_registry_init(void);
void fusd_registry_exit(void);
int fusd_device_register(struct fusd_channel *chan,
			 struct fusd_register *args);
void fusd_device_unregister(struct fusd_device *fdev);
struct fusd_channel *fusd_registry_get_channel(const char *name);
bool fusd_registry_may_attach(const struct cred *cred, kuid_t owner);
size_t fusd_registry_status(char *buf, size_t size);

/* client.c: file operations of a registered device */
extern const struct file_operations fusd_client_fops;
struct fusd_call *fusd_client_call(struct file *file, struct fusd_file *ff,
				   u16 opcode, size_t payload_len);
s64 fusd_client_run(struct fusd_file *ff, struct fusd_call *call);

#endif /* FUSD_I_H */
