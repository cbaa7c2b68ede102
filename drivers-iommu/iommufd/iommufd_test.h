/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * IOMMU_TEST_CMD: the kernel half of tools/testing/selftests/iommu, built
 * only with CONFIG_IOMMUFD_TEST.  This is not a stable UAPI: it changes
 * together with the selftests, which include this file directly.
 *
 * A "mock domain" is a mock device on a private bus, behind a mock IOMMU
 * driver, bound to the iommufd and attached to an IOAS like a VFIO device
 * would be.  Its domain stores, for every MOCK_IO_PAGE_SIZE of IOVA, the
 * physical address it maps and the size of the map operation that mapped
 * it, so the tests can read back what the IOMMU would translate.
 */
#ifndef _UAPI_IOMMUFD_TEST_H
#define _UAPI_IOMMUFD_TEST_H

#include <linux/ioctl.h>
#include <linux/iommufd.h>
#include <linux/types.h>

/*
 * MOCK_IO_PAGE_SIZE uses PAGE_SIZE: the kernel's, or the one user space
 * defines before including this file (there is no user space header for
 * it).  The kernel also checks the size of struct iommu_test_cmd.
 */
#ifdef __KERNEL__
#include <asm/page.h>
#include <linux/build_bug.h>
#endif

enum {
	/* Reserve [start, start + length) in IOAS @id */
	IOMMU_TEST_OP_ADD_RESERVED = 1,
	/* Create a mock device, bind it and attach it to IOAS @id */
	IOMMU_TEST_OP_MOCK_DOMAIN,
	/*
	 * Check that the domain of HW_PAGETABLE @id maps
	 * [iova, iova + length) to the memory at uptr, and return the largest
	 * single map operation seen in the range
	 */
	IOMMU_TEST_OP_MD_CHECK_MAP,
	/* Check that every page of [uptr, uptr + length) has @refs pins */
	IOMMU_TEST_OP_MD_CHECK_REFS,
	/*
	 * Limit the temporary memory of a pin batch of this iommufd to
	 * @limit bytes
	 */
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
	/*
	 * IOMMU_TEST_OP_MOCK_DOMAIN with a choice of mock IOMMU, IOMMU
	 * instance and iommu_group (MOCK_FLAGS_DEVICE_*); attaches to IOAS
	 * or HW_PAGETABLE @id unless MOCK_FLAGS_DEVICE_NO_ATTACH
	 */
	IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
	/* Attach the mock device of selftest object @id to pt_id */
	IOMMU_TEST_OP_MOCK_DEVICE_ATTACH,
	/* Detach the mock device of selftest object @id */
	IOMMU_TEST_OP_MOCK_DEVICE_DETACH,
	/* How many mock paging domains were ever allocated */
	IOMMU_TEST_OP_MOCK_DOMAIN_ALLOCS,
	/* Report the kernel memory describing the mappings of IOAS @id */
	IOMMU_TEST_OP_IOAS_METADATA,
	/* Whether HW_PAGETABLE @id enforces cache coherency */
	IOMMU_TEST_OP_HWPT_COHERENCY,
	/*
	 * Which domain the mock device of selftest object @id is attached
	 * to, as the mock driver sees it (MOCK_DEV_ON_*)
	 */
	IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN,
	/*
	 * iommufd_device_replace() of the attached mock device of selftest
	 * object @id, to an IOAS or HW_PAGETABLE (struct mock_attach)
	 */
	IOMMU_TEST_OP_MOCK_DEVICE_REPLACE,
	/*
	 * Create an in-kernel access of the mock driver, in a selftest
	 * object (destroy it to destroy the access), attached to IOAS @id
	 * unless @id is 0 (struct access_create)
	 */
	IOMMU_TEST_OP_CREATE_ACCESS,
	/*
	 * Attach, replace or detach the access of selftest object @id
	 * (struct access_ioas)
	 */
	IOMMU_TEST_OP_ACCESS_SET_IOAS,
	/*
	 * iommufd_access_pin_pages() through the access of selftest object
	 * @id; the mock driver keeps the pages until ACCESS_UNPIN or its
	 * unmap callback (struct access_pages)
	 */
	IOMMU_TEST_OP_ACCESS_PIN,
	/* Unpin a range ACCESS_PIN pinned, exactly (struct access_pages) */
	IOMMU_TEST_OP_ACCESS_UNPIN,
	/*
	 * iommufd_access_rw() between IOVA and a user buffer, through the
	 * access of selftest object @id (struct access_rw)
	 */
	IOMMU_TEST_OP_ACCESS_RW,
	/*
	 * Read the record of the unmap callbacks the access of selftest
	 * object @id received, reset once it reached user space
	 * (struct access_unmaps)
	 */
	IOMMU_TEST_OP_ACCESS_UNMAPS,
};

