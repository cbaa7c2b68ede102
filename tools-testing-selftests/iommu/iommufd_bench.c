// SPDX-License-Identifier: GPL-2.0-only
/*
 * Time IOMMU_IOAS_MAP and IOMMU_IOAS_UNMAP of 256 MiB through one mock
 * domain, backed by 4 KiB pages of shared memory (touched in address
 * order, which often gives physically contiguous pages, and backwards,
 * which gives none) and by 2 MiB transparent huge pages, and measure the
 * kernel memory that describes the pinned memory, per GiB mapped.  A
 * benchmark, not a test: it exits 0 unless a call fails.
 *
 * The memory is measured twice for a map into an IOAS without a domain
 * (a mock domain's own bookkeeping would count otherwise):
 *  - exactly, by IOMMU_TEST_OP_IOAS_METADATA: the bytes allocated for the
 *    areas, the pages objects, their PFN run chunks and xarray nodes;
 *  - as a cross-check, by the change of SUnreclaim in /proc/meminfo
 *    between the mapped and the unmapped state, the median of
 *    MEMINFO_REPS maps (the run chunks are kmalloc'ed, so unreclaimable
 *    slab; the xarray nodes are reclaimable and not in it); it is noisy
 *    by some tens of KiB (per-CPU slab caches, KASAN's own metadata,
 *    whatever else the system does), so it only confirms the exact
 *    figure when the metadata is large (4K pages without contiguity).
 *
 * Usage: iommufd_bench [repetitions]   (default 3)
 */
#include <time.h>

#include "iommufd_utils.h"

#define BENCH_SIZE (256UL << 20)
#define BENCH_IOVA MOCK_APERTURE_START
#define MEMINFO_REPS 5
/* Scale a byte count measured for BENCH_SIZE to KiB per GiB mapped */
#define PER_GIB_KB(bytes) ((double)(bytes) * (1UL << 30) / BENCH_SIZE / 1024)

