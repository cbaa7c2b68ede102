// SPDX-License-Identifier: GPL-2.0-only
/*
 * edu-demo: one DMA round trip through QEMU's "edu" PCI device, driven from
 * user space with VFIO and a type1 IOMMU container.
 *
 * It binds the edu device that is alone in its IOMMU group to vfio-pci,
 * maps one page of its own memory for the device, lets the device copy
 * 64 bytes from that page into its internal buffer and back into the
 * second half of the page, and compares the two.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "edu.h"

#define IOVA		0x100000ULL
#define MAP_SIZE	4096
#define LEN		64
#define BACK_OFF	(MAP_SIZE / 2)	/* where the data comes back */

static int fail(const char *what, int err)
{
	fprintf(stderr, "edu-demo: %s: %s\n", what, strerror(-err));
	return 1;
}

static void hexdump(const char *label, const unsigned char *p)
{
	int i;

	printf("  %-9s", label);
	for (i = 0; i < 32; i++)
		printf(" %02x", p[i]);
	printf("\n");
}

int main(void)
{
	struct edu_pci edus[16];
	struct edu_pci *edu = NULL;
	int container, group, i, n, ret;
	struct edu_dev dev;
	unsigned char *mem;

	n = edu_find_all(edus, 16);
	if (n < 0)
		return fail("scanning /sys/bus/pci", n);
	for (i = 0; i < n && !edu; i++)
		if (edus[i].group_devs == 1)
			edu = &edus[i];
	if (!edu) {
		fprintf(stderr, "edu-demo: no edu device alone in its IOMMU group\n");
		return 1;
	}

	ret = edu_bind_vfio(edu->bdf);
	if (ret)
		return fail("binding to vfio-pci", ret);
	printf("edu %s in IOMMU group %d, bound to vfio-pci\n", edu->bdf,
	       edu->group);

	ret = edu_vfio_open(edu->group, &container, &group);
	if (ret)
		return fail("opening /dev/vfio", ret);
	ret = edu_vfio_attach(container, group);
	if (ret)
		return fail("attaching the group to a type1 container", ret);
	printf("group %d is viable and attached to a VFIO type1v2 container\n",
	       edu->group);

	ret = edu_dev_open(&dev, group, edu->bdf);
	if (ret)
		return fail("getting the device fd", ret);
	ret = edu_enable(&dev);
	if (ret)
		return fail("enabling bus mastering", ret);
	printf("opened the device: BAR0 is %llu KiB, bus mastering enabled\n",
	       dev.bar0_size >> 10);

	mem = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap", -errno);
	ret = edu_map(container, mem, IOVA, MAP_SIZE);
	if (ret)
		return fail("VFIO_IOMMU_MAP_DMA", ret);
	printf("mapped %d bytes of user memory at IOVA 0x%llx\n", MAP_SIZE,
	       IOVA);

	for (i = 0; i < LEN; i++)
		mem[i] = 0xa0 + i;
	memset(mem + BACK_OFF, 0, LEN);

	ret = edu_dma(&dev, IOVA, EDU_BUF_ADDR, LEN, false);
	if (ret)
		return fail("DMA RAM -> device", ret);
	printf("DMA RAM -> device: %d bytes from IOVA 0x%llx to device buffer 0x%llx\n",
	       LEN, IOVA, EDU_BUF_ADDR);

	ret = edu_dma(&dev, EDU_BUF_ADDR, IOVA + BACK_OFF, LEN, true);
	if (ret)
		return fail("DMA device -> RAM", ret);
	printf("DMA device -> RAM: %d bytes from device buffer 0x%llx to IOVA 0x%llx\n",
	       LEN, EDU_BUF_ADDR, IOVA + BACK_OFF);

	hexdump("sent:", mem);
	hexdump("received:", mem + BACK_OFF);

	ret = memcmp(mem, mem + BACK_OFF, LEN);
	edu_unmap(container, IOVA, MAP_SIZE, NULL);
	edu_dev_close(&dev);
	close(group);
	close(container);
	if (ret) {
		fprintf(stderr, "edu-demo: the data that came back differs\n");
		return 1;
	}
	printf("round trip OK\n");
	return 0;
}
