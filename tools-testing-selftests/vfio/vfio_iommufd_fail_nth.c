// SPDX-License-Identifier: GPL-2.0-only
/*
 * Error unwinding of VFIO on iommufd under fault injection, on a real
 * device (edu, alone in its IOMMU group, bound to vfio-pci) and on an
 * emulated one (an mtty mdev).
 *
 * For one ioctl at a time: build the state it needs, make the Nth fault
 * point of this thread fail (/proc/self/task/<tid>/fail-nth: slab, the
 * page allocator from order 1 up - fail_page_alloc's min-order - and
 * iommufd's fail_iommufd), call it, and check that a failed call left
 * everything as it was - the group's container, the device's binding, the
 * DMA ownership of the group, the mappings - by making the same call
 * again without fault injection, which must succeed.  N grows until the
 * call no longer reaches an Nth fault point.  The kernel log is checked
 * for WARN, BUG, KASAN and lockdep reports outside of this program.
 *
 * On the edu, only calls that do not open the device are injected:
 * opening it runs vfio-pci's open_device(), which enables the PCI device
 * through ACPI, and 6.1's ACPI interpreter does not survive allocation
 * failures (a use-after-free in its error paths).  Binding and attaching
 * at open are checked with errors user space can cause instead (a kernel
 * driver in the group, a destroyed compat IOAS), by the functional tests.
 *
 * Upstream's first VFIO_GROUP_SET_CONTAINER with an iommufd put the wrong
 * context when it failed (a NULL pointer): set_container_iommufd catches
 * that.
 *
 * The mdev_fail_nth fixture does the same on an mdev of the mtty sample
 * (mdev.h), where opening the device is safe to inject: mtty has no
 * open_device(), and binding the device creates an iommufd access instead
 * of claiming the DMA of an IOMMU group.  Its cases inject into the bind
 * and the attach of the mdev's cdev and into VFIO_GROUP_GET_DEVICE_FD of
 * its group set to an iommufd, which binds the device and attaches it to
 * the compat IOAS.
 *
 * A failed call must fail with the errno of a fault point its path
 * reaches (nth_case.errnos): allocations (slab, pages, iommufd's own
 * point at the creation of an access) fail with ENOMEM, and iommufd's
 * point in the lookup of an object ID fails with ENOENT, as an ID that is
 * not there does.  Of the cases that check this, the attaches reach the
 * lookup (of the IOAS) and VFIO_GROUP_GET_DEVICE_FD does (of the compat
 * IOAS); the bind of the mdev does not.
 *
 * The attach of the mdev's access reaches no fault point but that lookup,
 * which fails before anything is changed: the access is the first one of
 * its IOAS, and index 0 of the IOAS's access list needs no allocation.
 * (With another access attached first, the index needs a node, but
 * xa_alloc() retries a failed GFP_NOWAIT attempt with GFP_KERNEL, and
 * fail-nth fails one point per call: the attach still does not fail after
 * its lookup.)  So no case here reaches the attach's unwinding after it
 * took its reference on the IOAS.
 *
 * After each call, with its fds closed, nothing may hold the mdev: its
 * group opens (no cdev bound, the group released), and then its cdev
 * binds (the device closed).
 *
 * The mdev cases need CONFIG_IOMMUFD_TEST, for fail_iommufd: without it
 * the attach of the mdev reaches no fault point at all, and the bind
 * loses its first one.  Without mtty (CONFIG_SAMPLE_VFIO_MDEV_MTTY) they
 * fail.  The test kernel has both (see config).
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/iommufd.h>

#include "../kselftest_harness.h"
#include "mdev.h"

#define MAX_NTH 2000u
#define NTH_IOVA 0x100000ULL
#define NTH_PAGES 4

static const struct {
	const char *path;
	const char *val;
} fault_knobs[] = {
	{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/failslab/verbose", "0" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
};

/* The mtty mdev of mdev_fail_nth */
struct nth_mdev {
	char uuid[40];
	char cdev[64];
	char group_path[64];
	int group;
};

/*
 * The state one iteration works on, on one device: an edu (@edu) or an
 * mdev (@mdev).  It lives in the fixture, and its fds are -1 when closed,
 * so that the teardown closes what a failed ASSERT left open (an mdev
 * cannot be removed while this process holds a device fd of it).
 */
