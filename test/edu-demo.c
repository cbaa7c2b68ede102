// SPDX-License-Identifier: GPL-2.0-only
/*
 * edu-demo: one DMA round trip through QEMU's "edu" PCI device, driven from
 * user space through the VFIO device cdev and iommufd.
 *
 * It binds the edu device that is alone in its IOMMU group to vfio-pci,
 * opens its cdev /dev/vfio/devices/vfioN, binds it to an iommufd, attaches
 * it to a new IOAS, maps one page of its own memory there, lets the device
 * copy 64 bytes from that page into its internal buffer and back into the
 * second half of the page, compares the two, and gives the device back.
 * With "--type1" it does the same through the legacy type1 container.
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

int main(int argc, char **argv)
{
	enum edu_mode mode = EDU_MODE_CDEV;
	struct edu_dev dev = { .device_fd = -1 };
	struct edu_pci edus[16], *edu = NULL;
	struct edu_drv_state state;
	unsigned char *mem;
	struct edu_vfio v;
	char cdev[64];
	__u32 dev_id;
	int i, n, ret, rc = 1;

	if (argc > 1 && !strcmp(argv[1], "--type1"))
		mode = EDU_MODE_TYPE1;

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

	ret = edu_save_state(edu->bdf, &state);
	if (ret)
		return fail("reading the driver of the edu", ret);
	ret = edu_bind_vfio(edu->bdf);
	if (ret)
		return fail("binding to vfio-pci", ret);
	printf("edu %s in IOMMU group %d, bound to vfio-pci\n", edu->bdf,
	       edu->group);

	edu_vfio_init(&v, mode, edu->group);
	ret = edu_vfio_setup(&v);
	if (ret) {
		fail(mode == EDU_MODE_CDEV ? "opening /dev/iommu and allocating an IOAS" :
		     "attaching the group to a type1 container", ret);
		goto out;
	}
	if (mode == EDU_MODE_CDEV)
		printf("opened /dev/iommu, allocated IOAS %u\n", v.ioas_id);
	else
		printf("group %d attached to a VFIO type1v2 container\n",
		       edu->group);

	ret = edu_vfio_open_dev(&v, &dev, edu->bdf, &dev_id);
	if (ret) {
		fail("opening the device", ret);
		goto out;
	}
	if (mode == EDU_MODE_CDEV && !edu_cdev_path(edu->bdf, cdev, sizeof(cdev)))
		printf("opened %s, bound it to the iommufd (device ID %u) and attached it to IOAS %u\n",
		       cdev, dev_id, v.ioas_id);
	ret = edu_enable(&dev);
	if (ret) {
		fail("enabling bus mastering", ret);
		goto out;
	}
	printf("BAR0 is %llu KiB, bus mastering enabled\n", dev.bar0_size >> 10);

	mem = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fail("mmap", -errno);
		goto out;
	}
	ret = edu_vfio_map(&v, mem, IOVA, MAP_SIZE);
	if (ret) {
		fail(mode == EDU_MODE_CDEV ? "IOMMU_IOAS_MAP" : "VFIO_IOMMU_MAP_DMA", ret);
		goto out;
	}
	printf("mapped %d bytes of user memory at IOVA 0x%llx (%s)\n", MAP_SIZE,
	       IOVA, mode == EDU_MODE_CDEV ? "IOMMU_IOAS_MAP" : "VFIO_IOMMU_MAP_DMA");

	for (i = 0; i < LEN; i++)
		mem[i] = 0xa0 + i;
	memset(mem + BACK_OFF, 0, LEN);

	ret = edu_dma(&dev, IOVA, EDU_BUF_ADDR, LEN, false);
	if (ret) {
		fail("DMA RAM -> device", ret);
		goto out;
	}
	printf("DMA RAM -> device: %d bytes from IOVA 0x%llx to device buffer 0x%llx\n",
	       LEN, IOVA, EDU_BUF_ADDR);
	ret = edu_dma(&dev, EDU_BUF_ADDR, IOVA + BACK_OFF, LEN, true);
	if (ret) {
		fail("DMA device -> RAM", ret);
		goto out;
	}
	printf("DMA device -> RAM: %d bytes from device buffer 0x%llx to IOVA 0x%llx\n",
	       LEN, EDU_BUF_ADDR, IOVA + BACK_OFF);

	hexdump("sent:", mem);
	hexdump("received:", mem + BACK_OFF);
	if (memcmp(mem, mem + BACK_OFF, LEN)) {
		fprintf(stderr, "edu-demo: the data that came back differs\n");
		goto out;
	}
	edu_vfio_unmap(&v, IOVA, MAP_SIZE, NULL);
	printf("round trip OK\n");
	rc = 0;
out:
	edu_dev_close(&dev);
	edu_vfio_close(&v);
	ret = edu_restore_state(&state);
	if (ret)
		rc = fail("giving the edu back", ret);
	else
		printf("closed everything; %s is back on %s\n", edu->bdf,
		       state.drv[0] ? state.drv : "no driver");
	return rc;
}
