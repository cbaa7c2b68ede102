// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HW_PAGETABLE object: an iommu_domain that mirrors the mappings of one
 * IOAS.
 *
 * Lifetime rules:
 *  - A HW_PAGETABLE is created by iommufd_hw_pagetable_alloc() for the
 *    device that needs it, with the IOAS's mutex held: the domain is
 *    attached to that device first, then added to the IOAS's io_pagetable
 *    (see there why in this order).  The caller keeps holding the mutex
 *    until the object is finalized, so nobody can see it half built.
 *  - From then until its destruction the domain is part of the IOAS's
 *    io_pagetable, so every mapping of the IOAS is present in it, and the
 *    HW_PAGETABLE holds a reference on the IOAS, so the IOAS cannot be
 *    destroyed under it.
 *  - Every attached device holds a reference on the HW_PAGETABLE and is on
 *    its @devices list (under the IOAS's mutex), so user space can destroy
 *    it only once no device uses it.  An automatic HW_PAGETABLE is unlinked
 *    from the IOAS by the detach of its last device, under the same mutex,
 *    so no attach can find it any more, and destroyed by that detach.
 *  - Which iommu_group is attached to the domain is known by the iommu core
 *    only (iommu_attach_device_shared()); iommufd keeps no per-group state.
 */
#include <linux/iommu.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"

/**
 * iommufd_hw_pagetable_alloc() - Create a HW_PAGETABLE for a device
 * @ictx: iommufd context
 * @ioas: the IOAS the new page table mirrors
 * @dev: the device to attach; its group is on its blocking domain
 * @sw_msi_start: IOVA of the software-managed MSI window, or PHYS_ADDR_MAX
 *
 * 6.1's IOMMU drivers finish a domain at its first attach: arm-smmu-v3
 * has no page table, aperture or real page sizes before it, intel narrows
 * the aperture and adds superpages then.  So, in this order, as VFIO
 * type1 does:
 *
 *  1. allocate an unmanaged iommu_domain for @dev;
 *  2. attach it, empty, to @dev with iommu_attach_device_shared(), which
 *     moves the device's whole iommu_group from blocking to it;
 *  3. ask the driver to enforce cache coherency (refuse no-snoop DMA) and
 *     remember the answer: intel accepts it for a domain without a device
 *     and then refuses every device of a unit without Snoop Control;
 *  4. add it to @ioas's io_pagetable: the IOVA alignment follows the now
 *     real page sizes, the IOVA outside the now real aperture is reserved,
 *     and every mapping of the IOAS is mapped into it, with the domain's
 *     large page sizes;
 *  5. link the new object on @ioas->hwpt_list.
 *
 * On failure everything is undone in reverse order: the group goes back to
 * its blocking domain and the domain is freed.
 *
 * The caller holds @ioas->mutex and keeps holding it until it has recorded
 * the attachment of @dev and finalized the returned object with
 * iommufd_object_finalize(), which cannot fail.  The object is returned
 * with auto_domain false and an empty device list.
 *
 * Return: the new object, or an ERR_PTR: -ENOMEM, the error of
 * iommu_get_msi_cookie() or iommu_attach_device_shared(), or the error of
 * iopt_table_add_domain() (-EADDRINUSE: a mapping or allowed range of the
 * IOAS does not fit the attached domain).
 */
struct iommufd_hw_pagetable *
iommufd_hw_pagetable_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			   struct device *dev, phys_addr_t sw_msi_start)
{
	struct iommufd_hw_pagetable *hwpt;
	int rc;

	lockdep_assert_held(&ioas->mutex);

	hwpt = iommufd_object_alloc(ictx, hwpt, IOMMUFD_OBJ_HW_PAGETABLE);
	if (IS_ERR(hwpt))
		return hwpt;

	hwpt->ioas = ioas;
	hwpt->auto_domain = false;
	hwpt->enforce_cache_coherency = false;
	INIT_LIST_HEAD(&hwpt->hwpt_item);
	INIT_LIST_HEAD(&hwpt->devices);

	hwpt->domain = iommu_domain_alloc(dev->bus);
	if (!hwpt->domain) {
		rc = -ENOMEM;
		goto out_abort;
	}

	/*
	 * Software-managed MSI (e.g. ARM SMMU): the DMA API maps the MSI
	 * doorbells at sw_msi_start, which the IOAS has reserved.
	 */
	if (IS_ENABLED(CONFIG_IOMMU_DMA) && sw_msi_start != PHYS_ADDR_MAX) {
		rc = iommu_get_msi_cookie(hwpt->domain, sw_msi_start);
		if (rc)
			goto out_free_domain;
	}

	rc = iommu_attach_device_shared(hwpt->domain, dev, ictx);
	if (rc)
		goto out_free_domain;

	/*
	 * iommufd always maps with IOMMU_CACHE; with a device attached the
	 * driver can tell whether it can also refuse no-snoop DMA.  Before
	 * the first mapping: intel applies it to the IOPTEs it writes.
	 */
	if (hwpt->domain->ops->enforce_cache_coherency)
		hwpt->enforce_cache_coherency =
			hwpt->domain->ops->enforce_cache_coherency(hwpt->domain);

	rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
	if (rc)
		goto out_detach;

	/* The caller holds a reference on @ioas, so this one is never first */
	iommufd_ref_object(&ioas->obj);
	list_add_tail(&hwpt->hwpt_item, &ioas->hwpt_list);
	return hwpt;

out_detach:
	iommu_detach_device_shared(hwpt->domain, dev, ictx);
out_free_domain:
	iommu_domain_free(hwpt->domain);
out_abort:
	iommufd_object_abort(ictx, &hwpt->obj);
	return ERR_PTR(rc);
}

/**
 * iommufd_hw_pagetable_destroy() - Destroy op of IOMMUFD_OBJ_HW_PAGETABLE
 * @obj: the object, already removed from the table
 *
 * Called once every reference but the table's is gone, so no device is
 * attached any more.  Takes the IOAS's mutex: the caller must not hold it.
 * Never fails.
 */
void iommufd_hw_pagetable_destroy(struct iommufd_object *obj)
{
	struct iommufd_hw_pagetable *hwpt =
		container_of(obj, struct iommufd_hw_pagetable, obj);
	struct iommufd_ioas *ioas = hwpt->ioas;

	WARN_ON(!list_empty(&hwpt->devices));

	mutex_lock(&ioas->mutex);
	/* An automatic domain was already unlinked by its last detach */
	list_del_init(&hwpt->hwpt_item);
	iopt_table_remove_domain(&ioas->iopt, hwpt->domain);
	mutex_unlock(&ioas->mutex);

	/* No device is attached to it any more */
	iommu_domain_free(hwpt->domain);

	/*
	 * The IOAS is still in the table, which holds a reference of its own,
	 * so this never drops the last one.  It must be the last access to
	 * @ioas: once it is done, user space may destroy the IOAS.
	 */
	refcount_dec(&ioas->obj.users);
}
