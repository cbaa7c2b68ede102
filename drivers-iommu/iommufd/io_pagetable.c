// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IOVA space of an IOAS: struct io_pagetable.
 *
 * An io_pagetable is the authoritative description of what every
 * iommu_domain attached to the IOAS must translate.  It holds:
 *  - areas (struct iopt_area, area_itree): mapped IOVA ranges, each backed
 *    by a slice of one struct iopt_pages (pinned user memory, pages.c);
 *  - reserved ranges (reserved_itree): IOVA that must never be mapped
 *    (device reserved regions, outside a domain's aperture, selftest
 *    ranges), each tagged with an owner cookie so it can be removed again;
 *  - allowed ranges (allowed_itree): IOMMU_IOAS_ALLOW_IOVAS;
 *  - the attached iommu_domains (domains xarray, 0..next_domain_id - 1).
 *
 * IOVA rules
 * ----------
 *  - iova_alignment is the largest minimum page size of the domains
 *    (PAGE_SIZE at least when huge pages are disabled), 1 when there is
 *    none.  A new area's IOVA, its length and the offset of its memory in
 *    its first page must all be multiples of it (-EINVAL).  A domain that
 *    would raise it above PAGE_SIZE is refused (-EINVAL); one that would
 *    make an existing area misaligned is refused with -EADDRINUSE.
 *  - A fixed IOVA may be anything aligned, 0 included, as long as the whole
 *    range is free: overlapping an area gives -EEXIST, overlapping reserved
 *    IOVA -EINVAL.  Allowed ranges do not restrict fixed IOVAs.
 *  - A chosen IOVA lies in [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] (so never 0),
 *    outside areas and reserved IOVA and, when allowed ranges exist, inside
 *    one of them.  It is congruent to the user address modulo M, where M
 *    starts at roundup_pow_of_two(length) clamped to [PAGE_SIZE, 1GiB]: the
 *    IOVA keeps the user address's offset in its page and, up to M, its
 *    alignment (so it is at least as aligned as min(M, lowest set bit of
 *    the address)), which lets huge IOPTEs map huge pages.  When nothing
 *    fits, M is halved down to PAGE_SIZE before giving up with -ENOSPC.
 *    A length of ULONG_MAX / 2 or more gives -EOVERFLOW.  User space sizes
 *    the search (areas, reserved and allowed ranges): it reschedules as it
 *    goes and stops with -EINTR when a fatal signal is pending.
 *  - Reserved ranges must not overlap areas or allowed ranges
 *    (-EADDRINUSE), and allowed ranges must not overlap reserved ones
 *    (-EADDRINUSE); reserved ranges may overlap each other.
 *  - Unmapping removes whole areas only.  The range is checked before
 *    anything is removed, so a failed unmap (-ENOENT for a range cutting an
 *    area or holding none) removes nothing.
 *
 * Locking
 * -------
 * ioas->mutex -> domains_rwsem -> iova_rwsem, and domains_rwsem ->
 * group->mutex of the iommu core.  For an in-kernel access (access.c):
 * access->ioas_lock -> domains_rwsem -> iova_rwsem -> access->pin_lock.
 * struct iopt_pages has no lock: it is immutable once published (see
 * pages.c).
 *  - domains_rwsem (write) changes the domain set and iova_alignment; its
 *    read side keeps both stable, which every (un)map of an area needs to
 *    mirror it in all domains.
 *  - access_list and npin_accesses change with domains_rwsem and
 *    iova_rwsem both held for write (access_list also under its xarray
 *    lock): attach and detach of an access, which can change
 *    iova_alignment.  Either lock held, for read, keeps npin_accesses
 *    stable; iova_rwsem keeps access_list stable, and the unmap
 *    notification walks it under the xarray lock alone, taking a
 *    reference on each access.
 *  - unmap_fences is protected by iova_rwsem: an unmap adds its fence
 *    (write) before it drops its locks to notify the accesses, and a pin
 *    checks the fences (read) before it records the pin in the access
 *    under access->pin_lock, which nests inside iova_rwsem.  Unmap
 *    notifications call the drivers with none of these locks held.
 *  - iova_rwsem protects the three trees and disable_large_pages.  Map and
 *    unmap take domains_rwsem for read and iova_rwsem for write, and hold
 *    them while the area is (un)mapped in the domains, so an area is in the
 *    tree exactly when it is mapped in every domain.  Adding or removing a
 *    domain takes both for write.
 *  - iommufd's attach or detach of a device on a domain that is in the
 *    io_pagetable happens under domains_rwsem for write (see
 *    iopt_domain_devices_lock()).  The iommu core also attaches domains
 *    by itself, without that lock: a device hot-added to a group joins
 *    the group's domain (for 6.1 intel it shares the group's IOMMU unit,
 *    so only a count changes), and a device whose driver unbinds, or
 *    that is removed, while its owner still has it attached puts the
 *    whole group on the blocking domain, which can free a unit's record
 *    under a concurrent map.  The core WARNs then: it is the recovery
 *    from an owner that did not detach (VFIO always detaches first).
 *  - Memory is pinned before the locks are taken and references to pages
 *    are dropped (unpinning) after they are released.
 *  - Two io_pagetables' locks are never held together: IOMMU_IOAS_COPY
 *    collects the source's pages under the source's iova_rwsem, drops it,
 *    then maps into the destination.
 */
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/rbtree.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"
#include "io_pagetable.h"
#ifdef CONFIG_IOMMUFD_TEST
#include "iommufd_test.h"
#endif

/* Largest congruence modulus tried when choosing an IOVA */
#define IOPT_MAX_ALLOC_ALIGN SZ_1G

/*
 * Areas one io_pagetable may hold, like VFIO type1's dma_entry_limit: MAP
 * is bounded by RLIMIT_MEMLOCK, but COPY creates areas without pinning or
 * charging anything.
 */
static unsigned int iopt_max_areas = U16_MAX;
module_param_named(max_areas, iopt_max_areas, uint, 0644);
MODULE_PARM_DESC(max_areas,
		 "Maximum number of mappings (areas) of one IOAS; more fail with ENOSPC (default 65535)");

static struct iopt_area *to_area(struct interval_tree_node *node)
{
	return container_of(node, struct iopt_area, node);
}

static struct iopt_reserved *to_reserved(struct interval_tree_node *node)
{
	return container_of(node, struct iopt_reserved, node);
}

static struct iommu_domain *iopt_domain(struct io_pagetable *iopt,
					unsigned int index)
{
	return xa_load(&iopt->domains, index);
}

static unsigned long domain_min_pgsize(struct iommu_domain *domain)
{
	return 1UL << __ffs(domain->pgsize_bitmap);
}

/*
 * Lowest IOVA in [start, last] congruent to @off modulo @mod (a power of
 * two, @off < @mod) where @length bytes fit before @last.
 */
static bool iopt_fit(unsigned long start, unsigned long last,
		     unsigned long length, unsigned long mod, unsigned long off,
		     unsigned long *iova)
{
	unsigned long cand = ALIGN_DOWN(start, mod) + off;
	unsigned long cand_last;

	if (start > last)
		return false;
	if (cand < start && check_add_overflow(cand, mod, &cand))
		return false;
	if (check_add_overflow(cand, length - 1, &cand_last) ||
	    cand_last > last)
		return false;
	*iova = cand;
	return true;
}

/*
 * Look for room in [@start, @last], a range that is free of areas and
 * reserved IOVA, and, when allowed ranges exist, inside one of them.
 */
static bool iopt_fit_allowed(struct io_pagetable *iopt, unsigned long start,
			     unsigned long last, unsigned long length,
			     unsigned long mod, unsigned long off,
			     unsigned long *iova)
{
	struct interval_tree_span_iter allowed;

	if (RB_EMPTY_ROOT(&iopt->allowed_itree.rb_root))
		return iopt_fit(start, last, length, mod, off, iova);

	interval_tree_for_each_span(&allowed, &iopt->allowed_itree, start,
				    last) {
		if (!allowed.is_hole &&
		    iopt_fit(allowed.start_used, allowed.last_used, length,
			     mod, off, iova))
			return true;
		/* Millions of allowed ranges are possible */
		cond_resched();
	}
	return false;
}

/*
 * One pass over the free IOVA for modulus @mod: 0 and *@iova, -ENOSPC, or
 * -EINTR.  The locks are sleeping ones: the pass reschedules.
 */
static int iopt_try_alloc_iova(struct io_pagetable *iopt, unsigned long *iova,
			       unsigned long length, unsigned long mod,
			       unsigned long off)
{
	struct interval_tree_span_iter area, reserved;

	/* Holes of the areas, then holes of the reserved IOVA inside them */
	interval_tree_for_each_span(&area, &iopt->area_itree, PAGE_SIZE,
				    ULONG_MAX - PAGE_SIZE) {
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
		if (!area.is_hole)
			continue;
		interval_tree_for_each_span(&reserved, &iopt->reserved_itree,
					    area.start_hole, area.last_hole) {
			if (reserved.is_hole &&
			    iopt_fit_allowed(iopt, reserved.start_hole,
					     reserved.last_hole, length, mod,
					     off, iova))
				return 0;
			cond_resched();
		}
	}
	return -ENOSPC;
}

