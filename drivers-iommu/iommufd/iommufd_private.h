/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal interfaces of iommufd.  Map of the code:
 *
 *  main.c         /dev/iommu, the per-file context, the object table, ioctl
 *                 dispatch, IOMMU_DESTROY and tear-down at close
 *  ioas.c         the IOAS object and its ioctls
 *  io_pagetable.c an IOAS's IOVA space: areas, reserved and allowed
 *                 ranges, IOVA allocation, the attached iommu_domains
 *  pages.c        pinned user memory (struct iopt_pages): pinning in
 *                 batches, PFN runs, RLIMIT_MEMLOCK accounting, filling and
 *                 emptying iommu_domains
 *  hw_pagetable.c the HW_PAGETABLE object: an iommu_domain mirroring an IOAS
 *  device.c       the DEVICE object and the kernel API for drivers
 *  access.c       the ACCESS object: in-kernel accesses to an IOAS (the
 *                 kernel API of emulated devices)
 *  vfio_compat.c  the VFIO type1 container ioctls and IOMMU_VFIO_IOAS
 *  selftest.c     CONFIG_IOMMUFD_TEST: mock IOMMU driver and IOMMU_TEST_CMD
 *
 * Lock order (outermost first):
 *   idev->lock -> ioas->mutex -> iopt->domains_rwsem -> iopt->iova_rwsem
 *   access->ioas_lock -> iopt->domains_rwsem -> iopt->iova_rwsem ->
 *                  access->pin_lock
 *   ioas->mutex -> group->mutex (iommu core, taken by the iommu_attach_*,
 *                  iommu_detach_* and iommu_device_* calls)
 *   iopt->domains_rwsem -> group->mutex (the attach or detach of a device
 *                  on a domain that is in the IOAS, under
 *                  iopt_domain_devices_lock())
 * The iommu core's group->mutex is never held while iommufd takes one of
 * its own locks, and iova_rwsem is never held across an attach or
 * detach.  struct iopt_pages has no lock: it does not change after it is
 * created.
 */
#ifndef __IOMMUFD_PRIVATE_H
#define __IOMMUFD_PRIVATE_H

#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/iommufd.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/xarray.h>

struct iommu_domain;
struct iommu_group;
struct iommu_iova_range;
struct iommu_option;
struct iopt_pages;
struct page;

/* How pinned pages are charged to RLIMIT_MEMLOCK */
enum iommufd_account_mode {
	IOPT_PAGES_ACCOUNT_NONE,	/* CAP_IPC_LOCK: not charged */
	IOPT_PAGES_ACCOUNT_USER,	/* user->locked_vm (default) */
	IOPT_PAGES_ACCOUNT_MM,		/* mm->locked_vm, like VFIO type1 */
};

/**
 * struct iommufd_ctx - state of one open /dev/iommu file
 * @file: the file, for fget-style lookups by drivers
 * @objects: object table, IDs 1..INT_MAX (lowest free ID first); an entry
 *           is XA_ZERO_ENTRY while its object is being created.  Protected
 *           by the xarray's own lock.
 * @destroy_wait: woken whenever an object reference is put, for those
 *                waiting for an object to become destroyable
 * @account_mode: enum iommufd_account_mode used for new mappings; changed
 *                only while @objects is empty (under its xa_lock)
 * @test_memory_limit: CONFIG_IOMMUFD_TEST: bytes of the temporary page
 *                     array of one pin batch, 0 for the default; set by
 *                     IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT on this context
 *                     only (READ_ONCE/WRITE_ONCE)
 * @vfio_ioas: the IOAS the VFIO container ioctls work on, or NULL (see
 *             vfio_compat.c); protected by the xa_lock of @objects
 * @attach_lock: serializes every attach, detach and replace of the
 *               context's devices (device.c), so that no attach or detach
 *               of a device sees its iommu_group half moved by the replace
 *               of another device of the group.  Protects, with the IOAS's
 *               mutex, each device's hwpt and devices_item.  Outermost:
 *               taken before iommufd_device.lock and iommufd_ioas.mutex,
 *               never held while an object is destroyed.
 */
