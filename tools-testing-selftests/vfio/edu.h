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
#include <linux/iommufd.h>
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

/*
 * Take over @fd, a VFIO device fd of an edu function however it was
 * obtained, and look up its BAR0 and config space regions.  On failure
 * @fd is closed.
 */
static inline int edu_dev_init(struct edu_dev *dev, int fd)
{
	struct vfio_region_info info;
	int ret;

	dev->device_fd = fd;
	ret = edu_region(fd, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (ret)
		goto err_close;
	dev->bar0 = info.offset;
	dev->bar0_size = info.size;
	ret = edu_region(fd, VFIO_PCI_CONFIG_REGION_INDEX, &info);
	if (ret)
		goto err_close;
	dev->cfg = info.offset;
	return 0;

err_close:
	close(fd);
	dev->device_fd = -1;
	return ret;
}

/* Get a device fd for @bdf from a group that is already in a container. */
static inline int edu_dev_open(struct edu_dev *dev, int group_fd,
			       const char *bdf)
{
	int fd;

	fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (fd < 0) {
		dev->device_fd = -1;
		return -errno;
	}
	return edu_dev_init(dev, fd);
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

/* ---- driver state of a PCI function, saved and restored ---------------- */

/* What a test must put back: the driver and the driver_override of @bdf. */
struct edu_drv_state {
	char bdf[EDU_BDF_LEN];
	char drv[EDU_DRV_LEN];		/* "" when no driver was bound */
	char override[EDU_DRV_LEN];	/* "" when driver_override was unset */
};

static inline int edu_save_state(const char *bdf, struct edu_drv_state *st)
{
	char path[256];
	ssize_t n;
	int fd, ret;

	memset(st, 0, sizeof(*st));
	if (strlen(bdf) >= sizeof(st->bdf))
		return -ENAMETOOLONG;
	strcpy(st->bdf, bdf);
	ret = edu_driver(bdf, st->drv, sizeof(st->drv));
	if (ret)
		return ret;
	snprintf(path, sizeof(path), EDU_SYSFS_PCI "/devices/%s/driver_override",
		 bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, st->override, sizeof(st->override) - 1);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	st->override[n < 0 ? 0 : n] = '\0';
	st->override[strcspn(st->override, "\n")] = '\0';
	/* An unset override reads back as "(null)". */
	if (!strcmp(st->override, "(null)"))
		st->override[0] = '\0';
	return 0;
}

/*
 * Give @st->bdf back its saved driver_override and driver.  Every VFIO fd
 * of the device must be closed before.
 */
static inline int edu_restore_state(const struct edu_drv_state *st)
{
	char path[256], drv[EDU_DRV_LEN], val[EDU_DRV_LEN + 1];
	int ret;

	ret = edu_driver(st->bdf, drv, sizeof(drv));
	if (ret)
		return ret;
	if (drv[0] && strcmp(drv, st->drv)) {
		ret = edu_unbind(st->bdf);
		if (ret)
			return ret;
		drv[0] = '\0';
	}
	snprintf(path, sizeof(path), EDU_SYSFS_PCI "/devices/%s/driver_override",
		 st->bdf);
	/* A lone newline clears the override. */
	snprintf(val, sizeof(val), "%s\n", st->override);
	ret = edu_sysfs_write(path, val);
	if (ret)
		return ret;
	if (!st->drv[0] || !strcmp(drv, st->drv))
		return 0;
	return edu_bind_driver(st->bdf, st->drv);
}

/* ---- the kernel log ---------------------------------------------------- */

#define EDU_KMSG_REC_MAX	8192	/* CONSOLE_EXT_LOG_MAX */

/* Open /dev/kmsg positioned after the last record; fd or -errno. */
static inline int edu_kmsg_open_end(void)
{
	int fd, ret;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Read the records logged since the last call (or edu_kmsg_open_end()) and
 * look for a message that contains both @a and @b.  The first match is
 * copied to @line.  Returns 1 if found, 0 if not, or a negative errno.
 */
static inline int edu_kmsg_find(int fd, const char *a, const char *b,
				char *line, size_t len)
{
	static char rec[EDU_KMSG_REC_MAX + 1];
	int found = 0;
	char *msg;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, EDU_KMSG_REC_MAX);
		if (n < 0) {
			/* EPIPE: records were overwritten; EINVAL: too long. */
			if (errno == EPIPE || errno == EINVAL)
				continue;
			if (errno == EAGAIN)
				return found;
			return -errno;
		}
		if (!n)
			return found;
		rec[n] = '\0';
		/* "prio,seq,ts,flags;text\n" then " KEY=value\n" lines. */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = '\0';
		if (!found && strstr(msg, a) && strstr(msg, b)) {
			snprintf(line, len, "%s", msg);
			found = 1;
		}
	}
}

/* edu_kmsg_find(), waiting up to @ms for the record to be logged. */
static inline int edu_kmsg_wait(int fd, const char *a, const char *b,
				char *line, size_t len, int ms)
{
	const struct timespec pause = { .tv_nsec = 20000000 };
	long long deadline = edu_now_ms() + ms;
	int ret;

	for (;;) {
		ret = edu_kmsg_find(fd, a, b, line, len);
		if (ret || edu_now_ms() >= deadline)
			return ret;
		nanosleep(&pause, NULL);
	}
}

/*
 * The text intel-iommu logs for a DMA fault of @bdf at page @iova, without
 * the direction: "Request device [bb:dd.f] fault addr 0x...".
 */
static inline void edu_dmar_fault_text(const char *bdf, __u64 iova,
				       char *dev, size_t dev_len,
				       char *addr, size_t addr_len)
{
	/* "0000:01:02.0" -> "[01:02.0]" */
	const char *p = strchr(bdf, ':');

	snprintf(dev, dev_len, "Request device [%s]", p ? p + 1 : bdf);
	snprintf(addr, addr_len, "fault addr 0x%llx ",
		 (unsigned long long)iova);
}

/* ---- iommufd ----------------------------------------------------------- */

static inline int edu_iommufd_open(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int edu_ioas_alloc(int iommufd, __u32 *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd))
		return -errno;
	*ioas_id = cmd.out_ioas_id;
	return 0;
}