/*
 * Choose the IOVA of @length bytes whose memory starts at user address
 * @hint.  See the IOVA rules at the top of the file.
 */
static int iopt_alloc_iova(struct io_pagetable *iopt, unsigned long *iova,
			   unsigned long hint, unsigned long length)
{
	unsigned long mod;
	int rc;

	lockdep_assert_held(&iopt->domains_rwsem);
	lockdep_assert_held(&iopt->iova_rwsem);

	if (!length)
		return -EINVAL;
	if (length >= ULONG_MAX / 2)
		return -EOVERFLOW;
	if ((hint & ~PAGE_MASK) % iopt->iova_alignment)
		return -EINVAL;

	mod = clamp_t(unsigned long, roundup_pow_of_two(length), PAGE_SIZE,
		      IOPT_MAX_ALLOC_ALIGN);
	for (; mod >= PAGE_SIZE; mod /= 2) {
		rc = iopt_try_alloc_iova(iopt, iova, length, mod,
					 hint & (mod - 1));
		if (rc != -ENOSPC)
			return rc;
	}
	return -ENOSPC;
}

/*
 * A fixed IOVA range must be free of reserved IOVA and of areas.  Reserved
 * IOVA is checked first: a range over both gets -EINVAL.
 */
static int iopt_check_iova_free(struct io_pagetable *iopt, unsigned long start,
				unsigned long last)
{
	lockdep_assert_held(&iopt->iova_rwsem);

	if (interval_tree_iter_first(&iopt->reserved_itree, start, last))
		return -EINVAL;
	if (interval_tree_iter_first(&iopt->area_itree, start, last))
		return -EEXIST;
	return 0;
}

/* Room for @n more areas under the max_areas limit? */
static int iopt_check_area_limit(struct io_pagetable *iopt, unsigned long n)
{
	lockdep_assert_held(&iopt->iova_rwsem);

	if (n > READ_ONCE(iopt_max_areas) ||
	    iopt->nareas > READ_ONCE(iopt_max_areas) - n)
		return -ENOSPC;
	return 0;
}