struct iommufd_ctx {
	struct file *file;
	struct xarray objects;
	wait_queue_head_t destroy_wait;
	struct mutex attach_lock; /* see the kernel-doc above */
	u8 account_mode;
#ifdef CONFIG_IOMMUFD_TEST
	size_t test_memory_limit;
#endif
	struct iommufd_ioas *vfio_ioas;
};

enum iommufd_object_type {
	IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_ANY = IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_DEVICE,
	IOMMUFD_OBJ_HW_PAGETABLE,
	IOMMUFD_OBJ_IOAS,
	IOMMUFD_OBJ_ACCESS,
#ifdef CONFIG_IOMMUFD_TEST
	IOMMUFD_OBJ_SELFTEST,
#endif
	IOMMUFD_OBJ_MAX,
};

/**
 * struct iommufd_object - header of every object in the table
 * @users: references.  The table holds one while the object is in it;
 *         every other holder (an ioctl in flight, a dependent object, a
 *         kernel driver) holds one more.  An object can be removed from the
 *         table only when the table's reference is the last one.
 * @type: enum iommufd_object_type
 * @id: the object's ID in its context's table
 *
 * Lifetime rule (the lesson of upstream's v6.7 use-after-free): a reference
 * is taken under the table's xa_lock, and putting a reference touches the
 * object for the last time in the refcount decrement itself; anything done
 * after it (waking waiters) uses only the context.
 */
struct iommufd_object {
	refcount_t users;
	enum iommufd_object_type type;
	unsigned int id;
};

/* Per-ioctl state handed to every handler */
struct iommufd_ucmd {
	struct iommufd_ctx *ictx;
	void __user *ubuffer;
	u32 user_size;
	void *cmd;
};

/* Copy @ucmd->cmd back to user space, truncated to the user's size. */
static inline int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd,
				       size_t cmd_len)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
			 min_t(size_t, ucmd->user_size, cmd_len)))
		return -EFAULT;
	return 0;
}

/* main.c: object table */
struct iommufd_object *_iommufd_object_alloc(struct iommufd_ctx *ictx,
					     size_t size,
					     enum iommufd_object_type type);
/*
 * Allocate an object of the type @ptr points to; its struct iommufd_object
 * must be the first member (each object struct asserts that).
 */
#define iommufd_object_alloc(ictx, ptr, type)                                  \
	((typeof(ptr))_iommufd_object_alloc(ictx, sizeof(*(ptr)), type))
void iommufd_object_finalize(struct iommufd_ctx *ictx,
			     struct iommufd_object *obj);
void iommufd_object_abort(struct iommufd_ctx *ictx,
			  struct iommufd_object *obj);
void iommufd_object_abort_and_destroy(struct iommufd_ctx *ictx,
				      struct iommufd_object *obj);
struct iommufd_object *iommufd_get_object(struct iommufd_ctx *ictx, u32 id,
					  enum iommufd_object_type type);
void iommufd_put_object(struct iommufd_ctx *ictx, struct iommufd_object *obj);
/*
 * Remove @obj from the table and destroy it, for objects owned by the
 * kernel (devices, selftest objects).  The caller holds one reference of
 * its own, which is consumed.  Waits until every other reference but the
 * table's is gone, at most 60 s: then it WARNs and leaves @obj in the
 * table for the close of the context.  Never fails.
 */
void iommufd_object_destroy_user(struct iommufd_ctx *ictx,
				 struct iommufd_object *obj);
/* Take a reference on an object the caller already holds a reference to */
static inline void iommufd_ref_object(struct iommufd_object *obj)
{
	refcount_inc(&obj->users);
}

/* Fault injection point for allocation and pin paths (selftest.c) */
#ifdef CONFIG_IOMMUFD_TEST
bool iommufd_should_fail(void);
#else
static inline bool iommufd_should_fail(void)
{
	return false;
}
#endif

