// SPDX-License-Identifier: GPL-2.0-only
/*
 * A multi-device IOMMU group through VFIO, in every mode of vfio_edu_test:
 * two edu functions and an e1000 behind one PCIe-to-PCI bridge (QEMU), and
 * hot reset of that bus through the group fd and by iommufd device ID.
 *
 *  - While the e1000 has its kernel driver, no edu can be used from user
 *    space, and the kernel log names the e1000 and its driver.  Without it,
 *    both edus do DMA through one container, iommufd or IOAS.
 *  - Through the device cdevs, both edus share one HWPT of an IOAS; a
 *    second IOAS is refused for the group; attach and detach work in both
 *    orders, by IOAS ID and by HWPT ID.
 *  - A hot reset (secondary bus reset) clears an e1000 register; it needs
 *    every device on the bus to be owned by the caller: by group fds, or,
 *    with count 0, by the iommufd of a cdev.
 *
 * Every test gives each device back its driver and driver_override.  Only a
 * machine without such a group skips; a missing mode fails.
 *
 * A reset set that mixes a cdev-bound device with one opened through its
 * group (NOT_OWNED even on the same iommufd) needs two IOMMU groups behind
 * one resettable bus; QEMU's bridge gives one group, so it is not tested.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../kselftest_harness.h"
#include "edu.h"

#define MAX_EDUS	16
#define MAX_MEMBERS	16

#define IOVA_A		0x100000ULL
#define IOVA_B		0x200000ULL
#define CANARY		0xff
#define BACKGROUND	0x5a
#define FAULT_WAIT_MS	3000

/* e1000: BAR0 register that takes any value and that a reset clears */
#define E1000_RDBAL	0x2800
#define E1000_MAGIC	0x12345670

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static void fill_pattern(__u8 *p, size_t len, unsigned int seed)
{
	__u32 x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (__u8)(x % 251 + 1);
	}
}

static unsigned int new_seed(void)
{
	static unsigned int n;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned int)(ts.tv_nsec ^ getpid()) + 0x9e3779b9 * ++n;
}

static bool all_equal(const __u8 *p, size_t len, __u8 val)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != val)
			return false;
	return true;
}

/* The bridge group, what its members were bound to, and our fds. */
struct bridge_ctx {
	bool found;
	int group;
	char edu[2][EDU_BDF_LEN];
	char kdev[EDU_BDF_LEN];		/* the kernel-bound member */
	char kdrv[EDU_DRV_LEN];
	struct edu_drv_state state[MAX_MEMBERS];
	int n_state;
	bool iommufd_container;		/* /dev/vfio/vfio is an iommufd */
	struct edu_vfio v;
	struct edu_dev dev[2];
	__u32 dev_id[2];
	struct edu_dev kdev_fd;		/* the e1000 through VFIO */
	__u32 kdev_id;
	int kmsg_fd;
	__u8 *mem;
	size_t mem_len;
};

/* Discovery: the first group with two edus and a kernel-bound member. */
static void bridge_find(struct __test_metadata *_metadata,
			struct bridge_ctx *b, enum edu_mode mode)
{
	char members[MAX_MEMBERS][EDU_BDF_LEN];
	struct edu_pci edus[MAX_EDUS];
	char drv[EDU_DRV_LEN];
	int i, j, n, m, n_edu;

	memset(b, 0, sizeof(*b));
	edu_vfio_init(&b->v, mode, -1);
	b->dev[0].device_fd = -1;
	b->dev[1].device_fd = -1;
	b->kdev_fd.device_fd = -1;
	b->kmsg_fd = -1;
	b->mem = MAP_FAILED;

	n = edu_find_all(edus, MAX_EDUS);
	ASSERT_LE(0, n) TH_LOG("scanning sysfs for edu: %s", strerror(-n));
	for (i = 0; i < n && !b->found; i++) {
		if (edus[i].group_edus < 2)
			continue;
		b->group = edus[i].group;
		m = edu_group_devices(b->group, members, MAX_MEMBERS);
		ASSERT_LT(0, m);
		n_edu = 0;
		b->kdev[0] = '\0';
		b->n_state = 0;
		for (j = 0; j < m; j++) {
			if (edu_is_bridge(members[j]))
				continue;
			ASSERT_EQ(0, edu_save_state(members[j],
						    &b->state[b->n_state]));
			b->n_state++;
			ASSERT_EQ(0, edu_driver(members[j], drv, sizeof(drv)));
			if (edu_is_edu(members[j])) {
				if (n_edu < 2)
					strcpy(b->edu[n_edu++], members[j]);
			} else if (drv[0] && strcmp(drv, "vfio-pci") &&
				   !b->kdev[0]) {
				strcpy(b->kdev, members[j]);
				strcpy(b->kdrv, drv);
			}
		}
		b->found = n_edu == 2 && b->kdev[0];
	}
	b->v.group = b->group;
}

