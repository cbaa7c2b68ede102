/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for driving QEMU's "edu" PCI device (1234:11e8) from user space
 * through VFIO.  Used by the VFIO kselftests and by the edu demo program.
 *
 * Nothing here prints: every function returns 0 (or a count) on success and
 * a negative errno on failure, so that the caller decides what to report.
 *
 * Device facts (QEMU 7.2, hw/misc/edu.c):
 *  - BAR0 is 1 MiB of MMIO; offsets below 0x80 only take 4-byte accesses.
 *  - The DMA engine copies between guest (here: IOVA) memory and a 4 KiB
 *    buffer that lives at device-side address 0x40000.  QEMU 7.2 aborts the
 *    whole VM for a buffer range it does not like, and its range check is
 *    off by one, so a transfer must stay within [0x40000, 0x40fff]
 *    (at most 4095 bytes).
 *  - The RAM-side address is masked with the device's 28-bit DMA mask, so
 *    IOVAs must stay below 256 MiB.
 * edu_dma() refuses anything outside these limits before touching the
 * device.
 *
 * Linux 6.1 vfio-pci splits an 8-byte read()/write() of a BAR into two
 * 4-byte accesses; edu ignores the upper half (offset + 4) of its 64-bit
 * registers, so only 4-byte accessors are provided.  All addresses that
 * edu_dma() accepts fit in 32 bits.
 */
#ifndef __SELFTESTS_VFIO_EDU_H
#define __SELFTESTS_VFIO_EDU_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include <linux/pci_regs.h>
#include <linux/types.h>
#include <linux/vfio.h>

#define EDU_VENDOR_ID		0x1234
#define EDU_DEVICE_ID		0x11e8

#define EDU_REG_ID		0x00
#define EDU_REG_LIVENESS	0x04
#define EDU_REG_STATUS		0x20
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_COUNT	0x90
#define EDU_REG_DMA_CMD		0x98

#define EDU_ID_VALUE		0x010000ed
#define EDU_BAR0_SIZE		0x100000ULL	/* 1 MiB */

#define EDU_DMA_CMD_START	0x1	/* cleared by the device when done */
#define EDU_DMA_CMD_TO_RAM	0x2	/* 0: RAM -> buffer, 1: buffer -> RAM */
#define EDU_DMA_CMD_IRQ		0x4

#define EDU_BUF_ADDR		0x40000ULL	/* device-side buffer address */
#define EDU_BUF_LAST		0x40fffULL	/* addr + count must not exceed */
#define EDU_DMA_MAX		(EDU_BUF_LAST - EDU_BUF_ADDR)	/* 4095 */
#define EDU_DMA_MASK		((1ULL << 28) - 1)
#define EDU_DMA_TIMEOUT_MS	5000

#define EDU_BDF_LEN		32
#define EDU_DRV_LEN		64
#define EDU_SYSFS_PCI		"/sys/bus/pci"
#define EDU_PCI_BASE_CLASS_BRIDGE 0x06	/* not in the uapi headers */

/* One edu function found in sysfs. */
struct edu_pci {
	char bdf[EDU_BDF_LEN];	/* e.g. "0000:00:03.0" */
	int group;		/* IOMMU group number */
	int group_devs;		/* PCI functions in that group, edu or not */
	int group_edus;		/* edu functions in that group */
};

/* An edu function opened through VFIO. */
struct edu_dev {
	int device_fd;
	off_t bar0;		/* offset of the BAR0 region in device_fd */
	__u64 bar0_size;
	off_t cfg;		/* offset of the config space region */
};

/* ---- sysfs ------------------------------------------------------------ */

static inline int edu_sysfs_write(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	close(fd);
	return ret;
}

