// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: FUSD_IOC_REGISTER refuses bad names, modes, sizes, versions
 * and duplicates with the documented errno; the control node's other
 * entry points behave
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

static int try_register(const char *name, const char *devname,
			unsigned int mode, void (*tweak)(struct fusd_register *))
{
	struct fusd_register reg;
	int fd = open("/dev/fusd/control", O_RDWR), ret, err;

	assert_true(fd >= 0);
	raw_register_init(&reg, name, mode);
	if (devname)
		memcpy(reg.devname, devname,
		       strnlen(devname, sizeof(reg.devname)));
	if (tweak)
		tweak(&reg);
	ret = ioctl(fd, FUSD_IOC_REGISTER, &reg);
	err = errno;
	close(fd);
	errno = err;
	return ret;
}

static void expect_einval_name(const char *name)
{
	print_message("name '%s'\n", name);
	assert_int_equal(try_register(name, NULL, 0600, NULL), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_bad_names(void **state)
{
	(void)state;
	expect_einval_name("");
	expect_einval_name("/dev/");
	expect_einval_name("..");
	expect_einval_name("a/../b");
	expect_einval_name("./a");
	expect_einval_name("a//b");
	expect_einval_name("a/");
	expect_einval_name("/a");
	expect_einval_name("sp ace");
	expect_einval_name("new\nline");
	expect_einval_name("star*");
	expect_einval_name("fusd");
	expect_einval_name("fusd/control");
	expect_einval_name("fusd/evil");
	/* devname is one sysfs component: no slash. */
	assert_int_equal(try_register("okname", "a/b", 0600, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(try_register("okname", "..", 0600, NULL), -1);
	assert_int_equal(errno, EINVAL);
}

static void unterminated(struct fusd_register *r)
{
	memset(r->name, 'a', sizeof(r->name));
}

static void bad_size(struct fusd_register *r)
{
	r->size = sizeof(*r) - 8;
}

static void bad_major(struct fusd_register *r)
{
	r->major = FUSD_PROTO_MAJOR + 1;
}

static void newer_minor(struct fusd_register *r)
{
	r->minor = FUSD_PROTO_MINOR + 5;
}

static void bad_flags(struct fusd_register *r)
{
	r->flags = 1U << 31;	/* not a FUSD_REGISTER_* flag */
}

static void bad_reserved(struct fusd_register *r)
{
	r->reserved = 1;
}

static void test_bad_structs(void **state)
{
	(void)state;
	assert_int_equal(try_register("x", NULL, 0600, unterminated), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(try_register("x", NULL, 0600, bad_size), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(try_register("x", NULL, 0600, bad_major), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(try_register("x", NULL, 0600, bad_flags), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(try_register("x", NULL, 0600, bad_reserved), -1);
	assert_int_equal(errno, EINVAL);
	/* Mode: permission bits only, never setuid/setgid/sticky. */
	assert_int_equal(try_register("x", NULL, 04755, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(try_register("x", NULL, 01777, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(try_register("x", NULL, 0100644, NULL), -1);
	assert_int_equal(errno, EINVAL);
	/* A bad pointer is EFAULT, not a crash. */
	{
		int fd = open("/dev/fusd/control", O_RDWR);

		assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, (void *)16), -1);
		assert_int_equal(errno, EFAULT);
		close(fd);
	}
}

static void test_newer_minor_is_negotiated_down(void **state)
{
	struct fusd_register reg;
	int fd = open("/dev/fusd/control", O_RDWR);

	(void)state;
	assert_true(fd >= 0);
	raw_register_init(&reg, "negotiated", 0640);
	newer_minor(&reg);
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), 0);
	assert_int_equal(reg.minor, FUSD_PROTO_MINOR);
	assert_true(reg.dev_major > 0);
	/* One device per channel. */
	strcpy(reg.name, "second");
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), -1);
	assert_int_equal(errno, EBUSY);
	close(fd);
	assert_int_equal(itest_wait_path("/dev/negotiated", 0, 2000), 0);
}

static void test_duplicates(void **state)
{
	int a, fd;

	(void)state;
	a = raw_register("dup", 0600);
	assert_int_equal(try_register("dup", NULL, 0600, NULL), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(try_register("/dev/dup", NULL, 0600, NULL), -1);
	assert_int_equal(errno, EEXIST);
	/* Another node path but the same sysfs name also clashes. */
	assert_int_equal(try_register("other", "dup", 0600, NULL), -1);
	assert_int_equal(errno, EEXIST);
	close(a);
	assert_int_equal(itest_wait_path("/dev/dup", 0, 2000), 0);
	fd = raw_register("dup", 0600);
	close(fd);
}

static void test_longest_name(void **state)
{
	char name[FUSD_NAME_MAX];
	char path[FUSD_NAME_MAX + 8];
	int fd;

	(void)state;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	/* A sysfs name may be shorter than the node path. */
	{
		struct fusd_register reg;

		fd = open("/dev/fusd/control", O_RDWR);
		raw_register_init(&reg, name, 0600);
		strcpy(reg.devname, "longest");
		assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), 0);
	}
	snprintf(path, sizeof(path), "/dev/%s", name);
	assert_int_equal(itest_wait_path(path, 1, 2000), 0);
	close(fd);
}

static void test_control_node_misc(void **state)
{
	struct fusd_version ver;
	char buf[256];
	int fd = open("/dev/fusd/control", O_RDWR);
	struct stat st;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FUSD_IOC_VERSION, &ver), 0);
	assert_int_equal(ver.major, FUSD_PROTO_MAJOR);
	assert_int_equal(ver.minor, FUSD_PROTO_MINOR);
	assert_int_equal(ioctl(fd, _IO(FUSD_IOC_MAGIC, 99)), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, 0x5401 /* TCGETS */, buf), -1);
	assert_int_equal(errno, ENOTTY);
	/* Nothing to read or answer before a device is registered. */
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODEV);
	assert_int_equal(write(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODEV);
	assert_int_equal(lseek(fd, 0, SEEK_SET), -1);
	assert_int_equal(errno, ESPIPE);
	close(fd);
	assert_int_equal(stat("/dev/fusd/control", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_structs),
		cmocka_unit_test(test_newer_minor_is_negotiated_down),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_longest_name),
		cmocka_unit_test(test_control_node_misc),
	};

	return itest_run(tests, NULL, NULL);
}