/**
 * struct io_pagetable - the IOVA space of one IOAS
 * @domains_rwsem: protects @domains, @next_domain_id, @iova_alignment and
 *                 @npin_accesses (write side to change them, with
 *                 @iova_rwsem for write too)
 * @domains: the iommu_domains mirroring this IOVA space, indexes
 *           0..@next_domain_id - 1, no holes
 * @next_domain_id: number of domains in @domains
 * @iova_rwsem: protects @area_itree, @nareas, @allowed_itree,
 *              @reserved_itree and @disable_large_pages
 * @area_itree: mapped IOVA (struct iopt_area, see io_pagetable.h)
 * @nareas: number of areas in @area_itree, at most the max_areas module
 *          parameter when they were inserted
 * @allowed_itree: IOMMU_IOAS_ALLOW_IOVAS ranges
 * @reserved_itree: reserved IOVA (device regions, outside a domain's
 *                  aperture, selftest ranges), each with an owner cookie
 * @iova_alignment: granularity of IOVA, length and page offset for new
 *                  mappings: the largest minimum page size of @domains,
 *                  PAGE_SIZE while an access that pins pages is attached,
 *                  1 when there is none, never above PAGE_SIZE
 * @disable_large_pages: IOMMU_OPTION_HUGE_PAGES == 0
 * @access_list: the attached struct iommufd_access, at the index kept in
 *               their &iommufd_access.iopt_access_list_id.  Changed under
 *               @domains_rwsem and @iova_rwsem, both for write (and the
 *               xarray's lock); read under @iova_rwsem, or under the
 *               xarray's lock taking a reference on the access
 * @npin_accesses: attached accesses with &iommufd_access_ops.needs_pin_pages
 * @unmap_fences: struct iopt_unmap_fence of the unmaps waiting for the
 *                drivers of accesses to unpin (iova_rwsem): no new pin may
 *                start in their range
 */
struct io_pagetable {
	struct rw_semaphore domains_rwsem;
	struct xarray domains;
	unsigned int next_domain_id;

	struct rw_semaphore iova_rwsem;
	struct rb_root_cached area_itree;
	unsigned int nareas;
	struct rb_root_cached allowed_itree;
	struct rb_root_cached reserved_itree;
	u8 disable_large_pages;
	unsigned long iova_alignment;

	struct xarray access_list;
	unsigned int npin_accesses;
	struct list_head unmap_fences;
};

/* io_pagetable.c */
void iopt_init_table(struct io_pagetable *iopt);
/* Unmap and free everything; no domain may be attached any more. */
void iopt_destroy_table(struct io_pagetable *iopt);

enum {
	IOPT_ALLOC_IOVA = 1 << 0,	/* choose *iova, else map at *iova */
	IOPT_ACCOUNT_MM = 1 << 1,	/* charge mm->locked_vm, like type1 */
};

/*
 * Pin [@uptr, @uptr + @length) of the current process and map it at *@iova
 * in @iopt and all its domains.  Accounting follows @ictx->account_mode
 * (IOPT_PAGES_ACCOUNT_MM with IOPT_ACCOUNT_MM in @flags).  On failure
 * nothing is left pinned, charged or mapped.
 */
int iopt_map_user_pages(struct iommufd_ctx *ictx, struct io_pagetable *iopt,
			unsigned long *iova, void __user *uptr,
			unsigned long length, int iommu_prot,
			unsigned int flags);
/*
 * Map the memory already mapped at [@src_iova, @src_iova + @length) in
 * @src at *@dst_iova in @dst, sharing its pinned pages.  -ENOENT if the
 * source range is not fully mapped, -EPERM if @iommu_prot asks for
 * IOMMU_WRITE on memory that was pinned read-only.
 */
int iopt_copy_iova(struct io_pagetable *src, unsigned long src_iova,
		   struct io_pagetable *dst, unsigned long *dst_iova,
		   unsigned long length, int iommu_prot, unsigned int flags);
/* Unmap whole areas inside the range; see IOMMU_IOAS_UNMAP for errnos. */
int iopt_unmap_iova(struct io_pagetable *iopt, unsigned long iova,
		    unsigned long length, unsigned long *unmapped);
int iopt_unmap_all(struct io_pagetable *iopt, unsigned long *unmapped);
/* Is any IOVA of [@start, @last] mapped? */
bool iopt_range_has_area(struct io_pagetable *iopt, unsigned long start,
			 unsigned long last);
/* Split areas so that each IOVA of @iovas ends one (VFIO type1 v1 unmap) */
int iopt_cut_iova(struct io_pagetable *iopt, const unsigned long *iovas,
		  size_t num);

/*
 * IOMMU_IOAS_ALLOW_IOVAS: build a new list with iopt_allowed_insert(), then
 * swap it in with iopt_set_allow_iova() and free what it gives back.
 */
