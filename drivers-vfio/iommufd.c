// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO devices on iommufd: the glue between a vfio_device and iommufd's
 * kernel API, used both by devices opened through a group attached to an
 * iommufd and by devices bound through their character device.
 *
 * Physical devices behind an IOMMU (VFIO_IOMMU groups) are bound by the
 * core: iommufd_device_bind() claims the DMA ownership of the device for
 * the iommufd context, which requires a driver with driver_managed_dma, as
 * vfio-pci and the other VFIO bus drivers have.
 *
 * Emulated devices (VFIO_EMULATED_IOMMU groups: mdevs) do no DMA of their
 * own: their driver reads and writes the user's memory through
 * vfio_pin_pages() and vfio_dma_rw().  On iommufd they are bound through
 * an iommufd_access, created by the driver's bind_iommufd callback, for
 * which the driver uses the vfio_iommufd_emulated_*() helpers below: the
 * access is attached to an IOAS (never to a HW_PAGETABLE), and when user
 * space unmaps IOVA the driver's dma_unmap callback is called, as the type1
 * container does.  No DMA ownership is claimed for them.  A driver without
 * bind_iommufd can only be used through a VFIO container: the core refuses
 * an iommufd for its group with EOPNOTSUPP and gives it no char device.
 * No-IOMMU devices have nothing to bind and cannot use an iommufd.
 *
 * Locking: every function here but the vfio_iommufd_access_*() ones is
 * called with the device's dev_set->lock held, which serializes open,
 * close, bind, attach and detach of the devices of a set and protects
 * vdev->iommufd_device, vdev->iommufd_access, vdev->iommufd_ictx and
 * vdev->iommufd_attached.  Those are set on the first open and cleared on
 * the last close, so while the device is open its driver reads them
 * without the lock.
 */
#include <linux/iommu.h>
#include <linux/iommufd.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/vfio.h>

#include "vfio.h"

MODULE_IMPORT_NS(IOMMUFD);
MODULE_IMPORT_NS(IOMMUFD_VFIO);

/**
 * vfio_iommufd_bind() - Bind a device to an iommufd context
 * @vdev: the device, whose first fd is being opened
 * @ictx: the iommufd context
 * @out_devid: returns the ID of the DEVICE object in @ictx
 *
 * A physical device: claims the DMA ownership of the device for @ictx; the
 * DMA of its IOMMU group is blocked until the device is attached to an I/O
 * page table.  An emulated device: its driver's bind_iommufd callback
 * creates an access, whose ID is returned in @out_devid.
 *
 * Return: 0, -EOPNOTSUPP for an emulated device whose driver has no
 * bind_iommufd callback, -EINVAL for a no-IOMMU device, the error of the
 * driver's callback, or the error of iommufd_device_bind(): -EPERM if a
 * kernel driver or another owner uses the DMA of the group (the kernel log
 * says who).
 */
int vfio_iommufd_bind(struct vfio_device *vdev, struct iommufd_ctx *ictx,
		      u32 *out_devid)
{
	struct iommufd_device *idev;

	lockdep_assert_held(&vdev->dev_set->lock);

	if (vdev->group->type == VFIO_EMULATED_IOMMU) {
		if (!vdev->ops->bind_iommufd)
			return -EOPNOTSUPP;
		if (WARN_ON(vdev->iommufd_access))
			return -EINVAL;
		return vdev->ops->bind_iommufd(vdev, ictx, out_devid);
	}

	if (WARN_ON(vdev->group->type != VFIO_IOMMU || vdev->iommufd_device))
		return -EINVAL;

	idev = iommufd_device_bind(ictx, vdev->dev, out_devid);
	if (IS_ERR(idev)) {
		if (PTR_ERR(idev) == -EPERM || PTR_ERR(idev) == -EBUSY)
			vfio_device_report_dma_conflict(vdev, ictx);
		return PTR_ERR(idev);
	}
	vdev->iommufd_device = idev;
	return 0;
}

/**
 * vfio_iommufd_unbind() - Undo vfio_iommufd_bind()
 * @vdev: the device, whose last fd is being released
 *
 * Detaches the device if it is attached.  Never fails.
 */
