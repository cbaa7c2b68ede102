// SPDX-License-Identifier: GPL-2.0-only
/*
 * DMA ownership of a multi-device IOMMU group, as reported by
 * /sys/kernel/iommu_groups/N/dma_owner.
 *
 * The tests need a group with two or more edu functions and at least one
 * non-edu member bound to a kernel DMA-API driver (e.g. an e1000 behind the
 * same PCIe-to-PCI bridge).  They check that dma_owner follows driver
 * binding and the legacy VFIO group claim, that VFIO viability agrees with
 * it, and that each side is refused, with the errno user space sees and a
 * kernel log line naming the group, the device and the driver, while the
 * other side owns the group.  A kernel without dma_owner fails the tests;
 * only a machine without such a group skips them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "edu.h"

#define MAX_EDUS	16
#define MAX_MEMBERS	16
#define OWNER_LEN	64
#define KMSG_REC_MAX	8192	/* CONSOLE_EXT_LOG_MAX */

/*
 * Each test unbinds and rebinds the kernel-bound member; under TCG with
 * KASAN and lockdep an e1000 probe alone takes several seconds, and more
 * on a loaded host, so the harness default of 30 s is too short.
 */
#define OWNER_TEST_TIMEOUT	90

#define OWNER_NONE	"none"
#define OWNER_USER_1	"user 1"

/* A member bound to a kernel DMA-API driver when the test started. */
struct kernel_dev {
	char bdf[EDU_BDF_LEN];
	char drv[EDU_DRV_LEN];
};

struct group_ctx {
	bool found;		/* a usable multi-device group exists */
	int group;
	char edu[MAX_MEMBERS][EDU_BDF_LEN];
	int n_edu;
	struct kernel_dev kdev[MAX_MEMBERS];
	int n_kdev;
	char kernel_owned[OWNER_LEN];	/* "kernel <n_kdev>" */
	char log_prefix[32];		/* "iommu group <N>: " */
	char owner[OWNER_LEN];
	int container_fd;
	int group_fd;
	int kmsg_fd;
	struct edu_dev dev;
};

FIXTURE(group_owner) {
	struct group_ctx g;
};

/*
 * Record the edu functions and the kernel-bound members of @group.
 * Returns true when the group has two edu functions and a kernel-bound
 * non-edu, non-bridge member.
 */
static bool scan_group(struct group_ctx *g, int group)
{
	char members[MAX_MEMBERS][EDU_BDF_LEN];
	char drv[EDU_DRV_LEN];
	int i, n;

	g->n_edu = 0;
	g->n_kdev = 0;
	n = edu_group_devices(group, members, MAX_MEMBERS);
	for (i = 0; i < n; i++) {
		if (edu_driver(members[i], drv, sizeof(drv)))
			return false;
		if (edu_is_edu(members[i])) {
			strcpy(g->edu[g->n_edu++], members[i]);
			continue;
		}
		if (edu_is_bridge(members[i]))
			continue;
		/*
		 * A test killed by its timeout (here or in another binary)
		 * can leave this member unbound: let the kernel probe its
		 * own driver again rather than skip every test after it.
		 */
		if (!drv[0]) {
			edu_sysfs_write(EDU_SYSFS_PCI "/drivers_probe",
					members[i]);
			if (edu_driver(members[i], drv, sizeof(drv)))
				return false;
		}
		if (drv[0] && strcmp(drv, "vfio-pci")) {
			strcpy(g->kdev[g->n_kdev].bdf, members[i]);
			strcpy(g->kdev[g->n_kdev].drv, drv);
			g->n_kdev++;
		}
	}
	g->group = group;
	return g->n_edu >= 2 && g->n_kdev >= 1;
}

/* Only discovery here: a failed ASSERT in the setup skips the teardown. */
FIXTURE_SETUP(group_owner)
{
	struct group_ctx *g = &self->g;
	struct edu_pci edus[MAX_EDUS];
	int i, n, ret;

	g->container_fd = -1;
	g->group_fd = -1;
	g->kmsg_fd = -1;
	g->dev.device_fd = -1;

	n = edu_find_all(edus, MAX_EDUS);
	ASSERT_LE(0, n) TH_LOG("scanning sysfs for edu: %s", strerror(-n));
	for (i = 0; i < n && !g->found; i++)
		if (edus[i].group_edus >= 2)
			g->found = scan_group(g, edus[i].group);
	if (!g->found)
		return;

	snprintf(g->kernel_owned, sizeof(g->kernel_owned), "kernel %d",
		 g->n_kdev);
	snprintf(g->log_prefix, sizeof(g->log_prefix), "iommu group %d: ",
		 g->group);

	/* The attribute is part of the ABI under test: missing is a failure */
	ret = edu_group_dma_owner(g->group, g->owner, sizeof(g->owner));
	ASSERT_EQ(0, ret) TH_LOG("reading /sys/kernel/iommu_groups/%d/dma_owner: %s",
				 g->group, strerror(-ret));
}

