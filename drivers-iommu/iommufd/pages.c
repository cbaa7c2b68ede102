// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pinned user memory of iommufd: struct iopt_pages.
 *
 * Storage model
 * -------------
 * Every IOMMU_IOAS_MAP creates one struct iopt_pages for the user memory it
 * names, and pins that memory right away, before any IOVA is chosen.  The
 * memory stays pinned, exactly once, for as long as the pages object lives,
 * whatever the number of users: the areas of one or several io_pagetables
 * (IOMMU_IOAS_COPY shares the object by taking a kref instead of pinning
 * again) and the iommu_domains those areas are mapped into.  Domains never
 * pin or unpin anything: filling a domain only reads the PFNs kept here.
 *
 * The PFNs are kept as runs of physically contiguous pages, {first PFN,
 * first page index}, in one kvmalloc'd array that is grown by doubling
 * while pinning and trimmed at the end.  Ordinary memory often comes in
 * runs of several pages, and huge pages always do, so the array is usually
 * much smaller than a page pointer per page, and each run becomes a single
 * iommu_map() call, which lets the IOMMU driver use large IOPTEs.
 *
 * Pinning uses pin_user_pages_fast(FOLL_LONGTERM [| FOLL_WRITE]) on the
 * calling process, in batches whose temporary struct page array is bounded
 * (64KiB, or iommufd_test_memory_limit in test builds).  Once the object is
 * returned by iopt_alloc_pages() it is never modified again, which is why
 * it needs no lock: users only read it, and the kref decides when it goes.
 *
 * Accounting
 * ----------
 * The whole length is charged before the first page is pinned, in the mode
 * of the iommufd at map time:
 *  - IOPT_PAGES_ACCOUNT_USER: user_struct::locked_vm, with a cmpxchg loop
 *    against RLIMIT_MEMLOCK;
 *  - IOPT_PAGES_ACCOUNT_MM: mm_struct::locked_vm through
 *    account_locked_vm(), like VFIO type1;
 *  - IOPT_PAGES_ACCOUNT_NONE: no RLIMIT_MEMLOCK charge, whatever the
 *    iommufd's mode, when the mapping task has CAP_IPC_LOCK.
 * In every mode mm_struct::pinned_vm is raised as well, so the pinned
 * memory shows up in the process's VmPin.  A charge over the limit fails
 * with -ENOMEM (CAP_IPC_LOCK bypasses the limit, as account_locked_vm()
 * does).  Any failure while pinning unpins what was pinned and removes the
 * whole charge before returning the error.
 *
 * Destroy never fails
 * -------------------
 * Dropping the last reference unpins every run (marking the pages dirty if
 * they were pinned writable), removes the charge and frees the object.  It
 * allocates nothing and cannot fail, so unmap, IOAS destruction and
 * close() always complete.  It may sleep (locking pages to dirty them,
 * taking the mmap lock in MM mode): references are only dropped from
 * process context, outside the io_pagetable locks when possible.
 *
 * Vocabulary: "last" is an inclusive bound, "end" an exclusive one.
 */
#include <linux/capability.h>
#include <linux/iommu.h>
#include <linux/kref.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"
#include "io_pagetable.h"

/* Default size of the temporary struct page array of one pin batch */
#define IOPT_PIN_BATCH_BYTES SZ_64K
/* First allocation of the runs array */
#define IOPT_MIN_RUNS 16UL

static unsigned long iopt_pin_batch_pages(void)
{
	size_t bytes = IOPT_PIN_BATCH_BYTES;

#ifdef CONFIG_IOMMUFD_TEST
	size_t limit = READ_ONCE(iommufd_test_memory_limit);

	if (limit)
		bytes = limit;
#endif
	/*
	 * pin_user_pages_fast() takes an int count, and kvmalloc() refuses
	 * (with a WARN) more than INT_MAX bytes.
	 */
	return clamp_t(size_t, bytes / sizeof(struct page *), 1,
		       INT_MAX / sizeof(struct page *));
}