static inline int edu_iommufd_destroy(int iommufd, __u32 id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd) ? -errno : 0;
}

/* Map @len bytes at @vaddr to exactly @iova, readable and writable. */
static inline int edu_ioas_map(int iommufd, __u32 ioas_id, void *vaddr,
			       __u64 iova, __u64 len)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = len,
		.iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &cmd) ? -errno : 0;
}

/* Unmap [@iova, @iova + @len); *@unmapped receives the length removed. */
static inline int edu_ioas_unmap(int iommufd, __u32 ioas_id, __u64 iova,
				 __u64 len, __u64 *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = len,
	};
	int ret;

	ret = ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd) ? -errno : 0;
	if (unmapped)
		*unmapped = cmd.length;
	return ret;
}

/* IOMMU_VFIO_IOAS: @op is GET (fills *@ioas_id), SET or CLEAR. */
static inline int edu_vfio_ioas(int iommufd, __u16 op, __u32 *ioas_id)
{
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id ? *ioas_id : 0,
		.op = op,
	};

	if (ioctl(iommufd, IOMMU_VFIO_IOAS, &cmd))
		return -errno;
	if (ioas_id)
		*ioas_id = cmd.ioas_id;
	return 0;
}

/*
 * Is @fd, an open /dev/vfio/vfio, provided by iommufd
 * (CONFIG_IOMMUFD_VFIO_CONTAINER) rather than by the VFIO container code?
 * Only iommufd knows IOMMU_VFIO_IOAS; the container refuses it.
 */
static inline bool edu_container_is_iommufd(int fd)
{
	__u32 id = 0;
	int ret = edu_vfio_ioas(fd, IOMMU_VFIO_IOAS_GET, &id);

	return !ret || ret == -ENODEV;
}

/* Is /dev/vfio/vfio provided by iommufd?  false if it cannot be opened. */
static inline bool edu_dev_vfio_is_iommufd(void)
{
	bool ret;
	int fd;

	fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	ret = edu_container_is_iommufd(fd);
	close(fd);
	return ret;
}

/* ---- the VFIO device character device ---------------------------------- */

/*
 * The result @n of an snprintf() into a buffer of @size bytes: 0, -EINVAL
 * (an output error) or -ENAMETOOLONG (the output was cut).
 */
static inline int edu_snprintf_ok(int n, size_t size)
{
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * "/dev/vfio/devices/vfioN" of the VFIO device whose sysfs directory is
 * @sysfs_dev (a PCI function, an mdev), from its vfio-dev subdirectory.
 */
static inline int edu_vfio_cdev_path(const char *sysfs_dev, char *path,
				     size_t len)
{
	char dir_path[256];
	struct dirent *de;
	DIR *dir;
	int ret;

	ret = edu_snprintf_ok(snprintf(dir_path, sizeof(dir_path),
				       "%s/vfio-dev", sysfs_dev),
			      sizeof(dir_path));
	if (ret)
		return ret;
	dir = opendir(dir_path);
	if (!dir)
		return -errno;
	ret = -ENOENT;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		ret = edu_snprintf_ok(snprintf(path, len, "/dev/vfio/devices/%s",
					       de->d_name), len);
		break;
	}
	closedir(dir);
	return ret;
}

