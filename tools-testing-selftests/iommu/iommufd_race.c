// SPDX-License-Identifier: GPL-2.0-only
/*
 * Named races of iommufd and of the VFIO paths on top of it.
 *
 * Each test runs two or three calls concurrently, round after round, with a
 * random delay in front of each, and classifies every round by what each
 * call returned.  A race test passes only when every outcome that proves
 * the race happened was seen at least once (e.g. IOMMU_DESTROY both before
 * and during an IOMMU_IOAS_MAP of the same IOAS) within a bound of rounds
 * and time, and when no round produced an outcome the UAPI does not allow.
 * After every round the state must be consistent: the object is gone or
 * destroyable, VmPin is back to its baseline, no mock device is left.
 *
 * The VFIO races use QEMU's edu device (00:03.0 and the two behind the
 * PCIe-to-PCI bridge, whose group also holds an e1000) through the device
 * cdev; they skip when the kernel has no cdev for it (CONFIG_VFIO_DEVICE_CDEV
 * not set or the VFIO-on-iommufd code absent).
 */
#include <pthread.h>
#include <time.h>

#include "../kselftest_harness.h"
#include "iommufd_utils.h"
#include "../vfio/edu.h"

#define RACE_ROUNDS 20000
#define RACE_SECONDS 60
#define MAX_OUTCOMES 6

/* ---- a reusable set of racing threads ----------------------------------- */

struct race;
typedef int (*race_fn)(struct race *r, int who);

struct race {
	pthread_barrier_t start, done;
	pthread_t tid[3];
	int nthreads;
	race_fn fn[3];
	int rc[3], err[3];
	double t_start[3], t_end[3];	/* taken around each call */
	unsigned int delay[3];
	bool quit;
	void *ctx;
	/* outcome names and how often each was seen */
	const char *name[MAX_OUTCOMES];
	long seen[MAX_OUTCOMES];
	int noutcomes;
};

static double race_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct race_arg {
	struct race *r;
	int who;
};

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	struct race *r = a->r;
	unsigned int spin;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (r->quit)
			break;
		/* A compiler barrier keeps the delay loop */
		for (spin = 0; spin < r->delay[a->who]; spin++)
			__asm__ __volatile__("" : : : "memory");
		r->t_start[a->who] = race_now();
		r->rc[a->who] = r->fn[a->who](r, a->who);
		r->err[a->who] = r->rc[a->who] < 0 ? errno : 0;
		r->t_end[a->who] = race_now();
		pthread_barrier_wait(&r->done);
	}
	free(a);
	return NULL;
}

static void race_start(struct race *r, int n, race_fn a, race_fn b, race_fn c)
{
	int i;

	r->nthreads = n;
	r->fn[0] = a;
	r->fn[1] = b;
	r->fn[2] = c;
	r->quit = false;
	pthread_barrier_init(&r->start, NULL, n + 1);
	pthread_barrier_init(&r->done, NULL, n + 1);
	for (i = 0; i < n; i++) {
		struct race_arg *arg = malloc(sizeof(*arg));

		arg->r = r;
		arg->who = i;
		pthread_create(&r->tid[i], NULL, race_thread, arg);
	}
}

/* One round: random delays (growing with the round number), run, wait */
static void race_round(struct race *r, long round)
{
	unsigned int span = 1U << (round % 15);
	int i;

	for (i = 0; i < r->nthreads; i++)
		r->delay[i] = random() % span;
	pthread_barrier_wait(&r->start);
	pthread_barrier_wait(&r->done);
}

static void race_stop(struct race *r)
{
	int i;

	r->quit = true;
	pthread_barrier_wait(&r->start);
	for (i = 0; i < r->nthreads; i++)
		pthread_join(r->tid[i], NULL);
	pthread_barrier_destroy(&r->start);
	pthread_barrier_destroy(&r->done);
}

static int race_outcome(struct race *r, const char *name)
{
	int i;

	for (i = 0; i < r->noutcomes; i++)
		if (!strcmp(r->name[i], name))
			return i;
	r->name[r->noutcomes] = name;
	return r->noutcomes++;
}