/* Put a member back on its original driver, if it lost it. */
static int kdev_restore(const struct kernel_dev *k)
{
	char drv[EDU_DRV_LEN];
	int ret;

	ret = edu_driver(k->bdf, drv, sizeof(drv));
	if (ret)
		return ret;
	if (!strcmp(drv, k->drv))
		return 0;
	if (drv[0])
		return -EBUSY;
	return edu_bind_driver(k->bdf, k->drv);
}

static void close_vfio(struct group_ctx *g)
{
	edu_dev_close(&g->dev);
	if (g->group_fd >= 0)
		close(g->group_fd);
	if (g->container_fd >= 0)
		close(g->container_fd);
	g->group_fd = -1;
	g->container_fd = -1;
}

FIXTURE_TEARDOWN(group_owner)
{
	struct group_ctx *g = &self->g;
	int i, ret;

	close_vfio(g);
	if (g->kmsg_fd >= 0)
		close(g->kmsg_fd);
	g->kmsg_fd = -1;
	if (!g->found)
		return;

	/* Only EXPECT here: an ASSERT would jump back into the teardown. */
	for (i = 0; i < g->n_kdev; i++) {
		ret = kdev_restore(&g->kdev[i]);
		EXPECT_EQ(0, ret)
			TH_LOG("cannot rebind %s to %s: %s", g->kdev[i].bdf,
			       g->kdev[i].drv, strerror(-ret));
	}
}

static const char *skip_reason(struct group_ctx *g)
{
	if (!g->found)
		return "no IOMMU group with two edu devices and a kernel-bound member";
	return NULL;
}

/* The group's dma_owner, or a string that no expectation matches. */
static const char *owner(struct group_ctx *g)
{
	int ret;

	ret = edu_group_dma_owner(g->group, g->owner, sizeof(g->owner));
	if (ret)
		snprintf(g->owner, sizeof(g->owner),
			 "<dma_owner unreadable: %s>", strerror(-ret));
	return g->owner;
}

/* VFIO_GROUP_GET_STATUS flags of the open group, or -1. */
static long long group_flags(struct group_ctx *g)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	if (ioctl(g->group_fd, VFIO_GROUP_GET_STATUS, &status))
		return -1;
	return status.flags;
}

static void edus_to_vfio(struct __test_metadata *_metadata,
			 struct group_ctx *g)
{
	int i, ret;

	for (i = 0; i < g->n_edu; i++) {
		ret = edu_bind_vfio(g->edu[i]);
		ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to vfio-pci: %s",
					 g->edu[i], strerror(-ret));
	}
}

static void unbind_kdevs(struct __test_metadata *_metadata,
			 struct group_ctx *g)
{
	int i, ret;

	for (i = 0; i < g->n_kdev; i++) {
		ret = edu_unbind(g->kdev[i].bdf);
		ASSERT_EQ(0, ret) TH_LOG("cannot unbind %s from %s: %s",
					 g->kdev[i].bdf, g->kdev[i].drv,
					 strerror(-ret));
	}
}

static void rebind_kdevs(struct __test_metadata *_metadata,
			 struct group_ctx *g)
{
	int i, ret;

	for (i = 0; i < g->n_kdev; i++) {
		ret = kdev_restore(&g->kdev[i]);
		ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to %s: %s",
					 g->kdev[i].bdf, g->kdev[i].drv,
					 strerror(-ret));
	}
}

/* Open /dev/kmsg positioned after the last record; fd or -errno. */
static int kmsg_open_end(void)
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
 * Read the records logged since the last call (or kmsg_open_end()) and
 * look for a message containing both @a and @b.  The first match is copied
 * to @line.  Returns 1 if found, 0 if not, or a negative errno.
 */
static int kmsg_find(int fd, const char *a, const char *b, char *line,
		     size_t len)
{
	static char rec[KMSG_REC_MAX + 1];
	int found = 0;
	char *msg;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, KMSG_REC_MAX);
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

