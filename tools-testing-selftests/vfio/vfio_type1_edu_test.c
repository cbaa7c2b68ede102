// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO type1 tests driving QEMU's "edu" PCI device.
 *
 * The edu device can copy between memory and an internal buffer by DMA,
 * which makes the IOMMU mappings visible: data arrives only where the
 * container mapped it.  Tests skip when the needed edu topology is absent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../kselftest_harness.h"
#include "edu.h"

#define MAX_EDUS	16
#define MAX_MEMBERS	16

#define IOVA_A		0x100000ULL
#define IOVA_B		0x200000ULL
#define CANARY		0xff	/* never produced by fill_pattern() */
#define BACKGROUND	0x5a

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Pseudo-random bytes in 1..251 (xorshift32): never 0 (what a fresh device
 * buffer holds) and never CANARY.
 */
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

/* A per-run seed, so stale data left in the device buffer cannot match. */
static unsigned int new_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned int)(ts.tv_nsec ^ getpid());
}

static bool all_equal(const __u8 *p, size_t len, __u8 val)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != val)
			return false;
	return true;
}

/* State shared by the fixtures that use one edu alone in its group. */
struct edu_ctx {
	struct edu_pci pci;
	bool found;
	int container_fd;
	int group_fd;
	struct edu_dev dev;
	void *mem;
	size_t mem_len;
};

static void ctx_init(struct edu_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->container_fd = -1;
	c->group_fd = -1;
	c->dev.device_fd = -1;
	c->mem = MAP_FAILED;
}

/* Find an edu alone in its IOMMU group, bind it, open container + group. */
static void ctx_open_single(struct __test_metadata *_metadata,
			    struct edu_ctx *c)
{
	struct edu_pci edus[MAX_EDUS];
	int i, n, ret;

	ctx_init(c);
	n = edu_find_all(edus, MAX_EDUS);
	ASSERT_LE(0, n) TH_LOG("scanning sysfs for edu: %s", strerror(-n));
	for (i = 0; i < n; i++) {
		if (edus[i].group_devs == 1) {
			c->pci = edus[i];
			c->found = true;
			break;
		}
	}
	if (!c->found)
		return;

	ret = edu_bind_vfio(c->pci.bdf);
	ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to vfio-pci: %s",
				 c->pci.bdf, strerror(-ret));
	ret = edu_vfio_open(c->pci.group, &c->container_fd, &c->group_fd);
	ASSERT_EQ(0, ret) TH_LOG("cannot open the container or group %d: %s",
				 c->pci.group, strerror(-ret));
}

/* Attach the group, open the device, enable it, map @pages pages. */
static void ctx_attach(struct __test_metadata *_metadata, struct edu_ctx *c,
		       int pages)
{
	int ret;

	ret = edu_vfio_attach(c->container_fd, c->group_fd);
	ASSERT_EQ(0, ret) TH_LOG("attach group %d: %s", c->pci.group,
				 strerror(-ret));
	ret = edu_dev_open(&c->dev, c->group_fd, c->pci.bdf);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", c->pci.bdf, strerror(-ret));
	ASSERT_EQ(0, edu_enable(&c->dev));

	if (!pages)
		return;
	c->mem_len = pages * page_size();
	c->mem = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->mem);
}

static void ctx_close(struct edu_ctx *c)
{
	edu_dev_close(&c->dev);
	if (c->group_fd >= 0)
		close(c->group_fd);
	if (c->container_fd >= 0)
		close(c->container_fd);
	if (c->mem != MAP_FAILED)
		munmap(c->mem, c->mem_len);
	c->group_fd = -1;
	c->container_fd = -1;
	c->mem = MAP_FAILED;
}

FIXTURE(single_edu) {
	struct edu_ctx c;
};

FIXTURE_SETUP(single_edu)
{
	ctx_open_single(_metadata, &self->c);
}

FIXTURE_TEARDOWN(single_edu)
{
	ctx_close(&self->c);
}

