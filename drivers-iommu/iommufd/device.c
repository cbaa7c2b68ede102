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
 * HW_PAGETABLE is destroyed by the detach of its last device.
 *
 * References: a bound device holds one reference on its DEVICE object for
 * the driver, so that user space cannot destroy it, one on the struct
 * device, so that the object never points to a freed device, and (for
 * drivers) one on the context's file, so that the context outlives the
 * binding.  An attached device holds a reference on its HW_PAGETABLE,
 * which holds one on its IOAS.
 *
 * Locking, outermost first: idev->lock -> ioas->mutex -> the io_pagetable's
 * domains_rwsem -> group->mutex (iommu core).  Attach and detach of one
 * device are serialized by idev->lock; every change of a HW_PAGETABLE's
 * device list, and every attach or detach of a device in an IOAS, happens
 * under that IOAS's mutex, and the driver's attach or detach on a domain
 * that is in the IOAS also under domains_rwsem for write (see
 * iopt_domain_devices_lock()).  The driver must not call anything on a
 * device concurrently with, or after, its unbind.
 */
#include <linux/device.h>
#include <linux/file.h>
#include <linux/iommu.h>
#include <linux/irqdomain.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"

static bool allow_unsafe_interrupts;
module_param(allow_unsafe_interrupts, bool, 0644);
MODULE_PARM_DESC(allow_unsafe_interrupts,
		 "Allow binding devices whose MSIs the platform cannot isolate (interrupt remapping or an equivalent); such a device can trigger arbitrary interrupts on the host.");

/**
 * struct iommufd_device - a device bound to an iommufd context
 * @obj: object header
 * @ictx: the context the device is bound to
 * @dev: the device; the object holds a reference on it (get_device())
 *       until it is destroyed, which may be after the driver unbound (see
 *       iommufd_object_destroy_user())
 * @group: the iommu_group of @dev, a reference held from bind to destroy
 * @lock: serializes attach and detach of this device; protects @hwpt
 * @hwpt: the HW_PAGETABLE the device is attached to, or NULL.  Set and
 *        cleared under @lock and hwpt->ioas->mutex, so either is enough to
 *        read it.
 * @devices_item: entry in @hwpt->devices, under hwpt->ioas->mutex
 * @holds_ctx: bind took a reference on @ictx->file, dropped by unbind
 */
struct iommufd_device {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct device *dev;
	struct iommu_group *group;
	struct mutex lock; /* serializes attach/detach, protects hwpt */
	struct iommufd_hw_pagetable *hwpt;
	struct list_head devices_item;
	bool holds_ctx;
};

static_assert(offsetof(struct iommufd_device, obj) == 0);

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
 * in the context until the context is closed.
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

	/* Consumes the driver's reference */
	iommufd_object_destroy_user(ictx, &idev->obj);
	/* Last: this may free @ictx */
	if (holds_ctx)
		fput(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_unbind, IOMMUFD);

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
 * Replacing the page table of an attached device is not supported: detach
 * it first.
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
	 * for that reference.
	 */
	mutex_unlock(&idev->lock);

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
}
EXPORT_SYMBOL_NS_GPL(iommufd_device_detach, IOMMUFD);

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
