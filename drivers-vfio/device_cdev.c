// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VFIO device character device, /dev/vfio/devices/vfioN.
 *
 * Every physical VFIO device behind an IOMMU gets a char device, named
 * after its vfio-dev class device (/sys/class/vfio-dev/vfioN), in the
 * "vfio-dev" char region, and so does every emulated device (mdev) whose
 * driver can bind it to an iommufd (vfio_device_ops.bind_iommufd).
 * Opening it gives no access to the device: until VFIO_DEVICE_BIND_IOMMUFD
 * has bound the fd to an iommufd, every other ioctl, read(), write() and
 * mmap() fail with EINVAL.  The bind claims the DMA ownership of a physical
 * device for the iommufd context and opens the device; its DMA stays
 * blocked until VFIO_DEVICE_ATTACH_IOMMUFD_PT attaches it to an IOAS or a
 * HW_PAGETABLE of the context.  An emulated device is bound through an
 * iommufd access, whose ID the bind returns as the devid, without a DMA
 * ownership claim; its driver reaches the user's memory only once it is
 * attached, and only to an IOAS (ENOENT for the ID of a HW_PAGETABLE).
 * Closing the fd unbinds it.
 *
 * The rules of IOMMU groups still hold, checked when binding: the devices
 * of a group can only be bound to one iommufd context, not while a kernel
 * driver uses the DMA of another device of the group (-EPERM, from the
 * iommu core's device claim), and not while the group itself is open
 * through /dev/vfio/GROUP (-EBUSY); conversely the group cannot be opened
 * while one of its devices is bound through its cdev.
 *
 * Only one fd of a device can be bound at a time.  A failed bind on a
 * second fd leaves the first one as it was: the device's state (open
 * count, KVM reference, binding) only changes on the first open and the
 * last close.
 *
 * Locking: bind, attach, detach and unbind run under the device's
 * dev_set->lock.  group_lock is only taken, on its own, to block and
 * unblock the group fd.
 */
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <uapi/linux/vfio.h>

#include "vfio.h"

static dev_t device_devt;

/* Called by vfio_init_device(): the cdev, used if the device gets one */
void vfio_init_device_cdev(struct vfio_device *device)
{
	device->device.devt = MKDEV(MAJOR(device_devt), device->index);
	cdev_init(&device->cdev, &vfio_device_fops);
	device->cdev.owner = THIS_MODULE;
}

/* .open of vfio_device_fops, only reached through the cdev */
int vfio_device_fops_cdev_open(struct inode *inode, struct file *filep)
{
	struct vfio_device *device = container_of(inode->i_cdev,
						  struct vfio_device, cdev);
	struct vfio_device_file *df;
	int ret;

	/* Paired with the put in vfio_device_fops_release() */
	if (!vfio_device_try_get_registration(device))
		return -ENODEV;

	df = vfio_allocate_device_file(device);
	if (IS_ERR(df)) {
		ret = PTR_ERR(df);
		goto err_put_registration;
	}

	filep->private_data = df;
	return 0;

err_put_registration:
	vfio_device_put_registration(device);
	return ret;
}

/* The iommufd named by @fd, with a reference, or an ERR_PTR */
static struct iommufd_ctx *vfio_get_iommufd(int fd)
{
	struct iommufd_ctx *ictx;
	struct fd f;

	f = fdget(fd);
	if (!f.file)
		return ERR_PTR(-EBADF);
	ictx = iommufd_ctx_from_file(f.file);
	fdput(f);
	return ictx;
}

/**
 * vfio_df_ioctl_bind_iommufd() - VFIO_DEVICE_BIND_IOMMUFD
 * @df: the device fd
 * @arg: a struct vfio_device_bind_iommufd
 *
 * With VFIO_DEVICE_BIND_FLAG_TOKEN the user proves it holds the token of
 * the device (the VF token of vfio-pci); the driver's match_token_uuid()
 * checks it, or its absence, before the device is opened, as ->match()
 * does for VFIO_GROUP_GET_DEVICE_FD.
 *
 * The devid returned is the ID of the DEVICE object of a physical device,
 * or of the access of an emulated device.
 *
 * Return: 0, -EFAULT, -EINVAL (bad argsz, flags or iommufd number, a token
 * for a device that takes none, a group fd, this fd bound already, or
 * another fd of the device bound), -EACCES (a token is needed and missing,
 * or wrong), -EBADF, -EBADFD (not an iommufd), -EBUSY (the group is open
 * through /dev/vfio/GROUP), -EPERM (a kernel driver or another iommufd uses
 * the DMA of the group, or its MSIs cannot be isolated), -ENOMEM, or the
 * error of the driver's open_device().
 */