/* Container API, group viability, device info, BAR0 and registers. */
TEST_F(single_edu, open_device)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info bar0, cfg;
	struct edu_ctx *c = &self->c;
	__u32 val, ids;
	__u16 cmd;
	int fd;

	if (!c->found)
		SKIP(return, "no edu device alone in its IOMMU group");

	ASSERT_EQ(VFIO_API_VERSION,
		  ioctl(c->container_fd, VFIO_GET_API_VERSION));
	ASSERT_EQ(1, ioctl(c->container_fd, VFIO_CHECK_EXTENSION,
			   VFIO_TYPE1v2_IOMMU));

	ASSERT_EQ(0, ioctl(c->group_fd, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, status.flags);

	ASSERT_EQ(0, ioctl(c->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &c->container_fd));
	ASSERT_EQ(0, ioctl(c->group_fd, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET,
		  status.flags);
	ASSERT_EQ(0, ioctl(c->container_fd, VFIO_SET_IOMMU,
			   VFIO_TYPE1v2_IOMMU));

	fd = ioctl(c->group_fd, VFIO_GROUP_GET_DEVICE_FD, c->pci.bdf);
	ASSERT_LE(0, fd) TH_LOG("GET_DEVICE_FD %s: %s", c->pci.bdf,
				strerror(errno));
	c->dev.device_fd = fd;

	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	ASSERT_LT(VFIO_PCI_CONFIG_REGION_INDEX, info.num_regions);

	ASSERT_EQ(0, edu_region(fd, VFIO_PCI_BAR0_REGION_INDEX, &bar0));
	ASSERT_EQ(EDU_BAR0_SIZE, bar0.size);
	ASSERT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		  bar0.flags & (VFIO_REGION_INFO_FLAG_READ |
				VFIO_REGION_INFO_FLAG_WRITE));
	ASSERT_EQ(0, edu_region(fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg));
	c->dev.bar0 = bar0.offset;
	c->dev.bar0_size = bar0.size;
	c->dev.cfg = cfg.offset;

	ASSERT_EQ(sizeof(ids), pread(fd, &ids, sizeof(ids),
				     cfg.offset + PCI_VENDOR_ID));
	ASSERT_EQ(EDU_DEVICE_ID << 16 | EDU_VENDOR_ID, ids);

	ASSERT_EQ(0, edu_enable(&c->dev));
	ASSERT_EQ(sizeof(cmd), pread(fd, &cmd, sizeof(cmd),
				     cfg.offset + PCI_COMMAND));
	ASSERT_TRUE(cmd & PCI_COMMAND_MASTER);

	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_ID, &val));
	ASSERT_EQ(EDU_ID_VALUE, val);

	ASSERT_EQ(0, edu_wr32(&c->dev, EDU_REG_LIVENESS, 0x12345678));
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_LIVENESS, &val));
	ASSERT_EQ(0xedcba987, val);
	ASSERT_EQ(0, edu_wr32(&c->dev, EDU_REG_LIVENESS, 0));
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_LIVENESS, &val));
	ASSERT_EQ(0xffffffff, val);
}

/* Once the destination is unmapped from the IOMMU, device writes are lost. */
TEST_F(single_edu, unmap_blocks_dma)
{
	struct edu_ctx *c = &self->c;
	const __u32 count = 256;
	size_t ps = page_size();
	__u8 *src, *dst;
	__u64 unmapped;

	if (!c->found)
		SKIP(return, "no edu device alone in its IOMMU group");
	ctx_attach(_metadata, c, 2);
	src = c->mem;
	dst = src + ps;

	/* Separate mappings, so that dst can go while src stays. */
	ASSERT_EQ(0, edu_map(c->container_fd, src, IOVA_A, ps));
	ASSERT_EQ(0, edu_map(c->container_fd, dst, IOVA_A + ps, ps));

	fill_pattern(src, ps, new_seed());
	memset(dst, BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, IOVA_A, EDU_BUF_ADDR, count, false));

	/* Positive control: while mapped, the data does arrive. */
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A + ps, count, true));
	ASSERT_EQ(0, memcmp(src, dst, count));

	memset(dst, BACKGROUND, ps);
	ASSERT_EQ(0, edu_unmap(c->container_fd, IOVA_A + ps, ps, &unmapped));
	ASSERT_EQ(ps, unmapped);

	/* The device completes the transfer; the IOMMU must drop it. */
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A + ps, count, true));
	ASSERT_TRUE(all_equal(dst, ps, BACKGROUND))
		TH_LOG("DMA to an unmapped IOVA reached user memory");

	ASSERT_EQ(0, edu_unmap(c->container_fd, IOVA_A, ps, &unmapped));
	ASSERT_EQ(ps, unmapped);
}

