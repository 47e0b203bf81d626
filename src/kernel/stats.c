// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Observability: per-device sysfs attributes under /sys/class/fusd/NAME/
 * and the classic /dev/fusd/status table.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "fusd_i.h"

/*
 * One channel's counters, read without its lock: world-readable sysfs and
 * /dev/fusd/status must never slow a daemon down.
 */
void fusd_channel_stats(struct fusd_channel *chan, struct fusd_stats *st)
{
	st->pending = READ_ONCE(chan->npending);
	st->open_files = READ_ONCE(chan->nopen);
	st->total = READ_ONCE(chan->next_id);
}

static struct fusd_channel *fusd_dev_chan(struct device *dev)
{
	return container_of(dev, struct fusd_device, dev)->chan;
}

static ssize_t owner_pid_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	/* As the reader's pid namespace sees it (0: not visible there). */
	struct fusd_channel *chan = fusd_dev_chan(dev);
	int pid;

	rcu_read_lock();
	pid = pid_vnr(rcu_dereference(chan->owner));
	rcu_read_unlock();
	return sysfs_emit(buf, "%d\n", pid);
}
static DEVICE_ATTR_RO(owner_pid);

static ssize_t node_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "/dev/%s\n",
			  container_of(dev, struct fusd_device, dev)->name);
}
static DEVICE_ATTR_RO(node);

static struct fusd_stats fusd_dev_stats(struct device *dev)
{
	struct fusd_stats st;

	fusd_channel_stats(fusd_dev_chan(dev), &st);
	return st;
}

static ssize_t open_files_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", fusd_dev_stats(dev).open_files);
}
static DEVICE_ATTR_RO(open_files);

static ssize_t pending_show(struct device *dev,
			    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", fusd_dev_stats(dev).pending);
}
static DEVICE_ATTR_RO(pending);

static ssize_t total_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%llu\n", fusd_dev_stats(dev).total);
}
static DEVICE_ATTR_RO(total);

static struct attribute *fusd_dev_attrs[] = {
	&dev_attr_owner_pid.attr,
	&dev_attr_node.attr,
	&dev_attr_open_files.attr,
	&dev_attr_pending.attr,
	&dev_attr_total.attr,
	NULL,
};

static const struct attribute_group fusd_dev_group = {
	.attrs = fusd_dev_attrs,
};

const struct attribute_group *fusd_dev_groups[] = {
	&fusd_dev_group,
	NULL,
};

/* /dev/fusd/status: the table is built at open, then read like a file. */
struct fusd_status_buf {
	size_t len;
	char text[];
};

#define FUSD_STATUS_MAX	(64 * 1024)

static int fusd_status_open(struct inode *inode, struct file *file)
{
	struct fusd_status_buf *sb;

	sb = kvmalloc(sizeof(*sb) + FUSD_STATUS_MAX, GFP_KERNEL_ACCOUNT);
	if (!sb)
		return -ENOMEM;
	sb->len = fusd_registry_status(sb->text, FUSD_STATUS_MAX);
	file->private_data = sb;
	return 0;
}

static int fusd_status_release(struct inode *inode, struct file *file)
{
	kvfree(file->private_data);
	return 0;
}

static ssize_t fusd_status_read(struct file *file, char __user *buf,
				size_t count, loff_t *ppos)
{
	struct fusd_status_buf *sb = file->private_data;

	return simple_read_from_buffer(buf, count, ppos, sb->text, sb->len);
}

static const struct file_operations fusd_status_fops = {
	.owner = THIS_MODULE,
	.open = fusd_status_open,
	.release = fusd_status_release,
	.read = fusd_status_read,
	.llseek = default_llseek,
};

static struct miscdevice fusd_status_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "fusd-status",
	.nodename = "fusd/status",
	.mode = 0444,
	.fops = &fusd_status_fops,
};

int fusd_status_init(void)
{
	return misc_register(&fusd_status_misc);
}

void fusd_status_exit(void)
{
	misc_deregister(&fusd_status_misc);
}