/* Range checks of a new mapping that need no lock */
static int iopt_check_new_range(unsigned long iova, unsigned long length,
				unsigned int flags)
{
	unsigned long last;

	if (flags & ~(IOPT_ALLOC_IOVA | IOPT_ACCOUNT_MM))
		return -EINVAL;
	if (!length)
		return -EINVAL;
	if (flags & IOPT_ALLOC_IOVA) {
		if (length >= ULONG_MAX / 2)
			return -EOVERFLOW;
		return 0;
	}
	if (check_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	return 0;
}

/* Are all areas compatible with an IOVA alignment of @align? */
static bool iopt_areas_aligned(struct io_pagetable *iopt, unsigned long align)
{
	struct interval_tree_node *node;

	lockdep_assert_held(&iopt->iova_rwsem);

	for (node = interval_tree_iter_first(&iopt->area_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		struct iopt_area *area = to_area(node);

		if ((iopt_area_iova(area) | iopt_area_length(area) |
		     (area->page_offset & ~PAGE_MASK)) & (align - 1))
			return false;
	}
	return true;
}

/*
 * Check the areas of @areas against the IOVA alignment.  Their node holds
 * an offset relative to the start of the new range, which starts at @base
 * (or, when the IOVA is still to be chosen, at an IOVA with the same offset
 * within a page as @base).
 */
static int iopt_check_areas_alignment(struct io_pagetable *iopt,
				      struct list_head *areas,
				      unsigned long base)
{
	unsigned long mask = iopt->iova_alignment - 1;
	struct iopt_area *area;

	lockdep_assert_held(&iopt->domains_rwsem);

	list_for_each_entry(area, areas, list)
		if (((base + area->node.start) | iopt_area_length(area) |
		     (area->page_offset & ~PAGE_MASK)) & mask)
			return -EINVAL;
	return 0;
}

static int iopt_area_fill_domains(struct io_pagetable *iopt,
				  struct iopt_area *area)
{
	unsigned int i;
	int rc;

	lockdep_assert_held(&iopt->domains_rwsem);
	lockdep_assert_held(&iopt->iova_rwsem);

	for (i = 0; i != iopt->next_domain_id; i++) {
		rc = iopt_area_fill_domain(area, iopt_domain(iopt, i),
					   iopt->disable_large_pages);
		if (rc)
			goto err_unfill;
	}
	return 0;

err_unfill:
	while (i--)
		iopt_area_unfill_domain(area, iopt_domain(iopt, i));
	return rc;
}

static void iopt_area_unfill_domains(struct io_pagetable *iopt,
				     struct iopt_area *area)
{
	unsigned int i;

	lockdep_assert_held(&iopt->domains_rwsem);

	for (i = 0; i != iopt->next_domain_id; i++)
		iopt_area_unfill_domain(area, iopt_domain(iopt, i));
}

static void iopt_free_area(struct iopt_area *area)
{
	iopt_put_pages(area->pages);
	kfree(area);
}

/* Free areas that are on a private list, not in any tree */
static void iopt_free_area_list(struct list_head *areas)
{
	struct iopt_area *area, *tmp;

	list_for_each_entry_safe(area, tmp, areas, list) {
		list_del(&area->list);
		iopt_free_area(area);
		cond_resched();
	}
}

/*
 * Place the areas of @areas (relative nodes, see
 * iopt_check_areas_alignment()) at @iova, map them in every domain and
 * insert them in the tree.  On success the list is emptied; on failure
 * nothing is mapped or inserted and the areas stay on the list.
 */
static int iopt_insert_areas(struct io_pagetable *iopt,
			     struct list_head *areas, unsigned long iova)
{
	struct iopt_area *area, *tmp;
	int rc;

	lockdep_assert_held(&iopt->domains_rwsem);
	lockdep_assert_held_write(&iopt->iova_rwsem);

	list_for_each_entry(area, areas, list) {
		area->node.start += iova;
		area->node.last += iova;
		rc = iopt_area_fill_domains(iopt, area);
		if (rc)
			goto err_unfill;
		cond_resched();
	}
	list_for_each_entry_safe(area, tmp, areas, list) {
		list_del_init(&area->list);
		interval_tree_insert(&area->node, &iopt->area_itree);
		iopt->nareas++;
	}
	return 0;

err_unfill:
	list_for_each_entry_continue_reverse(area, areas, list) {
		iopt_area_unfill_domains(iopt, area);
		cond_resched();
	}
	return rc;
}

/*
 * Map the areas of @areas, @length bytes in total, at *@iova (fixed) or at
 * an IOVA chosen for user address @hint (IOPT_ALLOC_IOVA).
 */
static int iopt_map_areas(struct io_pagetable *iopt, struct list_head *areas,
			  unsigned long nareas, unsigned long *iova,
			  unsigned long length, unsigned long hint,
			  unsigned int flags)
{
	unsigned long new_iova = *iova;
	int rc;

	down_read(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	rc = iopt_check_area_limit(iopt, nareas);
	if (rc)
		goto out_unlock;
	if (flags & IOPT_ALLOC_IOVA) {
		rc = iopt_check_areas_alignment(iopt, areas,
						hint & ~PAGE_MASK);
		if (!rc)
			rc = iopt_alloc_iova(iopt, &new_iova, hint, length);
	} else {
		rc = iopt_check_areas_alignment(iopt, areas, new_iova);
		if (!rc)
			rc = iopt_check_iova_free(iopt, new_iova,
						  new_iova + length - 1);
	}
	if (!rc)
		rc = iopt_insert_areas(iopt, areas, new_iova);

out_unlock:
	up_write(&iopt->iova_rwsem);
	up_read(&iopt->domains_rwsem);

	if (!rc)
		*iova = new_iova;
	return rc;
}

/**
 * iopt_map_user_pages() - pin user memory and map it
 * @ictx: the iommufd, for its accounting mode
 * @iopt: the io_pagetable
 * @iova: in: the IOVA to map at (without IOPT_ALLOC_IOVA); out: the IOVA
 *        it was mapped at
 * @uptr: user address of the memory
 * @length: number of bytes
 * @iommu_prot: IOMMU_READ/IOMMU_WRITE/IOMMU_CACHE...; IOMMU_WRITE pins the
 *              memory writable
 * @flags: IOPT_ALLOC_IOVA, IOPT_ACCOUNT_MM (charge the memory to the mm
 *         whatever the accounting mode of @ictx) or 0
 *
 * Everything that can be checked before pinning is: the number of areas,
 * the alignment and that the fixed IOVA is free, or that an IOVA can be
 * chosen, so that a call failing on IOVA never pins (it is all checked
 * again under the locks once the memory is pinned).
 *
 * Return: 0, -EINVAL (bad flags, length 0, misaligned, fixed IOVA over
 * reserved IOVA), -EOVERFLOW, -EEXIST (fixed IOVA over a mapping),
 * -ENOSPC (no free IOVA, or max_areas reached), -ENOMEM, -EINTR (fatal
 * signal while pinning), -EFAULT... On failure nothing is left pinned,
 * charged or mapped.
 */
int iopt_map_user_pages(struct iommufd_ctx *ictx, struct io_pagetable *iopt,
			unsigned long *iova, void __user *uptr,
			unsigned long length, int iommu_prot,
			unsigned int flags)
{
	unsigned long page_off = (unsigned long)uptr & ~PAGE_MASK;
	struct iopt_pages *pages;
	struct iopt_area *area;
	unsigned long uptr_last;
	LIST_HEAD(areas);
	int rc;

	rc = iopt_check_new_range(*iova, length, flags);
	if (rc)
		return rc;
	if (check_add_overflow((unsigned long)uptr, length - 1, &uptr_last))
		return -EOVERFLOW;

	/* Refuse what is certain to fail before pinning anything */
	down_read(&iopt->domains_rwsem);
	down_read(&iopt->iova_rwsem);
	rc = iopt_check_area_limit(iopt, 1);
	if (rc)
		goto out_unlock;
	if ((((flags & IOPT_ALLOC_IOVA) ? 0 : *iova) | length | page_off) &
	    (iopt->iova_alignment - 1)) {
		rc = -EINVAL;
	} else if (flags & IOPT_ALLOC_IOVA) {
		unsigned long unused;

		rc = iopt_alloc_iova(iopt, &unused, (unsigned long)uptr,
				     length);
	} else {
		rc = iopt_check_iova_free(iopt, *iova, *iova + length - 1);
	}
out_unlock:
	up_read(&iopt->iova_rwsem);
	up_read(&iopt->domains_rwsem);
	if (rc)
		return rc;

	pages = iopt_alloc_pages(ictx, uptr, length, iommu_prot & IOMMU_WRITE,
				 (flags & IOPT_ACCOUNT_MM) ?
					 IOPT_PAGES_ACCOUNT_MM :
					 READ_ONCE(ictx->account_mode));
	if (IS_ERR(pages))
		return PTR_ERR(pages);

	area = kzalloc(sizeof(*area), GFP_KERNEL_ACCOUNT);
	if (!area) {
		iopt_put_pages(pages);
		return -ENOMEM;
	}
	area->pages = pages;
	area->page_offset = page_off;
	area->iommu_prot = iommu_prot;
	area->node.start = 0;
	area->node.last = length - 1;
	list_add_tail(&area->list, &areas);

	rc = iopt_map_areas(iopt, &areas, 1, iova, length,
			    (unsigned long)uptr, flags);
	iopt_free_area_list(&areas);
	return rc;
}

/*
 * Build, in @areas, areas sharing the memory mapped at [@start, @last] in
 * @src; their node holds the offset from @start.  *@hint gets the user
 * address of the first byte.
 */
static int iopt_collect_copy(struct io_pagetable *src, unsigned long start,
			     unsigned long last, int iommu_prot,
			     struct list_head *areas, unsigned long *nareas,
			     unsigned long *hint)
{
	struct interval_tree_node *node;
	unsigned long cur = start;
	bool covered = false;
	int rc = 0;

	down_read(&src->iova_rwsem);
	for (node = interval_tree_iter_first(&src->area_itree, start, last);
	     node; node = interval_tree_iter_next(node, start, last)) {
		struct iopt_area *src_area = to_area(node);
		unsigned long piece_last = min(node->last, last);
		struct iopt_area *area;

		if (node->start > cur) {
			rc = -ENOENT;
			break;
		}
		if ((iommu_prot & IOMMU_WRITE) && !src_area->pages->writable) {
			rc = -EPERM;
			break;
		}
		area = kzalloc(sizeof(*area), GFP_KERNEL_ACCOUNT);
		if (!area) {
			rc = -ENOMEM;
			break;
		}
		area->pages = src_area->pages;
		iopt_get_pages(area->pages);
		area->page_offset = src_area->page_offset + (cur - node->start);
		area->iommu_prot = iommu_prot;
		area->node.start = cur - start;
		area->node.last = piece_last - start;
		if (list_empty(areas))
			*hint = area->pages->uptr + area->page_offset;
		list_add_tail(&area->list, areas);
		(*nareas)++;
		cond_resched();

		if (piece_last == last) {
			covered = true;
			break;
		}
		cur = piece_last + 1;
	}
	up_read(&src->iova_rwsem);

	if (!rc && !covered)
		rc = -ENOENT;
	return rc;
}

/**
 * iopt_copy_iova() - map memory already mapped in another io_pagetable
 * @src: io_pagetable holding the memory (may be @dst)
 * @src_iova: start of the range in @src
 * @dst: io_pagetable to map into
 * @dst_iova: in: the IOVA to map at (without IOPT_ALLOC_IOVA); out: the IOVA
 *            it was mapped at
 * @length: number of bytes
 * @iommu_prot: protection of the new mapping
 * @flags: IOPT_ALLOC_IOVA or 0
 *
 * The new areas share the source's pinned pages: nothing is pinned or
 * charged.  A source range made of several mappings gives one new area per
 * source piece, contiguous in IOVA.
 *
 * Return: 0, -ENOENT (source range not entirely mapped), -EPERM (write
 * access to memory pinned read-only), -ENOSPC (no free IOVA, or @dst would
 * hold more than max_areas areas), and the errors of iopt_map_user_pages()
 * for the destination.
 */
int iopt_copy_iova(struct io_pagetable *src, unsigned long src_iova,
		   struct io_pagetable *dst, unsigned long *dst_iova,
		   unsigned long length, int iommu_prot, unsigned int flags)
{
	unsigned long nareas = 0;
	unsigned long src_last;
	unsigned long hint = 0;
	LIST_HEAD(areas);
	int rc;

	rc = iopt_check_new_range(*dst_iova, length, flags);
	if (rc)
		return rc;
	if (check_add_overflow(src_iova, length - 1, &src_last))
		return -EOVERFLOW;

	rc = iopt_collect_copy(src, src_iova, src_last, iommu_prot, &areas,
			       &nareas, &hint);
	if (!rc)
		rc = iopt_map_areas(dst, &areas, nareas, dst_iova, length, hint,
				    flags);
	iopt_free_area_list(&areas);
	return rc;
}

/**
 * struct iopt_unmap_fence - an unmap waiting for accesses to unpin
 * @list: entry in &io_pagetable.unmap_fences
 * @start: first IOVA being unmapped
 * @last: last IOVA being unmapped
 *
 * On the stack of the unmap; iopt_access_pin_pages() refuses a range that
 * intersects one, so that drivers pinning again cannot starve the unmap.
 */
struct iopt_unmap_fence {
	struct list_head list;
	unsigned long start;
	unsigned long last;
};

/*
 * Remove the areas inside [@start, @last] (all of them when @all), unmap
 * them from the domains and drop their pages after unlocking.
 *
 * Pages an in-kernel access pinned in the range must be unpinned first:
 * the unmap drops its locks, asks the drivers to unpin
 * (iommufd_access_notify_unmap()) and starts again.  A driver that still
 * holds pins after IOMMUFD_ACCESS_NOTIFY_ROUNDS rounds is buggy: the unmap
 * then fails with -EDEADLOCK, removes nothing, and WARNs once (except for
 * the selftest's deliberately buggy driver, see
 * iommufd_access_warn_kept_pins()).  The pinned memory stays valid in any
 * case, the pins hold references on it.
 */
static int iopt_unmap_range(struct io_pagetable *iopt, unsigned long start,
			    unsigned long last, bool all,
			    unsigned long *unmapped)
{
	struct iopt_unmap_fence fence = { .start = start, .last = last };
	struct iommufd_access *holder;
	struct interval_tree_node *node;
	unsigned int rounds = 0;
	unsigned long total = 0;
	LIST_HEAD(removed);
	int rc;

again:
	rc = 0;
	down_read(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	if (!all) {
		/* Check everything first so that a failure removes nothing */
		node = interval_tree_iter_first(&iopt->area_itree, start, last);
		if (!node)
			rc = -ENOENT;
		for (; node; node = interval_tree_iter_next(node, start, last)) {
			if (node->start < start || node->last > last) {
				rc = -ENOENT;
				break;
			}
		}
	}

	holder = rc ? NULL : iopt_find_pinning_access(iopt, start, last);
	if (holder) {
		if (rounds == IOMMUFD_ACCESS_NOTIFY_ROUNDS) {
			/* A driver bug; the kernel stays consistent */
			WARN_ONCE(iommufd_access_warn_kept_pins(holder),
				  "iommufd: in-kernel access %u of %ps did not unpin [0x%lx, 0x%lx] when asked to; the unmap fails with EDEADLOCK\n",
				  holder->obj.id, holder->ops->unmap, start,
				  last);
			rc = -EDEADLOCK;
		} else {
			if (!rounds)
				list_add(&fence.list, &iopt->unmap_fences);
			rounds++;
			up_write(&iopt->iova_rwsem);
			up_read(&iopt->domains_rwsem);
			iommufd_access_notify_unmap(iopt, start, last);
			goto again;
		}
	}
	if (rounds)
		list_del(&fence.list);

	while (!rc &&
	       (node = interval_tree_iter_first(&iopt->area_itree, start, last))) {
		struct iopt_area *area = to_area(node);

		interval_tree_remove(node, &iopt->area_itree);
		iopt->nareas--;
		iopt_area_unfill_domains(iopt, area);
		total += iopt_area_length(area);
		list_add_tail(&area->list, &removed);
		/* The locks are sleeping ones: unmapping many areas is long */
		cond_resched();
	}

	up_write(&iopt->iova_rwsem);
	up_read(&iopt->domains_rwsem);

	iopt_free_area_list(&removed);
	*unmapped = total;
	return rc;
}

/**
 * iopt_unmap_iova() - unmap the mappings inside a range
 * @iopt: the io_pagetable
 * @iova: start of the range
 * @length: length of the range
 * @unmapped: number of bytes unmapped (0 on failure)
 *
 * Removes every area lying entirely inside [@iova, @iova + @length).  The
 * range is checked before anything is removed: on failure nothing was
 * unmapped.
 *
 * Return: 0, -EINVAL for length 0, -EOVERFLOW for a range wrapping around,
 * -ENOENT if the range cuts an area or holds none.
 */
int iopt_unmap_iova(struct io_pagetable *iopt, unsigned long iova,
		    unsigned long length, unsigned long *unmapped)
{
	unsigned long last;

	*unmapped = 0;
	if (!length)
		return -EINVAL;
	if (check_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	return iopt_unmap_range(iopt, iova, last, false, unmapped);
}

/**
 * iopt_unmap_all() - unmap every mapping
 * @iopt: the io_pagetable
 * @unmapped: number of bytes unmapped
 *
 * Return: 0, also when there was nothing to unmap.
 */
int iopt_unmap_all(struct io_pagetable *iopt, unsigned long *unmapped)
{
	return iopt_unmap_range(iopt, 0, ULONG_MAX, true, unmapped);
}

/**
 * iopt_range_has_area() - is any IOVA of a range mapped?
 * @iopt: the io_pagetable
 * @start: first IOVA of the range
 * @last: last IOVA of the range (inclusive)
 *
 * Return: true if an area intersects [@start, @last].  A snapshot.
 */
bool iopt_range_has_area(struct io_pagetable *iopt, unsigned long start,
			 unsigned long last)
{
	bool ret;

	down_read(&iopt->iova_rwsem);
	ret = interval_tree_iter_first(&iopt->area_itree, start, last);
	up_read(&iopt->iova_rwsem);
	return ret;
}

/*
 * Split @area in two at @iova: the area keeps [start, @iova - 1] and a new
 * area, sharing the same pages, takes [@iova, last].  The domains are not
 * touched: the caller made sure that they map the area page by page, so
 * that each half can later be unmapped from them on its own.
 */
static int iopt_area_split(struct io_pagetable *iopt, struct iopt_area *area,
			   unsigned long iova)
{
	unsigned long start = iopt_area_iova(area);
	unsigned long offset = area->page_offset + (iova - start);
	struct iopt_area *rhs;
	int rc;

	lockdep_assert_held(&iopt->domains_rwsem);
	lockdep_assert_held_write(&iopt->iova_rwsem);

	if (WARN_ON(iova <= start || iova > iopt_area_last_iova(area)))
		return -EINVAL;
	/* Both halves must be mappable on their own */
	if ((iova | offset) & (iopt->iova_alignment - 1))
		return -EINVAL;
	rc = iopt_check_area_limit(iopt, 1);
	if (rc)
		return rc;

	rhs = kzalloc(sizeof(*rhs), GFP_KERNEL_ACCOUNT);
	if (!rhs)
		return -ENOMEM;
	INIT_LIST_HEAD(&rhs->list);
	rhs->pages = area->pages;
	iopt_get_pages(rhs->pages);
	rhs->page_offset = offset;
	rhs->iommu_prot = area->iommu_prot;
	rhs->node.start = iova;
	rhs->node.last = iopt_area_last_iova(area);

	/*
	 * An interval tree caches the highest last IOVA of every subtree:
	 * changing a node's range in place would corrupt it.  The node goes
	 * out, changes and comes back.  Every index an area is in must be
	 * updated like this (upstream's split once forgot one of two trees,
	 * CVE-2023-52801); an area is only in area_itree here.
	 */
	interval_tree_remove(&area->node, &iopt->area_itree);
	area->node.last = iova - 1;
	interval_tree_insert(&area->node, &iopt->area_itree);
	interval_tree_insert(&rhs->node, &iopt->area_itree);
	iopt->nareas++;
	return 0;
}

/**
 * iopt_cut_iova() - make IOVAs the last IOVA of an area
 * @iopt: the io_pagetable
 * @iovas: IOVAs after which an area must end
 * @num: number of entries in @iovas
 *
 * For VFIO type1 (v1) compatibility, whose unmap may cut a mapping: every
 * area holding one of @iovas as anything but its last IOVA is split after
 * it, so that unmapping up to (or from right after) that IOVA removes whole
 * areas.  An IOVA no area holds needs nothing.
 *
 * Splitting is refused unless huge IOPTEs are disabled
 * (IOMMU_OPTION_HUGE_PAGES == 0, which VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)
 * selects): only then is every area mapped page by page in every domain.
 * That holds because huge pages can only be disabled while no domain has
 * a mapping (iopt_set_large_pages()), and domains added later are filled
 * page by page.
 *
 * Return: 0, -EINVAL (huge pages enabled, or a cut that is not aligned to
 * the IOVA alignment), -ENOSPC (max_areas reached), -ENOMEM.  Cuts made
 * before a failure stay: they only make areas finer, which changes
 * nothing for mappings.
 */
int iopt_cut_iova(struct io_pagetable *iopt, const unsigned long *iovas,
		  size_t num)
{
	struct interval_tree_node *node;
	size_t i;
	int rc = 0;

	down_read(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	for (i = 0; i != num; i++) {
		node = interval_tree_iter_first(&iopt->area_itree, iovas[i],
						iovas[i]);
		if (!node || node->last == iovas[i])
			continue;
		if (!iopt->disable_large_pages) {
			rc = -EINVAL;
			break;
		}
		rc = iopt_area_split(iopt, to_area(node), iovas[i] + 1);
		if (rc)
			break;
	}

	up_write(&iopt->iova_rwsem);
	up_read(&iopt->domains_rwsem);
	return rc;
}

/**
 * iopt_allowed_insert() - add a range to a list of allowed ranges
 * @allowed: the list being built, not installed in any io_pagetable
 * @start: first IOVA of the range
 * @last: last IOVA of the range
 *
 * Return: 0, -EOVERFLOW (@last beyond ULONG_MAX), -EINVAL (@start >= @last,
 * or the range overlaps one already in @allowed), -ENOMEM.
 */
int iopt_allowed_insert(struct rb_root_cached *allowed, u64 start, u64 last)
{
	struct iopt_allowed *node;

	if (last > ULONG_MAX)
		return -EOVERFLOW;
	if (start >= last || interval_tree_iter_first(allowed, start, last))
		return -EINVAL;
	node = kzalloc(sizeof(*node), GFP_KERNEL_ACCOUNT);
	if (!node)
		return -ENOMEM;
	node->node.start = start;
	node->node.last = last;
	interval_tree_insert(&node->node, allowed);
	return 0;
}

/**
 * iopt_free_allowed() - free a list of allowed ranges
 * @allowed: a list built by iopt_allowed_insert(), or given back by
 *           iopt_set_allow_iova(); left empty
 */
void iopt_free_allowed(struct rb_root_cached *allowed)
{
	struct iopt_allowed *node, *tmp;

	rbtree_postorder_for_each_entry_safe(node, tmp, &allowed->rb_root,
					     node.rb) {
		kfree(node);
		cond_resched();
	}
	*allowed = RB_ROOT_CACHED;
}

/**
 * iopt_set_allow_iova() - replace the allowed ranges
 * @iopt: the io_pagetable
 * @allowed: in: the new list (empty removes all); out: on success the old
 *           list, else the new one, for iopt_free_allowed()
 *
 * Either every range is installed or the old list is kept.
 *
 * Return: 0, -EADDRINUSE (a range overlaps reserved IOVA).
 */
int iopt_set_allow_iova(struct io_pagetable *iopt,
			struct rb_root_cached *allowed)
{
	struct interval_tree_span_iter span;
	struct rb_root_cached old;
	int rc = 0;

	down_write(&iopt->iova_rwsem);
	/* Every used span of the reserved IOVA must be a hole of @allowed */
	interval_tree_for_each_span(&span, &iopt->reserved_itree, 0,
				    ULONG_MAX) {
		if (!span.is_hole &&
		    interval_tree_iter_first(allowed, span.start_used,
					     span.last_used)) {
			rc = -EADDRINUSE;
			break;
		}
	}
	if (!rc) {
		old = iopt->allowed_itree;
		iopt->allowed_itree = *allowed;
		*allowed = old;
	}
	up_write(&iopt->iova_rwsem);
	return rc;
}

/**
 * iopt_get_usable_ranges() - report the IOVA ranges that are not reserved
 * @iopt: the io_pagetable
 * @ranges: array of @max entries to fill
 * @max: capacity of @ranges
 * @total: number of usable ranges, which may be more than @max
 *
 * The usable ranges are the complement of the reserved IOVA over
 * [0, ULONG_MAX], regardless of the allowed ranges and of the mappings.
 *
 * Return: 0.
 */
int iopt_get_usable_ranges(struct io_pagetable *iopt,
			   struct iommu_iova_range *ranges, unsigned int max,
			   unsigned int *total)
{
	struct interval_tree_span_iter span;
	unsigned int n = 0;

	down_read(&iopt->iova_rwsem);
	interval_tree_for_each_span(&span, &iopt->reserved_itree, 0,
				    ULONG_MAX) {
		if (!span.is_hole)
			continue;
		if (n < max) {
			ranges[n].start = span.start_hole;
			ranges[n].last = span.last_hole;
		}
		n++;
	}
	up_read(&iopt->iova_rwsem);
	*total = n;
	return 0;
}

static int __iopt_reserve_iova(struct io_pagetable *iopt, unsigned long start,
			       unsigned long last, void *owner)
{
	struct iopt_reserved *reserved;

	lockdep_assert_held_write(&iopt->iova_rwsem);

	if (start > last)
		return -EINVAL;
	if (interval_tree_iter_first(&iopt->area_itree, start, last) ||
	    interval_tree_iter_first(&iopt->allowed_itree, start, last))
		return -EADDRINUSE;

	reserved = kzalloc(sizeof(*reserved), GFP_KERNEL_ACCOUNT);
	if (!reserved)
		return -ENOMEM;
	reserved->node.start = start;
	reserved->node.last = last;
	reserved->owner = owner;
	interval_tree_insert(&reserved->node, &iopt->reserved_itree);
	return 0;
}

static void __iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner)
{
	struct interval_tree_node *node, *next;

	lockdep_assert_held_write(&iopt->iova_rwsem);

	for (node = interval_tree_iter_first(&iopt->reserved_itree, 0,
					     ULONG_MAX);
	     node; node = next) {
		struct iopt_reserved *reserved = to_reserved(node);

		next = interval_tree_iter_next(node, 0, ULONG_MAX);
		if (reserved->owner == owner) {
			interval_tree_remove(node, &iopt->reserved_itree);
			kfree(reserved);
		}
	}
}

/**
 * iopt_reserve_iova() - reserve an IOVA range
 * @iopt: the io_pagetable
 * @start: first IOVA
 * @last: last IOVA (inclusive)
 * @owner: cookie for iopt_remove_reserved_iova()
 *
 * Return: 0, -EINVAL if @start > @last, -EADDRINUSE if the range overlaps
 * a mapping or an allowed range, -ENOMEM.
 */
int iopt_reserve_iova(struct io_pagetable *iopt, unsigned long start,
		      unsigned long last, void *owner)
{
	int rc;

	down_write(&iopt->iova_rwsem);
	rc = __iopt_reserve_iova(iopt, start, last, owner);
	up_write(&iopt->iova_rwsem);
	return rc;
}

/**
 * iopt_remove_reserved_iova() - remove every range reserved by an owner
 * @iopt: the io_pagetable
 * @owner: the cookie given to iopt_reserve_iova()
 */
void iopt_remove_reserved_iova(struct io_pagetable *iopt, void *owner)
{
	down_write(&iopt->iova_rwsem);
	__iopt_remove_reserved_iova(iopt, owner);
	up_write(&iopt->iova_rwsem);
}

/**
 * iopt_table_enforce_group_resv_regions() - reserve a group's regions
 * @iopt: the io_pagetable
 * @dev: device being attached, owner of the reservations
 * @group: its iommu_group
 * @sw_msi_start: set to the start of the IOMMU_RESV_SW_MSI region, if any
 *
 * Reserves every reserved region of @group except the
 * IOMMU_RESV_DIRECT_RELAXABLE ones.  On failure, every range owned by @dev
 * is removed again (a device has no other reservation in @iopt).
 *
 * Return: 0, -EADDRINUSE if a region overlaps a mapping or an allowed
 * range, -ENOMEM, or the error of iommu_get_group_resv_regions().
 */
int iopt_table_enforce_group_resv_regions(struct io_pagetable *iopt,
					  struct device *dev,
					  struct iommu_group *group,
					  phys_addr_t *sw_msi_start)
{
	struct iommu_resv_region *resv, *tmp;
	LIST_HEAD(regions);
	int rc;

	rc = iommu_get_group_resv_regions(group, &regions);
	if (rc)
		goto out_free;

	down_write(&iopt->iova_rwsem);
	list_for_each_entry(resv, &regions, list) {
		u64 start = resv->start;
		u64 last;

		if (resv->type == IOMMU_RESV_DIRECT_RELAXABLE || !resv->length)
			continue;
		/* Regions beyond the IOVA space cannot conflict with it */
		if (start > ULONG_MAX)
			continue;
		if (check_add_overflow(start, (u64)resv->length - 1, &last))
			last = U64_MAX;

		if (resv->type == IOMMU_RESV_SW_MSI)
			*sw_msi_start = resv->start;
		rc = __iopt_reserve_iova(iopt, start,
					 min_t(u64, last, ULONG_MAX), dev);
		if (rc) {
			__iopt_remove_reserved_iova(iopt, dev);
			break;
		}
	}
	up_write(&iopt->iova_rwsem);

out_free:
	list_for_each_entry_safe(resv, tmp, &regions, list) {
		list_del(&resv->list);
		kfree(resv);
	}
	return rc;
}

/* Alignment required by the huge page setting and the attached domains */
static unsigned long iopt_calc_alignment(struct io_pagetable *iopt)
{
	unsigned long align = iopt->disable_large_pages ? PAGE_SIZE : 1;
	unsigned int i;

	lockdep_assert_held(&iopt->domains_rwsem);
	lockdep_assert_held(&iopt->iova_rwsem);

	if (iopt->npin_accesses)
		align = PAGE_SIZE;

	for (i = 0; i != iopt->next_domain_id; i++)
		align = max(align, domain_min_pgsize(iopt_domain(iopt, i)));
	return align;
}

/*
 * Reserve the IOVA @domain cannot translate.  A geometry of [0, 0] means
 * the driver did not describe an aperture: nothing is reserved then.
 */
static int iopt_reserve_outside_aperture(struct io_pagetable *iopt,
					 struct iommu_domain *domain)
{
	u64 ap_start = domain->geometry.aperture_start;
	u64 ap_end = domain->geometry.aperture_end;
	int rc;

	lockdep_assert_held_write(&iopt->iova_rwsem);

	if (!ap_start && !ap_end)
		return 0;
	if (ap_start > ap_end)
		return -EINVAL;

	if (ap_start) {
		rc = __iopt_reserve_iova(iopt, 0,
					 min_t(u64, ap_start - 1, ULONG_MAX),
					 domain);
		if (rc)
			return rc;
	}
	if (ap_end < ULONG_MAX) {
		rc = __iopt_reserve_iova(iopt, ap_end + 1, ULONG_MAX, domain);
		if (rc) {
			__iopt_remove_reserved_iova(iopt, domain);
			return rc;
		}
	}
	return 0;
}

/* Map every area into @domain; on failure nothing is left mapped */
static int iopt_fill_domain(struct io_pagetable *iopt,
			    struct iommu_domain *domain)
{
	struct interval_tree_node *node, *failed;
	int rc;

	lockdep_assert_held_write(&iopt->domains_rwsem);
	lockdep_assert_held(&iopt->iova_rwsem);

	for (node = interval_tree_iter_first(&iopt->area_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		rc = iopt_area_fill_domain(to_area(node), domain,
					   iopt->disable_large_pages);
		if (rc)
			goto err_unfill;
		cond_resched();
	}
	return 0;

err_unfill:
	failed = node;
	for (node = interval_tree_iter_first(&iopt->area_itree, 0, ULONG_MAX);
	     node != failed;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		iopt_area_unfill_domain(to_area(node), domain);
		cond_resched();
	}
	return rc;
}

static void iopt_unfill_domain(struct io_pagetable *iopt,
			       struct iommu_domain *domain)
{
	struct interval_tree_node *node;

	lockdep_assert_held_write(&iopt->domains_rwsem);
	lockdep_assert_held(&iopt->iova_rwsem);

	for (node = interval_tree_iter_first(&iopt->area_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		iopt_area_unfill_domain(to_area(node), domain);
		cond_resched();
	}
}

/**
 * iopt_table_add_domain() - attach an iommu_domain to the io_pagetable
 * @iopt: the io_pagetable
 * @domain: an empty UNMANAGED domain
 *
 * Raises the IOVA alignment to the domain's minimum page size, reserves the
 * IOVA outside its aperture and maps every area into it.
 *
 * Return: 0, -EINVAL (no page size, minimum page size above PAGE_SIZE, bad
 * aperture), -EADDRINUSE (existing mappings misaligned for the domain, or
 * mappings or allowed ranges outside its aperture), -ENOMEM or the error
 * of iommu_map().  On failure @domain is left empty and @iopt unchanged.
 */
int iopt_table_add_domain(struct io_pagetable *iopt,
			  struct iommu_domain *domain)
{
	unsigned long new_align;
	unsigned int index;
	int rc;

	if (!domain->pgsize_bitmap || domain_min_pgsize(domain) > PAGE_SIZE)
		return -EINVAL;

	down_write(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	new_align = max(iopt->iova_alignment, domain_min_pgsize(domain));
	if (!iopt_areas_aligned(iopt, new_align)) {
		rc = -EADDRINUSE;
		goto out_unlock;
	}

	rc = iopt_reserve_outside_aperture(iopt, domain);
	if (rc)
		goto out_unlock;

	/* Reserve the slot now so that storing the domain cannot fail */
	index = iopt->next_domain_id;
	rc = xa_reserve(&iopt->domains, index, GFP_KERNEL);
	if (rc)
		goto out_unreserve;

	rc = iopt_fill_domain(iopt, domain);
	if (rc)
		goto out_release;

	WARN_ON(xa_is_err(xa_store(&iopt->domains, index, domain, GFP_KERNEL)));
	iopt->next_domain_id++;
	iopt->iova_alignment = new_align;
	goto out_unlock;

out_release:
	xa_release(&iopt->domains, index);
out_unreserve:
	__iopt_remove_reserved_iova(iopt, domain);
out_unlock:
	up_write(&iopt->iova_rwsem);
	up_write(&iopt->domains_rwsem);
	return rc;
}

/**
 * iopt_table_remove_domain() - detach an iommu_domain
 * @iopt: the io_pagetable
 * @domain: a domain added by iopt_table_add_domain()
 *
 * Unmaps every area from @domain, drops its aperture reservation and
 * recomputes the IOVA alignment.  Never fails and never allocates: the
 * xarray only overwrites and erases existing entries.
 */
void iopt_table_remove_domain(struct io_pagetable *iopt,
			      struct iommu_domain *domain)
{
	unsigned int index, last;

	down_write(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	for (index = 0; index != iopt->next_domain_id; index++)
		if (iopt_domain(iopt, index) == domain)
			break;
	if (WARN_ON(index == iopt->next_domain_id))
		goto out_unlock;

	/* Keep the indexes compact: move the last domain into the hole */
	last = iopt->next_domain_id - 1;
	if (index != last)
		xa_store(&iopt->domains, index, iopt_domain(iopt, last),
			 GFP_KERNEL);
	xa_erase(&iopt->domains, last);
	iopt->next_domain_id--;

	iopt_unfill_domain(iopt, domain);
	__iopt_remove_reserved_iova(iopt, domain);
	iopt->iova_alignment = iopt_calc_alignment(iopt);

out_unlock:
	up_write(&iopt->iova_rwsem);
	up_write(&iopt->domains_rwsem);
}

/* Does [@start, @last] hold a mapping or an allowed range? */
static bool iopt_range_in_use(struct io_pagetable *iopt, unsigned long start,
			      unsigned long last)
{
	lockdep_assert_held(&iopt->iova_rwsem);

	return interval_tree_iter_first(&iopt->area_itree, start, last) ||
	       interval_tree_iter_first(&iopt->allowed_itree, start, last);
}

/*
 * The reservations of @domain outside its aperture: the one from 0 and the
 * one up to ULONG_MAX, or NULL.
 */
static void iopt_find_aperture_resv(struct io_pagetable *iopt,
				    struct iommu_domain *domain,
				    struct iopt_reserved **below,
				    struct iopt_reserved **above)
{
	struct interval_tree_node *node;

	lockdep_assert_held(&iopt->iova_rwsem);

	*below = NULL;
	*above = NULL;
	for (node = interval_tree_iter_first(&iopt->reserved_itree, 0,
					     ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		if (to_reserved(node)->owner != domain)
			continue;
		if (!node->start)
			*below = to_reserved(node);
		else if (node->last == ULONG_MAX)
			*above = to_reserved(node);
	}
}

/**
 * iopt_table_update_domain() - re-measure a domain after another attach
 * @iopt: the io_pagetable
 * @domain: a domain added by iopt_table_add_domain()
 *
 * 6.1's drivers may change the aperture or the page sizes of a domain when
 * one more device is attached to it.  6.1 intel sets the domain's address
 * width to the one of the unit that joined last, but only ever removes
 * page-table levels: once a narrow unit joined, a wider aperture reported
 * later is not really translated, and mapping there fails.  So what
 * iommufd allows only shrinks while the domain is in @iopt: the domain's
 * reservation of the IOVA outside its aperture only grows (to the
 * intersection of every aperture it reported), and the IOVA alignment
 * only grows.  Check that every mapping and allowed range of @iopt still
 * fits, then extend the reservation.  The reservation never needs to be
 * allocated under iova_rwsem: both nodes are allocated first.  The caller
 * holds iopt_domain_devices_lock() since before the driver's attach, so
 * that no map sees the domain changed and the io_pagetable not yet.
 *
 * Return: 0; -EINVAL if @domain has no usable page size or a bad aperture
 * (or is not in @iopt); -EADDRINUSE if a mapping is misaligned for its
 * minimum page size or a mapping or allowed range lies outside its
 * aperture; -ENOMEM.  On failure @iopt is unchanged.
 */
int iopt_table_update_domain(struct io_pagetable *iopt,
			     struct iommu_domain *domain)
{
	u64 ap_start = domain->geometry.aperture_start;
	u64 ap_end = domain->geometry.aperture_end;
	struct iopt_reserved *below, *above, *old_below, *old_above;
	bool has_aperture = ap_start || ap_end;
	unsigned long start = 0, last = ULONG_MAX;
	unsigned long align;
	unsigned int index;
	int rc = 0;

	if (!domain->pgsize_bitmap || domain_min_pgsize(domain) > PAGE_SIZE ||
	    (has_aperture && ap_start > ap_end))
		return -EINVAL;

	below = kzalloc(sizeof(*below), GFP_KERNEL_ACCOUNT);
	above = kzalloc(sizeof(*above), GFP_KERNEL_ACCOUNT);
	if (!below || !above) {
		rc = -ENOMEM;
		goto out_free;
	}

	lockdep_assert_held_write(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	for (index = 0; index != iopt->next_domain_id; index++)
		if (iopt_domain(iopt, index) == domain)
			break;
	if (WARN_ON(index == iopt->next_domain_id)) {
		rc = -EINVAL;
		goto out_unlock;
	}

	/* [start, last]: the new aperture, within all the earlier ones */
	if (has_aperture) {
		start = min_t(u64, ap_start, ULONG_MAX);
		last = min_t(u64, ap_end, ULONG_MAX);
	}
	iopt_find_aperture_resv(iopt, domain, &old_below, &old_above);
	if (old_below)
		start = max(start, old_below->node.last + 1);
	if (old_above)
		last = min(last, old_above->node.start - 1);
	if (start > last) {
		rc = -EINVAL;
		goto out_unlock;
	}

	align = max(iopt->iova_alignment, domain_min_pgsize(domain));
	if (!iopt_areas_aligned(iopt, align) ||
	    (start && iopt_range_in_use(iopt, 0, start - 1)) ||
	    (last != ULONG_MAX && iopt_range_in_use(iopt, last + 1, ULONG_MAX))) {
		rc = -EADDRINUSE;
		goto out_unlock;
	}

	/* Nothing can fail from here on; the reservations only grow */
	if (start && (!old_below || old_below->node.last != start - 1)) {
		if (old_below) {
			interval_tree_remove(&old_below->node,
					     &iopt->reserved_itree);
			kfree(old_below);
		}
		below->node.start = 0;
		below->node.last = start - 1;
		below->owner = domain;
		interval_tree_insert(&below->node, &iopt->reserved_itree);
		below = NULL;
	}
	if (last != ULONG_MAX &&
	    (!old_above || old_above->node.start != last + 1)) {
		if (old_above) {
			interval_tree_remove(&old_above->node,
					     &iopt->reserved_itree);
			kfree(old_above);
		}
		above->node.start = last + 1;
		above->node.last = ULONG_MAX;
		above->owner = domain;
		interval_tree_insert(&above->node, &iopt->reserved_itree);
		above = NULL;
	}
	iopt->iova_alignment = align;

out_unlock:
	up_write(&iopt->iova_rwsem);
out_free:
	kfree(below);
	kfree(above);
	return rc;
}

/**
 * iopt_domain_devices_lock() - Stop (un)mapping while a domain's devices change
 * @iopt: the io_pagetable that holds the domain
 *
 * 6.1's drivers change a domain's state when a device is attached to it or
 * detached from it, and read that state without a lock when they map,
 * unmap or flush: intel frees the domain's record of an IOMMU unit at the
 * detach of the unit's last device while intel_iommu_iotlb_sync_map() may
 * be walking the records, and an attach can change the domain's address
 * width and page sizes.  So an attach or detach on a domain that is in
 * @iopt is made between iopt_domain_devices_lock() and
 * iopt_domain_devices_unlock(), which hold domains_rwsem for write: no
 * fill, map, unmap or unfill of any of @iopt's domains runs meanwhile.
 * The caller holds ioas->mutex (the lock order above) and no other lock
 * of @iopt; the iommu core's group->mutex nests inside.
 */
void iopt_domain_devices_lock(struct io_pagetable *iopt)
{
	down_write(&iopt->domains_rwsem);
}

/**
 * iopt_domain_devices_lock_nested() - iopt_domain_devices_lock() of a second
 *                                     io_pagetable
 * @iopt: the io_pagetable that holds the domain
 *
 * For a replace that moves devices from a domain of one io_pagetable to a
 * domain of another: the caller holds both IOASes' mutexes (the second one
 * nested) and iopt_domain_devices_lock() of the first io_pagetable.
 * Undone with iopt_domain_devices_unlock().
 */
void iopt_domain_devices_lock_nested(struct io_pagetable *iopt)
{
	down_write_nested(&iopt->domains_rwsem, SINGLE_DEPTH_NESTING);
}

/**
 * iopt_domain_devices_unlock() - Undo iopt_domain_devices_lock()
 * @iopt: the io_pagetable that holds the domain
 */
void iopt_domain_devices_unlock(struct io_pagetable *iopt)
{
	up_write(&iopt->domains_rwsem);
}

/**
 * iopt_set_large_pages() - IOMMU_OPTION_HUGE_PAGES
 * @iopt: the io_pagetable
 * @enable: allow IOPTEs larger than PAGE_SIZE
 *
 * Disabling maps every later mapping PAGE_SIZE by PAGE_SIZE and raises the
 * IOVA alignment to PAGE_SIZE.
 *
 * Return: 0, -EINVAL when disabling while the IOAS has both a domain and
 * mappings, -EADDRINUSE when disabling while a mapping is not PAGE_SIZE
 * aligned.
 */
int iopt_set_large_pages(struct io_pagetable *iopt, bool enable)
{
	int rc = 0;

	down_write(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);

	if (enable) {
		iopt->disable_large_pages = false;
	} else if (!iopt->disable_large_pages) {
		if (iopt->next_domain_id &&
		    !RB_EMPTY_ROOT(&iopt->area_itree.rb_root))
			rc = -EINVAL;
		else if (!iopt_areas_aligned(iopt, PAGE_SIZE))
			rc = -EADDRINUSE;
		else
			iopt->disable_large_pages = true;
	}
	if (!rc)
		iopt->iova_alignment = iopt_calc_alignment(iopt);

	up_write(&iopt->iova_rwsem);
	up_write(&iopt->domains_rwsem);
	return rc;
}

/**
 * iopt_add_access() - attach an in-kernel access
 * @iopt: the io_pagetable
 * @access: the access, not attached anywhere
 * @id: set to the index of @access in &io_pagetable.access_list
 *
 * An access that pins pages raises the IOVA alignment to PAGE_SIZE, so
 * that each page of IOVA is one page of memory; it is refused while a
 * mapping is not PAGE_SIZE aligned.  The caller holds access->ioas_lock.
 *
 * Return: 0, -EADDRINUSE (a mapping is not PAGE_SIZE aligned), -ENOMEM,
 * -EBUSY (no free index in the access list).
 */
int iopt_add_access(struct io_pagetable *iopt, struct iommufd_access *access,
		    u32 *id)
{
	int rc;

	lockdep_assert_held(&access->ioas_lock);

	down_write(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);
	if (access->ops->needs_pin_pages &&
	    !iopt_areas_aligned(iopt, PAGE_SIZE)) {
		rc = -EADDRINUSE;
		goto out_unlock;
	}
	rc = xa_alloc(&iopt->access_list, id, access, xa_limit_32b,
		      GFP_KERNEL_ACCOUNT);
	if (rc)
		goto out_unlock;
	if (access->ops->needs_pin_pages) {
		iopt->npin_accesses++;
		iopt->iova_alignment = iopt_calc_alignment(iopt);
	}
out_unlock:
	up_write(&iopt->iova_rwsem);
	up_write(&iopt->domains_rwsem);
	return rc;
}

/**
 * iopt_remove_access() - detach an in-kernel access
 * @iopt: the io_pagetable
 * @access: an access attached by iopt_add_access()
 * @id: the index iopt_add_access() gave it
 *
 * Never fails and never allocates.  The caller holds access->ioas_lock.
 */
void iopt_remove_access(struct io_pagetable *iopt,
			struct iommufd_access *access, u32 id)
{
	lockdep_assert_held(&access->ioas_lock);

	down_write(&iopt->domains_rwsem);
	down_write(&iopt->iova_rwsem);
	WARN_ON(xa_erase(&iopt->access_list, id) != access);
	if (access->ops->needs_pin_pages) {
		iopt->npin_accesses--;
		iopt->iova_alignment = iopt_calc_alignment(iopt);
	}
	up_write(&iopt->iova_rwsem);
	up_write(&iopt->domains_rwsem);
}

static struct iommufd_access_pin *to_pin(struct interval_tree_node *node)
{
	return container_of(node, struct iommufd_access_pin, node);
}

/**
 * iopt_find_pinning_access() - find an access that pinned part of a range
 * @iopt: the io_pagetable
 * @start: first IOVA
 * @last: last IOVA (inclusive)
 *
 * Only the pins an attached access made in @iopt count.  The caller holds
 * iova_rwsem, which keeps the list of accesses and their pins in @iopt
 * stable (pins in @iopt are only added under it).
 *
 * Return: the first attached access (in the order of
 * &io_pagetable.access_list) holding a pin that intersects [@start, @last],
 * valid while iova_rwsem is held; NULL if no access holds such a pin.
 */
struct iommufd_access *iopt_find_pinning_access(struct io_pagetable *iopt,
						unsigned long start,
						unsigned long last)
{
	struct interval_tree_node *node;
	struct iommufd_access *access;
	unsigned long index;
	bool found = false;

	lockdep_assert_held(&iopt->iova_rwsem);

	xa_for_each(&iopt->access_list, index, access) {
		mutex_lock(&access->pin_lock);
		for (node = interval_tree_iter_first(&access->pins, start, last);
		     node && !found;
		     node = interval_tree_iter_next(node, start, last))
			found = to_pin(node)->iopt == iopt;
		mutex_unlock(&access->pin_lock);
		if (found)
			return access;
	}
	return NULL;
}

/*
 * Check that [@iova, @last] is mapped without a hole (-ENOENT), writable
 * when @write (-EPERM), and count the areas it crosses.
 */
static int iopt_access_check_range(struct io_pagetable *iopt,
				   unsigned long iova, unsigned long last,
				   bool write, unsigned int *nareas)
{
	struct interval_tree_node *node;
	unsigned long cur = iova;

	lockdep_assert_held(&iopt->iova_rwsem);

	*nareas = 0;
	for (node = interval_tree_iter_first(&iopt->area_itree, iova, last);
	     node; node = interval_tree_iter_next(node, iova, last)) {
		if (node->start > cur)
			return -ENOENT;
		if (write && !(to_area(node)->iommu_prot & IOMMU_WRITE))
			return -EPERM;
		(*nareas)++;
		if (node->last >= last)
			return 0;
		cur = node->last + 1;
	}
	return -ENOENT;
}

/**
 * struct iopt_access_piece - the part of an access range inside one area
 * @node: the area's node in &io_pagetable.area_itree
 * @start: first IOVA of the piece
 * @last: last IOVA of the piece (inclusive)
 * @offset: byte offset of @start in the area's &iopt_area.pages
 */
struct iopt_access_piece {
	struct interval_tree_node *node;
	unsigned long start;
	unsigned long last;
	unsigned long offset;
};

/*
 * Advance @piece to the next area crossing [@iova, @last], which
 * iopt_access_check_range() found mapped without a hole (the first one when
 * @piece->node is NULL).  The caller holds iova_rwsem.
 */
static bool iopt_access_next_piece(struct io_pagetable *iopt,
				   unsigned long iova, unsigned long last,
				   struct iopt_access_piece *piece)
{
	struct interval_tree_node *node = piece->node;

	lockdep_assert_held(&iopt->iova_rwsem);

	node = node ? interval_tree_iter_next(node, iova, last) :
		      interval_tree_iter_first(&iopt->area_itree, iova, last);
	piece->node = node;
	if (!node)
		return false;
	piece->start = max(iova, node->start);
	piece->last = min(last, node->last);
	piece->offset = to_area(node)->page_offset +
			(piece->start - node->start);
	return true;
}

/**
 * iopt_access_pin_pages() - pin pages for an access
 * @iopt: the io_pagetable the access is attached to
 * @access: the access, which needs pinned pages
 * @iova: first IOVA
 * @last: last IOVA (inclusive)
 * @out_pages: one struct page for each page of IOVA of [@iova, @last]
 * @write: the access will write to the pages
 *
 * The pages are those already pinned by IOMMU_IOAS_MAP: the new pin takes
 * a reference on the pinned memory of every area the range crosses,
 * nothing is pinned or charged again.  The pin is recorded in the access,
 * tagged with @iopt, under iova_rwsem, so an unmap of the range sees it.
 * The caller holds access->ioas_lock.
 *
 * Return: 0, -ENOENT (a hole in the range), -EPERM (@write on a mapping
 * that is not writable), -EBUSY (an unmap of the range is waiting for
 * accesses to unpin), -ENOMEM.
 */
int iopt_access_pin_pages(struct io_pagetable *iopt,
			  struct iommufd_access *access, unsigned long iova,
			  unsigned long last, struct page **out_pages,
			  bool write)
{
	unsigned long first_page = iova >> PAGE_SHIFT;
	struct iopt_access_piece piece;
	struct iommufd_access_pin *pin;
	struct iopt_unmap_fence *fence;
	unsigned int nareas, i = 0;
	int rc;

	lockdep_assert_held(&access->ioas_lock);

	down_read(&iopt->iova_rwsem);
	list_for_each_entry(fence, &iopt->unmap_fences, list) {
		if (fence->start <= last && iova <= fence->last) {
			rc = -EBUSY;
			goto out_unlock;
		}
	}
	rc = iopt_access_check_range(iopt, iova, last, write, &nareas);
	if (rc)
		goto out_unlock;

	if (iommufd_should_fail()) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	/* One entry per area: large for a range crossing many mappings */
	pin = kvzalloc(struct_size(pin, pages, nareas), GFP_KERNEL_ACCOUNT);
	if (!pin) {
		rc = -ENOMEM;
		goto out_unlock;
	}

	/*
	 * The IOVA alignment is PAGE_SIZE while the access is attached, so
	 * pages of IOVA and pages of memory have the same boundaries.
	 */
	for (piece.node = NULL;
	     iopt_access_next_piece(iopt, iova, last, &piece);) {
		struct iopt_pages *pages = to_area(piece.node)->pages;
		unsigned long first = piece.offset / PAGE_SIZE;
		unsigned long end = (piece.offset + (piece.last - piece.start)) /
				    PAGE_SIZE;

		iopt_pages_fill_page_list(pages, first, end - first + 1,
					  out_pages +
						  (piece.start >> PAGE_SHIFT) -
						  first_page);
		iopt_get_pages(pages);
		pin->pages[i++] = pages;
	}
	pin->npages_objs = i;
	pin->iopt = iopt;
	pin->node.start = iova;
	pin->node.last = last;

	mutex_lock(&access->pin_lock);
	pin->gen = ++access->pin_gen;
	interval_tree_insert(&pin->node, &access->pins);
	mutex_unlock(&access->pin_lock);

out_unlock:
	up_read(&iopt->iova_rwsem);
	return rc;
}

/**
 * iopt_access_rw() - copy to or from IOVA for an access
 * @iopt: the io_pagetable the access is attached to
 * @iova: first IOVA
 * @last: last IOVA (inclusive)
 * @data: kernel buffer of @last - @iova + 1 bytes
 * @write: copy @data to the IOVA, else the IOVA to @data
 *
 * Copies through the pinned memory behind the areas, under iova_rwsem
 * for read, so no area goes away meanwhile; pins nothing.  The whole
 * range is checked first: on error nothing was copied.
 *
 * Return: 0, -ENOENT (a hole in the range), -EPERM (@write on a mapping
 * that is not writable).
 */
int iopt_access_rw(struct io_pagetable *iopt, unsigned long iova,
		   unsigned long last, void *data, bool write)
{
	struct iopt_access_piece piece;
	unsigned int nareas;
	int rc;

	down_read(&iopt->iova_rwsem);
	rc = iopt_access_check_range(iopt, iova, last, write, &nareas);
	if (rc)
		goto out_unlock;

	for (piece.node = NULL;
	     iopt_access_next_piece(iopt, iova, last, &piece);)
		iopt_pages_rw(to_area(piece.node)->pages, piece.offset,
			      data + (piece.start - iova),
			      piece.last - piece.start + 1, write);
out_unlock:
	up_read(&iopt->iova_rwsem);
	return rc;
}

#ifdef CONFIG_IOMMUFD_TEST
/**
 * iopt_get_metadata() - IOMMU_TEST_OP_IOAS_METADATA
 * @iopt: the io_pagetable
 * @cmd: the command; its metadata member is filled
 *
 * Counts the areas and, once each, the pages objects behind them, with
 * the kernel memory of both (see iopt_pages_metadata()).
 *
 * Return: 0 or -ENOMEM.
 */
int iopt_get_metadata(struct io_pagetable *iopt, struct iommu_test_cmd *cmd)
{
	struct interval_tree_node *node;
	u64 areas = 0, npages = 0, runs = 0, bytes = 0;
	struct xarray seen;
	int rc = 0;

	/* Distinct pages objects, by address */
	xa_init(&seen);
	down_read(&iopt->iova_rwsem);
	for (node = interval_tree_iter_first(&iopt->area_itree, 0, ULONG_MAX);
	     node; node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		struct iopt_area *area = to_area(node);
		unsigned long key = (unsigned long)area->pages /
				    sizeof(*area->pages);

		areas++;
		bytes += ksize(area);
		rc = xa_insert(&seen, key, area->pages, GFP_KERNEL);
		if (rc == -EBUSY) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		npages++;
		iopt_pages_metadata(area->pages, &bytes, &runs);
		cond_resched();
	}
	up_read(&iopt->iova_rwsem);
	xa_destroy(&seen);

	cmd->metadata.out_areas = areas;
	cmd->metadata.out_pages = npages;
	cmd->metadata.out_runs = runs;
	cmd->metadata.out_bytes = bytes;
	return rc;
}
#endif

/**
 * iopt_init_table() - initialize an empty io_pagetable
 * @iopt: the io_pagetable
 */
void iopt_init_table(struct io_pagetable *iopt)
{
	init_rwsem(&iopt->domains_rwsem);
	xa_init(&iopt->domains);
	iopt->next_domain_id = 0;
	init_rwsem(&iopt->iova_rwsem);
	iopt->area_itree = RB_ROOT_CACHED;
	iopt->allowed_itree = RB_ROOT_CACHED;
	iopt->reserved_itree = RB_ROOT_CACHED;
	iopt->nareas = 0;
	iopt->disable_large_pages = false;
	iopt->iova_alignment = 1;
	xa_init_flags(&iopt->access_list, XA_FLAGS_ALLOC);
	iopt->npin_accesses = 0;
	INIT_LIST_HEAD(&iopt->unmap_fences);
}

/**
 * iopt_destroy_table() - free everything of an io_pagetable
 * @iopt: the io_pagetable; no domain may be attached any more
 *
 * Unmaps every area (unpinning memory no other area uses) and frees the
 * reserved and allowed ranges.  Never fails.
 */
void iopt_destroy_table(struct io_pagetable *iopt)
{
	struct iopt_reserved *reserved, *tmp;
	unsigned long unmapped;

	WARN_ON(iopt->next_domain_id);
	/* Every attached access holds a reference on the IOAS */
	WARN_ON(!xa_empty(&iopt->access_list));
	iopt_unmap_all(iopt, &unmapped);

	down_write(&iopt->iova_rwsem);
	rbtree_postorder_for_each_entry_safe(reserved, tmp,
					     &iopt->reserved_itree.rb_root,
					     node.rb) {
		kfree(reserved);
		cond_resched();
	}
	iopt->reserved_itree = RB_ROOT_CACHED;
	iopt_free_allowed(&iopt->allowed_itree);
	up_write(&iopt->iova_rwsem);

	xa_destroy(&iopt->domains);
	xa_destroy(&iopt->access_list);
}
