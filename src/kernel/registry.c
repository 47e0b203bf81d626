// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Device registry: validates names, applies the registration policy,
 * hands out minors, and creates and removes the character devices (class
 * "fusd") that daemons register.
 *
 * Who may register what
 * ---------------------
 * Opening /dev/fusd/control is the first gate (root, and the "fusd" group
 * through the packages' udev rule).  A channel then acts with the
 * credentials of whoever opened it, as a file does (chan->cred ==
 * file->f_cred): they decide the node's owner, the privilege below and
 * the per-user count, so handing the fd to another process, or calling
 * REGISTER after a setuid(), changes nothing.
 *
 * A registrant with CAP_SYS_ADMIN in the initial user namespace may
 * register any valid, free name with any mode (0777 at most).  Any other
 * registrant ("unprivileged", including root of a user namespace):
 *
 *  - names: the node path must start with the user_prefix parameter and
 *    go on after it, and so must the sysfs name, spelt with '!' for '/'.
 *    The default, "fusd-", is a namespace no kernel driver uses: this
 *    module owns "fusd" (its class, /dev/fusd/, the misc device
 *    "fusd-control" whose node is fusd/control), so such a name can never
 *    take the place of a real device that appears later (ttyUSB0, sda),
 *    and a program that opens /dev/fusd-* knows it talks to a user-space
 *    driver.  Names under "fusd/" stay refused for everyone (-EINVAL).
 *    A "%u" in the prefix stands for the registrant's fsuid, as the
 *    initial user namespace numbers it ("fusd-%u-":
 *    /dev/fusd-1000-gps), so that users cannot take each other's names;
 *    "" lifts the restriction (the pre-policy behaviour).  The sysfs name
 *    matters too: udev rules match KERNEL=="ttyUSB0" whatever the class.
 *  - mode: only bits of user_mode_max (default 0666).  World access to
 *    one's own node is not an escalation: it is what a world-writable
 *    socket of the daemon would give, every caller is identified to the
 *    daemon, and the daemon cannot reach a caller's memory beyond what
 *    the caller passes (COPY_* needs ptrace rights over the caller).  The
 *    node is named as user-provided, and its owner may chmod it anyway
 *    (it owns the devtmpfs inode), so the limit states intent and keeps
 *    the execute bits, which mean nothing on a device, away.
 *  - count: at most max_devices_per_user devices (default 64) owned by
 *    its fsuid, else -EDQUOT.
 * Everyone: at most max_devices devices in all (default 4096, -ENOSPC),
 * which bounds the memory and sysfs entries registrations can take.
 *
 * Privilege is consulted only when a request needs it (a name or mode
 * outside the policy, a user over its count), so an unprivileged daemon
 * inside the policy never causes a capability check or an LSM denial.
 *
 * A name that already exists under /dev, as the registrant sees it, is
 * refused with -EEXIST, for everyone: devtmpfs would silently keep the
 * existing entry and no node would appear.  See fusd_dev_path_taken().
 */
#include <linux/bits.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/kdev_t.h>
#include <linux/moduleparam.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/pid.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>

#include "fusd_i.h"

#define FUSD_MINORS	BIT(16)

static dev_t fusd_devt;
static DEFINE_IDA(fusd_minors);
static DEFINE_MUTEX(fusd_registry_lock);	/* protects the two below */
static LIST_HEAD(fusd_devices);
static unsigned int fusd_device_count;

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

/* Module parameters of the policy (/sys/module/fusd/parameters/). */
#define FUSD_PREFIX_MAX	64

static char fusd_user_prefix[FUSD_PREFIX_MAX] = "fusd-";
static unsigned int fusd_user_mode_max = 0666;
static unsigned int fusd_max_devices = 4096;
static unsigned int fusd_max_devices_per_user = 64;

/*
 * A prefix is "" or the start of a valid name: components of the name
 * characters, each but the last followed by one '/', the last possibly
 * empty (a directory prefix ends with '/'); "%u" at most once, followed by
 * a character that is not a digit, so that no user's expanded prefix is
 * the start of another's ("fusd-%u" would let uid 12 take fusd-1234...).
 */
static int fusd_check_prefix(const char *prefix)
{
	char buf[FUSD_PREFIX_MAX];
	const char *uid = strstr(prefix, "%u");
	size_t len;

	if (!*prefix)
		return 0;
	if (strscpy(buf, prefix, sizeof(buf)) < 0)
		return -EINVAL;
	if (uid) {
		if (!uid[2] || isdigit(uid[2]))
			return -EINVAL;
		/* Check "%u" as a digit: "0" is as valid as any uid. */
		buf[uid - prefix] = '0';
		memmove(buf + (uid - prefix) + 1, buf + (uid - prefix) + 2,
			strlen(buf + (uid - prefix) + 2) + 1);
	}
	if (strchr(buf, '%'))
		return -EINVAL;
	len = strlen(buf);
	if (buf[len - 1] == '/')
		buf[len - 1] = '\0';
	return fusd_check_name(buf, '/');
}

static int fusd_prefix_set(const char *val, const struct kernel_param *kp)
{
	char buf[FUSD_PREFIX_MAX];
	size_t len = strlen(val);

	/* "echo fusd- > user_prefix" writes a newline: drop it. */
	if (len && val[len - 1] == '\n')
		len--;
	if (len >= sizeof(buf))
		return -ENOSPC;
	memcpy(buf, val, len);
	buf[len] = '\0';
	if (fusd_check_prefix(buf))
		return -EINVAL;
	/* The kernel holds the parameter lock around ->set. */
	strscpy(fusd_user_prefix, buf, sizeof(fusd_user_prefix));
	return 0;
}

static int fusd_prefix_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%s\n", fusd_user_prefix);
}