static int iopt_charge_user(struct user_struct *user, unsigned long npages)
{
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long cur, new;

	do {
		cur = atomic_long_read(&user->locked_vm);
		if (check_add_overflow(cur, npages, &new))
			return -ENOMEM;
		if (new > limit && !capable(CAP_IPC_LOCK))
			return -ENOMEM;
	} while (atomic_long_cmpxchg(&user->locked_vm, cur, new) != cur);
	return 0;
}

static int iopt_pages_charge(struct iopt_pages *pages, unsigned long npages)
{
	int rc;

	switch (pages->account_mode) {
	case IOPT_PAGES_ACCOUNT_NONE:
		break;
	case IOPT_PAGES_ACCOUNT_USER:
		rc = iopt_charge_user(pages->source_user, npages);
		if (rc)
			return rc;
		break;
	case IOPT_PAGES_ACCOUNT_MM:
		rc = account_locked_vm(pages->source_mm, npages, true);
		if (rc)
			return rc;
		break;
	default:
		return -EINVAL;
	}
	atomic64_add(npages, &pages->source_mm->pinned_vm);
	return 0;
}

/*
 * Undo iopt_pages_charge().  The mm_struct (and its mmap_lock) stays valid
 * thanks to mmgrab() even if the process has exited meanwhile.
 */
static void iopt_pages_uncharge(struct iopt_pages *pages, unsigned long npages)
{
	atomic64_sub(npages, &pages->source_mm->pinned_vm);
	switch (pages->account_mode) {
	case IOPT_PAGES_ACCOUNT_USER:
		atomic_long_sub(npages, &pages->source_user->locked_vm);
		break;
	case IOPT_PAGES_ACCOUNT_MM:
		account_locked_vm(pages->source_mm, npages, false);
		break;
	}
}

/* Number of pages of run @i */
static unsigned long iopt_run_npfns(struct iopt_pages *pages, unsigned long i)
{
	unsigned long end = i + 1 < pages->nruns ? pages->runs[i + 1].index :
						   pages->npinned;

	return end - pages->runs[i].index;
}

