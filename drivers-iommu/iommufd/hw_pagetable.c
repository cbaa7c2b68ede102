// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HW_PAGETABLE object: an iommu_domain that mirrors the mappings of one
 * IOAS.
 *
 * A HW_PAGETABLE is created by iommufd_hw_pagetable_alloc() with the
 * IOAS's mutex held, and the caller keeps holding it until the object is
 * either finalized (it became visible to user space) or aborted with
 * iommufd_hw_pagetable_abort().  From creation to destruction the domain is
 * part of the IOAS's io_pagetable, so every mapping of the IOAS is present
 * in it, and the HW_PAGETABLE holds a reference on the IOAS, so the IOAS
 * cannot be destroyed under it.
 *
 * Every attached device holds a reference on the HW_PAGETABLE as well (see
 * device.c), so user space can destroy it only once no device uses it.
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
 * @dev: a device the domain is meant for; its bus provides the IOMMU driver
 *
 * Allocate an unmanaged iommu_domain for @dev, make it enforce cache
 * coherency if the driver can, fill it with every mapping of @ioas and link
 * the new object on @ioas->hwpt_list.
 *
 * The caller holds @ioas->mutex and keeps holding it until it either
 * finalizes the returned object with iommufd_object_finalize() or undoes
 * everything with iommufd_hw_pagetable_abort().  The object is returned
 * with no device attached and auto_domain false.
 *
 * Return: the new object, or an ERR_PTR: -ENOMEM if the domain cannot be
 * allocated, or the error of iopt_table_add_domain().
 */
struct iommufd_hw_pagetable *
iommufd_hw_pagetable_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			   struct device *dev)
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
	mutex_init(&hwpt->devices_lock);

	hwpt->domain = iommu_domain_alloc(dev->bus);
	if (!hwpt->domain) {
		rc = -ENOMEM;
		goto out_abort;
	}

	/*
	 * iommufd always maps with IOMMU_CACHE; make the domain refuse
	 * no-snoop DMA as well if the driver can.  This has to happen before
	 * the first mapping is installed.
	 */
	if (hwpt->domain->ops->enforce_cache_coherency)
		hwpt->enforce_cache_coherency =
			hwpt->domain->ops->enforce_cache_coherency(hwpt->domain);

	rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
	if (rc)
		goto out_free_domain;

	/* The caller holds a reference on @ioas, so this one is never first */
	iommufd_ref_object(&ioas->obj);
	list_add_tail(&hwpt->hwpt_item, &ioas->hwpt_list);
	return hwpt;

out_free_domain:
	iommu_domain_free(hwpt->domain);
out_abort:
	mutex_destroy(&hwpt->devices_lock);
	iommufd_object_abort(ictx, &hwpt->obj);
	return ERR_PTR(rc);
}

/**
 * iommufd_hw_pagetable_abort() - Undo iommufd_hw_pagetable_alloc()
 * @ictx: iommufd context
 * @hwpt: a HW_PAGETABLE that was never finalized and has no device
 *
 * The caller still holds the hwpt->ioas->mutex it held for
 * iommufd_hw_pagetable_alloc(), and a reference on hwpt->ioas of its own.
 * Unlike iommufd_object_abort_and_destroy(), which would call
 * iommufd_hw_pagetable_destroy() and take that mutex again, this undoes the
 * allocation under the caller's lock.  Never fails.
 */
void iommufd_hw_pagetable_abort(struct iommufd_ctx *ictx,
				struct iommufd_hw_pagetable *hwpt)
{
	struct iommufd_ioas *ioas = hwpt->ioas;

	lockdep_assert_held(&ioas->mutex);
	WARN_ON(!list_empty(&hwpt->devices));

	list_del_init(&hwpt->hwpt_item);
	iopt_table_remove_domain(&ioas->iopt, hwpt->domain);
	iommu_domain_free(hwpt->domain);
	mutex_destroy(&hwpt->devices_lock);
	/* The caller's own reference keeps @ioas alive */
	refcount_dec(&ioas->obj.users);
	iommufd_object_abort(ictx, &hwpt->obj);
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

	iommu_domain_free(hwpt->domain);
	mutex_destroy(&hwpt->devices_lock);

	/*
	 * The IOAS is still in the table, which holds a reference of its own,
	 * so this never drops the last one.  It must be the last access to
	 * @ioas: once it is done, user space may destroy the IOAS.
	 */
	refcount_dec(&ioas->obj.users);
}
