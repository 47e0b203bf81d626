// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * File operations of a registered device: each one becomes a call to the
 * daemon that registered it.
 */
#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "fusd_i.h"

struct fusd_call *fusd_client_call(struct file *file, struct fusd_file *ff,
				   u16 opcode, size_t payload_len)
{
	struct fusd_call *call = fusd_call_new(ff->chan, ff->fh, opcode,
						payload_len);

	if (call)
		call->req->f_flags = file->f_flags;
	return call;
}

/* Send a call and wait for its answer ('freeze': see fusd_call_wait). */
static s64 fusd_client_run_state(struct fusd_file *ff, struct fusd_call *call,
				 unsigned int freeze)
{
	int ret = fusd_call_submit(ff->chan, call);

	return ret ? ret : fusd_call_wait(ff->chan, call, freeze);
}

s64 fusd_client_run(struct fusd_file *ff, struct fusd_call *call)
{
	return fusd_client_run_state(ff, call, TASK_FREEZABLE);
}

static void fusd_client_update_pos(const struct fusd_call *call, loff_t *ppos)
{
	if (call->reply_flags & FUSD_REPLY_SET_OFFSET)
		*ppos = call->offset;
	else
		*ppos += call->result;
}

/* Notifications for this fh are dropped from now on. */
static void fusd_client_forget(struct fusd_file *ff)
{
	spin_lock(&ff->chan->lock);
	hash_del(&ff->fh_node);
	if (ff->opened)
		ff->chan->nopen--;
	spin_unlock(&ff->chan->lock);
}

static int fusd_client_open(struct inode *inode, struct file *file)
{
	struct fusd_device *fdev =
		container_of(inode->i_cdev, struct fusd_device, cdev);
	struct fusd_channel *chan = fdev->chan;
	struct fusd_call *call = NULL;
	struct fusd_file *ff;
	int ret = -ENOMEM;

	ff = kzalloc(sizeof(*ff), GFP_KERNEL);
	if (!ff)
		return -ENOMEM;
	ff->fdev = fdev;
	ff->chan = chan;
	ff->filp = file;
	init_waitqueue_head(&ff->poll_wq);
	ff->poll_mask = fusd_poll_default(chan);
	/* Findable before the OPEN goes out: the daemon may notify at once. */
	spin_lock(&chan->lock);
	ff->fh = ++chan->next_fh;
	hash_add(chan->files, &ff->fh_node, ff->fh);
	spin_unlock(&chan->lock);

	/* Allocated now so that close() can never fail to reach the daemon. */
	ff->release = fusd_client_call(file, ff, FUSD_OP_RELEASE, 0);
	if (!ff->release)
		goto out;
	call = fusd_client_call(file, ff, FUSD_OP_OPEN, 0);
	if (!call)
		goto out;
	call->undo = ff->release;
	ff->release = NULL;

	ret = fusd_client_run(ff, call);
	if (ret == -EPIPE && READ_ONCE(chan->dead))
		ret = -ENODEV;	/* the daemon is gone (not its own answer) */
	if (!ret) {
		ff->release = call->undo;
		call->undo = NULL;
		file->private_data = ff;
		spin_lock(&chan->lock);
		ff->opened = true;
		chan->nopen++;
		spin_unlock(&chan->lock);
	}
out:
	fusd_call_put(call);
	if (ret) {
		fusd_client_forget(ff);
		fusd_call_put(ff->release);
		kfree(ff);
	}
	return ret;
}

static int fusd_client_release(struct inode *inode, struct file *file)
{
	struct fusd_file *ff = file->private_data;
	struct fusd_call *call = ff->release;

	/* The last close may run in a kernel thread: keep the opener then. */
	if (!(current->flags & PF_KTHREAD))
		fusd_call_set_caller(call, ff->chan);
	call->req->f_flags = file->f_flags;
	/* Queued, not awaited: close() never blocks on the daemon. */
	fusd_call_submit(ff->chan, call);
	fusd_call_put(call);
	fusd_client_forget(ff);
	kfree(ff);
	return 0;
}