/* Index of the run holding page @index; @index < npinned */
static unsigned long iopt_find_run(struct iopt_pages *pages,
				   unsigned long index)
{
	unsigned long lo = 0, hi = pages->nruns;

	/* runs[0].index == 0 <= index: find the last run starting <= index */
	while (hi - lo > 1) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (pages->runs[mid].index <= index)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Unpin every pinned page and forget the runs.  @dirty is false on the
 * error path of pinning: the memory was never reachable by a device.
 */
static void iopt_pages_unpin_all(struct iopt_pages *pages, bool dirty)
{
	unsigned long i;

	for (i = 0; i != pages->nruns; i++) {
		unpin_user_page_range_dirty_lock(pfn_to_page(pages->runs[i].pfn),
						 iopt_run_npfns(pages, i), dirty);
		cond_resched();
	}
	kvfree(pages->runs);
	pages->runs = NULL;
	pages->nruns = 0;
	pages->npinned = 0;
}

/* Append one pinned page, growing the runs array (up to @max_runs) */
static int iopt_pages_add_pfn(struct iopt_pages *pages, unsigned long *nalloc,
			      unsigned long max_runs, unsigned long pfn)
{
	if (pages->nruns) {
		struct iopt_pfn_run *run = &pages->runs[pages->nruns - 1];

		if (run->pfn + (pages->npinned - run->index) == pfn) {
			pages->npinned++;
			return 0;
		}
	}

	if (pages->nruns == *nalloc) {
		unsigned long n = min(max(*nalloc * 2, IOPT_MIN_RUNS), max_runs);
		struct iopt_pfn_run *runs;

		runs = kvrealloc(pages->runs, array_size(*nalloc, sizeof(*runs)),
				 array_size(n, sizeof(*runs)), GFP_KERNEL_ACCOUNT);
		if (!runs)
			return -ENOMEM;
		pages->runs = runs;
		*nalloc = n;
	}

	pages->runs[pages->nruns].pfn = pfn;
	pages->runs[pages->nruns].index = pages->npinned;
	pages->nruns++;
	pages->npinned++;
	return 0;
}

/* Give back the unused tail of the runs array when it is worth it */
static void iopt_pages_trim_runs(struct iopt_pages *pages, unsigned long nalloc)
{
	struct iopt_pfn_run *runs;

	if (nalloc - pages->nruns < IOPT_MIN_RUNS ||
	    nalloc / 2 < pages->nruns)
		return;
	/* kvrealloc() never shrinks: copy by hand, keep the old one on error */
	runs = kvmalloc_array(pages->nruns, sizeof(*runs), GFP_KERNEL_ACCOUNT);
	if (!runs)
		return;
	memcpy(runs, pages->runs, array_size(pages->nruns, sizeof(*runs)));
	kvfree(pages->runs);
	pages->runs = runs;
}

/*
 * Pin the @npages pages starting at pages->uptr.  On failure nothing is
 * left pinned.  The caller has charged @npages.
 */
static int iopt_pages_pin(struct iopt_pages *pages, unsigned long npages)
{
	unsigned int gup_flags = FOLL_LONGTERM | (pages->writable ? FOLL_WRITE : 0);
	unsigned long batch = min(iopt_pin_batch_pages(), npages);
	unsigned long nalloc = 0;
	struct page **page_list;
	int rc = 0;

	page_list = kvmalloc_array(batch, sizeof(*page_list), GFP_KERNEL);
	if (!page_list)
		return -ENOMEM;

	while (pages->npinned != npages) {
		unsigned long addr = pages->uptr + pages->npinned * PAGE_SIZE;
		unsigned long n = min(batch, npages - pages->npinned);
		long i, got;

		if (iommufd_should_fail()) {
			rc = -ENOMEM;
			break;
		}
		got = pin_user_pages_fast(addr, n, gup_flags, page_list);
		if (got <= 0) {
			rc = got ? got : -EFAULT;
			break;
		}
		for (i = 0; i != got; i++) {
			rc = iopt_pages_add_pfn(pages, &nalloc, npages,
						page_to_pfn(page_list[i]));
			if (rc) {
				unpin_user_pages(page_list + i, got - i);
				break;
			}
		}
		if (rc)
			break;
		cond_resched();
	}
	kvfree(page_list);

	if (rc) {
		iopt_pages_unpin_all(pages, false);
		return rc;
	}
	iopt_pages_trim_runs(pages, nalloc);
	return 0;
}

/**
 * iopt_alloc_pages() - pin user memory of the current process
 * @uptr: first byte of the memory
 * @length: number of bytes, not 0
 * @writable: pin for writing (devices may write to the memory)
 * @account_mode: enum iommufd_account_mode to charge the memory with
 *
 * Charges and pins every page holding a byte of [@uptr, @uptr + @length).
 * Byte 0 of the returned object is the start of the page holding @uptr.
 *
 * Return: the pages object with one reference, or an ERR_PTR: -EINVAL,
 * -EOVERFLOW for a range wrapping around, -ENOMEM (allocation, or over
 * RLIMIT_MEMLOCK), -EFAULT and the other errors of pin_user_pages_fast().
 * On error nothing stays pinned or charged.
 */
struct iopt_pages *iopt_alloc_pages(void __user *uptr, unsigned long length,
				    bool writable, u8 account_mode)
{
	unsigned long start = (unsigned long)uptr;
	struct iopt_pages *pages;
	unsigned long last;
	unsigned long npages;
	int rc;

	if (!length || account_mode > IOPT_PAGES_ACCOUNT_MM)
		return ERR_PTR(-EINVAL);
	if (check_add_overflow(start, length - 1, &last))
		return ERR_PTR(-EOVERFLOW);
	if (!current->mm)
		return ERR_PTR(-EFAULT);
	npages = (last >> PAGE_SHIFT) - (start >> PAGE_SHIFT) + 1;

	pages = kzalloc(sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	kref_init(&pages->kref);
	pages->uptr = start & PAGE_MASK;
	pages->writable = writable;
	/*
	 * Like mlock(), the exemption belongs to the task that pins, whoever
	 * opened the file: a file passed on to an unprivileged process must
	 * not pin without a charge.
	 */
	pages->account_mode = capable(CAP_IPC_LOCK) ? IOPT_PAGES_ACCOUNT_NONE :
						      account_mode;
	pages->source_mm = current->mm;
	mmgrab(pages->source_mm);
	pages->source_user = get_uid(current_user());

	rc = iopt_pages_charge(pages, npages);
	if (rc)
		goto err_free;
	rc = iopt_pages_pin(pages, npages);
	if (rc)
		goto err_uncharge;
	return pages;

err_uncharge:
	iopt_pages_uncharge(pages, npages);
err_free:
	free_uid(pages->source_user);
	mmdrop(pages->source_mm);
	kfree(pages);
	return ERR_PTR(rc);
}

/**
 * iopt_release_pages() - kref release of struct iopt_pages
 * @kref: &iopt_pages.kref
 *
 * Unpins the memory, removes its charge and frees the object.  Never fails
 * and never allocates; may sleep.  Use iopt_put_pages().
 */
void iopt_release_pages(struct kref *kref)
{
	struct iopt_pages *pages = container_of(kref, struct iopt_pages, kref);
	unsigned long npages = pages->npinned;

	iopt_pages_unpin_all(pages, pages->writable);
	iopt_pages_uncharge(pages, npages);
	free_uid(pages->source_user);
	mmdrop(pages->source_mm);
	kfree(pages);
}

/*
 * Map the bytes [@offset, @offset + @length) of @pages at @iova in @domain,
 * one iommu_map() per physically contiguous piece, or per page piece when
 * @small_pages.  On failure nothing of it stays mapped.
 */
static int iopt_pages_map(struct iopt_pages *pages, unsigned long offset,
			  unsigned long length, struct iommu_domain *domain,
			  unsigned long iova, int prot, bool small_pages)
{
	unsigned long index = offset >> PAGE_SHIFT;
	unsigned long sub = offset & ~PAGE_MASK;
	unsigned long done = 0;
	unsigned long r;
	int rc;

	if (WARN_ON(!length || index >= pages->npinned ||
		    length > (pages->npinned - index) * PAGE_SIZE - sub))
		return -EINVAL;

	r = iopt_find_run(pages, index);
	while (done != length) {
		struct iopt_pfn_run *run = &pages->runs[r];
		unsigned long run_end = run->index + iopt_run_npfns(pages, r);
		phys_addr_t paddr = PFN_PHYS(run->pfn + (index - run->index)) + sub;
		unsigned long size = (run_end - index) * PAGE_SIZE - sub;

		size = min(size, length - done);
		if (small_pages)
			size = min(size, PAGE_SIZE - sub);

		rc = iommu_map(domain, iova + done, paddr, size, prot);
		if (rc)
			goto err_unmap;
		done += size;

		sub += size;
		index += sub >> PAGE_SHIFT;
		sub &= ~PAGE_MASK;
		if (index == run_end)
			r++;
		cond_resched();
	}
	return 0;

err_unmap:
	if (done) {
		size_t unmapped = iommu_unmap(domain, iova, done);

		if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
			WARN_ON(unmapped != done);
	}
	return rc;
}

/**
 * iopt_area_fill_domain() - map an area into an iommu_domain
 * @area: the area; its IOVA and memory are set
 * @domain: the domain
 * @small_pages: map PAGE_SIZE (or smaller) pieces only
 *
 * The caller holds the io_pagetable's domains_rwsem and iova_rwsem.
 *
 * Return: 0, or the error of iommu_map(); on error nothing of @area is
 * left mapped in @domain.
 */
int iopt_area_fill_domain(struct iopt_area *area, struct iommu_domain *domain,
			  bool small_pages)
{
	return iopt_pages_map(area->pages, area->page_offset,
			      iopt_area_length(area), domain,
			      iopt_area_iova(area), area->iommu_prot,
			      small_pages);
}

/**
 * iopt_area_unfill_domain() - unmap an area from an iommu_domain
 * @area: an area that was filled into @domain
 * @domain: the domain
 *
 * Never fails: a driver unmapping another amount than asked is a driver
 * bug, reported in test builds.
 */
void iopt_area_unfill_domain(struct iopt_area *area,
			     struct iommu_domain *domain)
{
	unsigned long length = iopt_area_length(area);
	size_t unmapped;

	unmapped = iommu_unmap(domain, iopt_area_iova(area), length);
	if (IS_ENABLED(CONFIG_IOMMUFD_TEST))
		WARN_ON(unmapped != length);
}
