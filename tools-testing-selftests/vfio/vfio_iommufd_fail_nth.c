// SPDX-License-Identifier: GPL-2.0-only
/*
 * Error unwinding of VFIO on iommufd under fault injection, on a real
 * device (QEMU's edu, alone in its IOMMU group, bound to vfio-pci).
 *
 * For one ioctl at a time: build the state it needs, make the Nth fault
 * point of this thread fail (/proc/self/task/<tid>/fail-nth: slab, page
 * allocator and iommufd's fail_iommufd), call it, and check that a failed
 * call left everything as it was - the group's container, the device's
 * binding, the DMA ownership of the group, the mappings - by making the
 * same call again without fault injection, which must succeed.  N grows
 * until the call no longer reaches an Nth fault point.  The kernel log is
 * checked for WARN, BUG, KASAN and lockdep reports outside of this
 * program.
 *
 * Only calls that do not open the device are injected: opening it runs
 * vfio-pci's open_device(), which enables the PCI device through ACPI, and
 * 6.1's ACPI interpreter does not survive allocation failures (a
 * use-after-free in its error paths).  Binding and attaching at open are
 * checked with errors user space can cause instead (a kernel driver in the
 * group, a destroyed compat IOAS), by the functional tests.
 *
 * Upstream's first VFIO_GROUP_SET_CONTAINER with an iommufd put the wrong
 * context when it failed (a NULL pointer): set_container_iommufd catches
 * that.
 */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/iommufd.h>

#include "../kselftest_harness.h"
#include "edu.h"

#define MAX_NTH 2000
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

/* The state one iteration works on */
struct nth_ctx {
	struct edu_pci *edu;
	char *mem;
	int iommufd;
	int group_fd;
	int device_fd;
	__u32 ioas_id;
	__u32 devid;
};

struct nth_case {
	const char *name;
	/* Build the state; runs without fault injection */
	void (*setup)(struct __test_metadata *_metadata, struct nth_ctx *c);
	/* The call under test: one ioctl; 0 or -1 with errno */
	int (*call)(struct nth_ctx *c);
	/* After a failed call (@rc != 0) or a successful one: check */
	void (*check)(struct __test_metadata *_metadata, struct nth_ctx *c,
		      int rc);
};

static int write_file(const char *path, const char *val)
{
	return edu_sysfs_write(path, val);
}

FIXTURE(vfio_fail_nth) {
	int proc_fd;
	struct edu_pci edu;
	char *mem;
};

FIXTURE_SETUP(vfio_fail_nth)
{
	struct edu_pci edus[16];
	char path[64];
	unsigned int i;
	int n, ret;

	self->proc_fd = -1;
	self->mem = MAP_FAILED;
	n = edu_find_all(edus, 16);
	ASSERT_LE(0, n);
	for (i = 0; i < (unsigned int)n; i++)
		if (edus[i].group_devs == 1)
			break;
	ASSERT_GT(n, (int)i) TH_LOG("no edu device alone in its IOMMU group");
	self->edu = edus[i];
	ret = edu_bind_vfio(self->edu.bdf);
	ASSERT_EQ(0, ret) TH_LOG("binding to vfio-pci: %s", strerror(-ret));

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	self->proc_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->proc_fd) TH_LOG("no %s", path);
	for (i = 0; i < ARRAY_SIZE(fault_knobs); i++) {
		const char *knob = fault_knobs[i].path;

		ret = write_file(knob, fault_knobs[i].val);
		ASSERT_EQ(0, ret) TH_LOG("cannot write %s: %s", knob,
					 strerror(-ret));
	}

	/* Optional: fail-nth reaches fail_iommufd without its debugfs dir */
	write_file("/sys/kernel/debug/fail_iommufd/verbose", "0");

	self->mem = mmap(NULL, NTH_PAGES * 4096, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	memset(self->mem, 0, NTH_PAGES * 4096);
}