/* dma_owner follows driver binding and the legacy VFIO group claim. */
TEST_F_TIMEOUT(group_owner, owner_follows_binding, OWNER_TEST_TIMEOUT)
{
	struct group_ctx *g = &self->g;
	const char *why = skip_reason(g);
	int i, ret;

	if (why)
		SKIP(return, "%s", why);

	for (i = 0; i < g->n_edu; i++) {
		ret = edu_unbind(g->edu[i]);
		ASSERT_EQ(0, ret) TH_LOG("cannot unbind %s: %s", g->edu[i],
					 strerror(-ret));
	}
	ASSERT_STREQ(g->kernel_owned, owner(g));

	/* vfio-pci is driver_managed_dma: it takes no ownership. */
	edus_to_vfio(_metadata, g);
	ASSERT_STREQ(g->kernel_owned, owner(g));

	unbind_kdevs(_metadata, g);
	ASSERT_STREQ(OWNER_NONE, owner(g));

	/* Opening the group claims nothing; SET_CONTAINER does. */
	ASSERT_EQ(0, edu_vfio_open(g->group, &g->container_fd, &g->group_fd));
	ASSERT_STREQ(OWNER_NONE, owner(g));
	ASSERT_EQ(0, ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &g->container_fd));
	ASSERT_STREQ(OWNER_USER_1, owner(g));
	ASSERT_EQ(0, ioctl(g->container_fd, VFIO_SET_IOMMU,
			   VFIO_TYPE1v2_IOMMU));
	ASSERT_STREQ(OWNER_USER_1, owner(g));

	/* A device fd is no further claim on the legacy path. */
	ret = edu_dev_open(&g->dev, g->group_fd, g->edu[0]);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", g->edu[0], strerror(-ret));
	ASSERT_STREQ(OWNER_USER_1, owner(g));
	edu_dev_close(&g->dev);
	ASSERT_STREQ(OWNER_USER_1, owner(g));

	close_vfio(g);
	ASSERT_STREQ(OWNER_NONE, owner(g));

	rebind_kdevs(_metadata, g);
	ASSERT_STREQ(g->kernel_owned, owner(g));
}

/* VFIO viability of the group agrees with dma_owner at every step. */
TEST_F_TIMEOUT(group_owner, viable_follows_owner, OWNER_TEST_TIMEOUT)
{
	struct group_ctx *g = &self->g;
	const char *why = skip_reason(g);

	if (why)
		SKIP(return, "%s", why);

	edus_to_vfio(_metadata, g);
	ASSERT_EQ(0, edu_vfio_open(g->group, &g->container_fd, &g->group_fd));

	ASSERT_STREQ(g->kernel_owned, owner(g));
	ASSERT_EQ(0, group_flags(g));

	unbind_kdevs(_metadata, g);
	ASSERT_STREQ(OWNER_NONE, owner(g));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, group_flags(g));

	ASSERT_EQ(0, ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &g->container_fd));
	ASSERT_STREQ(OWNER_USER_1, owner(g));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET,
		  group_flags(g));

	/* Dropping the container releases the claim, the fd stays open. */
	ASSERT_EQ(0, ioctl(g->group_fd, VFIO_GROUP_UNSET_CONTAINER));
	ASSERT_STREQ(OWNER_NONE, owner(g));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE, group_flags(g));

	/* A kernel driver may come back while the group fd is open. */
	rebind_kdevs(_metadata, g);
	ASSERT_STREQ(g->kernel_owned, owner(g));
	ASSERT_EQ(0, group_flags(g));
}

