// SPDX-License-Identifier: GPL-2.0-only
/*
 * Error unwinding of iommufd under fault injection.
 *
 * For one ioctl at a time, build the state it needs, make the Nth fault
 * point of the call fail through /proc/self/task/<tid>/fail-nth (slab,
 * page allocator and iommufd's own fail_iommufd points), then check that a
 * failed call left the state exactly as it was: no mapping, no pinned
 * page, no object ID, the same IOVA ranges.  N grows until the call no
 * longer reaches an Nth fault point.  The kernel log is checked for WARN,
 * BUG and KASAN reports outside of this program.
 */
#include <sys/syscall.h>

#include "../kselftest_harness.h"
#include "iommufd_utils.h"

#define MAX_NTH 1000
#define NTH_BUFFER_SIZE (16 * PAGE_SIZE)
#define NTH_IOVA MOCK_APERTURE_START

/* The state one iteration works on; named self for the test_*() macros */
struct nth_ctx {
	int fd;
	__u32 ioas_id;
	__u32 ioas2_id;
	__u32 stdev_id;
	__u32 hwpt_id;
	__u32 hwpt2_id;
	__u64 iova;
	char *buffer;
	__u32 num_ranges;
	struct iommu_iova_range ranges[8];
	__u64 alignment;
	/* what IOMMU_IOAS_IOVA_RANGES under test returned */
	__u32 got_num;
	struct iommu_iova_range got[8];
	__u64 got_alignment;
};

struct nth_case {
	const char *name;
	/* Build the state; runs without fault injection */
	void (*setup)(struct __test_metadata *_metadata, struct nth_ctx *self);
	/* The call under test: one ioctl, returns its result */
	int (*call)(struct nth_ctx *self);
	/* Check the state after the call returned @rc; may clean up */
	void (*check)(struct __test_metadata *_metadata, struct nth_ctx *self,
		      int rc);
};

static const struct {
	const char *path;
	const char *val;
} fault_knobs[] = {
	{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/failslab/verbose", "0" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
};

static int write_file(const char *path, const char *val)
{
	ssize_t len = strlen(val);
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, val, len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

FIXTURE(fail_nth) {
	int proc_fd;		/* this thread's fail-nth */
	int probe_fd;		/* an iommufd outliving every iteration */
	char *buffer;
};

FIXTURE_SETUP(fail_nth)
{
	char path[64];
	unsigned int i;

	self->proc_fd = -1;
	self->probe_fd = iommufd_open();
	if (self->probe_fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	if (!iommufd_test_supported(self->probe_fd))
		SKIP_TEST("CONFIG_IOMMUFD_TEST is off");

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	self->proc_fd = open(path, O_RDWR | O_CLOEXEC);
	if (self->proc_fd < 0)
		SKIP_TEST("no %s: %s", path, strerror(errno));
	for (i = 0; i != ARRAY_SIZE(fault_knobs); i++)
		if (write_file(fault_knobs[i].path, fault_knobs[i].val))
			SKIP_TEST("cannot write %s: %s", fault_knobs[i].path,
				  strerror(errno));
	/* fail_iommufd is optional: fail-nth reaches it without debugfs */
	if (write_file("/sys/kernel/debug/fail_iommufd/verbose", "0"))
		TH_LOG("no fail_iommufd in debugfs: %s", strerror(errno));

	self->buffer = mmap(NULL, NTH_BUFFER_SIZE, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buffer);
	memset(self->buffer, 0, NTH_BUFFER_SIZE);
}

FIXTURE_TEARDOWN(fail_nth)
{
	EXPECT_EQ(1, pwrite(self->proc_fd, "0", 1, 0));
	close(self->proc_fd);
	close(self->probe_fd);
	munmap(self->buffer, NTH_BUFFER_SIZE);
}

/*
 * Make the @n th fault point of this thread fail from now on; @n = 0
 * disables it.  Nothing in between may allocate.
 */
static int fail_nth_set(int proc_fd, unsigned int n)
{
	char buf[16];
	int len;

	len = snprintf(buf, sizeof(buf), "%u", n);
	return pwrite(proc_fd, buf, len, 0) == len ? 0 : -1;
}

/* Fault points still to pass before the injected failure; -1 on error */
static long fail_nth_get(int proc_fd)
{
	char buf[16] = {};

	if (pread(proc_fd, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

static void run_fail_nth(struct __test_metadata *_metadata, int proc_fd,
			 int probe_fd, char *buffer, const struct nth_case *tc)
{
	unsigned int n, failed = 0;
	long remaining;
	int rc, err;

	for (n = 1; n <= MAX_NTH; n++) {
		struct nth_ctx ctx = {
			.fd = iommufd_open(),
			.buffer = buffer,
		};

		ASSERT_LE(0, ctx.fd);
		tc->setup(_metadata, &ctx);

		ASSERT_EQ(0, fail_nth_set(proc_fd, n));
		rc = tc->call(&ctx);
		err = errno;
		remaining = fail_nth_get(proc_fd);
		ASSERT_EQ(0, fail_nth_set(proc_fd, 0));
		ASSERT_LE(0, remaining);

		if (rc) {
			failed++;
			/* A failure needs a reason: an injected fault */
			ASSERT_EQ(0, remaining);
			ASSERT_NE(0, err);
		}
		errno = err;
		tc->check(_metadata, &ctx, rc);

		/* Whatever happened, close releases everything */
		ASSERT_EQ(0, close(ctx.fd));
		ASSERT_EQ(0, _test_cmd_check_refs(probe_fd, buffer,
						  NTH_BUFFER_SIZE, 0));

		/* The call never reached an Nth fault point: all were tried */
		if (remaining)
			break;
	}
	TH_LOG("%s: %u fault points, %u failed calls", tc->name, n - 1,
	       failed);
	ASSERT_GE(MAX_NTH, n);
}

/* Read the usable ranges of self->ioas_id into self */
#define save_ranges()                                                         \
	do {                                                                  \
		self->num_ranges = ARRAY_SIZE(self->ranges);                  \
		ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, \
						     self->ranges,            \
						     &self->num_ranges,       \
						     &self->alignment));      \
	} while (0)

/* Check that the usable ranges of self->ioas_id are the saved ones */
static void check_ranges(struct __test_metadata *_metadata,
			 struct nth_ctx *self)
{
	struct iommu_iova_range ranges[8];
	__u32 num = ARRAY_SIZE(ranges), i;
	__u64 alignment;

	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, ranges,
					     &num, &alignment));
	ASSERT_EQ(self->num_ranges, num);
	ASSERT_EQ(self->alignment, alignment);
	for (i = 0; i != num; i++) {
		ASSERT_EQ(self->ranges[i].start, ranges[i].start);
		ASSERT_EQ(self->ranges[i].last, ranges[i].last);
	}
}

/* Nothing is mapped in self->ioas_id */
#define check_ioas_empty(ioas_id)                                             \
	do {                                                                  \
		__u64 __len = 1;                                              \
		ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, ioas_id,        \
						    UNMAP_ALL_IOVA,           \
						    UNMAP_ALL_LENGTH,         \
						    &__len));                 \
		ASSERT_EQ(0, __len);                                          \
	} while (0)

