/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * iommufd: user-space control of I/O address spaces.
 *
 * Layout and numbering are those of the upstream Linux UAPI, so programs
 * built against newer kernel headers run unchanged on this kernel for every
 * command it implements.
 */
#ifndef _UAPI_IOMMUFD_H
#define _UAPI_IOMMUFD_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define IOMMUFD_TYPE (';')

/**
 * DOC: General ioctl format
 *
 * Every ioctl takes a pointer to a structure whose first member is
 * ``__u32 size``, set by user space to the size of the structure it was
 * compiled with.  The kernel accepts any size from the command's original
 * size upwards:
 *
 *  - a shorter size than the original is refused with EINVAL;
 *  - a larger size than the kernel knows is accepted only if the extra
 *    bytes are all zero, otherwise E2BIG;
 *  - a smaller size than the kernel knows (but not below the original)
 *    reads the missing tail as zero; output is copied back truncated to
 *    ``size``.
 *
 * Errors every command may return:
 *
 *  - ENOTTY: the ioctl number is not implemented;
 *  - E2BIG: the structure has unknown non-zero trailing bytes;
 *  - EOPNOTSUPP: a flag, option or reserved field holds a value this kernel
 *    does not support (reserved fields must be zero);
 *  - EINVAL: a value is out of its valid range;
 *  - ENOENT: a named object ID or IOVA does not exist;
 *  - ENOMEM: out of memory;
 *  - EOVERFLOW: arithmetic on the given values overflows.
 *
 * Request numbers below IOMMUFD_CMD_BASE are the VFIO type1 container
 * ioctls (same ioctl type), which every iommufd accepts as well; see
 * struct iommu_vfio_ioas.
 */
enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
	IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82,
	IOMMUFD_CMD_IOAS_COPY = 0x83,
	IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
	IOMMUFD_CMD_IOAS_MAP = 0x85,
	IOMMUFD_CMD_IOAS_UNMAP = 0x86,
	IOMMUFD_CMD_OPTION = 0x87,
	IOMMUFD_CMD_VFIO_IOAS = 0x88,
	IOMMUFD_CMD_HWPT_ALLOC = 0x89,
	IOMMUFD_CMD_GET_HW_INFO = 0x8a,
};

/**
 * struct iommu_destroy - ioctl(IOMMU_DESTROY)
 * @size: sizeof(struct iommu_destroy)
 * @id: ID of the object to destroy
 *
 * Destroy any object the user can name.  Fails with ENOENT if @id names no
 * object and with EBUSY while another object still depends on it (an IOAS
 * with a device attached, for example).  Objects created for a kernel
 * driver, such as devices, cannot be destroyed this way.
 */
struct iommu_destroy {
	__u32 size;
	__u32 id;
};

#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

/**
 * struct iommu_ioas_alloc - ioctl(IOMMU_IOAS_ALLOC)
 * @size: sizeof(struct iommu_ioas_alloc)
 * @flags: Must be 0
 * @out_ioas_id: ID of the new IOAS
 *
 * Create an I/O address space (IOAS): an empty set of IOVA to memory
 * mappings that devices and IOMMU page tables can later be attached to.
 */
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};

#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

/**
 * struct iommu_iova_range - an IOVA interval
 * @start: first IOVA of the interval
 * @last: last IOVA of the interval (inclusive)
 */
struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/**
 * struct iommu_ioas_iova_ranges - ioctl(IOMMU_IOAS_IOVA_RANGES)
 * @size: sizeof(struct iommu_ioas_iova_ranges)
 * @ioas_id: IOAS to query
 * @num_iovas: In: number of entries @allowed_iovas has room for.
 *             Out: number of usable ranges the IOAS has.
 * @__reserved: Must be 0
 * @allowed_iovas: Pointer to an array of struct iommu_iova_range
 * @out_iova_alignment: Granularity that the IOVA, the length and the
 *                      offset of the memory within its page must respect
 *                      in IOMMU_IOAS_MAP and IOMMU_IOAS_COPY
 *
 * Report the IOVA ranges that can be mapped: everything outside the ranges
 * reserved by the attached devices and page tables.  The ranges change when
 * devices attach or detach, so query again after such a change.
 *
 * When @num_iovas is smaller than the number of ranges, the header is still
 * filled in, @num_iovas tells how many entries are needed and the ioctl
 * fails with EMSGSIZE; the caller can then retry with a larger array.
 */
struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};

#define IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)

/**
 * struct iommu_ioas_allow_iovas - ioctl(IOMMU_IOAS_ALLOW_IOVAS)
 * @size: sizeof(struct iommu_ioas_allow_iovas)
 * @ioas_id: IOAS to change
 * @num_iovas: Number of entries in @allowed_iovas; 0 clears the list
 * @__reserved: Must be 0
 * @allowed_iovas: Pointer to an array of struct iommu_iova_range
 *
 * Replace the IOAS's list of allowed ranges.  When the list is not empty,
 * IOVAs chosen by the kernel (IOMMU_IOAS_MAP and IOMMU_IOAS_COPY without
 * IOMMU_IOAS_MAP_FIXED_IOVA) are taken only from inside these ranges, and
 * any later attach that would reserve part of them fails.  Fixed IOVA
 * mappings are not limited by the list.
 *
 * Fails with EINVAL if a range has start >= last or two ranges overlap, and
 * with EADDRINUSE if a range overlaps IOVA that is already reserved.
 */
struct iommu_ioas_allow_iovas {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
};

#define IOMMU_IOAS_ALLOW_IOVAS _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)

/**
 * enum iommufd_ioas_map_flags - flags of IOMMU_IOAS_MAP and IOMMU_IOAS_COPY
 * @IOMMU_IOAS_MAP_FIXED_IOVA: Map at the IOVA given by the caller; without
 *                             it the kernel picks one and returns it
 * @IOMMU_IOAS_MAP_WRITEABLE: Devices may write the memory
 * @IOMMU_IOAS_MAP_READABLE: Devices may read the memory
 *
 * At least one of READABLE and WRITEABLE is required.
 */
enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

/**
 * struct iommu_ioas_map - ioctl(IOMMU_IOAS_MAP)
 * @size: sizeof(struct iommu_ioas_map)
 * @flags: Combination of enum iommufd_ioas_map_flags
 * @ioas_id: IOAS to map into
 * @__reserved: Must be 0
 * @user_va: Start of the user memory to map
 * @length: Number of bytes to map
 * @iova: In with IOMMU_IOAS_MAP_FIXED_IOVA: the IOVA to map at.
 *        Out: the IOVA the memory was mapped at.
 *
 * Make the user memory [@user_va, @user_va + @length) reachable by DMA at
 * [@iova, @iova + @length) in the IOAS and in every IOMMU page table
 * attached to it.  The memory is pinned; it is charged to RLIMIT_MEMLOCK as
 * set by IOMMU_OPTION_RLIMIT_MODE.  Mappings are always cache coherent.
 *
 * @iova, @length and the offset of @user_va within its page must be
 * multiples of the IOAS's alignment (see IOMMU_IOAS_IOVA_RANGES), and
 * @length must not be 0 (EINVAL).  A fixed IOVA range that overlaps an
 * existing mapping fails with EEXIST, one that overlaps reserved IOVA with
 * EINVAL.  Without a fixed IOVA, ENOSPC means no suitable free range was
 * found.
 */
struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};

#define IOMMU_IOAS_MAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

/**
 * struct iommu_ioas_copy - ioctl(IOMMU_IOAS_COPY)
 * @size: sizeof(struct iommu_ioas_copy)
 * @flags: Combination of enum iommufd_ioas_map_flags
 * @dst_ioas_id: IOAS to map into
 * @src_ioas_id: IOAS to take the memory from
 * @length: Number of bytes to copy
 * @dst_iova: In with IOMMU_IOAS_MAP_FIXED_IOVA: the IOVA to map at in the
 *            destination.  Out: the IOVA the memory was mapped at.
 * @src_iova: Start of the range in the source IOAS
 *
 * Map the memory already mapped at [@src_iova, @src_iova + @length) in the
 * source IOAS into the destination IOAS too.  The pages are not pinned or
 * charged a second time.  The source range must be entirely mapped (ENOENT
 * otherwise); asking for write access to memory that was mapped read-only
 * fails with EPERM.  The destination follows the rules of IOMMU_IOAS_MAP.
 */
