// SPDX-License-Identifier: GPL-2.0
/*
 * An emulated device (mdev) on iommufd: the mtty sample
 * (CONFIG_SAMPLE_VFIO_MDEV_MTTY), created and removed through sysfs,
 * opened through its group attached to an iommufd, through its group in a
 * VFIO container, and through its device cdev bound to an iommufd and
 * attached to IOASes; then the errnos of the commands an emulated device
 * does not take (those of physical devices and HW_PAGETABLEs), and those
 * of the cdev commands on a device fd opened through the group.
 *
 * mtty never pins: these tests cover how the device is bound, attached
 * and detached, the access that stands for it in the iommufd (its ID is
 * the devid, it keeps its IOAS from being destroyed), and that the device
 * works (config space, ioctls) in each mode.  Without mtty every test
 * fails: the test kernel must have it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "edu.h"
#include "../../../../drivers/iommu/iommufd/iommufd_test.h"

#define MTTY_PARENT	"/sys/class/mdev_bus/mtty"
#define MTTY_TYPE	MTTY_PARENT "/mdev_supported_types/mtty-1"
#define MDEV_DEVICES	"/sys/bus/mdev/devices"
/* Vendor and device ID in mtty's config space */
#define MTTY_PCI_ID	0x32534348u
#define MTTY_BAR0_SIZE	8

static bool path_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

/* Create an mdev of type mtty-1 named @uuid through sysfs: 0 or -errno */
static int mtty_create(const char *uuid)
{
	return edu_sysfs_write(MTTY_TYPE "/create", uuid);
}

static int mtty_remove(const char *uuid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/remove", uuid);
	return edu_sysfs_write(path, "1");
}

/* The number of the IOMMU group of mdev @uuid, or -errno */
static int mtty_group(const char *uuid)
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

/* "/dev/vfio/devices/vfioN" of mdev @uuid, from its vfio-dev directory */
static int mtty_cdev_path(const char *uuid, char *path, size_t len)
{
	char dir_path[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), MDEV_DEVICES "/%s/vfio-dev",
		 uuid);
	dir = opendir(dir_path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vfio", 4))
			continue;
		if (snprintf(path, len, "/dev/vfio/devices/%.32s",
			     de->d_name) >= (int)len)
			ret = -ENAMETOOLONG;
		else
			ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

/* The device works: its info, and its PCI IDs read from config space */
static int mtty_check_device(int fd)
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

static int group_status(int group_fd, __u32 *flags)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };

	if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &st))
		return -errno;
	*flags = st.flags;
	return 0;
}

/* IOMMU_TEST_OP_MOCK_DOMAIN: a mock device and its HW_PAGETABLE in @ioas */
static int mock_hwpt(int iommufd, __u32 ioas_id, __u32 *hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};

	if (ioctl(iommufd, IOMMU_TEST_CMD, &cmd))
		return -errno;
	*hwpt_id = cmd.mock_domain.out_hwpt_id;
	return 0;
}

static int cdev_attach_flags(int fd, __u32 flags, __u32 pt_id)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
		.flags = flags,
		.pt_id = pt_id,
	};

	return ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ? -errno : 0;
}

/* Close *@fd if it is open and mark it closed */
static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * A UUID for an mdev of this process: the pid and a random number, so that
 * an mdev leaked by an earlier run cannot collide with it.
 */
static void mtty_uuid(char *uuid, size_t len, unsigned int tag)
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

/*
 * Every fd a test opens lives in the fixture, -1 when closed: an ASSERT
 * that fails jumps to the teardown with the test's fds still open, and the
 * teardown must close them before it removes the mdev, or the remove waits
 * forever for the device fds this very process holds (mtty has no
 * .request to ask for them back).
 */
FIXTURE(mtty) {
	char uuid[40];
	char dev[PATH_MAX];
	char group_path[64];
	char cdev[64];
	int group;
	void *buf;
	size_t buf_len;
	int iommufd;
	int iommufd2;
	int container;
	int group_fd;
	int dev_fd;
	int dev_fd2;
	int cdev_fd;
	int cdev_fd2;
};