static void race_saw(struct race *r, const char *name)
{
	r->seen[race_outcome(r, name)]++;
}

static bool race_all_seen(struct race *r)
{
	int i;

	for (i = 0; i < r->noutcomes; i++)
		if (!r->seen[i])
			return false;
	return true;
}

static void race_print(struct race *r, long rounds, double secs)
{
	int i;

	printf("# %ld rounds in %.1f s:", rounds, secs);
	for (i = 0; i < r->noutcomes; i++)
		printf(" %s=%ld", r->name[i], r->seen[i]);
	printf("\n");
	/* The harness ends a test's process with _exit() */
	fflush(stdout);
}

static int mock_devices(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir("/sys/bus/iommufd_mock/devices");

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- IOMMU_DESTROY against MAP, COPY and UNMAP on one IOAS ------------------ */

FIXTURE(race)
{
	int fd;
	void *buf;
	size_t len;
	long vmpin;
	int mockdevs;
	int devs_after_close;	/* mock devices right after close() returned */
	struct race r;
	__u32 ioas, src, hwpt, stdev2;
	__u64 iova;
};

FIXTURE_SETUP(race)
{
	self->fd = iommufd_open();
	ASSERT_LE(0, self->fd);
	self->len = 16 * PAGE_SIZE;
	self->buf = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	self->vmpin = vm_pinned_kb();
	self->mockdevs = mock_devices();
	memset(&self->r, 0, sizeof(self->r));
	srandom(time(NULL));
}

FIXTURE_TEARDOWN(race)
{
	if (self->fd >= 0)
		close(self->fd);
	munmap(self->buf, 1 << 20);
}

static int do_map(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;
	__u64 iova;

	return _test_ioctl_ioas_map(self->fd, self->ioas, self->buf, self->len,
				    &iova, IOMMU_IOAS_MAP_RW);
}

static int do_copy(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;
	__u64 iova;

	return _test_ioctl_ioas_copy(self->fd, self->ioas, self->src,
				     self->iova, self->len, &iova,
				     IOMMU_IOAS_MAP_RW);
}

static int do_unmap(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;

	return _test_ioctl_ioas_unmap(self->fd, self->ioas, UNMAP_ALL_IOVA,
				      UNMAP_ALL_LENGTH, NULL);
}

static int do_destroy(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;

	return _test_ioctl_destroy(self->fd, self->ioas);
}

/*
 * DESTROY of the IOAS that @op (MAP, COPY into it, UNMAP from it) uses.
 * "destroy_first": DESTROY won, @op found no IOAS (ENOENT);
 * "op_in_flight": DESTROY saw @op's reference (EBUSY), @op succeeded.
 * Also legal: @op done before DESTROY (both succeed).  Anything else fails.
 */
static void destroy_race(struct __test_metadata *_metadata,
			 struct _test_data_race *self, race_fn op, bool premap)
{
	struct race *r = &self->r;
	double t0 = race_now();
	long round;

	race_outcome(r, "destroy_first");
	race_outcome(r, "op_in_flight");
	if (op == do_copy) {
		ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->fd, &self->src));
		self->iova = MOCK_APERTURE_START;
		ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, self->src, self->buf,
						  self->len, &self->iova,
						  IOMMU_IOAS_MAP_FIXED_IOVA |
						  IOMMU_IOAS_MAP_RW));
	}
	r->ctx = self;
	race_start(r, 2, op, do_destroy, NULL);
	for (round = 0; round < RACE_ROUNDS; round++) {
		__u64 iova;

		ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->fd, &self->ioas));
		if (premap)
			ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, self->ioas,
							  self->buf, self->len,
							  &iova, IOMMU_IOAS_MAP_RW));
		race_round(r, round);
		if (r->rc[1] == 0 && r->rc[0] == -1 && r->err[0] == ENOENT) {
			race_saw(r, "destroy_first");
		} else if (r->rc[1] == -1 && r->err[1] == EBUSY && r->rc[0] == 0) {
			race_saw(r, "op_in_flight");
			ASSERT_EQ(0, _test_ioctl_destroy(self->fd, self->ioas));
		} else if (r->rc[1] == 0 && r->rc[0] == 0) {
			race_saw(r, "op_first");
		} else {
			TH_LOG("round %ld: op rc %d errno %d, DESTROY rc %d errno %d",
			       round, r->rc[0], r->err[0], r->rc[1], r->err[1]);
			ASSERT_TRUE(false);
		}
		/* Whatever happened, the IOAS is gone now */
		ASSERT_EQ(-1, _test_ioctl_destroy(self->fd, self->ioas));
		ASSERT_EQ(ENOENT, errno);
		if (race_all_seen(r) || race_now() - t0 > RACE_SECONDS)
			break;
	}
	race_stop(r);
	race_print(r, round + 1, race_now() - t0);
	if (op == do_copy)
		ASSERT_EQ(0, _test_ioctl_destroy(self->fd, self->src));
	ASSERT_EQ(self->vmpin, vm_pinned_kb());
	ASSERT_TRUE(race_all_seen(r));
}