/* edu_dma() must refuse transfers that would crash QEMU 7.2's edu. */
TEST_F(single_edu, dma_refuses_bad_range)
{
	static const struct {
		__u64 src, dst;
		__u32 count;
		bool to_ram;
	} bad[] = {
		{ IOVA_A, EDU_BUF_ADDR, 0, false },		/* empty */
		{ IOVA_A, EDU_BUF_ADDR, 4096, false },		/* off-by-one */
		{ IOVA_A, EDU_BUF_ADDR + 1, EDU_DMA_MAX, false },
		{ IOVA_A, EDU_BUF_ADDR - 1, 1, false },		/* 0x3ffff */
		{ IOVA_A, EDU_BUF_LAST, 1, false },		/* ends at 0x41000 */
		{ EDU_BUF_ADDR + 0x1000, IOVA_A, 1, true },	/* 0x41000 */
		{ EDU_BUF_ADDR, 1ULL << 28, 1, true },		/* past mask */
		{ EDU_BUF_ADDR, (1ULL << 28) - 0x80, 0x100, true },
		{ EDU_BUF_ADDR, ~0ULL - 0x10, 0x100, true },	/* wraps */
		{ ~0ULL - 0x10, EDU_BUF_ADDR, 0x100, false },	/* wraps */
		{ ~0ULL - 0x10, IOVA_A, 0x100, true },
	};
	/* Harmless values parked in the DMA registers; must stay there. */
	const __u32 park_src = 0x123000, park_dst = 0x456000, park_cnt = 0x10;
	struct edu_ctx *c = &self->c;
	__u32 val;
	size_t i;

	if (!c->found)
		SKIP(return, "no edu device alone in its IOMMU group");
	ctx_attach(_metadata, c, 0);

	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_DMA_CMD, &val));
	ASSERT_EQ(0, val & EDU_DMA_CMD_START);
	ASSERT_EQ(0, edu_wr32(&c->dev, EDU_REG_DMA_SRC, park_src));
	ASSERT_EQ(0, edu_wr32(&c->dev, EDU_REG_DMA_DST, park_dst));
	ASSERT_EQ(0, edu_wr32(&c->dev, EDU_REG_DMA_COUNT, park_cnt));

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, edu_dma(&c->dev, bad[i].src, bad[i].dst,
					   bad[i].count, bad[i].to_ram))
			TH_LOG("case %zu was not refused", i);
	}

	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_DMA_SRC, &val));
	ASSERT_EQ(park_src, val);
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_DMA_DST, &val));
	ASSERT_EQ(park_dst, val);
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_DMA_COUNT, &val));
	ASSERT_EQ(park_cnt, val);
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_DMA_CMD, &val));
	ASSERT_EQ(0, val & EDU_DMA_CMD_START);
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_ID, &val));
	ASSERT_EQ(EDU_ID_VALUE, val);
}

static int map_raw(int container_fd, void *vaddr, __u64 iova, __u64 size,
		   __u32 flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &map);
}