struct nth_ctx {
	struct edu_pci *edu;
	struct nth_mdev *mdev;
	char *mem;
	int iommufd;
	int group_fd;
	int device_fd;
	__u32 ioas_id;
	__u32 devid;
};

/* The errnos of the fault points a call may reach (nth_case.errnos) */
#define NTH_ENOMEM	0x1u
#define NTH_ENOENT	0x2u

struct nth_case {
	const char *name;
	/* Build the state; runs without fault injection */
	void (*setup)(struct __test_metadata *_metadata, struct nth_ctx *c);
	/* The call under test: one ioctl; 0 or -1 with errno */
	int (*call)(struct nth_ctx *c);
	/* After a failed call (@rc != 0) or a successful one: check */
	void (*check)(struct __test_metadata *_metadata, struct nth_ctx *c,
		      int rc);
	/* After the fds of the context are closed: the device is idle */
	void (*idle)(struct __test_metadata *_metadata, struct nth_ctx *c);
	/*
	 * NTH_*: the errnos a failed call may give, checked before @check;
	 * 0 if @check checks the errno itself
	 */
	unsigned int errnos;
};

static int write_file(const char *path, const char *val)
{
	return edu_sysfs_write(path, val);
}

static void close_ctx(struct nth_ctx *c)
{
	if (c->device_fd >= 0)
		close(c->device_fd);
	if (c->group_fd >= 0)
		close(c->group_fd);
	if (c->iommufd >= 0)
		close(c->iommufd);
	c->device_fd = -1;
	c->group_fd = -1;
	c->iommufd = -1;
}

/*
 * What every fixture sets up: the context with its fds closed, the
 * fail-nth file of this thread, the fault knobs and a buffer to map
 */
static void nth_setup(struct __test_metadata *_metadata, int *proc_fd,
		      struct nth_ctx *c)
{
	char path[64];
	unsigned int i;
	int ret;

	c->iommufd = -1;
	c->group_fd = -1;
	c->device_fd = -1;
	c->mem = MAP_FAILED;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	*proc_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, *proc_fd) TH_LOG("no %s", path);
	for (i = 0; i < ARRAY_SIZE(fault_knobs); i++) {
		const char *knob = fault_knobs[i].path;

		ret = write_file(knob, fault_knobs[i].val);
		ASSERT_EQ(0, ret) TH_LOG("cannot write %s: %s", knob,
					 strerror(-ret));
	}

	/*
	 * fail_iommufd is CONFIG_IOMMUFD_TEST's; fail-nth reaches it without
	 * its debugfs dir, so the dir is optional, but the mdev cases need
	 * the option (see the top)
	 */
	write_file("/sys/kernel/debug/fail_iommufd/verbose", "0");

	c->mem = mmap(NULL, NTH_PAGES * 4096, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->mem);
	memset(c->mem, 0, NTH_PAGES * 4096);
}

/* No more faults, then the fds of the context, then the buffer */
static void nth_teardown(struct __test_metadata *_metadata, int proc_fd,
			 struct nth_ctx *c)
{
	if (proc_fd >= 0) {
		EXPECT_EQ(1, pwrite(proc_fd, "0", 1, 0));
		close(proc_fd);
	}
	close_ctx(c);
	if (c->mem != MAP_FAILED)
		munmap(c->mem, NTH_PAGES * 4096);
}

FIXTURE(vfio_fail_nth) {
	int proc_fd;
	struct edu_pci edu;
	struct nth_ctx ctx;
};

FIXTURE_SETUP(vfio_fail_nth)
{
	struct edu_pci edus[16];
	unsigned int i;
	int n, ret;

	n = edu_find_all(edus, 16);
	ASSERT_LE(0, n);
	for (i = 0; i < (unsigned int)n; i++)
		if (edus[i].group_devs == 1)
			break;
	ASSERT_GT(n, (int)i) TH_LOG("no edu device alone in its IOMMU group");
	self->edu = edus[i];
	ret = edu_bind_vfio(self->edu.bdf);
	ASSERT_EQ(0, ret) TH_LOG("binding to vfio-pci: %s", strerror(-ret));

	nth_setup(_metadata, &self->proc_fd, &self->ctx);
	self->ctx.edu = &self->edu;
}