/* IOMMU_IOAS_ALLOC */
static void ioas_alloc_setup(struct __test_metadata *_metadata,
			     struct nth_ctx *self)
{
}

static int ioas_alloc_call(struct nth_ctx *self)
{
	return _test_ioctl_ioas_alloc(self->fd, &self->ioas_id);
}

static void ioas_alloc_check(struct __test_metadata *_metadata,
			     struct nth_ctx *self, int rc)
{
	__u32 id;

	/* A failed creation leaves no ID behind */
	test_ioctl_ioas_alloc(&id);
	ASSERT_EQ(rc ? 1 : 2, id);
	if (!rc) {
		ASSERT_EQ(1, self->ioas_id);
		check_ioas_empty(self->ioas_id);
		test_ioctl_destroy(self->ioas_id);
	}
}

/* IOMMU_IOAS_MAP at a fixed IOVA, with 0, 1 or 2 mock domains */
static void map_setup_domains(struct __test_metadata *_metadata,
			      struct nth_ctx *self, unsigned int domains)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	if (domains > 0)
		test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
	if (domains > 1)
		test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt2_id,
				     NULL);
	save_ranges();
}

static void map_setup(struct __test_metadata *_metadata, struct nth_ctx *self)
{
	map_setup_domains(_metadata, self, 0);
}

static void map_domain_setup(struct __test_metadata *_metadata,
			     struct nth_ctx *self)
{
	map_setup_domains(_metadata, self, 1);
}

static void map_two_domains_setup(struct __test_metadata *_metadata,
				  struct nth_ctx *self)
{
	map_setup_domains(_metadata, self, 2);
}

static void map_domain_limit_setup(struct __test_metadata *_metadata,
				   struct nth_ctx *self)
{
	map_setup_domains(_metadata, self, 1);
	ASSERT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd, 16));
}

static int map_fixed_call(struct nth_ctx *self)
{
	self->iova = NTH_IOVA;
	return _test_ioctl_ioas_map(self->fd, self->ioas_id, self->buffer,
				    NTH_BUFFER_SIZE, &self->iova,
				    IOMMU_IOAS_MAP_FIXED_IOVA |
				    IOMMU_IOAS_MAP_RW);
}