static void bridge_close_fds(struct bridge_ctx *b)
{
	edu_dev_close(&b->dev[0]);
	edu_dev_close(&b->dev[1]);
	edu_dev_close(&b->kdev_fd);
	edu_vfio_close(&b->v);
}

static void ctx_release(struct __test_metadata *_metadata,
			struct bridge_ctx *b)
{
	int i, ret;

	bridge_close_fds(b);
	if (b->mem != MAP_FAILED)
		munmap(b->mem, b->mem_len);
	if (b->kmsg_fd >= 0)
		close(b->kmsg_fd);
	/* Only EXPECT here: an ASSERT would jump back into the teardown. */
	for (i = 0; i < b->n_state; i++) {
		ret = edu_restore_state(&b->state[i]);
		if (ret)
			TH_LOG("cannot give %s back to \"%s\": %s",
			       b->state[i].bdf, b->state[i].drv, strerror(-ret));
		EXPECT_EQ(0, ret);
	}
}

#define NO_GROUP "no IOMMU group with two edu devices and a kernel-bound member"

/* Bind both edus (and, if @kdev_too, the e1000) to vfio-pci. */
static void to_vfio(struct __test_metadata *_metadata, struct bridge_ctx *b,
		    bool kdev_too)
{
	int i, ret;

	for (i = 0; i < 2; i++) {
		ret = edu_bind_vfio(b->edu[i]);
		ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to vfio-pci: %s",
					 b->edu[i], strerror(-ret));
	}
	if (kdev_too) {
		ret = edu_bind_vfio(b->kdev);
		ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to vfio-pci: %s",
					 b->kdev, strerror(-ret));
	}
	b->iommufd_container = edu_dev_vfio_is_iommufd();
}

static void unbind_kdev(struct __test_metadata *_metadata,
			struct bridge_ctx *b)
{
	int ret = edu_unbind(b->kdev);

	ASSERT_EQ(0, ret) TH_LOG("cannot unbind %s from %s: %s", b->kdev,
				 b->kdrv, strerror(-ret));
}

static void bridge_mem(struct __test_metadata *_metadata,
		       struct bridge_ctx *b, int pages)
{
	b->mem_len = pages * page_size();
	b->mem = mmap(NULL, b->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, b->mem);
}

/* RAM -> device -> RAM through @dev: from @iova to @iova + page size. */
static void round_trip(struct __test_metadata *_metadata, struct edu_dev *dev,
		       __u8 *va, __u64 iova)
{
	const __u32 count = EDU_DMA_MAX;
	size_t ps = page_size();

	fill_pattern(va, count, new_seed());
	memset(va + ps, CANARY, ps);
	ASSERT_EQ(0, edu_dma(dev, iova, EDU_BUF_ADDR, count, false));
	ASSERT_EQ(0, edu_dma(dev, EDU_BUF_ADDR, iova + ps, count, true));
	ASSERT_EQ(0, memcmp(va, va + ps, count));
	ASSERT_EQ(CANARY, va[ps + count]);
}

/* A device -> RAM transfer to @iova must not land. */
static void dma_lost(struct __test_metadata *_metadata, struct bridge_ctx *b,
		     int i, __u8 *va, __u64 iova)
{
	memset(va, BACKGROUND, page_size());
	ASSERT_EQ(0, edu_dma(&b->dev[i], EDU_BUF_ADDR, iova, 64, true));
	ASSERT_TRUE(all_equal(va, page_size(), BACKGROUND))
		TH_LOG("DMA of %s got through", b->edu[i]);
}

/* A device -> RAM transfer to @iova must not land and must be logged. */
static void blocked(struct __test_metadata *_metadata, struct bridge_ctx *b,
		    int i, __u8 *va, __u64 iova)
{
	char dev[64], addr[64], line[512], alias[16];
	int ret;

	dma_lost(_metadata, b, i, va, iova);
	/*
	 * Behind the PCIe-to-PCI bridge the edus DMA with the bridge's
	 * requester ID, device 00.0 of its secondary bus ("0000:01:02.0" ->
	 * "0000:01:00.0"): intel-iommu logs the fault under that ID.
	 */
	snprintf(alias, sizeof(alias), "%.8s00.0", b->edu[i]);
	edu_dmar_fault_text(alias, iova, dev, sizeof(dev), addr,
			    sizeof(addr));
	ret = edu_kmsg_wait(b->kmsg_fd, dev, addr, line, sizeof(line),
			    FAULT_WAIT_MS);
	ASSERT_EQ(1, ret) TH_LOG("no DMAR fault \"%s\" \"%s\" logged", dev,
				 addr);
}