struct iommu_ioas_copy {
	__u32 size;
	__u32 flags;
	__u32 dst_ioas_id;
	__u32 src_ioas_id;
	__aligned_u64 length;
	__aligned_u64 dst_iova;
	__aligned_u64 src_iova;
};

#define IOMMU_IOAS_COPY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY)

/**
 * struct iommu_ioas_unmap - ioctl(IOMMU_IOAS_UNMAP)
 * @size: sizeof(struct iommu_ioas_unmap)
 * @ioas_id: IOAS to unmap from
 * @iova: Start of the range to unmap
 * @length: In: number of bytes of the range.  Out: number of bytes that
 *          were unmapped.
 *
 * Remove every mapping that lies inside [@iova, @iova + @length).  Only
 * whole mappings are removed: a range that would cut one, or that holds no
 * mapping at all, fails with ENOENT.  @iova = 0 with @length = U64_MAX
 * removes all mappings and succeeds even when there are none.  The whole
 * range is checked before anything is removed: when the call fails,
 * nothing was unmapped.
 */
struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};

#define IOMMU_IOAS_UNMAP _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)

/**
 * enum iommufd_option - options of IOMMU_OPTION
 * @IOMMU_OPTION_RLIMIT_MODE: How pinned memory is charged to
 *                            RLIMIT_MEMLOCK, for the whole iommufd
 *                            (object_id must be 0): 0 charges the user
 *                            (default), 1 charges the process like VFIO
 *                            type1.  Setting it needs CAP_SYS_RESOURCE
 *                            (EPERM) and an iommufd without objects (EBUSY).
 * @IOMMU_OPTION_HUGE_PAGES: Per IOAS (object_id is the IOAS ID): 1 (the
 *                           default) lets the kernel use IOMMU page sizes
 *                           larger than PAGE_SIZE, 0 maps every page on its
 *                           own.
 */
enum iommufd_option {
	IOMMU_OPTION_RLIMIT_MODE = 0,
	IOMMU_OPTION_HUGE_PAGES = 1,
};

/**
 * enum iommufd_option_ops - operations of IOMMU_OPTION
 * @IOMMU_OPTION_OP_SET: Set the option to val64
 * @IOMMU_OPTION_OP_GET: Return the option's value in val64
 */
enum iommufd_option_ops {
	IOMMU_OPTION_OP_SET = 0,
	IOMMU_OPTION_OP_GET = 1,
};

/**
 * struct iommu_option - ioctl(IOMMU_OPTION)
 * @size: sizeof(struct iommu_option)
 * @option_id: One of enum iommufd_option
 * @op: One of enum iommufd_option_ops
 * @__reserved: Must be 0
 * @object_id: Object the option applies to, 0 for iommufd-wide options
 * @val64: Value to set, or the value read
 *
 * Read or change an option of the iommufd or of one of its objects.  An
 * unknown option or operation fails with EOPNOTSUPP, a bad value with
 * EINVAL.
 */
struct iommu_option {
	__u32 size;
	__u32 option_id;
	__u16 op;
	__u16 __reserved;
	__u32 object_id;
	__aligned_u64 val64;
};

#define IOMMU_OPTION _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)

/**
 * enum iommufd_vfio_ioas_op - operations of IOMMU_VFIO_IOAS
 * @IOMMU_VFIO_IOAS_GET: Return in ioas_id the IOAS the VFIO compatibility
 *                       ioctls use (ENODEV if there is none yet)
 * @IOMMU_VFIO_IOAS_SET: Make the existing IOAS ioas_id the one the VFIO
 *                       compatibility ioctls use
 * @IOMMU_VFIO_IOAS_CLEAR: Forget that IOAS; it is not destroyed
 */
