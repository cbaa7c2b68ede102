// SPDX-License-Identifier: GPL-2.0-only
/*
 * The DEVICE object and the kernel API through which drivers such as VFIO
 * hand the DMA of a device to an iommufd context.
 *
 * Binding claims the DMA ownership of the device for the context
 * (iommu_device_claim_dma_owner()): from then on the device's iommu_group
 * sits on its blocking domain (no DMA) until a device of the group is
 * attached to a HW_PAGETABLE.  Translation is per iommu_group, attachment
 * per device: iommu_attach_device_shared() moves the whole group to the
 * domain of the first of its devices to attach, the others can only join
 * that same domain, and iommu_detach_device_shared() of the last one puts
 * the group back on its blocking domain.  Who in a group is attached to
 * what is the iommu core's business; iommufd asks it
 * (iommu_device_shared_domain()) and keeps no per-group state.
 *
 * Attaching to an IOAS picks a HW_PAGETABLE automatically: the one the
 * device's group is attached to already, else the first automatic one of
 * the IOAS that the device can join, else a new one.  An automatic
 * HW_PAGETABLE is destroyed by the detach of its last device.  Replacing
 * the page table of an attached device moves the whole group, with every
 * device of the context attached in it, with iommu_group_replace_domain().
 *
 * References: a bound device holds one reference on its DEVICE object for
 * the driver, so that user space cannot destroy it, one on the struct
 * device, so that the object never points to a freed device, and (for
 * drivers) one on the context's file, so that the context outlives the
 * binding.  An attached device holds a reference on its HW_PAGETABLE,
 * which holds one on its IOAS.
 *
 * Locking, outermost first: ictx->attach_lock -> idev->lock -> ioas->mutex
 * (a replace between two IOASes: the old one's, then the new one's nested)
 * -> the io_pagetable's domains_rwsem (the same order for two) ->
 * group->mutex (iommu core).  Attach, detach and replace of all devices of
 * a context are serialized by ictx->attach_lock, so that none sees a group
 * half moved, and those of one device by idev->lock; neither lock is held
 * while an object is destroyed.  Every change of a HW_PAGETABLE's
 * device list, and every attach or detach of a device in an IOAS, happens
 * under that IOAS's mutex, and the driver's attach or detach on a domain
 * that is in the IOAS also under domains_rwsem for write (see
 * iopt_domain_devices_lock()).  The driver must not call anything on a
 * device concurrently with, or after, its unbind.
 *
 * An ioctl that reaches the IOMMU state of the device (dev_iommu_ops(),
 * the IOMMU driver's data) does it between iommufd_device_lock_dev() and
 * iommufd_device_unlock_dev(), which the unbind waits for: an unbind that
 * times out may leave the DEVICE object behind a device that is then
 * removed.  idev->unbind_rwsem nests outside idev->lock and ioas->mutex.
 */
#include <linux/device.h>
#include <linux/file.h>
#include <linux/iommu.h>
#include <linux/irqdomain.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"

static bool allow_unsafe_interrupts;
module_param(allow_unsafe_interrupts, bool, 0644);
MODULE_PARM_DESC(allow_unsafe_interrupts,
		 "Allow binding devices whose MSIs the platform cannot isolate (interrupt remapping or an equivalent); such a device can trigger arbitrary interrupts on the host.");

static int iommufd_dev_msi_isolated(struct device *dev, void *data)
{
	return device_iommu_capable(dev, IOMMU_CAP_INTR_REMAP) ? 0 : -EPERM;
}

/*
 * A device whose MSIs are not isolated can make the host take any
 * interrupt by DMAing to the MSI window; with several devices in a group
 * every one of them has to be isolated.
 */
static int iommufd_check_msi_isolation(struct device *dev,
				       struct iommu_group *group)
{
	if (irq_domain_check_msi_remap() ||
	    !iommu_group_for_each_dev(group, NULL, iommufd_dev_msi_isolated))
		return 0;

	if (!allow_unsafe_interrupts) {
		dev_warn_ratelimited(dev,
				     "MSIs of this device cannot be isolated by the platform (interrupt remapping missing or disabled); refusing to bind it.  The iommufd.allow_unsafe_interrupts=1 module parameter overrides this.\n");
		return -EPERM;
	}
	dev_warn_once(dev,
		      "MSIs of this device cannot be isolated by the platform; binding it anyway because of iommufd.allow_unsafe_interrupts\n");
	return 0;
}

/**
 * __iommufd_device_bind() - Bind a device, optionally pinning the context
 * @ictx: iommufd context
 * @dev: the device
 * @id: returns the ID of the new DEVICE object
 * @hold_ctx: take a reference on @ictx->file for the life of the binding
 *
 * See iommufd_device_bind().  Without @hold_ctx the caller guarantees that
 * the binding ends before @ictx is released: the selftest binds its mock
 * devices this way, from objects in the same context that the release of
 * the file destroys.
 *
 * Return: the new device, or an ERR_PTR (see iommufd_device_bind()).
 */
struct iommufd_device *__iommufd_device_bind(struct iommufd_ctx *ictx,
					     struct device *dev, u32 *id,
					     bool hold_ctx)
{
	struct iommufd_device *idev;
	struct iommu_group *group;
	int rc;

	group = iommu_group_get(dev);
	if (!group)
		return ERR_PTR(-ENODEV);

	/* iommufd always maps with IOMMU_CACHE */
	if (!device_iommu_capable(dev, IOMMU_CAP_CACHE_COHERENCY)) {
		rc = -EINVAL;
		goto out_group_put;
	}

	rc = iommufd_check_msi_isolation(dev, group);
	if (rc)
		goto out_group_put;

	/* The iommu core logs who holds the group when it refuses */
	rc = iommu_device_claim_dma_owner(dev, ictx);
	if (rc)
		goto out_group_put;

	idev = iommufd_object_alloc(ictx, idev, IOMMUFD_OBJ_DEVICE);
	if (IS_ERR(idev)) {
		rc = PTR_ERR(idev);
		goto out_release_owner;
	}
	idev->ictx = ictx;
	idev->dev = get_device(dev);
	idev->group = group;
	mutex_init(&idev->lock);
	idev->hwpt = NULL;
	INIT_LIST_HEAD(&idev->devices_item);
	idev->holds_ctx = hold_ctx;
	init_rwsem(&idev->unbind_rwsem);
	idev->unbound = false;
	if (hold_ctx)
		get_file(ictx->file);

	/*
	 * The driver's reference, taken before the object becomes visible so
	 * that IOMMU_DESTROY can never remove a bound device.
	 */
	iommufd_ref_object(&idev->obj);
	*id = idev->obj.id;
	iommufd_object_finalize(ictx, &idev->obj);
	return idev;

out_release_owner:
	iommu_device_release_dma_owner(dev);
out_group_put:
	iommu_group_put(group);
	return ERR_PTR(rc);
}

