// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO DMA tests driving QEMU's "edu" PCI device, in every way user space
 * can give a device an IOMMU address space:
 *
 *   type1          /dev/vfio/vfio container with the type1v2 backend
 *   group_iommufd  group fd attached to an iommufd (IOMMU_VFIO_IOAS SET)
 *   iommufd_type1  an iommufd used as the type1 container
 *   cdev           /dev/vfio/devices/vfioN bound to an iommufd, on an IOAS
 *
 * The edu device copies between memory and an internal buffer by DMA,
 * which makes the IOMMU mappings visible: data arrives only where they
 * allow it, and intel-iommu logs a fault for every access they refuse.
 *
 * Every test body runs in each mode of its fixture.  A mode the kernel
 * does not support fails; only a machine without an edu device alone in
 * its IOMMU group skips.
 *
 * /dev/vfio/vfio is the VFIO container or, with CONFIG_VFIO_CONTAINER=n and
 * CONFIG_IOMMUFD_VFIO_CONTAINER=y, an iommufd.  The tests find out which by
 * asking it (see edu_container_is_iommufd()) and expect iommufd's answers
 * where the two differ.  VFIO_EDU_DEV_VFIO=legacy or =iommufd in the
 * environment makes a test fail when /dev/vfio/vfio is not that one.
 *
 * Not covered here, for lack of hardware in QEMU's TCG guest: the KVM VFIO
 * device (KVM_DEV_VFIO_FILE_ADD of a cdev fd and the KVM reference taken at
 * BIND: TCG offers no VMX, so no VM can be created), and the SR-IOV VF
 * token cases of BIND (the edu has no VFs; the test only shows that
 * vfio-pci's token check runs).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "../kselftest_harness.h"
#include "edu.h"

#define MAX_EDUS	16

#define IOVA_A		0x100000ULL
#define IOVA_B		0x200000ULL
#define CANARY		0xff	/* never produced by fill_pattern() */
#define BACKGROUND	0x5a
#define FAULT_WAIT_MS	3000

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

/* A new seed each call, so stale data left in the device cannot match. */
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

/*
 * Is /dev/vfio/vfio an iommufd?  Fails the test if VFIO_EDU_DEV_VFIO
 * names the other kind.
 */
static bool dev_vfio_is_iommufd(struct __test_metadata *_metadata)
{
	const char *want = getenv("VFIO_EDU_DEV_VFIO");
	bool is_iommufd = edu_dev_vfio_is_iommufd();

	if (want && *want)
		EXPECT_STREQ(want, is_iommufd ? "iommufd" : "legacy");
	return is_iommufd;
}

/* One edu alone in its IOMMU group, reached in one mode. */
struct edu_ctx {
	struct edu_pci pci;
	bool found;
	bool saved;
	struct edu_drv_state state;	/* to restore at the end */
	bool type1_iommufd;	/* type1 ioctls served by iommufd */
	struct edu_vfio v;
	struct edu_dev dev;
	__u32 dev_id;
	__u8 *mem;
	size_t mem_len;
	int kmsg_fd;
};

/* Discovery only: an ASSERT in a fixture setup skips the teardown. */
static void ctx_find(struct __test_metadata *_metadata, struct edu_ctx *c,
		     enum edu_mode mode)
{
	struct edu_pci edus[MAX_EDUS];
	int i, n;

	memset(c, 0, sizeof(*c));
	edu_vfio_init(&c->v, mode, -1);
	c->dev.device_fd = -1;
	c->mem = MAP_FAILED;
	c->kmsg_fd = -1;

	n = edu_find_all(edus, MAX_EDUS);
	ASSERT_LE(0, n) TH_LOG("scanning sysfs for edu: %s", strerror(-n));
	for (i = 0; i < n && !c->found; i++) {
		if (edus[i].group_devs == 1) {
			c->pci = edus[i];
			c->found = true;
		}
	}
	c->v.group = c->pci.group;
}

/* Bind the edu to vfio-pci and set up @c->v.mode; a failure fails. */
static void ctx_start(struct __test_metadata *_metadata, struct edu_ctx *c)
{
	int ret;

	ret = edu_save_state(c->pci.bdf, &c->state);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", c->pci.bdf, strerror(-ret));
	c->saved = true;
	ret = edu_bind_vfio(c->pci.bdf);
	ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to vfio-pci: %s",
				 c->pci.bdf, strerror(-ret));
	c->type1_iommufd = c->v.mode == EDU_MODE_IOMMUFD_TYPE1 ||
			   (c->v.mode == EDU_MODE_TYPE1 &&
			    dev_vfio_is_iommufd(_metadata));
	ret = edu_vfio_setup(&c->v);
	ASSERT_EQ(0, ret) TH_LOG("%s: setting up group %d: %s",
				 edu_mode_name(c->v.mode), c->pci.group,
				 strerror(-ret));
}

/* Open the device for DMA and map nothing yet; @pages of memory. */
static void ctx_open(struct __test_metadata *_metadata, struct edu_ctx *c,
		     int pages)
{
	int ret;

	ret = edu_vfio_open_dev(&c->v, &c->dev, c->pci.bdf, &c->dev_id);
	ASSERT_EQ(0, ret) TH_LOG("%s: opening %s: %s",
				 edu_mode_name(c->v.mode), c->pci.bdf,
				 strerror(-ret));
	ret = edu_enable(&c->dev);
	ASSERT_EQ(0, ret) TH_LOG("enabling %s: %s", c->pci.bdf,
				 strerror(-ret));
	if (!pages)
		return;
	c->mem_len = pages * page_size();
	c->mem = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->mem);
}

static void ctx_close(struct __test_metadata *_metadata, struct edu_ctx *c)
{
	int ret;

	edu_dev_close(&c->dev);
	edu_vfio_close(&c->v);
	if (c->mem != MAP_FAILED)
		munmap(c->mem, c->mem_len);
	c->mem = MAP_FAILED;
	if (c->kmsg_fd >= 0)
		close(c->kmsg_fd);
	c->kmsg_fd = -1;
	if (!c->saved)
		return;
	c->saved = false;
	/* Only EXPECT here: an ASSERT would jump back into the teardown. */
	ret = edu_restore_state(&c->state);
	if (ret)
		TH_LOG("cannot give %s back to \"%s\": %s", c->pci.bdf,
		       c->state.drv, strerror(-ret));
	EXPECT_EQ(0, ret);
}

/*
 * Copy @count bytes from IOVA @src into the device buffer at @buf and back
 * to IOVA @dst.  @src_va/@dst_va are the CPU addresses of the two IOVAs.
 * The destination is pre-filled with CANARY; the bytes after @count must
 * keep it.
 */
static void round_trip(struct __test_metadata *_metadata, struct edu_dev *dev,
		       __u8 *src_va, __u64 src, __u8 *dst_va, __u64 dst,
		       __u64 buf, __u32 count, size_t dst_len)
{
	fill_pattern(src_va, count, new_seed());
	memset(dst_va, CANARY, dst_len);
	ASSERT_EQ(0, edu_dma(dev, src, buf, count, false));
	ASSERT_EQ(0, edu_dma(dev, buf, dst, count, true));
	ASSERT_EQ(0, memcmp(src_va, dst_va, count))
		TH_LOG("%u bytes via device buffer 0x%llx came back different",
		       count, (unsigned long long)buf);
	ASSERT_TRUE(all_equal(dst_va + count, dst_len - count, CANARY))
		TH_LOG("the device wrote past the %u requested bytes", count);
}

/*
 * Wait for intel-iommu's report of a refused DMA of @c's device at page
 * @iova; @dir is "DMA Read" or "DMA Write".
 */
static void expect_fault(struct __test_metadata *_metadata,
			 struct edu_ctx *c, __u64 iova, const char *dir)
{
	char dev[64], addr[64], line[512];
	int ret;

	edu_dmar_fault_text(c->pci.bdf, iova, dev, sizeof(dev), addr,
			    sizeof(addr));
	ret = edu_kmsg_wait(c->kmsg_fd, dev, addr, line, sizeof(line),
			    FAULT_WAIT_MS);
	ASSERT_EQ(1, ret) TH_LOG("no kernel log line with \"%s\" and \"%s\" (%d)",
				 dev, addr, ret);
	TH_LOG("kernel: %s", line);
	ASSERT_NE(NULL, strstr(line, dir)) TH_LOG("not a \"%s\" fault", dir);
	/*
	 * intel-iommu rate-limits its fault reports (DEFAULT_RATELIMIT_BURST
	 * lines per 5 s, two lines per fault): let the window pass, so that
	 * the next fault this test expects, here or in the next test, is
	 * logged however fast the guest runs.
	 */
	sleep(6);
}

FIXTURE(edu) {
	struct edu_ctx c;
};

FIXTURE_VARIANT(edu) {
	enum edu_mode mode;
};

FIXTURE_VARIANT_ADD(edu, type1) {
	.mode = EDU_MODE_TYPE1,
};

FIXTURE_VARIANT_ADD(edu, group_iommufd) {
	.mode = EDU_MODE_GROUP_IOMMUFD,
};

FIXTURE_VARIANT_ADD(edu, iommufd_type1) {
	.mode = EDU_MODE_IOMMUFD_TYPE1,
};

FIXTURE_VARIANT_ADD(edu, cdev) {
	.mode = EDU_MODE_CDEV,
};

FIXTURE_SETUP(edu)
{
	ctx_find(_metadata, &self->c, variant->mode);
}

FIXTURE_TEARDOWN(edu)
{
	ctx_close(_metadata, &self->c);
}

#define NO_EDU "no edu device alone in its IOMMU group"