long vfio_df_ioctl_bind_iommufd(struct vfio_device_file *df,
				struct vfio_device_bind_iommufd __user *arg)
{
	struct vfio_device *device = df->device;
	struct vfio_device_bind_iommufd bind;
	uuid_t token, *token_ptr = NULL;
	unsigned long minsz;
	int ret;

	static_assert(__same_type(arg->out_devid, df->devid));

	minsz = offsetofend(struct vfio_device_bind_iommufd, out_devid);

	if (copy_from_user(&bind, arg, minsz))
		return -EFAULT;

	if (bind.argsz < minsz || bind.flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN ||
	    bind.iommufd < 0)
		return -EINVAL;

	/* Only a cdev fd can be bound */
	if (df->group)
		return -EINVAL;

	if (bind.flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
		u64 uptr;

		/* The flag makes token_uuid_ptr valid: argsz must cover it */
		if (bind.argsz <
		    offsetofend(struct vfio_device_bind_iommufd, token_uuid_ptr))
			return -EINVAL;
		if (!device->ops->match_token_uuid)
			return -EINVAL;
		if (copy_from_user(&uptr, &arg->token_uuid_ptr, sizeof(uptr)) ||
		    copy_from_user(&token, u64_to_user_ptr(uptr), sizeof(token)))
			return -EFAULT;
		token_ptr = &token;
	}

	ret = vfio_device_block_group(device);
	if (ret)
		return ret;

	mutex_lock(&device->dev_set->lock);
	/*
	 * One bind per fd, and one bound fd per device: refused before the
	 * token is looked at, which for a vfio-pci PF may set it.
	 */
	if (df->access_granted || device->open_count) {
		ret = -EINVAL;
		goto out_unlock;
	}

	df->iommufd = vfio_get_iommufd(bind.iommufd);
	if (IS_ERR(df->iommufd)) {
		ret = PTR_ERR(df->iommufd);
		df->iommufd = NULL;
		goto out_unlock;
	}

	/* A token, or its absence, is checked at every bind, as at match */
	if (device->ops->match_token_uuid) {
		ret = device->ops->match_token_uuid(device, token_ptr);
		if (ret)
			goto out_put_iommufd;
	}

	/*
	 * Binds the device if no other fd has; the KVM associated with this
	 * fd at this moment is the device's until it is closed.
	 */
	ret = vfio_df_open(df);
	if (ret)
		goto out_put_iommufd;

	ret = copy_to_user(&arg->out_devid, &df->devid,
			   sizeof(df->devid)) ? -EFAULT : 0;
	if (ret)
		goto out_close_device;

	device->cdev_opened = true;
	/* Paired with smp_load_acquire() in the device fops */
	smp_store_release(&df->access_granted, true);
	mutex_unlock(&device->dev_set->lock);
	return 0;

out_close_device:
	vfio_df_close(df);
out_put_iommufd:
	iommufd_ctx_put(df->iommufd);
	df->iommufd = NULL;
out_unlock:
	mutex_unlock(&device->dev_set->lock);
	vfio_device_unblock_group(device);
	return ret;
}

/**
 * vfio_df_unbind_iommufd() - Undo VFIO_DEVICE_BIND_IOMMUFD
 * @df: a cdev fd being released
 *
 * Closes and unbinds the device, which detaches it.  Nothing to do for an
 * fd that was never bound.
 */
void vfio_df_unbind_iommufd(struct vfio_device_file *df)
{
	struct vfio_device *device = df->device;

	/*
	 * The fd is being released: nothing can change access_granted
	 * concurrently, so a plain read is enough.
	 */
	if (!df->access_granted)
		return;

	mutex_lock(&device->dev_set->lock);
	vfio_df_close(df);
	device->cdev_opened = false;
	iommufd_ctx_put(df->iommufd);
	df->iommufd = NULL;
	mutex_unlock(&device->dev_set->lock);
	vfio_device_unblock_group(device);
}