/* IOMMU_TEST_OP_CREATE_ACCESS flags */
enum {
	/* The access pins pages (iommufd_access_ops.needs_pin_pages) */
	MOCK_ACCESS_NEEDS_PIN_PAGES = 1 << 0,
	/*
	 * A buggy driver: its unmap callback records the call but does not
	 * unpin anything
	 */
	MOCK_ACCESS_NO_UNPIN = 1 << 1,
};

/* IOMMU_TEST_OP_ACCESS_SET_IOAS modes */
enum {
	MOCK_ACCESS_IOAS_ATTACH,	/* iommufd_access_attach() */
	MOCK_ACCESS_IOAS_REPLACE,	/* iommufd_access_replace() */
	MOCK_ACCESS_IOAS_DETACH,	/* iommufd_access_detach(), ioas_id 0 */
};

/* IOMMU_TEST_OP_ACCESS_PIN and IOMMU_TEST_OP_ACCESS_RW flags */
enum {
	/* Pin for writing, or copy from the user buffer to the IOVA */
	MOCK_ACCESS_RW_WRITE = 1 << 0,
	/* Pass IOMMUFD_ACCESS_RW_KTHREAD (IOMMU_TEST_OP_ACCESS_RW only) */
	MOCK_ACCESS_RW_KTHREAD = 1 << 1,
};

/* Longest range of one ACCESS_PIN or ACCESS_RW (16 MiB); longer: EINVAL */
#define MOCK_ACCESS_MAX_LENGTH 0x1000000UL

/* IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN: where a mock device is attached */
enum {
	MOCK_DEV_ON_NONE,	/* no domain at all */
	MOCK_DEV_ON_BLOCKED,	/* the blocking domain: no DMA */
	MOCK_DEV_ON_IDENTITY,	/* the identity (default) domain */
	MOCK_DEV_ON_HWPT,	/* the domain of HW_PAGETABLE hwpt_id */
	MOCK_DEV_ON_OTHER,	/* another paging domain */
};

/*
 * Mock IOMMUs.  Each behaves like one kind of 6.1 driver at attach:
 *
 * default      the domain is complete when allocated: aperture
 *              [MOCK_APERTURE_START, MOCK_APERTURE_LAST], every power of
 *              two from MOCK_IO_PAGE_SIZE up as page size.
 * SMMUV3       like 6.1 arm-smmu-v3: a new domain has no aperture, only
 *              MOCK_IO_PAGE_SIZE (the bus's page sizes) and no page table,
 *              so map fails with -ENODEV; the first attach finishes it:
 *              aperture [0, MOCK_SMMU_APERTURE_LAST], page sizes
 *              PAGE_SIZE, 2 MiB and 1 GiB.
 * INTEL        like 6.1 intel: a new domain has a 57-bit aperture and
 *              PAGE_SIZE pages only; each attach sets its aperture to the
 *              address width of the joining device's unit
 *              (MOCK_INTEL_APERTURE_LAST, or MOCK_INTEL_NARROW_LAST with
 *              MOCK_FLAGS_DEVICE_NARROW), wider or narrower than before,
 *              and adds 2 MiB and 1 GiB pages.  The page table only ever
 *              narrows: once a narrow unit joined, a map beyond its width
 *              fails with -ENOMEM even inside a wider aperture.  A join
 *              is refused with -EFAULT when the domain ever mapped beyond
 *              the unit's width (6.1's sticky max_addr, lowered only by
 *              unmapping exactly the highest mapping).  A device that
 *              leaves changes nothing.
 *
 * A paging domain of the default and SMMUV3 mock IOMMUs is bound to the
 * IOMMU instance of the first device attached to it, and an attach of a
 * device behind another instance is refused with -ENXIO (6.1 arm-smmu-v3's
 * answer for a domain of another SMMU); an INTEL domain, like 6.1 intel's,
 * serves devices of any unit.  A domain of one kind refuses devices of the
 * others with -ENXIO.  enforce_cache_coherency() succeeds unless a device
 * whose unit cannot enforce it (MOCK_FLAGS_DEVICE_NO_SNOOP) is attached,
 * so it succeeds for a domain without device, as on 6.1 intel; once it
 * succeeded, such a device is refused with -EOPNOTSUPP.
 *
 * Every mock device created without MOCK_FLAGS_DEVICE_SAME_INSTANCE or
 * MOCK_FLAGS_DEVICE_SAME_GROUP is behind an IOMMU instance of its own, in
 * an iommu_group of its own.
 */