/* Device info, regions, config space and registers of the device fd. */
TEST_F_TIMEOUT(edu, open_device, 120)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info bar0;
	struct edu_ctx *c = &self->c;
	__u32 val, ids;
	__u16 cmd;
	int fd;

	if (!c->found)
		SKIP(return, NO_EDU);
	ctx_start(_metadata, c);
	ctx_open(_metadata, c, 0);
	fd = c->dev.device_fd;
	if (c->v.mode == EDU_MODE_CDEV)
		ASSERT_LT(0, c->dev_id);

	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	ASSERT_LT(VFIO_PCI_CONFIG_REGION_INDEX, info.num_regions);

	ASSERT_EQ(0, edu_region(fd, VFIO_PCI_BAR0_REGION_INDEX, &bar0));
	ASSERT_EQ(EDU_BAR0_SIZE, bar0.size);
	ASSERT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
		  bar0.flags & (VFIO_REGION_INFO_FLAG_READ |
				VFIO_REGION_INFO_FLAG_WRITE));

	ASSERT_EQ(sizeof(ids), pread(fd, &ids, sizeof(ids),
				     c->dev.cfg + PCI_VENDOR_ID));
	ASSERT_EQ(EDU_DEVICE_ID << 16 | EDU_VENDOR_ID, ids);
	ASSERT_EQ(sizeof(cmd), pread(fd, &cmd, sizeof(cmd),
				     c->dev.cfg + PCI_COMMAND));
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

/*
 * RAM -> device buffer -> RAM, compared byte for byte, for several sizes and
 * buffer offsets, through one two-page mapping at IOVA_A.
 */
TEST_F_TIMEOUT(edu, round_trip, 120)
{
	static const struct {
		__u32 count;
		__u32 buf_off;
	} cases[] = {
		{ EDU_DMA_MAX, 0 },
		{ 64, 0x100 },
		{ 256, 0xeff },
		{ 1, 0x800 },
	};
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u64 unmapped;
	size_t i;

	if (!c->found)
		SKIP(return, NO_EDU);
	ctx_start(_metadata, c);
	ctx_open(_metadata, c, 2);

	ASSERT_EQ(0, edu_vfio_map(&c->v, c->mem, IOVA_A, 2 * ps));
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
			   IOVA_A + ps, EDU_BUF_ADDR + cases[i].buf_off,
			   cases[i].count, ps);
	/* And the other way round within the mapping. */
	round_trip(_metadata, &c->dev, c->mem + ps, IOVA_A + ps, c->mem,
		   IOVA_A, EDU_BUF_ADDR, EDU_DMA_MAX, ps);

	ASSERT_EQ(0, edu_vfio_unmap(&c->v, IOVA_A, 2 * ps, &unmapped));
	ASSERT_EQ(2 * ps, unmapped);
}

/*
 * After an unmap, the device can neither write to nor read from the IOVA,
 * and intel-iommu logs the refused access of this device at that IOVA.
 */
TEST_F_TIMEOUT(edu, unmap_blocks_dma, 120)
{
	const __u32 count = 256;
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u8 *p[4];
	__u64 unmapped;
	int i;

	if (!c->found)
		SKIP(return, NO_EDU);
	ctx_start(_metadata, c);
	ctx_open(_metadata, c, 4);
	/* One mapping per page, so that each can go alone. */
	for (i = 0; i < 4; i++) {
		p[i] = c->mem + i * ps;
		ASSERT_EQ(0, edu_vfio_map(&c->v, p[i], IOVA_A + i * ps, ps));
	}
	c->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, c->kmsg_fd) TH_LOG("/dev/kmsg: %s", strerror(-c->kmsg_fd));

	/* Positive control: while mapped, the data does arrive. */
	round_trip(_metadata, &c->dev, p[0], IOVA_A, p[1], IOVA_A + ps,
		   EDU_BUF_ADDR, count, ps);

	/* Device -> RAM into an unmapped IOVA: nothing lands. */
	ASSERT_EQ(0, edu_vfio_unmap(&c->v, IOVA_A + ps, ps, &unmapped));
	ASSERT_EQ(ps, unmapped);
	memset(p[1], BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A + ps, count, true));
	ASSERT_TRUE(all_equal(p[1], ps, BACKGROUND))
		TH_LOG("DMA to an unmapped IOVA reached user memory");
	expect_fault(_metadata, c, IOVA_A + ps, "DMA Write");

	/*
	 * RAM -> device from an unmapped IOVA: the device must not get the
	 * data.  Load other data into the device first, so that a read that
	 * leaves the buffer alone cannot pass for one that got through.
	 */
	fill_pattern(p[0], count, new_seed());
	fill_pattern(p[2], count, new_seed());
	ASSERT_NE(0, memcmp(p[0], p[2], count));
	ASSERT_EQ(0, edu_dma(&c->dev, IOVA_A + 2 * ps, EDU_BUF_ADDR, count,
			     false));
	ASSERT_EQ(0, edu_vfio_unmap(&c->v, IOVA_A, ps, &unmapped));
	ASSERT_EQ(ps, unmapped);
	ASSERT_EQ(0, edu_dma(&c->dev, IOVA_A, EDU_BUF_ADDR, count, false));
	memset(p[3], BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A + 3 * ps, count,
			     true));
	ASSERT_NE(0, memcmp(p[0], p[3], count))
		TH_LOG("the device read an unmapped IOVA");
	ASSERT_FALSE(all_equal(p[3], count, BACKGROUND))
		TH_LOG("the mapped destination got nothing");
	expect_fault(_metadata, c, IOVA_A, "DMA Read");
}

/* edu_dma() must refuse transfers that would crash QEMU 7.2's edu. */
TEST_F_TIMEOUT(edu, dma_refuses_bad_range, 120)
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
		SKIP(return, NO_EDU);
	ctx_start(_metadata, c);
	ctx_open(_metadata, c, 0);

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
}

/* MAP_DMA or IOAS_MAP with raw flags; -errno. */
static int map_flags(struct edu_ctx *c, void *vaddr, __u64 iova, __u64 size,
		     bool no_access)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = no_access ? 0 : VFIO_DMA_MAP_FLAG_READ |
					 VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
			 (no_access ? 0 : IOMMU_IOAS_MAP_READABLE |
					  IOMMU_IOAS_MAP_WRITEABLE),
		.ioas_id = c->v.ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = size,
		.iova = iova,
	};

	if (edu_mode_type1(c->v.mode))
		return ioctl(c->v.container_fd, VFIO_IOMMU_MAP_DMA, &map) ?
			-errno : 0;
	return ioctl(c->v.iommufd, IOMMU_IOAS_MAP, &cmd) ? -errno : 0;
}

/* Remove everything: UNMAP_DMA with the ALL flag, or IOAS_UNMAP(0, ~0). */
static int unmap_all(struct edu_ctx *c, __u64 *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = VFIO_DMA_UNMAP_FLAG_ALL,
	};

	if (!edu_mode_type1(c->v.mode))
		return edu_ioas_unmap(c->v.iommufd, c->v.ioas_id, 0, ~0ULL,
				      unmapped);
	if (ioctl(c->v.container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	*unmapped = unmap.size;
	return 0;
}

/*
 * Errors of the map and unmap ioctls of the mode.  Where type1 and
 * iommufd differ (upstream's too), each gets its own answer: an unmap that
 * would cut a mapping is EINVAL for type1v2 and ENOENT for iommufd; an
 * unmap of an empty range succeeds with size 0 through the type1 ioctls
 * and is ENOENT for IOMMU_IOAS_UNMAP.
 */
TEST_F_TIMEOUT(edu, map_errors, 120)
{
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	bool type1 = edu_mode_type1(c->v.mode);
	int cut_errno;
	__u64 unmapped;
	__u8 *mem;

	if (!c->found)
		SKIP(return, NO_EDU);
	ctx_start(_metadata, c);
	ctx_open(_metadata, c, 4);
	mem = c->mem;
	cut_errno = c->v.mode == EDU_MODE_TYPE1 && !c->type1_iommufd ?
		    EINVAL : ENOENT;

	/* Two pages at IOVA_B. */
	ASSERT_EQ(0, edu_vfio_map(&c->v, mem, IOVA_B, 2 * ps));

	/* Misaligned IOVA or address, no length, no access: EINVAL. */
	ASSERT_EQ(-EINVAL, edu_vfio_map(&c->v, mem, IOVA_A + ps / 2, ps));
	ASSERT_EQ(-EINVAL, edu_vfio_map(&c->v, mem + ps / 2, IOVA_A, ps));
	ASSERT_EQ(-EINVAL, edu_vfio_map(&c->v, mem, IOVA_A, 0));
	if (!c->type1_iommufd)
		ASSERT_EQ(-EINVAL, map_flags(c, mem, IOVA_A, ps, true));

	/* Any overlap with an existing mapping: EEXIST. */
	ASSERT_EQ(-EEXIST, edu_vfio_map(&c->v, mem, IOVA_B, 2 * ps));
	ASSERT_EQ(-EEXIST, edu_vfio_map(&c->v, mem + 2 * ps, IOVA_B + ps,
					2 * ps));
	ASSERT_EQ(-EEXIST, edu_vfio_map(&c->v, mem + 2 * ps, IOVA_B - ps,
					2 * ps));

	/* A range that holds no mapping. */
	unmapped = 1;
	if (type1) {
		ASSERT_EQ(0, edu_vfio_unmap(&c->v, IOVA_A, ps, &unmapped));
		ASSERT_EQ(0, unmapped);
	} else {
		ASSERT_EQ(-ENOENT, edu_vfio_unmap(&c->v, IOVA_A, ps, NULL));
	}

	/* An unmap must not cut a mapping (type1v2 and IOAS alike). */
	ASSERT_EQ(-cut_errno, edu_vfio_unmap(&c->v, IOVA_B + ps, ps, NULL));
	ASSERT_EQ(-cut_errno, edu_vfio_unmap(&c->v, IOVA_B, ps, NULL));
	ASSERT_EQ(-cut_errno, edu_vfio_unmap(&c->v, IOVA_B - ps, 2 * ps, NULL));

	/* Still there, whole. */
	ASSERT_EQ(-EEXIST, edu_vfio_map(&c->v, mem, IOVA_B + ps, ps));
	ASSERT_EQ(0, edu_vfio_unmap(&c->v, IOVA_B, 2 * ps, &unmapped));
	ASSERT_EQ(2 * ps, unmapped);
	if (type1) {
		ASSERT_EQ(0, edu_vfio_unmap(&c->v, IOVA_B, 2 * ps, &unmapped));
		ASSERT_EQ(0, unmapped);
	} else {
		ASSERT_EQ(-ENOENT, edu_vfio_unmap(&c->v, IOVA_B, 2 * ps, NULL));
	}

	/* Unmap everything: the sizes add up; then again on nothing. */
	ASSERT_EQ(0, edu_vfio_map(&c->v, mem, IOVA_A, ps));
	ASSERT_EQ(0, edu_vfio_map(&c->v, mem + ps, IOVA_B, 3 * ps));
	ASSERT_EQ(0, unmap_all(c, &unmapped));
	ASSERT_EQ(4 * ps, unmapped);
	ASSERT_EQ(0, unmap_all(c, &unmapped));
	ASSERT_EQ(0, unmapped);
	/* The space is free again. */
	ASSERT_EQ(0, edu_vfio_map(&c->v, mem, IOVA_B, 2 * ps));
}

/*
 * Group fd: VFIO_GROUP_SET_CONTAINER takes a VFIO container or an iommufd
 * and nothing else, once; a refused one leaves the group usable.
 */
FIXTURE(group) {
	struct edu_ctx c;
};

FIXTURE_VARIANT(group) {
	enum edu_mode mode;
};

FIXTURE_VARIANT_ADD(group, container) {
	.mode = EDU_MODE_TYPE1,
};

FIXTURE_VARIANT_ADD(group, iommufd) {
	.mode = EDU_MODE_GROUP_IOMMUFD,
};

FIXTURE_SETUP(group)
{
	ctx_find(_metadata, &self->c, variant->mode);
}

FIXTURE_TEARDOWN(group)
{
	ctx_close(_metadata, &self->c);
}

static long long group_flags(int group_fd)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &status))
		return -errno;
	return status.flags;
}