/*
 * Wait for the ownership conflict report about @b's kernel-bound member.
 * @asked, if not NULL, is the device whose claim was refused: the same
 * line must name it.
 */
static void expect_conflict_log(struct __test_metadata *_metadata,
				struct bridge_ctx *b, const char *asked)
{
	char prefix[32], line[512];
	int ret;

	snprintf(prefix, sizeof(prefix), "iommu group %d: ", b->group);
	ret = edu_kmsg_wait(b->kmsg_fd, prefix, b->kdev, line, sizeof(line),
			    1000);
	ASSERT_EQ(1, ret) TH_LOG("no kernel log line with \"%s\" and %s",
				 prefix, b->kdev);
	TH_LOG("kernel: %s", line);
	ASSERT_NE(NULL, strstr(line, b->kdrv))
		TH_LOG("the line does not name the driver %s", b->kdrv);
	if (asked)
		ASSERT_NE(NULL, strstr(line, asked))
			TH_LOG("the line does not name %s", asked);
}

/*
 * The setup of @b's mode without edu_vfio_attach()'s viability check, so
 * that the kernel, not the test, refuses.
 */
static int setup_unchecked(struct bridge_ctx *b)
{
	struct edu_vfio *v = &b->v;
	char path[64];
	int fd, ret;

	if (v->mode == EDU_MODE_CDEV)
		return edu_vfio_setup(v);
	snprintf(path, sizeof(path), "/dev/vfio/%d", v->group);
	v->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->group_fd < 0)
		return -errno;
	if (v->mode == EDU_MODE_TYPE1) {
		v->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		fd = v->container_fd;
	} else {
		v->iommufd = edu_iommufd_open();
		fd = v->iommufd;
		if (v->mode == EDU_MODE_IOMMUFD_TYPE1)
			v->container_fd = fd;
	}
	if (fd < 0)
		return -errno;
	if (v->mode == EDU_MODE_GROUP_IOMMUFD) {
		ret = edu_ioas_alloc(fd, &v->ioas_id);
		if (!ret)
			ret = edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET,
					    &v->ioas_id);
		if (ret)
			return ret;
	}
	if (ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &fd))
		return -errno;
	if (edu_mode_type1(v->mode) &&
	    ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

FIXTURE(bridge) {
	struct bridge_ctx b;
};

FIXTURE_VARIANT(bridge) {
	enum edu_mode mode;
};

FIXTURE_VARIANT_ADD(bridge, type1) {
	.mode = EDU_MODE_TYPE1,
};

FIXTURE_VARIANT_ADD(bridge, group_iommufd) {
	.mode = EDU_MODE_GROUP_IOMMUFD,
};

FIXTURE_VARIANT_ADD(bridge, iommufd_type1) {
	.mode = EDU_MODE_IOMMUFD_TYPE1,
};

FIXTURE_VARIANT_ADD(bridge, cdev) {
	.mode = EDU_MODE_CDEV,
};

FIXTURE_SETUP(bridge)
{
	bridge_find(_metadata, &self->b, variant->mode);
}

FIXTURE_TEARDOWN(bridge)
{
	ctx_release(_metadata, &self->b);
}

/*
 * With the e1000 on its kernel driver, the group cannot be used from user
 * space: the legacy container refuses SET_CONTAINER, iommufd refuses the
 * device (GET_DEVICE_FD or BIND) with EPERM, and the log names the e1000
 * and its driver.  Without the driver both edus work, on one address
 * space (cdev: one HWPT).
 */
TEST_F_TIMEOUT(bridge, kernel_driver, 120)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct bridge_ctx *b = &self->b;
	enum edu_mode mode = variant->mode;
	size_t ps = page_size();
	bool legacy;
	__u32 hwpt[2];
	char path[128];
	int i, fd, ret;

	if (!b->found)
		SKIP(return, NO_GROUP);
	to_vfio(_metadata, b, false);
	legacy = mode == EDU_MODE_TYPE1 && !b->iommufd_container;
	b->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, b->kmsg_fd);

	if (mode == EDU_MODE_CDEV) {
		ASSERT_EQ(0, edu_vfio_setup(&b->v));
		for (i = 0; i < 2; i++) {
			fd = edu_cdev_open(b->edu[i]);
			ASSERT_LE(0, fd) TH_LOG("cdev of %s: %s", b->edu[i],
						strerror(-fd));
			b->dev[i].device_fd = fd;
			ASSERT_EQ(-EPERM, edu_cdev_bind(fd, b->v.iommufd, NULL));
			expect_conflict_log(_metadata, b, b->edu[i]);
			edu_dev_close(&b->dev[i]);
		}
	} else if (legacy) {
		ret = setup_unchecked(b);
		ASSERT_EQ(-EPERM, ret) TH_LOG("SET_CONTAINER: %s",
					      strerror(-ret));
		ASSERT_EQ(0, ioctl(b->v.group_fd, VFIO_GROUP_GET_STATUS,
				   &status));
		ASSERT_EQ(0, status.flags);
		expect_conflict_log(_metadata, b, NULL);
	} else {
		/* iommufd claims DMA ownership when a device is opened. */
		ret = setup_unchecked(b);
		ASSERT_EQ(0, ret) TH_LOG("%s: %s", edu_mode_name(mode),
					 strerror(-ret));
		ASSERT_EQ(0, ioctl(b->v.group_fd, VFIO_GROUP_GET_STATUS,
				   &status));
		ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE |
			  VFIO_GROUP_FLAGS_CONTAINER_SET, status.flags);
		for (i = 0; i < 2; i++) {
			ASSERT_EQ(-EPERM, edu_dev_open(&b->dev[i],
						       b->v.group_fd,
						       b->edu[i]));
			expect_conflict_log(_metadata, b, b->edu[i]);
		}
	}
	bridge_close_fds(b);

	/* Positive control: the e1000 unbound, both edus do DMA. */
	unbind_kdev(_metadata, b);
	edu_vfio_init(&b->v, mode, b->group);
	ret = edu_vfio_setup(&b->v);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", edu_mode_name(mode), strerror(-ret));
	bridge_mem(_metadata, b, 4);
	ASSERT_EQ(0, edu_vfio_map(&b->v, b->mem, IOVA_A, 2 * ps));
	ASSERT_EQ(0, edu_vfio_map(&b->v, b->mem + 2 * ps, IOVA_B, 2 * ps));
	for (i = 0; i < 2; i++) {
		if (mode == EDU_MODE_CDEV) {
			fd = edu_cdev_open(b->edu[i]);
			ASSERT_LE(0, fd);
			ASSERT_EQ(0, edu_cdev_bind(fd, b->v.iommufd,
						   &b->dev_id[i]));
			hwpt[i] = b->v.ioas_id;
			ASSERT_EQ(0, edu_cdev_attach(fd, &hwpt[i]));
			ASSERT_EQ(0, edu_dev_init(&b->dev[i], fd));
		} else {
			ASSERT_EQ(0, edu_dev_open(&b->dev[i], b->v.group_fd,
						  b->edu[i]));
		}
		ASSERT_EQ(0, edu_enable(&b->dev[i]));
	}
	if (mode == EDU_MODE_CDEV) {
		ASSERT_EQ(hwpt[0], hwpt[1]) TH_LOG("two domains for one group");
		ASSERT_NE(b->dev_id[0], b->dev_id[1]);
	}
	round_trip(_metadata, &b->dev[0], b->mem, IOVA_A);
	round_trip(_metadata, &b->dev[1], b->mem + 2 * ps, IOVA_B);
	/* One address space: each device reaches the other's mapping. */
	round_trip(_metadata, &b->dev[1], b->mem, IOVA_A);
	round_trip(_metadata, &b->dev[0], b->mem + 2 * ps, IOVA_B);

	/* While user space has the group, the e1000 driver cannot bind. */
	snprintf(path, sizeof(path), EDU_SYSFS_PCI "/drivers/%s/bind",
		 b->kdrv);
	ASSERT_NE(0, edu_sysfs_write(path, b->kdev));
}