enum iommufd_vfio_ioas_op {
	IOMMU_VFIO_IOAS_GET = 0,
	IOMMU_VFIO_IOAS_SET = 1,
	IOMMU_VFIO_IOAS_CLEAR = 2,
};

/**
 * struct iommu_vfio_ioas - ioctl(IOMMU_VFIO_IOAS)
 * @size: sizeof(struct iommu_vfio_ioas)
 * @ioas_id: For IOMMU_VFIO_IOAS_SET the IOAS to use, for
 *           IOMMU_VFIO_IOAS_GET the IOAS in use
 * @op: One of enum iommufd_vfio_ioas_op
 * @__reserved: Must be 0
 *
 * The VFIO type1 container ioctls that an iommufd accepts (and that VFIO
 * groups attached to an iommufd use) name no IOAS: they act on one IOAS of
 * the iommufd, created when a VFIO group is attached to it unless there is
 * one already.  This ioctl reads or chooses that IOAS, so that a program can
 * mix the VFIO compatibility ioctls with iommufd's own.  Devices attached
 * earlier stay on the IOAS they were attached to.  An unknown @op or a
 * non-zero @__reserved gives EOPNOTSUPP; SET with an ID that is no IOAS
 * gives ENOENT.
 */
struct iommu_vfio_ioas {
	__u32 size;
	__u32 ioas_id;
	__u16 op;
	__u16 __reserved;
};

#define IOMMU_VFIO_IOAS _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS)

/**
 * enum iommufd_hwpt_alloc_flags - Flags for IOMMU_HWPT_ALLOC
 * @IOMMU_HWPT_ALLOC_NEST_PARENT: The HWPT can serve as the parent (stage 2)
 *                                of nested HWPTs
 * @IOMMU_HWPT_ALLOC_DIRTY_TRACKING: Dirty tracking support for the domain
 * @IOMMU_HWPT_FAULT_ID_VALID: @fault_id of struct iommu_hwpt_alloc names a
 *                             FAULT object to report I/O page faults to
 * @IOMMU_HWPT_ALLOC_PASID: The HWPT can be attached to PASIDs
 *
 * Declared with upstream's values so that newer programs build; this kernel
 * implements none of them: IOMMU_HWPT_ALLOC with any flag set fails with
 * EOPNOTSUPP.
 */
enum iommufd_hwpt_alloc_flags {
	IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0,
	IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1,
	IOMMU_HWPT_FAULT_ID_VALID = 1 << 2,
	IOMMU_HWPT_ALLOC_PASID = 1 << 3,
};

/**
 * enum iommu_hwpt_data_type - Type of the driver data of IOMMU_HWPT_ALLOC
 * @IOMMU_HWPT_DATA_NONE: No data: a page table managed by the kernel that
 *                        mirrors an IOAS
 * @IOMMU_HWPT_DATA_VTD_S1: Intel VT-d stage-1 page table (not implemented)
 * @IOMMU_HWPT_DATA_ARM_SMMUV3: ARM SMMUv3 nested STE (not implemented)
 *
 * Only the values are declared: the payload structures of the other types
 * (upstream's struct iommu_hwpt_vtd_s1 and struct iommu_hwpt_arm_smmuv3)
 * are omitted, as this kernel reads no driver data; IOMMU_HWPT_ALLOC with
 * a type other than IOMMU_HWPT_DATA_NONE fails with EOPNOTSUPP.
 */
enum iommu_hwpt_data_type {
	IOMMU_HWPT_DATA_NONE = 0,
	IOMMU_HWPT_DATA_VTD_S1 = 1,
	IOMMU_HWPT_DATA_ARM_SMMUV3 = 2,
};