static int set_container(int group_fd, int fd)
{
	return ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &fd) ? -errno : 0;
}

TEST_F_TIMEOUT(group, set_container, 120)
{
	const long long viable = VFIO_GROUP_FLAGS_VIABLE;
	const long long set = viable | VFIO_GROUP_FLAGS_CONTAINER_SET;
	struct edu_ctx *c = &self->c;
	bool iommufd = variant->mode == EDU_MODE_GROUP_IOMMUFD;
	size_t ps = page_size();
	int efd, null_fd, other, gfd, fd, ret;
	char path[64];

	if (!c->found)
		SKIP(return, NO_EDU);
	ret = edu_save_state(c->pci.bdf, &c->state);
	ASSERT_EQ(0, ret);
	c->saved = true;
	ASSERT_EQ(0, edu_bind_vfio(c->pci.bdf));
	iommufd |= dev_vfio_is_iommufd(_metadata);

	snprintf(path, sizeof(path), "/dev/vfio/%d", c->pci.group);
	gfd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd) TH_LOG("%s: %s", path, strerror(errno));
	c->v.group_fd = gfd;
	if (variant->mode == EDU_MODE_TYPE1) {
		c->v.container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, c->v.container_fd);
		fd = c->v.container_fd;
	} else {
		c->v.iommufd = edu_iommufd_open();
		ASSERT_LE(0, c->v.iommufd) TH_LOG("/dev/iommu: %s",
						  strerror(-c->v.iommufd));
		fd = c->v.iommufd;
	}
	ASSERT_EQ(viable, group_flags(gfd));

	/* Neither a container nor an iommufd: EBADFD; no fd: EBADF. */
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null_fd);
	EXPECT_EQ(-EBADFD, set_container(gfd, efd));
	EXPECT_EQ(-EBADFD, set_container(gfd, null_fd));
	EXPECT_EQ(-EBADFD, set_container(gfd, gfd));
	EXPECT_EQ(-EBADF, set_container(gfd, -1));
	close(efd);
	EXPECT_EQ(-EBADF, set_container(gfd, efd));
	close(null_fd);

	/* Nothing changed: no container, no device, nothing to unset. */
	ASSERT_EQ(viable, group_flags(gfd));
	ASSERT_EQ(-1, ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, c->pci.bdf));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(gfd, VFIO_GROUP_UNSET_CONTAINER));
	ASSERT_EQ(EINVAL, errno);

	ASSERT_EQ(0, set_container(gfd, fd));
	ASSERT_EQ(set, group_flags(gfd));

	/* A second one, the same or another: EINVAL. */
	EXPECT_EQ(-EINVAL, set_container(gfd, fd));
	other = iommufd ? edu_iommufd_open() :
			  open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, other);
	EXPECT_EQ(-EINVAL, set_container(gfd, other));
	close(other);
	ASSERT_EQ(set, group_flags(gfd));

	/* The group works: a DMA round trip. */
	if (variant->mode == EDU_MODE_TYPE1) {
		ASSERT_EQ(0, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
		c->type1_iommufd = iommufd;
	} else {
		ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET,
					   &c->v.ioas_id));
	}
	ctx_open(_metadata, c, 2);
	ASSERT_EQ(0, edu_vfio_map(&c->v, c->mem, IOVA_A, 2 * ps));
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
		   IOVA_A + ps, EDU_BUF_ADDR, EDU_DMA_MAX, ps);

	/* The type1 container cannot go while a device is open. */
	if (!iommufd) {
		ASSERT_EQ(-1, ioctl(gfd, VFIO_GROUP_UNSET_CONTAINER));
		ASSERT_EQ(EBUSY, errno);
	}
	edu_dev_close(&c->dev);
	ASSERT_EQ(0, ioctl(gfd, VFIO_GROUP_UNSET_CONTAINER));
	ASSERT_EQ(viable, group_flags(gfd));

	/* And the group can be attached again. */
	ASSERT_EQ(0, set_container(gfd, fd));
	ASSERT_EQ(set, group_flags(gfd));
}

/*
 * The type1 container ioctls, on /dev/vfio/vfio and on an iommufd, with the
 * edu's group attached.
 */
FIXTURE(type1) {
	struct edu_ctx c;
};

FIXTURE_VARIANT(type1) {
	enum edu_mode mode;
};

FIXTURE_VARIANT_ADD(type1, container) {
	.mode = EDU_MODE_TYPE1,
};

FIXTURE_VARIANT_ADD(type1, iommufd) {
	.mode = EDU_MODE_IOMMUFD_TYPE1,
};

FIXTURE_SETUP(type1)
{
	ctx_find(_metadata, &self->c, variant->mode);
}

FIXTURE_TEARDOWN(type1)
{
	ctx_close(_metadata, &self->c);
}

/* CHECK_EXTENSION answers, before and after the group is attached. */
TEST_F_TIMEOUT(type1, check_extension, 120)
{
	struct edu_ctx *c = &self->c;
	char path[64];
	int fd, i;

	if (!c->found)
		SKIP(return, NO_EDU);
	ASSERT_EQ(0, edu_save_state(c->pci.bdf, &c->state));
	c->saved = true;
	ASSERT_EQ(0, edu_bind_vfio(c->pci.bdf));
	c->type1_iommufd = variant->mode == EDU_MODE_IOMMUFD_TYPE1 ||
			   dev_vfio_is_iommufd(_metadata);
	if (variant->mode == EDU_MODE_TYPE1)
		fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	else
		fd = edu_iommufd_open();
	ASSERT_LE(0, fd);
	c->v.container_fd = fd;
	if (variant->mode == EDU_MODE_IOMMUFD_TYPE1)
		c->v.iommufd = fd;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(VFIO_API_VERSION, ioctl(fd, VFIO_GET_API_VERSION));
		EXPECT_EQ(1, ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU));
		EXPECT_EQ(1, ioctl(fd, VFIO_CHECK_EXTENSION,
				   VFIO_TYPE1v2_IOMMU));
		EXPECT_EQ(1, ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL));
		EXPECT_EQ(0, ioctl(fd, VFIO_CHECK_EXTENSION,
				   VFIO_SPAPR_TCE_IOMMU));
		EXPECT_EQ(0, ioctl(fd, VFIO_CHECK_EXTENSION,
				   VFIO_SPAPR_TCE_v2_IOMMU));
		EXPECT_EQ(0, ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_EEH));
		/* 6.1's type1 still knows the nesting type (6). */
		EXPECT_EQ(!c->type1_iommufd, ioctl(fd, VFIO_CHECK_EXTENSION, 6));
		EXPECT_EQ(0, ioctl(fd, VFIO_CHECK_EXTENSION, 1000));
		/*
		 * iommufd cannot update a mapping's address; type1 can, once
		 * it has a group (6.1 answers 0 before).
		 */
		EXPECT_EQ(!c->type1_iommufd && i,
			  ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR));
		if (i)
			break;
		snprintf(path, sizeof(path), "/dev/vfio/%d", c->pci.group);
		c->v.group_fd = open(path, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, c->v.group_fd);
		ASSERT_EQ(0, edu_vfio_attach(fd, c->v.group_fd));
	}
	/*
	 * DMA_CC_IOMMU: 6.1's type1 allocated its domain when the group was
	 * attached, and intel-iommu in QEMU 7.2 has no snoop control: 0.
	 * iommufd has no domain before a device of the group is opened, and
	 * answers (like upstream) whether every domain of the compat IOAS
	 * enforces coherency: 1 with none, 0 once the edu is attached.
	 */
	EXPECT_EQ(c->type1_iommufd,
		  ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU));
	if (!c->type1_iommufd)
		return;
	ASSERT_EQ(0, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	c->dev.device_fd = ioctl(c->v.group_fd, VFIO_GROUP_GET_DEVICE_FD,
				 c->pci.bdf);
	ASSERT_LE(0, c->dev.device_fd);
	EXPECT_EQ(0, ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU));
}

