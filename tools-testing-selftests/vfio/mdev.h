/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for an mdev of the mtty sample (CONFIG_SAMPLE_VFIO_MDEV_MTTY,
 * built into the test kernel): create and remove it through sysfs, find
 * its IOMMU group and its device cdev, check that it works.  Used by
 * vfio_mdev_test and vfio_iommufd_fail_nth.
 *
 * Like edu.h, nothing here prints: every function returns 0 (or a number)
 * on success and a negative errno on failure.
 */
#ifndef __SELFTESTS_VFIO_MDEV_H
#define __SELFTESTS_VFIO_MDEV_H

#include <limits.h>
#include <sys/stat.h>

#include "edu.h"

#define MTTY_PARENT	"/sys/class/mdev_bus/mtty"
#define MTTY_TYPE	MTTY_PARENT "/mdev_supported_types/mtty-1"
#define MDEV_DEVICES	"/sys/bus/mdev/devices"
/* Vendor and device ID in mtty's config space */
#define MTTY_PCI_ID	0x32534348u
#define MTTY_BAR0_SIZE	8

/* Can mdevs of type mtty-1 be created? */
static inline bool mtty_available(void)
{
	struct stat st;

	return !stat(MTTY_TYPE, &st);
}

/* Create an mdev of type mtty-1 named @uuid through sysfs: 0 or -errno */
static inline int mtty_create(const char *uuid)
{
	return edu_sysfs_write(MTTY_TYPE "/create", uuid);
}

static inline int mtty_remove(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/remove", uuid);
	return edu_sysfs_write(path, "1");
}

/* The number of the IOMMU group of mdev @uuid, or -errno */
static inline int mtty_group(const char *uuid)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *name;
	ssize_t n;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/iommu_group", uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	name = strrchr(link, '/');
	return atoi(name ? name + 1 : link);
}

/*
 * Create the mtty mdev @uuid, after removing a stale mdev of that name
 * (the create would fail), and find its IOMMU group (*@group) and the path
 * of its cdev (@cdev, @cdev_len bytes).  0, or -errno; after an error
 * that follows the create, the mdev is removed again (the error of that
 * remove is not reported).
 */
static inline int mtty_create_mdev(const char *uuid, int *group, char *cdev,
				   size_t cdev_len)
{
	char dev[PATH_MAX];
	struct stat st;
	int ret;

	ret = edu_snprintf_ok(snprintf(dev, sizeof(dev), MDEV_DEVICES "/%s",
				       uuid), sizeof(dev));
	if (ret)
		return ret;
	if (!stat(dev, &st))
		mtty_remove(uuid);
	ret = mtty_create(uuid);
	if (ret)
		return ret;
	*group = mtty_group(uuid);
	ret = *group < 0 ? *group : edu_vfio_cdev_path(dev, cdev, cdev_len);
	if (ret)
		mtty_remove(uuid);
	return ret;
}

/* The device works: its info, and its PCI IDs read from config space */
static inline int mtty_check_device(int fd)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	__u32 id;

	if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info))
		return -errno;
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions != VFIO_PCI_NUM_REGIONS)
		return -EPROTO;

	reg.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg))
		return -errno;
	if (reg.size != MTTY_BAR0_SIZE)
		return -EPROTO;

	reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg))
		return -errno;
	if (pread(fd, &id, sizeof(id), reg.offset) != sizeof(id))
		return -errno;
	return id == MTTY_PCI_ID ? 0 : -EPROTO;
}

/*
 * A UUID for an mdev of this process: @tag (one per test program), the
 * pid and a random number, so that an mdev leaked by an earlier run cannot
 * collide with it.
 */
static inline void mtty_uuid(char *uuid, size_t len, unsigned int tag)
{
	unsigned int rnd = 0;
	int fd;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &rnd, sizeof(rnd)) != sizeof(rnd))
			rnd = 0;
		close(fd);
	}
	rnd ^= (unsigned int)time(NULL);
	snprintf(uuid, len, "%08x-6a3c-4f7e-9b1d-%04x%08x", tag,
		 rnd & 0xffff, (unsigned int)getpid());
}

#endif /* __SELFTESTS_VFIO_MDEV_H */
