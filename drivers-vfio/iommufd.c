// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO devices on iommufd: the glue between a vfio_device and iommufd's
 * kernel API, used both by devices opened through a group attached to an
 * iommufd and by devices bound through their character device.
 *
 * Only physical devices behind an IOMMU (VFIO_IOMMU groups) can be bound:
 * iommufd_device_bind() claims the DMA ownership of the device for the
 * iommufd context, which requires a driver with driver_managed_dma, as
 * vfio-pci and the other VFIO bus drivers have.  Emulated (mdev) devices
 * would need iommufd's in-kernel access objects, and no-IOMMU devices have
 * nothing to bind; neither can use an iommufd in this kernel.
 *
 * Locking: every function here is called with the device's dev_set->lock
 * held, which serializes open, close, bind, attach and detach of the
 * devices of a set and protects vdev->iommufd_device and
 * vdev->iommufd_attached.
 */
#include <linux/iommu.h>
#include <linux/iommufd.h>
#include <linux/lockdep.h>
#include <linux/module.h>
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
 * Claims the DMA ownership of the device for @ictx: the DMA of its IOMMU
 * group is blocked until the device is attached to an I/O page table.
 *
 * Return: 0, -EINVAL for a device that is not a physical device behind an
 * IOMMU, or the error of iommufd_device_bind(): -EPERM if a kernel driver
 * or another owner uses the DMA of the group (the kernel log says who).
 */
int vfio_iommufd_bind(struct vfio_device *vdev, struct iommufd_ctx *ictx,
		      u32 *out_devid)
{
	struct iommufd_device *idev;

	lockdep_assert_held(&vdev->dev_set->lock);

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
 *         HW_PAGETABLE the device is attached to
 *
 * An attached device is moved to the new page table with
 * iommufd_device_replace(), together with the other devices of its
 * iommu_group attached to the same one, without detaching it.
 *
 * Return: 0, or the error of iommufd_device_attach() (not attached) or of
 * iommufd_device_replace() (attached; it stays attached where it was).
 */
int vfio_iommufd_attach(struct vfio_device *vdev, u32 *pt_id)
{
	int rc;

	lockdep_assert_held(&vdev->dev_set->lock);

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
 * Its DMA is blocked afterwards.  Does nothing if the device is not
 * attached.
 */
void vfio_iommufd_detach(struct vfio_device *vdev)
{
	lockdep_assert_held(&vdev->dev_set->lock);

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
 * the group, so the device is covered); -ENODEV otherwise.
 */
int vfio_iommufd_get_dev_id(struct vfio_device *vdev, struct iommufd_ctx *ictx)
{
	struct iommu_group *group;
	int devid;

	lockdep_assert_held(&vdev->dev_set->lock);

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
