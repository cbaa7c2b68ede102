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
 * The PFNs are kept as runs of physically contiguous pages.  A run is
 * packed in 8 bytes: its first PFN in the high bits and its number of pages
 * in the IOPT_RUN_LEN_BITS low bits (longer contiguous memory takes several
 * runs).  Runs are appended, in page index order, to chunks of at most a
 * page (struct iopt_run_chunk; the last one is trimmed to what it holds)
 * held in an xarray indexed by chunk number; each
 * chunk records the page index of its first run, so the chunk holding a
 * page index is found by a binary search over the chunks and the run by a
 * walk of one chunk.  Every allocation is therefore one page at most,
 * whatever the size of the mapping, and the metadata costs at most 8 bytes
 * per pinned page (4K pages that are nowhere contiguous), plus one xarray
 * slot per chunk; huge pages cost 8 bytes per huge page.  Ordinary memory
 * often comes in runs of several pages, and each run becomes a single
 * iommu_map() call, which lets the IOMMU driver use large IOPTEs.
 *
 * Pinning uses pin_user_pages_fast(FOLL_LONGTERM [| FOLL_WRITE]) on the
 * calling process, in batches whose temporary struct page array is bounded
 * (64KiB, or the IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT of the iommufd in test
 * builds).  A fatal signal is checked before each batch: the pin then
 * fails with -EINTR and nothing stays pinned.  Once the object is returned
 * by iopt_alloc_pages() it is never modified again, which is why it needs
 * no lock: users only read it, and the kref decides when it goes.
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
 * close() always complete.  The one exception is an iommu_domain that
 * unmaps less than it was asked to (a driver bug): the device may still
 * reach the memory, so it is reported with a WARN and the pages object is
 * leaked on purpose, pinned and charged, rather than freed.
 *
 * Dropping a reference may sleep (locking pages to dirty them, taking the
 * mmap lock in MM mode): references are only dropped from process
 * context, outside the io_pagetable locks when possible.
 *
 * Vocabulary: "last" is an inclusive bound, "end" an exclusive one.
 */
#include <linux/capability.h>
#include <linux/highmem.h>
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
#include <linux/xarray.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"
#include "io_pagetable.h"

/* Default size of the temporary struct page array of one pin batch */
#define IOPT_PIN_BATCH_BYTES SZ_64K

/*
 * Width of a PFN: the largest physical address any configuration of the
 * architecture can have, or all of phys_addr_t when the architecture does
 * not say.
 */
#if defined(MAX_POSSIBLE_PHYSMEM_BITS)
#define IOPT_PHYS_BITS MAX_POSSIBLE_PHYSMEM_BITS
#elif defined(MAX_PHYSMEM_BITS)
#define IOPT_PHYS_BITS MAX_PHYSMEM_BITS
#else
#define IOPT_PHYS_BITS (sizeof(phys_addr_t) * BITS_PER_BYTE)
#endif
#define IOPT_RUN_PFN_BITS (IOPT_PHYS_BITS - PAGE_SHIFT)
/* What is left of 64 bits holds the length (x86-64: 24 bits, 64 GiB) */
#define IOPT_RUN_LEN_BITS                                                    \
	(64 - IOPT_RUN_PFN_BITS > 30 ? 30 : 64 - IOPT_RUN_PFN_BITS)
#define IOPT_RUN_MAX_PAGES BIT(IOPT_RUN_LEN_BITS)
static_assert(IOPT_RUN_PFN_BITS + IOPT_RUN_LEN_BITS <= 64);
static_assert(IOPT_RUN_LEN_BITS >= 8);

/**
 * struct iopt_run_chunk - up to a page of PFN runs
 * @first_index: page index, in the pages object, of the first page of
 *               @runs[0]
 * @nruns: number of valid entries of @runs
 * @capacity: number of entries allocated
 * @runs: runs packed as PFN << IOPT_RUN_LEN_BITS | (number of pages - 1),
 *        in page index order, each starting where the previous one ends
 */
struct iopt_run_chunk {
	unsigned long first_index;
	unsigned int nruns;
	unsigned int capacity;
	u64 runs[];
};

/* Runs of a full, page-sized chunk */
#define IOPT_CHUNK_RUNS                                                      \
	((PAGE_SIZE - offsetof(struct iopt_run_chunk, runs)) / sizeof(u64))
static_assert(IOPT_CHUNK_RUNS >= 64);