/**
 * iommufd_device_bind() - Bind a device to an iommufd context
 * @ictx: iommufd context
 * @dev: the device
 * @id: returns the ID of the new DEVICE object
 *
 * Claim the DMA ownership of @dev for @ictx and create a DEVICE object for
 * it.  From now on the DMA of the whole iommu_group of @dev is blocked until
 * the device is attached with iommufd_device_attach(); other devices of the
 * group can be bound to the same context, but not to another one nor be
 * used by kernel DMA API drivers.
 *
 * A driver using this API must set driver_managed_dma and must not let the
 * device do DMA until this succeeded.  The binding holds a reference on the
 * context's file until iommufd_device_unbind(), and user space cannot
 * destroy the DEVICE object.
 *
 * Return: the bound device, or an ERR_PTR: -ENODEV if @dev has no
 * iommu_group, -EINVAL if its IOMMU cannot do cache coherent DMA, -EPERM
 * if the MSIs of its group cannot be isolated (see the
 * allow_unsafe_interrupts module parameter), the error of
 * iommu_device_claim_dma_owner(): -EPERM for any conflicting user of the
 * group (another owner, a kernel DMA API driver bound to a device of the
 * group, a claim of the whole group with iommu_group_claim_dma_owner()),
 * -EBUSY only when a kernel user attached a domain of its own to the
 * group; or -ENOMEM.
 */
struct iommufd_device *iommufd_device_bind(struct iommufd_ctx *ictx,
					   struct device *dev, u32 *id)
{
	return __iommufd_device_bind(ictx, dev, id, true);
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_bind, IOMMUFD);

/**
 * iommufd_device_destroy() - Destroy op of IOMMUFD_OBJ_DEVICE
 * @obj: the object, already removed from the table
 *
 * Gives the DMA of the device back: when it was the last bound device of
 * its group, the group returns to its default domain.  Never fails.
 */
void iommufd_device_destroy(struct iommufd_object *obj)
{
	struct iommufd_device *idev =
		container_of(obj, struct iommufd_device, obj);

	WARN_ON(idev->hwpt);
	iommu_device_release_dma_owner(idev->dev);
	iommu_group_put(idev->group);
	put_device(idev->dev);
	mutex_destroy(&idev->lock);
}

/**
 * iommufd_device_unbind() - Undo iommufd_device_bind()
 * @idev: the device
 *
 * The device must have been detached; it is detached (with a warning) if
 * it was not.  Waits until no ioctl uses the DEVICE object any more, then
 * destroys it, which gives the DMA ownership back, and drops the reference
 * on the context.  @idev must not be used afterwards.  Never fails; if the
 * wait times out (see iommufd_object_destroy_user()) the DEVICE object,
 * with its ownership claim and its reference on the struct device, stays
 * in the context until the context is closed; iommufd_device_lock_dev()
 * refuses it from then on.
 */