FIXTURE(bridge_cdev) {
	struct bridge_ctx b;
};

FIXTURE_SETUP(bridge_cdev)
{
	bridge_find(_metadata, &self->b, EDU_MODE_CDEV);
}

FIXTURE_TEARDOWN(bridge_cdev)
{
	ctx_release(_metadata, &self->b);
}

/* Both edus bound through their cdevs, nothing attached. */
static void cdev_bind_both(struct __test_metadata *_metadata,
			   struct bridge_ctx *b)
{
	int i, fd;

	to_vfio(_metadata, b, false);
	unbind_kdev(_metadata, b);
	ASSERT_EQ(0, edu_vfio_setup(&b->v));
	for (i = 0; i < 2; i++) {
		fd = edu_cdev_open(b->edu[i]);
		ASSERT_LE(0, fd) TH_LOG("cdev of %s: %s", b->edu[i],
					strerror(-fd));
		ASSERT_EQ(0, edu_cdev_bind(fd, b->v.iommufd, &b->dev_id[i]));
		ASSERT_EQ(0, edu_dev_init(&b->dev[i], fd));
		ASSERT_EQ(0, edu_enable(&b->dev[i]));
	}
	bridge_mem(_metadata, b, 4);
	b->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, b->kmsg_fd);
}

/* One group, one domain: a second IOAS is refused while the first is in use. */
TEST_F_TIMEOUT(bridge_cdev, two_ioas, 120)
{
	struct bridge_ctx *b = &self->b;
	size_t ps = page_size();
	__u32 ioas2 = 0, pt0, pt1;

	if (!b->found)
		SKIP(return, NO_GROUP);
	cdev_bind_both(_metadata, b);
	ASSERT_EQ(0, edu_ioas_alloc(b->v.iommufd, &ioas2));
	ASSERT_EQ(0, edu_ioas_map(b->v.iommufd, b->v.ioas_id, b->mem, IOVA_A,
				  2 * ps));
	ASSERT_EQ(0, edu_ioas_map(b->v.iommufd, ioas2, b->mem + 2 * ps,
				  IOVA_A, 2 * ps));

	pt0 = b->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[0].device_fd, &pt0));
	pt1 = ioas2;
	ASSERT_EQ(-EINVAL, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	/*
	 * Nothing changed: the group stays on edu 0's domain.  Translation
	 * is per group (the iommu core attaches the whole group to a domain),
	 * so edu 1, bound to the same context, reaches the first IOAS too,
	 * not the second.
	 */
	round_trip(_metadata, &b->dev[0], b->mem, IOVA_A);
	round_trip(_metadata, &b->dev[1], b->mem, IOVA_A);

	pt1 = b->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	ASSERT_EQ(pt0, pt1);
	round_trip(_metadata, &b->dev[1], b->mem, IOVA_A);

	/* Attached already: naming the group's own IOAS replaces nothing. */
	pt1 = b->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	ASSERT_EQ(pt0, pt1);
	/* Detached, edu 1 still cannot leave while edu 0 is attached, ... */
	ASSERT_EQ(0, edu_cdev_detach(b->dev[1].device_fd));
	pt1 = ioas2;
	ASSERT_EQ(-EINVAL, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	/* ... once edu 0 is detached too (its HWPT is gone) it can. */
	ASSERT_EQ(0, edu_cdev_detach(b->dev[0].device_fd));
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(b->v.iommufd, pt0));
	pt1 = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	round_trip(_metadata, &b->dev[1], b->mem + 2 * ps, IOVA_A);
}