int iopt_allowed_insert(struct rb_root_cached *allowed, u64 start, u64 last);
void iopt_free_allowed(struct rb_root_cached *allowed);
int iopt_set_allow_iova(struct io_pagetable *iopt,
			struct rb_root_cached *allowed);
/*
 * Write at most @max usable ranges (IOMMU_IOAS_IOVA_RANGES) to @ranges and
 * return how many there are in *@total.
 */
int iopt_get_usable_ranges(struct io_pagetable *iopt,
			   struct iommu_iova_range *ranges, unsigned int max,
			   unsigned int *total);
/* -EADDRINUSE if [start, last] overlaps an area or an allowed range */
int iopt_reserve_iova(struct io_pagetable *iopt, unsigned long start,
		      unsigned long last, void *owner);
void iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner);
/*
 * Reserve the reserved regions of @group (owner @dev).  *@sw_msi_start is
 * set to the start of an IOMMU_RESV_SW_MSI region if there is one.
 */
int iopt_table_enforce_group_resv_regions(struct io_pagetable *iopt,
					  struct device *dev,
					  struct iommu_group *group,
					  phys_addr_t *sw_msi_start);
/*
 * Add @domain and fill it with every current mapping.  Fails with -EINVAL
 * if its minimum page size exceeds PAGE_SIZE, -EADDRINUSE if the new
 * alignment or its aperture conflicts with existing mappings or allowed
 * ranges.  On failure @domain is left empty.
 */
int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain);
/* Unmap everything from @domain and forget it.  Never fails. */
void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommu_domain *domain);
/*
 * Re-check @domain, already added, after the driver changed its aperture or
 * page sizes; -EADDRINUSE (and no change) if the mappings no longer fit.
 * The usable IOVA of @domain only shrinks and the alignment only grows.
 * The caller holds iopt_domain_devices_lock().
 */
int iopt_table_update_domain(struct io_pagetable *iopt,
			     struct iommu_domain *domain);
/*
 * Around a driver's attach or detach of a device on a domain of @iopt: no
 * (un)mapping runs meanwhile (domains_rwsem for write)
 */
void iopt_domain_devices_lock(struct io_pagetable *iopt);
void iopt_domain_devices_unlock(struct io_pagetable *iopt);
/* The same for a second io_pagetable, while the first one is held */
void iopt_domain_devices_lock_nested(struct io_pagetable *iopt);
/*
 * IOMMU_OPTION_HUGE_PAGES; -EINVAL when it cannot be changed now,
 * -EADDRINUSE when a mapping is not PAGE_SIZE aligned
 */
int iopt_set_large_pages(struct io_pagetable *iopt, bool enable);
/*
 * In-kernel accesses (access.c).  iopt_add_access() and iopt_remove_access()
 * attach and detach an access; the caller holds access->ioas_lock.
 */
struct iommufd_access;
int iopt_add_access(struct io_pagetable *iopt, struct iommufd_access *access,
		    u32 *id);
void iopt_remove_access(struct io_pagetable *iopt,
			struct iommufd_access *access, u32 id);
int iopt_access_pin_pages(struct io_pagetable *iopt,
			  struct iommufd_access *access, unsigned long iova,
			  unsigned long last, struct page **out_pages,
			  bool write);
int iopt_access_rw(struct io_pagetable *iopt, unsigned long iova,
		   unsigned long last, void *data, bool write);
/*
 * The first access attached to @iopt that holds a pin, made in @iopt,
 * intersecting [@start, @last], or NULL if there is none.  The caller
 * holds iova_rwsem.
 */
struct iommufd_access *iopt_find_pinning_access(struct io_pagetable *iopt,
						unsigned long start,
						unsigned long last);
/*
 * Rounds of notification an unmap, a replace or a detach makes before it
 * gives up on a driver that does not unpin.  One is enough for a correct
 * driver: it unpins from its unmap callback, and new pins of the range are
 * refused meanwhile.
 */
#define IOMMUFD_ACCESS_NOTIFY_ROUNDS 3
/* Ask the accesses of @iopt to unpin what intersects [@start, @last] */
void iommufd_access_notify_unmap(struct io_pagetable *iopt,
				 unsigned long start, unsigned long last);