static inline int edu_sysfs_read_ulong(const char *bdf, const char *attr,
				       unsigned long *val)
{
	char path[256], buf[32];
	ssize_t n;
	int fd, err;

	*val = 0;
	if (snprintf(path, sizeof(path), EDU_SYSFS_PCI "/devices/%s/%s", bdf,
		     attr) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	err = n < 0 ? -errno : -EIO;
	close(fd);
	if (n <= 0)
		return err;
	buf[n] = '\0';
	*val = strtoul(buf, NULL, 0);
	return 0;
}

/* Last path component of a sysfs symlink of @bdf, e.g. "driver". */
static inline int edu_sysfs_link_name(const char *bdf, const char *link,
				      char *name, size_t len)
{
	char path[256], target[256];
	const char *base;
	ssize_t n;

	if (snprintf(path, sizeof(path), EDU_SYSFS_PCI "/devices/%s/%s", bdf,
		     link) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(name, base);
	return 0;
}

/* IOMMU group number of @bdf, or a negative errno. */
static inline int edu_iommu_group(const char *bdf)
{
	char name[32];
	int ret;

	ret = edu_sysfs_link_name(bdf, "iommu_group", name, sizeof(name));
	if (ret)
		return ret;
	return atoi(name);
}

/* Name of the driver bound to @bdf; "" (and 0) when none is bound. */
static inline int edu_driver(const char *bdf, char *name, size_t len)
{
	int ret;

	ret = edu_sysfs_link_name(bdf, "driver", name, len);
	if (ret == -ENOENT && len) {
		name[0] = '\0';
		return 0;
	}
	return ret;
}

static inline bool edu_is_edu(const char *bdf)
{
	unsigned long vendor, device;

	return !edu_sysfs_read_ulong(bdf, "vendor", &vendor) &&
	       !edu_sysfs_read_ulong(bdf, "device", &device) &&
	       vendor == EDU_VENDOR_ID && device == EDU_DEVICE_ID;
}

static inline bool edu_is_bridge(const char *bdf)
{
	unsigned long class;

	return !edu_sysfs_read_ulong(bdf, "class", &class) &&
	       (class >> 16) == EDU_PCI_BASE_CLASS_BRIDGE;
}

static inline int edu_cmp_bdf(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * Fill @bdfs with the PCI functions of IOMMU group @group, sorted.
 * Returns the number of functions (at most @max) or a negative errno.
 */
static inline int edu_group_devices(int group, char (*bdfs)[EDU_BDF_LEN],
				    int max)
{
	struct dirent *de;
	char path[64];
	DIR *dir;
	int n = 0;

	if (snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices",
		     group) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= EDU_BDF_LEN)
			continue;
		strcpy(bdfs[n++], de->d_name);
	}
	closedir(dir);
	qsort(bdfs, n, EDU_BDF_LEN, edu_cmp_bdf);
	return n;
}

/*
 * Read /sys/kernel/iommu_groups/@group/dma_owner ("none", "kernel <n>" or
 * "user <n>") into @buf, without the trailing newline.  Returns -ENOENT
 * when the kernel has no such attribute, -EOVERFLOW when @buf is too small.
 */
static inline int edu_group_dma_owner(int group, char *buf, size_t len)
{
	char path[64], tmp[64];
	ssize_t n;
	int fd, err;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	if (snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/dma_owner",
		     group) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, tmp, sizeof(tmp) - 1);
	err = n < 0 ? -errno : -EIO;
	close(fd);
	if (n <= 0)
		return err;
	tmp[n] = '\0';
	tmp[strcspn(tmp, "\n")] = '\0';
	if (strlen(tmp) >= len)
		return -EOVERFLOW;
	strcpy(buf, tmp);
	return 0;
}

/*
 * Find all edu functions that have an IOMMU group.  Fills up to @max
 * entries of @out sorted by BDF and returns how many were found, or a
 * negative errno.
 */
static inline int edu_find_all(struct edu_pci *out, int max)
{
	char members[64][EDU_BDF_LEN];
	struct edu_pci *e;
	struct dirent *de;
	int i, j, n = 0;
	DIR *dir;

	dir = opendir(EDU_SYSFS_PCI "/devices");
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= EDU_BDF_LEN ||
		    !edu_is_edu(de->d_name))
			continue;
		e = &out[n];
		strcpy(e->bdf, de->d_name);
		e->group = edu_iommu_group(e->bdf);
		if (e->group < 0)
			continue;
		n++;
	}
	closedir(dir);
	qsort(out, n, sizeof(*out), edu_cmp_bdf);

	for (i = 0; i < n; i++) {
		e = &out[i];
		e->group_devs = edu_group_devices(e->group, members, 64);
		if (e->group_devs < 0)
			return e->group_devs;
		e->group_edus = 0;
		for (j = 0; j < n; j++)
			e->group_edus += out[j].group == e->group;
	}
	return n;
}