FIXTURE_TEARDOWN(vfio_fail_nth)
{
	nth_teardown(_metadata, self->proc_fd, &self->ctx);
}

static int fail_nth_set(int proc_fd, unsigned int n)
{
	char buf[16];
	int len;

	len = snprintf(buf, sizeof(buf), "%u", n);
	return pwrite(proc_fd, buf, len, 0) == len ? 0 : -1;
}

static long fail_nth_get(int proc_fd)
{
	char buf[16] = {};

	if (pread(proc_fd, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

/* The group is back to the kernel: no claim left behind */
static void check_unowned(struct __test_metadata *_metadata, int group)
{
	char owner[64];
	int ret;

	ret = edu_group_dma_owner(group, owner, sizeof(owner));
	ASSERT_EQ(0, ret);
	ASSERT_STREQ("none", owner);
}

/* The edu is not held by anyone: its group's DMA is back to the kernel */
static void edu_idle(struct __test_metadata *_metadata, struct nth_ctx *c)
{
	check_unowned(_metadata, c->edu->group);
}

static unsigned int nth_errno_bit(int err)
{
	return err == ENOMEM ? NTH_ENOMEM : err == ENOENT ? NTH_ENOENT : 0;
}

/*
 * Run @tc in @c (the fixture's context: its fds closed) with the Nth fault
 * point of this thread failing, for N from 1 until the call succeeds
 * without reaching an Nth fault point.
 */
static void run_fail_nth(struct __test_metadata *_metadata, int proc_fd,
			 struct nth_ctx *c, const struct nth_case *tc)
{
	unsigned int n, failed = 0, enomem = 0, enoent = 0;
	long remaining;
	int rc, err;

	for (n = 1; n <= MAX_NTH; n++) {
		c->ioas_id = 0;
		c->devid = 0;
		tc->setup(_metadata, c);

		ASSERT_EQ(0, fail_nth_set(proc_fd, n));
		rc = tc->call(c);
		err = errno;
		remaining = fail_nth_get(proc_fd);
		ASSERT_EQ(0, fail_nth_set(proc_fd, 0));
		ASSERT_LE(0, remaining);

		if (rc) {
			failed++;
			enomem += err == ENOMEM;
			enoent += err == ENOENT;
			/* A failure needs a reason: an injected fault */
			ASSERT_EQ(0, remaining)
				TH_LOG("%s: failed with %s without a fault",
				       tc->name, strerror(err));
			/* ... and the errno of a fault point of its path */
			ASSERT_TRUE(!tc->errnos ||
				    (nth_errno_bit(err) & tc->errnos)) {
				TH_LOG("%s: at fault point %u: failed with %s",
				       tc->name, n, strerror(err));
			}
		}
		errno = err;
		tc->check(_metadata, c, rc);
		close_ctx(c);
		tc->idle(_metadata, c);

		if (remaining)
			break;
	}
	TH_LOG("%s: %u fault points, %u failed calls (ENOMEM %u, ENOENT %u)",
	       tc->name, n - 1, failed, enomem, enoent);
	ASSERT_GE(MAX_NTH, n);
	ASSERT_LT(0u, failed) {
		TH_LOG("%s: no call failed: is CONFIG_IOMMUFD_TEST (fail_iommufd) off? See the top",
		       tc->name);
	}
}

static void open_iommufd_group(struct __test_metadata *_metadata,
			       struct nth_ctx *c)
{
	char path[64];

	c->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->iommufd);
	if (!c->mdev)
		snprintf(path, sizeof(path), "/dev/vfio/%d", c->edu->group);
	c->group_fd = open(c->mdev ? c->mdev->group_path : path,
			   O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->group_fd);
}

static int set_container(struct nth_ctx *c)
{
	return ioctl(c->group_fd, VFIO_GROUP_SET_CONTAINER, &c->iommufd);
}

static int get_device_fd(struct nth_ctx *c)
{
	c->device_fd = ioctl(c->group_fd, VFIO_GROUP_GET_DEVICE_FD,
			     c->mdev ? c->mdev->uuid : c->edu->bdf);
	return c->device_fd < 0 ? -1 : 0;
}

static void check_device_fd(struct __test_metadata *_metadata,
			    struct nth_ctx *c)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_LE(0, c->device_fd);
	ASSERT_EQ(0, ioctl(c->device_fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_NE(0u, info.flags & VFIO_DEVICE_FLAGS_PCI);
}

/* VFIO_GROUP_SET_CONTAINER with an iommufd (creates the compat IOAS) */
static void set_container_check(struct __test_metadata *_metadata,
				struct nth_ctx *c, int rc)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct iommu_vfio_ioas vioas = {
		.size = sizeof(vioas),
		.op = IOMMU_VFIO_IOAS_GET,
	};

	ASSERT_EQ(0, ioctl(c->group_fd, VFIO_GROUP_GET_STATUS, &status));
	if (rc) {
		ASSERT_EQ(ENOMEM, errno);
		ASSERT_EQ((__u32)VFIO_GROUP_FLAGS_VIABLE, status.flags);
		/* Nothing half made: no compat IOAS */
		ASSERT_EQ(-1, ioctl(c->iommufd, IOMMU_VFIO_IOAS, &vioas));
		ASSERT_EQ(ENODEV, errno);
		ASSERT_EQ(0, set_container(c));
	} else {
		ASSERT_EQ((__u32)(VFIO_GROUP_FLAGS_VIABLE |
				  VFIO_GROUP_FLAGS_CONTAINER_SET),
			  status.flags);
		ASSERT_EQ(0, ioctl(c->iommufd, IOMMU_VFIO_IOAS, &vioas));
	}
	/* The group works with the iommufd it has now */
	ASSERT_EQ(0, get_device_fd(c));
	check_device_fd(_metadata, c);
	close(c->device_fd);
	c->device_fd = -1;
	ASSERT_EQ(0, ioctl(c->group_fd, VFIO_GROUP_UNSET_CONTAINER));
}

static const struct nth_case set_container_iommufd = {
	.name = "set_container_iommufd",
	.setup = open_iommufd_group,
	.call = set_container,
	.check = set_container_check,
	.idle = edu_idle,
};

TEST_F_TIMEOUT(vfio_fail_nth, set_container_iommufd, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx,
		     &set_container_iommufd);
}

/* A group with an iommufd and the device open through it */
static void get_device_fd_setup(struct __test_metadata *_metadata,
				struct nth_ctx *c)
{
	open_iommufd_group(_metadata, c);
	ASSERT_EQ(0, set_container(c));
}

/* The VFIO type1 (v1) unmap that cuts a mapping: the area split */
static void unmap_v1_setup(struct __test_metadata *_metadata,
			   struct nth_ctx *c)
{
	get_device_fd_setup(_metadata, c);
	ASSERT_EQ(0, ioctl(c->iommufd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	ASSERT_EQ(0, get_device_fd(c));
	ASSERT_EQ(0, edu_map(c->iommufd, c->mem, NTH_IOVA, NTH_PAGES * 4096));
}

static int unmap_v1_call(struct nth_ctx *c)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = NTH_IOVA + 4096,
		.size = 2 * 4096,
	};
	int rc;

	rc = ioctl(c->iommufd, VFIO_IOMMU_UNMAP_DMA, &unmap);
	/* What was unmapped is reported, failure or not */
	c->devid = unmap.size;
	return rc;
}

static void unmap_v1_check(struct __test_metadata *_metadata,
			   struct nth_ctx *c, int rc)
{
	__u64 unmapped;

	if (rc) {
		ASSERT_EQ(ENOMEM, errno);
		ASSERT_EQ(0u, c->devid);
		/* Nothing is gone, whatever cuts were made */
		ASSERT_EQ(0, edu_unmap(c->iommufd, NTH_IOVA + 4096, 2 * 4096,
				       &unmapped));
		ASSERT_EQ(2u * 4096, unmapped);
	} else {
		ASSERT_EQ(2u * 4096, c->devid);
	}
	/* The two outer pages are whole mappings of their own now */
	ASSERT_EQ(0, edu_unmap(c->iommufd, NTH_IOVA, 4096, &unmapped));
	ASSERT_EQ(4096u, unmapped);
	ASSERT_EQ(0, edu_unmap(c->iommufd, NTH_IOVA + 3 * 4096, 4096,
			       &unmapped));
	ASSERT_EQ(4096u, unmapped);
	ASSERT_EQ(0, edu_unmap(c->iommufd, 0, 1ULL << 28, &unmapped));
	ASSERT_EQ(0u, unmapped);
}

static const struct nth_case unmap_v1 = {
	.name = "unmap_v1",
	.setup = unmap_v1_setup,
	.call = unmap_v1_call,
	.check = unmap_v1_check,
	.idle = edu_idle,
};

TEST_F_TIMEOUT(vfio_fail_nth, unmap_v1, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &unmap_v1);
}