static unsigned long iopt_run_pfn(u64 run)
{
	return run >> IOPT_RUN_LEN_BITS;
}

static unsigned long iopt_run_npages(u64 run)
{
	return (run & (IOPT_RUN_MAX_PAGES - 1)) + 1;
}

static u64 iopt_make_run(unsigned long pfn, unsigned long npages)
{
	return (u64)pfn << IOPT_RUN_LEN_BITS | (npages - 1);
}

static struct iopt_run_chunk *iopt_chunk(struct iopt_pages *pages,
					 unsigned long chunk_no)
{
	return xa_load(&pages->chunks, chunk_no);
}

/**
 * struct iopt_run_cursor - position on one run of a pages object
 * @chunk: the chunk holding the run
 * @chunk_no: its number in &iopt_pages.chunks
 * @i: index of the run in @chunk
 * @index: page index of the first page of the run
 */
struct iopt_run_cursor {
	struct iopt_run_chunk *chunk;
	unsigned long chunk_no;
	unsigned int i;
	unsigned long index;
};

static u64 iopt_cursor_run(struct iopt_run_cursor *cur)
{
	return cur->chunk->runs[cur->i];
}

/* Move to the next run; false after the last one */
static bool iopt_cursor_next(struct iopt_pages *pages,
			     struct iopt_run_cursor *cur)
{
	cur->index += iopt_run_npages(iopt_cursor_run(cur));
	if (++cur->i != cur->chunk->nruns)
		return true;
	if (cur->chunk_no + 1 == pages->nchunks)
		return false;
	cur->chunk = iopt_chunk(pages, ++cur->chunk_no);
	cur->i = 0;
	return true;
}

/*
 * Put @cur on the run holding page @index (< npinned): binary search of
 * the last chunk starting at or before @index, then a walk of that chunk.
 */
static void iopt_cursor_seek(struct iopt_pages *pages,
			     struct iopt_run_cursor *cur, unsigned long index)
{
	unsigned long lo = 0, hi = pages->nchunks;

	/* Chunk 0 starts at index 0 */
	while (hi - lo > 1) {
		unsigned long mid = lo + (hi - lo) / 2;

		if (iopt_chunk(pages, mid)->first_index <= index)
			lo = mid;
		else
			hi = mid;
	}
	cur->chunk_no = lo;
	cur->chunk = iopt_chunk(pages, lo);
	cur->i = 0;
	cur->index = cur->chunk->first_index;
	while (index - cur->index >= iopt_run_npages(iopt_cursor_run(cur))) {
		cur->index += iopt_run_npages(iopt_cursor_run(cur));
		cur->i++;
	}
}