TEST_F_TIMEOUT(race, destroy_vs_map, 120)
{
	destroy_race(_metadata, self, do_map, false);
}

TEST_F_TIMEOUT(race, destroy_vs_copy, 120)
{
	destroy_race(_metadata, self, do_copy, false);
}

TEST_F_TIMEOUT(race, destroy_vs_unmap, 120)
{
	destroy_race(_metadata, self, do_unmap, true);
}

/* ---- close of the iommufd while another thread's ioctl pins pages ---------- */

static int do_map_pin(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;
	__u64 iova;

	/* 1 MiB through a mock domain: 256 pages to pin and map */
	return _test_ioctl_ioas_map(self->fd, self->ioas, self->buf, 1 << 20,
				    &iova, IOMMU_IOAS_MAP_RW);
}

/*
 * The mock device of the round dies with the context, when the file is
 * released.  close() drops the fd's reference, and the release runs before
 * close() returns to user space unless another reference holds the file:
 * the one an ioctl in flight took.  So a mock device still there right
 * after close() returned is kernel evidence that the MAP was in flight.
 */
static int do_close(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;
	int rc, err;

	rc = close(self->fd);
	err = errno;
	self->devs_after_close = mock_devices();
	errno = err;
	return rc;
}

/*
 * "close_first": the ioctl found no file (EBADF);
 * "ioctl_in_flight": the MAP succeeded and the round's mock device was
 * still alive after close() returned: the MAP's reference kept the file,
 * and the context was released at the end of the MAP.  A MAP that
 * succeeded with the device already gone after close() proves neither
 * ("ioctl_first").  Either way nothing stays pinned or bound.
 */
TEST_F_TIMEOUT(race, close_vs_ioctl, 180)
{
	struct race *r = &self->r;
	double t0 = race_now();
	long round;
	__u32 stdev, hwpt, idev;

	if (!iommufd_test_supported(self->fd))
		SKIP(return, "no IOMMU_TEST_CMD");
	race_outcome(r, "close_first");
	race_outcome(r, "ioctl_in_flight");
	r->ctx = self;
	race_start(r, 2, do_map_pin, do_close, NULL);
	for (round = 0; round < RACE_ROUNDS / 10; round++) {
		if (self->fd < 0)
			self->fd = iommufd_open();
		ASSERT_LE(0, self->fd);
		ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->fd, &self->ioas));
		ASSERT_EQ(0, _test_cmd_mock_domain(self->fd, self->ioas, &stdev,
						   &hwpt, &idev));
		race_round(r, round);
		ASSERT_EQ(0, r->rc[1]);
		if (r->rc[0] == -1 && r->err[0] == EBADF) {
			race_saw(r, "close_first");
		} else if (r->rc[0] == 0 &&
			   self->devs_after_close > self->mockdevs) {
			race_saw(r, "ioctl_in_flight");
		} else if (r->rc[0] == 0) {
			race_saw(r, "ioctl_first");
		} else {
			TH_LOG("round %ld: MAP rc %d errno %d", round, r->rc[0],
			       r->err[0]);
			ASSERT_TRUE(false);
		}
		self->fd = -1;
		/* The release ran before the last fput returned to user space */
		ASSERT_EQ(self->vmpin, vm_pinned_kb());
		ASSERT_EQ(self->mockdevs, mock_devices());
		if (race_all_seen(r) || race_now() - t0 > RACE_SECONDS * 2)
			break;
	}
	race_stop(r);
	race_print(r, round + 1, race_now() - t0);
	ASSERT_TRUE(race_all_seen(r));
}

