// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Device registry: validates names, hands out minors, and creates and
 * removes the character devices (class "fusd") that daemons register.
 */
#include <linux/bits.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/kdev_t.h>
#include <linux/pid.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "fusd_i.h"

#define FUSD_MINORS	BIT(16)

static dev_t fusd_devt;
static DEFINE_IDA(fusd_minors);
static DEFINE_MUTEX(fusd_registry_lock);	/* protects fusd_devices */
static LIST_HEAD(fusd_devices);

static char *fusd_class_devnode(FUSD_DEVNODE_CONST struct device *dev,
				umode_t *mode, kuid_t *uid, kgid_t *gid);

static struct class fusd_class = {
	.name = "fusd",
	.dev_groups = fusd_dev_groups,
};

static void fusd_device_release(struct device *dev)
{
	struct fusd_device *fdev = container_of(dev, struct fusd_device, dev);

	ida_free(&fusd_minors, fdev->minor);
	fusd_channel_put(fdev->chan);
	kfree(fdev);
}

static const struct device_type fusd_device_type = {
	.name = "fusd_device",
	.devnode = fusd_class_devnode,
	.release = fusd_device_release,
};

/* Node path, owner and mode for devtmpfs (and udev, via the uevent). */
static char *fusd_class_devnode(FUSD_DEVNODE_CONST struct device *dev,
				umode_t *mode, kuid_t *uid, kgid_t *gid)
{
	const struct fusd_device *fdev =
		container_of(dev, struct fusd_device, dev);

	if (mode)
		*mode = fdev->mode;
	if (uid)
		*uid = fdev->uid;
	if (gid)
		*gid = fdev->gid;
	return kstrdup(fdev->name, GFP_KERNEL);
}

static bool fusd_name_char_ok(char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+' ||
	       c == ':' || c == '@';
}

/*
 * Components of [A-Za-z0-9-_.+:@] separated by single @sep characters,
 * none empty, "." or "..", the first not the reserved "fusd".  A node
 * path separates them with '/'; a devname (sysfs name) with '!', which
 * is how a kobject name spells '/' (classic FUSD's "pager!input").
 */
static int fusd_check_name(const char *name, char sep)
{
	const char *comp = name;
	const char *p;

	for (p = name; ; p++) {
		if (*p == sep || *p == '\0') {
			size_t len = p - comp;

			if (len == 0 || (len == 1 && comp[0] == '.') ||
			    (len == 2 && comp[0] == '.' && comp[1] == '.'))
				return -EINVAL;
			if (comp == name && len == 4 && !strncmp(name, "fusd", 4))
				return -EINVAL;
			if (*p == '\0')
				return 0;
			comp = p + 1;
			continue;
		}
		if (!fusd_name_char_ok(*p))
			return -EINVAL;
	}
}