FIXTURE_SETUP(mtty)
{
	int ret;

	self->iommufd = -1;
	self->iommufd2 = -1;
	self->container = -1;
	self->group_fd = -1;
	self->dev_fd = -1;
	self->dev_fd2 = -1;
	self->cdev_fd = -1;
	self->cdev_fd2 = -1;
	self->buf = MAP_FAILED;

	ASSERT_TRUE(path_exists(MTTY_TYPE)) {
		TH_LOG("no mtty parent: the kernel needs CONFIG_SAMPLE_VFIO_MDEV_MTTY");
	}

	mtty_uuid(self->uuid, sizeof(self->uuid), 0x8d2f0b1e);
	snprintf(self->dev, sizeof(self->dev), MDEV_DEVICES "/%s",
		 self->uuid);
	/* A stale mdev of the same name would make the create fail */
	if (path_exists(self->dev))
		mtty_remove(self->uuid);
	ASSERT_EQ(0, mtty_create(self->uuid));

	self->group = mtty_group(self->uuid);
	ret = mtty_cdev_path(self->uuid, self->cdev, sizeof(self->cdev));
	if (self->group < 0 || ret)
		mtty_remove(self->uuid);
	ASSERT_LE(0, self->group);
	ASSERT_EQ(0, ret);
	snprintf(self->group_path, sizeof(self->group_path), "/dev/vfio/%d",
		 self->group);

	self->buf_len = 4 * getpagesize();
	self->buf = mmap(NULL, self->buf_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (self->buf == MAP_FAILED)
		mtty_remove(self->uuid);
	ASSERT_NE(MAP_FAILED, self->buf);
}

FIXTURE_TEARDOWN(mtty)
{
	/* The device fds first: the remove waits for them */
	close_fd(&self->dev_fd2);
	close_fd(&self->dev_fd);
	close_fd(&self->cdev_fd2);
	close_fd(&self->cdev_fd);
	close_fd(&self->group_fd);
	close_fd(&self->container);
	close_fd(&self->iommufd2);
	close_fd(&self->iommufd);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, self->buf_len);
	/* create_remove removed it itself */
	if (path_exists(self->dev))
		EXPECT_EQ(0, mtty_remove(self->uuid));
	EXPECT_FALSE(path_exists(self->dev));
}

