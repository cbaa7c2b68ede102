// SPDX-License-Identifier: GPL-2.0-only
/*
 * The iommufd UAPI of this kernel, and the VFIO UAPI that goes with it,
 * checked against upstream's numbers.
 *
 * Programs built against upstream's <linux/iommufd.h> must run unchanged on
 * this kernel for every command it implements, so each structure must have
 * upstream's size and each field upstream's offset and size, and each ioctl
 * and constant upstream's value.  The expected numbers below are written out
 * as literals, transcribed from upstream's UAPI; they are not derived from
 * the header under test, which only provides the actual values.
 *
 * Every table entry is one structure: its size, its ioctl (if any) and all
 * of its fields, in order.  The fields of an entry must cover the whole
 * structure without gaps (members of a union share an offset), so that a
 * field added to the header without being listed here is caught too.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/types.h>
#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#include "../kselftest.h"

struct field_fact {
	const char *name;
	size_t offset;		/* upstream */
	size_t size;		/* upstream; 0 for a flexible array member */
	size_t hdr_offset;	/* this kernel's header */
	size_t hdr_size;
};

struct struct_fact {
	const char *name;
	size_t size;
	size_t hdr_size;
	const char *ioctl_name;	/* NULL if the structure has no ioctl */
	unsigned int ioctl_type, ioctl_nr;
	unsigned long hdr_ioctl;
	const struct field_fact *fields;
	unsigned int nr_fields;
};

struct const_fact {
	const char *name;
	unsigned long long value;
	unsigned long long hdr_value;
};

/*
 * F(): a field of the structure of the enclosing LAYOUT(), at upstream's
 * offset and with upstream's size.  FA(): a flexible array member.  Both
 * measure the field in "obj", the instance LAYOUT() declares.
 */
#define OFFSET_IN_OBJ(x) ((size_t)((const char *)&(x) - (const char *)&obj))
#define FIELD(name, off, sz, x) { name, off, sz, OFFSET_IN_OBJ(x), sizeof(x) }
#define FIELD_FA(name, off, x) { name, off, 0, OFFSET_IN_OBJ(x), 0 }
#define F(m, off, sz) FIELD(#m, off, sz, obj.m)
#define FA(m, off) FIELD_FA(#m, off, obj.m)

#define __LAYOUT(s, sz, ioc_name, type, nr, hdr_ioc, ...)		\
	({								\
		static const struct s obj;				\
		static const struct field_fact f[] = { __VA_ARGS__ };	\
		(struct struct_fact){					\
			.name = #s, .size = sz, .hdr_size = sizeof(obj), \
			.ioctl_name = ioc_name, .ioctl_type = type,	\
			.ioctl_nr = nr, .hdr_ioctl = hdr_ioc,		\
			.fields = f, .nr_fields = ARRAY_SIZE(f),	\
		};							\
	})