void vfio_iommufd_unbind(struct vfio_device *vdev)
{
	lockdep_assert_held(&vdev->dev_set->lock);

	if (vdev->group->type == VFIO_EMULATED_IOMMU) {
		vdev->ops->unbind_iommufd(vdev);
		return;
	}

	if (WARN_ON(!vdev->iommufd_device))
		return;
	vfio_iommufd_detach(vdev);
	iommufd_device_unbind(vdev->iommufd_device);
	vdev->iommufd_device = NULL;
}

/**
 * vfio_iommufd_attach() - Attach a bound device to an I/O page table
 * @vdev: the device
 * @pt_id: in: the ID of an IOAS or a HW_PAGETABLE; out: the ID of the
 *         HW_PAGETABLE the device is attached to (an emulated device: the
 *         IOAS, unchanged)
 *
 * An attached physical device is moved to the new page table with
 * iommufd_device_replace(), together with the other devices of its
 * iommu_group attached to the same one, without detaching it.  An emulated
 * device is attached by its driver's attach_ioas callback, to an IOAS only.
 *
 * Return: 0, or the error of iommufd_device_attach() (not attached) or of
 * iommufd_device_replace() (attached; it stays attached where it was), or
 * for an emulated device that of its driver's attach_ioas callback
 * (vfio_iommufd_emulated_attach_ioas(): -ENOENT for an ID that is not an
 * IOAS, a HW_PAGETABLE's included).
 */
int vfio_iommufd_attach(struct vfio_device *vdev, u32 *pt_id)
{
	int rc;

	lockdep_assert_held(&vdev->dev_set->lock);

	if (vdev->group->type == VFIO_EMULATED_IOMMU)
		return vdev->ops->attach_ioas(vdev, pt_id);

	if (WARN_ON(!vdev->iommufd_device))
		return -EINVAL;
	if (vdev->iommufd_attached)
		return iommufd_device_replace(vdev->iommufd_device, pt_id);

	rc = iommufd_device_attach(vdev->iommufd_device, pt_id);
	if (rc)
		return rc;
	vdev->iommufd_attached = true;
	return 0;
}

/**
 * vfio_iommufd_detach() - Detach a device from its I/O page table
 * @vdev: the device
 *
 * Its DMA is blocked afterwards (an emulated device: its driver's
 * detach_ioas callback detaches the access).  Does nothing if the device is
 * not attached.
 */
void vfio_iommufd_detach(struct vfio_device *vdev)
{
	lockdep_assert_held(&vdev->dev_set->lock);

	if (vdev->group->type == VFIO_EMULATED_IOMMU) {
		vdev->ops->detach_ioas(vdev);
		return;
	}

	if (!vdev->iommufd_attached)
		return;
	iommufd_device_detach(vdev->iommufd_device);
	vdev->iommufd_attached = false;
}

/**
 * vfio_iommufd_compat_attach_ioas() - Attach a device to the compat IOAS
 * @vdev: a bound device, opened through a group attached to @ictx
 * @ictx: the iommufd of the group
 *
 * Devices opened through a group use the IOAS the VFIO container ioctls
 * of @ictx work on.
 *
 * Return: 0, -ENODEV if @ictx has no compat IOAS any more (user space
 * destroyed or cleared it), or the error of vfio_iommufd_attach().
 */
int vfio_iommufd_compat_attach_ioas(struct vfio_device *vdev,
				    struct iommufd_ctx *ictx)
{
	u32 ioas_id;
	int rc;

	lockdep_assert_held(&vdev->dev_set->lock);

	rc = iommufd_vfio_compat_ioas_get_id(ictx, &ioas_id);
	if (rc)
		return rc;
	return vfio_iommufd_attach(vdev, &ioas_id);
}

/**
 * vfio_iommufd_device_ictx() - The iommufd a device is bound to
 * @vdev: the device
 *
 * The caller holds dev_set->lock, or knows that the device stays bound
 * (the caller holds the fd that bound it).
 *
 * Return: the iommufd context, or NULL if the device is not bound to one.
 */
struct iommufd_ctx *vfio_iommufd_device_ictx(struct vfio_device *vdev)
{
	if (vdev->iommufd_device)
		return iommufd_device_to_ictx(vdev->iommufd_device);
	if (vdev->iommufd_access)
		return vdev->iommufd_ictx;
	return NULL;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_device_ictx);