/* sysfs: the mdev, its group and its cdev; a second create is refused */
TEST_F(mtty, sysfs)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/driver", self->uuid);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	ASSERT_NE(NULL, strstr(link, "/mtty"));

	ASSERT_EQ(0, stat(self->group_path, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(0, stat(self->cdev, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));

	ASSERT_EQ(-EEXIST, mtty_create(self->uuid));
}

/*
 * Create (the fixture) and remove: the device, its group and its cdev go
 * away.  The teardown removes the mdev if an ASSERT stops the test first.
 */
TEST_F(mtty, create_remove)
{
	ASSERT_TRUE(path_exists(self->dev));
	ASSERT_TRUE(path_exists(self->group_path));
	ASSERT_TRUE(path_exists(self->cdev));

	ASSERT_EQ(0, mtty_remove(self->uuid));
	ASSERT_FALSE(path_exists(self->dev));
	ASSERT_FALSE(path_exists(self->group_path));
	ASSERT_FALSE(path_exists(self->cdev));
	ASSERT_EQ(-ENOENT, mtty_remove(self->uuid));
}

/* The group on an iommufd: the device's access is on the compat IOAS */
TEST_F(mtty, group_iommufd)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
	};
	__u32 flags = 0, ioas_id = 0;

	self->group_fd = open(self->group_path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->group_fd);
	self->iommufd = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd);

	ASSERT_EQ(0, group_status(self->group_fd, &flags));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, flags);
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER, &self->iommufd));
	ASSERT_EQ(0, group_status(self->group_fd, &flags));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET,
		  flags);

	ASSERT_EQ(0, edu_vfio_ioas(self->iommufd, IOMMU_VFIO_IOAS_GET, &ioas_id));
	ASSERT_EQ(0, edu_ioas_map(self->iommufd, ioas_id, self->buf, 0x100000,
				  self->buf_len));

	/* Binds the device (an access) and attaches it to the compat IOAS */
	self->dev_fd = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD, self->uuid);
	ASSERT_LE(0, self->dev_fd);
	ASSERT_EQ(0, mtty_check_device(self->dev_fd));

	/* The access of the open device holds the compat IOAS */
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(self->iommufd, ioas_id));
	ASSERT_EQ(0, edu_ioas_unmap(self->iommufd, ioas_id, 0x100000,
				    self->buf_len, NULL));

	/* A second fd of the device through the group shares the binding */
	self->dev_fd2 = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD, self->uuid);
	ASSERT_LE(0, self->dev_fd2);
	ASSERT_EQ(0, mtty_check_device(self->dev_fd2));

	/* A device fd from the group is not a cdev fd */
	bind.iommufd = self->iommufd;
	ASSERT_EQ(-1, ioctl(self->dev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	ASSERT_EQ(EINVAL, errno);
	/* ... and the cdev attach is the driver's to answer: mtty has none */
	ASSERT_EQ(-ENOTTY, cdev_attach_flags(self->dev_fd, 0, ioas_id));

	ASSERT_EQ(-1, ioctl(self->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	ASSERT_EQ(EBUSY, errno);
	/* The cdev cannot be bound while the group is open */
	self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->cdev_fd);
	ASSERT_EQ(-EBUSY, edu_cdev_bind(self->cdev_fd, self->iommufd, NULL));
	close_fd(&self->cdev_fd);

	close_fd(&self->dev_fd2);
	close_fd(&self->dev_fd);
	/* The access went away with the last device fd */
	ASSERT_EQ(0, edu_iommufd_destroy(self->iommufd, ioas_id));
	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	close_fd(&self->iommufd);
	close_fd(&self->group_fd);
}

/* The legacy path: the group in a /dev/vfio/vfio container (type1v2) */
TEST_F(mtty, group_container)
{
	__u32 flags = 0;

	self->group_fd = open(self->group_path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->group_fd);
	self->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->container);

	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &self->container));
	ASSERT_EQ(0, ioctl(self->container, VFIO_SET_IOMMU,
			   VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(0, group_status(self->group_fd, &flags));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET,
		  flags);

	self->dev_fd = ioctl(self->group_fd, VFIO_GROUP_GET_DEVICE_FD, self->uuid);
	ASSERT_LE(0, self->dev_fd);
	ASSERT_EQ(0, mtty_check_device(self->dev_fd));
	close_fd(&self->dev_fd);

	ASSERT_EQ(0, ioctl(self->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	close_fd(&self->container);
	close_fd(&self->group_fd);
}

/* The cdev: bind, attach to an IOAS, detach, attach to another, replace */
TEST_F(mtty, cdev)
{
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = offsetof(struct vfio_device_attach_iommufd_pt, pt_id),
	};
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};
	struct vfio_device_bind_iommufd bind = {};
	__u32 devid = 0, ioas1 = 0, ioas2 = 0, pt_id;
	char c;

	self->iommufd = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd);
	self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->cdev_fd);

	/* Nothing but the bind before the bind */
	ASSERT_EQ(-EINVAL, mtty_check_device(self->cdev_fd));
	ASSERT_EQ(-1, read(self->cdev_fd, &c, 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, NULL));
	ASSERT_EQ(EINVAL, errno);
	pt_id = 1;
	ASSERT_EQ(-EINVAL, edu_cdev_attach(self->cdev_fd, &pt_id));

	/* argsz short of the fields the bind reads */
	bind.argsz = offsetof(struct vfio_device_bind_iommufd, out_devid);
	bind.iommufd = self->iommufd;
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	ASSERT_EQ(EINVAL, errno);

	ASSERT_EQ(-EINVAL, edu_cdev_bind(self->cdev_fd, -1, NULL));
	ASSERT_EQ(-EBADFD, edu_cdev_bind(self->cdev_fd, self->cdev_fd, NULL));
	ASSERT_EQ(0, edu_cdev_bind(self->cdev_fd, self->iommufd, &devid));
	ASSERT_NE(0, devid);
	/* Once per fd, one fd per device */
	ASSERT_EQ(-EINVAL, edu_cdev_bind(self->cdev_fd, self->iommufd, NULL));
	self->cdev_fd2 = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->cdev_fd2);
	ASSERT_EQ(-EINVAL, edu_cdev_bind(self->cdev_fd2, self->iommufd, NULL));
	ASSERT_EQ(-EINVAL, mtty_check_device(self->cdev_fd2));
	close_fd(&self->cdev_fd2);
	/* The group cannot be opened while the cdev is bound */
	self->group_fd = open(self->group_path, O_RDWR | O_CLOEXEC);
	ASSERT_EQ(-1, self->group_fd);
	ASSERT_EQ(EBUSY, errno);

	/* Bound and not attached: the emulation works, it needs no memory */
	ASSERT_EQ(0, mtty_check_device(self->cdev_fd));

	ASSERT_EQ(0, edu_ioas_alloc(self->iommufd, &ioas1));
	ASSERT_EQ(0, edu_ioas_alloc(self->iommufd, &ioas2));
	ASSERT_EQ(0, edu_ioas_map(self->iommufd, ioas1, self->buf, 0x100000,
				  self->buf_len));

	/* argsz short of pt_id; unknown detach flags */
	attach.pt_id = ioas1;
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT,
			    &attach));
	ASSERT_EQ(EINVAL, errno);
	detach.flags = 1u << 31;
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
			    &detach));
	ASSERT_EQ(EINVAL, errno);
	detach.flags = 0;
	detach.argsz = offsetof(struct vfio_device_detach_iommufd_pt, flags);
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
			    &detach));
	ASSERT_EQ(EINVAL, errno);

	pt_id = ioas1;
	ASSERT_EQ(0, edu_cdev_attach(self->cdev_fd, &pt_id));
	ASSERT_EQ(ioas1, pt_id);
	ASSERT_EQ(0, mtty_check_device(self->cdev_fd));
	/* The access holds its IOAS */
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(self->iommufd, ioas1));
	/* Unmapping under an attached access is fine */
	ASSERT_EQ(0, edu_ioas_unmap(self->iommufd, ioas1, 0x100000, self->buf_len,
				    NULL));
	ASSERT_EQ(0, edu_ioas_map(self->iommufd, ioas1, self->buf, 0x100000,
				  self->buf_len));

	ASSERT_EQ(0, edu_cdev_detach(self->cdev_fd));
	ASSERT_EQ(0, edu_cdev_detach(self->cdev_fd));
	ASSERT_EQ(0, mtty_check_device(self->cdev_fd));

	pt_id = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(self->cdev_fd, &pt_id));
	ASSERT_EQ(ioas2, pt_id);
	/* Detached from ioas1, which can go */
	ASSERT_EQ(0, edu_iommufd_destroy(self->iommufd, ioas1));

	/* A second attach moves the access */
	ASSERT_EQ(0, edu_ioas_alloc(self->iommufd, &ioas1));
	pt_id = ioas1;
	ASSERT_EQ(0, edu_cdev_attach(self->cdev_fd, &pt_id));
	ASSERT_EQ(ioas1, pt_id);
	ASSERT_EQ(0, edu_iommufd_destroy(self->iommufd, ioas2));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(self->iommufd, ioas1));
	/* Attaching where it is does nothing */
	ASSERT_EQ(0, edu_cdev_attach(self->cdev_fd, &pt_id));
	ASSERT_EQ(ioas1, pt_id);
	ASSERT_EQ(0, mtty_check_device(self->cdev_fd));

	/* Closing the fd unbinds: the IOAS is free, the cdev can be bound */
	close_fd(&self->cdev_fd);
	ASSERT_EQ(0, edu_iommufd_destroy(self->iommufd, ioas1));
	self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->cdev_fd);
	ASSERT_EQ(0, edu_cdev_bind(self->cdev_fd, self->iommufd, NULL));
	ASSERT_EQ(0, mtty_check_device(self->cdev_fd));
	close_fd(&self->cdev_fd);
	close_fd(&self->iommufd);
}