/* Error paths of VFIO_IOMMU_MAP_DMA / UNMAP_DMA (type1v2, Linux 6.1). */
TEST_F(single_edu, type1_map_errors)
{
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	const __u32 rw = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u64 pgmin, unmapped;
	__u8 *mem;
	int fd;

	if (!c->found)
		SKIP(return, "no edu device alone in its IOMMU group");
	ctx_attach(_metadata, c, 4);
	fd = c->container_fd;
	mem = c->mem;

	ASSERT_EQ(0, ioctl(fd, VFIO_IOMMU_GET_INFO, &info));
	ASSERT_TRUE(info.flags & VFIO_IOMMU_INFO_PGSIZES);
	pgmin = info.iova_pgsizes & -info.iova_pgsizes;
	ASSERT_LT(1, pgmin);
	ASSERT_GE(ps, pgmin);

	/* Two pages at IOVA_B. */
	ASSERT_EQ(0, map_raw(fd, mem, IOVA_B, 2 * ps, rw));

	/* Bad arguments: EINVAL (vfio_dma_do_map). */
	ASSERT_EQ(-1, map_raw(fd, mem, IOVA_A + pgmin / 2, ps, rw));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, map_raw(fd, mem + pgmin / 2, IOVA_A, ps, rw));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, map_raw(fd, mem, IOVA_A, 0, rw));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, map_raw(fd, mem, IOVA_A, ps, 0));
	ASSERT_EQ(EINVAL, errno);

	/* Any overlap with an existing mapping: EEXIST. */
	ASSERT_EQ(-1, map_raw(fd, mem, IOVA_B, 2 * ps, rw));
	ASSERT_EQ(EEXIST, errno);
	ASSERT_EQ(-1, map_raw(fd, mem + 2 * ps, IOVA_B + ps, 2 * ps, rw));
	ASSERT_EQ(EEXIST, errno);
	ASSERT_EQ(-1, map_raw(fd, mem + 2 * ps, IOVA_B - ps, 2 * ps, rw));
	ASSERT_EQ(EEXIST, errno);

	/* Unmapping a range that holds no mapping succeeds with size 0. */
	unmapped = 1;
	ASSERT_EQ(0, edu_unmap(fd, IOVA_A, ps, &unmapped));
	ASSERT_EQ(0, unmapped);

	/* v2: an unmap must not split a mapping. */
	ASSERT_EQ(-EINVAL, edu_unmap(fd, IOVA_B + ps, ps, NULL));
	ASSERT_EQ(-EINVAL, edu_unmap(fd, IOVA_B, ps, NULL));

	ASSERT_EQ(0, edu_unmap(fd, IOVA_B, 2 * ps, &unmapped));
	ASSERT_EQ(2 * ps, unmapped);
	ASSERT_EQ(0, edu_unmap(fd, IOVA_B, 2 * ps, &unmapped));
	ASSERT_EQ(0, unmapped);
}

/* RAM -> device buffer -> RAM through one two-page mapping at IOVA_A. */
FIXTURE(edu_dma) {
	struct edu_ctx c;
};

FIXTURE_VARIANT(edu_dma) {
	__u32 count;
	__u32 buf_off;	/* offset into the device buffer */
};

FIXTURE_VARIANT_ADD(edu_dma, max_4095) {
	.count = EDU_DMA_MAX,
	.buf_off = 0,
};

FIXTURE_VARIANT_ADD(edu_dma, small_64) {
	.count = 64,
	.buf_off = 0x100,
};

FIXTURE_VARIANT_ADD(edu_dma, tail_256) {
	.count = 256,
	.buf_off = 0xeff,
};

FIXTURE_VARIANT_ADD(edu_dma, one_byte) {
	.count = 1,
	.buf_off = 0x800,
};

FIXTURE_SETUP(edu_dma)
{
	ctx_open_single(_metadata, &self->c);
}

FIXTURE_TEARDOWN(edu_dma)
{
	ctx_close(&self->c);
}