/* ---- device detach and attach against MAP on an intel domain ------------- */

#define RACE_OVERLAPS 200

static int do_map_unmap_1m(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;
	__u64 iova;
	int rc;

	rc = _test_ioctl_ioas_map(self->fd, self->ioas, self->buf, 1 << 20,
				  &iova, IOMMU_IOAS_MAP_RW);
	if (rc)
		return rc;
	return _test_ioctl_ioas_unmap(self->fd, self->ioas, iova, 1 << 20,
				      NULL);
}

static int do_detach_attach(struct race *r, int who)
{
	struct _test_data_race *self = r->ctx;
	int rc;

	rc = _test_cmd_mock_detach(self->fd, self->stdev2);
	if (rc)
		return rc;
	return _test_cmd_mock_attach(self->fd, self->stdev2, self->hwpt, NULL);
}

/*
 * Regression test of a use-after-free iommufd_fuzz found on the edu:
 * iommufd detached a device while MAP was filling the domain, and 6.1
 * intel frees the domain's record of an IOMMU unit at the detach of the
 * unit's last device while intel_iommu_iotlb_sync_map() walks the records
 * without a lock (KASAN: read in intel_iommu_iotlb_sync_map(), freed by
 * domain_detach_iommu()).  The mock intel IOMMU WARNs when a device is
 * attached to or detached from a domain while the domain is mapped,
 * unmapped or flushed, so no real IOMMU is needed: two mock intel devices
 * of two units share one HW_PAGETABLE, the first keeps it (and the domain)
 * in the IOAS, the second is detached and attached again while another
 * thread maps and unmaps 1 MiB.  The test reads the kernel log for that
 * WARN.  Rounds are classified by the time brackets around each pair of
 * calls, which only show that the pairs overlapped, not that the driver's
 * attach met a fill: "overlap" must be seen RACE_OVERLAPS times and
 * "apart" once.  Without the fix the test failed in its first run (see
 * the commit message).
 */