static const struct kernel_param_ops fusd_prefix_ops = {
	.set = fusd_prefix_set,
	.get = fusd_prefix_get,
};

module_param_cb(user_prefix, &fusd_prefix_ops, NULL, 0644);
__MODULE_PARM_TYPE(user_prefix, "string");
MODULE_PARM_DESC(user_prefix,
		 "Names a registrant without CAP_SYS_ADMIN may use start with this (\"%u\": its uid; \"\": any name) (default: \"fusd-\")");

/* Modes are written and shown in octal. */
static int fusd_mode_set(const char *val, const struct kernel_param *kp)
{
	unsigned int mode;

	if (kstrtouint(val, 8, &mode) || mode & ~0777U)
		return -EINVAL;
	*(unsigned int *)kp->arg = mode;
	return 0;
}

static int fusd_mode_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%04o\n", *(unsigned int *)kp->arg);
}

static const struct kernel_param_ops fusd_mode_ops = {
	.set = fusd_mode_set,
	.get = fusd_mode_get,
};

module_param_cb(user_mode_max, &fusd_mode_ops, &fusd_user_mode_max, 0644);
__MODULE_PARM_TYPE(user_mode_max, "octal");
MODULE_PARM_DESC(user_mode_max,
		 "Most permissive node mode a registrant without CAP_SYS_ADMIN may ask for (default: 0666)");

static int fusd_count_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, FUSD_MINORS);
}

static const struct kernel_param_ops fusd_count_ops = {
	.set = fusd_count_set,
	.get = param_get_uint,
};

module_param_cb(max_devices, &fusd_count_ops, &fusd_max_devices, 0644);
__MODULE_PARM_TYPE(max_devices, "uint");
MODULE_PARM_DESC(max_devices,
		 "Most fusd devices at once, all registrants (default: 4096)");
module_param_cb(max_devices_per_user, &fusd_count_ops,
		&fusd_max_devices_per_user, 0644);
__MODULE_PARM_TYPE(max_devices_per_user, "uint");
MODULE_PARM_DESC(max_devices_per_user,
		 "Most fusd devices a registrant without CAP_SYS_ADMIN may own (default: 64; 0: none)");

/* The parameters as one registration sees them. */
struct fusd_policy {
	char prefix[FUSD_NAME_MAX];	/* "%u" expanded */
	unsigned int mode_max;
	unsigned int max_devices;
	unsigned int max_per_user;
	int admin;			/* CAP_SYS_ADMIN: 1, 0, or -1 unknown */
};