/* VFIO_IOMMU_MAP_DMA on an iommufd with a device attached */
static int map_dma_call(struct nth_ctx *c)
{
	int ret = edu_map(c->iommufd, c->mem, NTH_IOVA, NTH_PAGES * 4096);

	errno = -ret;
	return ret ? -1 : 0;
}

static void map_dma_setup(struct __test_metadata *_metadata,
			  struct nth_ctx *c)
{
	get_device_fd_setup(_metadata, c);
	ASSERT_EQ(0, ioctl(c->iommufd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(0, get_device_fd(c));
}

static void map_dma_check(struct __test_metadata *_metadata,
			  struct nth_ctx *c, int rc)
{
	__u64 unmapped;

	ASSERT_EQ(0, edu_unmap(c->iommufd, 0, 1ULL << 28, &unmapped));
	ASSERT_EQ(rc ? 0u : NTH_PAGES * 4096u, unmapped);
	ASSERT_EQ(0, map_dma_call(c));
}

static const struct nth_case map_dma = {
	.name = "map_dma",
	.setup = map_dma_setup,
	.call = map_dma_call,
	.check = map_dma_check,
	.idle = edu_idle,
};

TEST_F_TIMEOUT(vfio_fail_nth, map_dma, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &map_dma);
}

/* VFIO_IOMMU_GET_INFO: buffers built in the kernel */
static int get_info_call(struct nth_ctx *c)
{
	__u8 buf[512];
	struct vfio_iommu_type1_info *info = (void *)buf;

	memset(buf, 0xff, sizeof(buf));
	info->argsz = sizeof(buf);
	return ioctl(c->iommufd, VFIO_IOMMU_GET_INFO, info);
}

static void get_info_check(struct __test_metadata *_metadata,
			   struct nth_ctx *c, int rc)
{
	if (rc)
		ASSERT_EQ(ENOMEM, errno);
	ASSERT_EQ(0, get_info_call(c));
}

static const struct nth_case get_info = {
	.name = "get_info",
	.setup = map_dma_setup,
	.call = get_info_call,
	.check = get_info_check,
	.idle = edu_idle,
};

TEST_F_TIMEOUT(vfio_fail_nth, get_info, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &get_info);
}

