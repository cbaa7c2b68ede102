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
 * The mtty_dev fixture opens the device both ways, its variants: through
 * its group on an iommufd and through its cdev; what must hold whichever
 * way it was opened runs once per way.
 *
 * /dev/vfio/vfio is VFIO's container or, with CONFIG_VFIO_CONTAINER=n,
 * iommufd's: the container test expects the same answers from both.
 * VFIO_EDU_DEV_VFIO=legacy or =iommufd in the environment makes it fail
 * when /dev/vfio/vfio is not that one.
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
#include "../iommu/iommufd_utils.h"
#include "mdev.h"

static bool path_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

static int group_status(int group_fd, __u32 *flags)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };

	if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &st))
		return -errno;
	*flags = st.flags;
	return 0;
}

/* Close *@fd if it is open and mark it closed */
static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * An mtty mdev of a test, and every fd the test opens, -1 when closed:
 * an ASSERT that fails jumps to the teardown with the test's fds still
 * open, and the teardown must close them before it removes the mdev, or
 * the remove waits forever for the device fds this very process holds
 * (mtty has no .request to ask for them back).
 */
struct mtty_ctx {
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

/* The setup of both fixtures: the mdev, its group and its cdev, a buffer */
static void mtty_setup_mdev(struct __test_metadata *_metadata,
			    struct mtty_ctx *m)
{
	int ret;

	m->iommufd = -1;
	m->iommufd2 = -1;
	m->container = -1;
	m->group_fd = -1;
	m->dev_fd = -1;
	m->dev_fd2 = -1;
	m->cdev_fd = -1;
	m->cdev_fd2 = -1;
	m->buf = MAP_FAILED;

	ASSERT_TRUE(mtty_available()) {
		TH_LOG("no mtty parent: the kernel needs CONFIG_SAMPLE_VFIO_MDEV_MTTY");
	}

	mtty_uuid(m->uuid, sizeof(m->uuid), 0x8d2f0b1e);
	snprintf(m->dev, sizeof(m->dev), MDEV_DEVICES "/%s", m->uuid);
	ret = mtty_create_mdev(m->uuid, &m->group, m->cdev, sizeof(m->cdev));
	ASSERT_EQ(0, ret) {
		TH_LOG("creating mtty mdev %s: %s", m->uuid, strerror(-ret));
	}
	snprintf(m->group_path, sizeof(m->group_path), "/dev/vfio/%d",
		 m->group);

	m->buf_len = 4 * getpagesize();
	m->buf = mmap(NULL, m->buf_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->buf == MAP_FAILED)
		mtty_remove(m->uuid);
	ASSERT_NE(MAP_FAILED, m->buf);
}

/* The teardown of both fixtures: every fd, then the mdev */
static void mtty_teardown_mdev(struct __test_metadata *_metadata,
			       struct mtty_ctx *m)
{
	/* The device fds first: the remove waits for them */
	close_fd(&m->dev_fd2);
	close_fd(&m->dev_fd);
	close_fd(&m->cdev_fd2);
	close_fd(&m->cdev_fd);
	close_fd(&m->group_fd);
	close_fd(&m->container);
	close_fd(&m->iommufd2);
	close_fd(&m->iommufd);
	if (m->buf != MAP_FAILED)
		munmap(m->buf, m->buf_len);
	/* create_remove removed it itself */
	if (path_exists(m->dev))
		EXPECT_EQ(0, mtty_remove(m->uuid));
	EXPECT_FALSE(path_exists(m->dev));
}

/*
 * Open the device on a new iommufd (m->iommufd) in m->dev_fd, the group
 * way (@cdev false: its group set to the iommufd, the device fd from the
 * group, which binds the device and attaches it to the compat IOAS) or the
 * cdev way (@cdev true: its cdev bound to the iommufd and attached to a new
 * IOAS).  *@ioas_id: the IOAS the device is attached to.
 */
static void mtty_open_dev(struct __test_metadata *_metadata,
			  struct mtty_ctx *m, bool cdev, __u32 *ioas_id)
{
	__u32 flags = 0, pt_id;