/*
 * Attach both edus, by IOAS ID or by the HWPT ID the first got, and
 * detach them in both orders: the remaining device keeps working, the
 * group is blocked after the last detach, and the HWPT goes with the last
 * device (upstream once listed an HWPT attached by ID twice,
 * CVE-2023-54043).
 */
TEST_F_TIMEOUT(bridge_cdev, attach_detach_orders, 120)
{
	struct bridge_ctx *b = &self->b;
	size_t ps = page_size();
	__u32 pt[2];
	int round, first, by_hwpt;

	if (!b->found)
		SKIP(return, NO_GROUP);
	cdev_bind_both(_metadata, b);
	ASSERT_EQ(0, edu_ioas_map(b->v.iommufd, b->v.ioas_id, b->mem, IOVA_A,
				  2 * ps));
	ASSERT_EQ(0, edu_ioas_map(b->v.iommufd, b->v.ioas_id, b->mem + 2 * ps,
				  IOVA_B, 2 * ps));

	for (round = 0; round < 4; round++) {
		first = round & 1;
		by_hwpt = round >> 1;

		pt[first] = b->v.ioas_id;
		ASSERT_EQ(0, edu_cdev_attach(b->dev[first].device_fd,
					     &pt[first]));
		pt[!first] = by_hwpt ? pt[first] : b->v.ioas_id;
		ASSERT_EQ(0, edu_cdev_attach(b->dev[!first].device_fd,
					     &pt[!first]));
		ASSERT_EQ(pt[first], pt[!first]);
		/* A second ATTACH to the same HWPT replaces nothing. */
		ASSERT_EQ(0, edu_cdev_attach(b->dev[first].device_fd,
					     &pt[first]));
		ASSERT_EQ(pt[!first], pt[first]);
		round_trip(_metadata, &b->dev[0], b->mem, IOVA_A);
		round_trip(_metadata, &b->dev[1], b->mem + 2 * ps, IOVA_B);

		/*
		 * Detach the first attached: the group stays on the domain
		 * for the other one, which keeps working, and the HWPT stays.
		 */
		ASSERT_EQ(0, edu_cdev_detach(b->dev[first].device_fd));
		round_trip(_metadata, &b->dev[!first], b->mem + 2 * ps,
			   IOVA_B);
		ASSERT_EQ(-EBUSY, edu_iommufd_destroy(b->v.iommufd, pt[0]));
		/* The group's last device: both are blocked, the HWPT goes. */
		ASSERT_EQ(0, edu_cdev_detach(b->dev[!first].device_fd));
		/*
		 * intel-iommu rate-limits its fault reports (DEFAULT_RATELIMIT
		 * burst, two per fault, per 5 s): let the window pass so that
		 * this round's fault is logged; only the lost DMA is checked
		 * for the other device.
		 */
		if (round)
			sleep(6);
		blocked(_metadata, b, !first, b->mem + 3 * ps, IOVA_B + ps);
		dma_lost(_metadata, b, first, b->mem + ps, IOVA_A + ps);
		ASSERT_EQ(-ENOENT, edu_iommufd_destroy(b->v.iommufd, pt[0]))
			TH_LOG("round %d: the HWPT outlived its devices", round);
	}
}