/* Most bytes one READ or WRITE asks of the daemon. */
static size_t fusd_client_io_size(struct fusd_file *ff, struct iov_iter *iter)
{
	return min_t(size_t, iov_iter_count(iter), READ_ONCE(ff->chan->io_max));
}

/*
 * read(), readv(), io_uring: one request for the whole buffer.  Large
 * reads hand the daemon's reply straight into the caller's pinned pages.
 */
static ssize_t fusd_client_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct fusd_file *ff = iocb->ki_filp->private_data;
	size_t size = fusd_client_io_size(ff, to);
	struct fusd_call *call;
	ssize_t ret;

	call = fusd_client_call(iocb->ki_filp, ff, FUSD_OP_READ, 0);
	if (!call)
		return -ENOMEM;
	if (fusd_want_direct(ff->chan, to, size)) {
		ret = fusd_call_pin(call, to, size);
		if (ret < 0)
			goto out;
		size = ret;
	}
	call->req->u.rw.offset = iocb->ki_pos;
	call->req->u.rw.size = size;

	ret = fusd_client_run(ff, call);
	if (ret < 0)
		goto out;
	if (call->bvec)
		iov_iter_advance(to, call->data_len);
	else if (copy_to_iter(call->data, call->data_len, to) !=
		 call->data_len)
		ret = -EFAULT;
	if (ret >= 0)
		fusd_client_update_pos(call, &iocb->ki_pos);
out:
	fusd_call_put(call);
	return ret;
}

/* write(), writev(), io_uring: one request; large ones stay in place. */
static ssize_t fusd_client_write_iter(struct kiocb *iocb,
				      struct iov_iter *from)
{
	struct fusd_file *ff = iocb->ki_filp->private_data;
	size_t size = fusd_client_io_size(ff, from);
	bool direct = fusd_want_direct(ff->chan, from, size);
	struct fusd_call *call;
	ssize_t ret;

	call = fusd_client_call(iocb->ki_filp, ff, FUSD_OP_WRITE,
				direct ? 0 : size);
	if (!call)
		return -ENOMEM;
	/* Memory that cannot be pinned (device memory mapped VM_IO or
	 * VM_PFNMAP) may still be readable: copy it then.
	 */
	if (direct && fusd_call_pin(call, from, size) < 0) {
		fusd_call_put(call);
		direct = false;
		call = fusd_client_call(iocb->ki_filp, ff, FUSD_OP_WRITE, size);
		if (!call)
			return -ENOMEM;
	}
	if (direct) {
		size = call->direct_len;
		call->msg_len += size;
		call->req->hdr.size = call->msg_len;
	} else if (!copy_from_iter_full(call->req + 1, size, from)) {
		ret = -EFAULT;
		goto out;
	} else {
		iov_iter_revert(from, size);
	}
	call->req->u.rw.offset = iocb->ki_pos;
	call->req->u.rw.size = size;

	ret = fusd_client_run(ff, call);
	if (ret >= 0) {
		iov_iter_advance(from, ret);
		fusd_client_update_pos(call, &iocb->ki_pos);
	}
out:
	fusd_call_put(call);
	return ret;
}

static loff_t fusd_client_llseek(struct file *file, loff_t offset, int whence)
{
	struct fusd_file *ff = file->private_data;
	struct fusd_call *call;
	loff_t ret;

	call = fusd_client_call(file, ff, FUSD_OP_LLSEEK, 0);
	if (!call)
		return -ENOMEM;
	call->req->u.seek.offset = offset;
	call->req->u.seek.whence = whence;
	call->req->u.seek.pos = file->f_pos;

	ret = fusd_client_run(ff, call);
	if (ret >= 0)
		file->f_pos = ret;
	fusd_call_put(call);
	return ret;
}