	m->iommufd = edu_iommufd_open();
	ASSERT_LE(0, m->iommufd);

	if (cdev) {
		ASSERT_EQ(0, edu_ioas_alloc(m->iommufd, ioas_id));
		m->dev_fd = open(m->cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, m->dev_fd);
		ASSERT_EQ(0, edu_cdev_bind(m->dev_fd, m->iommufd, NULL));
		pt_id = *ioas_id;
		ASSERT_EQ(0, edu_cdev_attach(m->dev_fd, &pt_id));
		/* An access has no HW_PAGETABLE: it is on the IOAS itself */
		ASSERT_EQ(*ioas_id, pt_id);
		return;
	}

	m->group_fd = open(m->group_path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, m->group_fd);
	ASSERT_EQ(0, group_status(m->group_fd, &flags));
	ASSERT_EQ((__u32)VFIO_GROUP_FLAGS_VIABLE, flags);
	ASSERT_EQ(0, ioctl(m->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &m->iommufd));
	ASSERT_EQ(0, group_status(m->group_fd, &flags));
	ASSERT_EQ((__u32)(VFIO_GROUP_FLAGS_VIABLE |
			  VFIO_GROUP_FLAGS_CONTAINER_SET), flags);
	ASSERT_EQ(0, edu_vfio_ioas(m->iommufd, IOMMU_VFIO_IOAS_GET,
				   ioas_id));
	m->dev_fd = ioctl(m->group_fd, VFIO_GROUP_GET_DEVICE_FD, m->uuid);
	ASSERT_LE(0, m->dev_fd);
}

FIXTURE(mtty) {
	struct mtty_ctx m;
};

FIXTURE_SETUP(mtty)
{
	mtty_setup_mdev(_metadata, &self->m);
}

FIXTURE_TEARDOWN(mtty)
{
	mtty_teardown_mdev(_metadata, &self->m);
}

/* sysfs: the mdev, its group and its cdev; a second create is refused */
TEST_F(mtty, sysfs)
{
	struct mtty_ctx *m = &self->m;
	char path[PATH_MAX], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), MDEV_DEVICES "/%s/driver", m->uuid);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	ASSERT_NE(NULL, strstr(link, "/mtty"));

	ASSERT_EQ(0, stat(m->group_path, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(0, stat(m->cdev, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));

	ASSERT_EQ(-EEXIST, mtty_create(m->uuid));
}

/*
 * Create (the fixture) and remove: the device, its group and its cdev go
 * away.  The teardown removes the mdev if an ASSERT stops the test first.
 */
TEST_F(mtty, create_remove)
{
	struct mtty_ctx *m = &self->m;

	ASSERT_TRUE(path_exists(m->dev));
	ASSERT_TRUE(path_exists(m->group_path));
	ASSERT_TRUE(path_exists(m->cdev));

	ASSERT_EQ(0, mtty_remove(m->uuid));
	ASSERT_FALSE(path_exists(m->dev));
	ASSERT_FALSE(path_exists(m->group_path));
	ASSERT_FALSE(path_exists(m->cdev));
	ASSERT_EQ(-ENOENT, mtty_remove(m->uuid));
}

/*
 * The group on an iommufd, what only the group way has: a second device
 * fd shares the binding, a device fd from the group is no cdev fd, and the
 * group keeps its iommufd while a device fd is open.
 */
TEST_F(mtty, group_iommufd)
{
	struct mtty_ctx *m = &self->m;
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
	};
	__u32 ioas_id = 0, pt_id;

	mtty_open_dev(_metadata, m, false, &ioas_id);

	m->dev_fd2 = ioctl(m->group_fd, VFIO_GROUP_GET_DEVICE_FD, m->uuid);
	ASSERT_LE(0, m->dev_fd2);
	ASSERT_EQ(0, mtty_check_device(m->dev_fd2));
	/* The binding, and the access, stay with the other fd */
	close_fd(&m->dev_fd);
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, ioas_id));
	ASSERT_EQ(0, mtty_check_device(m->dev_fd2));

	/* A device fd from the group is not a cdev fd */
	bind.iommufd = m->iommufd;
	ASSERT_EQ(-1, ioctl(m->dev_fd2, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	ASSERT_EQ(EINVAL, errno);
	/* ... and the cdev attach is the driver's to answer: mtty has none */
	pt_id = ioas_id;
	ASSERT_EQ(-ENOTTY, edu_cdev_attach(m->dev_fd2, &pt_id));

	ASSERT_EQ(-1, ioctl(m->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	ASSERT_EQ(EBUSY, errno);
	close_fd(&m->dev_fd2);
	/* The access went away with the last device fd */
	ASSERT_EQ(0, edu_iommufd_destroy(m->iommufd, ioas_id));
	ASSERT_EQ(0, ioctl(m->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	close_fd(&m->iommufd);
	close_fd(&m->group_fd);
}

/*
 * The legacy path: the group in a /dev/vfio/vfio container (type1v2),
 * VFIO's or iommufd's (CONFIG_VFIO_CONTAINER=n): the same answers, and on
 * iommufd's the device's access holds the compat IOAS, which can be
 * destroyed once the device is closed.
 */
TEST_F(mtty, group_container)
{
	struct mtty_ctx *m = &self->m;
	const char *want = getenv("VFIO_EDU_DEV_VFIO");
	__u32 flags = 0, ioas_id = 0;
	__u64 unmapped = 0;
	const char *is;

	m->group_fd = open(m->group_path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, m->group_fd);
	m->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, m->container);
	is = edu_container_is_iommufd(m->container) ? "iommufd" : "legacy";
	ASSERT_STREQ(want && *want ? want : is, is);

	ASSERT_EQ(0, ioctl(m->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &m->container));
	ASSERT_EQ(0, ioctl(m->container, VFIO_SET_IOMMU,
			   VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(0, group_status(m->group_fd, &flags));
	ASSERT_EQ((__u32)(VFIO_GROUP_FLAGS_VIABLE |
			  VFIO_GROUP_FLAGS_CONTAINER_SET), flags);
	ASSERT_EQ(0, edu_map(m->container, m->buf, 0x100000, m->buf_len));

	m->dev_fd = ioctl(m->group_fd, VFIO_GROUP_GET_DEVICE_FD, m->uuid);
	ASSERT_LE(0, m->dev_fd);
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
	if (!strcmp(is, "iommufd")) {
		ASSERT_EQ(0, edu_vfio_ioas(m->container, IOMMU_VFIO_IOAS_GET,
					   &ioas_id));
		ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->container, ioas_id));
	}
	/* mtty pins nothing: the unmap with the device open is fine */
	ASSERT_EQ(0, edu_unmap(m->container, 0x100000, m->buf_len,
			       &unmapped));
	ASSERT_EQ(m->buf_len, unmapped);
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
	close_fd(&m->dev_fd);
	if (!strcmp(is, "iommufd")) {
		/*
		 * The control of the EBUSY above: the access went away with
		 * the device fd, and nothing else holds the compat IOAS
		 */
		ASSERT_EQ(0, edu_iommufd_destroy(m->container, ioas_id));
		ASSERT_EQ(-ENODEV, edu_vfio_ioas(m->container,
						 IOMMU_VFIO_IOAS_GET, NULL));
	}

	ASSERT_EQ(0, ioctl(m->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	close_fd(&m->container);
	close_fd(&m->group_fd);
}

/*
 * The cdev: the errnos before and at the bind, bound and not attached,
 * attach to an IOAS, detach, attach to another, replace.
 */
TEST_F(mtty, cdev)
{
	struct mtty_ctx *m = &self->m;
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = offsetof(struct vfio_device_attach_iommufd_pt, pt_id),
	};
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};
	struct vfio_device_bind_iommufd bind = {};
	__u32 devid = 0, ioas1 = 0, ioas2 = 0, pt_id;
	char c;

	m->iommufd = edu_iommufd_open();
	ASSERT_LE(0, m->iommufd);
	m->cdev_fd = open(m->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, m->cdev_fd);

	/* Nothing but the bind before the bind */
	ASSERT_EQ(-EINVAL, mtty_check_device(m->cdev_fd));
	ASSERT_EQ(-1, read(m->cdev_fd, &c, 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, NULL));
	ASSERT_EQ(EINVAL, errno);
	pt_id = 1;
	ASSERT_EQ(-EINVAL, edu_cdev_attach(m->cdev_fd, &pt_id));

	/* argsz short of the fields the bind reads */
	bind.argsz = offsetof(struct vfio_device_bind_iommufd, out_devid);
	bind.iommufd = m->iommufd;
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	ASSERT_EQ(EINVAL, errno);

	ASSERT_EQ(-EINVAL, edu_cdev_bind(m->cdev_fd, -1, NULL));
	ASSERT_EQ(-EBADFD, edu_cdev_bind(m->cdev_fd, m->cdev_fd, NULL));
	ASSERT_EQ(0, edu_cdev_bind(m->cdev_fd, m->iommufd, &devid));
	ASSERT_NE(0u, devid);
	/* Once per fd, one fd per device */
	ASSERT_EQ(-EINVAL, edu_cdev_bind(m->cdev_fd, m->iommufd, NULL));
	m->cdev_fd2 = open(m->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, m->cdev_fd2);
	ASSERT_EQ(-EINVAL, edu_cdev_bind(m->cdev_fd2, m->iommufd, NULL));
	ASSERT_EQ(-EINVAL, mtty_check_device(m->cdev_fd2));
	close_fd(&m->cdev_fd2);

	/* Bound and not attached: the emulation works, it needs no memory */
	ASSERT_EQ(0, mtty_check_device(m->cdev_fd));

	ASSERT_EQ(0, edu_ioas_alloc(m->iommufd, &ioas1));
	ASSERT_EQ(0, edu_ioas_alloc(m->iommufd, &ioas2));

	/* argsz short of pt_id; unknown detach flags */
	attach.pt_id = ioas1;
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT,
			    &attach));
	ASSERT_EQ(EINVAL, errno);
	detach.flags = 1u << 31;
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
			    &detach));
	ASSERT_EQ(EINVAL, errno);
	detach.flags = 0;
	detach.argsz = offsetof(struct vfio_device_detach_iommufd_pt, flags);
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
			    &detach));
	ASSERT_EQ(EINVAL, errno);

	pt_id = ioas1;
	ASSERT_EQ(0, edu_cdev_attach(m->cdev_fd, &pt_id));
	ASSERT_EQ(ioas1, pt_id);
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, ioas1));

	ASSERT_EQ(0, edu_cdev_detach(m->cdev_fd));
	ASSERT_EQ(0, edu_cdev_detach(m->cdev_fd));
	ASSERT_EQ(0, mtty_check_device(m->cdev_fd));

	pt_id = ioas2;
	ASSERT_EQ(0, edu_cdev_attach(m->cdev_fd, &pt_id));
	ASSERT_EQ(ioas2, pt_id);
	/* Detached from ioas1, which can go */
	ASSERT_EQ(0, edu_iommufd_destroy(m->iommufd, ioas1));

	/* A second attach moves the access */
	ASSERT_EQ(0, edu_ioas_alloc(m->iommufd, &ioas1));
	pt_id = ioas1;
	ASSERT_EQ(0, edu_cdev_attach(m->cdev_fd, &pt_id));
	ASSERT_EQ(ioas1, pt_id);
	ASSERT_EQ(0, edu_iommufd_destroy(m->iommufd, ioas2));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, ioas1));
	/* Attaching where it is does nothing */
	ASSERT_EQ(0, edu_cdev_attach(m->cdev_fd, &pt_id));
	ASSERT_EQ(ioas1, pt_id);
	ASSERT_EQ(0, mtty_check_device(m->cdev_fd));
	close_fd(&m->cdev_fd);
	close_fd(&m->iommufd);
}

