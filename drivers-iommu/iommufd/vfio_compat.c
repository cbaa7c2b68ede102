// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VFIO type1 container interface on an iommufd.
 *
 * Programs written for VFIO's /dev/vfio/vfio container drive one address
 * space with ioctls that name no object.  Every iommufd accepts those
 * ioctls (iommufd_fops_ioctl() hands over every request number outside its
 * own range) and applies them to one IOAS of the context, the "compat
 * IOAS": ictx->vfio_ioas.  A VFIO group attached to an iommufd with
 * VFIO_GROUP_SET_CONTAINER creates it on first use, and every device opened
 * through such a group is attached to it; IOMMU_VFIO_IOAS reads it, makes
 * another IOAS the compat IOAS, or forgets it.  The compat IOAS is an
 * ordinary object otherwise: IOMMU_DESTROY destroys it (and forgets it) and
 * closing the file destroys it.
 *
 * What is emulated, and how:
 *  - VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU (type1 and
 *    type1v2), VFIO_IOMMU_GET_INFO (page sizes, the DMA_AVAIL and IOVA_RANGE
 *    capabilities), VFIO_IOMMU_MAP_DMA and VFIO_IOMMU_UNMAP_DMA (with
 *    VFIO_DMA_UNMAP_FLAG_ALL).
 *  - Type1 v1 lets an unmap cut a mapping.  VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)
 *    therefore turns huge IOPTEs off for the compat IOAS, so that every
 *    domain maps each area page by page, and unmaps cut the areas at the
 *    edges of the request first (iopt_cut_iova()).
 *  - Mappings made with VFIO_IOMMU_MAP_DMA are charged to the mm's
 *    locked_vm, as type1 does, whatever IOMMU_OPTION_RLIMIT_MODE says.
 *  - Unmapping a range with nothing mapped succeeds and reports 0 bytes,
 *    like type1 (IOMMU_IOAS_UNMAP fails with ENOENT instead).
 *  - Not emulated (ENOTTY, or 0 from VFIO_CHECK_EXTENSION): dirty page
 *    tracking, VFIO_DMA_MAP_FLAG_VADDR / VFIO_UPDATE_VADDR, nesting, the
 *    SPAPR and EEH interfaces, and no-IOMMU groups (VFIO_NOIOMMU_IOMMU):
 *    VFIO refuses to attach a no-IOMMU group to an iommufd in this kernel.
 *
 * Locking: ictx->vfio_ioas is protected by the xa_lock of ictx->objects,
 * the lock under which objects are looked up and removed.  A reference on
 * the compat IOAS is taken under that lock, and IOMMU_DESTROY clears the
 * pointer under it when it removes the IOAS, so the pointer never dangles.
 */
#include <linux/err.h>
#include <linux/iommu.h>
#include <linux/iommufd.h>
#include <linux/limits.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/iommufd.h>
#include <uapi/linux/vfio.h>

#include "iommufd_private.h"

/*
 * First guess at the number of usable IOVA ranges of VFIO_IOMMU_GET_INFO;
 * more room is allocated when io_pagetable.c reports that more exist.
 */
#define IOMMUFD_VFIO_RANGES_FIRST 16

/* The compat IOAS with a reference, or ERR_PTR(-ENODEV) if there is none */
static struct iommufd_ioas *iommufd_get_compat_ioas(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas = ERR_PTR(-ENODEV);

	xa_lock(&ictx->objects);
	if (ictx->vfio_ioas &&
	    refcount_inc_not_zero(&ictx->vfio_ioas->obj.users))
		ioas = ictx->vfio_ioas;
	xa_unlock(&ictx->objects);
	return ioas;
}

/**
 * iommufd_vfio_compat_obj_removed() - forget the compat IOAS if it goes
 * @ictx: iommufd context
 * @obj: an object being removed from @ictx->objects
 *
 * Called by main.c with the xa_lock of @ictx->objects held, in the same
 * critical section that removes @obj from the table.
 */
void iommufd_vfio_compat_obj_removed(struct iommufd_ctx *ictx,
				     struct iommufd_object *obj)
{
	lockdep_assert_held(&ictx->objects.xa_lock);