static long meminfo_kb(const char *key)
{
	return file_status_kb("/proc/meminfo", key);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1000000.0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/*
 * Map @buf into a new IOAS without a domain and report the memory that
 * describes it.  Returns -1 if a call fails.
 */
static int measure_metadata(int fd, const char *name, char *buf)
{
	long delta[MEMINFO_REPS], mapped, unmapped;
	struct iommu_test_cmd md = {};
	__u64 iova, len;
	__u32 ioas_id;
	int i, rc = -1;

	if (_test_ioctl_ioas_alloc(fd, &ioas_id)) {
		perror("IOMMU_IOAS_ALLOC");
		return -1;
	}
	for (i = 0; i != MEMINFO_REPS; i++) {
		iova = BENCH_IOVA;
		if (_test_ioctl_ioas_map(fd, ioas_id, buf, BENCH_SIZE, &iova,
					 IOMMU_IOAS_MAP_FIXED_IOVA |
					 IOMMU_IOAS_MAP_RW)) {
			perror("IOMMU_IOAS_MAP");
			goto out_destroy;
		}
		mapped = meminfo_kb("SUnreclaim");
		if (!i && _test_cmd_ioas_metadata(fd, ioas_id, &md))
			perror("IOMMU_TEST_OP_IOAS_METADATA");
		if (_test_ioctl_ioas_unmap(fd, ioas_id, BENCH_IOVA, BENCH_SIZE,
					   &len) || len != BENCH_SIZE) {
			perror("IOMMU_IOAS_UNMAP");
			goto out_destroy;
		}
		unmapped = meminfo_kb("SUnreclaim");
		delta[i] = mapped - unmapped;
	}
	qsort(delta, MEMINFO_REPS, sizeof(delta[0]), cmp_long);

	printf("bench: %s pages: metadata: %llu runs for %lu pages, ", name,
	       (unsigned long long)md.metadata.out_runs,
	       BENCH_SIZE / PAGE_SIZE);
	if (md.metadata.out_areas)
		printf("exact %.1f KiB per GiB mapped, ",
		       PER_GIB_KB(md.metadata.out_bytes));
	else
		printf("exact n/a, ");
	printf("meminfo SUnreclaim %+.0f KiB per GiB (median of %d)\n",
	       PER_GIB_KB(delta[MEMINFO_REPS / 2] * 1024.0), MEMINFO_REPS);
	rc = 0;

out_destroy:
	_test_ioctl_destroy(fd, ioas_id);
	return rc;
}

/*
 * 4 KiB pages: shared anonymous memory, which is never made of transparent
 * huge pages (madvise(MADV_NOHUGEPAGE) may not even exist), touched in
 * address order or, @backwards, from the last page down: consecutive
 * addresses then get descending page frames, the worst case for runs of
 * contiguous pages.
 */
static void *alloc_small_pages(size_t size, bool backwards, void **base)
{
	size_t i, n = size / PAGE_SIZE;
	char *addr;

	addr = mmap(NULL, size + HUGEPAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return NULL;
	for (i = 0; i != n; i++)
		addr[(backwards ? n - 1 - i : i) * PAGE_SIZE] = 1;
	*base = addr;
	return addr;
}

static int run_bench(int fd, const char *name, bool huge, bool backwards,
		     int reps)
{
	unsigned long pages = BENCH_SIZE / PAGE_SIZE;
	double t, map_ms = 0, unmap_ms = 0;
	long pin_before, pin_mapped = 0, pinned;
	__u64 max_map = 0, iova, len;
	__u32 ioas_id, stdev_id, hwpt_id;
	void *base;
	char *buf;
	int i;

	if (huge)
		buf = alloc_aligned_buffer(BENCH_SIZE, true, &base);
	else
		buf = alloc_small_pages(BENCH_SIZE, backwards, &base);
	if (!buf) {
		perror("mmap");
		return -1;
	}
	if (_test_ioctl_ioas_alloc(fd, &ioas_id) ||
	    _test_cmd_mock_domain(fd, ioas_id, &stdev_id, &hwpt_id, NULL)) {
		perror("IOMMU_IOAS_ALLOC/IOMMU_TEST_OP_MOCK_DOMAIN");
		goto err_unmap;
	}

	pin_before = vm_pinned_kb();
	for (i = 0; i != reps; i++) {
		iova = BENCH_IOVA;
		t = now_ms();
		if (_test_ioctl_ioas_map(fd, ioas_id, buf, BENCH_SIZE, &iova,
					 IOMMU_IOAS_MAP_FIXED_IOVA |
					 IOMMU_IOAS_MAP_RW)) {
			perror("IOMMU_IOAS_MAP");
			goto err_destroy;
		}
		map_ms += now_ms() - t;

		if (!i) {
			pin_mapped = vm_pinned_kb();
			if (_test_cmd_check_map(fd, hwpt_id, BENCH_IOVA, buf,
						HUGEPAGE_SIZE, &max_map)) {
				perror("IOMMU_TEST_OP_MD_CHECK_MAP");
				goto err_destroy;
			}
		}

		t = now_ms();
		if (_test_ioctl_ioas_unmap(fd, ioas_id, BENCH_IOVA, BENCH_SIZE,
					   &len) || len != BENCH_SIZE) {
			perror("IOMMU_IOAS_UNMAP");
			goto err_destroy;
		}
		unmap_ms += now_ms() - t;
	}
	map_ms /= reps;
	unmap_ms /= reps;

	pinned = (pin_mapped - pin_before) / (long)(PAGE_SIZE / 1024);
	printf("bench: %s pages: map %lu pages in %.1f ms (%.0f pages/s), ",
	       name, pages, map_ms, pages * 1000.0 / map_ms);
	printf("unmap in %.1f ms (%.0f pages/s), ",
	       unmap_ms, pages * 1000.0 / unmap_ms);
	printf("pinned %ld pages (VmPin %ld/%ld kB)",
	       pinned, pin_before, pin_mapped);
	if (huge)
		printf(", largest map %llu bytes: THP %s",
		       (unsigned long long)max_map,
		       max_map >= HUGEPAGE_SIZE ? "used" : "NOT used");
	printf("\n");

	_test_ioctl_destroy(fd, stdev_id);
	_test_ioctl_destroy(fd, ioas_id);
	if (measure_metadata(fd, name, buf))
		goto err_unmap;
	munmap(base, BENCH_SIZE + HUGEPAGE_SIZE);
	return 0;

err_destroy:
	_test_ioctl_destroy(fd, stdev_id);
	_test_ioctl_destroy(fd, ioas_id);
err_unmap:
	munmap(base, BENCH_SIZE + HUGEPAGE_SIZE);
	return -1;
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 3;
	int fd, rc;

	if (reps < 1)
		reps = 1;
	fd = iommufd_open();
	if (fd < 0) {
		perror("open /dev/iommu");
		return 1;
	}
	rc = run_bench(fd, "4K", false, false, reps);
	if (!rc)
		rc = run_bench(fd, "4K-backwards", false, true, reps);
	if (!rc)
		rc = run_bench(fd, "2M", true, false, reps);
	close(fd);
	return rc ? 1 : 0;
}