/*
 * Replace across the multi-device group: a second ATTACH of one edu moves
 * the whole group, both edus, to the page table of the other IOAS (their
 * transfers land through its mapping), then back by the other edu; the
 * automatic HWPT left behind is destroyed each time.  Either detaches as
 * usual afterwards, and the group's DMA is blocked after the last.
 */
TEST_F_TIMEOUT(bridge_cdev, replace_group, 120)
{
	struct bridge_ctx *b = &self->b;
	size_t ps = page_size();
	__u32 ioas2 = 0, pt0, pt1, pt;

	if (!b->found)
		SKIP(return, NO_GROUP);
	cdev_bind_both(_metadata, b);
	ASSERT_EQ(0, edu_ioas_alloc(b->v.iommufd, &ioas2));
	ASSERT_EQ(0, edu_ioas_map(b->v.iommufd, b->v.ioas_id, b->mem, IOVA_A,
				  2 * ps));
	ASSERT_EQ(0, edu_ioas_map(b->v.iommufd, ioas2, b->mem + 2 * ps,
				  IOVA_A, 2 * ps));

	pt0 = b->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[0].device_fd, &pt0));
	pt1 = pt0;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	round_trip(_metadata, &b->dev[0], b->mem, IOVA_A);
	round_trip(_metadata, &b->dev[1], b->mem, IOVA_A);

	/* edu 0 moves the group: both edus now reach the second IOAS */
	pt = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[0].device_fd, &pt));
	ASSERT_NE(pt0, pt);
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(b->v.iommufd, pt0));
	round_trip(_metadata, &b->dev[0], b->mem + 2 * ps, IOVA_A);
	round_trip(_metadata, &b->dev[1], b->mem + 2 * ps, IOVA_A);
	/* edu 1 is attached to the new HWPT: naming it changes nothing */
	pt1 = pt;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	ASSERT_EQ(pt, pt1);
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(b->v.iommufd, pt));

	/* edu 1 moves it back */
	pt1 = b->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(b->dev[1].device_fd, &pt1));
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(b->v.iommufd, pt));
	round_trip(_metadata, &b->dev[0], b->mem, IOVA_A);
	round_trip(_metadata, &b->dev[1], b->mem, IOVA_A);

	/* Detach as usual: edu 1 keeps working, then the group is blocked */
	ASSERT_EQ(0, edu_cdev_detach(b->dev[0].device_fd));
	round_trip(_metadata, &b->dev[1], b->mem, IOVA_A);
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(b->v.iommufd, pt1));
	ASSERT_EQ(0, edu_cdev_detach(b->dev[1].device_fd));
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(b->v.iommufd, pt1));
	dma_lost(_metadata, b, 1, b->mem + ps, IOVA_A + ps);
	dma_lost(_metadata, b, 0, b->mem + ps, IOVA_A + ps);
	dma_lost(_metadata, b, 0, b->mem + 3 * ps, IOVA_A + ps);
	ASSERT_EQ(0, edu_iommufd_destroy(b->v.iommufd, ioas2));
}

/*
 * Hot reset of the bridge's bus, through the group fd or by iommufd
 * device ID.
 */
FIXTURE(bridge_reset) {
	struct bridge_ctx b;
};

FIXTURE_VARIANT(bridge_reset) {
	enum edu_mode mode;
};

FIXTURE_VARIANT_ADD(bridge_reset, group) {
	.mode = EDU_MODE_TYPE1,
};

FIXTURE_VARIANT_ADD(bridge_reset, cdev) {
	.mode = EDU_MODE_CDEV,
};

FIXTURE_SETUP(bridge_reset)
{
	bridge_find(_metadata, &self->b, variant->mode);
}

FIXTURE_TEARDOWN(bridge_reset)
{
	ctx_release(_metadata, &self->b);
}

