// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HW_PAGETABLE object: an iommu_domain that mirrors the mappings of one
 * IOAS.
 *
 * Lifetime rules:
 *  - An automatic HW_PAGETABLE is created by iommufd_hw_pagetable_alloc()
 *    for the device that needs it, with the IOAS's mutex held: the domain
 *    is attached to that device first, then added to the IOAS's
 *    io_pagetable (see there why in this order).  The caller keeps holding
 *    the mutex until the object is finalized, so nobody can see it half
 *    built.
 *  - iommufd_hw_pagetable_alloc_finalised() creates one without attaching
 *    anything: the driver finishes the domain for the device
 *    (iommu_domain_finalise()) before it is added to the IOAS.  That is
 *    how IOMMU_HWPT_ALLOC makes a manual HW_PAGETABLE, which stays until
 *    user space destroys it, and how a replace makes the automatic one it
 *    moves a device to.
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

/*
 * An unmanaged domain for @dev, finished by the driver for it.  With
 * *@enforce_cc the driver is first asked to refuse no-snoop DMA, and
 * *@enforce_cc says whether it agreed.  A driver without the finalise op
 * gets -EOPNOTSUPP with *@enforce_cc cleared: there is nothing to retry.
 */
static struct iommu_domain *
__iommufd_domain_alloc_finalised(struct device *dev, bool *enforce_cc)
{
	struct iommu_domain *domain;
	int rc;

	domain = iommu_domain_alloc(dev->bus);
	if (!domain)
		return ERR_PTR(-ENOMEM);
	if (!domain->ops->finalise) {
		iommu_domain_free(domain);
		*enforce_cc = false;
		return ERR_PTR(-EOPNOTSUPP);
	}

	/* Before the first mapping: intel applies it to the IOPTEs it writes */
	if (*enforce_cc)
		*enforce_cc = domain->ops->enforce_cache_coherency &&
			      domain->ops->enforce_cache_coherency(domain);

	/* Also checks that @domain is of @dev's IOMMU driver */
	rc = iommu_domain_finalise(domain, dev);
	if (rc) {
		iommu_domain_free(domain);
		return ERR_PTR(rc);
	}
	return domain;
}

/**
 * iommufd_domain_alloc_finalised() - An unmanaged domain finished for a device
 * @dev: the device the domain is made for; it is not attached and may be
 *       attached elsewhere, doing DMA
 * @enforce_cc: out: whether the domain enforces cache coherency
 *
 * In this order: allocate an unmanaged iommu_domain on the bus of @dev and
 * ask the driver to enforce cache coherency, before anything is mapped;
 * then have the driver finish it for @dev (iommu_domain_finalise()): real
 * aperture and page sizes, page table present.  6.1 has no way to ask
 * whether @dev's IOMMU can enforce cache coherency: intel accepts it on a
 * domain without devices and then refuses a unit without Snoop Control
 * (QEMU's), with -EOPNOTSUPP, here as at attach.  Then both steps are done
 * once more with a new domain that does not enforce it, which is what an
 * attach by IOAS gives such a device (only after -EOPNOTSUPP from a driver
 * that has the finalise op; any other error is returned).
 *
 * Needs no iommufd lock; the caller keeps @dev bound to its IOMMU.
 *
 * Return: the domain, or an ERR_PTR: -ENOMEM; -EOPNOTSUPP if the driver
 * cannot finish a domain without attaching it; or the error of
 * iommu_domain_finalise() (the driver cannot make a domain for @dev).
 */
struct iommu_domain *iommufd_domain_alloc_finalised(struct device *dev,
						    bool *enforce_cc)
{
	struct iommu_domain *domain;

	*enforce_cc = true;
	domain = __iommufd_domain_alloc_finalised(dev, enforce_cc);
	/* Only the refusal of enforcement (intel) is retried without it */
	if (IS_ERR(domain) && *enforce_cc && PTR_ERR(domain) == -EOPNOTSUPP) {
		*enforce_cc = false;
		domain = __iommufd_domain_alloc_finalised(dev, enforce_cc);
	}
	return domain;
}

/**
 * iommufd_hw_pagetable_alloc_finalised() - Create a HW_PAGETABLE, unattached
 * @ictx: iommufd context
 * @ioas: the IOAS the new page table mirrors
 * @domain: from iommufd_domain_alloc_finalised(); consumed, freed on
 *          failure
 * @enforce_cc: whether @domain enforces cache coherency
 *
 * Add @domain to @ioas's io_pagetable (the IOVA outside its aperture is
 * reserved and every mapping of the IOAS is mapped into it), then link the
 * new object on @ioas->hwpt_list.  It has no MSI cookie yet: the first
 * attach of a group to it, or the replace into it, takes one for the
 * group's software MSI window.
 *
 * On failure everything is undone in reverse order.  The caller holds
 * @ioas->mutex.  The object is returned with auto_domain false and no
 * device, not finalized; it is on @ioas->hwpt_list, where an attach only
 * looks for automatic HW_PAGETABLEs or for the domain a group is attached
 * to, so the caller may drop the mutex before it finalizes or aborts the
 * object (iommufd_object_abort_and_destroy() unlinks it again) as long as
 * it keeps it manual until then.
 *
 * Return: the new object, or an ERR_PTR: -ENOMEM, or the error of
 * iopt_table_add_domain() (-EADDRINUSE: a mapping or allowed range of the
 * IOAS does not fit).
 */