TEST_F_TIMEOUT(race, detach_vs_map_intel, 180)
{
	struct race *r = &self->r;
	double t0 = race_now();
	long round, overlaps = 0;
	char line[512];
	int kmsg, found;
	__u32 stdev1;

	if (!iommufd_test_supported(self->fd))
		SKIP(return, "no IOMMU_TEST_CMD");
	kmsg = edu_kmsg_open_end();
	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->fd, &self->ioas));
	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, self->ioas,
						 MOCK_FLAGS_DEVICE_INTEL, 0,
						 &stdev1, &self->hwpt, NULL));
	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, self->hwpt,
						 MOCK_FLAGS_DEVICE_INTEL, 0,
						 &self->stdev2, NULL, NULL));
	race_outcome(r, "overlap");
	race_outcome(r, "apart");
	r->ctx = self;
	race_start(r, 2, do_map_unmap_1m, do_detach_attach, NULL);
	for (round = 0; round < RACE_ROUNDS; round++) {
		race_round(r, round);
		if (r->rc[0] || r->rc[1]) {
			TH_LOG("round %ld: MAP/UNMAP rc %d errno %d, DETACH/ATTACH rc %d errno %d",
			       round, r->rc[0], r->err[0], r->rc[1], r->err[1]);
			ASSERT_TRUE(false);
		}
		if (r->t_start[0] < r->t_end[1] && r->t_start[1] < r->t_end[0]) {
			race_saw(r, "overlap");
			overlaps++;
		} else {
			race_saw(r, "apart");
		}
		if ((overlaps >= RACE_OVERLAPS && race_all_seen(r)) ||
		    race_now() - t0 > RACE_SECONDS * 2)
			break;
	}
	race_stop(r);
	race_print(r, round + 1, race_now() - t0);
	/* Both devices still on the HW_PAGETABLE, nothing left mapped */
	test_cmd_mock_device_on(stdev1, self->hwpt, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(self->stdev2, self->hwpt, MOCK_DEV_ON_HWPT);
	ASSERT_EQ(0, _test_ioctl_destroy(self->fd, self->stdev2));
	ASSERT_EQ(0, _test_ioctl_destroy(self->fd, stdev1));
	ASSERT_EQ(self->vmpin, vm_pinned_kb());
	/* The mock's WARN: an attach or detach met a map, unmap or flush */
	found = edu_kmsg_find(kmsg, "intel domain while the domain was", "",
			      line, sizeof(line));
	close(kmsg);
	ASSERT_LE(0, found);
	if (found) {
		TH_LOG("kernel: %s", line);
		ASSERT_TRUE(false);
	}
	ASSERT_LE(RACE_OVERLAPS, overlaps);
	ASSERT_TRUE(race_all_seen(r));
}

/* ---- VFIO: the edu device through its cdev ------------------------------------ */

FIXTURE(vrace)
{
	int iommufd;
	char bdf[EDU_BDF_LEN];
	int group;
	char cdev[300];
	struct race r;
	unsigned char *buf;
	__u32 ioas;
	int cdev_fd;
	int group_fd;
	__u32 race_hwpt;	/* what the racing ATTACH returned */
	/* probe_vs_bind */
	char nic[EDU_BDF_LEN];
};

/*
 * The cdev node of @bdf, or "" if it has none: only a node that exists
 * counts (6.1 without the VFIO cdev has the vfio-dev class device alone).
 */
static void cdev_of(const char *bdf, char *out, size_t len)
{
	if (edu_cdev_path(bdf, out, len) || access(out, F_OK))
		out[0] = '\0';
}