/* The device cdev: VFIO_DEVICE_BIND_IOMMUFD and ATTACH_IOMMUFD_PT */
static void cdev_open(struct __test_metadata *_metadata, struct nth_ctx *c)
{
	char dir[128], path[96];
	struct dirent *de;
	DIR *d;

	c->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->iommufd);
	if (c->mdev) {
		c->device_fd = open(c->mdev->cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, c->device_fd);
		return;
	}
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev",
		 c->edu->bdf);
	d = opendir(dir);
	ASSERT_NE(NULL, d) TH_LOG("no %s: CONFIG_VFIO_DEVICE_CDEV off?", dir);
	path[0] = '\0';
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(path, sizeof(path), "/dev/vfio/devices/%.32s",
				 de->d_name);
	closedir(d);
	c->device_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->device_fd);
}

static int cdev_bind(struct nth_ctx *c)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = 16,
		.iommufd = c->iommufd,
	};
	int rc;

	rc = ioctl(c->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	c->devid = bind.out_devid;
	return rc;
}

static void cdev_attach_setup(struct __test_metadata *_metadata,
			      struct nth_ctx *c)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.length = NTH_PAGES * 4096,
		.iova = NTH_IOVA,
	};

	cdev_open(_metadata, c);
	ASSERT_EQ(0, cdev_bind(c));
	ASSERT_EQ(0, ioctl(c->iommufd, IOMMU_IOAS_ALLOC, &alloc));
	c->ioas_id = alloc.out_ioas_id;
	map.ioas_id = c->ioas_id;
	map.user_va = (uintptr_t)c->mem;
	ASSERT_EQ(0, ioctl(c->iommufd, IOMMU_IOAS_MAP, &map));
}

