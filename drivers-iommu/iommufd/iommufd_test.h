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

#include <linux/types.h>
#include <linux/iommufd.h>

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
	/* Limit the temporary memory of a pin batch to @limit bytes */
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
};

/* IOVA granule of mock domains: smaller than PAGE_SIZE on purpose */
#define MOCK_IO_PAGE_SIZE (PAGE_SIZE / 2)
/* IOVA the mock domains can translate */
#define MOCK_APERTURE_START 0x1000000UL
#define MOCK_APERTURE_LAST ((1UL << 31) - 1)

/**
 * struct iommu_test_cmd - ioctl(IOMMU_TEST_CMD)
 * @size: sizeof(struct iommu_test_cmd)
 * @op: IOMMU_TEST_OP_*
 * @id: object the operation applies to (IOAS or HW_PAGETABLE)
 * @__reserved: must be 0
 * @add_reserved: IOMMU_TEST_OP_ADD_RESERVED
 * @mock_domain: IOMMU_TEST_OP_MOCK_DOMAIN: IDs of the selftest object
 *               (destroy it to unbind the mock device), of the device and
 *               of the HW_PAGETABLE it was attached to
 * @check_map: IOMMU_TEST_OP_MD_CHECK_MAP
 * @check_refs: IOMMU_TEST_OP_MD_CHECK_REFS
 * @memory_limit: IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT; 0 restores the
 *                default
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
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__aligned_u64 out_max_map_size;
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
	};
	__u32 last;
};

#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

#endif
