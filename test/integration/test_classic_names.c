// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: classic FUSD names and modes run unchanged: the classic
 * pager's "pager!input" devnames, '!' forms refused when malformed,
 * S_IFCHR modes, NULL class/devname, names without "/dev/", and a
 * reason on stderr for what is still refused
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define PAGER_IN "/dev/pager/input"
#define PAGER_NOTIFY "/dev/pager/notify"
#define STDERR_FILE "/tmp/classic-names.err"

static struct fusd_file_operations no_fops;

/* A read() in its own thread, so the test can see it block. */
struct reader {
	int fd;
	ssize_t ret;
	int done;
	char buf[256];
	pthread_t t;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->ret = read(r->fd, r->buf, sizeof(r->buf) - 1);
	if (r->ret >= 0)
		r->buf[r->ret] = '\0';
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int reader_done(struct reader *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_SEQ_CST);
}

static int is_chr(const char *path, mode_t *perm)
{
	struct stat st;

	if (stat(path, &st))
		return 0;
	if (perm)
		*perm = st.st_mode & 07777;
	return S_ISCHR(st.st_mode);
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The unchanged classic pager: '!' devnames, sub-directory nodes. */
static void test_classic_pager(void **state)
{
	struct reader r;
	char buf[256];
	pid_t pid;
	int fd;

	(void)state;
	pid = itest_start_example("pager", PAGER_NOTIFY);
	assert_int_equal(itest_wait_path(PAGER_IN, 1, 5000), 0);
	assert_true(is_chr(PAGER_IN, NULL));
	assert_true(is_chr(PAGER_NOTIFY, NULL));
	assert_true(exists("/sys/class/fusd/pager!input"));
	assert_true(exists("/sys/class/fusd/pager!notify"));
	assert_int_equal(itest_slurp("/sys/class/fusd/pager!input/node", buf,
				     sizeof(buf)), 17);
	assert_string_equal(buf, PAGER_IN "\n");
	/* fusdctl finds it by node path and shows the sysfs name. */
	assert_int_equal(itest_sh("%s/fusdctl stat %s | grep -qx 'name: pager!input'",
				  itest_bindir(), PAGER_IN), 0);
	/* The classic status table lists the node path. */
	assert_int_equal(itest_sh("grep -q ' pager/notify$' /dev/fusd/status"),
			 0);

	fd = open(PAGER_NOTIFY, O_RDONLY);
	assert_true(fd >= 0);
	memset(&r, 0, sizeof(r));
	r.fd = fd;
	assert_int_equal(pthread_create(&r.t, NULL, reader_main, &r), 0);
	assert_int_equal(itest_wait_sysfs("pager!notify", "pending", 1, 5000),
			 0);
	usleep(100 * 1000);
	assert_false(reader_done(&r));	/* blocked: no page yet */

	fd = open(PAGER_IN, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "page\n", 5), 5);
	close(fd);
	{
		int64_t end = itest_now_ms() + 5000;

		while (!reader_done(&r) && itest_now_ms() < end)
			usleep(2000);
	}
	assert_true(reader_done(&r));
	pthread_join(r.t, NULL);
	assert_int_equal(r.ret, 7);
	assert_string_equal(r.buf, "page 1\n");
	close(r.fd);

	itest_kill_daemon(pid, PAGER_NOTIFY);
	assert_int_equal(itest_wait_path(PAGER_IN, 0, 5000), 0);
	assert_false(exists("/sys/class/fusd/pager!input"));
	assert_false(exists("/sys/class/fusd/pager!notify"));
}