/* A structure passed to ioctl @ioc, whose type and number are @type, @nr */
#define LAYOUT(s, sz, ioc, type, nr, ...) \
	__LAYOUT(s, sz, #ioc, type, nr, ioc, __VA_ARGS__)
/* A structure used inside other structures or arrays */
#define LAYOUT_NOIOCTL(s, sz, ...) \
	__LAYOUT(s, sz, NULL, 0, 0, 0, __VA_ARGS__)

#define C(name, value) { #name, value, name }

static bool check_struct(const struct struct_fact *s)
{
	size_t covered = 0;
	bool ok = true;
	unsigned int i;

	if (s->hdr_size != s->size) {
		ksft_print_msg("struct %s: size %zu, upstream %zu\n",
			       s->name, s->hdr_size, s->size);
		ok = false;
	}
	for (i = 0; i < s->nr_fields; i++) {
		const struct field_fact *f = &s->fields[i];

		if (f->hdr_offset != f->offset || f->hdr_size != f->size) {
			ksft_print_msg("struct %s: %s at %zu size %zu, upstream at %zu size %zu\n",
				       s->name, f->name, f->hdr_offset,
				       f->hdr_size, f->offset, f->size);
			ok = false;
		}
		/* The table itself: fields in order, no gap between them */
		if (f->offset > covered) {
			ksft_print_msg("struct %s: no field in bytes %zu-%zu (table)\n",
				       s->name, covered, f->offset - 1);
			ok = false;
		}
		if (f->offset + f->size > covered)
			covered = f->offset + f->size;
	}
	if (covered != s->size) {
		ksft_print_msg("struct %s: table fields cover %zu of %zu bytes\n",
			       s->name, covered, s->size);
		ok = false;
	}
	return ok;
}

static bool check_ioctl(const struct struct_fact *s)
{
	unsigned long v = s->hdr_ioctl;
	bool ok = _IOC_TYPE(v) == s->ioctl_type && _IOC_NR(v) == s->ioctl_nr &&
		  _IOC_DIR(v) == _IOC_NONE && _IOC_SIZE(v) == 0;

	if (!ok)
		ksft_print_msg("%s = %#lx (type %#x nr %#x dir %u size %u), upstream %#x %#x\n",
			       s->ioctl_name, v, (unsigned int)_IOC_TYPE(v),
			       (unsigned int)_IOC_NR(v),
			       (unsigned int)_IOC_DIR(v),
			       (unsigned int)_IOC_SIZE(v), s->ioctl_type,
			       s->ioctl_nr);
	return ok;
}

int main(void)
{
	const struct struct_fact structs[] = {
		LAYOUT(iommu_destroy, 8, IOMMU_DESTROY, 0x3b, 0x80,
		       F(size, 0, 4), F(id, 4, 4)),
		LAYOUT(iommu_ioas_alloc, 12, IOMMU_IOAS_ALLOC, 0x3b, 0x81,
		       F(size, 0, 4), F(flags, 4, 4), F(out_ioas_id, 8, 4)),
		LAYOUT(iommu_ioas_allow_iovas, 24, IOMMU_IOAS_ALLOW_IOVAS,
		       0x3b, 0x82,
		       F(size, 0, 4), F(ioas_id, 4, 4), F(num_iovas, 8, 4),
		       F(__reserved, 12, 4), F(allowed_iovas, 16, 8)),
		LAYOUT(iommu_ioas_copy, 40, IOMMU_IOAS_COPY, 0x3b, 0x83,
		       F(size, 0, 4), F(flags, 4, 4), F(dst_ioas_id, 8, 4),
		       F(src_ioas_id, 12, 4), F(length, 16, 8),
		       F(dst_iova, 24, 8), F(src_iova, 32, 8)),
		LAYOUT(iommu_ioas_iova_ranges, 32, IOMMU_IOAS_IOVA_RANGES,
		       0x3b, 0x84,
		       F(size, 0, 4), F(ioas_id, 4, 4), F(num_iovas, 8, 4),
		       F(__reserved, 12, 4), F(allowed_iovas, 16, 8),
		       F(out_iova_alignment, 24, 8)),
		LAYOUT(iommu_ioas_map, 40, IOMMU_IOAS_MAP, 0x3b, 0x85,
		       F(size, 0, 4), F(flags, 4, 4), F(ioas_id, 8, 4),
		       F(__reserved, 12, 4), F(user_va, 16, 8),
		       F(length, 24, 8), F(iova, 32, 8)),
		LAYOUT(iommu_ioas_unmap, 24, IOMMU_IOAS_UNMAP, 0x3b, 0x86,
		       F(size, 0, 4), F(ioas_id, 4, 4), F(iova, 8, 8),
		       F(length, 16, 8)),
		LAYOUT(iommu_option, 24, IOMMU_OPTION, 0x3b, 0x87,
		       F(size, 0, 4), F(option_id, 4, 4), F(op, 8, 2),
		       F(__reserved, 10, 2), F(object_id, 12, 4),
		       F(val64, 16, 8)),
		LAYOUT_NOIOCTL(iommu_iova_range, 16,
			       F(start, 0, 8), F(last, 8, 8)),
		LAYOUT(iommu_vfio_ioas, 12, IOMMU_VFIO_IOAS, 0x3b, 0x88,
		       F(size, 0, 4), F(ioas_id, 4, 4), F(op, 8, 2),
		       F(__reserved, 10, 2)),
		LAYOUT(iommu_hwpt_alloc, 48, IOMMU_HWPT_ALLOC, 0x3b, 0x89,
		       F(size, 0, 4), F(flags, 4, 4), F(dev_id, 8, 4),
		       F(pt_id, 12, 4), F(out_hwpt_id, 16, 4),
		       F(__reserved, 20, 4), F(data_type, 24, 4),
		       F(data_len, 28, 4), F(data_uptr, 32, 8),
		       F(fault_id, 40, 4), F(__reserved2, 44, 4)),
		LAYOUT(iommu_hw_info, 40, IOMMU_GET_HW_INFO, 0x3b, 0x8a,
		       F(size, 0, 4), F(flags, 4, 4), F(dev_id, 8, 4),
		       F(data_len, 12, 4), F(data_uptr, 16, 8),
		       F(in_data_type, 24, 4), F(out_data_type, 24, 4),
		       F(out_max_pasid_log2, 28, 1), F(__reserved, 29, 3),
		       F(out_capabilities, 32, 8)),
		LAYOUT_NOIOCTL(iommu_hw_info_vtd, 24,
			       F(flags, 0, 4), F(__reserved, 4, 4),
			       F(cap_reg, 8, 8), F(ecap_reg, 16, 8)),

		/* VFIO's side: the cdev, hot reset by ID, the container */
		LAYOUT(vfio_device_bind_iommufd, 24, VFIO_DEVICE_BIND_IOMMUFD,
		       0x3b, 118,
		       F(argsz, 0, 4), F(flags, 4, 4), F(iommufd, 8, 4),
		       F(out_devid, 12, 4), F(token_uuid_ptr, 16, 8)),
		LAYOUT(vfio_device_attach_iommufd_pt, 16,
		       VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0x3b, 119,
		       F(argsz, 0, 4), F(flags, 4, 4), F(pt_id, 8, 4),
		       F(pasid, 12, 4)),
		LAYOUT(vfio_device_detach_iommufd_pt, 12,
		       VFIO_DEVICE_DETACH_IOMMUFD_PT, 0x3b, 120,
		       F(argsz, 0, 4), F(flags, 4, 4), F(pasid, 8, 4)),
		LAYOUT(vfio_pci_hot_reset_info, 12,
		       VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 0x3b, 112,
		       F(argsz, 0, 4), F(flags, 4, 4), F(count, 8, 4),
		       FA(devices, 12)),
		LAYOUT_NOIOCTL(vfio_pci_dependent_device, 8,
			       F(group_id, 0, 4), F(devid, 0, 4),
			       F(segment, 4, 2), F(bus, 6, 1), F(devfn, 7, 1)),
		LAYOUT(vfio_pci_hot_reset, 12, VFIO_DEVICE_PCI_HOT_RESET,
		       0x3b, 113,
		       F(argsz, 0, 4), F(flags, 4, 4), F(count, 8, 4),
		       FA(group_fds, 12)),
		LAYOUT(vfio_iommu_type1_info, 24, VFIO_IOMMU_GET_INFO,
		       0x3b, 112,
		       F(argsz, 0, 4), F(flags, 4, 4), F(iova_pgsizes, 8, 8),
		       F(cap_offset, 16, 4), F(pad, 20, 4)),
		LAYOUT_NOIOCTL(vfio_info_cap_header, 8,
			       F(id, 0, 2), F(version, 2, 2), F(next, 4, 4)),
		LAYOUT_NOIOCTL(vfio_iommu_type1_info_cap_iova_range, 16,
			       F(header, 0, 8), F(nr_iovas, 8, 4),
			       F(reserved, 12, 4), FA(iova_ranges, 16)),
		LAYOUT_NOIOCTL(vfio_iova_range, 16,
			       F(start, 0, 8), F(end, 8, 8)),
		LAYOUT_NOIOCTL(vfio_iommu_type1_info_dma_avail, 12,
			       F(header, 0, 8), F(avail, 8, 4)),
		LAYOUT(vfio_iommu_type1_dma_map, 32, VFIO_IOMMU_MAP_DMA,
		       0x3b, 113,
		       F(argsz, 0, 4), F(flags, 4, 4), F(vaddr, 8, 8),
		       F(iova, 16, 8), F(size, 24, 8)),
		LAYOUT(vfio_iommu_type1_dma_unmap, 24, VFIO_IOMMU_UNMAP_DMA,
		       0x3b, 114,
		       F(argsz, 0, 4), F(flags, 4, 4), F(iova, 8, 8),
		       F(size, 16, 8), FA(data, 24)),
	};
	const struct const_fact consts[] = {
		C(IOMMUFD_TYPE, 0x3b),
		C(IOMMUFD_CMD_BASE, 0x80),
		C(IOMMUFD_CMD_DESTROY, 0x80),
		C(IOMMUFD_CMD_IOAS_ALLOC, 0x81),
		C(IOMMUFD_CMD_IOAS_ALLOW_IOVAS, 0x82),
		C(IOMMUFD_CMD_IOAS_COPY, 0x83),
		C(IOMMUFD_CMD_IOAS_IOVA_RANGES, 0x84),
		C(IOMMUFD_CMD_IOAS_MAP, 0x85),
		C(IOMMUFD_CMD_IOAS_UNMAP, 0x86),
		C(IOMMUFD_CMD_OPTION, 0x87),
		C(IOMMU_IOAS_MAP_FIXED_IOVA, 0x1),
		C(IOMMU_IOAS_MAP_WRITEABLE, 0x2),
		C(IOMMU_IOAS_MAP_READABLE, 0x4),
		C(IOMMU_OPTION_RLIMIT_MODE, 0),
		C(IOMMU_OPTION_HUGE_PAGES, 1),
		C(IOMMU_OPTION_OP_SET, 0),
		C(IOMMU_OPTION_OP_GET, 1),
		C(IOMMUFD_CMD_VFIO_IOAS, 0x88),
		C(IOMMU_VFIO_IOAS_GET, 0),
		C(IOMMU_VFIO_IOAS_SET, 1),
		C(IOMMU_VFIO_IOAS_CLEAR, 2),
		C(IOMMUFD_CMD_HWPT_ALLOC, 0x89),
		C(IOMMU_HWPT_ALLOC_NEST_PARENT, 0x1),
		C(IOMMU_HWPT_ALLOC_DIRTY_TRACKING, 0x2),
		C(IOMMU_HWPT_FAULT_ID_VALID, 0x4),
		C(IOMMU_HWPT_ALLOC_PASID, 0x8),
		C(IOMMU_HWPT_DATA_NONE, 0),
		C(IOMMU_HWPT_DATA_VTD_S1, 1),
		C(IOMMU_HWPT_DATA_ARM_SMMUV3, 2),
		C(IOMMUFD_CMD_GET_HW_INFO, 0x8a),
		C(IOMMU_HW_INFO_TYPE_NONE, 0),
		C(IOMMU_HW_INFO_TYPE_DEFAULT, 0),
		C(IOMMU_HW_INFO_TYPE_INTEL_VTD, 1),
		C(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, 2),
		C(IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, 3),
		C(IOMMU_HW_INFO_FLAG_INPUT_TYPE, 0x1),
		C(IOMMU_HW_CAP_DIRTY_TRACKING, 0x1),
		C(IOMMU_HW_CAP_PCI_PASID_EXEC, 0x2),
		C(IOMMU_HW_CAP_PCI_PASID_PRIV, 0x4),
		C(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, 0x1),
		C(VFIO_TYPE, 0x3b),
		C(VFIO_BASE, 100),
		C(VFIO_DEVICE_BIND_FLAG_TOKEN, 0x1),
		C(VFIO_DEVICE_ATTACH_PASID, 0x1),
		C(VFIO_DEVICE_DETACH_PASID, 0x1),
		C(VFIO_PCI_HOT_RESET_FLAG_DEV_ID, 0x1),
		C(VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, 0x2),
		C(VFIO_PCI_DEVID_OWNED, 0),
		C(VFIO_PCI_DEVID_NOT_OWNED, -1),
		C(VFIO_TYPE1_IOMMU, 1),
		C(VFIO_TYPE1v2_IOMMU, 3),
		C(VFIO_UNMAP_ALL, 9),
		C(VFIO_IOMMU_INFO_PGSIZES, 0x1),
		C(VFIO_IOMMU_INFO_CAPS, 0x2),
		C(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1),
		C(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 3),
		C(VFIO_DMA_MAP_FLAG_READ, 0x1),
		C(VFIO_DMA_MAP_FLAG_WRITE, 0x2),
		C(VFIO_DMA_UNMAP_FLAG_ALL, 0x2),
		C(KVM_DEV_VFIO_FILE, 1),
		C(KVM_DEV_VFIO_FILE_ADD, 1),
		C(KVM_DEV_VFIO_FILE_DEL, 2),
		C(KVM_DEV_VFIO_FILE_SET_SPAPR_TCE, 3),
	};
	unsigned int nr_structs = ARRAY_SIZE(structs);
	unsigned int nr_consts = ARRAY_SIZE(consts);
	unsigned int i, nr_ioctls = 0;

	for (i = 0; i < nr_structs; i++)
		nr_ioctls += !!structs[i].ioctl_name;

	ksft_print_header();
	ksft_set_plan(nr_structs + nr_ioctls + nr_consts);

	for (i = 0; i < nr_structs; i++) {
		const struct struct_fact *s = &structs[i];

		ksft_test_result(check_struct(s), "struct %s\n", s->name);
		if (s->ioctl_name)
			ksft_test_result(check_ioctl(s), "%s\n", s->ioctl_name);
	}
	for (i = 0; i < nr_consts; i++) {
		const struct const_fact *c = &consts[i];

		if (c->hdr_value != c->value)
			ksft_print_msg("%s = %#llx, upstream %#llx\n",
				       c->name, c->hdr_value, c->value);
		ksft_test_result(c->hdr_value == c->value, "%s\n", c->name);
	}
	ksft_finished();
}