/*
 * What the cdev of an emulated device answers to what only physical
 * devices take: page table IDs other than an IOAS, its devid where a
 * DEVICE is expected, PCI hot reset, a VF token, PASID.
 */
TEST_F(mtty, non_mdev_errno)
{
	struct mtty_ctx *m = &self->m;
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

	m->iommufd = edu_iommufd_open();
	ASSERT_LE(0, m->iommufd);
	m->cdev_fd = open(m->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, m->cdev_fd);

	/* A VF token: mtty takes none */
	bind.iommufd = m->iommufd;
	bind.flags = VFIO_DEVICE_BIND_FLAG_TOKEN;
	bind.token_uuid_ptr = (uintptr_t)token;
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	ASSERT_EQ(EINVAL, errno);

	ASSERT_EQ(0, edu_cdev_bind(m->cdev_fd, m->iommufd, &devid));
	ASSERT_EQ(0, edu_ioas_alloc(m->iommufd, &ioas));
	ASSERT_EQ(0, edu_ioas_alloc(m->iommufd, &ioas_mock));
	ASSERT_EQ(0, _test_cmd_mock_domain(m->iommufd, ioas_mock, NULL,
					   &hwpt_id, NULL));

	/* Not attached: only an IOAS ID will do */
	pt_id = hwpt_id;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	pt_id = devid;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	pt_id = 0x7fffff00;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	pt_id = 0;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	/*
	 * An IOAS of another iommufd is not found in this one: allocate
	 * there until its ID is past those of this iommufd (the mock
	 * domain's objects follow hwpt_id closely).
	 */
	m->iommufd2 = edu_iommufd_open();
	ASSERT_LE(0, m->iommufd2);
	do {
		ASSERT_EQ(0, edu_ioas_alloc(m->iommufd2, &other_ioas));
	} while (other_ioas <= hwpt_id + 4);
	pt_id = other_ioas;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	close_fd(&m->iommufd2);
	pt_id = ioas;
	ASSERT_EQ(-EOPNOTSUPP, edu_cdev_attach_flags(m->cdev_fd,
						     VFIO_DEVICE_ATTACH_PASID,
						     &pt_id));
	ASSERT_EQ(-EINVAL, edu_cdev_attach_flags(m->cdev_fd, 1u << 31,
						 &pt_id));

	/* Attached: the same, and it stays on its IOAS */
	pt_id = ioas;
	ASSERT_EQ(0, edu_cdev_attach(m->cdev_fd, &pt_id));
	pt_id = hwpt_id;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	pt_id = devid;
	ASSERT_EQ(-ENOENT, edu_cdev_attach(m->cdev_fd, &pt_id));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, ioas));

	/* The devid names an access, not a DEVICE */
	hwpt.dev_id = devid;
	hwpt.pt_id = ioas;
	ASSERT_EQ(-1, ioctl(m->iommufd, IOMMU_HWPT_ALLOC, &hwpt));
	ASSERT_EQ(ENOENT, errno);
	info.dev_id = devid;
	ASSERT_EQ(-1, ioctl(m->iommufd, IOMMU_GET_HW_INFO, &info));
	ASSERT_EQ(ENOENT, errno);
	/* ... which user space cannot destroy */
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, devid));

	/* PCI hot reset is vfio-pci's: mtty does not know the ioctls */
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
			    &reset_info));
	ASSERT_EQ(ENOTTY, errno);
	ASSERT_EQ(-1, ioctl(m->cdev_fd, VFIO_DEVICE_PCI_HOT_RESET, &reset));
	ASSERT_EQ(ENOTTY, errno);

	/* All of it left the device working */
	ASSERT_EQ(0, mtty_check_device(m->cdev_fd));
	ASSERT_EQ(0, edu_cdev_detach(m->cdev_fd));
	ASSERT_EQ(0, edu_iommufd_destroy(m->iommufd, ioas));
	close_fd(&m->cdev_fd);
	close_fd(&m->iommufd);
}