static int cdev_attach(struct nth_ctx *c)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = 12,
		.pt_id = c->ioas_id,
	};

	return ioctl(c->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);
}

static void cdev_attach_check(struct __test_metadata *_metadata,
			      struct nth_ctx *c, int rc)
{
	struct vfio_device_detach_iommufd_pt detach = { .argsz = 8 };
	struct iommu_destroy destroy = {
		.size = sizeof(destroy),
		.id = c->ioas_id,
	};

	/* A failed call's errno is checked by run_fail_nth() (.errnos) */
	if (rc)
		ASSERT_EQ(0, cdev_attach(c));
	/* Attached: the IOAS is in use */
	ASSERT_EQ(-1, ioctl(c->iommufd, IOMMU_DESTROY, &destroy));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, ioctl(c->device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
			   &detach));
	ASSERT_EQ(0, ioctl(c->iommufd, IOMMU_DESTROY, &destroy));
}

static const struct nth_case cdev_attach_case = {
	.name = "cdev_attach",
	.setup = cdev_attach_setup,
	.call = cdev_attach,
	.check = cdev_attach_check,
	.idle = edu_idle,
	/* The lookup of the IOAS, then allocations */
	.errnos = NTH_ENOMEM | NTH_ENOENT,
};

TEST_F_TIMEOUT(vfio_fail_nth, cdev_attach, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &cdev_attach_case);
}

/*
 * An mtty mdev.  Each test creates its own, named after this program's tag
 * and pid, and removes it; a stale one of the same name is removed first.
 */
FIXTURE(mdev_fail_nth) {
	int proc_fd;
	struct nth_mdev mdev;
	struct nth_ctx ctx;
};

FIXTURE_SETUP(mdev_fail_nth)
{
	struct nth_mdev *md = &self->mdev;
	int ret;

	ASSERT_TRUE(mtty_available()) {
		TH_LOG("no mtty parent: the kernel needs CONFIG_SAMPLE_VFIO_MDEV_MTTY");
	}
	nth_setup(_metadata, &self->proc_fd, &self->ctx);

	/* Last: a setup that fails has no teardown to remove the mdev */
	mtty_uuid(md->uuid, sizeof(md->uuid), 0x6e7f0a11);
	ret = mtty_create_mdev(md->uuid, &md->group, md->cdev,
			       sizeof(md->cdev));
	ASSERT_EQ(0, ret) {
		TH_LOG("creating mtty mdev %s: %s", md->uuid, strerror(-ret));
	}
	snprintf(md->group_path, sizeof(md->group_path), "/dev/vfio/%d",
		 md->group);
	self->ctx.mdev = md;
}

FIXTURE_TEARDOWN(mdev_fail_nth)
{
	/* The device fds first: the remove waits for them */
	nth_teardown(_metadata, self->proc_fd, &self->ctx);
	EXPECT_EQ(0, mtty_remove(self->mdev.uuid));
}

/*
 * Nothing holds the mdev.  Its group opens: no cdev of it is bound, and
 * the group file of the call was released.  Then, with the group closed,
 * its cdev binds to a new iommufd: the device is closed (a device left
 * open makes the bind fail with EINVAL).
 */
static void mdev_idle(struct __test_metadata *_metadata, struct nth_ctx *c)
{
	int ret;

	c->group_fd = open(c->mdev->group_path, O_RDWR | O_CLOEXEC);
	ret = -errno;
	ASSERT_LE(0, c->group_fd) TH_LOG("%s: %s", c->mdev->group_path,
					 strerror(-ret));
	close_ctx(c);

	c->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->iommufd);
	c->device_fd = open(c->mdev->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->device_fd);
	ret = edu_cdev_bind(c->device_fd, c->iommufd, NULL);
	ASSERT_EQ(0, ret) TH_LOG("binding %s: %s", c->mdev->cdev,
				 strerror(-ret));
	close_ctx(c);
}