void iommufd_device_unbind(struct iommufd_device *idev)
{
	struct iommufd_ctx *ictx = idev->ictx;
	bool holds_ctx = idev->holds_ctx;
	bool attached;

	mutex_lock(&idev->lock);
	attached = idev->hwpt;
	mutex_unlock(&idev->lock);
	if (WARN_ON(attached))
		iommufd_device_detach(idev);

	/* Waits for the users of @dev's IOMMU (iommufd_device_lock_dev()) */
	down_write(&idev->unbind_rwsem);
	idev->unbound = true;
	up_write(&idev->unbind_rwsem);
	/* Consumes the driver's reference */
	iommufd_object_destroy_user(ictx, &idev->obj);
	/* Last: this may free @ictx */
	if (holds_ctx)
		fput(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_unbind, IOMMUFD);

/**
 * iommufd_device_lock_dev() - Keep the driver from unbinding a device
 * @idev: the device; the caller holds a reference on its DEVICE object
 *
 * For an ioctl that reaches the IOMMU state of @idev->dev (dev_iommu_ops(),
 * the IOMMU driver's data of the device): the object reference only keeps
 * the struct device, and a driver's unbind whose wait for the references
 * timed out (iommufd_object_destroy_user()) lets the device leave its
 * IOMMU while the object stays.  On success iommufd_device_unbind() cannot
 * complete, so the device stays bound to its driver and probed by its
 * IOMMU, until iommufd_device_unlock_dev().  Hold it only across the use
 * of the IOMMU, never across a copy to or from user space: the unbind
 * waits for it with the driver's locks held.  May sleep.
 *
 * Return: 0 with the device locked, or -ENOENT if the driver has unbound
 * it already (nothing held).
 */
int iommufd_device_lock_dev(struct iommufd_device *idev)
{
	down_read(&idev->unbind_rwsem);
	if (idev->unbound) {
		up_read(&idev->unbind_rwsem);
		return -ENOENT;
	}
	return 0;
}

/**
 * iommufd_device_unlock_dev() - Undo iommufd_device_lock_dev()
 * @idev: the device, locked by a successful iommufd_device_lock_dev()
 */
void iommufd_device_unlock_dev(struct iommufd_device *idev)
{
	lockdep_assert_held_read(&idev->unbind_rwsem);
	up_read(&idev->unbind_rwsem);
}

/*
 * The domain the iommu_group of @idev is attached to (NULL: its blocking
 * domain), as the iommu core knows it; ERR_PTR(-EPERM) if the context does
 * not own the device.  Only to be compared.
 */
static struct iommu_domain *
iommufd_device_group_domain(struct iommufd_device *idev)
{
	return iommu_device_shared_domain(idev->dev, idev->ictx);
}

/*
 * Tell apart the iommu core's -EBUSY for "the group is attached to another
 * domain", which iommufd reports as -EINVAL, from a driver's -EBUSY.  The
 * group can only have moved if another device of it was attached
 * concurrently.
 */
static int iommufd_device_attach_errno(struct iommufd_device *idev,
				       struct iommu_domain *domain, int rc)
{
	struct iommu_domain *cur;

	if (rc != -EBUSY)
		return rc;
	cur = iommufd_device_group_domain(idev);
	if (!IS_ERR_OR_NULL(cur) && cur != domain)
		return -EINVAL;
	return rc;
}

/* Record that @idev is attached to @hwpt; the device's reference on it */
static void iommufd_device_link_hwpt(struct iommufd_device *idev,
				     struct iommufd_hw_pagetable *hwpt)
{
	lockdep_assert_held(&idev->lock);
	lockdep_assert_held(&hwpt->ioas->mutex);

	iommufd_ref_object(&hwpt->obj);
	list_add_tail(&idev->devices_item, &hwpt->devices);
	idev->hwpt = hwpt;
}

/*
 * Attach @idev to @hwpt, which is in the IOAS already, whose reserved IOVA
 * includes the reserved regions of the device's group.  @cur is what the
 * group is attached to now (NULL or @hwpt->domain).  On failure nothing
 * changed; any error means that this HW_PAGETABLE cannot take the device.
 * 6.1's drivers refuse a domain they cannot use with -ENXIO, -EOPNOTSUPP,
 * -EFAULT or -EINVAL (the 6.3 rule, which user space will see once the
 * drivers follow it): every refusal but -ENOMEM is reported as -EINVAL,
 * so that the errno an attach by ID returns does not depend on the driver
 * (-EFAULT in particular would read as a bad user pointer).
 */
static int iommufd_device_do_attach(struct iommufd_device *idev,
				    struct iommufd_hw_pagetable *hwpt,
				    struct iommu_domain *cur,
				    phys_addr_t sw_msi_start)
{
	int rc;

	lockdep_assert_held(&idev->lock);
	lockdep_assert_held(&hwpt->ioas->mutex);

	/*
	 * A domain of another IOMMU driver (the selftest's mock driver runs
	 * next to the real one) would be handed a device it knows nothing
	 * about.  6.1 has no domain owner; the default domain ops identify
	 * the driver that allocated an unmanaged domain.
	 */
	if (hwpt->domain->ops != dev_iommu_ops(idev->dev)->default_domain_ops)
		return -EINVAL;

	if (!cur && IS_ENABLED(CONFIG_IOMMU_DMA) &&
	    sw_msi_start != PHYS_ADDR_MAX) {
		/* A domain that already has the cookie keeps it */
		rc = iommu_get_msi_cookie(hwpt->domain, sw_msi_start);
		if (rc && rc != -EEXIST)
			return rc;
	}

	/*
	 * The first device of its group moves the group to the domain, and
	 * the driver is told; the others only join.  A domain that enforces
	 * cache coherency is refused by the driver for a device whose IOMMU
	 * cannot enforce it (6.1 has no capability to ask beforehand).  The
	 * domain is in the IOAS: no (un)mapping while the driver works, nor
	 * before the IOAS knows what the driver changed.
	 */
	iopt_domain_devices_lock(&hwpt->ioas->iopt);
	rc = iommu_attach_device_shared(hwpt->domain, idev->dev, idev->ictx);
	if (rc) {
		iopt_domain_devices_unlock(&hwpt->ioas->iopt);
		rc = iommufd_device_attach_errno(idev, hwpt->domain, rc);
		return rc == -ENOMEM ? rc : -EINVAL;
	}

	if (!cur) {
		/*
		 * The driver may have narrowed the aperture or the page sizes
		 * of the domain for the new group: the mappings must still
		 * fit, and the IOAS must stop handing out what no longer does.
		 */
		rc = iopt_table_update_domain(&hwpt->ioas->iopt, hwpt->domain);
		if (rc) {
			iommu_detach_device_shared(hwpt->domain, idev->dev,
						   idev->ictx);
			iopt_domain_devices_unlock(&hwpt->ioas->iopt);
			return rc;
		}
	}
	iopt_domain_devices_unlock(&hwpt->ioas->iopt);

	iommufd_device_link_hwpt(idev, hwpt);
	return 0;
}

/*
 * Checks that need no domain, made before anything is built: the context
 * must own the device, and a group that is attached already can only be
 * joined on its own HW_PAGETABLE.  Returns that HW_PAGETABLE of @ioas in
 * *@group_hwpt (NULL if the group is on its blocking domain).
 */
static int iommufd_device_check_group(struct iommufd_device *idev,
				      struct iommufd_ioas *ioas,
				      struct iommu_domain **cur,
				      struct iommufd_hw_pagetable **group_hwpt)
{
	struct iommufd_hw_pagetable *hwpt;

	lockdep_assert_held(&ioas->mutex);

	*group_hwpt = NULL;
	*cur = iommufd_device_group_domain(idev);
	if (IS_ERR(*cur))
		return PTR_ERR(*cur);
	if (!*cur)
		return 0;

	list_for_each_entry(hwpt, &ioas->hwpt_list, hwpt_item) {
		if (hwpt->domain == *cur) {
			*group_hwpt = hwpt;
			return 0;
		}
	}
	/* The group is attached to a page table of another IOAS */
	return -EINVAL;
}

/* Attach @idev to the HW_PAGETABLE user space named */
static int iommufd_device_attach_hwpt(struct iommufd_device *idev,
				      struct iommufd_hw_pagetable *hwpt)
{
	struct iommufd_hw_pagetable *group_hwpt;
	struct iommufd_ioas *ioas = hwpt->ioas;
	phys_addr_t sw_msi_start = PHYS_ADDR_MAX;
	struct iommu_domain *cur;
	int rc;

	mutex_lock(&ioas->mutex);
	/* An automatic HW_PAGETABLE whose last device left is being destroyed */
	if (list_empty(&hwpt->hwpt_item)) {
		rc = -ENOENT;
		goto out_unlock;
	}

	rc = iommufd_device_check_group(idev, ioas, &cur, &group_hwpt);
	if (rc)
		goto out_unlock;
	if (cur && group_hwpt != hwpt) {
		rc = -EINVAL;
		goto out_unlock;
	}

	rc = iopt_table_enforce_group_resv_regions(&ioas->iopt, idev->dev,
						   idev->group, &sw_msi_start);
	if (rc)
		goto out_remove_resv;

	rc = iommufd_device_do_attach(idev, hwpt, cur, sw_msi_start);
	if (rc)
		goto out_remove_resv;
	mutex_unlock(&ioas->mutex);
	return 0;

out_remove_resv:
	iopt_remove_reserved_iova(&ioas->iopt, idev->dev);
out_unlock:
	mutex_unlock(&ioas->mutex);
	return rc;
}

/* Attach @idev to a HW_PAGETABLE of @ioas, creating one if needed */
static int iommufd_device_attach_ioas(struct iommufd_device *idev,
				      struct iommufd_ioas *ioas)
{
	phys_addr_t sw_msi_start = PHYS_ADDR_MAX;
	struct iommufd_hw_pagetable *hwpt;
	struct iommu_domain *cur;
	int rc;

	mutex_lock(&ioas->mutex);
	rc = iommufd_device_check_group(idev, ioas, &cur, &hwpt);
	if (rc)
		goto out_unlock;

	rc = iopt_table_enforce_group_resv_regions(&ioas->iopt, idev->dev,
						   idev->group, &sw_msi_start);
	if (rc)
		goto out_remove_resv;

	/* Another device of the group is attached here already: join it */
	if (hwpt) {
		rc = iommufd_device_do_attach(idev, hwpt, cur, sw_msi_start);
		if (rc)
			goto out_remove_resv;
		goto out_unlock;
	}

	/*
	 * Any automatic HW_PAGETABLE the device can join; whatever the reason
	 * one refuses the device, try the next one, then a new one.  Only one
	 * that enforces cache coherency, or whose driver cannot enforce it at
	 * all, as VFIO type1 only merges domains that agree on it: 6.1 cannot
	 * tell beforehand whether the device's IOMMU could enforce it, and a
	 * device that could must not lose it by joining a domain that does
	 * not.  The driver refuses a device that cannot onto an enforcing
	 * domain, which then gets a HW_PAGETABLE of its own.
	 */
	list_for_each_entry(hwpt, &ioas->hwpt_list, hwpt_item) {
		if (!hwpt->auto_domain ||
		    (!hwpt->enforce_cache_coherency &&
		     hwpt->domain->ops->enforce_cache_coherency))
			continue;
		rc = iommufd_device_do_attach(idev, hwpt, NULL, sw_msi_start);
		if (!rc)
			goto out_unlock;
	}

	hwpt = iommufd_hw_pagetable_alloc(idev->ictx, ioas, idev->dev,
					  sw_msi_start);
	if (IS_ERR(hwpt)) {
		rc = iommufd_device_attach_errno(idev, NULL, PTR_ERR(hwpt));
		goto out_remove_resv;
	}
	hwpt->auto_domain = true;
	iommufd_device_link_hwpt(idev, hwpt);
	/* Only now can user space see it, with the device's reference on it */
	iommufd_object_finalize(idev->ictx, &hwpt->obj);
	rc = 0;
	goto out_unlock;

out_remove_resv:
	iopt_remove_reserved_iova(&ioas->iopt, idev->dev);
out_unlock:
	mutex_unlock(&ioas->mutex);
	return rc;
}

/**
 * iommufd_device_attach() - Connect a device to an I/O page table
 * @idev: a bound device
 * @pt_id: in: the ID of an IOAS or a HW_PAGETABLE; out: the ID of the
 *         HW_PAGETABLE the device is attached to
 *
 * Given a HW_PAGETABLE, attach the device to its iommu_domain.  Given an
 * IOAS, attach it to the HW_PAGETABLE of the IOAS its iommu_group is
 * attached to, else to the first automatic HW_PAGETABLE of the IOAS that
 * takes the device, else to a new automatic HW_PAGETABLE, which is
 * destroyed by the detach of its last device.  An existing HW_PAGETABLE
 * does not take the device if the IOMMU driver refuses the attach, with
 * whatever errno (a domain of another IOMMU instance, one that enforces
 * cache coherency for a device that cannot), or if the driver narrowed the
 * domain for the device's group so that the mappings of the IOAS no longer
 * fit it.  An automatic HW_PAGETABLE whose driver can enforce cache
 * coherency but did not (a device that cannot was attached first) is not
 * tried at all: the device gets a HW_PAGETABLE of its own, which enforces
 * cache coherency if its IOMMU can, as VFIO type1 would give it.
 *
 * A new domain is attached to the device first, empty, because 6.1's
 * drivers only finish a domain (aperture, page sizes, page table) at its
 * first attach; then it is made to enforce cache coherency if the driver
 * can; then it is added to the IOAS: the IOVA outside its aperture is
 * reserved and every mapping of the IOAS is mapped into it.
 *
 * The reserved regions of the device's group are reserved in the IOAS, so
 * that they are never mapped.  The first device of an iommu_group attaches
 * the whole group; the DMA of the other devices of the group is translated
 * by the same domain from then on.  Ownership and the group's current
 * attachment are checked before anything is allocated.
 *
 * An attached device moves to another page table with
 * iommufd_device_replace(), not with this.
 *
 * Return: 0 on success, -ENOENT if @pt_id names no object (or a
 * HW_PAGETABLE being destroyed), -EINVAL if it is neither an IOAS nor a
 * HW_PAGETABLE, if the device's group is attached to another page table
 * (by another of its devices) or if the IOMMU driver refuses the device on
 * the HW_PAGETABLE given (whatever errno the driver used, but -ENOMEM);
 * -EPERM if the context does not own the device; -EBUSY if the device is
 * attached already; -EADDRINUSE if a reserved region of the group, or a
 * mapping or allowed range of the IOAS, does not fit the domain (its
 * aperture, its minimum page size, the group's reserved regions); -ENOMEM;
 * or, given an IOAS, the error the IOMMU driver returned for the new
 * domain made for the device.
 */
int iommufd_device_attach(struct iommufd_device *idev, u32 *pt_id)
{
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_object *pt_obj;
	struct iommufd_ioas *ioas;
	int rc;

	pt_obj = iommufd_get_object(idev->ictx, *pt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj))
		return PTR_ERR(pt_obj);

	mutex_lock(&idev->ictx->attach_lock);
	mutex_lock(&idev->lock);
	if (idev->hwpt) {
		rc = -EBUSY;
		goto out_unlock;
	}

	switch (pt_obj->type) {
	case IOMMUFD_OBJ_HW_PAGETABLE:
		hwpt = container_of(pt_obj, struct iommufd_hw_pagetable, obj);
		rc = iommufd_device_attach_hwpt(idev, hwpt);
		break;
	case IOMMUFD_OBJ_IOAS:
		ioas = container_of(pt_obj, struct iommufd_ioas, obj);
		rc = iommufd_device_attach_ioas(idev, ioas);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (!rc)
		*pt_id = idev->hwpt->obj.id;

out_unlock:
	mutex_unlock(&idev->lock);
	mutex_unlock(&idev->ictx->attach_lock);
	iommufd_put_object(idev->ictx, pt_obj);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_attach, IOMMUFD);

/**
 * iommufd_device_detach() - Disconnect a device from its I/O page table
 * @idev: an attached device
 *
 * Undo iommufd_device_attach().  When @idev was the last device of its
 * iommu_group on the HW_PAGETABLE, the group goes back to its blocking
 * domain and does no DMA any more.  An automatic HW_PAGETABLE is destroyed
 * with its last device.  Never fails.
 */
void iommufd_device_detach(struct iommufd_device *idev)
{
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_ioas *ioas;
	bool destroy_hwpt = false;

	mutex_lock(&idev->ictx->attach_lock);
	mutex_lock(&idev->lock);
	hwpt = idev->hwpt;
	if (WARN_ON(!hwpt))
		goto out_unlock;
	ioas = hwpt->ioas;

	mutex_lock(&ioas->mutex);
	list_del_init(&idev->devices_item);
	idev->hwpt = NULL;
	/*
	 * The group's last device puts it back on its blocking domain.  The
	 * domain stays in the IOAS until the HW_PAGETABLE is destroyed, so
	 * MAP and UNMAP may be using it: see iopt_domain_devices_lock().
	 */
	iopt_domain_devices_lock(&ioas->iopt);
	iommu_detach_device_shared(hwpt->domain, idev->dev, idev->ictx);
	iopt_domain_devices_unlock(&ioas->iopt);
	if (hwpt->auto_domain && list_empty(&hwpt->devices)) {
		/*
		 * Unlinked from the IOAS now, so no attach can find it any
		 * more, neither through the IOAS nor by its ID (see
		 * iommufd_device_attach_hwpt()).
		 */
		list_del_init(&hwpt->hwpt_item);
		destroy_hwpt = true;
	}
	iopt_remove_reserved_iova(&ioas->iopt, idev->dev);
	mutex_unlock(&ioas->mutex);
	/*
	 * idev->hwpt is NULL already, so the device lock can go before the
	 * last reference does.  It must: a concurrent attach of this device
	 * by the HW_PAGETABLE's ID holds a reference on it while it waits
	 * for the device lock, and iommufd_object_destroy_user() below waits
	 * for that reference.  The same holds for attach_lock.
	 */
	mutex_unlock(&idev->lock);
	mutex_unlock(&idev->ictx->attach_lock);

	/*
	 * The device's reference kept IOMMU_DESTROY away from the
	 * HW_PAGETABLE until here.  Destroying it with that reference makes
	 * sure nobody else can: iommufd_object_destroy_user() consumes it,
	 * waits for the ioctls still using the object and destroys it, which
	 * takes ioas->mutex again.
	 */
	if (destroy_hwpt)
		iommufd_object_destroy_user(idev->ictx, &hwpt->obj);
	else
		iommufd_put_object(idev->ictx, &hwpt->obj);
	return;

out_unlock:
	mutex_unlock(&idev->lock);
	mutex_unlock(&idev->ictx->attach_lock);
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_detach, IOMMUFD);

/*
 * Reserve the regions of every device of the context in @idev's group on
 * @old in @ioas; on failure none of them is reserved there.  With @undo,
 * release them instead.
 */
static int iommufd_group_resv(struct iommufd_device *idev,
			      struct iommufd_hw_pagetable *old,
			      struct iommufd_ioas *ioas,
			      phys_addr_t *sw_msi_start, bool undo)
{
	struct iommufd_device *cur;
	int rc;

	lockdep_assert_held(&ioas->mutex);

	list_for_each_entry(cur, &old->devices, devices_item) {
		if (cur->group != idev->group)
			continue;
		if (undo) {
			iopt_remove_reserved_iova(&ioas->iopt, cur->dev);
			continue;
		}
		rc = iopt_table_enforce_group_resv_regions(&ioas->iopt,
							   cur->dev, cur->group,
							   sw_msi_start);
		if (rc) {
			iommufd_group_resv(idev, old, ioas, NULL, true);
			return rc;
		}
	}
	return 0;
}

/*
 * The start of the software-managed MSI window of @idev's group, if it has
 * one, in *@sw_msi_start: for a replace within one IOAS, where the group's
 * regions are reserved already but the new domain may have no MSI cookie
 * yet (a HW_PAGETABLE made by IOMMU_HWPT_ALLOC or by a replace).
 */
static int iommufd_group_sw_msi(struct iommufd_device *idev,
				phys_addr_t *sw_msi_start)
{
	struct iommu_resv_region *resv, *tmp;
	LIST_HEAD(regions);
	int rc;

	rc = iommu_get_group_resv_regions(idev->group, &regions);
	list_for_each_entry_safe(resv, tmp, &regions, list) {
		if (!rc && resv->type == IOMMU_RESV_SW_MSI)
			*sw_msi_start = resv->start;
		list_del(&resv->list);
		kfree(resv);
	}
	return rc;
}

/* Lock the IOASes of a replace from @old to @new: outer, then nested */
static void iommufd_replace_lock(struct iommufd_ioas *old,
				 struct iommufd_ioas *new)
{
	mutex_lock(&old->mutex);
	if (new != old)
		mutex_lock_nested(&new->mutex, SINGLE_DEPTH_NESTING);
}

static void iommufd_replace_unlock(struct iommufd_ioas *old,
				   struct iommufd_ioas *new)
{
	if (new != old)
		mutex_unlock(&new->mutex);
	mutex_unlock(&old->mutex);
}

/*
 * Move the iommu_group of @idev, and every device of the context in it,
 * from @old to @new, a HW_PAGETABLE of the same or of another IOAS that is
 * in that IOAS already.  Returns 0 with the devices linked to @new and
 * holding a reference on it each, and *@nr_moved references on @old for
 * the caller to drop once it released the locks; on failure nothing
 * changed (see iommufd_device_replace() for the one exception).
 */
static int iommufd_device_do_replace(struct iommufd_device *idev,
				     struct iommufd_hw_pagetable *old,
				     struct iommufd_hw_pagetable *new,
				     unsigned int *nr_moved)
{
	struct iommufd_ioas *new_ioas = new->ioas;
	struct iommufd_ioas *old_ioas = old->ioas;
	phys_addr_t sw_msi_start = PHYS_ADDR_MAX;
	struct iommufd_device *cur, *next;
	int rc;

	lockdep_assert_held(&idev->ictx->attach_lock);
	lockdep_assert_held(&old_ioas->mutex);
	lockdep_assert_held(&new_ioas->mutex);

	*nr_moved = 0;
	if (new == old)
		return 0;
	/* As in iommufd_device_do_attach(): another driver's domain */
	if (new->domain->ops != dev_iommu_ops(idev->dev)->default_domain_ops)
		return -EINVAL;

	/*
	 * The reserved regions of every moved device, in the new IOAS before
	 * the switch: no DMA of theirs may go through a mapping there.
	 */
	if (new_ioas != old_ioas)
		rc = iommufd_group_resv(idev, old, new_ioas, &sw_msi_start,
					false);
	else
		rc = iommufd_group_sw_msi(idev, &sw_msi_start);
	if (rc)
		return rc;
	if (IS_ENABLED(CONFIG_IOMMU_DMA) && sw_msi_start != PHYS_ADDR_MAX) {
		rc = iommu_get_msi_cookie(new->domain, sw_msi_start);
		if (rc && rc != -EEXIST)
			goto out_remove_resv;
	}

	/*
	 * Both domains change devices: no (un)mapping in either IOAS while
	 * the driver works, nor before the new IOAS knows what the driver
	 * changed (see iommufd_device_do_attach()).
	 */
	iopt_domain_devices_lock(&old_ioas->iopt);
	if (new_ioas != old_ioas)
		iopt_domain_devices_lock_nested(&new_ioas->iopt);
	rc = iommu_group_replace_domain(idev->group, new->domain, idev->ictx);
	if (rc) {
		/* Ownership was checked: any other error is the driver's */
		if (rc != -ENOMEM)
			rc = -EINVAL;
		goto out_devices_unlock;
	}
	/* The group joined the domain: the driver may have narrowed it */
	rc = iopt_table_update_domain(&new_ioas->iopt, new->domain);
	if (rc) {
		/*
		 * Back to the old domain.  If the driver cannot take the group
		 * back, the core leaves it on its blocking domain: see
		 * iommufd_device_replace().
		 */
		if (iommu_group_replace_domain(idev->group, old->domain,
					       idev->ictx))
			dev_warn_ratelimited(idev->dev,
					     "replace undone: group left blocked\n");
		goto out_devices_unlock;
	}
	if (new_ioas != old_ioas)
		iopt_domain_devices_unlock(&new_ioas->iopt);
	iopt_domain_devices_unlock(&old_ioas->iopt);

	/* Nothing can fail any more: relink the whole group */
	list_for_each_entry_safe(cur, next, &old->devices, devices_item) {
		if (cur->group != idev->group)
			continue;
		iommufd_ref_object(&new->obj);
		list_move_tail(&cur->devices_item, &new->devices);
		cur->hwpt = new;
		if (new_ioas != old_ioas)
			iopt_remove_reserved_iova(&old_ioas->iopt, cur->dev);
		(*nr_moved)++;
	}
	return 0;

out_devices_unlock:
	if (new_ioas != old_ioas)
		iopt_domain_devices_unlock(&new_ioas->iopt);
	iopt_domain_devices_unlock(&old_ioas->iopt);
out_remove_resv:
	if (new_ioas != old_ioas)
		iommufd_group_resv(idev, old, new_ioas, NULL, true);
	return rc;
}

/*
 * Replace into an automatic HW_PAGETABLE of @ioas: the one the group is on,
 * else the first automatic one that takes the group (with the rule on
 * cache coherency of iommufd_device_attach_ioas()), else a new automatic
 * one, finished for the device and filled before the group moves to it.  A
 * group on a manual HW_PAGETABLE of @ioas moves to an automatic one, as
 * upstream does.  Each candidate the IOMMU driver refuses costs the moved
 * devices one more switch (see iommufd_device_replace()).
 */
static int iommufd_device_replace_ioas(struct iommufd_device *idev,
				       struct iommufd_hw_pagetable *old,
				       struct iommufd_ioas *ioas,
				       unsigned int *nr_moved)
{
	struct iommufd_hw_pagetable *hwpt;
	struct iommu_domain *domain;
	bool enforce_cc;
	int rc;

	lockdep_assert_held(&ioas->mutex);

	if (old->ioas == ioas && old->auto_domain)
		return iommufd_device_do_replace(idev, old, old, nr_moved);

	list_for_each_entry(hwpt, &ioas->hwpt_list, hwpt_item) {
		if (!hwpt->auto_domain ||
		    (!hwpt->enforce_cache_coherency &&
		     hwpt->domain->ops->enforce_cache_coherency))
			continue;
		rc = iommufd_device_do_replace(idev, old, hwpt, nr_moved);
		if (!rc)
			return 0;
	}

	domain = iommufd_domain_alloc_finalised(idev->dev, &enforce_cc);
	if (IS_ERR(domain))
		return PTR_ERR(domain);
	hwpt = iommufd_hw_pagetable_alloc_finalised(idev->ictx, ioas, domain,
						    enforce_cc);
	if (IS_ERR(hwpt))
		return PTR_ERR(hwpt);
	rc = iommufd_device_do_replace(idev, old, hwpt, nr_moved);
	if (rc) {
		iommufd_hw_pagetable_abort(idev->ictx, hwpt);
		return rc;
	}
	hwpt->auto_domain = true;
	/* Only now can user space see it, with the devices' references */
	iommufd_object_finalize(idev->ictx, &hwpt->obj);
	return 0;
}

/**
 * iommufd_device_replace() - Move an attached device to another page table
 * @idev: an attached device
 * @pt_id: in: the ID of an IOAS or a HW_PAGETABLE; out: the ID of the
 *         HW_PAGETABLE the device is attached to
 *
 * Translation is per iommu_group, so the whole group of @idev moves: every
 * device of the context in the group that is attached to the device's
 * current HW_PAGETABLE is attached to the new one afterwards, and other
 * devices of the group follow the group's domain.  The new page table is
 * given, or chosen and made, as iommufd_device_attach() does it, except
 * that a new automatic HW_PAGETABLE is finished for the device by its
 * IOMMU driver and filled with the IOAS's mappings before the group moves
 * to it (iommufd_domain_alloc_finalised()); an IOMMU driver without
 * the finalise domain op (in 6.1 all but intel) cannot make one, and the
 * replace then fails with -EOPNOTSUPP unless an existing automatic
 * HW_PAGETABLE of the IOAS takes the group.  Naming the page table the
 * device is attached to, or its IOAS when that page table is automatic,
 * does nothing and succeeds; naming the IOAS of a manual HW_PAGETABLE the
 * device is on moves it to an automatic one of that IOAS.
 *
 * The reserved regions of the moved devices are reserved in the new IOAS
 * before the switch and released in the old one after it.  The old
 * HW_PAGETABLE keeps its mappings; an automatic one left without devices
 * is destroyed, as by iommufd_device_detach().
 *
 * The switch is iommu_group_replace_domain(): the iommu core never routes
 * it through the group's blocking domain, and each device's DMA is
 * translated by the old or by the new page table, except where the IOMMU
 * driver itself blocks it: 6.1 intel_iommu_attach_device() clears a
 * device's context entry before it writes the new one, so each device of
 * the group sees a short window in which its DMA faults, and the devices
 * are switched one by one.  With an IOAS, each existing automatic
 * HW_PAGETABLE the driver refuses for the group costs such a window more:
 * 6.1 intel blocks the device's translation before it checks the domain,
 * and the core then puts the moved devices back on the old domain.
 *
 * On failure nothing changed: the group is on the old page table, except
 * if the IOMMU driver refused the new domain for a device and then failed
 * to take the already moved devices back (6.1 intel allocates there): then
 * the iommu core put the whole group on its blocking domain (no DMA), the
 * error is returned, and iommufd still records the devices as attached to
 * the old HW_PAGETABLE, from which iommufd_device_detach() detaches them
 * as usual, and from which another replace moves them.
 *
 * Attach, detach and replace of the devices of one context are serialized,
 * so that none sees a group half moved.
 *
 * Return: 0 on success; -EINVAL if @idev is not attached, if @pt_id is
 * neither an IOAS nor a HW_PAGETABLE, or if the IOMMU driver refuses the
 * group on the new domain (whatever errno it used, but -ENOMEM); -ENOENT if
 * @pt_id names no object (or a HW_PAGETABLE being destroyed); -EPERM if
 * the context does not own the device (checked before anything else is
 * tried); -EADDRINUSE if a reserved region of a moved device, or a mapping
 * or allowed range of the new IOAS, does not fit; -ENOMEM; or, for a new
 * HW_PAGETABLE, the error of iommufd_domain_alloc_finalised() (-EOPNOTSUPP
 * for a driver without the finalise op) or of
 * iommufd_hw_pagetable_alloc_finalised().
 */
int iommufd_device_replace(struct iommufd_device *idev, u32 *pt_id)
{
	struct iommufd_hw_pagetable *old, *hwpt = NULL;
	struct iommufd_ctx *ictx = idev->ictx;
	struct iommufd_ioas *new_ioas;
	struct iommufd_object *pt_obj;
	struct iommu_domain *cur;
	unsigned int nr_moved = 0;
	bool destroy_old = false;
	int rc;

	pt_obj = iommufd_get_object(ictx, *pt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt_obj))
		return PTR_ERR(pt_obj);

	switch (pt_obj->type) {
	case IOMMUFD_OBJ_HW_PAGETABLE:
		hwpt = container_of(pt_obj, struct iommufd_hw_pagetable, obj);
		new_ioas = hwpt->ioas;
		break;
	case IOMMUFD_OBJ_IOAS:
		new_ioas = container_of(pt_obj, struct iommufd_ioas, obj);
		break;
	default:
		rc = -EINVAL;
		goto out_put;
	}

	mutex_lock(&ictx->attach_lock);
	mutex_lock(&idev->lock);
	old = idev->hwpt;
	if (!old) {
		rc = -EINVAL;
		goto out_unlock_dev;
	}
	/* Not owned: -EPERM before any driver is asked anything */
	cur = iommufd_device_group_domain(idev);
	if (IS_ERR(cur)) {
		rc = PTR_ERR(cur);
		goto out_unlock_dev;
	}

	iommufd_replace_lock(old->ioas, new_ioas);
	if (hwpt) {
		/* An automatic one whose last device left is being destroyed */
		if (list_empty(&hwpt->hwpt_item))
			rc = -ENOENT;
		else
			rc = iommufd_device_do_replace(idev, old, hwpt,
						       &nr_moved);
	} else {
		rc = iommufd_device_replace_ioas(idev, old, new_ioas,
						 &nr_moved);
	}
	if (!rc) {
		*pt_id = idev->hwpt->obj.id;
		if (nr_moved && old->auto_domain && list_empty(&old->devices)) {
			/* As in iommufd_device_detach() */
			list_del_init(&old->hwpt_item);
			destroy_old = true;
		}
	}
	iommufd_replace_unlock(old->ioas, new_ioas);
out_unlock_dev:
	mutex_unlock(&idev->lock);
	mutex_unlock(&ictx->attach_lock);

	/*
	 * The moved devices' references on @old, dropped without any lock
	 * held (see iommufd_device_detach()); the last one destroys an
	 * automatic HW_PAGETABLE left without devices.
	 */
	for (; nr_moved > 1; nr_moved--)
		iommufd_put_object(ictx, &old->obj);
	if (nr_moved) {
		if (destroy_old)
			iommufd_object_destroy_user(ictx, &old->obj);
		else
			iommufd_put_object(ictx, &old->obj);
	}
out_put:
	iommufd_put_object(ictx, pt_obj);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_replace, IOMMUFD);