#ifdef CONFIG_IOMMUFD_TEST
struct iommu_test_cmd;
/* IOMMU_TEST_OP_IOAS_METADATA: fill cmd->metadata */
int iopt_get_metadata(struct io_pagetable *iopt, struct iommu_test_cmd *cmd);
#endif

/**
 * struct iommufd_ioas - the IOAS object
 * @obj: object header
 * @iopt: the IOVA space
 * @mutex: protects @hwpt_list and the device lists of its HW_PAGETABLEs;
 *         serializes adding domains to @iopt and attaching devices to them.
 *         A replace between two IOASes holds both: the old IOAS's, then
 *         the new one's with mutex_lock_nested(), only under the context's
 *         attach_lock, so no two tasks take two of them at once.
 * @hwpt_list: HW_PAGETABLEs whose domain mirrors @iopt
 */
struct iommufd_ioas {
	struct iommufd_object obj;
	struct io_pagetable iopt;
	struct mutex mutex;	/* see the kernel-doc above */
	struct list_head hwpt_list;
};

static_assert(offsetof(struct iommufd_ioas, obj) == 0);

static inline struct iommufd_ioas *iommufd_get_ioas(struct iommufd_ctx *ictx,
						    u32 id)
{
	return container_of(iommufd_get_object(ictx, id, IOMMUFD_OBJ_IOAS),
			    struct iommufd_ioas, obj);
}

/* ioas.c */
struct iommufd_ioas *iommufd_ioas_alloc(struct iommufd_ctx *ictx);
void iommufd_ioas_destroy(struct iommufd_object *obj);
int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd);
int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd);
int iommufd_ioas_map(struct iommufd_ucmd *ucmd);
int iommufd_ioas_copy(struct iommufd_ucmd *ucmd);
int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd);
int iommufd_ioas_option(struct iommufd_ucmd *ucmd);
int iommufd_option_rlimit_mode(struct iommu_option *cmd,
			       struct iommufd_ctx *ictx);

/**
 * struct iommufd_hw_pagetable - the HW_PAGETABLE object
 * @obj: object header
 * @ioas: the IOAS this page table mirrors; holds a reference on it
 * @domain: the iommu_domain, added to @ioas->iopt; the iommu core knows
 *          which devices are attached to it
 * @auto_domain: created by an attach; destroyed with its last device.
 *               false: made by IOMMU_HWPT_ALLOC, destroyed by user space
 * @enforce_cache_coherency: the driver agreed, right after the first
 *                           attach (made unattached: before the domain was
 *                           finished), to refuse no-snoop DMA for the domain;
 *                           only devices that can join such a domain are
 *                           attached to it, and an attach by IOAS never
 *                           joins a domain that could enforce it but does
 *                           not.  Set before the object is published, then
 *                           constant.
 * @hwpt_item: entry in @ioas->hwpt_list (under @ioas->mutex)
 * @devices: attached struct iommufd_device (devices_item), under
 *           @ioas->mutex
 */
struct iommufd_hw_pagetable {
	struct iommufd_object obj;
	struct iommufd_ioas *ioas;
	struct iommu_domain *domain;
	bool auto_domain;
	bool enforce_cache_coherency;
	struct list_head hwpt_item;
	struct list_head devices;
};

static_assert(offsetof(struct iommufd_hw_pagetable, obj) == 0);

/* hw_pagetable.c; the caller holds ioas->mutex */
struct iommufd_hw_pagetable *
iommufd_hw_pagetable_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			   struct device *dev, phys_addr_t sw_msi_start);
struct iommu_domain *iommufd_domain_alloc_finalised(struct device *dev,
						    bool *enforce_cc);
struct iommufd_hw_pagetable *
iommufd_hw_pagetable_alloc_finalised(struct iommufd_ctx *ictx,
				     struct iommufd_ioas *ioas,
				     struct iommu_domain *domain,
				     bool enforce_cc);
void iommufd_hw_pagetable_abort(struct iommufd_ctx *ictx,
				struct iommufd_hw_pagetable *hwpt);
void iommufd_hw_pagetable_destroy(struct iommufd_object *obj);
int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd);