/**
 * vfio_iommufd_get_dev_id() - A device's ID in an iommufd, for hot reset
 * @vdev: the device, of the dev_set whose lock the caller holds
 * @ictx: the iommufd of the device that asks
 *
 * Only a device bound through its cdev has an ID to report: one opened
 * through its group, even with @ictx as the group's container, belongs to
 * the group's user, and a reset set mixing the two is not supported.
 *
 * Return: the ID of @vdev's DEVICE object if it is bound to @ictx through
 * its cdev; -EINVAL if it is bound to @ictx through its group; -ENOENT if
 * it is not bound to @ictx but a device of its IOMMU group is (@ictx owns
 * the group, so the device is covered); -ENODEV otherwise, and for an
 * emulated device, which has no DEVICE object and nothing to reset.
 */
int vfio_iommufd_get_dev_id(struct vfio_device *vdev, struct iommufd_ctx *ictx)
{
	struct iommu_group *group;
	int devid;

	lockdep_assert_held(&vdev->dev_set->lock);

	if (vdev->group->type != VFIO_IOMMU)
		return -ENODEV;

	if (vfio_iommufd_device_ictx(vdev) == ictx) {
		if (!vfio_device_cdev_opened(vdev))
			return -EINVAL;
		return iommufd_device_to_id(vdev->iommufd_device);
	}

	group = iommu_group_get(vdev->dev);
	if (!group)
		return -ENODEV;

	if (iommufd_ctx_has_group(ictx, group))
		devid = -ENOENT;
	else
		devid = -ENODEV;

	iommu_group_put(group);
	return devid;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_get_dev_id);

/*
 * The unmap callback of the access of an emulated device: user space
 * unmaps IOVA the driver pinned, or the access leaves the IOAS where it
 * pinned it.  The driver unpins what it pinned in the range before it
 * returns.  A driver without dma_unmap never pins.
 */
static void vfio_emulated_unmap(void *data, unsigned long iova,
				unsigned long length)
{
	struct vfio_device *vdev = data;

	if (vdev->ops->dma_unmap)
		vdev->ops->dma_unmap(vdev, iova, length);
}

static const struct iommufd_access_ops vfio_user_ops = {
	.needs_pin_pages = 1,
	.unmap = vfio_emulated_unmap,
};

/**
 * vfio_iommufd_emulated_bind() - bind_iommufd of an emulated device
 * @vdev: the device, registered with vfio_register_emulated_iommu_dev()
 * @ictx: the iommufd context
 * @out_device_id: returns the ID of the access, which user space names
 *                 the device by (the devid of VFIO_DEVICE_BIND_IOMMUFD)
 *
 * Creates an access in @ictx with the device as its user: no DMA
 * ownership is claimed, the driver reaches the user's memory through
 * vfio_pin_pages() and vfio_dma_rw() once the device is attached to an
 * IOAS.  The driver's dma_unmap callback, if it has one, is called when
 * user space unmaps IOVA of that IOAS, and must unpin what it pinned in
 * the range.  Called with dev_set->lock held.
 *
 * Return: 0, or the error of iommufd_access_create() (-ENOMEM).
 */
int vfio_iommufd_emulated_bind(struct vfio_device *vdev,
			       struct iommufd_ctx *ictx, u32 *out_device_id)
{
	struct iommufd_access *user;

	lockdep_assert_held(&vdev->dev_set->lock);

	user = iommufd_access_create(ictx, &vfio_user_ops, vdev, out_device_id);
	if (IS_ERR(user))
		return PTR_ERR(user);
	vdev->iommufd_access = user;
	vdev->iommufd_ictx = ictx;
	return 0;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_emulated_bind);

/**
 * vfio_iommufd_emulated_unbind() - unbind_iommufd of an emulated device
 * @vdev: the device, closed by its driver already
 *
 * Detaches the access (the driver, which closed the device, has unpinned
 * everything) and destroys it.  Never fails.
 */
void vfio_iommufd_emulated_unbind(struct vfio_device *vdev)
{
	lockdep_assert_held(&vdev->dev_set->lock);

	if (WARN_ON(!vdev->iommufd_access))
		return;
	if (vdev->iommufd_attached) {
		iommufd_access_detach(vdev->iommufd_access);
		vdev->iommufd_attached = false;
	}
	iommufd_access_destroy(vdev->iommufd_access);
	vdev->iommufd_access = NULL;
	vdev->iommufd_ictx = NULL;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_emulated_unbind);

