// SPDX-License-Identifier: BSD-3-Clause
/*
 * The device table (channel descriptor -> device) and the calls that
 * manage it: register, unregister, channel settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "libfusd_i.h"

#define FUSD_CONTROL_PATH "/dev/" FUSD_CONTROL_NAME

static pthread_mutex_t fusd_table_lock = PTHREAD_MUTEX_INITIALIZER;
static int fusd_epfd = -1;	/* every channel, for fusd_epoll_fd() */
static struct fusd_dev **fusd_table;	/* indexed by descriptor */
static size_t fusd_table_len;
static unsigned int fusd_table_gen;	/* changes with every (un)register */

void fusd_lock(void)
{
	pthread_mutex_lock(&fusd_table_lock);
}

void fusd_unlock(void)
{
	pthread_mutex_unlock(&fusd_table_lock);
}

/* Drop one reference to an open record; called with the table lock. */
void fusd_open_put(struct fusd_open *o)
{
	if (o && --o->refs == 0) {
		pthread_mutex_destroy(&o->poll_lock);
		free(o);
	}
}

/* Forget the INTERRUPTs not matched yet and the dropped calls; called
 * with the table lock.
 */
void fusd_intr_free_locked(struct fusd_dev *dev)
{
	struct fusd_dropped *d, *dnext;
	struct fusd_intr *e, *next;

	for (e = dev->interrupts; e; e = next) {
		next = e->next;
		free(e);
	}
	dev->interrupts = NULL;
	for (d = dev->dropped; d; d = dnext) {
		dnext = d->next;
		free(d);
	}
	dev->dropped = NULL;
}

/* Drop one reference to a device; called with the table lock. */
void fusd_dev_put_locked(struct fusd_dev *dev)
{
	struct fusd_open *o, *next;
	int i;

	if (--dev->refs)
		return;
	fusd_intr_free_locked(dev);
	if (dev->fd >= 0 && dev->dead)
		close(dev->fd);		/* the /dev/null placeholder */
	for (i = 0; i < FUSD_OPEN_BUCKETS; i++) {
		for (o = dev->opens[i]; o; o = next) {
			next = o->next;
			fusd_open_put(o);
		}
	}
	free(dev);
}

void fusd_dev_put(struct fusd_dev *dev)
{
	fusd_lock();
	fusd_dev_put_locked(dev);
	fusd_unlock();
}

/* Look up a device by descriptor and take a reference; NULL if fd is not
 * one of ours.
 */
struct fusd_dev *fusd_dev_get(int fd)
{
	struct fusd_dev *dev = NULL;

	fusd_lock();
	if (fd >= 0 && (size_t)fd < fusd_table_len)
		dev = fusd_table[fd];
	if (dev)
		dev->refs++;
	fusd_unlock();
	return dev;
}

/*
 * Serve requests arriving on 'fd' with a copy of the 'fops_size' bytes
 * at 'fops' (the rest of the table zero), with the kernel features
 * 'features' granted (no kernel call made).
 */