/**
 * iommufd_device_to_ictx() - The context a device is bound to
 * @idev: a bound device
 *
 * Return: the context given to iommufd_device_bind().
 */
struct iommufd_ctx *iommufd_device_to_ictx(struct iommufd_device *idev)
{
	return idev->ictx;
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_to_ictx, IOMMUFD);

/**
 * iommufd_device_to_id() - The ID of a device's DEVICE object
 * @idev: a bound device
 *
 * Return: the ID iommufd_device_bind() returned, never 0 nor above INT_MAX.
 */
u32 iommufd_device_to_id(struct iommufd_device *idev)
{
	return idev->obj.id;
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_to_id, IOMMUFD);

/**
 * iommufd_ctx_has_group() - Is a device of an iommu_group bound to a context?
 * @ictx: iommufd context
 * @group: the iommu_group
 *
 * A context that has a device of @group bound owns the DMA of the whole
 * group: no other owner and no kernel driver can use any device of it.
 * VFIO relies on that to let a context reset devices it has not bound.
 * The answer is a snapshot, stable only as long as the caller keeps the
 * devices of @ictx from being unbound.
 *
 * Return: true if a DEVICE object of @ictx belongs to @group.
 */
bool iommufd_ctx_has_group(struct iommufd_ctx *ictx, struct iommu_group *group)
{
	struct iommufd_object *obj;
	unsigned long index;
	bool ret = false;

	if (!ictx || !group)
		return false;

	/*
	 * Objects are freed only after they left the table under this lock,
	 * and objects still being created read as absent.
	 */
	xa_lock(&ictx->objects);
	xa_for_each(&ictx->objects, index, obj) {
		if (obj->type == IOMMUFD_OBJ_DEVICE &&
		    container_of(obj, struct iommufd_device, obj)->group ==
			    group) {
			ret = true;
			break;
		}
	}
	xa_unlock(&ictx->objects);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(iommufd_ctx_has_group, IOMMUFD);

/*
 * The hw_info data of the IOMMU driver of @idev (NULL, with @length and
 * @type untouched, if the driver has none), called with the device locked
 * against its unbind.
 */
static void *iommufd_device_hw_info(struct iommufd_device *idev,
				    u32 *length, u32 *type)
{
	const struct iommu_ops *ops;
	void *data = NULL;
	int rc;

	rc = iommufd_device_lock_dev(idev);
	if (rc)
		return ERR_PTR(rc);
	ops = dev_iommu_ops(idev->dev);
	if (ops->hw_info) {
		data = ops->hw_info(idev->dev, length, type);
		/* A driver bug: data of no type user space knows */
		if (!IS_ERR(data) &&
		    WARN_ON_ONCE(*type == IOMMU_HW_INFO_TYPE_NONE)) {
			kfree(data);
			data = ERR_PTR(-ENODEV);
		}
	}
	iommufd_device_unlock_dev(idev);
	return data;
}

/**
 * iommufd_get_hw_info() - Handler of IOMMU_GET_HW_INFO
 * @ucmd: the ioctl; ucmd->cmd is a struct iommu_hw_info
 *
 * Copies the data of the hw_info op of the device's IOMMU driver (looked up
 * with dev_iommu_ops()) to user space, zero-filled up to the user's
 * data_len, and reports its type and length.  IOMMU_HW_INFO_FLAG_INPUT_TYPE
 * is not implemented: every flag is refused with -EOPNOTSUPP.
 *
 * The op runs under iommufd_device_lock_dev(), so the device cannot leave
 * its IOMMU meanwhile; a device whose driver unbound it gives -ENOENT.  The
 * lock and the reference on the DEVICE object are dropped before user
 * memory is touched: the op's data is a private copy, and the unbind of
 * the device must not wait for a slow or faulting user buffer.
 *
 * Return: 0, -EOPNOTSUPP for flags or reserved bytes, -ENOENT if dev_id is
 * not a DEVICE object of a bound device, -EFAULT if the buffer or the
 * structure cannot be written (the structure is then not updated), or the
 * driver's error (-ENOMEM).
 */
int iommufd_get_hw_info(struct iommufd_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;
	void __user *user_ptr = u64_to_user_ptr(cmd->data_uptr);
	u32 type = IOMMU_HW_INFO_TYPE_NONE, length = 0;
	struct iommufd_device *idev;
	u32 copy_len;
	void *data;
	int rc;

	if (cmd->flags || memchr_inv(cmd->__reserved, 0,
				     sizeof(cmd->__reserved)))
		return -EOPNOTSUPP;

	idev = container_of(iommufd_get_object(ucmd->ictx, cmd->dev_id,
					       IOMMUFD_OBJ_DEVICE),
			    struct iommufd_device, obj);
	if (IS_ERR(idev))
		return PTR_ERR(idev);

	data = iommufd_device_hw_info(idev, &length, &type);
	/* Before any user access: only @data is used from here on */
	iommufd_put_object(ucmd->ictx, &idev->obj);
	if (IS_ERR(data))
		return PTR_ERR(data);

	/* No data (NULL, length 0): only the zero fill */
	copy_len = min(cmd->data_len, length);
	if (copy_to_user(user_ptr, data, copy_len) ||
	    clear_user(user_ptr + copy_len, cmd->data_len - copy_len)) {
		rc = -EFAULT;
		goto out_free;
	}

	cmd->data_len = length;
	cmd->out_data_type = type;
	cmd->out_max_pasid_log2 = 0;
	cmd->out_capabilities = 0;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_free:
	kfree(data);
	return rc;
}