/*
 * The device opened the group way or the cdev way (mtty_open_dev()), one
 * variant each: what must hold whichever way it was opened.
 */
FIXTURE(mtty_dev) {
	struct mtty_ctx m;
};

FIXTURE_VARIANT(mtty_dev) {
	bool cdev;
};

FIXTURE_VARIANT_ADD(mtty_dev, group) {
	.cdev = false,
};

FIXTURE_VARIANT_ADD(mtty_dev, cdev) {
	.cdev = true,
};

/*
 * Only the mdev: a test opens the device itself, so that the teardown
 * closes what an ASSERT of the open leaves open before it removes the mdev
 */
FIXTURE_SETUP(mtty_dev)
{
	mtty_setup_mdev(_metadata, &self->m);
}

FIXTURE_TEARDOWN(mtty_dev)
{
	mtty_teardown_mdev(_metadata, &self->m);
}

/*
 * Open and attached, the device works with nothing mapped (mtty does no
 * DMA), with a mapping and after its unmap; its access holds the IOAS.
 */
TEST_F(mtty_dev, open)
{
	struct mtty_ctx *m = &self->m;
	__u64 unmapped = 0;
	__u32 ioas_id = 0;

	mtty_open_dev(_metadata, m, variant->cdev, &ioas_id);
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, ioas_id));

	ASSERT_EQ(0, edu_ioas_map(m->iommufd, ioas_id, m->buf, 0x100000,
				  m->buf_len));
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
	/* Unmapping under an attached access is fine */
	ASSERT_EQ(0, edu_ioas_unmap(m->iommufd, ioas_id, 0x100000,
				    m->buf_len, &unmapped));
	ASSERT_EQ(m->buf_len, unmapped);
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
	ASSERT_EQ(-EBUSY, edu_iommufd_destroy(m->iommufd, ioas_id));
}