TEST_F(edu_dma, round_trip)
{
	const __u64 buf = EDU_BUF_ADDR + variant->buf_off;
	const __u32 count = variant->count;
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u8 *src, *dst;
	__u64 unmapped;

	if (!c->found)
		SKIP(return, "no edu device alone in its IOMMU group");
	ctx_attach(_metadata, c, 2);
	src = c->mem;
	dst = src + ps;

	ASSERT_EQ(0, edu_map(c->container_fd, c->mem, IOVA_A, 2 * ps));
	fill_pattern(src, ps, new_seed());
	memset(dst, CANARY, ps);

	ASSERT_EQ(0, edu_dma(&c->dev, IOVA_A, buf, count, false));
	ASSERT_EQ(0, edu_dma(&c->dev, buf, IOVA_A + ps, count, true));

	ASSERT_EQ(0, memcmp(src, dst, count))
		TH_LOG("%u bytes via device offset 0x%x came back different",
		       count, variant->buf_off);
	ASSERT_TRUE(all_equal(dst + count, ps - count, CANARY))
		TH_LOG("the device wrote past the %u requested bytes", count);

	ASSERT_EQ(0, edu_unmap(c->container_fd, IOVA_A, 2 * ps, &unmapped));
	ASSERT_EQ(2 * ps, unmapped);
}

/*
 * A group with two or more edu functions (plus, typically, a bridge and a
 * NIC).  The group is viable only once no member is bound to a DMA-API
 * kernel driver; then both edu functions work through one container.
 */
struct unbound_dev {
	char bdf[EDU_BDF_LEN];
	char drv[EDU_DRV_LEN];
};

FIXTURE(multi_group) {
	bool found;
	int group;
	char edu[2][EDU_BDF_LEN];
	struct unbound_dev kdev[MAX_MEMBERS];
	int n_kdev;		/* kernel-bound members found */
	int n_unbound;		/* of those, how many we unbound */
	int container_fd;
	int group_fd;
	struct edu_dev dev[2];
	void *mem;
	size_t mem_len;
};

FIXTURE_SETUP(multi_group)
{
	struct edu_pci edus[MAX_EDUS];
	int i, n;

	self->container_fd = -1;
	self->group_fd = -1;
	self->dev[0].device_fd = -1;
	self->dev[1].device_fd = -1;
	self->mem = MAP_FAILED;

	n = edu_find_all(edus, MAX_EDUS);
	ASSERT_LE(0, n) TH_LOG("scanning sysfs for edu: %s", strerror(-n));
	for (i = 0; i < n && !self->found; i++) {
		if (edus[i].group_edus >= 2) {
			self->found = true;
			self->group = edus[i].group;
		}
	}
}

FIXTURE_TEARDOWN(multi_group)
{
	char drv[EDU_DRV_LEN];
	int i, ret;

	/* Drop every VFIO reference before giving devices back. */
	edu_dev_close(&self->dev[0]);
	edu_dev_close(&self->dev[1]);
	if (self->group_fd >= 0)
		close(self->group_fd);
	if (self->container_fd >= 0)
		close(self->container_fd);
	if (self->mem != MAP_FAILED)
		munmap(self->mem, self->mem_len);

	/* Only EXPECT here: an ASSERT would jump back into the teardown. */
	for (i = 0; i < self->n_unbound; i++) {
		ret = edu_bind_driver(self->kdev[i].bdf, self->kdev[i].drv);
		EXPECT_EQ(0, ret)
			TH_LOG("cannot rebind %s to %s: %s", self->kdev[i].bdf,
			       self->kdev[i].drv, strerror(-ret));
		if (!ret) {
			EXPECT_EQ(0, edu_driver(self->kdev[i].bdf, drv,
						sizeof(drv)));
			EXPECT_STREQ(self->kdev[i].drv, drv);
		}
	}
}

static void multi_round_trip(struct __test_metadata *_metadata,
			     struct edu_dev *dev, __u8 *mem, __u64 iova)
{
	const __u32 count = EDU_DMA_MAX;
	size_t ps = page_size();