FIXTURE_SETUP(vrace)
{
	struct edu_pci e[8];
	int n, i;

	self->iommufd = iommufd_open();
	ASSERT_LE(0, self->iommufd);
	self->group = -1;
	self->cdev_fd = -1;
	self->group_fd = -1;
	self->buf = mmap(NULL, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(&self->r, 0, sizeof(self->r));
	n = edu_find_all(e, 8);
	for (i = 0; i < n; i++)
		if (e[i].group_devs == 1 && !edu_bind_vfio(e[i].bdf)) {
			strcpy(self->bdf, e[i].bdf);
			self->group = e[i].group;
			break;
		}
	if (self->group < 0)
		SKIP_TEST("no edu device alone in its IOMMU group");
	cdev_of(self->bdf, self->cdev, sizeof(self->cdev));
	if (!self->cdev[0])
		SKIP_TEST("%s has no VFIO device cdev (VFIO on iommufd not in this kernel)",
			  self->bdf);
	srandom(time(NULL));
}

FIXTURE_TEARDOWN(vrace)
{
	if (self->cdev_fd >= 0)
		close(self->cdev_fd);
	if (self->group_fd >= 0)
		close(self->group_fd);
	close(self->iommufd);
	munmap(self->buf, 4 * PAGE_SIZE);
}

/* edu.h's cdev helpers return -errno; a race_fn returns -1 and errno */
static int cdev_bind(int cdev_fd, int iommufd, __u32 *devid)
{
	return edu_cdev_bind(cdev_fd, iommufd, devid) ? -1 : 0;
}

static int cdev_attach(int cdev_fd, __u32 *pt_id)
{
	return edu_cdev_attach(cdev_fd, pt_id) ? -1 : 0;
}

static int cdev_detach(int cdev_fd)
{
	return edu_cdev_detach(cdev_fd) ? -1 : 0;
}

static int v_attach(struct race *r, int who)
{
	struct _test_data_vrace *self = r->ctx;
	__u32 pt = self->ioas;
	int rc = cdev_attach(self->cdev_fd, &pt);

	self->race_hwpt = rc ? 0 : pt;
	return rc;
}

static int v_detach(struct race *r, int who)
{
	struct _test_data_vrace *self = r->ctx;

	return cdev_detach(self->cdev_fd);
}

/* The racing MAP: the third page of the buffer, kept until the round ends */
#define RACED_IOVA 0x200000

static int v_map(struct race *r, int who)
{
	struct _test_data_vrace *self = r->ctx;
	__u64 iova = RACED_IOVA;

	return _test_ioctl_ioas_map(self->iommufd, self->ioas,
				    self->buf + 2 * PAGE_SIZE, PAGE_SIZE, &iova,
				    IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW);
}

/*
 * A validated edu round trip through the bound cdev: page @page of the
 * buffer, mapped at @iova, to the device and back to the second page
 * (IOVA 0x100000 + PAGE_SIZE).
 */
static int cdev_round_trip(struct _test_data_vrace *self, unsigned int salt,
			   __u64 iova, unsigned int page)
{
	struct vfio_region_info info;
	struct edu_dev dev = { .device_fd = self->cdev_fd };
	unsigned int i;
	int rc;

	for (i = 0; i < PAGE_SIZE; i++) {
		self->buf[page * PAGE_SIZE + i] = i * 3 + salt;
		self->buf[PAGE_SIZE + i] = 0;
	}
	rc = edu_region(self->cdev_fd, VFIO_PCI_BAR0_REGION_INDEX, &info);
	if (rc)
		return rc;
	dev.bar0 = info.offset;
	dev.bar0_size = info.size;
	rc = edu_region(self->cdev_fd, VFIO_PCI_CONFIG_REGION_INDEX, &info);
	if (rc)
		return rc;
	dev.cfg = info.offset;
	rc = edu_enable(&dev);
	if (!rc)
		rc = edu_dma(&dev, iova, EDU_BUF_ADDR, 1024, false);
	if (!rc)
		rc = edu_dma(&dev, EDU_BUF_ADDR, 0x100000 + PAGE_SIZE, 1024, true);
	if (!rc && memcmp(self->buf + page * PAGE_SIZE, self->buf + PAGE_SIZE,
			  1024))
		rc = -EILSEQ;
	return rc;
}

/*
 * ATTACH (to the IOAS) vs DETACH vs MAP/UNMAP of another range of the IOAS
 * on the real edu: "attach_then_detach" ends detached, "detach_then_attach"
 * ends attached; both orders must be seen with both calls succeeding.  The
 * final state is read from the automatic HW_PAGETABLE (DESTROY says EBUSY
 * while a device uses it, ENOENT once its last device left) and, when
 * attached, proved by a DMA round trip.
 *
 * The MAP is classified against the ATTACH with times taken around each
 * call, which are sound only when the calls do not overlap: a MAP that
 * returned before the ATTACH was called must have been put into the domain
 * by the ATTACH, one called after the ATTACH returned by the MAP itself.
 * Both must be seen in rounds that end attached, each proved by a DMA
 * through the raced mapping; overlapping rounds count for neither.
 */
TEST_F_TIMEOUT(vrace, attach_detach_map_cdev, 300)
{
	struct race *r = &self->r;
	double t0 = race_now();
	__u64 iova = 0x100000;
	long round, dmas = 0;

	self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->cdev_fd);
	ASSERT_EQ(0, cdev_bind(self->cdev_fd, self->iommufd, NULL));
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->iommufd, &self->ioas));
	ASSERT_EQ(0, _test_ioctl_ioas_map(self->iommufd, self->ioas, self->buf,
					  2 * PAGE_SIZE, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_RW));
	race_outcome(r, "attach_then_detach");
	race_outcome(r, "detach_then_attach");
	race_outcome(r, "map_before_attach_dma");
	race_outcome(r, "map_after_attach_dma");
	r->ctx = self;
	race_start(r, 3, v_attach, v_detach, v_map);
	for (round = 0; round < RACE_ROUNDS / 20; round++) {
		const char *order = NULL;

		race_round(r, round);
		/* Every round starts detached: both calls must succeed */
		ASSERT_EQ(0, r->rc[0]);
		ASSERT_EQ(0, r->rc[1]);
		ASSERT_EQ(0, r->rc[2]);	/* the IOAS is usable throughout */
		if (r->t_end[2] < r->t_start[0])
			order = "map_before_attach_dma";
		else if (r->t_start[2] > r->t_end[0])
			order = "map_after_attach_dma";
		/*
		 * The automatic HW_PAGETABLE the ATTACH returned is busy while
		 * the device uses it and destroyed with its last device.
		 */
		ASSERT_NE(0, _test_ioctl_destroy(self->iommufd, self->race_hwpt));
		if (errno == EBUSY) {
			race_saw(r, "detach_then_attach");
			if (dmas++ < 4)
				ASSERT_EQ(0, cdev_round_trip(self, round,
							     0x100000, 0));
			if (order && r->seen[race_outcome(r, order)] < 2) {
				ASSERT_EQ(0, cdev_round_trip(self, round,
							     RACED_IOVA, 2));
				race_saw(r, order);
			}
			ASSERT_EQ(0, cdev_detach(self->cdev_fd));
		} else {
			ASSERT_EQ(ENOENT, errno);
			race_saw(r, "attach_then_detach");
		}
		ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->iommufd, self->ioas,
						    RACED_IOVA, PAGE_SIZE,
						    NULL));
		if (race_all_seen(r) || race_now() - t0 > RACE_SECONDS * 2)
			break;
	}
	race_stop(r);
	race_print(r, round + 1, race_now() - t0);
	ASSERT_TRUE(race_all_seen(r));
}