/* FUSD_IOC_REGISTER by hand; returns the channel fd or -1 with errno. */
static int raw_try(const char *name, const char *devname)
{
	struct fusd_register reg;
	int fd = open("/dev/fusd/control", O_RDWR), err;

	assert_true(fd >= 0);
	raw_register_init(&reg, name, 0600);
	snprintf(reg.devname, sizeof(reg.devname), "%s", devname);
	if (ioctl(fd, FUSD_IOC_REGISTER, &reg) == 0)
		return fd;
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static void expect_bad_devname(const char *devname)
{
	print_message("devname '%s'\n", devname);
	assert_int_equal(raw_try("classic-bad", devname), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_bad_bang_forms(void **state)
{
	(void)state;
	expect_bad_devname("!");
	expect_bad_devname("!a");
	expect_bad_devname("a!");
	expect_bad_devname("a!!b");
	expect_bad_devname(".!a");
	expect_bad_devname("..!a");
	expect_bad_devname("a!.");
	expect_bad_devname("a!..");
	expect_bad_devname("a!.!b");
	expect_bad_devname("a!..!b");
	expect_bad_devname("a/b");
	expect_bad_devname("a!b/c");
	expect_bad_devname("a!sp ace");
	expect_bad_devname("a!st*r");
	expect_bad_devname("fusd");
	expect_bad_devname("fusd!control");
	/* '!' belongs to devnames only, not to node paths. */
	assert_int_equal(raw_try("classic!bang", ""), -1);
	assert_int_equal(errno, EINVAL);
	assert_false(exists("/sys/class/fusd/classic-bad"));
}

static void test_good_bang_forms(void **state)
{
	int a, b, c;

	(void)state;
	/* Several levels, dots inside components, "fusd" not first. */
	a = raw_try("/dev/classic-deep", "x!y.z!..w!fusd");
	assert_true(a >= 0);
	assert_true(exists("/sys/class/fusd/x!y.z!..w!fusd"));
	assert_true(is_chr("/dev/classic-deep", NULL));
	/* Classic drums: node path and devname need not agree. */
	b = raw_try("/dev/classic-drums/bam", "drumbam");
	assert_true(b >= 0);
	assert_true(is_chr("/dev/classic-drums/bam", NULL));
	assert_true(exists("/sys/class/fusd/drumbam"));
	/* A '!' devname collides with the same name derived from a path. */
	c = raw_try("/dev/classic-sub/a", "");
	assert_true(c >= 0);
	assert_true(exists("/sys/class/fusd/classic-sub!a"));
	assert_int_equal(raw_try("/dev/classic-other", "classic-sub!a"), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(raw_try("/dev/classic-other", "x!y.z!..w!fusd"), -1);
	assert_int_equal(errno, EEXIST);
	close(a);
	close(b);
	close(c);
	assert_int_equal(itest_wait_path("/dev/classic-deep", 0, 5000), 0);
	assert_false(exists("/sys/class/fusd/x!y.z!..w!fusd"));
}

/* Run fusd_register with stderr in a file; errno kept, text in @err. */
static int lib_register(const char *name, const char *clazz,
			const char *devname, mode_t mode, char *err,
			size_t cap)
{
	int saved, fd, ret, e;

	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	fd = open(STDERR_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	ret = fusd_register(name, clazz, devname, mode, NULL, &no_fops);
	e = errno;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	err[0] = '\0';
	assert_true(itest_slurp(STDERR_FILE, err, cap) >= 0);
	errno = e;
	return ret;
}

static void test_classic_modes(void **state)
{
	char err[512];
	mode_t perm;
	int fd;

	(void)state;
	/* devfs-era S_IFCHR | 0666: the file type is dropped. */
	fd = lib_register("/dev/classic-mode", "misc", "classic-mode",
			  S_IFCHR | 0666, err, sizeof(err));
	assert_true(fd >= 0);
	assert_string_equal(err, "");
	assert_true(is_chr("/dev/classic-mode", &perm));
	assert_int_equal(perm, 0666);
	assert_int_equal(fusd_unregister(fd), 0);
	assert_int_equal(itest_wait_path("/dev/classic-mode", 0, 5000), 0);

	/* setuid, setgid, sticky and other file types: refused, said why. */
	assert_int_equal(lib_register("/dev/classic-mode", "misc", NULL,
				      S_IFCHR | 04666, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "setuid"));
	assert_int_equal(lib_register("/dev/classic-mode", "misc", NULL,
				      02666, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "mode 02666 refused"));
	assert_int_equal(lib_register("/dev/classic-mode", "misc", NULL,
				      01666, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "refused"));
	assert_int_equal(lib_register("/dev/classic-mode", "misc", NULL,
				      S_IFBLK | 0666, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "refused"));
	assert_false(exists("/dev/classic-mode"));
}

static void test_classic_names_lib(void **state)
{
	char err[512], name[80];
	int a, b, c;

	(void)state;
	/* NULL class and devname; no "/dev/" prefix. */
	a = lib_register("/dev/classic-null", NULL, NULL, 0644, err,
			 sizeof(err));
	assert_true(a >= 0);
	assert_true(exists("/sys/class/fusd/classic-null"));
	b = lib_register("classic-nodev", "test", "classic-nodev", 0644, err,
			 sizeof(err));
	assert_true(b >= 0);
	assert_true(is_chr("/dev/classic-nodev", NULL));
	/* The classic limit was 47 characters after "/dev/". */
	snprintf(name, sizeof(name), "/dev/%.47s",
		 "classic-long-0123456789012345678901234567890123456789");
	assert_int_equal(strlen(name), 52);
	c = lib_register(name, "test", NULL, 0644, err, sizeof(err));
	assert_true(c >= 0);
	assert_true(is_chr(name, NULL));
	assert_int_equal(fusd_unregister(a), 0);
	assert_int_equal(fusd_unregister(b), 0);
	assert_int_equal(fusd_unregister(c), 0);

	/* Still refused, with the reason on stderr. */
	assert_int_equal(lib_register("/dev/classic bad", "test", NULL, 0644,
				      err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "'/dev/classic bad'"));
	assert_non_null(strstr(err, "refused"));
	assert_int_equal(lib_register("/dev/classic-x", "test", "a!!b", 0644,
				      err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "devname 'a!!b' refused"));
	{
		char big[200];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(lib_register(big, "test", NULL, 0644, err,
					      sizeof(err)), -1);
		assert_int_equal(errno, ENAMETOOLONG);
		assert_non_null(strstr(err, "longer than 127"));
	}
	assert_int_equal(lib_register(NULL, "test", NULL, 0644, err,
				      sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "invalid name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classic_pager),
		cmocka_unit_test(test_bad_bang_forms),
		cmocka_unit_test(test_good_bang_forms),
		cmocka_unit_test(test_classic_modes),
		cmocka_unit_test(test_classic_names_lib),
	};

	return itest_run(tests, NULL, NULL);
}