/* Start the type1 fixture with @type (VFIO_TYPE1v2_IOMMU or v1). */
static void type1_start(struct __test_metadata *_metadata, struct edu_ctx *c,
			unsigned long type, int pages)
{
	char path[64];
	int fd;

	ASSERT_EQ(0, edu_save_state(c->pci.bdf, &c->state));
	c->saved = true;
	ASSERT_EQ(0, edu_bind_vfio(c->pci.bdf));
	c->type1_iommufd = c->v.mode == EDU_MODE_IOMMUFD_TYPE1 ||
			   dev_vfio_is_iommufd(_metadata);
	if (c->v.mode == EDU_MODE_TYPE1) {
		fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	} else {
		fd = edu_iommufd_open();
		c->v.iommufd = fd;
	}
	ASSERT_LE(0, fd);
	c->v.container_fd = fd;
	snprintf(path, sizeof(path), "/dev/vfio/%d", c->pci.group);
	c->v.group_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->v.group_fd);
	ASSERT_EQ(0, set_container(c->v.group_fd, fd));
	ASSERT_EQ(0, ioctl(fd, VFIO_SET_IOMMU, type));
	ctx_open(_metadata, c, pages);
}

/*
 * The 4 bytes after cap_offset: padding of struct vfio_iommu_type1_info,
 * named "pad" only in later uapi headers.
 */
static __u32 info_pad(const __u8 *buf)
{
	__u32 pad;

	memcpy(&pad, buf + offsetof(struct vfio_iommu_type1_info, cap_offset) +
	       sizeof(__u32), sizeof(pad));
	return pad;
}

static __u32 max_u32(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

/*
 * VFIO_IOMMU_GET_INFO must not leak kernel memory: the padding after
 * cap_offset and every byte of a capability outside its fields must be 0
 * although the buffer was pre-filled with 0xff.  (6.1's type1 does not
 * write the padding at all: there it must keep the caller's bytes.)  A
 * short argsz gets the size needed and no capabilities.
 */
TEST_F_TIMEOUT(type1, get_info, 120)
{
	struct edu_ctx *c = &self->c;
	struct vfio_iommu_type1_info *info;
	struct vfio_info_cap_header *hdr;
	__u8 buf[4096], used[4096];
	__u32 off, end, caps_end = 0, i, n, pad;
	size_t ps = page_size();
	bool dma_avail = false, iova_range = false;

	if (!c->found)
		SKIP(return, NO_EDU);
	type1_start(_metadata, c, VFIO_TYPE1v2_IOMMU, 0);
	pad = c->type1_iommufd ? 0 : 0xffffffff;

	/* Too short for the capabilities: the size they need, no error. */
	memset(buf, 0xff, sizeof(buf));
	info = (void *)buf;
	info->argsz = sizeof(*info);
	ASSERT_EQ(0, ioctl(c->v.container_fd, VFIO_IOMMU_GET_INFO, info));
	ASSERT_LT(sizeof(*info), info->argsz);
	ASSERT_GE(sizeof(buf), info->argsz);
	ASSERT_EQ(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
		  info->flags & (VFIO_IOMMU_INFO_PGSIZES |
				 VFIO_IOMMU_INFO_CAPS));
	ASSERT_EQ(0, info->cap_offset);
	ASSERT_EQ(pad, info_pad(buf));
	ASSERT_TRUE(info->iova_pgsizes & ps);
	ASSERT_EQ(0, info->iova_pgsizes & (ps - 1));
	ASSERT_TRUE(all_equal(buf + sizeof(*info), sizeof(buf) - sizeof(*info),
			      0xff)) TH_LOG("written past argsz");

	/* Big enough. */
	memset(buf, 0xff, sizeof(buf));
	info->argsz = sizeof(buf);
	ASSERT_EQ(0, ioctl(c->v.container_fd, VFIO_IOMMU_GET_INFO, info));
	end = info->argsz;
	ASSERT_LT(sizeof(*info), end);
	ASSERT_GE(sizeof(buf), end);
	ASSERT_TRUE(info->flags & VFIO_IOMMU_INFO_CAPS);
	ASSERT_EQ(pad, info_pad(buf));

	/* Mark the bytes with a meaning, then check all others are 0. */
	memset(used, 0, sizeof(used));
	memset(used, 1, sizeof(*info));		/* pad checked above */
	off = info->cap_offset;
	ASSERT_LE(sizeof(*info), off);
	for (n = 0; off; n++) {
		ASSERT_GT(16, n) TH_LOG("capability chain loops");
		/* iommufd pads capabilities to 8 bytes, 6.1's type1 does not */
		ASSERT_TRUE(!c->type1_iommufd || !(off % 8))
			TH_LOG("capability at %u unaligned", off);
		ASSERT_GE(end, off + sizeof(*hdr));
		hdr = (void *)(buf + off);
		memset(used + off, 1, sizeof(*hdr));
		switch (hdr->id) {
		case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: {
			struct vfio_iommu_type1_info_cap_iova_range *r =
				(void *)hdr;

			iova_range = true;
			ASSERT_GE(end, off + sizeof(*r));
			memset(used + off + 8, 1, 4);	/* nr_iovas */
			ASSERT_LE(1, r->nr_iovas);
			ASSERT_GE(end, off + sizeof(*r) +
				  r->nr_iovas * sizeof(r->iova_ranges[0]));
			memset(used + off + sizeof(*r), 1,
			       r->nr_iovas * sizeof(r->iova_ranges[0]));
			caps_end = max_u32(caps_end, off + sizeof(*r) +
					   r->nr_iovas *
					   sizeof(r->iova_ranges[0]));
			for (i = 0; i < r->nr_iovas; i++)
				if (r->iova_ranges[i].start >
				    r->iova_ranges[i].end)
					break;
			ASSERT_EQ(r->nr_iovas, i)
				TH_LOG("IOVA range %u ends before it starts",
				       i);
			/* The edu's IOVAs are usable. */
			ASSERT_LE(r->iova_ranges[0].start, IOVA_A);
			break;
		}
		case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: {
			struct vfio_iommu_type1_info_dma_avail *a = (void *)hdr;

			dma_avail = true;
			ASSERT_GE(end, off + sizeof(*a));
			memset(used + off + 8, 1, 4);
			caps_end = max_u32(caps_end, off + sizeof(*a));
			ASSERT_LT(0, a->avail);
			break;
		}
		case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: {
			struct vfio_iommu_type1_info_cap_migration *m =
				(void *)hdr;

			ASSERT_FALSE(c->type1_iommufd)
				TH_LOG("iommufd reports dirty tracking");
			ASSERT_GE(end, off + sizeof(*m));
			memset(used + off + 8, 1, 4);		/* flags */
			memset(used + off + 16, 1, 16);	/* sizes */
			caps_end = max_u32(caps_end, off + sizeof(*m));
			break;
		}
		default:
			ASSERT_TRUE(0) TH_LOG("unknown capability %u", hdr->id);
		}
		off = hdr->next;
		ASSERT_TRUE(!off || off > (__u32)((__u8 *)hdr - buf));
	}
	ASSERT_TRUE(iova_range);
	ASSERT_TRUE(dma_avail);
	/*
	 * iommufd reports the size it wrote, the capabilities padded to 8
	 * bytes; 6.1's type1 leaves a big enough argsz as it was and writes
	 * up to the end of its last capability.
	 */
	ASSERT_TRUE(!c->type1_iommufd || end == ((caps_end + 7) & ~7U))
		TH_LOG("argsz %u for capabilities ending at %u", end, caps_end);
	if (!c->type1_iommufd)
		end = caps_end;
	for (i = 0; i < end; i++)
		if (!used[i] && buf[i])
			break;
	ASSERT_EQ(end, i)
		TH_LOG("byte %u of %u is 0x%02x, not 0", i, end, buf[i]);
	ASSERT_TRUE(all_equal(buf + end, sizeof(buf) - end, 0xff))
		TH_LOG("written past the size reported");
}

static int unmap_raw(int fd, __u32 flags, __u64 iova, __u64 *size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = iova,
		.size = *size,
	};
	int ret;

	ret = ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
	*size = unmap.size;
	return ret;
}

/*
 * UNMAP_DMA reports in size what it removed: on success, on an empty
 * range (size 0), and through iommufd also on failure (the legacy type1
 * code leaves size as it was on failure).
 */