/* While user space owns the group, a kernel driver cannot bind. */
TEST_F_TIMEOUT(group_owner, kernel_bind_refused, OWNER_TEST_TIMEOUT)
{
	struct group_ctx *g = &self->g;
	const char *why = skip_reason(g);
	const struct kernel_dev *k = &g->kdev[0];
	char path[256], drv[EDU_DRV_LEN], line[512];
	int fd, ret, err;
	ssize_t n;

	if (why)
		SKIP(return, "%s", why);

	edus_to_vfio(_metadata, g);
	unbind_kdevs(_metadata, g);
	ASSERT_EQ(0, edu_vfio_open(g->group, &g->container_fd, &g->group_fd));
	ret = edu_vfio_attach(g->container_fd, g->group_fd);
	ASSERT_EQ(0, ret) TH_LOG("attach group %d: %s", g->group,
				 strerror(-ret));
	ASSERT_STREQ(OWNER_USER_1, owner(g));

	snprintf(path, sizeof(path), EDU_SYSFS_PCI "/drivers/%s/bind", k->drv);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));

	g->kmsg_fd = kmsg_open_end();
	ASSERT_LE(0, g->kmsg_fd) TH_LOG("/dev/kmsg: %s", strerror(-g->kmsg_fd));

	n = write(fd, k->bdf, strlen(k->bdf));
	err = errno;
	close(fd);
	ASSERT_EQ(-1, n) TH_LOG("%s bound to %s in a user-owned group",
				k->bdf, k->drv);
	/* dma_configure() -> iommu_device_use_default_domain() */
	ASSERT_EQ(EBUSY, err) TH_LOG("binding %s to %s: %s, not EBUSY",
				     k->bdf, k->drv, strerror(err));

	ASSERT_EQ(0, edu_driver(k->bdf, drv, sizeof(drv)));
	ASSERT_STREQ("", drv);
	ASSERT_STREQ(OWNER_USER_1, owner(g));
	ASSERT_EQ(VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET,
		  group_flags(g));

	ret = kmsg_find(g->kmsg_fd, g->log_prefix, k->bdf, line, sizeof(line));
	ASSERT_EQ(1, ret) TH_LOG("no kernel log line with \"%s\" and %s (%d)",
				 g->log_prefix, k->bdf, ret);
	TH_LOG("kernel: %s", line);

	close_vfio(g);
	ASSERT_STREQ(OWNER_NONE, owner(g));
	ret = edu_bind_driver(k->bdf, k->drv);
	ASSERT_EQ(0, ret) TH_LOG("cannot bind %s to %s after release: %s",
				 k->bdf, k->drv, strerror(-ret));
	rebind_kdevs(_metadata, g);
	ASSERT_STREQ(g->kernel_owned, owner(g));
}

/* While a kernel driver is bound, the legacy VFIO group claim fails. */
TEST_F_TIMEOUT(group_owner, user_claim_refused, OWNER_TEST_TIMEOUT)
{
	struct group_ctx *g = &self->g;
	const char *why = skip_reason(g);
	const struct kernel_dev *k = &g->kdev[0];
	char drv[EDU_DRV_LEN], line[512];
	int ret;

	if (why)
		SKIP(return, "%s", why);

	edus_to_vfio(_metadata, g);
	ASSERT_EQ(0, edu_vfio_open(g->group, &g->container_fd, &g->group_fd));
	ASSERT_STREQ(g->kernel_owned, owner(g));

	g->kmsg_fd = kmsg_open_end();
	ASSERT_LE(0, g->kmsg_fd) TH_LOG("/dev/kmsg: %s", strerror(-g->kmsg_fd));

	/* 6.1: iommu_group_claim_dma_owner() refuses with EPERM. */
	ASSERT_EQ(-1, ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER,
			    &g->container_fd));
	ASSERT_EQ(EPERM, errno);

	ASSERT_STREQ(g->kernel_owned, owner(g));
	ASSERT_EQ(0, group_flags(g));
	ASSERT_EQ(0, edu_driver(k->bdf, drv, sizeof(drv)));
	ASSERT_STREQ(k->drv, drv);

	/* Any BDF may be the asking one: the legacy claim is group-wide. */
	ret = kmsg_find(g->kmsg_fd, g->log_prefix, k->bdf, line, sizeof(line));
	ASSERT_EQ(1, ret) TH_LOG("no kernel log line with \"%s\" and %s (%d)",
				 g->log_prefix, k->bdf, ret);
	TH_LOG("kernel: %s", line);
	ASSERT_NE(NULL, strstr(line, k->drv))
		TH_LOG("the line does not name the driver %s", k->drv);

	/* Positive control: without the kernel driver the claim succeeds. */
	unbind_kdevs(_metadata, g);
	ASSERT_STREQ(OWNER_NONE, owner(g));
	ASSERT_EQ(0, ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER,
			   &g->container_fd));
	ASSERT_STREQ(OWNER_USER_1, owner(g));

	close_vfio(g);
	ASSERT_STREQ(OWNER_NONE, owner(g));
	rebind_kdevs(_metadata, g);
	ASSERT_STREQ(g->kernel_owned, owner(g));
}

TEST_HARNESS_MAIN