/**
 * vfio_iommufd_emulated_attach_ioas() - attach_ioas of an emulated device
 * @vdev: the bound device
 * @pt_id: the ID of an IOAS of the device's iommufd context; unchanged
 *
 * An attached device moves to the new IOAS with iommufd_access_replace(),
 * which first asks the driver, through its dma_unmap callback, to unpin
 * what it pinned in the old one.
 *
 * Return: 0, -ENOENT if @pt_id is not the ID of an IOAS (a HW_PAGETABLE
 * is refused: an access has no I/O page table of its own), or the other
 * errors of iommufd_access_attach() and iommufd_access_replace(): -EBUSY
 * if the driver kept pages of the old IOAS pinned (the device then stays
 * attached where it was), -EADDRINUSE if a mapping of the IOAS is not
 * PAGE_SIZE aligned.
 */
int vfio_iommufd_emulated_attach_ioas(struct vfio_device *vdev, u32 *pt_id)
{
	int rc;

	lockdep_assert_held(&vdev->dev_set->lock);

	if (WARN_ON(!vdev->iommufd_access))
		return -EINVAL;

	if (vdev->iommufd_attached)
		return iommufd_access_replace(vdev->iommufd_access, *pt_id);

	rc = iommufd_access_attach(vdev->iommufd_access, *pt_id);
	if (rc)
		return rc;
	vdev->iommufd_attached = true;
	return 0;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_emulated_attach_ioas);

/**
 * vfio_iommufd_emulated_detach_ioas() - detach_ioas of an emulated device
 * @vdev: the bound device
 *
 * The access leaves its IOAS; iommufd_access_detach() first asks the
 * driver, through its dma_unmap callback, to unpin what it still pinned
 * there.  The driver cannot reach the user's memory any more.  Does nothing
 * if the device is not attached.
 */
void vfio_iommufd_emulated_detach_ioas(struct vfio_device *vdev)
{
	lockdep_assert_held(&vdev->dev_set->lock);

	if (WARN_ON(!vdev->iommufd_access) || !vdev->iommufd_attached)
		return;
	iommufd_access_detach(vdev->iommufd_access);
	vdev->iommufd_attached = false;
}
EXPORT_SYMBOL_GPL(vfio_iommufd_emulated_detach_ioas);

/*
 * vfio_pin_pages() of an emulated device bound to an iommufd: the caller
 * holds the device open, so vdev->iommufd_access is stable.  @npage pages
 * from the page that holds @iova; the caller adds the offset in the page.
 */
int vfio_iommufd_access_pin_pages(struct vfio_device *vdev, dma_addr_t iova,
				  int npage, int prot, struct page **pages)
{
	int rc;

	if (iova != (unsigned long)iova)
		return -EINVAL;
	rc = iommufd_access_pin_pages(vdev->iommufd_access,
				      ALIGN_DOWN(iova, PAGE_SIZE),
				      (unsigned long)npage * PAGE_SIZE, pages,
				      (prot & IOMMU_WRITE) ?
					      IOMMUFD_ACCESS_RW_WRITE : 0);
	return rc ? rc : npage;
}

/* vfio_unpin_pages(): exactly what vfio_iommufd_access_pin_pages() pinned */
void vfio_iommufd_access_unpin_pages(struct vfio_device *vdev,
				     dma_addr_t iova, int npage)
{
	if (WARN_ON(iova != (unsigned long)iova))
		return;
	iommufd_access_unpin_pages(vdev->iommufd_access,
				   ALIGN_DOWN(iova, PAGE_SIZE),
				   (unsigned long)npage * PAGE_SIZE);
}

/* vfio_dma_rw(): a kthread (no mm of its own) says so to iommufd */
int vfio_iommufd_access_rw(struct vfio_device *vdev, dma_addr_t iova,
			   void *data, size_t len, bool write)
{
	unsigned int flags = 0;

	if (iova != (unsigned long)iova)
		return -EINVAL;
	if (write)
		flags |= IOMMUFD_ACCESS_RW_WRITE;
	if (!current->mm)
		flags |= IOMMUFD_ACCESS_RW_KTHREAD;
	return iommufd_access_rw(vdev->iommufd_access, iova, data, len, flags);
}