TEST_F_TIMEOUT(type1, unmap_size, 120)
{
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	int fd, ret;
	__u64 size;

	if (!c->found)
		SKIP(return, NO_EDU);
	type1_start(_metadata, c, VFIO_TYPE1v2_IOMMU, 4);
	fd = c->v.container_fd;

	/* Empty range: success, size 0. */
	size = 16 * ps;
	ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A, &size));
	ASSERT_EQ(0, size);

	/* Bad flags and arguments: EINVAL. */
	size = ps;
	ASSERT_EQ(-EINVAL, unmap_raw(fd, 1U << 7, IOVA_A, &size));
	size = ps;
	ASSERT_EQ(-EINVAL, unmap_raw(fd, VFIO_DMA_UNMAP_FLAG_ALL, IOVA_A,
				     &size));
	size = 0;
	ASSERT_EQ(-EINVAL, unmap_raw(fd, VFIO_DMA_UNMAP_FLAG_ALL, IOVA_A,
				     &size));
	if (c->type1_iommufd) {
		size = ps;
		ASSERT_EQ(-EINVAL, unmap_raw(fd, VFIO_DMA_UNMAP_FLAG_VADDR,
					     IOVA_A, &size));
		size = ps;
		ASSERT_EQ(-EINVAL,
			  unmap_raw(fd, VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
				    IOVA_A, &size));
	}

	/* Page A whole, then [A + ps, A + 3ps) that the request cuts. */
	ASSERT_EQ(0, edu_map(fd, c->mem, IOVA_A, ps));
	ASSERT_EQ(0, edu_map(fd, c->mem + ps, IOVA_A + ps, 2 * ps));
	size = 2 * ps;
	ret = unmap_raw(fd, 0, IOVA_A, &size);
	ASSERT_EQ(c->type1_iommufd ? -ENOENT : -EINVAL, ret);
	if (!c->type1_iommufd) {
		/* 6.1 type1 writes nothing back on failure. */
		ASSERT_EQ(2 * ps, size);
	} else {
		/* Whatever was removed is reported: probe page A. */
		ret = edu_map(fd, c->mem, IOVA_A, ps);
		ASSERT_TRUE(ret == 0 || ret == -EEXIST);
		ASSERT_EQ(ret ? 0 : ps, size)
			TH_LOG("size %llu after a failed unmap",
			       (unsigned long long)size);
	}

	/* Both whole: success with the sum. */
	size = 3 * ps;
	ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A, &size));
	ASSERT_EQ(3 * ps, size);
	size = 3 * ps;
	ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A, &size));
	ASSERT_EQ(0, size);

	/* ALL with nothing mapped: size 0. */
	size = 0;
	ASSERT_EQ(0, unmap_raw(fd, VFIO_DMA_UNMAP_FLAG_ALL, 0, &size));
	ASSERT_EQ(0, size);
}

/*
 * Type1 v1 unmaps.  The legacy type1 code keeps v1's old rules: a request
 * starting inside a mapping removes nothing (size 0), one covering the
 * first IOVA of a mapping removes all of it.  iommufd cuts the mappings at
 * the request edges instead, and the DMA shows which pages stay mapped.
 */
TEST_F_TIMEOUT(type1, v1_unmap, 120)
{
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u8 *p[4];
	__u64 size;
	int fd, i;

	if (!c->found)
		SKIP(return, NO_EDU);
	type1_start(_metadata, c, VFIO_TYPE1_IOMMU, 4);
	fd = c->v.container_fd;
	for (i = 0; i < 4; i++)
		p[i] = c->mem + i * ps;
	ASSERT_EQ(0, edu_map(fd, c->mem, IOVA_A, 4 * ps));
	c->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, c->kmsg_fd);

	/* Page 1 alone. */
	size = ps;
	ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A + ps, &size));
	if (!c->type1_iommufd) {
		ASSERT_EQ(0, size);
		/* Covering the first IOVA: the whole mapping goes. */
		size = ps;
		ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A, &size));
		ASSERT_EQ(4 * ps, size);
		memset(p[3], BACKGROUND, ps);
		ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A + 3 * ps,
				     64, true));
		ASSERT_TRUE(all_equal(p[3], ps, BACKGROUND));
		expect_fault(_metadata, c, IOVA_A + 3 * ps, "DMA Write");
		return;
	}
	ASSERT_EQ(ps, size);

	/* Pages 0, 2 and 3 still work, page 1 does not. */
	round_trip(_metadata, &c->dev, p[0], IOVA_A, p[2], IOVA_A + 2 * ps,
		   EDU_BUF_ADDR, EDU_DMA_MAX, ps);
	round_trip(_metadata, &c->dev, p[3], IOVA_A + 3 * ps, p[0], IOVA_A,
		   EDU_BUF_ADDR, EDU_DMA_MAX, ps);
	memset(p[1], BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A + ps, 64, true));
	ASSERT_TRUE(all_equal(p[1], ps, BACKGROUND));
	expect_fault(_metadata, c, IOVA_A + ps, "DMA Write");

	/* A range over the hole cuts page 2 off page 3's mapping. */
	size = 2 * ps;
	ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A + ps, &size));
	ASSERT_EQ(ps, size);
	round_trip(_metadata, &c->dev, p[0], IOVA_A, p[3], IOVA_A + 3 * ps,
		   EDU_BUF_ADDR, EDU_DMA_MAX, ps);
	size = 4 * ps;
	ASSERT_EQ(0, unmap_raw(fd, 0, IOVA_A, &size));
	ASSERT_EQ(2 * ps, size);
}

/* SET_IOMMU: only the type1 backends, once a group is attached. */
TEST_F_TIMEOUT(type1, set_iommu, 120)
{
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	char path[64];
	int fd;

	if (!c->found)
		SKIP(return, NO_EDU);
	ASSERT_EQ(0, edu_save_state(c->pci.bdf, &c->state));
	c->saved = true;
	ASSERT_EQ(0, edu_bind_vfio(c->pci.bdf));
	c->type1_iommufd = variant->mode == EDU_MODE_IOMMUFD_TYPE1 ||
			   dev_vfio_is_iommufd(_metadata);
	if (variant->mode == EDU_MODE_TYPE1) {
		fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	} else {
		fd = edu_iommufd_open();
		c->v.iommufd = fd;
	}
	ASSERT_LE(0, fd);
	c->v.container_fd = fd;

	/* No group yet: legacy EINVAL, iommufd ENODEV (no compat IOAS). */
	ASSERT_EQ(-1, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(c->type1_iommufd ? ENODEV : EINVAL, errno);

	snprintf(path, sizeof(path), "/dev/vfio/%d", c->pci.group);
	c->v.group_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, c->v.group_fd);
	ASSERT_EQ(0, set_container(c->v.group_fd, fd));

	/* Not a type1 backend. */
	ASSERT_EQ(-1, ioctl(fd, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_IOMMU));
	ASSERT_EQ(c->type1_iommufd ? EINVAL : ENODEV, errno);

	ASSERT_EQ(0, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ctx_open(_metadata, c, 2);
	ASSERT_EQ(0, edu_map(fd, c->mem, IOVA_A, 2 * ps));
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
		   IOVA_A + ps, EDU_BUF_ADDR, 128, ps);
}

/* The device cdev: BIND, ATTACH and DETACH and their errors. */
FIXTURE(cdev) {
	struct edu_ctx c;
	int fd2;
	int iommufd2;
};

FIXTURE_SETUP(cdev)
{
	self->fd2 = -1;
	self->iommufd2 = -1;
	ctx_find(_metadata, &self->c, EDU_MODE_CDEV);
}

FIXTURE_TEARDOWN(cdev)
{
	if (self->fd2 >= 0)
		close(self->fd2);
	if (self->iommufd2 >= 0)
		close(self->iommufd2);
	ctx_close(_metadata, &self->c);
}

/* Bind the edu to vfio-pci, open an iommufd with an IOAS; no cdev yet. */
static void cdev_start(struct __test_metadata *_metadata, struct edu_ctx *c)
{
	ASSERT_EQ(0, edu_save_state(c->pci.bdf, &c->state));
	c->saved = true;
	ASSERT_EQ(0, edu_bind_vfio(c->pci.bdf));
	c->v.iommufd = edu_iommufd_open();
	ASSERT_LE(0, c->v.iommufd) TH_LOG("/dev/iommu: %s",
					  strerror(-c->v.iommufd));
	ASSERT_EQ(0, edu_ioas_alloc(c->v.iommufd, &c->v.ioas_id));
}

static int bind_token(int fd, __u32 argsz, __u32 flags, int iommufd,
		      const void *token)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = argsz,
		.flags = flags,
		.iommufd = iommufd,
		.token_uuid_ptr = (uintptr_t)token,
	};

	return ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ? -errno : 0;
}

static int bind_raw(int fd, __u32 argsz, __u32 flags, int iommufd)
{
	return bind_token(fd, argsz, flags, iommufd, NULL);
}

static int attach_raw(int fd, __u32 argsz, __u32 flags, __u32 pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = argsz,
		.flags = flags,
		.pt_id = pt_id,
	};

	return ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ? -errno : 0;
}

static int detach_raw(int fd, __u32 argsz, __u32 flags)
{
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = argsz,
		.flags = flags,
	};

	return ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach) ? -errno : 0;
}

/*
 * Before BIND the cdev gives no access: every ioctl but BIND and every
 * read or write fails with EINVAL.  BIND checks its arguments and works
 * once per fd.
 */