static void fusd_policy_get(struct fusd_policy *pol, const struct cred *cred)
{
	const char *uid;

	kernel_param_lock(THIS_MODULE);
	uid = strstr(fusd_user_prefix, "%u");
	if (uid)
		snprintf(pol->prefix, sizeof(pol->prefix), "%.*s%u%s",
			 (int)(uid - fusd_user_prefix), fusd_user_prefix,
			 from_kuid_munged(&init_user_ns, cred->fsuid), uid + 2);
	else
		strscpy(pol->prefix, fusd_user_prefix, sizeof(pol->prefix));
	pol->mode_max = fusd_user_mode_max;
	pol->max_devices = fusd_max_devices;
	pol->max_per_user = fusd_max_devices_per_user;
	kernel_param_unlock(THIS_MODULE);
	pol->admin = -1;
}

/*
 * CAP_SYS_ADMIN in the initial user namespace, judged on the channel's
 * credentials: what file_ns_capable() on the control file would answer
 * (chan->cred is its f_cred), LSM hooks included.  Asked at most once per
 * registration.
 */
static bool fusd_policy_admin(struct fusd_policy *pol, const struct cred *cred)
{
	if (pol->admin < 0) {
		const struct cred *old = override_creds(cred);

		pol->admin = ns_capable(&init_user_ns, CAP_SYS_ADMIN);
		revert_creds(old);
	}
	return pol->admin;
}

/*
 * May a daemon whose channel has 'cred' take over a device owned by
 * 'owner' (recovery)?  Its owner may, and CAP_SYS_ADMIN, both judged on
 * the channel's credentials as REGISTER's policy is.
 */
bool fusd_registry_may_attach(const struct cred *cred, kuid_t owner)
{
	struct fusd_policy pol = { .admin = -1 };

	return uid_eq(cred->fsuid, owner) || fusd_policy_admin(&pol, cred);
}

/* Does 'str' start with 'prefix' and go on after it? */
static bool fusd_has_prefix(const char *str, const char *prefix)
{
	size_t len = strlen(prefix);

	return !strncmp(str, prefix, len) && str[len];
}

/* Are node path, sysfs name and mode inside the unprivileged policy? */
static bool fusd_policy_allows(const struct fusd_policy *pol,
			       const struct fusd_device *fdev,
			       const char *devname)
{
	char prefix[FUSD_NAME_MAX];
	char *p;

	if (fdev->mode & ~pol->mode_max)
		return false;
	if (!fusd_has_prefix(fdev->name, pol->prefix))
		return false;
	/* The sysfs name spells the prefix's '/' as '!'. */
	strscpy(prefix, pol->prefix, sizeof(prefix));
	for (p = prefix; *p; p++)
		if (*p == '/')
			*p = '!';
	return fusd_has_prefix(devname, prefix);
}

/*
 * Does /dev/NAME exist as the registrant sees it?  devtmpfs creates the
 * node in its own thread (during device_add()) and, when anything is in
 * the way, keeps that and creates nothing, without telling anyone; so
 * refuse such a name now.  The path is looked up as the registrant sees it (its root,
 * its mount namespace), component by component: a symlink, a
 * non-directory or a mount point (/dev/pts, /dev/shm) on the way also
 * means the node could not appear there.
 *
 * This is a check, not a reservation: an entry created between it and
 * devtmpfs' mknod (by root or udev) still wins silently, and a real device
 * that appears later finds the fusd node in its place -- which only a
 * CAP_SYS_ADMIN registrant can arrange, since other names carry the
 * prefix.  If the registrant's /dev is not devtmpfs (a container's tmpfs,
 * a chroot), its own view is what is checked, and the node appears in
 * devtmpfs only; without a /dev there is nothing to check.
 */