static int map_auto_call(struct nth_ctx *self)
{
	return _test_ioctl_ioas_map(self->fd, self->ioas_id, self->buffer,
				    NTH_BUFFER_SIZE, &self->iova,
				    IOMMU_IOAS_MAP_RW);
}

static void map_check(struct __test_metadata *_metadata,
		      struct nth_ctx *self, int rc)
{
	/* Mapped memory is pinned once, at map time, domains or not */
	__u32 refs = 1;

	if (_test_cmd_set_temp_memory_limit(self->fd, 0))
		TH_LOG("cannot restore the temporary memory limit");
	check_ranges(_metadata, self);
	if (rc) {
		check_ioas_empty(self->ioas_id);
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
		return;
	}
	if (self->hwpt_id)
		test_cmd_check_map(self->hwpt_id, self->iova, self->buffer,
				   NTH_BUFFER_SIZE);
	if (self->hwpt2_id)
		test_cmd_check_map(self->hwpt2_id, self->iova, self->buffer,
				   NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, refs);
	test_ioctl_ioas_unmap(self->ioas_id, self->iova, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_IOAS_COPY between two IOAS with a mock domain each */
static void copy_setup(struct __test_metadata *_metadata, struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	test_ioctl_ioas_alloc(&self->ioas2_id);
	test_cmd_mock_domain(self->ioas2_id, NULL, &self->hwpt2_id, NULL);
}

static int copy_call(struct nth_ctx *self)
{
	self->iova = NTH_IOVA + NTH_BUFFER_SIZE;
	return _test_ioctl_ioas_copy(self->fd, self->ioas2_id, self->ioas_id,
				     NTH_IOVA, NTH_BUFFER_SIZE, &self->iova,
				     IOMMU_IOAS_MAP_FIXED_IOVA |
				     IOMMU_IOAS_MAP_RW);
}

static void copy_check(struct __test_metadata *_metadata,
		       struct nth_ctx *self, int rc)
{
	if (rc) {
		check_ioas_empty(self->ioas2_id);
	} else {
		test_cmd_check_map(self->hwpt2_id, self->iova, self->buffer,
				   NTH_BUFFER_SIZE);
		test_ioctl_ioas_unmap(self->ioas2_id, self->iova,
				      NTH_BUFFER_SIZE);
	}
	/* The source is untouched and still pinned once */
	test_cmd_check_map(self->hwpt_id, NTH_IOVA, self->buffer,
			   NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_IOAS_UNMAP of a mapping held by a mock domain */
static void unmap_setup(struct __test_metadata *_metadata,
			struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
}

static int unmap_call(struct nth_ctx *self)
{
	return _test_ioctl_ioas_unmap(self->fd, self->ioas_id, NTH_IOVA,
				      NTH_BUFFER_SIZE, NULL);
}

static void unmap_check(struct __test_metadata *_metadata,
			struct nth_ctx *self, int rc)
{
	if (!rc) {
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
		check_ioas_empty(self->ioas_id);
		return;
	}
	/* A single mapping is either gone or intact */
	test_cmd_check_map(self->hwpt_id, NTH_IOVA, self->buffer,
			   NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_TEST_OP_MOCK_DOMAIN: attach to an IOAS that has mappings */
static void attach_setup(struct __test_metadata *_metadata,
			 struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	save_ranges();
}

static int attach_call(struct nth_ctx *self)
{
	return _test_cmd_mock_domain(self->fd, self->ioas_id, &self->stdev_id,
				     &self->hwpt_id, NULL);
}

static void attach_check(struct __test_metadata *_metadata,
			 struct nth_ctx *self, int rc)
{
	__u32 id;

	if (rc) {
		check_ranges(_metadata, self);
		/* Only the mapping's own pin is left */
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
		/* No object was left behind: the next ID is 2 */
		test_ioctl_ioas_alloc(&id);
		ASSERT_EQ(2, id);
		test_ioctl_destroy(id);
		test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA,
				      NTH_BUFFER_SIZE);
		return;
	}
	test_cmd_check_map(self->hwpt_id, NTH_IOVA, self->buffer,
			   NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_destroy(self->stdev_id);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	check_ranges(_metadata, self);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_IOAS_ALLOW_IOVAS replacing a list */
static const struct iommu_iova_range allow_old = {
	NTH_IOVA, NTH_IOVA + PAGE_SIZE - 1,
};

static const struct iommu_iova_range allow_new[] = {
	{ NTH_IOVA + 16 * PAGE_SIZE, NTH_IOVA + 17 * PAGE_SIZE - 1 },
	{ NTH_IOVA + 32 * PAGE_SIZE, NTH_IOVA + 33 * PAGE_SIZE - 1 },
};

static void allow_setup(struct __test_metadata *_metadata,
			struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
					     &allow_old, 1));
}

static int allow_call(struct nth_ctx *self)
{
	return _test_ioctl_allow_iovas(self->fd, self->ioas_id, allow_new,
				       ARRAY_SIZE(allow_new));
}

static void allow_check(struct __test_metadata *_metadata,
			struct nth_ctx *self, int rc)
{
	__u64 iova;

	/* The list in force decides where a page can go */
	test_ioctl_ioas_map(self->ioas_id, self->buffer, PAGE_SIZE, &iova);
	if (rc) {
		ASSERT_EQ(allow_old.start, iova);
	} else {
		ASSERT_TRUE(iova == allow_new[0].start ||
			    iova == allow_new[1].start);
	}
	test_ioctl_ioas_unmap(self->ioas_id, iova, PAGE_SIZE);
}

/* IOMMU_IOAS_IOVA_RANGES with a mock domain and reserved ranges */
static void ranges_setup(struct __test_metadata *_metadata,
			 struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
	test_cmd_add_reserved(self->ioas_id, NTH_IOVA + 16 * PAGE_SIZE,
			      PAGE_SIZE);
	test_cmd_add_reserved(self->ioas_id, NTH_IOVA + 64 * PAGE_SIZE,
			      PAGE_SIZE);
	save_ranges();
	ASSERT_EQ(3, self->num_ranges);
}

static int ranges_call(struct nth_ctx *self)
{
	self->got_num = ARRAY_SIZE(self->got);
	return _test_ioctl_iova_ranges(self->fd, self->ioas_id, self->got,
				       &self->got_num, &self->got_alignment);
}

static void ranges_check(struct __test_metadata *_metadata,
			 struct nth_ctx *self, int rc)
{
	__u32 i;

	if (!rc) {
		ASSERT_EQ(self->num_ranges, self->got_num);
		ASSERT_EQ(self->alignment, self->got_alignment);
		for (i = 0; i != self->got_num; i++) {
			ASSERT_EQ(self->ranges[i].start, self->got[i].start);
			ASSERT_EQ(self->ranges[i].last, self->got[i].last);
		}
	}
	check_ranges(_metadata, self);
}

/* IOMMU_OPTION: HUGE_PAGES=0 on an IOAS with a domain and no mapping */
static void option_setup(struct __test_metadata *_metadata,
			 struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
}

static int option_call(struct nth_ctx *self)
{
	return _test_ioctl_set_option(self->fd, IOMMU_OPTION_HUGE_PAGES,
				      self->ioas_id, 0);
}

static void option_check(struct __test_metadata *_metadata,
			 struct nth_ctx *self, int rc)
{
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, self->ioas_id,
				rc ? 1 : 0);
	ASSERT_EQ(rc ? MOCK_IO_PAGE_SIZE : PAGE_SIZE,
		  ioas_alignment(self->fd, self->ioas_id));
	/* Still usable */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	test_cmd_check_map(self->hwpt_id, NTH_IOVA, self->buffer,
			   NTH_BUFFER_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
}

#define FAIL_NTH_TEST(test_name, setup_fn, call_fn, check_fn)                 \
	static const struct nth_case nth_##test_name = {                      \
		.name = #test_name,                                           \
		.setup = setup_fn,                                            \
		.call = call_fn,                                              \
		.check = check_fn,                                            \
	};                                                                    \
	TEST_F_TIMEOUT(fail_nth, test_name, 120)                              \
	{                                                                     \
		run_fail_nth(_metadata, self->proc_fd, self->probe_fd,        \
			     self->buffer, &nth_##test_name);                 \
	}

FAIL_NTH_TEST(ioas_alloc, ioas_alloc_setup, ioas_alloc_call, ioas_alloc_check)
FAIL_NTH_TEST(map_fixed, map_setup, map_fixed_call, map_check)
FAIL_NTH_TEST(map_auto, map_setup, map_auto_call, map_check)
FAIL_NTH_TEST(map_domain, map_domain_setup, map_fixed_call, map_check)
FAIL_NTH_TEST(map_domain_auto, map_domain_setup, map_auto_call, map_check)
FAIL_NTH_TEST(map_two_domains, map_two_domains_setup, map_fixed_call,
	      map_check)
FAIL_NTH_TEST(map_domain_limit, map_domain_limit_setup, map_fixed_call,
	      map_check)
FAIL_NTH_TEST(copy, copy_setup, copy_call, copy_check)
FAIL_NTH_TEST(unmap, unmap_setup, unmap_call, unmap_check)
FAIL_NTH_TEST(attach_mock_domain, attach_setup, attach_call, attach_check)
FAIL_NTH_TEST(allow_iovas, allow_setup, allow_call, allow_check)
FAIL_NTH_TEST(iova_ranges, ranges_setup, ranges_call, ranges_check)
FAIL_NTH_TEST(option_huge_pages, option_setup, option_call, option_check)

TEST_HARNESS_MAIN