/* Open @bdf in the mode of @b: from the group, or bound through its cdev. */
static int open_any(struct bridge_ctx *b, struct edu_dev *dev,
		    const char *bdf, __u32 *dev_id)
{
	int fd, ret;

	if (b->v.mode != EDU_MODE_CDEV)
		return edu_dev_open(dev, b->v.group_fd, bdf);
	fd = edu_cdev_open(bdf);
	if (fd < 0)
		return fd;
	ret = edu_cdev_bind(fd, b->v.iommufd, dev_id);
	if (ret) {
		close(fd);
		return ret;
	}
	return edu_dev_init(dev, fd);
}

/* Let the e1000 decode its BAR0. */
static int kdev_enable_mem(struct edu_dev *dev)
{
	__u16 cmd;

	if (pread(dev->device_fd, &cmd, sizeof(cmd), dev->cfg + PCI_COMMAND) !=
	    sizeof(cmd))
		return -EIO;
	cmd |= PCI_COMMAND_MEMORY;
	if (pwrite(dev->device_fd, &cmd, sizeof(cmd), dev->cfg + PCI_COMMAND) !=
	    sizeof(cmd))
		return -EIO;
	return 0;
}

struct reset_info {
	struct vfio_pci_hot_reset_info hdr;
	struct vfio_pci_dependent_device devs[MAX_MEMBERS];
};

static int hot_reset_info(int fd, struct reset_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->hdr.argsz = sizeof(*ri);
	return ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, ri) ? -errno : 0;
}

static int hot_reset(int fd, __u32 flags, int count, const int *fds)
{
	struct {
		struct vfio_pci_hot_reset hdr;
		__s32 fds[4];
	} r = { .hdr = { .argsz = sizeof(r), .flags = flags, .count = count } };

	memcpy(r.fds, fds, count * sizeof(*fds));
	return ioctl(fd, VFIO_DEVICE_PCI_HOT_RESET, &r) ? -errno : 0;
}

/* The entry of @ri for @bdf ("0000:01:03.0"), or NULL. */
static struct vfio_pci_dependent_device *
info_entry(struct reset_info *ri, const char *bdf)
{
	unsigned int seg, bus, slot, fn, i;

	if (sscanf(bdf, "%x:%x:%x.%x", &seg, &bus, &slot, &fn) != 4)
		return NULL;
	for (i = 0; i < ri->hdr.count && i < MAX_MEMBERS; i++)
		if (ri->devs[i].segment == seg && ri->devs[i].bus == bus &&
		    ri->devs[i].devfn == (slot << 3 | fn))
			return &ri->devs[i];
	return NULL;
}

/*
 * Every device on the bus owned (all three on vfio-pci): the reset works,
 * and clears an e1000 register.  Group fd: needs the group fd, count 0 is
 * EINVAL.  cdev: INFO reports device IDs (or OWNED for a device of the
 * owned group that is not bound), RESET needs count 0, a group fd is
 * EINVAL.
 */
