// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/iommu: the iommufd character device, its per-file context, the
 * object table and the ioctl dispatcher.
 *
 * Object model
 * ------------
 * Everything user space builds through an iommufd is an object: an IOAS
 * (an I/O address space), a HW_PAGETABLE (an iommu_domain mirroring an
 * IOAS), a DEVICE (created when a kernel driver binds a device), an ACCESS
 * (created by a driver that reaches an IOAS's memory itself) and, in
 * test builds, SELFTEST objects.  Every object starts with a struct
 * iommufd_object header and lives in the context's object table, an
 * allocating xarray.  Objects point at each other (a HW_PAGETABLE at its
 * IOAS, a device at its HW_PAGETABLE) and each such pointer is backed by a
 * reference on the pointed-to object, so the references form a graph whose
 * leaves are the objects nobody else depends on.
 *
 * IDs
 * ---
 * An object's ID is its index in the table: one ID space per open file
 * shared by all object types, 1..INT_MAX, 0 is never used and the lowest
 * free ID is handed out first, so IDs are reused.  Creating an object is a
 * two step operation: _iommufd_object_alloc() reserves the ID with a zero
 * entry, which every lookup treats as absent, and the creator publishes the
 * object with iommufd_object_finalize() once nothing can fail any more
 * (including telling user space the ID).  Before that the creator undoes
 * everything with iommufd_object_abort() or
 * iommufd_object_abort_and_destroy(), which also frees the ID again.  A
 * failed creation therefore leaves no trace, and no other thread can ever
 * see a half built object.
 *
 * Lifetime
 * --------
 * iommufd_object::users counts references.  The table owns one for as long
 * as the object is in it; every other holder owns one more: an ioctl that
 * looked the object up, a dependent object, or the kernel driver that
 * created a DEVICE.  The rules that make this safe:
 *
 *  - A first reference on an object is only taken by looking it up, under
 *    the table's xa_lock (iommufd_get_object()); only the holder of a
 *    reference may take another one (iommufd_ref_object()).  An object
 *    leaves the table under that same lock, so a lookup either sees the
 *    object and pins it, or does not see it at all.
 *  - An object is removed from the table only when the table's reference
 *    is the last one, decided atomically under the xa_lock.  IOMMU_DESTROY
 *    fails with EBUSY otherwise, so it never waits and never frees an
 *    object somebody else is using.
 *  - Dropping a reference (iommufd_put_object()) touches the object for the
 *    last time in the decrement itself: as soon as the count reaches one a
 *    concurrent IOMMU_DESTROY may free it.  The wake-up that follows only
 *    uses the context.
 *  - Objects owned by the kernel (devices, selftest objects) are removed by
 *    their owner with iommufd_object_destroy_user(), which sleeps until
 *    every temporary reference is gone and cannot fail.  Its wait is
 *    bounded (60 s); on timeout the object is left in the table for the
 *    close of the context, so it must not depend on its owner afterwards.
 *  - Closing the file destroys what is left leaf first: it keeps destroying
 *    every object only the table still references until the table is
 *    empty.  A kernel driver that bound a device holds a reference on the
 *    file (iommufd_ctx_from_file()), so the context cannot be released
 *    before the driver has unbound.
 */
#define pr_fmt(fmt) "iommufd: " fmt

#include <linux/bug.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"
#include "iommufd_test.h"

/**
 * struct iommufd_object_ops - per object type operations
 * @destroy: release everything the object holds, except its memory, which
 *           the caller frees.  Called once the object is out of the table
 *           (or was never published) and nobody else references it.  Must
 *           not fail.
 */
struct iommufd_object_ops {
	void (*destroy)(struct iommufd_object *obj);
};

static const struct iommufd_object_ops iommufd_object_ops[] = {
	[IOMMUFD_OBJ_DEVICE] = {
		.destroy = iommufd_device_destroy,
	},
	[IOMMUFD_OBJ_HW_PAGETABLE] = {
		.destroy = iommufd_hw_pagetable_destroy,
	},
	[IOMMUFD_OBJ_IOAS] = {
		.destroy = iommufd_ioas_destroy,
	},
	[IOMMUFD_OBJ_ACCESS] = {
		.destroy = iommufd_access_destroy_object,
	},
#ifdef CONFIG_IOMMUFD_TEST
	[IOMMUFD_OBJ_SELFTEST] = {
		.destroy = iommufd_selftest_destroy,
	},
#endif
};

/* Run the type's destroy op and free the memory of an unreachable object */
static void iommufd_object_free(struct iommufd_object *obj)
{
	iommufd_object_ops[obj->type].destroy(obj);
	kfree(obj);
}

/**
 * _iommufd_object_alloc() - allocate an object and reserve its ID
 * @ictx: context the object will belong to
 * @size: size of the containing structure, whose first member is the
 *        struct iommufd_object
 * @type: object type
 *
 * The memory is zeroed and charged to the caller's memory cgroup.  The new
 * object holds one reference, the table's, and its ID (the lowest free one
 * in 1..INT_MAX) is reserved but the object cannot be looked up until
 * iommufd_object_finalize().  On error nothing is left behind.
 *
 * Return: the object, ERR_PTR(-ENOMEM), or ERR_PTR(-EBUSY) when every ID is
 * in use.
 */
struct iommufd_object *_iommufd_object_alloc(struct iommufd_ctx *ictx,
					     size_t size,
					     enum iommufd_object_type type)
{
	struct iommufd_object *obj;
	int rc;

	obj = kzalloc(size, GFP_KERNEL_ACCOUNT);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	obj->type = type;
	refcount_set(&obj->users, 1);

	/*
	 * A zero entry holds the ID: xa_load() reports it as absent, so the
	 * object stays invisible until it is finalized, while no other
	 * object can get the same ID.
	 */
	rc = xa_alloc(&ictx->objects, &obj->id, XA_ZERO_ENTRY, xa_limit_31b,
		      GFP_KERNEL_ACCOUNT);
	if (rc)
		goto out_free;
	return obj;

out_free:
	kfree(obj);
	return ERR_PTR(rc);
}

/**
 * iommufd_object_finalize() - publish an object allocated by
 *                             _iommufd_object_alloc()
 * @ictx: context of the object
 * @obj: the object
 *
 * From now on other threads can look @obj up and IOMMU_DESTROY can destroy
 * it at any time, so this must be the last step of creating it: the caller
 * may not touch @obj afterwards unless it holds a reference of its own.
 */
void iommufd_object_finalize(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj)
{
	void *old;

	/*
	 * The slot exists since _iommufd_object_alloc(), so the store does
	 * not allocate and cannot fail; it returns NULL for the zero entry
	 * it replaces.  Anything else is a bug.
	 */
	old = xa_store(&ictx->objects, obj->id, obj, GFP_KERNEL);
	WARN_ON(old);
}

/**
 * iommufd_object_abort() - free an object that was never finalized
 * @ictx: context of the object
 * @obj: the object
 *
 * Releases the reserved ID and frees the memory.  Whatever the object's
 * type-specific part holds must have been released already; see
 * iommufd_object_abort_and_destroy() otherwise.
 */
void iommufd_object_abort(struct iommufd_ctx *ictx,
			  struct iommufd_object *obj)
{
	void *old;

	old = xa_erase(&ictx->objects, obj->id);
	/* The slot must still hold the zero entry, read back as NULL */
	WARN_ON(old);
	kfree(obj);
}

/**
 * iommufd_object_abort_and_destroy() - destroy and free an object that was
 *                                      never finalized
 * @ictx: context of the object
 * @obj: the object
 *
 * For an object whose type-specific part is fully initialized: runs the
 * type's destroy operation, then iommufd_object_abort().
 */
void iommufd_object_abort_and_destroy(struct iommufd_ctx *ictx,
				      struct iommufd_object *obj)
{
	iommufd_object_ops[obj->type].destroy(obj);
	iommufd_object_abort(ictx, obj);
}

/**
 * iommufd_get_object() - look an object up by ID and take a reference
 * @ictx: context to look in
 * @id: the object's ID
 * @type: required type, or IOMMUFD_OBJ_ANY
 *
 * The reference must be dropped with iommufd_put_object().  In test builds
 * the lookup is also a fault injection point (it then fails with -ENOENT),
 * so it must not be used on paths that cannot fail.
 *
 * Return: the object, or ERR_PTR(-ENOENT) when there is no finalized object
 * with that ID and type.
 */
struct iommufd_object *iommufd_get_object(struct iommufd_ctx *ictx, u32 id,
					  enum iommufd_object_type type)
{
	struct iommufd_object *obj;

	if (iommufd_should_fail())
		return ERR_PTR(-ENOENT);

	xa_lock(&ictx->objects);
	/* xa_load() returns NULL for an ID that is only reserved */
	obj = xa_load(&ictx->objects, id);
	if (!obj || (type != IOMMUFD_OBJ_ANY && obj->type != type) ||
	    !refcount_inc_not_zero(&obj->users))
		obj = ERR_PTR(-ENOENT);
	xa_unlock(&ictx->objects);
	return obj;
}

/**
 * iommufd_put_object() - drop a reference taken on an object
 * @ictx: context of the object
 * @obj: the object
 *
 * @obj may be freed by another thread as soon as the reference is dropped,
 * so the decrement is the last access to it; waking those waiting in
 * iommufd_object_destroy_user() only uses @ictx.  The caller must keep
 * @ictx alive (an ioctl holds the file, a driver its file reference).
 */
void iommufd_put_object(struct iommufd_ctx *ictx, struct iommufd_object *obj)
{
	refcount_dec(&obj->users);
	/*
	 * wake_up_all(), not wake_up_interruptible_all():
	 * iommufd_object_destroy_user() cannot fail and so sleeps
	 * uninterruptibly, which only a TASK_NORMAL wake-up reaches.
	 */
	wake_up_all(&ictx->destroy_wait);
}

/*
 * How long iommufd_object_destroy_user() waits for the temporary references
 * of ioctls in flight.  An ioctl holds one for the duration of one call,
 * which user space can make long: an attach by HW_PAGETABLE ID holds its
 * reference while it waits for the device's lock, which a concurrent
 * attach of the same device to a large IOAS may hold for minutes while it
 * fills a new page table.  So a timeout is not necessarily a kernel bug.
 */
#define IOMMUFD_DESTROY_TIMEOUT_MS 60000

/**
 * iommufd_object_destroy_user() - remove and destroy a kernel-owned object
 * @ictx: context of the object
 * @obj: the object, which the caller holds a reference on
 *
 * For objects whose life is controlled by the kernel rather than by
 * IOMMU_DESTROY (devices, selftest objects, automatic HW_PAGETABLEs): the
 * caller's reference is what keeps IOMMU_DESTROY away, and it is consumed
 * here.  Sleeps until only the table's and the caller's references remain,
 * i.e. until ioctls that looked @obj up are done with it, then removes it
 * from the table, runs its destroy operation and frees it.  No other
 * long-term reference may exist.  Never fails.
 *
 * The wait is bounded: after IOMMUFD_DESTROY_TIMEOUT_MS (60 s) without the
 * other references going away, this logs the object with pr_warn() (not a
 * WARN: user space can cause it, see IOMMUFD_DESTROY_TIMEOUT_MS), drops
 * the caller's reference and returns without destroying @obj.  The
 * object then stays in the table with its type-specific state intact, as
 * it was before the call: IOMMU_DESTROY can remove it once the
 * other references are gone, and closing the context destroys it at the
 * latest.  Everything an object refers to must therefore stay valid for as
 * long as the object exists, not only until its owner calls this (a DEVICE
 * object holds a reference on its struct device and on the DMA ownership
 * of it).  The caller must not use @obj afterwards in either case.
 */
void iommufd_object_destroy_user(struct iommufd_ctx *ictx,
				 struct iommufd_object *obj)
{
	long timeout = msecs_to_jiffies(IOMMUFD_DESTROY_TIMEOUT_MS);
	void *old;

	for (;;) {
		timeout = wait_event_timeout(ictx->destroy_wait,
					     refcount_read(&obj->users) == 2,
					     timeout);
		if (!timeout) {
			pr_warn("object %u (type %d) still has %u users after %u ms, leaving it to the close of its context\n",
				obj->id, obj->type,
				refcount_read(&obj->users) - 2,
				IOMMUFD_DESTROY_TIMEOUT_MS);
			/* The object stays in the table, with the table's ref */
			iommufd_put_object(ictx, obj);
			return;
		}

		/*
		 * New references are only taken under the xa_lock, so if
		 * the count is still 2 here, erasing the entry makes it
		 * final.
		 */
		xa_lock(&ictx->objects);
		if (refcount_read(&obj->users) == 2) {
			old = __xa_erase(&ictx->objects, obj->id);
			xa_unlock(&ictx->objects);
			WARN_ON(old != obj);
			break;
		}
		xa_unlock(&ictx->objects);
	}
	iommufd_object_free(obj);
}

static int iommufd_destroy(struct iommufd_ucmd *ucmd)
{
	struct iommu_destroy *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_object *obj;

	xa_lock(&ictx->objects);
	obj = xa_load(&ictx->objects, cmd->id);
	if (!obj) {
		xa_unlock(&ictx->objects);
		return -ENOENT;
	}
	/*
	 * Only the table's reference may be left: anything else means a
	 * dependent object, a kernel driver or an ioctl in flight still uses
	 * it.  Dropping the last reference under the xa_lock, which every
	 * lookup takes, makes the object unreachable at once.
	 */
	if (!refcount_dec_if_one(&obj->users)) {
		xa_unlock(&ictx->objects);
		return -EBUSY;
	}
	__xa_erase(&ictx->objects, obj->id);
	iommufd_vfio_compat_obj_removed(ictx, obj);
	xa_unlock(&ictx->objects);

	iommufd_object_free(obj);
	return 0;
}

#if IS_ENABLED(CONFIG_IOMMUFD_VFIO_CONTAINER)
/* /dev/vfio/vfio, when VFIO has no container of its own */
static struct miscdevice vfio_misc_dev;
#endif

static int iommufd_fops_open(struct inode *inode, struct file *file)
{
	struct iommufd_ctx *ictx;

	ictx = kzalloc(sizeof(*ictx), GFP_KERNEL_ACCOUNT);
	if (!ictx)
		return -ENOMEM;

	xa_init_flags(&ictx->objects, XA_FLAGS_ALLOC1 | XA_FLAGS_ACCOUNT);
	init_waitqueue_head(&ictx->destroy_wait);
	mutex_init(&ictx->attach_lock);
	/* CAP_IPC_LOCK is checked when memory is pinned, not here */
	ictx->account_mode = IOPT_PAGES_ACCOUNT_USER;
#if IS_ENABLED(CONFIG_IOMMUFD_VFIO_CONTAINER)
	/*
	 * misc_open() left the misc device in private_data.  Opened as VFIO's
	 * container, charge pinned memory like VFIO's type1 does.
	 */
	if (file->private_data == &vfio_misc_dev)
		ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
#endif
	ictx->file = file;
	file->private_data = ictx;
	return 0;
}

static int iommufd_fops_release(struct inode *inode, struct file *file)
{
	struct iommufd_ctx *ictx = file->private_data;
	struct iommufd_object *obj;

	/*
	 * No ioctl can run any more and no driver holds the context (it
	 * would hold the file), so only references between objects remain.
	 * Each pass destroys the objects that nothing depends on; that drops
	 * their references on the objects below them, which the same or the
	 * next pass then finds free: devices and selftest objects go first,
	 * then HW_PAGETABLEs, then IOASes.
	 */
	while (!xa_empty(&ictx->objects)) {
		unsigned int destroyed = 0;
		unsigned long index;

		xa_for_each(&ictx->objects, index, obj) {
			if (!refcount_dec_if_one(&obj->users))
				continue;
			destroyed++;
			xa_lock(&ictx->objects);
			__xa_erase(&ictx->objects, index);
			iommufd_vfio_compat_obj_removed(ictx, obj);
			xa_unlock(&ictx->objects);
			iommufd_object_free(obj);
		}
		/*
		 * A pass without progress means a reference was leaked.  The
		 * leftover objects cannot be freed safely and whoever holds
		 * them may still wake destroy_wait, so leak the context too
		 * rather than risk a use after free.
		 */
		if (WARN_ON(!destroyed))
			return 0;
	}
	xa_destroy(&ictx->objects);
	mutex_destroy(&ictx->attach_lock);
	kfree(ictx);
	return 0;
}

/* On-stack buffer large enough for every command structure */
union ucmd_buffer {
	struct iommu_destroy destroy;
	struct iommu_ioas_alloc alloc;
	struct iommu_ioas_allow_iovas allow_iovas;
	struct iommu_ioas_copy ioas_copy;
	struct iommu_ioas_iova_ranges iova_ranges;
	struct iommu_ioas_map map;
	struct iommu_ioas_unmap unmap;
	struct iommu_option option;
	struct iommu_vfio_ioas vfio_ioas;
	struct iommu_hwpt_alloc hwpt_alloc;
	struct iommu_hw_info hw_info;
#ifdef CONFIG_IOMMUFD_TEST
	struct iommu_test_cmd test;
#endif
};

/**
 * struct iommufd_ioctl_op - one entry of the ioctl table
 * @size: size of the command structure this kernel knows
 * @min_size: end of the last field of the command's original ABI; shorter
 *            user structures are refused
 * @ioctl_num: the complete ioctl request number
 * @execute: the handler
 */
struct iommufd_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	unsigned int ioctl_num;
	int (*execute)(struct iommufd_ucmd *ucmd);
};