struct fusd_dev *fusd_dev_attach(int fd, void *device_info,
				 const struct fusd_file_operations *fops,
				 size_t fops_size, uint64_t features)
{
	struct fusd_dev *dev;

	if (fd < 0 || !fops) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->fd = fd;
	dev->refs = 1;
	memcpy(&dev->fops, fops,
	       fops_size < sizeof(dev->fops) ? fops_size : sizeof(dev->fops));
	dev->features = features;
	dev->io_max = FUSD_IO_MAX;
	dev->device_info = device_info;

	fusd_lock();
	if ((size_t)fd >= fusd_table_len) {
		size_t len = (size_t)fd + 16;
		struct fusd_dev **t = realloc(fusd_table, len * sizeof(*t));

		if (!t) {
			fusd_unlock();
			goto err;
		}
		memset(t + fusd_table_len, 0,
		       (len - fusd_table_len) * sizeof(*t));
		fusd_table = t;
		fusd_table_len = len;
	}
	fusd_table[fd] = dev;
	__atomic_add_fetch(&fusd_table_gen, 1, __ATOMIC_RELEASE);
	if (fusd_epfd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

		epoll_ctl(fusd_epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	fusd_unlock();
	return dev;
err:
	free(dev);
	errno = ENOMEM;
	return NULL;
}

/* Copy a string into a fixed ioctl field; fail if it does not fit. */
static int fusd_set_field(char *dst, const char *src)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= FUSD_NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (len)
		memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/*
 * FUSD_IOC_REGISTER asking for the features this library uses.  A 1.0
 * kernel knows no features (the field was reserved there and must be 0):
 * on EINVAL ask once more without them.  On success reg->features holds
 * what was granted.
 */
static int fusd_register_ioctl(int fd, struct fusd_register *reg,
			       int has_mmap)
{
	reg->features |= FUSD_FEATURE_REPLY_POLL | FUSD_FEATURE_EXCHANGE |
			 FUSD_FEATURE_IO_MAX;
	/* Without a callback, mmap() fails ENODEV in the kernel at once. */
	if (has_mmap)
		reg->features |= FUSD_FEATURE_MMAP;
	if (ioctl(fd, FUSD_IOC_REGISTER, reg) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* An older kernel: nothing of what it lacks may be asked. */
	reg->features = 0;
	reg->supported = 0;
	reg->grace_ms = 0;
	if (reg->flags & FUSD_REGISTER_ATTACH) {
		errno = ENOENT;	/* nothing to take over there */
		return -1;
	}
	if (ioctl(fd, FUSD_IOC_REGISTER, reg) < 0)
		return -1;
	reg->features = 0;	/* nothing was granted */
	return 0;
}

/*
 * A recoverable device: take over the device 'reg->name' if it waits for
 * a daemon, else register it afresh; both asking for its grace period.
 */
static int fusd_register_recover(int fd, struct fusd_register *reg,
				 int has_mmap, struct fusd_recovery *rec)
{
	reg->features = FUSD_FEATURE_RECOVERY;
	reg->grace_ms = rec->grace_ms;
	reg->flags |= FUSD_REGISTER_ATTACH;
	reg->resend = rec->resend;
	rec->attached = 0;
	if (fusd_register_ioctl(fd, reg, has_mmap) == 0) {
		rec->attached = 1;
	} else {
		if (errno != ENOENT)
			return -1;
		reg->flags &= ~FUSD_REGISTER_ATTACH;
		reg->resend = 0;
		reg->features = FUSD_FEATURE_RECOVERY;
		reg->grace_ms = rec->grace_ms;
		if (fusd_register_ioctl(fd, reg, has_mmap) < 0)
			return -1;
	}
	rec->grace_ms = reg->features & FUSD_FEATURE_RECOVERY ?
			reg->grace_ms : 0;
	return 0;
}

/*
 * The fusd module parameter 'param' (/sys/module/fusd/parameters/) into
 * buf without its newline, or "?" if it cannot be read: used only to
 * explain a refusal.
 */
static const char *fusd_module_param(const char *param, char *buf, size_t cap)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/fusd/parameters/%s", param);
	snprintf(buf, cap, "?");
	f = fopen(path, "re");
	if (!f)
		return buf;
	if (!fgets(buf, (int)cap, f))
		snprintf(buf, cap, "?");
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/*
 * Register with a table of 'fops_size' bytes: a FUSD_1.0 caller's table,
 * or the full-size copy fusd_register_size() makes (only members of the
 * 1.0 table are read here).
 */
static int fusd_register_fops(const char *name, const char *clazz,
			      const char *devname, mode_t mode,
			      void *device_info,
			      const struct fusd_file_operations *fops,
			      size_t fops_size, struct fusd_recovery *rec)
{
	int ret;

	struct fusd_register reg;
	int fd, saved;

	if (!name || !fops) {
		fprintf(stderr, "fusd_register: invalid name or fops argument\n");
		errno = EINVAL;
		return -1;
	}
	/* Classic (devfs-era) drivers may say S_IFCHR | 0666: the node is
	 * a character device anyway.  Any other type, and setuid, setgid
	 * or sticky, is refused (the kernel would refuse it too).
	 */
	if ((mode & S_IFMT) == S_IFCHR)
		mode &= ~(mode_t)S_IFMT;
	if (mode & ~(mode_t)0777) {
		fprintf(stderr,
			"fusd_register: %s: mode 0%o refused: only permission bits 0777 (optionally with S_IFCHR), never setuid/setgid/sticky\n",
			name, (unsigned int)mode);
		errno = EINVAL;
		return -1;
	}
	memset(&reg, 0, sizeof(reg));
	reg.size = sizeof(reg);
	reg.major = FUSD_PROTO_MAJOR;
	reg.minor = FUSD_PROTO_MINOR;
	reg.mode = mode;
	if (fops->flush)
		reg.flags |= FUSD_REGISTER_FLUSH;
	if (fops->poll_diff)	/* files start not ready until it says */
		reg.flags |= FUSD_REGISTER_POLL;
	if (fusd_set_field(reg.name, name) ||
	    fusd_set_field(reg.devname, devname) ||
	    fusd_set_field(reg.clazz, clazz)) {
		fprintf(stderr,
			"fusd_register: %s: name, devname or class longer than %d characters\n",
			name, FUSD_NAME_MAX - 1);
		errno = ENAMETOOLONG;
		return -1;
	}

	fd = open(FUSD_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		if (saved == EACCES)
			fprintf(stderr,
				"fusd_register: %s: cannot open %s: driver daemons need root or membership of its group (\"fusd\" with the packages)\n",
				name, FUSD_CONTROL_PATH);
		errno = saved;
		return -1;
	}
	if (rec)
		ret = fusd_register_recover(fd, &reg, fops->mmap != NULL, rec);
	else
		ret = fusd_register_ioctl(fd, &reg, fops->mmap != NULL);
	if (ret < 0) {
		const char *node = strncmp(reg.name, "/dev/", 5) ?
				   reg.name : reg.name + 5;
		char p1[FUSD_NAME_MAX], p2[32];

		saved = errno;
		if (rec && (saved == EBUSY || saved == EPERM))
			saved = -saved;	/* the take-over's, below */
		switch (saved) {
		case -EBUSY:
			fprintf(stderr,
				"fusd_register_recoverable: %s: another daemon serves this device now\n",
				name);
			break;
		case -EPERM:
			fprintf(stderr,
				"fusd_register_recoverable: %s: the device waiting for a daemon belongs to another user\n",
				name);
			break;
		case EINVAL:	/* mode and flags are fine: a name */
			fprintf(stderr,
				"fusd_register: name '%s' or devname '%s' refused: use components of A-Za-z0-9-_.+:@ separated by '/' in a name and by '!' in a devname, none empty, '.' or '..', not under \"fusd\"\n",
				name, reg.devname);
			break;
		case EPERM:
			fusd_module_param("user_prefix", p1, sizeof(p1));
			fusd_module_param("user_mode_max", p2, sizeof(p2));
			fprintf(stderr,
				"fusd_register: name '%s' (devname '%s', mode 0%o) refused: without CAP_SYS_ADMIN the name and the devname must start with \"%s\"%s (fusd parameter user_prefix) and the mode may not exceed %s (user_mode_max)\n",
				name, reg.devname, reg.mode, p1,
				strstr(p1, "%u") ? ", %u being your uid," : "",
				p2);
			break;
		case EEXIST:
			fprintf(stderr,
				"fusd_register: name '%s' refused: /dev/%s already exists (or something on its path is not a plain directory), or another fusd device has this name or this devname%s%s\n",
				name, node, reg.devname[0] ? " " : "",
				reg.devname);
			break;
		case EDQUOT:
			fusd_module_param("max_devices_per_user", p2,
					  sizeof(p2));
			fprintf(stderr,
				"fusd_register: name '%s' refused: this user may own at most max_devices_per_user (%s) fusd devices\n",
				name, p2);
			break;
		case ENOSPC:
			fusd_module_param("max_devices", p2, sizeof(p2));
			fprintf(stderr,
				"fusd_register: name '%s' refused: the limit of max_devices (%s) fusd devices is reached, or no device number is free\n",
				name, p2);
			break;
		}
		errno = saved < 0 ? -saved : saved;
		goto err;
	}
	if (!fusd_dev_attach(fd, device_info, fops, fops_size, reg.features))
		goto err;
	return fd;
err:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* FUSD_1.0: binaries built before the table carried its size. */
FUSD_API int (fusd_register)(const char *name, const char *clazz,
			     const char *devname, mode_t mode,
			     void *device_info,
			     struct fusd_file_operations *fops)
{
	return fusd_register_fops(name, clazz, devname, mode, device_info, fops,
				  FUSD_FOPS_SIZE_V1_0, NULL);
}

/*
 * A caller's table of 'fops_size' bytes as this library's: 0, or -1 with
 * errno (EINVAL: not whole callbacks; E2BIG: callbacks this library does
 * not know are set).
 */
static int fusd_fops_take(const char *name,
			  const struct fusd_file_operations *fops,
			  size_t fops_size, struct fusd_file_operations *table)
{
	size_t i;

	/* Only whole callback pointers make sense. */
	if (fops_size % sizeof(fops->open)) {
		errno = EINVAL;
		return -1;
	}
	/* A newer header's table: fine as long as the callbacks this
	 * library does not know are unset (the copy_struct_from_user rule).
	 */
	for (i = sizeof(*table); i < fops_size; i++) {
		if (((const unsigned char *)fops)[i]) {
			fprintf(stderr, "fusd_register: %s: callbacks set that "
				"this libfusd does not know (table of %zu "
				"bytes, %zu known)\n", name ? name : "(null)",
				fops_size, sizeof(*table));
			errno = E2BIG;
			return -1;
		}
	}
	memset(table, 0, sizeof(*table));
	memcpy(table, fops,
	       fops_size < sizeof(*table) ? fops_size : sizeof(*table));
	return 0;
}

/*
 * Register with a caller's table of 'fops_size' bytes, made this
 * library's size first ('rec': recoverable, or NULL).
 */
static int fusd_register_table(const char *name, const char *clazz,
			       const char *devname, mode_t mode,
			       void *device_info,
			       const struct fusd_file_operations *fops,
			       size_t fops_size, struct fusd_recovery *rec)
{
	struct fusd_file_operations table;

	if (!fops)	/* refused (and reported) as for fusd_register() */
		return fusd_register_fops(name, clazz, devname, mode,
					  device_info, NULL, 0, rec);
	if (fusd_fops_take(name, fops, fops_size, &table))
		return -1;
	return fusd_register_fops(name, clazz, devname, mode, device_info,
				  &table, sizeof(table), rec);
}

/* FUSD_1.1: what fusd_register() of <fusd.h> calls. */
FUSD_API int fusd_register_size(const char *name, const char *clazz,
				const char *devname, mode_t mode,
				void *device_info,
				const struct fusd_file_operations *fops,
				size_t fops_size)
{
	return fusd_register_table(name, clazz, devname, mode, device_info,
				   fops, fops_size, NULL);
}

/* FUSD_1.4: a device that outlives this daemon (see <fusd.h>). */
FUSD_API int fusd_register_recoverable_size(const char *name,
					    const char *clazz,
					    const char *devname, mode_t mode,
					    void *device_info,
					    const struct fusd_file_operations *fops,
					    size_t fops_size,
					    struct fusd_recovery *rec)
{
	if (!rec || !rec->grace_ms) {
		errno = EINVAL;
		return -1;
	}
	return fusd_register_table(name, clazz, devname, mode, device_info,
				   fops, fops_size, rec);
}

FUSD_API int fusd_unregister(int fd)
{
	struct fusd_dev *dev = NULL;

	fusd_lock();
	if (fd >= 0 && (size_t)fd < fusd_table_len) {
		dev = fusd_table[fd];
		fusd_table[fd] = NULL;
	}
	__atomic_add_fetch(&fusd_table_gen, 1, __ATOMIC_RELEASE);
	if (dev) {
		if (fusd_epfd >= 0)
			epoll_ctl(fusd_epfd, EPOLL_CTL_DEL, fd, NULL);
		/* Closing the channel removes the node and fails pending
		 * calls.  The number stays taken (by /dev/null) until the
		 * last deferred call is gone, so that no late reply can land
		 * in a file that reused it; those calls see EPIPE.
		 */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, fd) < 0) {
			close(fd);
			dev->fd = -1;
		}
		if (null >= 0)
			close(null);
		dev->dead = 1;
		fusd_intr_free_locked(dev);
		fusd_dev_put_locked(dev);
	}
	fusd_unlock();
	if (!dev) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

FUSD_API void fusd_fdset_add(fd_set *set, int *max)
{
	size_t i;

	fusd_lock();
	for (i = 0; i < fusd_table_len && i < FD_SETSIZE; i++) {
		if (!fusd_table[i])
			continue;
		FD_SET((int)i, set);
		if ((int)i > *max)
			*max = (int)i;
	}
	fusd_unlock();
}

FUSD_API void fusd_dispatch_fdset(fd_set *set)
{
	int fd;

	for (fd = 0; fd < FD_SETSIZE; fd++) {
		struct fusd_dev *dev;

		if (!FD_ISSET(fd, set))
			continue;
		dev = fusd_dev_get(fd);
		if (dev) {
			fusd_dev_put(dev);
			fusd_dispatch(fd);
		}
	}
}

/* One descriptor that is readable whenever any device needs attention. */
FUSD_API int fusd_epoll_fd(void)
{
	size_t i;
	int fd;

	fusd_lock();
	if (fusd_epfd < 0) {
		fusd_epfd = epoll_create1(EPOLL_CLOEXEC);
		for (i = 0; fusd_epfd >= 0 && i < fusd_table_len; i++) {
			struct epoll_event ev = { .events = EPOLLIN,
						  .data.fd = (int)i };

			if (fusd_table[i])
				epoll_ctl(fusd_epfd, EPOLL_CTL_ADD, (int)i, &ev);
		}
	}
	fd = fusd_epfd;
	fusd_unlock();
	return fd;
}

/* Registered descriptors into *fds (grown as needed); returns how many. */
size_t fusd_table_snapshot(int **fds, size_t *cap, unsigned int *gen)
{
	size_t i, n = 0;

	fusd_lock();
	if (*cap < fusd_table_len) {
		int *p = realloc(*fds, fusd_table_len * sizeof(*p));

		if (p) {
			*fds = p;
			*cap = fusd_table_len;
		}
	}
	for (i = 0; i < fusd_table_len && n < *cap; i++)
		if (fusd_table[i])
			(*fds)[n++] = (int)i;
	if (gen)
		*gen = fusd_table_gen;
	fusd_unlock();
	return n;
}

size_t fusd_table_count(void)
{
	size_t i, n = 0;

	fusd_lock();
	for (i = 0; i < fusd_table_len; i++)
		n += fusd_table[i] != NULL;
	fusd_unlock();
	return n;
}

/* Changes whenever a device is registered or unregistered. */
unsigned int fusd_table_generation(void)
{
	/* Read on every request by the run loops: no lock for it. */
	return __atomic_load_n(&fusd_table_gen, __ATOMIC_ACQUIRE);
}

FUSD_API ssize_t fusd_set_io_max(int fd, size_t bytes)
{
	struct fusd_dev *dev = fusd_dev_get(fd);
	uint32_t want;
	ssize_t ret = -1;

	if (!dev) {
		errno = EBADF;
		return -1;
	}
	if (!(dev->features & FUSD_FEATURE_IO_MAX)) {
		errno = EOPNOTSUPP;	/* a kernel older than protocol 1.2 */
	} else if (bytes > UINT32_MAX) {
		errno = EINVAL;
	} else {
		want = (uint32_t)bytes;
		/* Read buffers grow first: a request of the new size may be
		 * queued as soon as the kernel grants it.  They never shrink
		 * below what calls in flight may carry.
		 */
		fusd_lock();
		if (want > dev->io_max)	/* the kernel grants 64 MiB at most */
			__atomic_store_n(&dev->io_max, want < FUSD_IO_LIMIT ?
					 want : FUSD_IO_LIMIT, __ATOMIC_RELAXED);
		fusd_unlock();
		if (ioctl(fd, FUSD_IOC_SET_IO_MAX, &want) == 0)
			ret = want;
	}
	fusd_dev_put(dev);
	return ret;
}
