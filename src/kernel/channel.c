// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The control node /dev/fusd/control.  Each open is a channel: the daemon
 * registers a device on it, reads requests from it and writes replies to
 * it.  Closing it (or the daemon dying) removes the device and fails every
 * call still waiting with -EPIPE.
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "fusd_i.h"

/*
 * One open of the control node: the daemon's end.  It serves its own
 * channel, or the channel of a device it attached to (recovery), which
 * then replaces it; its own stays allocated until the end, so that a
 * system call that found it still has it.
 */
struct fusd_endpoint {
	struct fusd_channel *chan;	/* the channel served */
	struct fusd_channel *own;	/* made at open */
};

static struct fusd_channel *fusd_ep_chan(struct file *file)
{
	struct fusd_endpoint *ep = file->private_data;

	/* Pairs with the release in fusd_ioc_attach(). */
	return smp_load_acquire(&ep->chan);
}

static void fusd_channel_free(struct kref *kref)
{
	struct fusd_channel *chan =
		container_of(kref, struct fusd_channel, kref);

	put_pid(rcu_dereference_protected(chan->owner, 1));
	put_cred(rcu_dereference_protected(chan->cred, 1));
	kfree(chan);
}

void fusd_channel_put(struct fusd_channel *chan)
{
	kref_put(&chan->kref, fusd_channel_free);
}

static int fusd_control_open(struct inode *inode, struct file *file)
{
	struct fusd_endpoint *ep;
	struct fusd_channel *chan;

	ep = kzalloc(sizeof(*ep), GFP_KERNEL);
	chan = kzalloc(sizeof(*chan), GFP_KERNEL);
	if (!ep || !chan) {
		kfree(ep);
		kfree(chan);
		return -ENOMEM;
	}
	kref_init(&chan->kref);
	spin_lock_init(&chan->lock);
	INIT_LIST_HEAD(&chan->queue);
	hash_init(chan->sent);
	hash_init(chan->files);
	init_waitqueue_head(&chan->readers);
	init_waitqueue_head(&chan->copies);
	init_waitqueue_head(&chan->room);
	mutex_init(&chan->reg_lock);
	chan->io_max = FUSD_IO_MAX;
	RCU_INIT_POINTER(chan->cred, get_cred(file->f_cred));
	RCU_INIT_POINTER(chan->owner, get_task_pid(current, PIDTYPE_TGID));
	fusd_recovery_init_channel(chan);
	ep->chan = chan;
	ep->own = chan;
	file->private_data = ep;
	return stream_open(inode, file);
}

/* The daemon is gone for good: calls fail, the node goes. */
void fusd_channel_kill(struct fusd_channel *chan)
{
	fusd_channel_fail_all(chan);
	mutex_lock(&chan->reg_lock);
	if (chan->dev) {
		fusd_device_unregister(chan->dev);
		chan->dev = NULL;
	}
	mutex_unlock(&chan->reg_lock);
}

static int fusd_control_release(struct inode *inode, struct file *file)
{
	struct fusd_endpoint *ep = file->private_data;

	/* A recoverable device waits for its next daemon instead. */
	if (!fusd_recovery_detach(ep->chan))
		fusd_channel_kill(ep->chan);
	if (ep->own != ep->chan) {
		fusd_channel_kill(ep->own);
		fusd_channel_put(ep->own);
	}
	fusd_channel_put(ep->chan);
	kfree(ep);
	return 0;
}

/* chan->dev is set once by REGISTER and cleared only at release. */
static bool fusd_channel_registered(struct fusd_channel *chan)
{
	/* Pairs with the release in fusd_device_register(): what REGISTER
	 * set up (the features) is seen with the device.
	 */
	return !!smp_load_acquire(&chan->dev);
}

static ssize_t fusd_control_read(struct file *file, char __user *buf,
				 size_t count, loff_t *ppos)
{
	struct fusd_channel *chan = fusd_ep_chan(file);

	if (!fusd_channel_registered(chan))
		return -ENODEV;
	return fusd_channel_read_calls(chan, buf, count,
				       file->f_flags & O_NONBLOCK,
				       MAX_SCHEDULE_TIMEOUT);
}