/**
 * struct iommu_hwpt_alloc - ioctl(IOMMU_HWPT_ALLOC)
 * @size: sizeof(struct iommu_hwpt_alloc); at least 24 (upstream 6.6's
 *        layout, which ends at @__reserved)
 * @flags: Combination of enum iommufd_hwpt_alloc_flags; must be 0
 * @dev_id: The device the HW_PAGETABLE is made for
 * @pt_id: The IOAS the HW_PAGETABLE mirrors
 * @out_hwpt_id: The ID of the new HW_PAGETABLE
 * @__reserved: Must be 0
 * @data_type: One of enum iommu_hwpt_data_type; must be IOMMU_HWPT_DATA_NONE
 * @data_len: Length of the data at @data_uptr; must be 0 with
 *            IOMMU_HWPT_DATA_NONE
 * @data_uptr: User pointer to the driver data; not read
 * @fault_id: FAULT object, with IOMMU_HWPT_FAULT_ID_VALID only; not read
 * @__reserved2: Must be 0
 *
 * Create a HW_PAGETABLE for the device @dev_id, an IOMMU page table of the
 * device's IOMMU that mirrors every mapping of the IOAS @pt_id, without
 * attaching the device: attach it (or any other device its IOMMU driver
 * accepts on the page table) by the returned ID, or replace the page table
 * of an attached device with it.  The page table is finished for the
 * device's IOMMU (aperture, page sizes) before the IOAS's mappings are
 * copied into it; IOVA it cannot translate is reserved in the IOAS from
 * then on.  It refuses DMA that bypasses the CPU caches (no-snoop) if the
 * device's IOMMU can, as the page table an attach by IOAS makes would.
 * Unlike those, a HW_PAGETABLE made here stays, with or without devices,
 * until IOMMU_DESTROY, which fails with EBUSY while a device is attached to
 * it.
 *
 * Errors: EOPNOTSUPP for a flag, a non-zero @__reserved or @__reserved2, or
 * a @data_type other than IOMMU_HWPT_DATA_NONE, also if the IOMMU driver
 * cannot finish a page table without attaching it; EINVAL for
 * IOMMU_HWPT_DATA_NONE with a non-zero @data_len, another type with a zero
 * @data_len, or a @pt_id that is not an IOAS; ENOENT if @dev_id is not a
 * device, or one its driver is unbinding; EADDRINUSE if a mapping or
 * allowed range of the IOAS does not fit the page table; the error of the
 * IOMMU driver if it cannot make a page table for the device; ENOMEM.
 */
struct iommu_hwpt_alloc {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 pt_id;
	__u32 out_hwpt_id;
	__u32 __reserved;
	__u32 data_type;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 fault_id;
	__u32 __reserved2;
};

#define IOMMU_HWPT_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)

/**
 * enum iommu_hw_info_type - layout of the data IOMMU_GET_HW_INFO returns
 * @IOMMU_HW_INFO_TYPE_NONE: No data: the IOMMU driver of the device reports
 *                           nothing
 * @IOMMU_HW_INFO_TYPE_DEFAULT: Same value as @IOMMU_HW_INFO_TYPE_NONE, the
 *                              name upstream uses as input ("the driver's
 *                              own type"); this kernel takes no input type
 * @IOMMU_HW_INFO_TYPE_INTEL_VTD: Intel VT-d, struct iommu_hw_info_vtd
 * @IOMMU_HW_INFO_TYPE_ARM_SMMUV3: ARM SMMUv3 (upstream's number; no driver
 *                                of this kernel reports it)
 * @IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV: NVIDIA Tegra241 CMDQV (upstream's
 *                                    number; no driver of this kernel
 *                                    reports it)
 */
enum iommu_hw_info_type {
	IOMMU_HW_INFO_TYPE_NONE = 0,
	IOMMU_HW_INFO_TYPE_DEFAULT = 0,
	IOMMU_HW_INFO_TYPE_INTEL_VTD = 1,
	IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2,
	IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3,
};

/**
 * enum iommu_hw_info_vtd_flags - flags of struct iommu_hw_info_vtd
 * @IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17: The unit cannot use read-only
 *                                         mappings in a nesting parent
 *                                         domain (erratum 772415); never
 *                                         set by this kernel, which has
 *                                         no nesting
 */
enum iommu_hw_info_vtd_flags {
	IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0,
};