	fill_pattern(mem, ps, new_seed());
	memset(mem + ps, CANARY, ps);
	ASSERT_EQ(0, edu_dma(dev, iova, EDU_BUF_ADDR, count, false));
	ASSERT_EQ(0, edu_dma(dev, EDU_BUF_ADDR, iova + ps, count, true));
	ASSERT_EQ(0, memcmp(mem, mem + ps, count));
	ASSERT_EQ(CANARY, mem[ps + count]);
}

/* Binding and unbinding the e1000 can take seconds under TCG */
TEST_F_TIMEOUT(multi_group, viable_after_unbind, 120)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char members[MAX_MEMBERS][EDU_BDF_LEN];
	char drv[EDU_DRV_LEN];
	size_t ps = page_size();
	int i, n, ret, n_edu = 0;
	__u64 unmapped;
	__u8 *mem;

	if (!self->found)
		SKIP(return, "no IOMMU group with two edu devices");

	n = edu_group_devices(self->group, members, MAX_MEMBERS);
	ASSERT_LE(2, n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, edu_driver(members[i], drv, sizeof(drv)));
		TH_LOG("group %d: %s %s, driver %s", self->group, members[i],
		       edu_is_edu(members[i]) ? "edu" :
		       edu_is_bridge(members[i]) ? "bridge" : "other",
		       drv[0] ? drv : "none");
		if (edu_is_edu(members[i])) {
			if (n_edu < 2)
				strcpy(self->edu[n_edu++], members[i]);
			ret = edu_bind_vfio(members[i]);
			ASSERT_EQ(0, ret)
				TH_LOG("cannot bind %s to vfio-pci: %s",
				       members[i], strerror(-ret));
		} else if (!edu_is_bridge(members[i]) && drv[0] &&
			   strcmp(drv, "vfio-pci")) {
			strcpy(self->kdev[self->n_kdev].bdf, members[i]);
			strcpy(self->kdev[self->n_kdev].drv, drv);
			self->n_kdev++;
		}
	}
	ASSERT_EQ(2, n_edu);

	ASSERT_EQ(0, edu_vfio_open(self->group, &self->container_fd,
				   &self->group_fd));

	if (self->n_kdev) {
		/* A kernel driver owns DMA of a member: not viable. */
		ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_GET_STATUS,
				   &status));
		ASSERT_FALSE(status.flags & VFIO_GROUP_FLAGS_VIABLE);
		ASSERT_EQ(-1, ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER,
				    &self->container_fd));
		ASSERT_EQ(EPERM, errno);

		for (i = 0; i < self->n_kdev; i++) {
			ret = edu_unbind(self->kdev[i].bdf);
			ASSERT_EQ(0, ret)
				TH_LOG("cannot unbind %s from %s: %s",
				       self->kdev[i].bdf, self->kdev[i].drv,
				       strerror(-ret));
			self->n_unbound++;
		}
	} else {
		TH_LOG("group %d has no kernel-bound member: only the viable path is tested",
		       self->group);
	}

	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, status.flags);
	ASSERT_EQ(0, edu_vfio_attach(self->container_fd, self->group_fd));

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, edu_dev_open(&self->dev[i], self->group_fd,
					  self->edu[i]))
			TH_LOG("GET_DEVICE_FD %s failed", self->edu[i]);
		ASSERT_EQ(0, edu_enable(&self->dev[i]));
	}

	/* Two pages per device: source at iova, destination at iova + ps. */
	self->mem_len = 4 * ps;
	self->mem = mmap(NULL, self->mem_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	mem = self->mem;
	ASSERT_EQ(0, edu_map(self->container_fd, mem, IOVA_A, 2 * ps));
	ASSERT_EQ(0, edu_map(self->container_fd, mem + 2 * ps, IOVA_B,
			     2 * ps));

	multi_round_trip(_metadata, &self->dev[0], mem, IOVA_A);
	multi_round_trip(_metadata, &self->dev[1], mem + 2 * ps, IOVA_B);

	ASSERT_EQ(0, edu_unmap(self->container_fd, 0, 1ULL << 28, &unmapped));
	ASSERT_EQ(4 * ps, unmapped);
}

TEST_HARNESS_MAIN
