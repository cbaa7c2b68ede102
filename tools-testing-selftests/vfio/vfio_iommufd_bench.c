// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfio_iommufd_bench: time MAP + UNMAP of one large buffer into the real
 * IOMMU domain of an edu device, through the VFIO type1 container and
 * through the device cdev with an iommufd IOAS, in alternating rounds, with
 * 4 KiB pages and with transparent huge pages.  Not a test: it prints
 * figures, one per line, and fails only when a mode cannot be set up.
 *
 *   vfio_iommufd_bench [size_MiB [rounds]]	(default 256 MiB, 3 rounds)
 *
 * The edu must be alone in its IOMMU group; it is given back its driver at
 * the end.  When /dev/vfio/vfio is provided by iommufd the "type1" figures
 * are those of iommufd's container emulation (the output says so).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "edu.h"

#define BENCH_IOVA	0x40000000ULL	/* 1 GiB: any page-aligned IOVA */
#define HPAGE		(2UL << 20)
#define MAX_ROUNDS	64

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Anonymous memory, touched, on 4 KiB pages or on THP. */
static void *get_buffer(size_t len, bool thp, void **base, size_t *base_len)
{
	size_t i, ps = sysconf(_SC_PAGESIZE);
	__u8 *p;

	*base_len = len + (thp ? HPAGE : 0);
	*base = mmap(NULL, *base_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*base == MAP_FAILED)
		return NULL;
	p = *base;
	if (thp)
		p = (__u8 *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
	madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < len; i += ps)
		p[i] = 1;
	return p;
}

/* kB of AnonHugePages of this process. */
static long anon_huge_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * One round in @mode: set up, time MAP and UNMAP of @len bytes at @buf,
 * tear down.  Returns 0 or a negative errno.
 */
static int one_round(const struct edu_pci *pci, enum edu_mode mode, void *buf,
		     size_t len, double *map_ms, double *unmap_ms)
{
	struct edu_dev dev = { .device_fd = -1 };
	struct edu_vfio v;
	__u64 unmapped;
	double t0, t1, t2;
	int ret;

	edu_vfio_init(&v, mode, pci->group);
	ret = edu_vfio_setup(&v);
	/* The domain gets the device before the mapping, in both modes. */
	if (!ret)
		ret = edu_vfio_open_dev(&v, &dev, pci->bdf, NULL);
	if (ret)
		goto out;
	t0 = now_ms();
	ret = edu_vfio_map(&v, buf, BENCH_IOVA, len);
	t1 = now_ms();
	if (ret)
		goto out;
	ret = edu_vfio_unmap(&v, BENCH_IOVA, len, &unmapped);
	t2 = now_ms();
	if (!ret && unmapped != len)
		ret = -EIO;
	*map_ms = t1 - t0;
	*unmap_ms = t2 - t1;
out:
	edu_dev_close(&dev);
	edu_vfio_close(&v);
	return ret;
}

int main(int argc, char **argv)
{
	static const enum edu_mode modes[2] = { EDU_MODE_TYPE1, EDU_MODE_CDEV };
	static const char *const tag[2] = { "type1", "iommufd" };
	double map[2][MAX_ROUNDS], unmap[2][MAX_ROUNDS], sum[2][MAX_ROUNDS];
	struct edu_pci edus[16], *pci = NULL;
	struct edu_drv_state state;
	long mib = 256, rounds = 3;
	int i, n, r, k, m, ret, rc = 0;
	size_t len, base_len;
	void *base, *buf;
	bool ok[2] = { true, true };
	double med[2];
	bool thp;

	if (argc > 1)
		mib = strtol(argv[1], NULL, 0);
	if (argc > 2)
		rounds = strtol(argv[2], NULL, 0);
	if (mib < 1 || mib > 4096 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [size_MiB (1-4096) [rounds (1-%d)]]\n",
			argv[0], MAX_ROUNDS);
		return 2;
	}
	len = (size_t)mib << 20;

	n = edu_find_all(edus, 16);
	for (i = 0; i < n && !pci; i++)
		if (edus[i].group_devs == 1)
			pci = &edus[i];
	if (!pci) {
		fprintf(stderr, "vfio_bench: no edu device alone in its IOMMU group\n");
		return 1;
	}
	ret = edu_save_state(pci->bdf, &state);
	if (!ret)
		ret = edu_bind_vfio(pci->bdf);
	if (ret) {
		fprintf(stderr, "vfio_bench: %s: %s\n", pci->bdf, strerror(-ret));
		return 1;
	}
	printf("vfio_bench: edu %s, %ld MiB, %ld rounds, alternating; /dev/vfio/vfio is %s\n",
	       pci->bdf, mib, rounds,
	       edu_dev_vfio_is_iommufd() ? "iommufd" : "the VFIO container");

	for (k = 0; k < 2 && (ok[0] || ok[1]); k++) {
		thp = k;
		buf = get_buffer(len, thp, &base, &base_len);
		if (!buf) {
			perror("mmap");
			rc = 1;
			break;
		}
		if (thp)
			printf("vfio_bench: THP backing: AnonHugePages %ld kB of %zu kB\n",
			       anon_huge_kb(), len >> 10);
		for (r = 0; r < rounds; r++) {
			for (i = 0; i < 2; i++) {
				/* Alternate which mode goes first. */
				m = (r & 1) ? 1 - i : i;
				if (!ok[m])
					continue;
				ret = one_round(pci, modes[m], buf, len,
						&map[m][r], &unmap[m][r]);
				if (ret) {
					printf("vfio_bench: %s unavailable: %s\n",
					       edu_mode_name(modes[m]),
					       strerror(-ret));
					ok[m] = false;
					rc = 1;
					continue;
				}
				sum[m][r] = map[m][r] + unmap[m][r];
			}
		}
		munmap(base, base_len);
		for (m = 0; m < 2; m++) {
			if (!ok[m])
				continue;
			med[m] = median(sum[m], rounds);
			printf("vfio_bench: %s %s map %.1f ms unmap %.1f ms",
			       tag[m], thp ? "THP" : "4K",
			       median(map[m], rounds), median(unmap[m], rounds));
			printf(" map+unmap %.1f ms (median of %ld)\n", med[m],
			       rounds);
		}
		if (ok[0] && ok[1])
			printf("vfio_bench: ratio iommufd/type1 %s %.2f\n",
			       thp ? "THP" : "4K", med[1] / med[0]);
	}

	ret = edu_restore_state(&state);
	if (ret) {
		fprintf(stderr, "vfio_bench: cannot give %s back: %s\n",
			pci->bdf, strerror(-ret));
		rc = 1;
	}
	return rc;
}