struct iommufd_hw_pagetable *
iommufd_hw_pagetable_alloc_finalised(struct iommufd_ctx *ictx,
				     struct iommufd_ioas *ioas,
				     struct iommu_domain *domain,
				     bool enforce_cc)
{
	struct iommufd_hw_pagetable *hwpt;
	int rc;

	lockdep_assert_held(&ioas->mutex);

	hwpt = iommufd_object_alloc(ictx, hwpt, IOMMUFD_OBJ_HW_PAGETABLE);
	if (IS_ERR(hwpt)) {
		iommu_domain_free(domain);
		return hwpt;
	}

	hwpt->ioas = ioas;
	hwpt->auto_domain = false;
	INIT_LIST_HEAD(&hwpt->hwpt_item);
	INIT_LIST_HEAD(&hwpt->devices);
	hwpt->domain = domain;
	hwpt->enforce_cache_coherency = enforce_cc;

	rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
	if (rc)
		goto out_free_domain;

	/* The caller holds a reference on @ioas, so this one is never first */
	iommufd_ref_object(&ioas->obj);
	list_add_tail(&hwpt->hwpt_item, &ioas->hwpt_list);
	return hwpt;

out_free_domain:
	iommu_domain_free(hwpt->domain);
	iommufd_object_abort(ictx, &hwpt->obj);
	return ERR_PTR(rc);
}

/**
 * iommufd_hwpt_alloc() - IOMMU_HWPT_ALLOC
 * @ucmd: the command, a struct iommu_hwpt_alloc
 *
 * Make a manual HW_PAGETABLE of the IOAS @pt_id for the device @dev_id,
 * without attaching the device (see iommufd_domain_alloc_finalised() and
 * iommufd_hw_pagetable_alloc_finalised()).
 * The reply is written before the object is finalized, with no lock held:
 * a fault on the user buffer undoes everything and nobody saw the object.
 *
 * Return: 0, or the errno documented at struct iommu_hwpt_alloc.
 */
int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_object *dev_obj;
	struct iommufd_object *pt_obj;
	struct iommufd_device *idev;
	struct iommu_domain *domain;
	struct iommufd_ioas *ioas;
	bool enforce_cc;
	int rc;

	if (cmd->flags || cmd->__reserved || cmd->__reserved2)
		return -EOPNOTSUPP;
	/* Driver data and its length come together */
	if (cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len)
		return -EINVAL;
	if (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len)
		return -EINVAL;
	if (cmd->data_type != IOMMU_HWPT_DATA_NONE)
		return -EOPNOTSUPP;

	dev_obj = iommufd_get_object(ucmd->ictx, cmd->dev_id,
				     IOMMUFD_OBJ_DEVICE);
	if (IS_ERR(dev_obj))
		return PTR_ERR(dev_obj);
	idev = container_of(dev_obj, struct iommufd_device, obj);

	pt_obj = iommufd_get_object(ucmd->ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj)) {
		rc = -EINVAL;
		goto out_put_dev;
	}
	if (pt_obj->type != IOMMUFD_OBJ_IOAS) {
		rc = -EINVAL;
		goto out_put_pt;
	}
	ioas = container_of(pt_obj, struct iommufd_ioas, obj);

	/*
	 * The allocation on the device's bus, the ops check and the driver's
	 * finalise reach the device's IOMMU: fenced from the driver's unbind.
	 * Not the fill of the page table, which needs only the domain.
	 */
	rc = iommufd_device_lock_dev(idev);
	if (rc)
		goto out_put_pt;
	domain = iommufd_domain_alloc_finalised(idev->dev, &enforce_cc);
	iommufd_device_unlock_dev(idev);
	/*
	 * Nothing below needs the device: drop it before the fill and the
	 * reply, which user space can make long, so that an unbind of the
	 * device never waits for them.
	 */
	iommufd_put_object(ucmd->ictx, dev_obj);
	dev_obj = NULL;
	if (IS_ERR(domain)) {
		rc = PTR_ERR(domain);
		goto out_put_pt;
	}

	mutex_lock(&ioas->mutex);
	hwpt = iommufd_hw_pagetable_alloc_finalised(ucmd->ictx, ioas, domain,
						    enforce_cc);
	mutex_unlock(&ioas->mutex);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_put_pt;
	}

	cmd->out_hwpt_id = hwpt->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		iommufd_object_abort_and_destroy(ucmd->ictx, &hwpt->obj);
		goto out_put_pt;
	}
	iommufd_object_finalize(ucmd->ictx, &hwpt->obj);

out_put_pt:
	iommufd_put_object(ucmd->ictx, pt_obj);
out_put_dev:
	if (dev_obj)
		iommufd_put_object(ucmd->ictx, dev_obj);
	return rc;
}

/**
 * iommufd_hw_pagetable_abort() - Undo iommufd_hw_pagetable_alloc_finalised()
 * @ictx: iommufd context
 * @hwpt: the object returned, not finalized, with no device
 *
 * For a caller that still holds @hwpt->ioas->mutex, which
 * iommufd_object_abort_and_destroy() would take again.  Never fails.
 */
void iommufd_hw_pagetable_abort(struct iommufd_ctx *ictx,
				struct iommufd_hw_pagetable *hwpt)
{
	struct iommufd_ioas *ioas = hwpt->ioas;

	lockdep_assert_held(&ioas->mutex);

	list_del_init(&hwpt->hwpt_item);
	iopt_table_remove_domain(&ioas->iopt, hwpt->domain);
	iommu_domain_free(hwpt->domain);
	/* The caller's reference on @ioas keeps it */
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

	/* No device is attached to it any more */
	iommu_domain_free(hwpt->domain);

	/*
	 * The IOAS is still in the table, which holds a reference of its own,
	 * so this never drops the last one.  It must be the last access to
	 * @ioas: once it is done, user space may destroy the IOAS.
	 */
	refcount_dec(&ioas->obj.users);
}