enum {
	/* Behind a mock IOMMU that behaves like 6.1 arm-smmu-v3 */
	MOCK_FLAGS_DEVICE_SMMUV3 = 1 << 0,
	/* Behind a mock IOMMU that behaves like 6.1 intel */
	MOCK_FLAGS_DEVICE_INTEL = 1 << 1,
	/* Its IOMMU unit cannot enforce cache coherency (no Snoop Control) */
	MOCK_FLAGS_DEVICE_NO_SNOOP = 1 << 2,
	/* INTEL only: its unit has the narrower address width */
	MOCK_FLAGS_DEVICE_NARROW = 1 << 3,
	/*
	 * Behind the IOMMU instance of the mock device of selftest object
	 * peer_stdev_id, whose kind and unit flags it takes: no kind or unit
	 * flag may be given with it
	 */
	MOCK_FLAGS_DEVICE_SAME_INSTANCE = 1 << 4,
	/*
	 * In the iommu_group of the mock device of selftest object
	 * peer_stdev_id (and so behind its instance).  The peer must not be
	 * attached yet: a device added to an attached group is not attached
	 * by this kernel's iommu core.
	 */
	MOCK_FLAGS_DEVICE_SAME_GROUP = 1 << 5,
	/* Only bind: attach later with IOMMU_TEST_OP_MOCK_DEVICE_ATTACH */
	MOCK_FLAGS_DEVICE_NO_ATTACH = 1 << 6,
	/*
	 * Behind a mock IOMMU whose domains have no finalise op, like 6.1
	 * amd, arm-smmu-v3, arm-smmu and virtio-iommu; otherwise like the
	 * default kind (page table and aperture set at allocation, like amd)
	 */
	MOCK_FLAGS_DEVICE_NO_FINALISE = 1 << 7,
};

/* IOVA granule of mock domains: smaller than PAGE_SIZE on purpose */
#define MOCK_IO_PAGE_SIZE (PAGE_SIZE / 2)
/* IOVA the default mock domains can translate */
#define MOCK_APERTURE_START 0x1000000UL
#define MOCK_APERTURE_LAST ((1UL << 31) - 1)
/* Aperture of a MOCK_FLAGS_DEVICE_SMMUV3 domain once attached: [0, last] */
#define MOCK_SMMU_APERTURE_LAST ((1ULL << 40) - 1)
/* Aperture of a MOCK_FLAGS_DEVICE_INTEL domain: before and after attach */
#define MOCK_INTEL_UNATTACHED_LAST ((1ULL << 57) - 1)
#define MOCK_INTEL_APERTURE_LAST ((1ULL << 48) - 1)
#define MOCK_INTEL_NARROW_LAST ((1ULL << 39) - 1)

/*
 * IOMMU_GET_HW_INFO of a mock device behind the default or the INTEL mock
 * IOMMU: out_data_type IOMMU_HW_INFO_TYPE_SELFTEST, the data a struct
 * iommu_test_hw_info with @flags MOCK_FLAGS_DEVICE_INTEL for the INTEL one
 * (0 for the default one) and @test_reg IOMMU_HW_INFO_SELFTEST_REGVAL.
 * The SMMUV3 mock IOMMU reports nothing (IOMMU_HW_INFO_TYPE_NONE).
 */
#define IOMMU_HW_INFO_TYPE_SELFTEST 0xfeedbeef
#define IOMMU_HW_INFO_SELFTEST_REGVAL 0xdeadbeef

struct iommu_test_hw_info {
	__u32 flags;
	__u32 test_reg;
};