static int fusd_dev_path_taken(const char *name)
{
	struct path dev, path;
	char *buf, *comp, *slash;
	bool taken;
	int ret;

	if (kern_path("/dev", LOOKUP_FOLLOW | LOOKUP_DIRECTORY, &dev))
		return 0;
	buf = kasprintf(GFP_KERNEL, "/dev/%s", name);
	ret = -ENOMEM;
	if (!buf)
		goto out;
	/* One component at a time, none followed if it is a symlink. */
	for (comp = buf + 5; ; comp = slash + 1) {
		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		ret = kern_path(buf, 0, &path);
		if (ret)
			break;
		taken = !slash || path.mnt != dev.mnt || !d_is_dir(path.dentry);
		path_put(&path);
		if (taken) {
			ret = -EEXIST;
			break;
		}
		*slash = '/';
	}
	if (ret == -ENOENT)
		ret = 0;
	else if (ret == -ENOTDIR || ret == -ELOOP)
		ret = -EEXIST;
	kfree(buf);
out:
	path_put(&dev);
	return ret;
}

/* Devices owned by 'uid'. */
static unsigned int fusd_count_user_locked(kuid_t uid)
{
	struct fusd_device *fdev;
	unsigned int n = 0;

	lockdep_assert_held(&fusd_registry_lock);
	list_for_each_entry(fdev, &fusd_devices, entry)
		if (uid_eq(fdev->uid, uid))
			n++;
	return n;
}

/* Room for one more device of 'uid'?  0, -ENOSPC or -EDQUOT. */
static int fusd_check_limits_locked(struct fusd_policy *pol,
				    const struct cred *cred, kuid_t uid)
{
	if (fusd_device_count >= pol->max_devices)
		return -ENOSPC;
	if (fusd_count_user_locked(uid) >= pol->max_per_user &&
	    !fusd_policy_admin(pol, cred))
		return -EDQUOT;
	return 0;
}

int fusd_device_register(struct fusd_channel *chan, struct fusd_register *args)
{
	const struct cred *cred;
	char devname[FUSD_NAME_MAX];
	struct fusd_policy pol;
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

	/* A channel registers before anyone else can see it. */
	cred = rcu_dereference_protected(chan->cred, 1);
	fdev->mode = args->mode;
	fdev->uid = cred->fsuid;
	fdev->gid = cred->fsgid;

	fusd_policy_get(&pol, cred);
	if (!fusd_policy_allows(&pol, fdev, devname) &&
	    !fusd_policy_admin(&pol, cred)) {
		ret = -EPERM;
		goto err_free;
	}
	ret = fusd_dev_path_taken(fdev->name);
	if (ret)
		goto err_free;

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
	ret = fusd_check_limits_locked(&pol, cred, fdev->uid);
	if (ret)
		goto err_unlock;
	ret = cdev_device_add(&fdev->cdev, &fdev->dev);
	if (ret)
		goto err_unlock;
	list_add_tail(&fdev->entry, &fusd_devices);
	fusd_device_count++;
	mutex_unlock(&fusd_registry_lock);

	/* Pairs with fusd_channel_registered(): features and the rest of
	 * the registration are visible to whoever sees the device.
	 */
	smp_store_release(&chan->dev, fdev);

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
	fusd_device_count--;
	mutex_unlock(&fusd_registry_lock);
	put_device(&fdev->dev);
}

/*
 * The channel of the device whose node is 'name' ("/dev/" optional, as at
 * registration), with a reference, or NULL.
 */
struct fusd_channel *fusd_registry_get_channel(const char *name)
{
	struct fusd_channel *chan = NULL;
	struct fusd_device *fdev;

	if (!strncmp(name, "/dev/", 5))
		name += 5;
	mutex_lock(&fusd_registry_lock);
	list_for_each_entry(fdev, &fusd_devices, entry) {
		if (!strcmp(fdev->name, name)) {
			chan = fdev->chan;
			kref_get(&chan->kref);
			break;
		}
	}
	mutex_unlock(&fusd_registry_lock);
	return chan;
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
		rcu_read_lock();
		len += scnprintf(buf + len, size - len, "%-8d %-6llu %s\n",
				 pid_vnr(rcu_dereference(fdev->chan->owner)),
				 (unsigned long long)st.open_files, fdev->name);
		rcu_read_unlock();
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