/**
 * struct iommu_hw_info_vtd - Intel VT-d data of IOMMU_GET_HW_INFO
 *                            (IOMMU_HW_INFO_TYPE_INTEL_VTD)
 * @flags: enum iommu_hw_info_vtd_flags
 * @__reserved: Must be 0
 * @cap_reg: The Capability Register of the remapping unit that serves the
 *           device (VT-d specification, section 11.4.2)
 * @ecap_reg: Its Extended Capability Register (section 11.4.3)
 *
 * Both are the register values read when the unit was set up, the same
 * as /sys/class/iommu/dmar<N>/intel-iommu/cap and ecap show.
 */
struct iommu_hw_info_vtd {
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 cap_reg;
	__aligned_u64 ecap_reg;
};

/**
 * enum iommufd_hw_capabilities - IOMMU capabilities IOMMU_GET_HW_INFO reports
 * @IOMMU_HW_CAP_DIRTY_TRACKING: The IOMMU can track the pages devices
 *                               write to (no driver of this kernel can)
 * @IOMMU_HW_CAP_PCI_PASID_EXEC: The device may use PASIDs with execute
 *                               permission (meaningful only with a non-zero
 *                               out_max_pasid_log2)
 * @IOMMU_HW_CAP_PCI_PASID_PRIV: The device may use PASIDs with privileged
 *                               mode (likewise)
 */
enum iommufd_hw_capabilities {
	IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0,
	IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1,
	IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2,
};

/**
 * enum iommufd_hw_info_flags - flags of struct iommu_hw_info
 * @IOMMU_HW_INFO_FLAG_INPUT_TYPE: Not supported by this kernel
 *                                 (EOPNOTSUPP); reserved for selecting
 *                                 the type of data through @in_data_type
 */
enum iommufd_hw_info_flags {
	IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0,
};

/**
 * struct iommu_hw_info - ioctl(IOMMU_GET_HW_INFO)
 * @size: sizeof(struct iommu_hw_info); 32, the size before
 *        @out_capabilities existed, is accepted too
 * @flags: Must be 0: no flag of enum iommufd_hw_info_flags is implemented
 * @dev_id: ID of a DEVICE object of this iommufd (a VFIO device bound to it)
 * @data_len: Input: the size of the buffer at @data_uptr in bytes.  Output:
 *            the size of the data the IOMMU driver has, which may be
 *            larger or smaller than the buffer
 * @data_uptr: User pointer to the buffer for the data, laid out as
 *             @out_data_type says
 * @in_data_type: Input with IOMMU_HW_INFO_FLAG_INPUT_TYPE, which this
 *                kernel does not support; ignored
 * @out_data_type: Output: the layout of the data, enum iommu_hw_info_type;
 *                 IOMMU_HW_INFO_TYPE_NONE if the driver reports nothing
 * @out_max_pasid_log2: Output: log2 of the number of PASIDs the device may
 *                      use; always 0 (no PASID support) in this kernel
 * @__reserved: Must be 0
 * @out_capabilities: Output: enum iommufd_hw_capabilities; always 0 in
 *                    this kernel
 *
 * Report what the IOMMU serving device @dev_id is, in the layout of its
 * driver (struct iommu_hw_info_vtd for Intel VT-d).  The kernel copies
 * as much of its data as fits in the @data_len bytes at @data_uptr,
 * zeroes the rest of those bytes, and returns in @data_len the size of
 * its data: a caller can pass 0 to learn the size, and a caller whose
 * structure is larger than the kernel's reads the fields the kernel does
 * not know as 0.  A driver without such data gives IOMMU_HW_INFO_TYPE_NONE
 * and @data_len 0, and the buffer is zeroed.
 *
 * Errors: EOPNOTSUPP for a non-zero @flags or @__reserved, ENOENT when
 * @dev_id is not a DEVICE object, EFAULT when the buffer cannot be written
 * (the structure is then not written back), ENOMEM.
 */
struct iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;
	__aligned_u64 data_uptr;
	union {
		__u32 in_data_type;
		__u32 out_data_type;
	};
	__u8 out_max_pasid_log2;
	__u8 __reserved[3];
	__aligned_u64 out_capabilities;
};

#define IOMMU_GET_HW_INFO _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)

#endif