/* Detach @bdf from its driver, if it has one. */
static inline int edu_unbind(const char *bdf)
{
	char path[256], drv[EDU_DRV_LEN];
	int ret;

	ret = edu_driver(bdf, drv, sizeof(drv));
	if (ret || !drv[0])
		return ret;
	if (snprintf(path, sizeof(path),
		     EDU_SYSFS_PCI "/devices/%s/driver/unbind", bdf) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	return edu_sysfs_write(path, bdf);
}

/* Bind @bdf to driver @drv (e.g. to restore its original kernel driver). */
static inline int edu_bind_driver(const char *bdf, const char *drv)
{
	char path[256], cur[EDU_DRV_LEN];
	int ret;

	if (snprintf(path, sizeof(path), EDU_SYSFS_PCI "/drivers/%s/bind",
		     drv) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = edu_sysfs_write(path, bdf);
	if (ret)
		return ret;
	ret = edu_driver(bdf, cur, sizeof(cur));
	if (ret)
		return ret;
	return strcmp(cur, drv) ? -ENODEV : 0;
}

/*
 * Bind @bdf to vfio-pci through driver_override, unbinding it from any
 * other driver first.  The override stays set, so the device cannot be
 * grabbed back by its old driver by accident.
 */
static inline int edu_bind_vfio(const char *bdf)
{
	char path[256], drv[EDU_DRV_LEN];
	int ret;

	ret = edu_driver(bdf, drv, sizeof(drv));
	if (ret)
		return ret;
	if (!strcmp(drv, "vfio-pci"))
		return 0;

	if (snprintf(path, sizeof(path),
		     EDU_SYSFS_PCI "/devices/%s/driver_override", bdf) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = edu_sysfs_write(path, "vfio-pci");
	if (ret)
		return ret;
	ret = edu_unbind(bdf);
	if (ret)
		return ret;
	/* drivers_probe succeeds even when no driver matched: check below. */
	ret = edu_sysfs_write(EDU_SYSFS_PCI "/drivers_probe", bdf);
	if (ret)
		return ret;
	ret = edu_driver(bdf, drv, sizeof(drv));
	if (ret)
		return ret;
	return strcmp(drv, "vfio-pci") ? -ENODEV : 0;
}

/* ---- VFIO container, group and DMA mappings ---------------------------- */

/* Open /dev/vfio/vfio and /dev/vfio/@group; nothing is attached yet. */
static inline int edu_vfio_open(int group, int *container_fd, int *group_fd)
{
	char path[64];
	int ret;

	*group_fd = -1;
	*container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (*container_fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	*group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (*group_fd < 0) {
		ret = -errno;
		close(*container_fd);
		*container_fd = -1;
		return ret;
	}
	return 0;
}

/*
 * Check the container API, make sure the group is viable, put the group
 * into the container and select the type1v2 IOMMU backend.
 * Returns -EPROTO for an unexpected API, -EPERM for a non-viable group.
 */
static inline int edu_vfio_attach(int container_fd, int group_fd)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	if (ioctl(container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
		return -EPROTO;
	if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &status))
		return -errno;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EPERM;
	if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd))
		return -errno;
	if (ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

/* Map @size bytes at @vaddr to @iova, readable and writable by devices. */
static inline int edu_map(int container_fd, void *vaddr, __u64 iova,
			  __u64 size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

/* Unmap [@iova, @iova + @size); *@unmapped receives the size removed. */
static inline int edu_unmap(int container_fd, __u64 iova, __u64 size,
			    __u64 *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (unmapped)
		*unmapped = 0;
	if (ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return -errno;
	if (unmapped)
		*unmapped = unmap.size;
	return 0;
}

/* ---- the device --------------------------------------------------------- */

static inline int edu_region(int device_fd, __u32 index,
			     struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, info) ? -errno : 0;
}

/* Get a device fd for @bdf from a group that is already in a container. */
static inline int edu_dev_open(struct edu_dev *dev, int group_fd,
			       const char *bdf)
{
	struct vfio_region_info info;
	int ret;

	dev->device_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev->device_fd < 0) {
		ret = -errno;
		goto err;
	}
	ret = edu_region(dev->device_fd, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (ret)
		goto err_close;
	dev->bar0 = info.offset;
	dev->bar0_size = info.size;
	ret = edu_region(dev->device_fd, VFIO_PCI_CONFIG_REGION_INDEX, &info);
	if (ret)
		goto err_close;
	dev->cfg = info.offset;
	return 0;

err_close:
	close(dev->device_fd);
err:
	dev->device_fd = -1;
	return ret;
}

static inline void edu_dev_close(struct edu_dev *dev)
{
	if (dev->device_fd >= 0)
		close(dev->device_fd);
	dev->device_fd = -1;
}

static inline int edu_rd32(struct edu_dev *dev, __u32 reg, __u32 *val)
{
	ssize_t n = pread(dev->device_fd, val, sizeof(*val), dev->bar0 + reg);

	if (n < 0)
		return -errno;
	return n == sizeof(*val) ? 0 : -EIO;
}

static inline int edu_wr32(struct edu_dev *dev, __u32 reg, __u32 val)
{
	ssize_t n = pwrite(dev->device_fd, &val, sizeof(val), dev->bar0 + reg);

	if (n < 0)
		return -errno;
	return n == sizeof(val) ? 0 : -EIO;
}

/* Enable memory decoding and bus mastering in the PCI command register. */
static inline int edu_enable(struct edu_dev *dev)
{
	__u16 cmd;
	ssize_t n;

	n = pread(dev->device_fd, &cmd, sizeof(cmd), dev->cfg + PCI_COMMAND);
	if (n != sizeof(cmd))
		return n < 0 ? -errno : -EIO;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	n = pwrite(dev->device_fd, &cmd, sizeof(cmd), dev->cfg + PCI_COMMAND);
	if (n != sizeof(cmd))
		return n < 0 ? -errno : -EIO;
	return 0;
}

/*
 * Is a transfer of @count bytes between RAM address @ram and device buffer
 * address @buf safe for QEMU 7.2's edu?  See the comment at the top.
 */
static inline bool edu_dma_ok(__u64 ram, __u64 buf, __u32 count)
{
	if (count < 1 || count > EDU_DMA_MAX)
		return false;
	if (buf < EDU_BUF_ADDR || buf > EDU_BUF_LAST ||
	    count > EDU_BUF_LAST - buf)
		return false;
	return ram <= EDU_DMA_MASK && count <= EDU_DMA_MASK - ram;
}

static inline long long edu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Copy @count bytes with the edu DMA engine and wait for completion.
 * @to_ram false: @src is an IOVA, @dst a device buffer address;
 * @to_ram true:  @src is a device buffer address, @dst an IOVA.
 * Returns 0 when the device reported completion, -EINVAL if the transfer
 * was refused (the device was not touched), -EBUSY if a transfer is still
 * running, -ETIMEDOUT if the device did not finish within 5 s, or the
 * negative errno of a failed register access.
 */
static inline int edu_dma(struct edu_dev *dev, __u64 src, __u64 dst,
			  __u32 count, bool to_ram)
{
	__u32 cmd = EDU_DMA_CMD_START | (to_ram ? EDU_DMA_CMD_TO_RAM : 0);
	const struct timespec pause = { .tv_nsec = 1000000 };
	long long deadline;
	__u32 val;
	int ret;

	if (!edu_dma_ok(to_ram ? dst : src, to_ram ? src : dst, count))
		return -EINVAL;

	ret = edu_rd32(dev, EDU_REG_DMA_CMD, &val);
	if (ret)
		return ret;
	if (val & EDU_DMA_CMD_START)
		return -EBUSY;

	/* Checked above: both addresses fit in the low 32 bits. */
	ret = edu_wr32(dev, EDU_REG_DMA_SRC, (__u32)src);
	if (!ret)
		ret = edu_wr32(dev, EDU_REG_DMA_DST, (__u32)dst);
	if (!ret)
		ret = edu_wr32(dev, EDU_REG_DMA_COUNT, count);
	if (!ret)
		ret = edu_wr32(dev, EDU_REG_DMA_CMD, cmd);
	if (ret)
		return ret;

	deadline = edu_now_ms() + EDU_DMA_TIMEOUT_MS;
	do {
		nanosleep(&pause, NULL);
		ret = edu_rd32(dev, EDU_REG_DMA_CMD, &val);
		if (ret)
			return ret;
		if (!(val & EDU_DMA_CMD_START))
			return 0;
	} while (edu_now_ms() < deadline);
	return -ETIMEDOUT;
}

#endif /* __SELFTESTS_VFIO_EDU_H */