/* device.c */
/**
 * struct iommufd_device - a device bound to an iommufd context
 * @obj: object header
 * @ictx: the context the device is bound to
 * @dev: the device; the object holds a reference on it (get_device())
 *       until it is destroyed, which may be after the driver unbound (see
 *       iommufd_object_destroy_user())
 * @group: the iommu_group of @dev, a reference held from bind to destroy
 * @lock: serializes attach, detach and replace of this device (inside
 *        @ictx->attach_lock); held while @hwpt is set or cleared
 * @hwpt: the HW_PAGETABLE the device is attached to, or NULL.  Written
 *        under @ictx->attach_lock and hwpt->ioas->mutex (both IOASes'
 *        when a replace moves it; @lock too when set or cleared, not when
 *        the replace of another device of the group moves it), so either of
 *        the first two is enough to read it, @lock to tell whether it is
 *        NULL.
 * @devices_item: entry in @hwpt->devices, under hwpt->ioas->mutex
 * @holds_ctx: bind took a reference on @ictx->file, dropped by unbind
 * @unbind_rwsem: fences user space from the IOMMU state of @dev once the
 *                driver unbound the device; protects @unbound.  Taken for
 *                read by iommufd_device_lock_dev() across the check of
 *                @unbound and the use of @dev's IOMMU (never across a user
 *                copy), for write by iommufd_device_unbind() to set
 *                @unbound.  Not @lock, which attach holds for long.
 * @unbound: the driver called iommufd_device_unbind().  If its wait for
 *           the other references times out, the object stays in the
 *           table while @dev may leave its IOMMU (dev->iommu and the
 *           IOMMU driver's data freed): user space must then not reach
 *           @dev's IOMMU through the object.  Under @unbind_rwsem.
 */
struct iommufd_device {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct device *dev;
	struct iommu_group *group;
	struct mutex lock; /* see the kernel-doc above */
	struct iommufd_hw_pagetable *hwpt;
	struct list_head devices_item;
	bool holds_ctx;
	struct rw_semaphore unbind_rwsem;
	bool unbound;
};

static_assert(offsetof(struct iommufd_device, obj) == 0);

/*
 * iommufd_device_bind(), but the device holds a reference on the context's
 * file only if @hold_ctx.  The selftest binds its mock devices without one
 * so that closing the file still destroys them.
 */
struct iommufd_device *__iommufd_device_bind(struct iommufd_ctx *ictx,
					     struct device *dev, u32 *id,
					     bool hold_ctx);
void iommufd_device_destroy(struct iommufd_object *obj);
int iommufd_device_lock_dev(struct iommufd_device *idev);
void iommufd_device_unlock_dev(struct iommufd_device *idev);
int iommufd_get_hw_info(struct iommufd_ucmd *ucmd);

/**
 * struct iommufd_access - the ACCESS object: a driver's in-kernel access to
 *                         an IOAS
 * @obj: object header.  The driver holds a reference from create to
 *       destroy, so user space cannot destroy the object; the unmap
 *       notification holds one while it calls @ops->unmap.
 * @ictx: the context; @ictx->file is held while @holds_ctx
 * @ops: the driver's operations; constant
 * @data: the driver's cookie for @ops; constant
 * @holds_ctx: create took a reference on @ictx->file; constant
 * @ioas_lock: serializes attach, replace and detach, and keeps @ioas
 *             stable across a pin or a rw; protects @ioas,
 *             @iopt_access_list_id and @leaving.  Never held while
 *             @ops->unmap runs.
 * @ioas: the attached IOAS, on which the access holds a reference, or NULL
 * @iopt_access_list_id: index of the access in @ioas's
 *                       &io_pagetable.access_list while attached
 * @leaving: number of replaces and detaches asking the driver to unpin
 *           what it holds in @ioas (with ioas_lock dropped); while it is
 *           not 0, iommufd_access_pin_pages() fails with -EBUSY
 * @pin_lock: protects @pins, @pin_gen, @ncallbacks, @dying and the pins
 *            themselves
 * @pins: struct iommufd_access_pin, one per successful
 *        iommufd_access_pin_pages() not unpinned yet, by IOVA range
 * @pin_gen: generation of the newest pin: each pin gets the next one when
 *           it is inserted in @pins, so a notification reports only the
 *           pins older than itself
 * @ncallbacks: calls of @ops->unmap running now
 * @dying: set by iommufd_access_destroy(): no new call of @ops->unmap
 * @destroy_wait: iommufd_access_destroy() waits here for @ncallbacks to
 *                drop to 0
 * @selftest_keeps_pins: CONFIG_IOMMUFD_TEST only: the access of the
 *                       selftest's mock driver that plays a driver that
 *                       does not unpin (MOCK_ACCESS_NO_UNPIN), set by
 *                       selftest.c before the access is attached; see
 *                       iommufd_access_warn_kept_pins(); constant
 */