/* "/dev/vfio/devices/vfioN" of @bdf; -ENAMETOOLONG if a path is cut. */
static inline int edu_cdev_path(const char *bdf, char *path, size_t len)
{
	char dev[256];
	int ret;

	ret = edu_snprintf_ok(snprintf(dev, sizeof(dev),
				       EDU_SYSFS_PCI "/devices/%s", bdf),
			      sizeof(dev));
	if (ret)
		return ret;
	return edu_vfio_cdev_path(dev, path, len);
}

/* Open the device cdev of @bdf (bound to vfio-pci); fd or -errno. */
static inline int edu_cdev_open(const char *bdf)
{
	char path[64];
	int fd, ret;

	ret = edu_cdev_path(bdf, path, sizeof(path));
	if (ret)
		return ret;
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static inline int edu_cdev_bind(int cdev_fd, int iommufd, __u32 *dev_id)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = iommufd,
	};

	if (ioctl(cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	if (dev_id)
		*dev_id = bind.out_devid;
	return 0;
}

/*
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT with @flags to the IOAS or HWPT *@pt_id;
 * on success *@pt_id is the HWPT the device is attached to.
 */
static inline int edu_cdev_attach_flags(int cdev_fd, __u32 flags,
					__u32 *pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.flags = flags,
		.pt_id = *pt_id,
	};

	if (ioctl(cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return -errno;
	*pt_id = attach.pt_id;
	return 0;
}

/*
 * IOMMU_HWPT_ALLOC: a HW_PAGETABLE of @ioas_id for device @dev_id, not
 * attached; its ID in *@hwpt_id.
 */
static inline int edu_hwpt_alloc(int iommufd, __u32 dev_id, __u32 ioas_id,
				 __u32 *hwpt_id)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.pt_id = ioas_id,
	};

	if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd))
		return -errno;
	*hwpt_id = cmd.out_hwpt_id;
	return 0;
}

/* intel-iommu's MSI window: a reserved region (IOMMU_RESV_MSI) of each group */
#define EDU_MSI_START 0xfee00000ULL
#define EDU_MSI_LAST 0xfeefffffULL

/*
 * IOMMU_IOAS_IOVA_RANGES of @ioas_id: 1 if [@start, @last] lies in one
 * usable range, 0 if it is reserved as a whole, -EDOM if only in part;
 * or -errno.
 */
static inline int edu_ioas_usable(int iommufd, __u32 ioas_id, __u64 start,
				  __u64 last)
{
	struct iommu_iova_range ranges[32];
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = 32,
		.allowed_iovas = (uintptr_t)ranges,
	};
	unsigned int i;

	if (ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &cmd))
		return -errno;
	for (i = 0; i != cmd.num_iovas; i++) {
		if (ranges[i].start <= start && last <= ranges[i].last)
			return 1;
		if (ranges[i].start <= last && start <= ranges[i].last)
			return -EDOM;
	}
	return 0;
}

static inline int edu_cdev_detach(int cdev_fd)
{
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};

	return ioctl(cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach) ?
		-errno : 0;
}

/* Attach to the IOAS or HWPT *@pt_id (see edu_cdev_attach_flags()). */
static inline int edu_cdev_attach(int cdev_fd, __u32 *pt_id)
{
	return edu_cdev_attach_flags(cdev_fd, 0, pt_id);
}

/* ---- one way of giving an edu an IOMMU address space ------------------- */

/*
 * The four ways user space can reach a device and its DMA mappings:
 *  EDU_MODE_TYPE1:	    /dev/vfio/vfio container with the type1v2 backend
 *			    (or iommufd, when it provides /dev/vfio/vfio);
 *  EDU_MODE_GROUP_IOMMUFD: group fd attached to an iommufd whose compat IOAS
 *			    was chosen with IOMMU_VFIO_IOAS; IOAS ioctls;
 *  EDU_MODE_IOMMUFD_TYPE1: an iommufd used as the type1 container;
 *  EDU_MODE_CDEV:	    /dev/vfio/devices/vfioN bound to an iommufd and
 *			    attached to an IOAS.
 */
enum edu_mode {
	EDU_MODE_TYPE1,
	EDU_MODE_GROUP_IOMMUFD,
	EDU_MODE_IOMMUFD_TYPE1,
	EDU_MODE_CDEV,
};

struct edu_vfio {
	enum edu_mode mode;
	int group;		/* IOMMU group number */
	int iommufd;		/* -1 in EDU_MODE_TYPE1 */
	int container_fd;	/* takes the type1 ioctls; -1 if none */
	int group_fd;		/* -1 in EDU_MODE_CDEV */
	__u32 ioas_id;		/* the IOAS of the iommufd modes */
};

static inline bool edu_mode_type1(enum edu_mode mode)
{
	return mode == EDU_MODE_TYPE1 || mode == EDU_MODE_IOMMUFD_TYPE1;
}