/*
 * The _IOC encoding of cmd says what to copy: _IOC_WRITE data goes to the
 * daemon, _IOC_READ data comes back.  Nothing else is ever touched.
 */
static long fusd_client_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct fusd_file *ff = file->private_data;
	void __user *uarg = (void __user *)arg;
	u32 dir = _IOC_DIR(cmd);
	size_t size = dir == _IOC_NONE ? 0 : _IOC_SIZE(cmd);
	size_t in = (dir & _IOC_WRITE) ? size : 0;
	struct fusd_call *call;
	long ret;

	call = fusd_client_call(file, ff, FUSD_OP_IOCTL, in);
	if (!call)
		return -ENOMEM;
	call->req->u.ioctl.cmd = cmd;
	call->req->u.ioctl.arg = arg;
	call->req->u.ioctl.size = size;
	fusd_call_lend_memory(call);
	if (in && copy_from_user(call->req + 1, uarg, in)) {
		fusd_call_put(call);
		return -EFAULT;
	}

	ret = fusd_client_run(ff, call);
	/* No copy into our memory may outlive this ioctl. */
	fusd_call_drain_copies(ff->chan, call);
	if (ret >= 0 && call->data_len &&
	    copy_to_user(uarg, call->data, call->data_len))
		ret = -EFAULT;
	fusd_call_put(call);
	return ret;
}

/* Never asks the daemon: reports the mask its notifications left. */
static __poll_t fusd_client_poll(struct file *file, poll_table *wait)
{
	struct fusd_file *ff = file->private_data;

	poll_wait(file, &ff->poll_wq, wait);
	if (READ_ONCE(ff->chan->dead))
		return EPOLLERR | EPOLLHUP;
	/* Between two daemons (recovery): nothing is ready. */
	if (READ_ONCE(ff->chan->detached))
		return 0;
	return READ_ONCE(ff->poll_mask);
}

/* close() of one descriptor: only for daemons that asked for it. */
static int fusd_client_flush(struct file *file, fl_owner_t id)
{
	struct fusd_file *ff = file->private_data;
	struct fusd_call *call;
	int ret;

	if (!(ff->chan->reg_flags & FUSD_REGISTER_FLUSH))
		return 0;
	call = fusd_client_call(file, ff, FUSD_OP_FLUSH, 0);
	if (!call)
		return -ENOMEM;
	/* An exiting task must never wait on a daemon: tell, don't ask. */
	if (current->flags & (PF_EXITING | PF_KTHREAD)) {
		call->orphan = true;
		fusd_call_submit(ff->chan, call);
		ret = 0;
	} else {
		/* Not freezable: exec closes O_CLOEXEC files holding locks. */
		ret = fusd_client_run_state(ff, call, 0);
	}
	fusd_call_put(call);
	/* A dead daemon: nothing to flush (its own -EPIPE stands). */
	return ret == -EPIPE && READ_ONCE(ff->chan->dead) ? 0 : ret;
}

static int fusd_client_fsync(struct file *file, loff_t start, loff_t end,
			     int datasync)
{
	struct fusd_file *ff = file->private_data;
	struct fusd_call *call;
	int ret;

	call = fusd_client_call(file, ff, FUSD_OP_FSYNC, 0);
	if (!call)
		return -ENOMEM;
	call->req->u.fsync.datasync = !!datasync;
	ret = fusd_client_run(ff, call);
	fusd_call_put(call);
	return ret;
}

const struct file_operations fusd_client_fops = {
	.owner = THIS_MODULE,
	.open = fusd_client_open,
	.release = fusd_client_release,
	.read_iter = fusd_client_read_iter,
	.write_iter = fusd_client_write_iter,
	.llseek = fusd_client_llseek,
	.poll = fusd_client_poll,
	.flush = fusd_client_flush,
	.fsync = fusd_client_fsync,
	.mmap = fusd_client_mmap,
	.unlocked_ioctl = fusd_client_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};