/**
 * vfio_df_ioctl_attach_pt() - VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * @df: a bound cdev fd
 * @arg: a struct vfio_device_attach_iommufd_pt
 *
 * A device that is attached already is moved to the new page table, with
 * the devices of its iommu_group attached to the same one, without a
 * detach in between (iommufd_device_replace()).  If the result cannot be
 * written back the device is detached, as upstream does.
 *
 * Return: 0 with pt_id set to the HW_PAGETABLE the device is attached to
 * (an emulated device: pt_id unchanged, the IOAS), -EFAULT, -EINVAL (bad
 * argsz or flags, or the group is attached to a page table of another IOAS
 * by another device, or the IOMMU driver refuses the device or its group on
 * the page table), -ENOENT (no such IOAS or HW_PAGETABLE; an emulated
 * device: not an IOAS), -EOPNOTSUPP (VFIO_DEVICE_ATTACH_PASID), or the
 * other errors of iommufd_device_attach() and iommufd_device_replace(), or
 * of iommufd_access_attach() and iommufd_access_replace().
 */
long vfio_df_ioctl_attach_pt(struct vfio_device_file *df,
			     struct vfio_device_attach_iommufd_pt __user *arg)
{
	struct vfio_device *device = df->device;
	struct vfio_device_attach_iommufd_pt attach;
	unsigned long minsz;
	int ret;

	minsz = offsetofend(struct vfio_device_attach_iommufd_pt, pt_id);

	if (copy_from_user(&attach, arg, minsz))
		return -EFAULT;

	if (attach.argsz < minsz ||
	    attach.flags & ~VFIO_DEVICE_ATTACH_PASID)
		return -EINVAL;
	/*
	 * No driver supports PASID in this kernel: refused before pasid is
	 * read, so before argsz is checked against it.
	 */
	if (attach.flags & VFIO_DEVICE_ATTACH_PASID)
		return -EOPNOTSUPP;

	mutex_lock(&device->dev_set->lock);
	ret = vfio_iommufd_attach(device, &attach.pt_id);
	if (ret)
		goto out_unlock;

	if (copy_to_user(&arg->pt_id, &attach.pt_id, sizeof(attach.pt_id))) {
		ret = -EFAULT;
		goto out_detach;
	}
	mutex_unlock(&device->dev_set->lock);
	return 0;

out_detach:
	vfio_iommufd_detach(device);
out_unlock:
	mutex_unlock(&device->dev_set->lock);
	return ret;
}

/**
 * vfio_df_ioctl_detach_pt() - VFIO_DEVICE_DETACH_IOMMUFD_PT
 * @df: a bound cdev fd
 * @arg: a struct vfio_device_detach_iommufd_pt
 *
 * The device's DMA is blocked afterwards.  Detaching a device that is not
 * attached does nothing.
 *
 * Return: 0, -EFAULT, -EINVAL (bad argsz or flags), -EOPNOTSUPP
 * (VFIO_DEVICE_DETACH_PASID).
 */
long vfio_df_ioctl_detach_pt(struct vfio_device_file *df,
			     struct vfio_device_detach_iommufd_pt __user *arg)
{
	struct vfio_device *device = df->device;
	struct vfio_device_detach_iommufd_pt detach;
	unsigned long minsz;

	minsz = offsetofend(struct vfio_device_detach_iommufd_pt, flags);

	if (copy_from_user(&detach, arg, minsz))
		return -EFAULT;

	if (detach.argsz < minsz ||
	    detach.flags & ~VFIO_DEVICE_DETACH_PASID)
		return -EINVAL;
	/* No PASID support, whatever argsz says: see the attach */
	if (detach.flags & VFIO_DEVICE_DETACH_PASID)
		return -EOPNOTSUPP;

	mutex_lock(&device->dev_set->lock);
	vfio_iommufd_detach(device);
	mutex_unlock(&device->dev_set->lock);
	return 0;
}

static char *vfio_device_devnode(struct device *dev, umode_t *mode)
{
	return kasprintf(GFP_KERNEL, "vfio/devices/%s", dev_name(dev));
}

/**
 * vfio_cdev_init() - Set up the char region of the device cdevs
 * @device_class: the vfio-dev class, whose nodes go to /dev/vfio/devices/
 *
 * Return: 0 or the error of alloc_chrdev_region().
 */
int vfio_cdev_init(struct class *device_class)
{
	device_class->devnode = vfio_device_devnode;
	return alloc_chrdev_region(&device_devt, 0, MINORMASK + 1, "vfio-dev");
}

/**
 * vfio_cdev_cleanup() - Undo vfio_cdev_init()
 */
void vfio_cdev_cleanup(void)
{
	unregister_chrdev_region(device_devt, MINORMASK + 1);
}