/**
 * struct iommu_test_cmd - ioctl(IOMMU_TEST_CMD)
 * @size: sizeof(struct iommu_test_cmd)
 * @op: IOMMU_TEST_OP_*
 * @id: object the operation applies to (IOAS or HW_PAGETABLE)
 * @__reserved: must be 0
 * @add_reserved: IOMMU_TEST_OP_ADD_RESERVED
 * @mock_domain: IOMMU_TEST_OP_MOCK_DOMAIN: IDs of the selftest object
 *               (destroy it to detach and unbind the mock device), of the
 *               device and of the HW_PAGETABLE it was attached to
 * @mock_domain_flags: IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: MOCK_FLAGS_DEVICE_*
 *                     and the selftest object of the peer device they name;
 *                     out as @mock_domain (out_hwpt_id 0 if not attached)
 * @mock_attach: IOMMU_TEST_OP_MOCK_DEVICE_ATTACH and
 *               IOMMU_TEST_OP_MOCK_DEVICE_REPLACE: an IOAS or HW_PAGETABLE
 *               ID, and the HW_PAGETABLE the device was attached to
 * @domain_allocs: IOMMU_TEST_OP_MOCK_DOMAIN_ALLOCS
 * @check_map: IOMMU_TEST_OP_MD_CHECK_MAP; also returns the largest page
 *             size the mock driver was asked to map in the range
 * @check_refs: IOMMU_TEST_OP_MD_CHECK_REFS
 * @memory_limit: IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, for the iommufd the
 *                command is issued on; 0 restores the default
 * @hwpt_coherency: IOMMU_TEST_OP_HWPT_COHERENCY: 1 if the HW_PAGETABLE
 *                  enforces cache coherency, else 0
 * @mock_device_domain: IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN: a HW_PAGETABLE ID
 *                      (or 0) to compare with, and MOCK_DEV_ON_*
 * @metadata: IOMMU_TEST_OP_IOAS_METADATA: number of areas (pieces of
 *            mappings), of distinct pinned-memory objects behind them and
 *            of PFN runs in those objects, and the bytes of kernel memory
 *            all of them take (areas, pages objects, run chunks and the
 *            xarray nodes indexing them); memory shared with another IOAS
 *            by IOMMU_IOAS_COPY is counted in both
 * @access_create: IOMMU_TEST_OP_CREATE_ACCESS: MOCK_ACCESS_* flags; the ID
 *                 of the new selftest object and of its ACCESS object
 * @access_ioas: IOMMU_TEST_OP_ACCESS_SET_IOAS: MOCK_ACCESS_IOAS_* and the
 *               IOAS to attach or replace to
 * @access_pages: IOMMU_TEST_OP_ACCESS_PIN and IOMMU_TEST_OP_ACCESS_UNPIN:
 *                the IOVA range; PIN only: MOCK_ACCESS_RW_WRITE, and if
 *                @uptr is not 0, the user address of the memory mapped at
 *                @iova (same offset in its page), which every pinned page
 *                is checked against (EINVAL if one differs); out the
 *                number of pages pinned
 * @access_rw: IOMMU_TEST_OP_ACCESS_RW: the IOVA range, the user buffer
 *             of @length bytes, MOCK_ACCESS_RW_* flags
 * @access_unmaps: IOMMU_TEST_OP_ACCESS_UNMAPS: unmap callbacks since the
 *                 last read that reached user space, the ranges of the
 *                 first and of the last of them (zero if there was none),
 *                 and the number of ranges the mock driver holds pinned.
 *                 It fits in the 40 bytes the union had before the access
 *                 ops: struct iommu_test_cmd is still 64 bytes
 * @last: end of the structure
 */
struct iommu_test_cmd {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		struct {
			__aligned_u64 start;
			__aligned_u64 length;
		} add_reserved;
		struct {
			__u32 out_stdev_id;
			__u32 out_idev_id;
			__u32 out_hwpt_id;
			__u32 __reserved;
		} mock_domain;
		struct {
			__u32 dev_flags;
			__u32 peer_stdev_id;
			__u32 out_stdev_id;
			__u32 out_idev_id;
			__u32 out_hwpt_id;
			__u32 __reserved;
		} mock_domain_flags;
		struct {
			__u32 pt_id;
			__u32 out_hwpt_id;
		} mock_attach;
		struct {
			__aligned_u64 out_count;
		} domain_allocs;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__aligned_u64 out_max_map_size;
			__aligned_u64 out_max_pgsize;
		} check_map;
		struct {
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 refs;
			__u32 __reserved;
		} check_refs;
		struct {
			__u32 limit;
			__u32 __reserved;
		} memory_limit;
		struct {
			__u32 out_enforce;
			__u32 __reserved;
		} hwpt_coherency;
		struct {
			__u32 hwpt_id;
			__u32 out_kind;
		} mock_device_domain;
		struct {
			__aligned_u64 out_areas;
			__aligned_u64 out_pages;
			__aligned_u64 out_runs;
			__aligned_u64 out_bytes;
		} metadata;
		struct {
			__u32 flags;
			__u32 out_access_id;
			__u32 out_access_obj_id;
			__u32 __reserved;
		} access_create;
		struct {
			__u32 mode;
			__u32 ioas_id;
		} access_ioas;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 flags;
			__u32 out_npages;
		} access_pages;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 flags;
			__u32 __reserved;
		} access_rw;
		struct {
			__u32 out_count;
			__u32 out_pins;
			struct mock_access_unmap_range {
				__aligned_u64 iova;
				__aligned_u64 length;
			} out_first, out_last;
		} access_unmaps;
	};
	__u32 last;
};

#ifdef __KERNEL__
/*
 * The access ops fit in the union as it was before them: programs built
 * with the header of the earlier ops still pass a command large enough.
 */
static_assert(sizeof(struct iommu_test_cmd) == 64);
#endif

#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

#endif