/* Open one way, the device cannot be opened the other way */
TEST_F(mtty_dev, exclusive)
{
	struct mtty_ctx *m = &self->m;
	__u32 ioas_id = 0;

	mtty_open_dev(_metadata, m, variant->cdev, &ioas_id);
	if (variant->cdev) {
		m->group_fd = open(m->group_path, O_RDWR | O_CLOEXEC);
		ASSERT_EQ(-1, m->group_fd);
		ASSERT_EQ(EBUSY, errno);
	} else {
		m->cdev_fd = open(m->cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, m->cdev_fd);
		ASSERT_EQ(-EBUSY, edu_cdev_bind(m->cdev_fd, m->iommufd, NULL));
	}
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
}

/*
 * Closing the device fd ends the access: its IOAS can go, and the device
 * opens again the same way.
 */
TEST_F(mtty_dev, close_reopen)
{
	struct mtty_ctx *m = &self->m;
	__u32 ioas_id = 0;

	mtty_open_dev(_metadata, m, variant->cdev, &ioas_id);
	close_fd(&m->dev_fd);
	ASSERT_EQ(0, edu_iommufd_destroy(m->iommufd, ioas_id));
	close_fd(&m->group_fd);
	close_fd(&m->iommufd);

	mtty_open_dev(_metadata, m, variant->cdev, &ioas_id);
	ASSERT_EQ(0, mtty_check_device(m->dev_fd));
}

TEST_HARNESS_MAIN