/* Copy a fixed-size, NUL-terminated string field out of the ioctl struct. */
static int fusd_take_string(char *dst, const char *src)
{
	size_t len = strnlen(src, FUSD_NAME_MAX);

	if (len == FUSD_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(dst, src, len + 1);
	return 0;
}

static struct fusd_device *fusd_find_locked(const char *name,
					    const char *devname)
{
	struct fusd_device *fdev;

	lockdep_assert_held(&fusd_registry_lock);
	list_for_each_entry(fdev, &fusd_devices, entry) {
		if (!strcmp(fdev->name, name) ||
		    !strcmp(dev_name(&fdev->dev), devname))
			return fdev;
	}
	return NULL;
}

int fusd_device_register(struct fusd_channel *chan, struct fusd_register *args)
{
	char devname[FUSD_NAME_MAX];
	struct fusd_device *fdev;
	const char *name;
	char *p;
	int ret;

	if (args->mode & ~0777U)
		return -EINVAL;

	fdev = kzalloc(sizeof(*fdev), GFP_KERNEL);
	if (!fdev)
		return -ENOMEM;

	ret = fusd_take_string(fdev->name, args->name);
	if (ret)
		goto err_free;
	/* Classic FUSD: "/dev/foo" and "foo" both mean /dev/foo. */
	name = fdev->name;
	if (!strncmp(name, "/dev/", 5))
		memmove(fdev->name, name + 5, strlen(name + 5) + 1);
	ret = fusd_check_name(fdev->name, '/');
	if (ret)
		goto err_free;

	ret = fusd_take_string(devname, args->devname);
	if (ret)
		goto err_free;
	if (!devname[0]) {
		/* Derive the sysfs name from the node path: '/' -> '!'. */
		strscpy(devname, fdev->name, sizeof(devname));
		for (p = devname; *p; p++)
			if (*p == '/')
				*p = '!';
	} else {
		ret = fusd_check_name(devname, '!');
		if (ret)
			goto err_free;
	}

	fdev->mode = args->mode;
	fdev->uid = chan->cred->fsuid;
	fdev->gid = chan->cred->fsgid;

	ret = ida_alloc_max(&fusd_minors, FUSD_MINORS - 1, GFP_KERNEL);
	if (ret < 0)
		goto err_free;
	fdev->minor = ret;

	/* From here on the release callback owns fdev. */
	device_initialize(&fdev->dev);
	fdev->dev.class = &fusd_class;
	fdev->dev.type = &fusd_device_type;
	fdev->dev.devt = MKDEV(MAJOR(fusd_devt), fdev->minor);
	kref_get(&chan->kref);
	fdev->chan = chan;
	ret = dev_set_name(&fdev->dev, "%s", devname);
	if (ret)
		goto err_put;

	cdev_init(&fdev->cdev, &fusd_client_fops);
	fdev->cdev.owner = THIS_MODULE;

	mutex_lock(&fusd_registry_lock);
	if (fusd_find_locked(fdev->name, dev_name(&fdev->dev))) {
		ret = -EEXIST;
		goto err_unlock;
	}
	ret = cdev_device_add(&fdev->cdev, &fdev->dev);
	if (ret)
		goto err_unlock;
	list_add_tail(&fdev->entry, &fusd_devices);
	mutex_unlock(&fusd_registry_lock);

	WRITE_ONCE(chan->dev, fdev);

	args->dev_major = MAJOR(fdev->dev.devt);
	args->dev_minor = MINOR(fdev->dev.devt);
	return 0;

err_unlock:
	mutex_unlock(&fusd_registry_lock);
err_put:
	put_device(&fdev->dev);
	return ret;
err_free:
	kfree(fdev);
	return ret;
}

/*
 * Remove the node and drop the registration's reference.  Open client
 * files keep the fusd_device (and the channel) alive until they close.
 */
void fusd_device_unregister(struct fusd_device *fdev)
{
	/* The name stays taken until node and sysfs entry are gone. */
	mutex_lock(&fusd_registry_lock);
	cdev_device_del(&fdev->cdev, &fdev->dev);
	list_del(&fdev->entry);
	mutex_unlock(&fusd_registry_lock);
	put_device(&fdev->dev);
}

/* The classic status table: one line per device, then a summary. */
size_t fusd_registry_status(char *buf, size_t size)
{
	struct fusd_device *fdev;
	unsigned int devices = 0;
	u64 clients = 0;
	size_t len;

	len = scnprintf(buf, size, "%-8s %-6s %s\n", "PID", "Open", "Name");
	len += scnprintf(buf + len, size - len, "%-8s %-6s %s\n", "------",
			 "----", "-----------------");
	mutex_lock(&fusd_registry_lock);
	list_for_each_entry(fdev, &fusd_devices, entry) {
		struct fusd_stats st;

		fusd_channel_stats(fdev->chan, &st);
		len += scnprintf(buf + len, size - len, "%-8d %-6llu %s\n",
				 pid_vnr(fdev->chan->owner),
				 (unsigned long long)st.open_files, fdev->name);
		devices++;
		clients += st.open_files;
	}
	mutex_unlock(&fusd_registry_lock);
	len += scnprintf(buf + len, size - len,
			 "\nfusd protocol %d.%d - %u devices used by %llu clients\n",
			 FUSD_PROTO_MAJOR, FUSD_PROTO_MINOR, devices,
			 (unsigned long long)clients);
	return len;
}

int fusd_registry_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&fusd_devt, 0, FUSD_MINORS, "fusd");
	if (ret)
		return ret;
	ret = class_register(&fusd_class);
	if (ret)
		unregister_chrdev_region(fusd_devt, FUSD_MINORS);
	return ret;
}

void fusd_registry_exit(void)
{
	class_unregister(&fusd_class);
	unregister_chrdev_region(fusd_devt, FUSD_MINORS);
	ida_destroy(&fusd_minors);
}
