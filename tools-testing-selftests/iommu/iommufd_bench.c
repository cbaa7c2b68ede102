// SPDX-License-Identifier: GPL-2.0-only
/*
 * Time IOMMU_IOAS_MAP and IOMMU_IOAS_UNMAP of 256 MiB through one mock
 * domain, backed once by 4 KiB pages and once by 2 MiB transparent huge
 * pages.  A benchmark, not a test: it exits 0 unless a call fails.
 *
 * Usage: iommufd_bench [repetitions]   (default 3)
 */
#include <time.h>

#include "iommufd_utils.h"

#define BENCH_SIZE (256UL << 20)
#define BENCH_IOVA MOCK_APERTURE_START

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1000000.0;
}

static int run_bench(int fd, const char *name, bool huge, int reps)
{
	unsigned long pages = BENCH_SIZE / PAGE_SIZE;
	double t, map_ms = 0, unmap_ms = 0;
	long pin_before, pin_mapped = 0, pinned;
	__u64 max_map = 0, iova, len;
	__u32 ioas_id, stdev_id, hwpt_id;
	void *base;
	char *buf;
	int i;

	buf = alloc_aligned_buffer(BENCH_SIZE, huge, &base);
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
	rc = run_bench(fd, "4K", false, reps);
	if (!rc)
		rc = run_bench(fd, "2M", true, reps);
	close(fd);
	return rc ? 1 : 0;
}