TEST_F_TIMEOUT(bridge_reset, owned, 120)
{
	struct bridge_ctx *b = &self->b;
	struct vfio_pci_dependent_device *e;
	bool cdev = variant->mode == EDU_MODE_CDEV;
	struct reset_info ri;
	size_t ps = page_size();
	int fd0, ret;
	__u32 val, pt;

	if (!b->found)
		SKIP(return, NO_GROUP);
	to_vfio(_metadata, b, true);
	ret = edu_vfio_setup(&b->v);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", edu_mode_name(b->v.mode),
				 strerror(-ret));
	ASSERT_EQ(0, open_any(b, &b->dev[0], b->edu[0], &b->dev_id[0]));
	fd0 = b->dev[0].device_fd;

	/* Too small for the list: ENOSPC and the count needed. */
	memset(&ri, 0, sizeof(ri));
	ri.hdr.argsz = sizeof(ri.hdr);
	ASSERT_EQ(-1, ioctl(fd0, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &ri));
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(3, ri.hdr.count);

	ASSERT_EQ(0, hot_reset_info(fd0, &ri));
	ASSERT_EQ(3, ri.hdr.count);
	if (cdev) {
		/* Only edu 0 bound: the others are OWNED through the group. */
		ASSERT_EQ(VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
			  VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, ri.hdr.flags);
		e = info_entry(&ri, b->edu[0]);
		ASSERT_NE(NULL, e);
		ASSERT_EQ(b->dev_id[0], e->devid);
		e = info_entry(&ri, b->edu[1]);
		ASSERT_NE(NULL, e);
		ASSERT_EQ(VFIO_PCI_DEVID_OWNED, e->devid);
		e = info_entry(&ri, b->kdev);
		ASSERT_NE(NULL, e);
		ASSERT_EQ(VFIO_PCI_DEVID_OWNED, e->devid);
	} else {
		ASSERT_EQ(0, ri.hdr.flags);
		ASSERT_EQ(b->group, ri.devs[0].group_id);
		ASSERT_EQ(b->group, ri.devs[1].group_id);
		ASSERT_EQ(b->group, ri.devs[2].group_id);
		ASSERT_NE(NULL, info_entry(&ri, b->kdev));
	}

	ASSERT_EQ(0, open_any(b, &b->dev[1], b->edu[1], &b->dev_id[1]));
	ASSERT_EQ(0, open_any(b, &b->kdev_fd, b->kdev, &b->kdev_id));
	if (cdev) {
		ASSERT_EQ(0, hot_reset_info(fd0, &ri));
		ASSERT_EQ(VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
			  VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, ri.hdr.flags);
		ASSERT_EQ(b->dev_id[1], info_entry(&ri, b->edu[1])->devid);
		ASSERT_EQ(b->kdev_id, info_entry(&ri, b->kdev)->devid);
		pt = b->v.ioas_id;
		ASSERT_EQ(0, edu_cdev_attach(fd0, &pt));
	}

	/* Wrong combinations: EINVAL, before anything is reset. */
	ASSERT_EQ(0, kdev_enable_mem(&b->kdev_fd));
	ASSERT_EQ(0, edu_wr32(&b->kdev_fd, E1000_RDBAL, E1000_MAGIC));
	ASSERT_EQ(0, edu_rd32(&b->kdev_fd, E1000_RDBAL, &val));
	ASSERT_EQ(E1000_MAGIC, val);
	/* A group fd for a cdev device, count 0 for a group device */
	ASSERT_EQ(-EINVAL, cdev ? hot_reset(fd0, 0, 1, &b->v.iommufd) :
				  hot_reset(fd0, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, hot_reset(fd0, 1, cdev ? 0 : 1, &b->v.group_fd));
	ASSERT_EQ(0, edu_rd32(&b->kdev_fd, E1000_RDBAL, &val));
	ASSERT_EQ(E1000_MAGIC, val) TH_LOG("the bus was reset by a refused request");

	/* The reset. */
	ret = hot_reset(fd0, 0, cdev ? 0 : 1, &b->v.group_fd);
	ASSERT_EQ(0, ret) TH_LOG("hot reset: %s", strerror(-ret));
	ASSERT_EQ(0, edu_rd32(&b->kdev_fd, E1000_RDBAL, &val));
	ASSERT_EQ(0, val) TH_LOG("e1000 RDBAL survived the reset");

	/* The edu still works afterwards. */
	bridge_mem(_metadata, b, 2);
	ASSERT_EQ(0, edu_vfio_map(&b->v, b->mem, IOVA_A, 2 * ps));
	ASSERT_EQ(0, edu_enable(&b->dev[0]));
	round_trip(_metadata, &b->dev[0], b->mem, IOVA_A);
}

/*
 * The e1000 without any driver: it is on the bus but not owned, so the
 * reset is refused (cdev: INFO says NOT_OWNED for it and no DEV_ID_OWNED).
 */
TEST_F_TIMEOUT(bridge_reset, not_owned, 60)
{
	struct bridge_ctx *b = &self->b;
	bool cdev = variant->mode == EDU_MODE_CDEV;
	struct reset_info ri;
	int fd0, ret;

	if (!b->found)
		SKIP(return, NO_GROUP);
	to_vfio(_metadata, b, false);
	unbind_kdev(_metadata, b);
	ret = edu_vfio_setup(&b->v);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", edu_mode_name(b->v.mode),
				 strerror(-ret));
	ASSERT_EQ(0, open_any(b, &b->dev[0], b->edu[0], &b->dev_id[0]));
	ASSERT_EQ(0, open_any(b, &b->dev[1], b->edu[1], &b->dev_id[1]));
	fd0 = b->dev[0].device_fd;

	ASSERT_EQ(0, hot_reset_info(fd0, &ri));
	ASSERT_EQ(3, ri.hdr.count);
	if (cdev) {
		ASSERT_EQ(VFIO_PCI_HOT_RESET_FLAG_DEV_ID, ri.hdr.flags);
		ASSERT_EQ(b->dev_id[0], info_entry(&ri, b->edu[0])->devid);
		ASSERT_EQ(b->dev_id[1], info_entry(&ri, b->edu[1])->devid);
		ASSERT_EQ((__u32)VFIO_PCI_DEVID_NOT_OWNED,
			  info_entry(&ri, b->kdev)->devid);
		ASSERT_EQ(-EINVAL, hot_reset(fd0, 0, 0, NULL));
	} else {
		ASSERT_EQ(0, ri.hdr.flags);
		ASSERT_EQ(b->group, info_entry(&ri, b->kdev)->group_id);
		ASSERT_EQ(-EINVAL, hot_reset(fd0, 0, 1, &b->v.group_fd));
	}
}

TEST_HARNESS_MAIN