TEST_F_TIMEOUT(cdev, bind, 120)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info region = {
		.argsz = sizeof(region),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	struct vfio_pci_hot_reset_info reset_info = {
		.argsz = sizeof(reset_info),
	};
	struct vfio_device_bind_iommufd bind = { .argsz = 16 };
	static const __u8 token[16] = { 0x5e, 0xed, 0x01 };
	struct edu_ctx *c = &self->c;
	__u32 val, dev_id = 0;
	char line[512];
	int fd, efd, ifd;
	void *bar;

	if (!c->found)
		SKIP(return, NO_EDU);
	cdev_start(_metadata, c);
	ifd = c->v.iommufd;
	fd = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd) TH_LOG("cdev of %s: %s", c->pci.bdf, strerror(-fd));
	c->dev.device_fd = fd;

	ASSERT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &region));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
			    &reset_info));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(fd, VFIO_DEVICE_RESET));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-EINVAL, attach_raw(fd, 16, 0, c->v.ioas_id));
	ASSERT_EQ(-EINVAL, detach_raw(fd, 12, 0));
	ASSERT_EQ(-1, pread(fd, &val, sizeof(val), 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, pwrite(fd, &val, sizeof(val), 0));
	ASSERT_EQ(EINVAL, errno);
	bar = mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_EQ(MAP_FAILED, bar);
	ASSERT_EQ(EINVAL, errno);

	/* BIND's own checks. */
	ASSERT_EQ(-EINVAL, bind_raw(fd, 15, 0, ifd));
	ASSERT_EQ(-EINVAL, bind_raw(fd, 24, 1U << 5, ifd));
	ASSERT_EQ(-EINVAL, bind_token(fd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN |
				      1U << 5, ifd, token));
	/*
	 * A token: argsz must cover token_uuid_ptr (else EINVAL, before the
	 * unreadable pointer would give EFAULT), which must be readable; the
	 * edu is neither a PF nor a VF, so vfio-pci's check refuses any token
	 * (the group path's "vf_token=" rule) and says so in the log: that
	 * line shows the check ran.  The VF and PF cases need SR-IOV, which
	 * the gate's topology does not have.
	 */
	ASSERT_EQ(-EINVAL, bind_token(fd, 16, VFIO_DEVICE_BIND_FLAG_TOKEN,
				      ifd, (void *)8));
	ASSERT_EQ(-EINVAL, bind_token(fd, 23, VFIO_DEVICE_BIND_FLAG_TOKEN,
				      ifd, (void *)8));
	ASSERT_EQ(-EFAULT, bind_raw(fd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN, ifd));
	ASSERT_EQ(-EFAULT, bind_token(fd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN,
				      ifd, (void *)8));
	c->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, c->kmsg_fd);
	ASSERT_EQ(-EINVAL, bind_token(fd, 24, VFIO_DEVICE_BIND_FLAG_TOKEN,
				      ifd, token));
	ASSERT_EQ(1, edu_kmsg_wait(c->kmsg_fd, c->pci.bdf,
				   "VF token incorrectly provided", line,
				   sizeof(line), FAULT_WAIT_MS))
		TH_LOG("vfio-pci did not check the token of the bind");
	ASSERT_EQ(-EINVAL, bind_raw(fd, 24, 0, -1));
	ASSERT_EQ(-EINVAL, bind_raw(fd, 24, 0, -100));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ASSERT_EQ(-EBADFD, bind_raw(fd, 24, 0, efd));
	close(efd);
	ASSERT_EQ(-EBADF, bind_raw(fd, 24, 0, efd));
	/* Without the flag, token_uuid_ptr is not read. */
	ASSERT_EQ(-EBADF, bind_token(fd, 24, 0, efd, (void *)8));
	/* The legacy container is not an iommufd. */
	if (!dev_vfio_is_iommufd(_metadata)) {
		efd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, efd);
		ASSERT_EQ(-EBADFD, bind_raw(fd, 24, 0, efd));
		close(efd);
	}
	/* Still unbound after all that. */
	ASSERT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_EQ(EINVAL, errno);

	/* The minimal argsz (16) works; the devid is a valid iommufd ID. */
	bind.iommufd = ifd;
	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	dev_id = bind.out_devid;
	ASSERT_LT(0, dev_id);
	ASSERT_GT(0x80000000U, dev_id);
	ASSERT_NE(c->v.ioas_id, dev_id);

	/* Once per fd, with the same iommufd or another one. */
	ASSERT_EQ(-EINVAL, bind_raw(fd, 24, 0, ifd));
	self->iommufd2 = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd2);
	ASSERT_EQ(-EINVAL, bind_raw(fd, 24, 0, self->iommufd2));

	/* The device is usable now. */
	ASSERT_EQ(0, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	c->dev.device_fd = -1;
	ASSERT_EQ(0, edu_dev_init(&c->dev, fd));
	ASSERT_EQ(0, edu_rd32(&c->dev, EDU_REG_ID, &val));
	ASSERT_EQ(EDU_ID_VALUE, val);

	/* The DEVICE object is not an IOAS: it cannot be destroyed. */
	ASSERT_NE(0, edu_iommufd_destroy(ifd, dev_id));
}

/*
 * ATTACH takes an IOAS or an HWPT ID and gives back the HWPT; a second
 * ATTACH naming where the device is changes nothing (a replace, see
 * cdev.replace); DETACH blocks DMA and is a no-op when not attached.
 */
TEST_F_TIMEOUT(cdev, attach_detach, 120)
{
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u32 dev_id = 0, hwpt, pt, ioas2 = 0;
	int fd;

	if (!c->found)
		SKIP(return, NO_EDU);
	cdev_start(_metadata, c);
	fd = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd);
	c->dev.device_fd = fd;
	ASSERT_EQ(0, edu_cdev_bind(fd, c->v.iommufd, &dev_id));
	c->dev.device_fd = -1;
	ASSERT_EQ(0, edu_dev_init(&c->dev, fd));
	ASSERT_EQ(0, edu_enable(&c->dev));
	c->mem_len = 2 * ps;
	c->mem = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->mem);
	c->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, c->kmsg_fd);

	/* Not attached: DETACH does nothing, DMA is blocked. */
	ASSERT_EQ(0, edu_cdev_detach(fd));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, c->v.ioas_id, c->mem, IOVA_A,
				  2 * ps));
	memset(c->mem, BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A, 64, true));
	ASSERT_TRUE(all_equal(c->mem, ps, BACKGROUND))
		TH_LOG("DMA of a bound, unattached device got through");
	expect_fault(_metadata, c, IOVA_A, "DMA Write");

	/* Bad arguments and IDs. */
	ASSERT_EQ(-EINVAL, attach_raw(fd, 11, 0, c->v.ioas_id));
	ASSERT_EQ(-EINVAL, attach_raw(fd, 16, 1U << 4, c->v.ioas_id));
	/* No PASID support: EOPNOTSUPP whatever argsz says. */
	ASSERT_EQ(-EOPNOTSUPP, attach_raw(fd, 12, VFIO_DEVICE_ATTACH_PASID,
					  c->v.ioas_id));
	ASSERT_EQ(-EOPNOTSUPP, attach_raw(fd, 16, VFIO_DEVICE_ATTACH_PASID,
					  c->v.ioas_id));
	ASSERT_EQ(-EOPNOTSUPP, detach_raw(fd, 8, VFIO_DEVICE_DETACH_PASID));
	ASSERT_EQ(-EOPNOTSUPP, detach_raw(fd, 12, VFIO_DEVICE_DETACH_PASID));
	ASSERT_EQ(-ENOENT, attach_raw(fd, 16, 0, 0));
	ASSERT_EQ(-ENOENT, attach_raw(fd, 16, 0, 0x7fffffff));
	ASSERT_EQ(-ENOENT, attach_raw(fd, 16, 0, 0xffffffff));
	ASSERT_EQ(-EINVAL, attach_raw(fd, 16, 0, dev_id));
	ASSERT_EQ(-EINVAL, detach_raw(fd, 7, 0));
	ASSERT_EQ(-EINVAL, detach_raw(fd, 12, 1U << 4));

	/* By IOAS ID: the HWPT comes back. */
	hwpt = c->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(fd, &hwpt));
	ASSERT_NE(c->v.ioas_id, hwpt);
	ASSERT_NE(dev_id, hwpt);
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
		   IOVA_A + ps, EDU_BUF_ADDR, EDU_DMA_MAX, ps);
	/* An HWPT in use and an IOAS with a device cannot be destroyed. */
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->v.iommufd, hwpt));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->v.iommufd, c->v.ioas_id));

	/*
	 * A second ATTACH is a replace: naming the HWPT the device is on, or
	 * its IOAS, changes nothing.
	 */
	pt = hwpt;
	ASSERT_EQ(0, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(hwpt, pt);
	pt = c->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(hwpt, pt);
	/* A failed replace leaves the attachment as it was */
	pt = dev_id;
	ASSERT_EQ(-EINVAL, edu_cdev_attach(fd, &pt));
	pt = 0x7fffffff;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->v.iommufd, hwpt));
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
		   IOVA_A + ps, EDU_BUF_ADDR, 128, ps);

	/* Detach: the automatic HWPT goes with its last device. */
	ASSERT_EQ(0, edu_cdev_detach(fd));
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(c->v.iommufd, hwpt));

	/* Attach to another IOAS, where IOVA_A is the second page. */
	ASSERT_EQ(0, edu_ioas_alloc(c->v.iommufd, &ioas2));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, ioas2, c->mem + ps, IOVA_A,
				  ps));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, ioas2, c->mem, IOVA_B, ps));
	pt = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(fd, &pt));
	ASSERT_NE(ioas2, pt);
	round_trip(_metadata, &c->dev, c->mem + ps, IOVA_A, c->mem, IOVA_B,
		   EDU_BUF_ADDR, 512, ps);

	/* Detach: DMA is blocked again, twice is fine. */
	ASSERT_EQ(0, edu_cdev_detach(fd));
	ASSERT_EQ(0, edu_cdev_detach(fd));
	memset(c->mem, BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_B, 64, true));
	ASSERT_TRUE(all_equal(c->mem, ps, BACKGROUND))
		TH_LOG("DMA after DETACH got through");
	expect_fault(_metadata, c, IOVA_B, "DMA Write");

	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(c->v.iommufd, pt));
	ASSERT_EQ(0, edu_iommufd_destroy(c->v.iommufd, ioas2));
}

/*
 * Which page received a device -> RAM transfer to IOVA_A of the pattern
 * just read from IOVA_B (the same page in both IOASes): 1 for @pa (IOVA_A
 * in the first IOAS), 2 for @pb (in the second), 0 for neither, -1 when
 * both changed or only part of the pattern arrived.
 */
static int replace_dma(struct __test_metadata *_metadata, struct edu_ctx *c,
		       __u8 *pa, __u8 *pb, __u8 *src, size_t ps)
{
	const __u32 count = 256;

	fill_pattern(src, count, new_seed());
	memset(pa, BACKGROUND, ps);
	memset(pb, BACKGROUND, ps);
	if (edu_dma(&c->dev, IOVA_B, EDU_BUF_ADDR, count, false) ||
	    edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A, count, true))
		return -1;
	if (!memcmp(pa, src, count) && all_equal(pb, ps, BACKGROUND))
		return 1;
	if (!memcmp(pb, src, count) && all_equal(pa, ps, BACKGROUND))
		return 2;
	if (all_equal(pa, ps, BACKGROUND) && all_equal(pb, ps, BACKGROUND))
		return 0;
	return -1;
}

