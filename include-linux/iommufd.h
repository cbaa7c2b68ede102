/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * iommufd kernel API, for drivers that hand a device's DMA to user space
 * (VFIO), and for drivers that do the DMA of an emulated device themselves
 * on behalf of user space (in-kernel accesses, VFIO's mdev drivers).  The
 * symbols are exported in the IOMMUFD namespace, those only VFIO's
 * compatibility needs in the IOMMUFD_VFIO namespace.
 */
#ifndef __LINUX_IOMMUFD_H
#define __LINUX_IOMMUFD_H

#include <linux/err.h>
#include <linux/types.h>

struct device;
struct file;
struct iommu_group;
struct iommufd_access;
struct iommufd_ctx;
struct iommufd_device;
struct page;

/**
 * struct iommufd_access_ops - what a driver of an in-kernel access provides
 * @needs_pin_pages: the driver calls iommufd_access_pin_pages(): the IOAS
 *                   then keeps every mapping PAGE_SIZE aligned so that each
 *                   page of IOVA is one struct page
 * @unmap: user space is unmapping [@iova, @iova + @length), which
 *         intersects pages the driver pinned (or the access is leaving
 *         the IOAS: detach, replace, destroy).  Called once for each pinned
 *         range, clipped to the unmapped range, without any iommufd lock
 *         held.  The driver must stop using the pages and call
 *         iommufd_access_unpin_pages() with exactly the range it pinned
 *         before returning.  It must not wait for anything that waits for
 *         iommufd_access_destroy(), iommufd_access_detach() or
 *         iommufd_access_replace() of this access to return.  Pins it
 *         still holds when it returns are a driver bug the kernel
 *         survives (see "In-kernel accesses" in
 *         Documentation/userspace-api/iommufd.rst).
 */
struct iommufd_access_ops {
	u8 needs_pin_pages : 1;
	void (*unmap)(void *data, unsigned long iova, unsigned long length);
};

enum {
	IOMMUFD_ACCESS_RW_READ = 0,
	IOMMUFD_ACCESS_RW_WRITE = 1 << 0,
	/*
	 * The caller is a kthread: accepted; iommufd_access_rw() copies
	 * through the pages pinned at map time and needs no mm anyway
	 */
	IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1,
};

#if IS_ENABLED(CONFIG_IOMMUFD)
struct iommufd_ctx *iommufd_ctx_from_file(struct file *file);
void iommufd_ctx_put(struct iommufd_ctx *ictx);

struct iommufd_device *iommufd_device_bind(struct iommufd_ctx *ictx,
					   struct device *dev, u32 *id);
void iommufd_device_unbind(struct iommufd_device *idev);
int iommufd_device_attach(struct iommufd_device *idev, u32 *pt_id);
void iommufd_device_detach(struct iommufd_device *idev);
int iommufd_device_replace(struct iommufd_device *idev, u32 *pt_id);
struct iommufd_ctx *iommufd_device_to_ictx(struct iommufd_device *idev);
u32 iommufd_device_to_id(struct iommufd_device *idev);
bool iommufd_ctx_has_group(struct iommufd_ctx *ictx, struct iommu_group *group);

int iommufd_vfio_compat_ioas_get_id(struct iommufd_ctx *ictx, u32 *out_ioas_id);
int iommufd_vfio_compat_ioas_create(struct iommufd_ctx *ictx);

struct iommufd_access *
iommufd_access_create(struct iommufd_ctx *ictx,
		      const struct iommufd_access_ops *ops, void *data, u32 *id);
void iommufd_access_destroy(struct iommufd_access *access);
int iommufd_access_attach(struct iommufd_access *access, u32 ioas_id);
int iommufd_access_replace(struct iommufd_access *access, u32 ioas_id);
void iommufd_access_detach(struct iommufd_access *access);
int iommufd_access_pin_pages(struct iommufd_access *access, unsigned long iova,
			     unsigned long length, struct page **out_pages,
			     unsigned int flags);
void iommufd_access_unpin_pages(struct iommufd_access *access,
				unsigned long iova, unsigned long length);
int iommufd_access_rw(struct iommufd_access *access, unsigned long iova,
		      void *data, size_t len, unsigned int flags);
#else
static inline struct iommufd_ctx *iommufd_ctx_from_file(struct file *file)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void iommufd_ctx_put(struct iommufd_ctx *ictx)
{
}

static inline int iommufd_vfio_compat_ioas_get_id(struct iommufd_ctx *ictx,
						  u32 *out_ioas_id)
{
	return -EOPNOTSUPP;
}

static inline int iommufd_vfio_compat_ioas_create(struct iommufd_ctx *ictx)
{
	return -EOPNOTSUPP;
}

static inline struct iommufd_access *
iommufd_access_create(struct iommufd_ctx *ictx,
		      const struct iommufd_access_ops *ops, void *data, u32 *id)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void iommufd_access_destroy(struct iommufd_access *access)
{
}

static inline int iommufd_access_attach(struct iommufd_access *access,
					u32 ioas_id)
{
	return -EOPNOTSUPP;
}

static inline int iommufd_access_replace(struct iommufd_access *access,
					 u32 ioas_id)
{
	return -EOPNOTSUPP;
}

static inline void iommufd_access_detach(struct iommufd_access *access)
{
}

static inline int iommufd_access_pin_pages(struct iommufd_access *access,
					   unsigned long iova,
					   unsigned long length,
					   struct page **out_pages,
					   unsigned int flags)
{
	return -EOPNOTSUPP;
}

static inline void iommufd_access_unpin_pages(struct iommufd_access *access,
					      unsigned long iova,
					      unsigned long length)
{
}

static inline int iommufd_access_rw(struct iommufd_access *access,
				    unsigned long iova, void *data, size_t len,
				    unsigned int flags)
{
	return -EOPNOTSUPP;
}
#endif

#endif
