/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal structures of the io_pagetable (io_pagetable.c) and of the pinned
 * user memory behind it (pages.c).  Only those two files use them; the rest
 * of iommufd sees struct io_pagetable and the iopt_* functions declared in
 * iommufd_private.h.
 */
#ifndef __IO_PAGETABLE_H
#define __IO_PAGETABLE_H

#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/types.h>
#include <linux/xarray.h>

struct iommu_domain;
struct iommufd_ctx;
struct mm_struct;
struct page;
struct user_struct;

/**
 * struct iopt_pages - user memory pinned by one IOMMU_IOAS_MAP
 * @kref: one reference per area using the memory (in any io_pagetable)
 * @chunks: the pinned PFNs as runs of contiguous PFNs, in page index
 *          order, in page-sized chunks indexed 0..@nchunks - 1 (see
 *          pages.c)
 * @nchunks: number of chunks
 * @nruns: number of runs in all chunks
 * @last_run_pfn: first PFN of the last run, while pinning
 * @last_run_npages: number of pages of the last run, while pinning
 * @npinned: number of pinned pages; also what is charged while the pages
 *           object lives
 * @uptr: page aligned user address of page index 0
 * @source_mm: the mm the memory was pinned from (mmgrab()), charged in
 *             pinned_vm and, in IOPT_PAGES_ACCOUNT_MM mode, in locked_vm
 * @source_user: the user charged in IOPT_PAGES_ACCOUNT_USER mode
 *               (get_uid())
 * @account_mode: enum iommufd_account_mode the memory was charged with
 * @writable: pinned with FOLL_WRITE; pages are marked dirty when unpinned
 *
 * Byte offset 0 of the pages object is the start of the page that holds
 * the first byte the user asked to map, so an area's &iopt_area.page_offset
 * is "page index * PAGE_SIZE + offset in that page".
 *
 * Locking: none.  Every field is written before the object is published
 * (before the first area referring to it is inserted in an io_pagetable)
 * and never changes afterwards; the object is only read until the last
 * reference is dropped, which unpins and frees it.
 */
struct iopt_pages {
	struct kref kref;
	struct xarray chunks;
	unsigned long nchunks;
	unsigned long nruns;
	unsigned long last_run_pfn;
	unsigned long last_run_npages;
	unsigned long npinned;
	unsigned long uptr;
	struct mm_struct *source_mm;
	struct user_struct *source_user;
	u8 account_mode;
	bool writable;
};

/**
 * struct iopt_area - a mapped range of IOVA
 * @node: the IOVA range [start, last] in &io_pagetable.area_itree;
 *        protected by &io_pagetable.iova_rwsem
 * @list: entry on a private list while the area is being created or after
 *        it was removed from the tree; owned by whoever built the list
 * @pages: the memory mapped by the area (one reference held by the area)
 * @page_offset: byte offset of the IOVA @node.start within @pages
 * @iommu_prot: IOMMU_READ/IOMMU_WRITE/IOMMU_CACHE... used in every domain
 *
 * @pages, @page_offset and @iommu_prot are set before the area is inserted
 * in the tree and never change.
 */
struct iopt_area {
	struct interval_tree_node node;
	struct list_head list;
	struct iopt_pages *pages;
	unsigned long page_offset;
	int iommu_prot;
};

/**
 * struct iopt_reserved - reserved IOVA
 * @node: the range in &io_pagetable.reserved_itree (iova_rwsem)
 * @owner: cookie of whoever reserved it (device, domain, selftest...)
 */
struct iopt_reserved {
	struct interval_tree_node node;
	void *owner;
};

/**
 * struct iopt_allowed - an IOMMU_IOAS_ALLOW_IOVAS range
 * @node: the range in &io_pagetable.allowed_itree (iova_rwsem)
 */
struct iopt_allowed {
	struct interval_tree_node node;
};

static inline unsigned long iopt_area_iova(struct iopt_area *area)
{
	return area->node.start;
}

static inline unsigned long iopt_area_last_iova(struct iopt_area *area)
{
	return area->node.last;
}

/* Areas never cover the whole IOVA space, so this cannot overflow */
static inline unsigned long iopt_area_length(struct iopt_area *area)
{
	return area->node.last - area->node.start + 1;
}

/* pages.c */
struct iopt_pages *iopt_alloc_pages(struct iommufd_ctx *ictx,
				    void __user *uptr, unsigned long length,
				    bool writable, u8 account_mode);
void iopt_release_pages(struct kref *kref);

static inline void iopt_get_pages(struct iopt_pages *pages)
{
	kref_get(&pages->kref);
}

/* May sleep: the last reference unpins the memory */
static inline void iopt_put_pages(struct iopt_pages *pages)
{
	kref_put(&pages->kref, iopt_release_pages);
}

int iopt_area_fill_domain(struct iopt_area *area, struct iommu_domain *domain,
			  bool small_pages);
void iopt_area_unfill_domain(struct iopt_area *area,
			     struct iommu_domain *domain);
void iopt_pages_fill_page_list(struct iopt_pages *pages, unsigned long index,
			       unsigned long npages, struct page **out);
void iopt_pages_rw(struct iopt_pages *pages, unsigned long offset,
		   void *data, unsigned long length, bool write);
#ifdef CONFIG_IOMMUFD_TEST
void iopt_pages_metadata(struct iopt_pages *pages, u64 *bytes, u64 *nruns);
#endif

#endif