	if (ictx->vfio_ioas && &ictx->vfio_ioas->obj == obj)
		ictx->vfio_ioas = NULL;
}

/**
 * iommufd_vfio_compat_ioas_get_id() - ID of the compat IOAS
 * @ictx: iommufd context
 * @out_ioas_id: returns the ID
 *
 * For VFIO, which attaches the devices it opens through a group to the
 * compat IOAS of the group's iommufd.  The ID is a snapshot: user space can
 * destroy the IOAS or choose another one at any time, and attaching by the
 * ID then fails or uses the IOAS the ID names.
 *
 * Return: 0, or -ENODEV if @ictx has no compat IOAS.
 */
int iommufd_vfio_compat_ioas_get_id(struct iommufd_ctx *ictx, u32 *out_ioas_id)
{
	struct iommufd_ioas *ioas;

	ioas = iommufd_get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	*out_ioas_id = ioas->obj.id;
	iommufd_put_object(ictx, &ioas->obj);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(iommufd_vfio_compat_ioas_get_id, IOMMUFD_VFIO);

/**
 * iommufd_vfio_compat_ioas_create() - make sure a compat IOAS exists
 * @ictx: iommufd context
 *
 * For VFIO_GROUP_SET_CONTAINER with an iommufd: the container ioctls need
 * an IOAS to work on.  Creates an empty IOAS and makes it the compat IOAS,
 * unless @ictx has one already (created earlier, or chosen with
 * IOMMU_VFIO_IOAS_SET), which is kept.
 *
 * Return: 0, or -ENOMEM (then nothing was created).
 */
int iommufd_vfio_compat_ioas_create(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas;
	bool exists;

	xa_lock(&ictx->objects);
	exists = ictx->vfio_ioas;
	xa_unlock(&ictx->objects);
	if (exists)
		return 0;

	ioas = iommufd_ioas_alloc(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	xa_lock(&ictx->objects);
	/* Another group of the context may have been faster */
	exists = ictx->vfio_ioas;
	if (!exists)
		ictx->vfio_ioas = ioas;
	xa_unlock(&ictx->objects);

	if (exists) {
		iommufd_object_abort_and_destroy(ictx, &ioas->obj);
		return 0;
	}
	/*
	 * The IOAS is complete: it may be used through ictx->vfio_ioas
	 * before it is visible by ID, which changes nothing for anybody.
	 */
	iommufd_object_finalize(ictx, &ioas->obj);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(iommufd_vfio_compat_ioas_create, IOMMUFD_VFIO);

/**
 * iommufd_vfio_ioas() - IOMMU_VFIO_IOAS
 * @ucmd: the command, a struct iommu_vfio_ioas
 *
 * GET returns the ID of the compat IOAS, SET makes an existing IOAS the
 * compat IOAS, CLEAR forgets the compat IOAS without destroying it.  Groups
 * and devices attached earlier stay on the IOAS they were attached to.
 *
 * Return: 0, -EOPNOTSUPP (reserved field, unknown op), -ENODEV (GET with no
 * compat IOAS), -ENOENT (SET with an ID that is no IOAS), -EFAULT.
 */
int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd)
{
	struct iommu_vfio_ioas *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_ioas *ioas;

	if (cmd->__reserved)
		return -EOPNOTSUPP;

	switch (cmd->op) {
	case IOMMU_VFIO_IOAS_GET:
		ioas = iommufd_get_compat_ioas(ictx);
		if (IS_ERR(ioas))
			return PTR_ERR(ioas);
		cmd->ioas_id = ioas->obj.id;
		iommufd_put_object(ictx, &ioas->obj);
		return iommufd_ucmd_respond(ucmd, sizeof(*cmd));

	case IOMMU_VFIO_IOAS_SET:
		ioas = iommufd_get_ioas(ictx, cmd->ioas_id);
		if (IS_ERR(ioas))
			return PTR_ERR(ioas);
		/*
		 * Our reference keeps IOMMU_DESTROY away until the pointer is
		 * stored; a later destroy clears it again.
		 */
		xa_lock(&ictx->objects);
		ictx->vfio_ioas = ioas;
		xa_unlock(&ictx->objects);
		iommufd_put_object(ictx, &ioas->obj);
		return 0;

	case IOMMU_VFIO_IOAS_CLEAR:
		xa_lock(&ictx->objects);
		ictx->vfio_ioas = NULL;
		xa_unlock(&ictx->objects);
		return 0;

	default:
		return -EOPNOTSUPP;
	}
}

/*
 * VFIO_DMA_CC_IOMMU: 1 if every domain of the compat IOAS makes the IOMMU
 * enforce cache coherent DMA (also when there is no domain yet).
 */
static int iommufd_vfio_cc_iommu(struct iommufd_ctx *ictx)
{
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_ioas *ioas;
	int rc = 1;

	ioas = iommufd_get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	mutex_lock(&ioas->mutex);
	list_for_each_entry(hwpt, &ioas->hwpt_list, hwpt_item) {
		if (!hwpt->enforce_cache_coherency) {
			rc = 0;
			break;
		}
	}
	mutex_unlock(&ioas->mutex);

	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

static int iommufd_vfio_check_extension(struct iommufd_ctx *ictx,
					unsigned long type)
{
	switch (type) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;

	case VFIO_DMA_CC_IOMMU:
		return iommufd_vfio_cc_iommu(ictx);

	/*
	 * VFIO_NOIOMMU_IOMMU: VFIO does not attach no-IOMMU groups to an
	 * iommufd in this kernel, use the VFIO container for them.
	 *
	 * VFIO_TYPE1_NESTING_IOMMU: iommufd has its own nesting interface.
	 *
	 * VFIO_UPDATE_VADDR: swapping the memory behind live mappings
	 * cannot be done safely with pinned pages shared by several IOASes.
	 *
	 * VFIO_SPAPR_TCE_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU, VFIO_EEH: iommufd
	 * has no POWER support.
	 */
	default:
		return 0;
	}
}

static int iommufd_vfio_set_iommu(struct iommufd_ctx *ictx, unsigned long type)
{
	struct iommufd_ioas *ioas;
	int rc = 0;

	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return -EINVAL;

	/* VFIO refuses SET_IOMMU until a group is in the container */
	ioas = iommufd_get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	/*
	 * Type1 (v1) may unmap part of a mapping.  A huge IOPTE cannot be
	 * split by the IOMMU driver, so v1 maps everything page by page:
	 * then cutting an area and unmapping one piece is always possible.
	 * This fails when the IOAS already has mappings in a domain.
	 */
	if (type == VFIO_TYPE1_IOMMU)
		rc = iopt_set_large_pages(&ioas->iopt, false);

	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

static int iommufd_vfio_map_dma(struct iommufd_ctx *ictx,
				struct vfio_iommu_type1_dma_map __user *arg)
{
	u32 supported_flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	size_t minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;
	int iommu_prot = IOMMU_CACHE;
	struct iommufd_ioas *ioas;
	unsigned long iova;
	int rc;

	if (copy_from_user(&map, arg, minsz))
		return -EFAULT;

	/* VFIO_DMA_MAP_FLAG_VADDR (VFIO_UPDATE_VADDR) is not emulated */
	if (map.argsz < minsz || map.flags & ~supported_flags)
		return -EINVAL;
	/* Type1 refuses a mapping the device can neither read nor write */
	if (!(map.flags & supported_flags))
		return -EINVAL;
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		iommu_prot |= IOMMU_READ;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		iommu_prot |= IOMMU_WRITE;

	/* Only 32-bit kernels can truncate here */
	if (map.iova > ULONG_MAX || map.size > ULONG_MAX ||
	    map.vaddr > ULONG_MAX)
		return -EOVERFLOW;

	ioas = iommufd_get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	/* Type1 charges the process, not the user: so do mappings made here */
	iova = map.iova;
	rc = iopt_map_user_pages(ictx, &ioas->iopt, &iova,
				 u64_to_user_ptr(map.vaddr), map.size,
				 iommu_prot, IOPT_ACCOUNT_MM);

	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/*
 * Unmap [@iova, @iova + @size) of the compat IOAS: whole areas, and in
 * type1 v1 mode (huge pages disabled) whatever the range covers of areas
 * it cuts.  A range with nothing mapped succeeds with *@unmapped = 0.
 */
static int iommufd_vfio_unmap_range(struct iommufd_ioas *ioas, u64 iova,
				    u64 size, unsigned long *unmapped)
{
	u64 last;
	int rc;

	if (!size)
		return -EINVAL;
	if (check_add_overflow(iova, size - 1, &last) || last > ULONG_MAX)
		return -EOVERFLOW;

	if (READ_ONCE(ioas->iopt.disable_large_pages)) {
		/*
		 * Make the range start and end on area boundaries: one cut
		 * so that an area ends at last, one so that an area ends
		 * just before iova (none needed below 0).
		 */
		unsigned long iovas[] = { last, iova - 1 };

		rc = iopt_cut_iova(&ioas->iopt, iovas, iova ? 2 : 1);
		if (rc)
			return rc;
	}

	rc = iopt_unmap_iova(&ioas->iopt, iova, size, unmapped);
	/*
	 * -ENOENT is a range cutting an area (v2) or a range with nothing
	 * mapped.  Type1 reports success for the latter.
	 */
	if (rc == -ENOENT && !iopt_range_has_area(&ioas->iopt, iova, last))
		rc = 0;
	return rc;
}

static int iommufd_vfio_unmap_dma(struct iommufd_ctx *ictx,
				  struct vfio_iommu_type1_dma_unmap __user *arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_dma_unmap, size);
	/*
	 * VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP and VFIO_DMA_UNMAP_FLAG_VADDR
	 * are not emulated.
	 */
	u32 supported_flags = VFIO_DMA_UNMAP_FLAG_ALL;
	struct vfio_iommu_type1_dma_unmap unmap;
	unsigned long unmapped = 0;
	struct iommufd_ioas *ioas;
	int rc;

	if (copy_from_user(&unmap, arg, minsz))
		return -EFAULT;

	if (unmap.argsz < minsz || unmap.flags & ~supported_flags)
		return -EINVAL;
	if ((unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) &&
	    (unmap.iova || unmap.size))
		return -EINVAL;

	ioas = iommufd_get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL)
		rc = iopt_unmap_all(&ioas->iopt, &unmapped);
	else
		rc = iommufd_vfio_unmap_range(ioas, unmap.iova, unmap.size,
					      &unmapped);

	/* What was unmapped is reported also when the unmap failed */
	unmap.size = unmapped;
	if (copy_to_user(arg, &unmap, minsz))
		rc = -EFAULT;

	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/*
 * The IOMMU page sizes VFIO_IOMMU_GET_INFO reports: the sizes every domain
 * of the IOAS supports, with the sizes below PAGE_SIZE folded into
 * PAGE_SIZE (user space maps whole pages, and the IOVA alignment never
 * exceeds PAGE_SIZE).  Without a domain: every size from PAGE_SIZE up.
 */
static u64 iommufd_vfio_pgsizes(struct iommufd_ioas *ioas)
{
	unsigned long pgsizes = ULONG_MAX;
	struct iommufd_hw_pagetable *hwpt;

	mutex_lock(&ioas->mutex);
	list_for_each_entry(hwpt, &ioas->hwpt_list, hwpt_item)
		pgsizes &= hwpt->domain->pgsize_bitmap;
	mutex_unlock(&ioas->mutex);

	if (pgsizes & ~PAGE_MASK)
		pgsizes = (pgsizes & PAGE_MASK) | PAGE_SIZE;
	/* Domains with nothing in common still take PAGE_SIZE mappings */
	return pgsizes ?: PAGE_SIZE;
}

/*
 * The usable IOVA ranges of @ioas in a kvcalloc()ed array; *@num is their
 * number.
 */
static struct iommu_iova_range *
iommufd_vfio_get_ranges(struct iommufd_ioas *ioas, unsigned int *num)
{
	unsigned int want = IOMMUFD_VFIO_RANGES_FIRST;
	struct iommu_iova_range *ranges;
	unsigned int total;

	for (;;) {
		ranges = kvcalloc(want, sizeof(*ranges), GFP_KERNEL_ACCOUNT);
		if (!ranges)
			return ERR_PTR(-ENOMEM);
		iopt_get_usable_ranges(&ioas->iopt, ranges, want, &total);
		if (total <= want)
			break;
		/* More than the guess: size on the real count, ask again */
		want = total;
		kvfree(ranges);
	}
	*num = total;
	return ranges;
}

/*
 * VFIO_IOMMU_GET_INFO.  The reply (struct vfio_iommu_type1_info, then the
 * DMA_AVAIL capability, then the IOVA_RANGE capability, each capability
 * starting on an 8-byte boundary) is built in a zeroed kernel buffer, so
 * that no padding or reserved byte user space receives is left unwritten.
 * If argsz is too small for the capabilities, only the header is written,
 * with argsz set to the size needed and cap_offset 0.
 */
static int iommufd_vfio_iommu_get_info(struct iommufd_ctx *ictx,
				       struct vfio_iommu_type1_info __user *arg)
{
	size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	struct vfio_iommu_type1_info_cap_iova_range *cap_iova;
	struct vfio_iommu_type1_info_dma_avail *cap_avail;
	struct vfio_iommu_type1_info *info;
	size_t avail_off, iova_off, total;
	struct iommu_iova_range *ranges;
	struct iommufd_ioas *ioas;
	unsigned int num, i;
	u32 argsz;
	void *buf;
	int rc;

	if (get_user(argsz, &arg->argsz))
		return -EFAULT;
	if (argsz < minsz)
		return -EINVAL;

	ioas = iommufd_get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	ranges = iommufd_vfio_get_ranges(ioas, &num);
	if (IS_ERR(ranges)) {
		rc = PTR_ERR(ranges);
		goto out_put;
	}

	avail_off = sizeof(*info);
	iova_off = avail_off + ALIGN(sizeof(*cap_avail), sizeof(u64));
	total = iova_off + ALIGN(struct_size(cap_iova, iova_ranges, num),
				 sizeof(u64));
	if (total > U32_MAX) {
		rc = -EOVERFLOW;
		goto out_free_ranges;
	}

	buf = kvzalloc(total, GFP_KERNEL_ACCOUNT);
	if (!buf) {
		rc = -ENOMEM;
		goto out_free_ranges;
	}

	info = buf;
	info->argsz = total;
	info->flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	info->iova_pgsizes = iommufd_vfio_pgsizes(ioas);
	info->cap_offset = argsz >= total ? avail_off : 0;

	cap_avail = buf + avail_off;
	cap_avail->header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
	cap_avail->header.version = 1;
	cap_avail->header.next = iova_off;
	/* iommufd does not limit the number of mappings that way */
	cap_avail->avail = U32_MAX;

	cap_iova = buf + iova_off;
	cap_iova->header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
	cap_iova->header.version = 1;
	cap_iova->nr_iovas = num;
	for (i = 0; i != num; i++) {
		cap_iova->iova_ranges[i].start = ranges[i].start;
		cap_iova->iova_ranges[i].end = ranges[i].last;
	}

	if (argsz >= total)
		rc = copy_to_user(arg, buf, total) ? -EFAULT : 0;
	else
		rc = copy_to_user(arg, buf, min_t(size_t, argsz,
						  sizeof(*info))) ?
			     -EFAULT : 0;

	kvfree(buf);
out_free_ranges:
	kvfree(ranges);
out_put:
	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/**
 * iommufd_vfio_ioctl() - the VFIO container ioctls of an iommufd
 * @ictx: iommufd context
 * @cmd: the ioctl request
 * @arg: its argument
 *
 * Called for every request number outside iommufd's own range.
 *
 * Return: the ioctl's result, or -ENOIOCTLCMD for a request this file does
 * not implement.
 */
long iommufd_vfio_ioctl(struct iommufd_ctx *ictx, unsigned int cmd,
			unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return iommufd_vfio_check_extension(ictx, arg);
	case VFIO_SET_IOMMU:
		return iommufd_vfio_set_iommu(ictx, arg);
	case VFIO_IOMMU_GET_INFO:
		return iommufd_vfio_iommu_get_info(ictx, uarg);
	case VFIO_IOMMU_MAP_DMA:
		return iommufd_vfio_map_dma(ictx, uarg);
	case VFIO_IOMMU_UNMAP_DMA:
		return iommufd_vfio_unmap_dma(ictx, uarg);
	case VFIO_IOMMU_DIRTY_PAGES:
	default:
		return -ENOIOCTLCMD;
	}
}