static int v_group_open(struct race *r, int who)
{
	struct _test_data_vrace *self = r->ctx;
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/%d", self->group);
	self->group_fd = open(path, O_RDWR | O_CLOEXEC);
	return self->group_fd < 0 ? -1 : 0;
}

static int v_cdev_bind(struct race *r, int who)
{
	struct _test_data_vrace *self = r->ctx;

	return cdev_bind(self->cdev_fd, self->iommufd, NULL);
}

/*
 * Opening the group node vs binding a cdev of the same group: exactly one
 * wins, the other gets EBUSY; "group_won" and "bind_won" must both happen.
 */
TEST_F_TIMEOUT(vrace, group_open_vs_cdev_bind, 300)
{
	struct race *r = &self->r;
	double t0 = race_now();
	long round;

	race_outcome(r, "group_won");
	race_outcome(r, "bind_won");
	r->ctx = self;
	race_start(r, 2, v_group_open, v_cdev_bind, NULL);
	for (round = 0; round < RACE_ROUNDS / 10; round++) {
		self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->cdev_fd);
		race_round(r, round);
		if (r->rc[0] == 0 && r->rc[1] == -1 && r->err[1] == EBUSY) {
			race_saw(r, "group_won");
		} else if (r->rc[1] == 0 && r->rc[0] == -1 && r->err[0] == EBUSY) {
			race_saw(r, "bind_won");
		} else {
			TH_LOG("round %ld: group open rc %d errno %d, BIND rc %d errno %d",
			       round, r->rc[0], r->err[0], r->rc[1], r->err[1]);
			ASSERT_TRUE(false);
		}
		if (self->group_fd >= 0)
			close(self->group_fd);
		self->group_fd = -1;
		close(self->cdev_fd);
		self->cdev_fd = -1;
		if (race_all_seen(r) || race_now() - t0 > RACE_SECONDS * 2)
			break;
	}
	race_stop(r);
	race_print(r, round + 1, race_now() - t0);
	ASSERT_TRUE(race_all_seen(r));
}