static inline void edu_vfio_init(struct edu_vfio *v, enum edu_mode mode,
				 int group)
{
	v->mode = mode;
	v->group = group;
	v->iommufd = -1;
	v->container_fd = -1;
	v->group_fd = -1;
	v->ioas_id = 0;
}

/*
 * Open what @v->mode needs and, in the group modes, attach group @v->group
 * to its container or iommufd.  Returns 0 or a negative errno; whatever was
 * opened is closed by edu_vfio_close() either way.
 */
static inline int edu_vfio_setup(struct edu_vfio *v)
{
	char path[64];
	int ret;

	if (v->mode != EDU_MODE_TYPE1) {
		v->iommufd = edu_iommufd_open();
		if (v->iommufd < 0)
			return v->iommufd;
	}
	if (v->mode == EDU_MODE_GROUP_IOMMUFD || v->mode == EDU_MODE_CDEV) {
		ret = edu_ioas_alloc(v->iommufd, &v->ioas_id);
		if (ret)
			return ret;
	}
	if (v->mode == EDU_MODE_CDEV)
		return 0;

	snprintf(path, sizeof(path), "/dev/vfio/%d", v->group);
	v->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->group_fd < 0)
		return -errno;

	switch (v->mode) {
	case EDU_MODE_TYPE1:
		v->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		if (v->container_fd < 0)
			return -errno;
		return edu_vfio_attach(v->container_fd, v->group_fd);
	case EDU_MODE_GROUP_IOMMUFD:
		ret = edu_vfio_ioas(v->iommufd, IOMMU_VFIO_IOAS_SET, &v->ioas_id);
		if (ret)
			return ret;
		if (ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &v->iommufd))
			return -errno;
		return 0;
	case EDU_MODE_IOMMUFD_TYPE1:
		v->container_fd = v->iommufd;
		ret = edu_vfio_attach(v->container_fd, v->group_fd);
		if (ret)
			return ret;
		return edu_vfio_ioas(v->iommufd, IOMMU_VFIO_IOAS_GET,
				     &v->ioas_id);
	default:
		return -EINVAL;
	}
}

/*
 * Open @bdf for DMA: from the group, or from its cdev bound to the iommufd
 * and attached to the IOAS.  *@dev_id (may be NULL) receives the iommufd
 * device ID in EDU_MODE_CDEV, 0 otherwise.
 */
static inline int edu_vfio_open_dev(struct edu_vfio *v, struct edu_dev *dev,
				    const char *bdf, __u32 *dev_id)
{
	__u32 pt_id = v->ioas_id;
	int fd, ret;

	if (dev_id)
		*dev_id = 0;
	if (v->mode != EDU_MODE_CDEV)
		return edu_dev_open(dev, v->group_fd, bdf);

	dev->device_fd = -1;
	fd = edu_cdev_open(bdf);
	if (fd < 0)
		return fd;
	ret = edu_cdev_bind(fd, v->iommufd, dev_id);
	if (!ret)
		ret = edu_cdev_attach(fd, &pt_id);
	if (ret) {
		close(fd);
		return ret;
	}
	return edu_dev_init(dev, fd);
}

static inline int edu_vfio_map(struct edu_vfio *v, void *vaddr, __u64 iova,
			       __u64 size)
{
	if (edu_mode_type1(v->mode))
		return edu_map(v->container_fd, vaddr, iova, size);
	return edu_ioas_map(v->iommufd, v->ioas_id, vaddr, iova, size);
}

static inline int edu_vfio_unmap(struct edu_vfio *v, __u64 iova, __u64 size,
				 __u64 *unmapped)
{
	if (edu_mode_type1(v->mode))
		return edu_unmap(v->container_fd, iova, size, unmapped);
	return edu_ioas_unmap(v->iommufd, v->ioas_id, iova, size, unmapped);
}

static inline void edu_vfio_close(struct edu_vfio *v)
{
	if (v->group_fd >= 0)
		close(v->group_fd);
	if (v->container_fd >= 0 && v->container_fd != v->iommufd)
		close(v->container_fd);
	if (v->iommufd >= 0)
		close(v->iommufd);
	v->group_fd = -1;
	v->container_fd = -1;
	v->iommufd = -1;
}

static inline const char *edu_mode_name(enum edu_mode mode)
{
	switch (mode) {
	case EDU_MODE_TYPE1:
		return "type1 container";
	case EDU_MODE_GROUP_IOMMUFD:
		return "group + iommufd";
	case EDU_MODE_IOMMUFD_TYPE1:
		return "iommufd as type1 container";
	case EDU_MODE_CDEV:
		return "cdev + IOAS";
	}
	return "?";
}

#endif /* __SELFTESTS_VFIO_EDU_H */