static ssize_t fusd_control_write(struct file *file, const char __user *buf,
				  size_t count, loff_t *ppos)
{
	struct fusd_channel *chan = fusd_ep_chan(file);

	if (!fusd_channel_registered(chan))
		return -ENODEV;
	return fusd_channel_write_replies(chan, buf, count);
}

static __poll_t fusd_control_poll(struct file *file, poll_table *wait)
{
	struct fusd_channel *chan = fusd_ep_chan(file);
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;

	poll_wait(file, &chan->readers, wait);
	if (fusd_channel_has_calls(chan))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

/*
 * Channel ioctls take structs that may grow: the kernel dispatches on
 * _IOC_NR and reads the caller's _IOC_SIZE bytes, from the struct's 1.0
 * size up (copy_struct_from_user: a zero tail it does not know is fine,
 * any other is -E2BIG).  What goes back is cut to the caller's size.
 */
/*
 * FUSD_REGISTER_ATTACH: this fresh endpoint takes over the channel of the
 * recoverable device 'args->name', whose daemon is gone.
 */
static long fusd_ioc_attach(struct fusd_endpoint *ep,
			    struct fusd_register *args)
{
	struct fusd_channel *own = ep->own, *old;
	long ret;

	if (!memchr(args->name, '\0', sizeof(args->name)))
		return -ENAMETOOLONG;
	old = fusd_registry_get_channel(args->name);
	if (!old)
		return -ENOENT;
	mutex_lock(&own->reg_lock);
	if (own->dev || ep->chan != own)
		ret = -EBUSY;
	else
		ret = fusd_recovery_attach(old, own, args);
	if (!ret) {
		/* The endpoint serves it from now on, with the reference
		 * taken above; pairs with smp_load_acquire() in
		 * fusd_ep_chan().
		 */
		smp_store_release(&ep->chan, old);
	}
	mutex_unlock(&own->reg_lock);
	if (ret)
		fusd_channel_put(old);
	return ret;
}

static long fusd_ioc_register(struct file *file, void __user *uarg,
			      size_t usize)
{
	struct fusd_endpoint *ep = file->private_data;
	struct fusd_channel *chan = ep->own;
	struct fusd_register *args;
	bool recover;
	long ret;

	args = kzalloc(sizeof(*args), GFP_KERNEL);
	if (!args)
		return -ENOMEM;
	ret = copy_struct_from_user(args, sizeof(*args), uarg, usize);
	if (ret)
		goto out;

	ret = -EPROTO;
	if (args->major != FUSD_PROTO_MAJOR)
		goto out;
	ret = -EINVAL;
	if (args->size != usize || args->flags & ~FUSD_REGISTER_FLAGS_ALL ||
	    args->reserved0 || args->reserved)
		goto out;
	/* 1.4's fields: only with what they belong to. */
	recover = args->minor >= 4 &&
		  args->features & FUSD_FEATURE_RECOVERY;
	if ((args->grace_ms && !recover) ||
	    (args->resend && !(args->flags & FUSD_REGISTER_ATTACH)) ||
	    (args->flags & FUSD_REGISTER_ATTACH && args->minor < 4))
		goto out;
	if (args->flags & FUSD_REGISTER_ATTACH) {
		ret = fusd_ioc_attach(ep, args);
		goto copy_out;
	}

	mutex_lock(&chan->reg_lock);
	if (chan->dev || ep->chan != chan) {
		ret = -EBUSY;
	} else {
		chan->proto_minor = min_t(u16, args->minor, FUSD_PROTO_MINOR);
		chan->reg_flags = args->flags;
		/* Grant what is asked and known; never fail for the rest.
		 * A 1.0 daemon gets none: it knows none.
		 */
		if (chan->proto_minor >= 1)
			chan->features = args->features & FUSD_FEATURES_ALL;
		chan->grace_ms = min(args->grace_ms, READ_ONCE(fusd_max_grace_ms));
		if (!chan->grace_ms)
			chan->features &= ~FUSD_FEATURE_RECOVERY;
		args->minor = chan->proto_minor;
		args->io_max = chan->io_max;
		args->features = chan->features;
		args->supported = FUSD_FEATURES_ALL;
		args->grace_ms = chan->grace_ms;
		ret = fusd_device_register(chan, args);
		if (ret) {
			/* Nothing of a refused REGISTER stays on the channel. */
			chan->proto_minor = 0;
			chan->reg_flags = 0;
			chan->features = 0;
			chan->grace_ms = 0;
		}
	}
	mutex_unlock(&chan->reg_lock);
copy_out:
	if (!ret && copy_to_user(uarg, args, min(usize, sizeof(*args))))
		ret = -EFAULT;	/* the device stays; the daemon may close */
out:
	kfree(args);
	return ret;
}

static long fusd_ioc_version(void __user *uarg, size_t usize)
{
	struct fusd_version ver = {
		.major = FUSD_PROTO_MAJOR,
		.minor = FUSD_PROTO_MINOR,
		.features = FUSD_FEATURES_ALL,
	};

	if (copy_to_user(uarg, &ver, min(usize, sizeof(ver))))
		return -EFAULT;
	/* A newer caller's fields this kernel does not know read as zero. */
	if (usize > sizeof(ver) &&
	    clear_user(uarg + sizeof(ver), usize - sizeof(ver)))
		return -EFAULT;
	return 0;
}

static long fusd_ioc_copy(struct fusd_channel *chan, void __user *uarg,
			  size_t usize, bool to_caller)
{
	struct fusd_copy cp;
	int ret;

	if (!fusd_channel_registered(chan))
		return -ENODEV;
	ret = copy_struct_from_user(&cp, sizeof(cp), uarg, usize);
	if (ret)
		return ret;
	return fusd_channel_copy(chan, &cp, to_caller);
}

/*
 * Replies, then requests, in one system call: the daemon's steady state
 * is one call per request (ublk's COMMIT_AND_FETCH).  Replies go as a
 * write() would take them; if not all of them could be taken, nothing is
 * read and out_done says where it stopped.  Returns what read() would.
 */
static long fusd_ioc_exchange(struct fusd_channel *chan, struct file *file,
			      void __user *uarg, size_t usize)
{
	struct fusd_exchange __user *u = uarg;
	struct fusd_exchange ex;
	ssize_t n = 0;
	int ret;

	if (!fusd_channel_registered(chan))
		return -ENODEV;
	ret = copy_struct_from_user(&ex, sizeof(ex), uarg, usize);
	if (ret)
		return ret;
	if (!(chan->features & FUSD_FEATURE_EXCHANGE))
		return -EOPNOTSUPP;
	if (ex.flags & ~FUSD_EXCHANGE_FLAGS_ALL || ex.reserved0 ||
	    ex.reserved1 || ex.in_len > INT_MAX || ex.out_len > INT_MAX)
		return -EINVAL;
	if (ex.out_len) {
		n = fusd_channel_write_replies(chan,
					       u64_to_user_ptr(ex.out_buf),
					       ex.out_len);
		if (n < 0)
			return n;
	}
	/* Told before anything is read, so no request can be lost. */
	if (put_user(n, &u->out_done))
		return -EFAULT;
	if (n < ex.out_len || !ex.in_len)
		return 0;
	n = fusd_channel_read_calls(chan, u64_to_user_ptr(ex.in_buf),
				    ex.in_len, file->f_flags & O_NONBLOCK ||
				    ex.flags & FUSD_EXCHANGE_NONBLOCK,
				    ex.timeout_ms ? msecs_to_jiffies(ex.timeout_ms) :
				    MAX_SCHEDULE_TIMEOUT);
	/* The replies are gone: a restart must not send them again. */
	if (n == -ERESTARTSYS && ex.out_len)
		n = -EINTR;
	return n;
}

/*
 * Largest READ/WRITE payload from now on: asked in bytes (0: the
 * default FUSD_IO_MAX), granted up to the module's max_io.
 */
static long fusd_ioc_set_io_max(struct fusd_channel *chan, void __user *uarg,
				size_t usize)
{
	u32 want, cap = min_t(u32, READ_ONCE(fusd_max_io), SZ_64M);
	int ret;

	if (!fusd_channel_registered(chan))
		return -ENODEV;
	ret = copy_struct_from_user(&want, sizeof(want), uarg, usize);
	if (ret)
		return ret;
	if (!(chan->features & FUSD_FEATURE_IO_MAX))
		return -EOPNOTSUPP;
	want = want ? min(want, max_t(u32, cap, FUSD_IO_MAX)) : FUSD_IO_MAX;
	WRITE_ONCE(chan->io_max, want);
	return copy_to_user(uarg, &want, sizeof(want)) ? -EFAULT : 0;
}

static long fusd_ioc_set_batch(struct fusd_channel *chan, void __user *uarg,
			       size_t usize)
{
	u32 max;
	int ret;

	ret = copy_struct_from_user(&max, sizeof(max), uarg, usize);
	if (ret)
		return ret;
	WRITE_ONCE(chan->batch_max, max);
	return 0;
}

/* Is 'cmd' a channel ioctl of direction 'dir' with at least 'min' bytes? */
static bool fusd_ioc_fits(unsigned int cmd, unsigned int dir, size_t min)
{
	return _IOC_DIR(cmd) == dir && _IOC_SIZE(cmd) >= min;
}

static long fusd_control_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct fusd_channel *chan = fusd_ep_chan(file);
	void __user *uarg = (void __user *)arg;
	size_t usize = _IOC_SIZE(cmd);

	if (_IOC_TYPE(cmd) != FUSD_IOC_MAGIC)
		return -ENOTTY;
	switch (_IOC_NR(cmd)) {
	case FUSD_IOC_NR_REGISTER:
		if (!fusd_ioc_fits(cmd, _IOC_READ | _IOC_WRITE,
				   FUSD_REGISTER_SIZE_V1_0))
			break;
		return fusd_ioc_register(file, uarg, usize);
	case FUSD_IOC_NR_VERSION:
		if (!fusd_ioc_fits(cmd, _IOC_READ, FUSD_VERSION_SIZE_V1_0))
			break;
		return fusd_ioc_version(uarg, usize);
	case FUSD_IOC_NR_COPY_FROM_CALLER:
	case FUSD_IOC_NR_COPY_TO_CALLER:
		if (!fusd_ioc_fits(cmd, _IOC_WRITE, sizeof(struct fusd_copy)))
			break;
		return fusd_ioc_copy(chan, uarg, usize, _IOC_NR(cmd) ==
				     FUSD_IOC_NR_COPY_TO_CALLER);
	case FUSD_IOC_NR_SET_BATCH:
		if (!fusd_ioc_fits(cmd, _IOC_WRITE, sizeof(u32)))
			break;
		return fusd_ioc_set_batch(chan, uarg, usize);
	case FUSD_IOC_NR_EXCHANGE:
		if (!fusd_ioc_fits(cmd, _IOC_READ | _IOC_WRITE,
				   FUSD_EXCHANGE_SIZE_V1_2))
			break;
		return fusd_ioc_exchange(chan, file, uarg, usize);
	case FUSD_IOC_NR_SET_IO_MAX:
		if (!fusd_ioc_fits(cmd, _IOC_READ | _IOC_WRITE, sizeof(u32)))
			break;
		return fusd_ioc_set_io_max(chan, uarg, usize);
	}
	return -ENOTTY;
}

static const struct file_operations fusd_control_fops = {
	.owner = THIS_MODULE,
	.open = fusd_control_open,
	.release = fusd_control_release,
	.read = fusd_control_read,
	.write = fusd_control_write,
	.poll = fusd_control_poll,
	.unlocked_ioctl = fusd_control_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice fusd_control_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "fusd-control",
	.nodename = FUSD_CONTROL_NAME,
	/* Access is granted to a group by udev; root only by default. */
	.mode = 0600,
	.fops = &fusd_control_fops,
};

int fusd_control_init(void)
{
	return misc_register(&fusd_control_misc);
}

void fusd_control_exit(void)
{
	misc_deregister(&fusd_control_misc);
}