/*
 * Replace (a second ATTACH) between two IOASes, with real DMA through the
 * intel-iommu: IOVA_A is page @pa in the first IOAS and page @pb in the
 * second, IOVA_B the source page in both.  A transfer lands through the
 * mapping of the IOAS the device is on before the replace, through the
 * other one's after it, and nowhere after the detach (the fault report is
 * not waited for: intel-iommu rate-limits them, and cdev.attach_detach
 * checks it).  By IOAS ID (an
 * automatic HWPT is made, the one left behind is destroyed) and by the ID
 * of an HWPT made with IOMMU_HWPT_ALLOC, which stays until DESTROY, busy
 * while the device uses it, and keeps its mappings while it does not.
 * The group's MSI window is reserved in the IOAS the device is on and not
 * in the other one; a replace into an IOAS that maps it fails with
 * EADDRINUSE and moves nothing.
 */
TEST_F_TIMEOUT(cdev, replace, 120)
{
	struct edu_ctx *c = &self->c;
	size_t ps = page_size();
	__u32 dev_id = 0, hwpt_a, hwpt_b, manual = 0, pt, ioas2 = 0, ioas3 = 0;
	__u8 *pa, *pb, *src;
	int fd;

	if (!c->found)
		SKIP(return, NO_EDU);
	cdev_start(_metadata, c);
	fd = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd);
	c->dev.device_fd = fd;
	ASSERT_EQ(0, edu_cdev_bind(fd, c->v.iommufd, &dev_id));
	c->dev.device_fd = -1;
	ASSERT_EQ(0, edu_dev_init(&c->dev, fd));
	ASSERT_EQ(0, edu_enable(&c->dev));
	c->mem_len = 3 * ps;
	c->mem = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c->mem);
	pa = c->mem;
	pb = c->mem + ps;
	src = c->mem + 2 * ps;
	c->kmsg_fd = edu_kmsg_open_end();
	ASSERT_LE(0, c->kmsg_fd);

	ASSERT_EQ(0, edu_ioas_alloc(c->v.iommufd, &ioas2));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, c->v.ioas_id, pa, IOVA_A, ps));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, c->v.ioas_id, src, IOVA_B,
				  ps));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, ioas2, pb, IOVA_A, ps));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, ioas2, src, IOVA_B, ps));

#define msi_reserved_in(on, off)                                               \
	do {                                                                   \
		ASSERT_EQ(0, edu_ioas_usable(c->v.iommufd, on, EDU_MSI_START,  \
					     EDU_MSI_LAST));                   \
		ASSERT_EQ(1, edu_ioas_usable(c->v.iommufd, off, EDU_MSI_START, \
					     EDU_MSI_LAST));                   \
	} while (0)

	hwpt_a = c->v.ioas_id;
	ASSERT_EQ(0, edu_cdev_attach(fd, &hwpt_a));
	ASSERT_EQ(1, replace_dma(_metadata, c, pa, pb, src, ps));
	msi_reserved_in(c->v.ioas_id, ioas2);

	/* By IOAS ID: a new automatic HWPT, the old one is gone */
	hwpt_b = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(fd, &hwpt_b));
	ASSERT_NE(ioas2, hwpt_b);
	ASSERT_NE(hwpt_a, hwpt_b);
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(c->v.iommufd, hwpt_a));
	ASSERT_EQ(2, replace_dma(_metadata, c, pa, pb, src, ps));
	msi_reserved_in(ioas2, c->v.ioas_id);

	/* To an HWPT made by IOMMU_HWPT_ALLOC on the first IOAS */
	ASSERT_EQ(0, edu_hwpt_alloc(c->v.iommufd, dev_id, c->v.ioas_id,
				    &manual));
	ASSERT_EQ(2, replace_dma(_metadata, c, pa, pb, src, ps));
	pt = manual;
	ASSERT_EQ(0, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(manual, pt);
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(c->v.iommufd, hwpt_b));
	ASSERT_EQ(1, replace_dma(_metadata, c, pa, pb, src, ps));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(c->v.iommufd, manual));
	msi_reserved_in(c->v.ioas_id, ioas2);

	/* Away from it and back: it kept its mappings meanwhile */
	hwpt_b = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(fd, &hwpt_b));
	ASSERT_EQ(2, replace_dma(_metadata, c, pa, pb, src, ps));
	pt = manual;
	ASSERT_EQ(0, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(1, replace_dma(_metadata, c, pa, pb, src, ps));
	hwpt_b = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(fd, &hwpt_b));
	ASSERT_EQ(2, replace_dma(_metadata, c, pa, pb, src, ps));
	ASSERT_EQ(0, edu_iommufd_destroy(c->v.iommufd, manual));
	msi_reserved_in(ioas2, c->v.ioas_id);

	/* Into an IOAS that maps the MSI window: refused, nothing moved */
	ASSERT_EQ(0, edu_ioas_alloc(c->v.iommufd, &ioas3));
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, ioas3, src, EDU_MSI_START,
				  ps));
	pt = ioas3;
	ASSERT_EQ(-EADDRINUSE, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(2, replace_dma(_metadata, c, pa, pb, src, ps));
	msi_reserved_in(ioas2, ioas3);
	ASSERT_EQ(1, edu_ioas_usable(c->v.iommufd, c->v.ioas_id,
				     EDU_MSI_START, EDU_MSI_LAST));
	/* No page table was left in it */
	ASSERT_EQ(0, edu_iommufd_destroy(c->v.iommufd, ioas3));

	/* Detached: a transfer to IOVA_A lands nowhere, and faults */
	ASSERT_EQ(0, edu_cdev_detach(fd));
	ASSERT_EQ(-ENOENT, edu_iommufd_destroy(c->v.iommufd, hwpt_b));
	memset(pa, BACKGROUND, ps);
	memset(pb, BACKGROUND, ps);
	ASSERT_EQ(0, edu_dma(&c->dev, EDU_BUF_ADDR, IOVA_A, 64, true));
	ASSERT_TRUE(all_equal(pa, ps, BACKGROUND));
	ASSERT_TRUE(all_equal(pb, ps, BACKGROUND))
		TH_LOG("DMA after DETACH got through");
	ASSERT_EQ(1, edu_ioas_usable(c->v.iommufd, ioas2, EDU_MSI_START,
				     EDU_MSI_LAST));
	ASSERT_EQ(0, edu_iommufd_destroy(c->v.iommufd, ioas2));
#undef msi_reserved_in
}

/*
 * A second fd of the same device cannot BIND while the first is bound,
 * and its failure must not undo anything of the first fd (upstream once
 * dropped the first fd's state on this path).
 */
TEST_F_TIMEOUT(cdev, second_fd, 120)
{
	struct edu_ctx *c = &self->c;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	size_t ps = page_size();
	__u32 dev_id = 0, dev_id2 = 0;
	int fd2;

	if (!c->found)
		SKIP(return, NO_EDU);
	cdev_start(_metadata, c);
	ctx_open(_metadata, c, 2);
	ASSERT_EQ(0, edu_ioas_map(c->v.iommufd, c->v.ioas_id, c->mem, IOVA_A,
				  2 * ps));
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
		   IOVA_A + ps, EDU_BUF_ADDR, 256, ps);

	/* Opening the cdev again is allowed, binding it is not. */
	fd2 = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd2);
	self->fd2 = fd2;
	ASSERT_EQ(-EINVAL, edu_cdev_bind(fd2, c->v.iommufd, &dev_id2));
	self->iommufd2 = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd2);
	ASSERT_EQ(-EINVAL, edu_cdev_bind(fd2, self->iommufd2, &dev_id2));
	ASSERT_EQ(-1, ioctl(fd2, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_EQ(EINVAL, errno);

	/* The first fd is untouched, also once the second is gone. */
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + ps,
		   IOVA_A + ps, EDU_BUF_ADDR, EDU_DMA_MAX, ps);
	close(fd2);
	self->fd2 = -1;
	round_trip(_metadata, &c->dev, c->mem + ps, IOVA_A + ps, c->mem,
		   IOVA_A, EDU_BUF_ADDR, EDU_DMA_MAX, ps);
	ASSERT_EQ(0, ioctl(c->dev.device_fd, VFIO_DEVICE_GET_INFO, &info));

	/* Closing the first fd unbinds: a new fd can bind again. */
	edu_dev_close(&c->dev);
	fd2 = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd2);
	self->fd2 = fd2;
	ASSERT_EQ(0, edu_cdev_bind(fd2, self->iommufd2, &dev_id));
	ASSERT_LT(0, dev_id);
}

/* The hexadecimal number in the sysfs file @path, or a negative errno. */
static int read_sysfs_hex(const char *path, __u64 *val)
{
	char buf[64], *end;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	errno = 0;
	*val = strtoull(buf, &end, 16);
	if (errno == ERANGE)
		return -ERANGE;
	return end != buf && (*end == '\n' || !*end) ? 0 : -EINVAL;
}

/*
 * IOMMU_GET_HW_INFO of the edu, by the dev_id BIND gave: Intel VT-d data
 * whose registers are those the guest's DMAR driver shows for the unit of
 * the device (/sys/bus/pci/devices/<bdf>/iommu), the same bound and
 * attached, zero-filled up to the buffer's length and nothing written
 * beyond it.  Another iommufd does not know the dev_id.
 *
 * The gate's QEMU has a single DMAR unit, so this does not prove that the
 * driver picks the unit of the device: a hw_info reading the first unit
 * would pass too.  A unit that is not VT-d is a failure, not a skip: the
 * gate topology always puts the edu behind intel-iommu.
 */