static unsigned long iopt_pin_batch_pages(struct iommufd_ctx *ictx)
{
	size_t bytes = IOPT_PIN_BATCH_BYTES;

#ifdef CONFIG_IOMMUFD_TEST
	size_t limit = READ_ONCE(ictx->test_memory_limit);

	/*
	 * The test limit only makes batches smaller: any opener of
	 * /dev/iommu sets it, and the page array of a batch is allocated
	 * whole, so it must stay within IOPT_PIN_BATCH_BYTES.
	 */
	if (limit && limit < bytes)
		bytes = limit;
#endif
	return max_t(size_t, bytes / sizeof(struct page *), 1);
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

static void iopt_unpin_run(u64 run, bool dirty)
{
	unpin_user_page_range_dirty_lock(pfn_to_page(iopt_run_pfn(run)),
					 iopt_run_npages(run), dirty);
}

/*
 * Unpin every pinned page and free the runs.  @dirty is false on the error
 * path of pinning: the memory was never reachable by a device.  Allocates
 * nothing.
 */
static void iopt_pages_unpin_all(struct iopt_pages *pages, bool dirty)
{
	struct iopt_run_chunk *chunk;
	unsigned long chunk_no;
	unsigned int i;

	xa_for_each(&pages->chunks, chunk_no, chunk) {
		for (i = 0; i != chunk->nruns; i++)
			iopt_unpin_run(chunk->runs[i], dirty);
		kfree(chunk);
		cond_resched();
	}
	xa_destroy(&pages->chunks);
	pages->nchunks = 0;
	pages->nruns = 0;
	pages->npinned = 0;
}

/*
 * Append one pinned page: extend the last run or start a new one.  @left
 * is the number of pages still to append, this one included: a new chunk
 * is sized for that many runs, up to a page, so that a small mapping gets
 * a small chunk.
 */
static int iopt_pages_add_pfn(struct iopt_pages *pages, unsigned long pfn,
			      unsigned long left)
{
	struct iopt_run_chunk *chunk = NULL;
	int rc;

	if (pfn >> IOPT_RUN_PFN_BITS)
		return -EOVERFLOW;

	if (pages->nchunks) {
		chunk = iopt_chunk(pages, pages->nchunks - 1);
		if (pages->last_run_pfn + pages->last_run_npages == pfn &&
		    pages->last_run_npages != IOPT_RUN_MAX_PAGES) {
			pages->last_run_npages++;
			chunk->runs[chunk->nruns - 1] =
				iopt_make_run(pages->last_run_pfn,
					      pages->last_run_npages);
			pages->npinned++;
			return 0;
		}
	}

	if (!chunk || chunk->nruns == chunk->capacity) {
		unsigned int capacity = min_t(unsigned long, left,
						IOPT_CHUNK_RUNS);

		chunk = kmalloc(struct_size(chunk, runs, capacity),
				GFP_KERNEL_ACCOUNT);
		if (!chunk)
			return -ENOMEM;
		chunk->first_index = pages->npinned;
		chunk->nruns = 0;
		chunk->capacity = capacity;
		rc = xa_err(xa_store(&pages->chunks, pages->nchunks, chunk,
				     GFP_KERNEL_ACCOUNT));
		if (rc) {
			kfree(chunk);
			return rc;
		}
		pages->nchunks++;
	}

	chunk->runs[chunk->nruns++] = iopt_make_run(pfn, 1);
	pages->last_run_pfn = pfn;
	pages->last_run_npages = 1;
	pages->nruns++;
	pages->npinned++;
	return 0;
}

/*
 * The last chunk was sized for the worst case, one run per page: give back
 * what contiguous memory left unused, when a smaller allocation exists.
 * Keeps the chunk as it is if the allocation fails.
 */
static void iopt_pages_trim_last_chunk(struct iopt_pages *pages)
{
	struct iopt_run_chunk *chunk, *trimmed;
	size_t size;

	chunk = iopt_chunk(pages, pages->nchunks - 1);
	size = struct_size(chunk, runs, chunk->nruns);
	if (kmalloc_size_roundup(size) >= ksize(chunk))
		return;
	trimmed = kmalloc(size, GFP_KERNEL_ACCOUNT);
	if (!trimmed)
		return;
	memcpy(trimmed, chunk, size);
	trimmed->capacity = chunk->nruns;
	/* Replacing an existing entry allocates nothing and cannot fail */
	xa_store(&pages->chunks, pages->nchunks - 1, trimmed, GFP_KERNEL);
	kfree(chunk);
}

/*
 * Pin the @npages pages starting at pages->uptr.  On failure nothing is
 * left pinned.  The caller has charged @npages.
 */
static int iopt_pages_pin(struct iopt_pages *pages, unsigned long npages,
			  unsigned long batch)
{
	unsigned int gup_flags = FOLL_LONGTERM | (pages->writable ? FOLL_WRITE : 0);
	struct page **page_list;
	int rc = 0;

	batch = min(batch, npages);
	page_list = kvmalloc_array(batch, sizeof(*page_list), GFP_KERNEL);
	if (!page_list)
		return -ENOMEM;

	while (pages->npinned != npages) {
		unsigned long addr = pages->uptr + pages->npinned * PAGE_SIZE;
		unsigned long n = min(batch, npages - pages->npinned);
		long i, got;

		if (fatal_signal_pending(current)) {
			rc = -EINTR;
			break;
		}
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
			rc = iopt_pages_add_pfn(pages,
						page_to_pfn(page_list[i]),
						npages - pages->npinned);
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
	iopt_pages_trim_last_chunk(pages);
	return 0;
}

/**
 * iopt_alloc_pages() - pin user memory of the current process
 * @ictx: the iommufd: its pin batch size in test builds
 * @uptr: first byte of the memory
 * @length: number of bytes, not 0
 * @writable: pin for writing (devices may write to the memory)
 * @account_mode: enum iommufd_account_mode to charge the memory with,
 *                normally the accounting mode of @ictx
 *
 * Charges and pins every page holding a byte of [@uptr, @uptr + @length).
 * Byte 0 of the returned object is the start of the page holding @uptr.
 *
 * Return: the pages object with one reference, or an ERR_PTR: -EINVAL,
 * -EOVERFLOW for a range wrapping around, -ENOMEM (allocation, or over
 * RLIMIT_MEMLOCK), -EINTR (fatal signal), -EFAULT and the other errors of
 * pin_user_pages_fast().  On error nothing stays pinned or charged.
 */
struct iopt_pages *iopt_alloc_pages(struct iommufd_ctx *ictx,
				    void __user *uptr, unsigned long length,
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
	xa_init(&pages->chunks);
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
	rc = iopt_pages_pin(pages, npages, iopt_pin_batch_pages(ictx));
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
 * Keep @pages pinned and charged forever: a domain failed to unmap some of
 * it, so a device may still reach the memory.  Freeing it would hand memory
 * the device can write to back to the page allocator.
 */
static void iopt_pages_leak(struct iopt_pages *pages)
{
	iopt_get_pages(pages);
	pr_err("iommufd: IOMMU driver failed to unmap; leaking %lu pinned pages\n",
	       pages->npinned);
}

/*
 * IOVA unmapped by one iommu_unmap() call, about (whole PFN runs): drivers
 * do not reschedule inside one (6.1's __iommu_unmap() loop, intel's
 * dma_pte_clear_range()), and an area can be a TiB of 4 KiB IOPTEs.
 */
#define IOPT_UNMAP_CHUNK SZ_1G

/*
 * Unmap [@iova, @iova + @length) of @domain, which maps the bytes from
 * @offset of @pages there (iopt_pages_map()), in pieces of at least
 * IOPT_UNMAP_CHUNK with a reschedule between them.  A piece never cuts an
 * IOPTE: pieces end where an iommu_map() call of iopt_pages_map() ended,
 * at the end of a PFN run.  A single physically contiguous run is
 * unmapped in one call, whatever its size; it is mapped with the largest
 * IOPTEs the domain has unless huge pages are disabled.  Never fails.
 */
static void iopt_pages_unmap(struct iopt_pages *pages, unsigned long offset,
			     struct iommu_domain *domain, unsigned long iova,
			     unsigned long length)
{
	unsigned long index = offset >> PAGE_SHIFT;
	unsigned long sub = offset & ~PAGE_MASK;
	unsigned long start = 0, done = 0;
	struct iopt_run_cursor cur;
	bool leaked = false;
	size_t unmapped;

	iopt_cursor_seek(pages, &cur, index);
	while (done != length) {
		u64 run = iopt_cursor_run(&cur);
		unsigned long run_end = cur.index + iopt_run_npages(run);
		unsigned long size = (run_end - index) * PAGE_SIZE - sub;

		size = min(size, length - done);
		done += size;

		sub += size;
		index += sub >> PAGE_SHIFT;
		sub &= ~PAGE_MASK;

		if (done - start >= IOPT_UNMAP_CHUNK || done == length) {
			unmapped = iommu_unmap(domain, iova + start,
					       done - start);
			/* Once: one reference keeps all the pages pinned */
			if (unlikely(unmapped != done - start) && !leaked) {
				WARN_ON(true);
				iopt_pages_leak(pages);
				leaked = true;
			}
			start = done;
			cond_resched();
		}
		if (index == run_end && done != length)
			iopt_cursor_next(pages, &cur);
	}
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
	struct iopt_run_cursor cur;
	unsigned long done = 0;
	int rc;

	if (WARN_ON(!length || index >= pages->npinned ||
		    length > (pages->npinned - index) * PAGE_SIZE - sub))
		return -EINVAL;

	iopt_cursor_seek(pages, &cur, index);
	while (done != length) {
		u64 run = iopt_cursor_run(&cur);
		unsigned long run_end = cur.index + iopt_run_npages(run);
		phys_addr_t paddr =
			PFN_PHYS(iopt_run_pfn(run) + (index - cur.index)) + sub;
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
		if (index == run_end && done != length)
			iopt_cursor_next(pages, &cur);
		cond_resched();
	}
	return 0;

err_unmap:
	if (done)
		iopt_pages_unmap(pages, offset, domain, iova, done);
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
 * Never fails.  A driver unmapping less than asked is a driver bug: it is
 * reported with a WARN and the area's pages are leaked, still pinned,
 * because the device may still reach them.
 */
void iopt_area_unfill_domain(struct iopt_area *area,
			     struct iommu_domain *domain)
{
	iopt_pages_unmap(area->pages, area->page_offset, domain,
			 iopt_area_iova(area), iopt_area_length(area));
}

/**
 * iopt_pages_fill_page_list() - the struct page of pinned pages
 * @pages: the pages object
 * @index: page index of the first page
 * @npages: number of pages, not 0; @index + @npages <= the pinned pages
 * @out: filled with @npages struct page pointers
 *
 * For an in-kernel access: the pages stay pinned as long as the caller
 * holds a reference on @pages, nothing is pinned or charged again.
 */
void iopt_pages_fill_page_list(struct iopt_pages *pages, unsigned long index,
			       unsigned long npages, struct page **out)
{
	struct iopt_run_cursor cur;
	unsigned long i;

	if (WARN_ON(!npages || index >= pages->npinned ||
		    npages > pages->npinned - index))
		return;

	iopt_cursor_seek(pages, &cur, index);
	for (i = 0; i != npages; i++, index++) {
		u64 run = iopt_cursor_run(&cur);

		if (index - cur.index == iopt_run_npages(run)) {
			iopt_cursor_next(pages, &cur);
			run = iopt_cursor_run(&cur);
		}
		out[i] = pfn_to_page(iopt_run_pfn(run) + (index - cur.index));
	}
}

/**
 * iopt_pages_rw() - copy to or from pinned memory
 * @pages: the pages object
 * @offset: byte offset in @pages of the first byte
 * @data: kernel buffer
 * @length: number of bytes, within the pinned pages
 * @write: copy @data into the memory, else the memory into @data
 *
 * Goes through kmap_local_page() of the pinned pages, so it needs no mm
 * and works from any process context, kthreads included.  Pages pinned
 * writable are marked dirty when they are unpinned.
 */
void iopt_pages_rw(struct iopt_pages *pages, unsigned long offset,
		   void *data, unsigned long length, bool write)
{
	unsigned long index = offset >> PAGE_SHIFT;
	unsigned long sub = offset & ~PAGE_MASK;
	struct iopt_run_cursor cur;

	if (WARN_ON(!length || index >= pages->npinned ||
		    length > (pages->npinned - index) * PAGE_SIZE - sub))
		return;

	iopt_cursor_seek(pages, &cur, index);
	while (length) {
		u64 run = iopt_cursor_run(&cur);
		unsigned long n = min(length, PAGE_SIZE - sub);
		struct page *page;
		void *va;

		if (index - cur.index == iopt_run_npages(run)) {
			iopt_cursor_next(pages, &cur);
			run = iopt_cursor_run(&cur);
		}
		page = pfn_to_page(iopt_run_pfn(run) + (index - cur.index));
		va = kmap_local_page(page);
		if (write)
			memcpy(va + sub, data, n);
		else
			memcpy(data, va + sub, n);
		kunmap_local(va);

		data += n;
		length -= n;
		sub = 0;
		index++;
		cond_resched();
	}
}

#ifdef CONFIG_IOMMUFD_TEST
/* Number of xa_nodes of @xa: each is counted at the first entry below it */
static unsigned long iopt_xa_nodes(struct xarray *xa)
{
	struct xa_node *seen[BITS_PER_LONG / XA_CHUNK_SHIFT + 1] = {};
	XA_STATE(xas, xa, 0);
	unsigned long n = 0;
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, ULONG_MAX) {
		struct xa_node *node = xas.xa_node;

		while (!xas_not_node(node)) {
			unsigned int level = node->shift / XA_CHUNK_SHIFT;

			if (seen[level] == node)
				break;
			seen[level] = node;
			n++;
			node = xa_parent(xa, node);
		}
	}
	rcu_read_unlock();
	return n;
}

/**
 * iopt_pages_metadata() - kernel memory used to describe a pages object
 * @pages: the pages object
 * @bytes: incremented by the bytes allocated for @pages: the structure,
 *         its run chunks and the xarray nodes holding them
 * @nruns: incremented by the number of PFN runs
 */
void iopt_pages_metadata(struct iopt_pages *pages, u64 *bytes, u64 *nruns)
{
	u64 sum = ksize(pages) +
		  iopt_xa_nodes(&pages->chunks) * sizeof(struct xa_node);
	struct iopt_run_chunk *chunk;
	unsigned long chunk_no;

	xa_for_each(&pages->chunks, chunk_no, chunk)
		sum += ksize(chunk);
	*bytes += sum;
	*nruns += pages->nruns;
}
#endif