/* The multi-device group: two edu and an e1000 behind the bridge */
static int find_shared_group(struct _test_data_vrace *self)
{
	char bdfs[8][EDU_BDF_LEN];
	struct edu_pci e[8];
	unsigned long class;
	int n, i, m, j;

	n = edu_find_all(e, 8);
	for (i = 0; i < n; i++) {
		if (e[i].group_edus < 2)
			continue;
		m = edu_group_devices(e[i].group, bdfs, 8);
		for (j = 0; j < m; j++)
			if (!edu_sysfs_read_ulong(bdfs[j], "class", &class) &&
			    (class >> 16) == 0x02) {
				strcpy(self->nic, bdfs[j]);
				strcpy(self->bdf, e[i].bdf);
				self->group = e[i].group;
				/* every edu of the group to vfio-pci */
				for (j = 0; j < m; j++)
					if (edu_is_edu(bdfs[j]) && edu_bind_vfio(bdfs[j]))
						return -1;
				return 0;
			}
	}
	return -1;
}

static int v_probe_nic(struct race *r, int who)
{
	struct _test_data_vrace *self = r->ctx;

	return edu_sysfs_write(EDU_SYSFS_PCI "/drivers_probe", self->nic) ? -1 : 0;
}

/*
 * A kernel driver probing the e1000 (drivers_probe) vs BIND_IOMMUFD of an
 * edu of the same group: "driver_won" (e1000 bound, BIND refused) and
 * "bind_won" (BIND done, the e1000 probe refused) must both happen, and
 * never both.  The e1000 gets its driver back at the end.
 */
TEST_F_TIMEOUT(vrace, probe_vs_bind_shared_group, 300)
{
	struct race *r = &self->r;
	double t0 = race_now();
	char drv[EDU_DRV_LEN], orig[EDU_DRV_LEN];
	long round;

	if (find_shared_group(self))
		SKIP(return, "no multi-device group with an edu and a NIC");
	cdev_of(self->bdf, self->cdev, sizeof(self->cdev));
	if (!self->cdev[0])
		SKIP(return, "%s has no cdev", self->bdf);
	ASSERT_EQ(0, edu_driver(self->nic, orig, sizeof(orig)));
	race_outcome(r, "driver_won");
	race_outcome(r, "bind_won");
	r->ctx = self;
	race_start(r, 2, v_probe_nic, v_cdev_bind, NULL);
	for (round = 0; round < RACE_ROUNDS / 20; round++) {
		ASSERT_EQ(0, edu_unbind(self->nic));
		self->cdev_fd = open(self->cdev, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->cdev_fd);
		race_round(r, round);
		ASSERT_EQ(0, edu_driver(self->nic, drv, sizeof(drv)));
		if (drv[0] && r->rc[1] == -1 &&
		    (r->err[1] == EBUSY || r->err[1] == EPERM)) {
			race_saw(r, "driver_won");
		} else if (!drv[0] && r->rc[1] == 0) {
			race_saw(r, "bind_won");
		} else {
			TH_LOG("round %ld: nic driver \"%s\", BIND rc %d errno %d",
			       round, drv, r->rc[1], r->err[1]);
			ASSERT_TRUE(false);
		}
		close(self->cdev_fd);
		self->cdev_fd = -1;
		if (race_all_seen(r) || race_now() - t0 > RACE_SECONDS * 2)
			break;
	}
	race_stop(r);
	race_print(r, round + 1, race_now() - t0);
	/* Put the e1000 back on its driver */
	edu_driver(self->nic, drv, sizeof(drv));
	if (!drv[0] && orig[0])
		ASSERT_EQ(0, edu_sysfs_write(EDU_SYSFS_PCI "/drivers_probe", self->nic));
	ASSERT_TRUE(race_all_seen(r));
}

TEST_HARNESS_MAIN