TEST_F_TIMEOUT(cdev, hw_info, 120)
{
	struct edu_ctx *c = &self->c;
	struct iommu_hw_info_vtd *vtd;
	struct iommu_hw_info cmd;
	__u64 buf[6], cap = 0, ecap = 0;
	char unit[64], path[256];
	__u32 dev_id = 0, pt;
	__u8 *bytes;
	unsigned int i, j;
	int fd;

	if (!c->found)
		SKIP(return, NO_EDU);
	ASSERT_EQ(0, edu_sysfs_link_name(c->pci.bdf, "iommu", unit,
					 sizeof(unit)));
	snprintf(path, sizeof(path), "/sys/class/iommu/%s/intel-iommu", unit);
	ASSERT_EQ(0, access(path, F_OK))
		TH_LOG("%s of %s is not an Intel VT-d unit (no %s)", unit,
		       c->pci.bdf, path);
	snprintf(path, sizeof(path), "/sys/class/iommu/%s/intel-iommu/cap",
		 unit);
	ASSERT_EQ(0, read_sysfs_hex(path, &cap)) TH_LOG("reading %s", path);
	snprintf(path, sizeof(path), "/sys/class/iommu/%s/intel-iommu/ecap",
		 unit);
	ASSERT_EQ(0, read_sysfs_hex(path, &ecap)) TH_LOG("reading %s", path);
	/* A unit that translates has a non-zero CAP (SAGAW, MGAW...) */
	ASSERT_NE(0, cap);
	TH_LOG("%s of %s: cap %llx ecap %llx", unit, c->pci.bdf,
	       (unsigned long long)cap, (unsigned long long)ecap);

	cdev_start(_metadata, c);
	fd = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd);
	c->dev.device_fd = fd;
	ASSERT_EQ(0, edu_cdev_bind(fd, c->v.iommufd, &dev_id));

	vtd = (struct iommu_hw_info_vtd *)buf;
	bytes = (__u8 *)buf;
	for (i = 0; i != 2; i++) {
		memset(buf, 0xff, sizeof(buf));
		memset(&cmd, 0, sizeof(cmd));
		cmd.size = sizeof(cmd);
		cmd.dev_id = dev_id;
		cmd.data_len = sizeof(*vtd) + 8;
		cmd.data_uptr = (uintptr_t)buf;
		cmd.out_capabilities = UINT64_MAX;
		ASSERT_EQ(0, ioctl(c->v.iommufd, IOMMU_GET_HW_INFO, &cmd));
		ASSERT_EQ(IOMMU_HW_INFO_TYPE_INTEL_VTD, cmd.out_data_type);
		ASSERT_EQ(sizeof(*vtd), cmd.data_len);
		ASSERT_EQ(0, cmd.out_capabilities);
		ASSERT_EQ(0, cmd.out_max_pasid_log2);
		ASSERT_EQ(0, vtd->flags);
		ASSERT_EQ(0, vtd->__reserved);
		ASSERT_EQ(cap, vtd->cap_reg);
		ASSERT_EQ(ecap, vtd->ecap_reg);
		for (j = sizeof(*vtd); j != sizeof(*vtd) + 8; j++)
			ASSERT_EQ(0, bytes[j]) TH_LOG("byte %u not zeroed", j);
		for (; j != sizeof(buf); j++)
			ASSERT_EQ(0xff, bytes[j])
				TH_LOG("byte %u written beyond data_len", j);
		if (i)
			break;
		/* Attached, the answer is the same */
		pt = c->v.ioas_id;
		ASSERT_EQ(0, edu_cdev_attach(fd, &pt));
	}

	/* A short buffer gets the start of the data */
	memset(buf, 0xff, sizeof(buf));
	cmd.data_len = 12;
	ASSERT_EQ(0, ioctl(c->v.iommufd, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(sizeof(*vtd), cmd.data_len);
	ASSERT_EQ(0, vtd->flags);
	ASSERT_EQ(0, vtd->__reserved);
	ASSERT_EQ((__u32)cap, *(__u32 *)(bytes + 8));
	for (j = 12; j != sizeof(buf); j++)
		ASSERT_EQ(0xff, bytes[j]);

	/* Errors on the real device */
	cmd.data_len = sizeof(*vtd);
	cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
	ASSERT_EQ(-1, ioctl(c->v.iommufd, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
	cmd.flags = 0;
	cmd.data_uptr = 8;
	ASSERT_EQ(-1, ioctl(c->v.iommufd, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(EFAULT, errno);
	self->iommufd2 = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd2);
	cmd.data_uptr = (uintptr_t)buf;
	ASSERT_EQ(-1, ioctl(self->iommufd2, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_EQ(0, edu_cdev_detach(fd));
}

/*
 * A group is used through its group fd or through the cdevs of its
 * devices, never both: BIND is EBUSY while the group is open, opening the
 * group is EBUSY while a device is bound.
 */
TEST_F_TIMEOUT(cdev, group_exclusive, 120)
{
	struct edu_ctx *c = &self->c;
	__u32 dev_id = 0, pt;
	char path[64];
	int fd, gfd;

	if (!c->found)
		SKIP(return, NO_EDU);
	cdev_start(_metadata, c);
	snprintf(path, sizeof(path), "/dev/vfio/%d", c->pci.group);

	/* Group open (even without a container): BIND refused. */
	gfd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd) TH_LOG("%s: %s", path, strerror(errno));
	fd = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd);
	self->fd2 = fd;
	ASSERT_EQ(-EBUSY, edu_cdev_bind(fd, c->v.iommufd, NULL));
	close(gfd);

	/* Group closed: BIND works; now the group cannot be opened. */
	ASSERT_EQ(0, edu_cdev_bind(fd, c->v.iommufd, &dev_id));
	ASSERT_EQ(-1, open(path, O_RDWR | O_CLOEXEC));
	ASSERT_EQ(EBUSY, errno);
	/* Failed attaches change nothing of that... */
	pt = 0x7fffffff;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(fd, &pt));
	pt = dev_id;
	ASSERT_EQ(-EINVAL, edu_cdev_attach(fd, &pt));
	ASSERT_EQ(-1, open(path, O_RDWR | O_CLOEXEC));
	ASSERT_EQ(EBUSY, errno);

	/* ... and once unbound by close, the group opens again and works. */
	close(fd);
	self->fd2 = -1;
	c->v.group = c->pci.group;
	c->v.mode = EDU_MODE_GROUP_IOMMUFD;
	gfd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, gfd);
	c->v.group_fd = gfd;
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, group_flags(gfd));
	ASSERT_EQ(0, edu_vfio_ioas(c->v.iommufd, IOMMU_VFIO_IOAS_SET,
				   &c->v.ioas_id));
	ASSERT_EQ(0, set_container(gfd, c->v.iommufd));
	ctx_open(_metadata, c, 2);
	ASSERT_EQ(0, edu_vfio_map(&c->v, c->mem, IOVA_A, 2 * page_size()));
	round_trip(_metadata, &c->dev, c->mem, IOVA_A, c->mem + page_size(),
		   IOVA_A + page_size(), EDU_BUF_ADDR, 256, page_size());

	/* With the group in use, the cdev cannot bind either. */
	fd = edu_cdev_open(c->pci.bdf);
	ASSERT_LE(0, fd);
	self->fd2 = fd;
	ASSERT_EQ(-EBUSY, edu_cdev_bind(fd, c->v.iommufd, NULL));
}

/*
 * IOMMU_VFIO_IOAS on an iommufd of its own: GET, SET and CLEAR of the IOAS
 * the VFIO compatibility ioctls use, and their errors.
 */
TEST(iommufd_vfio_ioas)
{
	struct iommu_vfio_ioas cmd;
	__u32 id = 0, ioas = 0, ioas2 = 0;
	int fd;

	fd = edu_iommufd_open();
	ASSERT_LE(0, fd) TH_LOG("/dev/iommu: %s", strerror(-fd));

	/* Nothing yet. */
	ASSERT_EQ(-ENODEV, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_CLEAR, NULL));
	id = 1;
	ASSERT_EQ(-ENOENT, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	/* SET_IOMMU has no IOAS to work on. */
	ASSERT_EQ(-1, ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(ENODEV, errno);

	ASSERT_EQ(0, edu_ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, edu_ioas_alloc(fd, &ioas2));
	ASSERT_EQ(-ENODEV, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));

	/* Bad op, reserved field, size: EOPNOTSUPP / EINVAL. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.op = 3;
	cmd.ioas_id = ioas;
	ASSERT_EQ(-1, ioctl(fd, IOMMU_VFIO_IOAS, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
	cmd.op = IOMMU_VFIO_IOAS_SET;
	cmd.__reserved = 1;
	ASSERT_EQ(-1, ioctl(fd, IOMMU_VFIO_IOAS, &cmd));
	ASSERT_EQ(EOPNOTSUPP, errno);
	cmd.__reserved = 0;
	cmd.size = 8;
	ASSERT_EQ(-1, ioctl(fd, IOMMU_VFIO_IOAS, &cmd));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-ENODEV, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));

	/* SET, GET, SET another, CLEAR. */
	id = ioas;
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas, id);
	id = ioas2;
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(ioas2, id);
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_CLEAR, NULL));
	ASSERT_EQ(-ENODEV, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	/* CLEAR destroys nothing. */
	ASSERT_EQ(0, edu_iommufd_destroy(fd, ioas2));

	/* Destroying the compat IOAS forgets it. */
	id = ioas;
	ASSERT_EQ(0, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_EQ(0, edu_iommufd_destroy(fd, ioas));
	ASSERT_EQ(-ENODEV, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id));
	id = ioas;
	ASSERT_EQ(-ENOENT, edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_SET, &id));

	/* The container API answers on any iommufd. */
	ASSERT_EQ(VFIO_API_VERSION, ioctl(fd, VFIO_GET_API_VERSION));
	ASSERT_EQ(1, ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));
	close(fd);
}

TEST_HARNESS_MAIN