/*
 * What the cdev of an emulated device answers to what only physical
 * devices take: page table IDs other than an IOAS, its devid where a
 * DEVICE is expected, PCI hot reset, a VF token, PASID.
 */
TEST_F(mtty, non_mdev_errno)
{
	struct vfio_pci_hot_reset_info reset_info = {
		.argsz = sizeof(reset_info),
	};
	struct vfio_pci_hot_reset reset = { .argsz = sizeof(reset) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt) };
	struct iommu_hw_info info = { .size = sizeof(info) };
	__u32 devid = 0, ioas = 0, ioas_mock = 0, hwpt_id = 0, pt_id;
	__u32 other_ioas = 0;
	unsigned char token[16] = {};

	self->iommufd = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd);
	self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->cdev_fd);

	/* A VF token: mtty takes none */
	bind.iommufd = self->iommufd;
	bind.flags = VFIO_DEVICE_BIND_FLAG_TOKEN;
	bind.token_uuid_ptr = (uintptr_t)token;
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	ASSERT_EQ(EINVAL, errno);

	ASSERT_EQ(0, edu_cdev_bind(self->cdev_fd, self->iommufd, &devid));
	ASSERT_EQ(0, edu_ioas_alloc(self->iommufd, &ioas));
	ASSERT_EQ(0, edu_ioas_alloc(self->iommufd, &ioas_mock));
	ASSERT_EQ(0, mock_hwpt(self->iommufd, ioas_mock, &hwpt_id));

	/* Not attached: only an IOAS ID will do */
	pt_id = hwpt_id;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	pt_id = devid;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	pt_id = 0x7fffff00;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	pt_id = 0;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	/*
	 * An IOAS of another iommufd is not found in this one: allocate
	 * there until its ID is past those of this iommufd (the mock
	 * domain's objects follow hwpt_id closely).
	 */
	self->iommufd2 = edu_iommufd_open();
	ASSERT_LE(0, self->iommufd2);
	do {
		ASSERT_EQ(0, edu_ioas_alloc(self->iommufd2, &other_ioas));
	} while (other_ioas <= hwpt_id + 4);
	pt_id = other_ioas;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	close_fd(&self->iommufd2);
	ASSERT_EQ(-EOPNOTSUPP,
		  cdev_attach_flags(self->cdev_fd, VFIO_DEVICE_ATTACH_PASID, ioas));
	ASSERT_EQ(-EINVAL, cdev_attach_flags(self->cdev_fd, 1u << 31, ioas));

	/* Attached: the same, and it stays on its IOAS */
	pt_id = ioas;
	ASSERT_EQ(0, edu_cdev_attach(self->cdev_fd, &pt_id));
	pt_id = hwpt_id;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	pt_id = devid;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(self->cdev_fd, &pt_id));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(self->iommufd, ioas));

	/* The devid names an access, not a DEVICE */
	hwpt.dev_id = devid;
	hwpt.pt_id = ioas;
	ASSERT_EQ(-1, ioctl(self->iommufd, IOMMU_HWPT_ALLOC, &hwpt));
	ASSERT_EQ(ENOENT, errno);
	info.dev_id = devid;
	ASSERT_EQ(-1, ioctl(self->iommufd, IOMMU_GET_HW_INFO, &info));
	ASSERT_EQ(ENOENT, errno);
	/* ... which user space cannot destroy */
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(self->iommufd, devid));

	/* PCI hot reset is vfio-pci's: mtty does not know the ioctls */
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
			    &reset_info));
	ASSERT_EQ(ENOTTY, errno);
	ASSERT_EQ(-1, ioctl(self->cdev_fd, VFIO_DEVICE_PCI_HOT_RESET, &reset));
	ASSERT_EQ(ENOTTY, errno);

	/* All of it left the device working */
	ASSERT_EQ(0, mtty_check_device(self->cdev_fd));
	ASSERT_EQ(0, edu_cdev_detach(self->cdev_fd));
	ASSERT_EQ(0, edu_iommufd_destroy(self->iommufd, ioas));
	close_fd(&self->cdev_fd);
	close_fd(&self->iommufd);
}

TEST_HARNESS_MAIN