struct iommufd_access {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	const struct iommufd_access_ops *ops;
	void *data;
	bool holds_ctx;
	struct mutex ioas_lock; /* see the kernel-doc above */
	struct iommufd_ioas *ioas;
	u32 iopt_access_list_id;
	unsigned int leaving;
	struct mutex pin_lock; /* see the kernel-doc above */
	struct rb_root_cached pins;
	u64 pin_gen;
	unsigned int ncallbacks;
	bool dying;
	wait_queue_head_t destroy_wait;
#ifdef CONFIG_IOMMUFD_TEST
	bool selftest_keeps_pins;
#endif
};

static_assert(offsetof(struct iommufd_access, obj) == 0);

/**
 * iommufd_access_warn_kept_pins() - should a driver that kept pins WARN?
 * @access: an access whose driver returned from its unmap op, asked for
 *          the last time, without unpinning (an unmap then fails with
 *          -EDEADLOCK, a replace with -EBUSY, a detach orphans the pins)
 *
 * That is a bug of the driver, which gets a WARN_ONCE.  The only exception
 * is the selftest's mock driver with MOCK_ACCESS_NO_UNPIN, which plays
 * such a driver on purpose so that the selftests check that the kernel
 * survives it: a WARN there would be a splat on every run (and fail a run
 * with panic_on_warn).  The exception exists only with CONFIG_IOMMUFD_TEST.
 *
 * Return: true if the caller must WARN.
 */
static inline bool
iommufd_access_warn_kept_pins(const struct iommufd_access *access)
{
#ifdef CONFIG_IOMMUFD_TEST
	if (access->selftest_keeps_pins)
		return false;
#endif
	return true;
}

/**
 * struct iommufd_access_pin - pages pinned by one iommufd_access_pin_pages()
 * @node: the pinned IOVA range [start, last] in &iommufd_access.pins
 * @iopt: the io_pagetable the pages were pinned in, whose unmaps notify
 *        the access; NULL once the access left it with the pin still
 *        held (a driver bug: the pin then only keeps the memory)
 * @gen: &iommufd_access.pin_gen when the pin was inserted; pins with the
 *       same start are in @gen order in &iommufd_access.pins
 * @npages_objs: number of entries of @pages
 * @pages: a reference on the pinned memory of each area the range crosses,
 *         which keeps the memory pinned, and charged once, whatever user
 *         space unmaps
 *
 * Protected by &iommufd_access.pin_lock.
 */
struct iommufd_access_pin {
	struct interval_tree_node node;
	struct io_pagetable *iopt;
	u64 gen;
	unsigned int npages_objs;
	struct iopt_pages *pages[];
};

struct iommufd_access *__iommufd_access_create(struct iommufd_ctx *ictx,
					       const struct iommufd_access_ops *ops,
					       void *data, u32 *id,
					       bool hold_ctx);
void iommufd_access_destroy_object(struct iommufd_object *obj);

/* vfio_compat.c */
int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd);
long iommufd_vfio_ioctl(struct iommufd_ctx *ictx, unsigned int cmd,
			unsigned long arg);
void iommufd_vfio_compat_obj_removed(struct iommufd_ctx *ictx,
				     struct iommufd_object *obj);

#ifdef CONFIG_IOMMUFD_TEST
struct iommufd_ucmd;
int iommufd_test(struct iommufd_ucmd *ucmd);
void iommufd_selftest_destroy(struct iommufd_object *obj);
int __init iommufd_test_init(void);
void iommufd_test_exit(void);
#else
static inline int __init iommufd_test_init(void)
{
	return 0;
}

static inline void iommufd_test_exit(void)
{
}
#endif

#endif