/*
 * IOMMUFD_CMD_<name> is the number of ioctl IOMMU_<name>; the test command
 * has no entry in the UAPI enum, being outside the stable ABI.
 */
#ifdef CONFIG_IOMMUFD_TEST
#define IOMMUFD_CMD_TEST_CMD (IOMMUFD_CMD_BASE + 32)
#endif

#define IOMMUFD_IOCTL_OP(_name, _fn, _struct, _last)                         \
	[IOMMUFD_CMD_##_name - IOMMUFD_CMD_BASE] = {                         \
		.size = sizeof(_struct) +                                    \
			BUILD_BUG_ON_ZERO(sizeof(union ucmd_buffer) <        \
					  sizeof(_struct)) +                 \
			BUILD_BUG_ON_ZERO(_IOC_NR(IOMMU_##_name) !=          \
					  IOMMUFD_CMD_##_name),              \
		.min_size = offsetofend(_struct, _last),                     \
		.ioctl_num = IOMMU_##_name,                                  \
		.execute = _fn,                                              \
	}

static const struct iommufd_ioctl_op iommufd_ioctl_ops[] = {
	IOMMUFD_IOCTL_OP(DESTROY, iommufd_destroy, struct iommu_destroy, id),
	IOMMUFD_IOCTL_OP(IOAS_ALLOC, iommufd_ioas_alloc_ioctl,
			 struct iommu_ioas_alloc, out_ioas_id),
	IOMMUFD_IOCTL_OP(IOAS_ALLOW_IOVAS, iommufd_ioas_allow_iovas,
			 struct iommu_ioas_allow_iovas, allowed_iovas),
	IOMMUFD_IOCTL_OP(IOAS_COPY, iommufd_ioas_copy, struct iommu_ioas_copy,
			 src_iova),
	IOMMUFD_IOCTL_OP(IOAS_IOVA_RANGES, iommufd_ioas_iova_ranges,
			 struct iommu_ioas_iova_ranges, out_iova_alignment),
	IOMMUFD_IOCTL_OP(IOAS_MAP, iommufd_ioas_map, struct iommu_ioas_map,
			 iova),
	IOMMUFD_IOCTL_OP(IOAS_UNMAP, iommufd_ioas_unmap,
			 struct iommu_ioas_unmap, length),
	IOMMUFD_IOCTL_OP(OPTION, iommufd_ioas_option, struct iommu_option,
			 val64),
	IOMMUFD_IOCTL_OP(VFIO_IOAS, iommufd_vfio_ioas, struct iommu_vfio_ioas,
			 __reserved),
	IOMMUFD_IOCTL_OP(HWPT_ALLOC, iommufd_hwpt_alloc,
			 struct iommu_hwpt_alloc, __reserved),
	IOMMUFD_IOCTL_OP(GET_HW_INFO, iommufd_get_hw_info, struct iommu_hw_info,
			 __reserved),
#ifdef CONFIG_IOMMUFD_TEST
	IOMMUFD_IOCTL_OP(TEST_CMD, iommufd_test, struct iommu_test_cmd, last),
#endif
};

static long iommufd_fops_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	const struct iommufd_ioctl_op *op;
	struct iommufd_ucmd ucmd = {};
	union ucmd_buffer buf;
	unsigned int nr;
	int ret;

	ucmd.ictx = file->private_data;
	nr = _IOC_NR(cmd);
	/*
	 * The VFIO container ioctls use numbers below iommufd's range on the
	 * same ioctl type: hand every number outside the range to them.
	 */
	if (nr < IOMMUFD_CMD_BASE ||
	    nr - IOMMUFD_CMD_BASE >= ARRAY_SIZE(iommufd_ioctl_ops)) {
		ret = iommufd_vfio_ioctl(ucmd.ictx, cmd, arg);
		return ret == -ENOIOCTLCMD ? -ENOTTY : ret;
	}
	op = &iommufd_ioctl_ops[nr - IOMMUFD_CMD_BASE];
	/* Holes in the table have no handler; type, size, dir must match */
	if (!op->execute || op->ioctl_num != cmd)
		return -ENOTTY;

	ucmd.ubuffer = (void __user *)arg;
	ret = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
	if (ret)
		return ret;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;

	/*
	 * Fields the caller does not know about read as zero; trailing bytes
	 * the kernel does not know about must be zero (E2BIG otherwise).
	 */
	ucmd.cmd = &buf;
	ret = copy_struct_from_user(ucmd.cmd, op->size, ucmd.ubuffer,
				    ucmd.user_size);
	if (ret)
		return ret;
	return op->execute(&ucmd);
}

static const struct file_operations iommufd_fops = {
	.owner = THIS_MODULE,
	.open = iommufd_fops_open,
	.release = iommufd_fops_release,
	.unlocked_ioctl = iommufd_fops_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * iommufd_ctx_from_file() - get the iommufd context of an open /dev/iommu
 * @file: a file the caller holds a reference on
 *
 * Takes a reference on @file, which keeps the context alive until
 * iommufd_ctx_put(): a driver that binds devices to the context thereby
 * keeps it from being released before it has unbound them.
 *
 * Return: the context, or ERR_PTR(-EBADFD) if @file is not an iommufd.
 */
struct iommufd_ctx *iommufd_ctx_from_file(struct file *file)
{
	struct iommufd_ctx *ictx;

	if (file->f_op != &iommufd_fops)
		return ERR_PTR(-EBADFD);
	ictx = file->private_data;
	get_file(file);
	return ictx;
}
EXPORT_SYMBOL_NS_GPL(iommufd_ctx_from_file, IOMMUFD);

/**
 * iommufd_ctx_put() - drop the reference taken by iommufd_ctx_from_file()
 * @ictx: the context
 *
 * May release the context, so the caller must not use @ictx, nor anything
 * obtained through it, afterwards.
 */
void iommufd_ctx_put(struct iommufd_ctx *ictx)
{
	fput(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(iommufd_ctx_put, IOMMUFD);

static struct miscdevice iommu_misc_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "iommu",
	.fops = &iommufd_fops,
	.nodename = "iommu",
	.mode = 0660,
};

#if IS_ENABLED(CONFIG_IOMMUFD_VFIO_CONTAINER)
static struct miscdevice vfio_misc_dev = {
	.minor = VFIO_MINOR,
	.name = "vfio",
	.fops = &iommufd_fops,
	.nodename = "vfio/vfio",
	.mode = 0666,
};

static int __init iommufd_vfio_container_init(void)
{
	int ret;

	ret = misc_register(&vfio_misc_dev);
	if (ret)
		return ret;
	pr_info("IOMMUFD is providing /dev/vfio/vfio, not VFIO\n");
	return 0;
}

static void iommufd_vfio_container_exit(void)
{
	misc_deregister(&vfio_misc_dev);
}
#else
static int __init iommufd_vfio_container_init(void)
{
	return 0;
}

static void iommufd_vfio_container_exit(void)
{
}
#endif

static int __init iommufd_init(void)
{
	int ret;

	/* The mock driver must exist before user space can ask for it */
	ret = iommufd_test_init();
	if (ret)
		return ret;

	ret = misc_register(&iommu_misc_dev);
	if (ret)
		goto err_test;

	ret = iommufd_vfio_container_init();
	if (ret)
		goto err_misc;
	return 0;

err_misc:
	misc_deregister(&iommu_misc_dev);
err_test:
	iommufd_test_exit();
	return ret;
}

static void __exit iommufd_exit(void)
{
	iommufd_vfio_container_exit();
	misc_deregister(&iommu_misc_dev);
	iommufd_test_exit();
}

module_init(iommufd_init);
module_exit(iommufd_exit);

MODULE_DESCRIPTION("IOMMU user-space API (/dev/iommu)");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(IOMMUFD_INTERNAL);
#if IS_ENABLED(CONFIG_IOMMUFD_VFIO_CONTAINER)
MODULE_ALIAS_MISCDEV(VFIO_MINOR);
MODULE_ALIAS("devname:vfio/vfio");
#endif