/*
 * VFIO_DEVICE_BIND_IOMMUFD on the mdev's cdev: opens the device and
 * creates its access.  A failed bind leaves an fd that gives access to
 * nothing, and that binds on the retry.  The bind looks up no object ID:
 * its fault points are allocations.
 */
static void mdev_bind_check(struct __test_metadata *_metadata,
			    struct nth_ctx *c, int rc)
{
	if (rc) {
		ASSERT_EQ(-EINVAL, mtty_check_device(c->device_fd));
		ASSERT_EQ(0, cdev_bind(c));
	}
	/* The devid names the access, which user space cannot destroy */
	ASSERT_NE(0u, c->devid);
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->iommufd, c->devid));
	ASSERT_EQ(0, mtty_check_device(c->device_fd));
}

static const struct nth_case mdev_bind = {
	.name = "cdev_bind",
	.setup = cdev_open,
	.call = cdev_bind,
	.check = mdev_bind_check,
	.idle = mdev_idle,
	.errnos = NTH_ENOMEM,
};

TEST_F_TIMEOUT(mdev_fail_nth, cdev_bind, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &mdev_bind);
}

/*
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT of the bound mdev to an IOAS with a
 * mapping: attaches its access.  Its one fault point is the lookup of the
 * IOAS (ENOENT), before the attach changes anything: the access, the first
 * of the IOAS, takes index 0 of its access list, which needs no
 * allocation.  So this case checks that a failed lookup changes nothing;
 * it reaches no unwinding after the reference on the IOAS is taken.
 * Attached, the access holds the IOAS; detached, nothing holds it.
 */
static void mdev_attach_check(struct __test_metadata *_metadata,
			      struct nth_ctx *c, int rc)
{
	if (rc)
		ASSERT_EQ(0, cdev_attach(c));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->iommufd, c->ioas_id));
	ASSERT_EQ(0, mtty_check_device(c->device_fd));
	ASSERT_EQ(0, edu_cdev_detach(c->device_fd));
	ASSERT_EQ(0, edu_iommufd_destroy(c->iommufd, c->ioas_id));
}

static const struct nth_case mdev_attach = {
	.name = "cdev_attach",
	.setup = cdev_attach_setup,
	.call = cdev_attach,
	.check = mdev_attach_check,
	.idle = mdev_idle,
	.errnos = NTH_ENOENT,
};

TEST_F_TIMEOUT(mdev_fail_nth, cdev_attach, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &mdev_attach);
}

/*
 * VFIO_GROUP_GET_DEVICE_FD on the mdev's group set to an iommufd: opens
 * the device, creates its access, looks up the compat IOAS and attaches
 * the access to it.  A failed call is retried on the group as it is; the
 * device fd holds the compat IOAS and the group's iommufd until it is
 * closed, and then nothing of a failed call holds them.
 */
static void mdev_get_device_fd_check(struct __test_metadata *_metadata,
				     struct nth_ctx *c, int rc)
{
	if (rc)
		ASSERT_EQ(0, get_device_fd(c));
	ASSERT_EQ(0, mtty_check_device(c->device_fd));
	ASSERT_EQ(0, edu_vfio_ioas(c->iommufd, IOMMU_VFIO_IOAS_GET,
				   &c->ioas_id));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->iommufd, c->ioas_id));
	ASSERT_EQ(-1, ioctl(c->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	ASSERT_EQ(EBUSY, errno);
	close(c->device_fd);
	c->device_fd = -1;
	ASSERT_EQ(0, edu_iommufd_destroy(c->iommufd, c->ioas_id));
	ASSERT_EQ(0, ioctl(c->group_fd, VFIO_GROUP_UNSET_CONTAINER));
}

static const struct nth_case mdev_get_device_fd = {
	.name = "group_get_device_fd",
	.setup = get_device_fd_setup,
	.call = get_device_fd,
	.check = mdev_get_device_fd_check,
	.idle = mdev_idle,
	/* ENOENT: the lookup of the compat IOAS */
	.errnos = NTH_ENOMEM | NTH_ENOENT,
};

TEST_F_TIMEOUT(mdev_fail_nth, group_get_device_fd, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->ctx, &mdev_get_device_fd);
}

TEST_HARNESS_MAIN