FIXTURE_TEARDOWN(vfio_fail_nth)
{
	if (self->proc_fd >= 0) {
		EXPECT_EQ(1, pwrite(self->proc_fd, "0", 1, 0));
		close(self->proc_fd);
	}
	if (self->mem != MAP_FAILED)
		munmap(self->mem, NTH_PAGES * 4096);
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

/* The group is back to the kernel: no claim left behind */
static void check_unowned(struct __test_metadata *_metadata, int group)
{
	char owner[64];
	int ret;

	ret = edu_group_dma_owner(group, owner, sizeof(owner));
	ASSERT_EQ(0, ret);
	ASSERT_STREQ("none", owner);
}

static void run_fail_nth(struct __test_metadata *_metadata, int proc_fd,
			 struct edu_pci *edu, char *mem,
			 const struct nth_case *tc)
{
	unsigned int n, failed = 0;
	long remaining;
	int rc, err;

	for (n = 1; n <= MAX_NTH; n++) {
		struct nth_ctx c = {
			.edu = edu,
			.mem = mem,
			.iommufd = -1,
			.group_fd = -1,
			.device_fd = -1,
		};

		tc->setup(_metadata, &c);

		ASSERT_EQ(0, fail_nth_set(proc_fd, n));
		rc = tc->call(&c);
		err = errno;
		remaining = fail_nth_get(proc_fd);
		ASSERT_EQ(0, fail_nth_set(proc_fd, 0));
		ASSERT_LE(0, remaining);

		if (rc) {
			failed++;
			/* A failure needs a reason: an injected fault */
			ASSERT_EQ(0, remaining)
				TH_LOG("%s: failed with %s without a fault",
				       tc->name, strerror(err));
		}
		errno = err;
		tc->check(_metadata, &c, rc);
		close_ctx(&c);
		check_unowned(_metadata, edu->group);

		if (remaining)
			break;
	}
	TH_LOG("%s: %u fault points, %u failed calls", tc->name, n - 1,
	       failed);
	ASSERT_GE(MAX_NTH, n);
	ASSERT_LT(0, failed);
}

static void open_iommufd_group(struct __test_metadata *_metadata,
			       struct nth_ctx *c)
{
	char path[64];

	c->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->iommufd);
	snprintf(path, sizeof(path), "/dev/vfio/%d", c->edu->group);
	c->group_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->group_fd);
}

static int set_container(struct nth_ctx *c)
{
	return ioctl(c->group_fd, VFIO_GROUP_SET_CONTAINER, &c->iommufd);
}

static int get_device_fd(struct nth_ctx *c)
{
	c->device_fd = ioctl(c->group_fd, VFIO_GROUP_GET_DEVICE_FD,
			     c->edu->bdf);
	return c->device_fd < 0 ? -1 : 0;
}

static void check_device_fd(struct __test_metadata *_metadata,
			    struct nth_ctx *c)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_LE(0, c->device_fd);
	ASSERT_EQ(0, ioctl(c->device_fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_NE(0, info.flags & VFIO_DEVICE_FLAGS_PCI);
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
		ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, status.flags);
		/* Nothing half made: no compat IOAS */
		ASSERT_EQ(-1, ioctl(c->iommufd, IOMMU_VFIO_IOAS, &vioas));
		ASSERT_EQ(ENODEV, errno);
		ASSERT_EQ(0, set_container(c));
	} else {
		ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE |
			  VFIO_GROUP_FLAGS_CONTAINER_SET, status.flags);
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
};

TEST_F_TIMEOUT(vfio_fail_nth, set_container_iommufd, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->edu, self->mem,
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
		ASSERT_EQ(0, c->devid);
		/* Nothing is gone, whatever cuts were made */
		ASSERT_EQ(0, edu_unmap(c->iommufd, NTH_IOVA + 4096, 2 * 4096,
				       &unmapped));
		ASSERT_EQ(2 * 4096, unmapped);
	} else {
		ASSERT_EQ(2 * 4096, c->devid);
	}
	/* The two outer pages are whole mappings of their own now */
	ASSERT_EQ(0, edu_unmap(c->iommufd, NTH_IOVA, 4096, &unmapped));
	ASSERT_EQ(4096, unmapped);
	ASSERT_EQ(0, edu_unmap(c->iommufd, NTH_IOVA + 3 * 4096, 4096,
			       &unmapped));
	ASSERT_EQ(4096, unmapped);
	ASSERT_EQ(0, edu_unmap(c->iommufd, 0, 1ULL << 28, &unmapped));
	ASSERT_EQ(0, unmapped);
}

static const struct nth_case unmap_v1 = {
	.name = "unmap_v1",
	.setup = unmap_v1_setup,
	.call = unmap_v1_call,
	.check = unmap_v1_check,
};

TEST_F_TIMEOUT(vfio_fail_nth, unmap_v1, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->edu, self->mem,
		     &unmap_v1);
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
	ASSERT_EQ(rc ? 0 : NTH_PAGES * 4096, unmapped);
	ASSERT_EQ(0, map_dma_call(c));
}

static const struct nth_case map_dma = {
	.name = "map_dma",
	.setup = map_dma_setup,
	.call = map_dma_call,
	.check = map_dma_check,
};

TEST_F_TIMEOUT(vfio_fail_nth, map_dma, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->edu, self->mem,
		     &map_dma);
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
};

TEST_F_TIMEOUT(vfio_fail_nth, get_info, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->edu, self->mem,
		     &get_info);
}

/* The device cdev: VFIO_DEVICE_BIND_IOMMUFD and ATTACH_IOMMUFD_PT */
static void cdev_open(struct __test_metadata *_metadata, struct nth_ctx *c)
{
	char dir[128], path[96];
	struct dirent *de;
	DIR *d;

	c->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->iommufd);
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
};

TEST_F_TIMEOUT(vfio_fail_nth, cdev_attach, 600)
{
	run_fail_nth(_metadata, self->proc_fd, &self->edu, self->mem,
		     &cdev_attach_case);
}

TEST_HARNESS_MAIN
