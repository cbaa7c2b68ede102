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
 *
 * Every case runs three times: as root (CAP_IPC_LOCK: nothing is charged)
 * and, without CAP_IPC_LOCK, in both RLIMIT_MEMLOCK modes, so that the
 * charge and uncharge paths are failed too.  After every call VmPin and
 * VmLck are back to what they were, and in per-user mode the whole limit
 * can still be pinned: no charge was left behind.
 */
#include <sys/resource.h>
#include <sys/syscall.h>

#include "../kselftest_harness.h"
#include "iommufd_utils.h"

#define MAX_NTH 1000
#define NTH_BUFFER_SIZE (16 * PAGE_SIZE)
#define NTH_IOVA MOCK_APERTURE_START
/* RLIMIT_MEMLOCK of the unprivileged variants, pinned whole by the probe */
#define NTH_MEMLOCK (64 * PAGE_SIZE)
/* Areas of the unmap_all_many case */
#define NTH_MANY_AREAS 32

/* The state one iteration works on; named self for the test_*() macros */
struct nth_ctx {
	int fd;
	__u32 ioas_id;
	__u32 ioas2_id;
	__u32 stdev_id;
	__u32 hwpt_id;
	__u32 hwpt2_id;
	__u32 idev_id;
	__u32 dev_id;
	__u32 new_hwpt_id;	/* what a replace returned */
	__u32 access_id;	/* selftest object of a mock driver's access */
	__u32 next_id;	/* the ID the next object gets */
	__u64 iova;
	char *buffer;
	__u32 num_ranges;
	struct iommu_iova_range ranges[8];
	__u64 alignment;
	/* what IOMMU_IOAS_IOVA_RANGES under test returned */
	__u32 got_num;
	struct iommu_iova_range got[8];
	__u64 got_alignment;
	/* what IOMMU_GET_HW_INFO under test left in its structure */
	struct iommu_hw_info hw_info;
	int rlimit_mode;	/* of this context */
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
	/*
	 * The call cannot fail: destroy paths and close() allocate nothing
	 * and look nothing up through the injectable lookup, and switching
	 * RLIMIT_MODE allocates nothing.  The fault points it passes must
	 * not make it fail.
	 */
	bool never_fails;
	/*
	 * The call allocates past its lookups: at least one fault point
	 * must give ENOMEM, or the allocation was never reached.
	 */
	bool needs_enomem;
	/*
	 * The call reports an object it could not look up as EINVAL, not
	 * ENOENT (IOMMU_HWPT_ALLOC's pt_id, as upstream): the lookup's fault
	 * point then gives EINVAL.
	 */
	bool lookup_einval;
};

static const struct {
	const char *path;
	const char *val;
} fault_knobs[] = {
	{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/failslab/verbose", "0" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
	{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
	/* Fail single pages too (the default is order 1 and above) */
	{ "/sys/kernel/debug/fail_page_alloc/min-order", "0" },
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
	__u32 probe_ioas_id;
	char *buffer;
	char *probe_buffer;	/* NTH_MEMLOCK bytes */
};

FIXTURE_VARIANT(fail_nth) {
	bool unprivileged;	/* without CAP_IPC_LOCK: charged */
	int rlimit_mode;	/* IOMMU_OPTION_RLIMIT_MODE of each context */
};

FIXTURE_VARIANT_ADD(fail_nth, cap_ipc_lock) {
	.unprivileged = false,
	.rlimit_mode = 0,
};

FIXTURE_VARIANT_ADD(fail_nth, user_mode) {
	.unprivileged = true,
	.rlimit_mode = 0,
};

FIXTURE_VARIANT_ADD(fail_nth, mm_mode) {
	.unprivileged = true,
	.rlimit_mode = 1,
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
	self->probe_buffer = mmap(NULL, NTH_MEMLOCK, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->probe_buffer);
	memset(self->probe_buffer, 0, NTH_MEMLOCK);
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->probe_fd,
					    &self->probe_ioas_id));

	if (variant->unprivileged) {
		struct rlimit lim = { NTH_MEMLOCK, NTH_MEMLOCK };

		/* This test's process only: the harness forks each test */
		ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &lim));
		ASSERT_EQ(0, drop_capability(CAP_IPC_LOCK));
	}
}

FIXTURE_TEARDOWN(fail_nth)
{
	EXPECT_EQ(1, pwrite(self->proc_fd, "0", 1, 0));
	close(self->proc_fd);
	close(self->probe_fd);
	munmap(self->buffer, NTH_BUFFER_SIZE);
	munmap(self->probe_buffer, NTH_MEMLOCK);
}

/*
 * Nothing is left charged: VmPin and VmLck are at their baseline and, in
 * per-user mode, the whole RLIMIT_MEMLOCK can be pinned (this process's
 * user has no other charge).
 */
/* (struct _fixture_variant_fail_nth is FIXTURE_VARIANT(fail_nth)) */
static void check_no_charge(struct __test_metadata *_metadata,
			    const struct _fixture_variant_fail_nth *variant,
			    int probe_fd, __u32 probe_ioas_id,
			    char *probe_buffer, long pinned, long locked)
{
	__u64 iova = NTH_IOVA, len;

	ASSERT_EQ(pinned, vm_pinned_kb());
	ASSERT_EQ(locked, vm_locked_kb());
	if (!variant->unprivileged || variant->rlimit_mode)
		return;
	ASSERT_EQ(0, _test_ioctl_ioas_map(probe_fd, probe_ioas_id,
					  probe_buffer, NTH_MEMLOCK, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(probe_fd, probe_ioas_id, NTH_IOVA,
					    NTH_MEMLOCK, &len));
	ASSERT_EQ(NTH_MEMLOCK, len);
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

static void run_fail_nth(struct __test_metadata *_metadata,
			 struct _test_data_fail_nth *fx,
			 const struct _fixture_variant_fail_nth *variant,
			 const struct nth_case *tc)
{
	unsigned int n, failed = 0, enomem = 0;
	int proc_fd = fx->proc_fd, probe_fd = fx->probe_fd;
	char *buffer = fx->buffer;
	long remaining, pinned, locked;
	int rc, err;

	pinned = vm_pinned_kb();
	locked = vm_locked_kb();
	ASSERT_LE(0, pinned);
	ASSERT_LE(0, locked);
	check_no_charge(_metadata, variant, probe_fd, fx->probe_ioas_id,
			fx->probe_buffer, pinned, locked);

	for (n = 1; n <= MAX_NTH; n++) {
		struct nth_ctx ctx = {
			.fd = iommufd_open(),
			.buffer = buffer,
			.rlimit_mode = variant->rlimit_mode,
		};

		ASSERT_LE(0, ctx.fd);
		ASSERT_EQ(0, _test_ioctl_set_option(ctx.fd,
						    IOMMU_OPTION_RLIMIT_MODE,
						    0, variant->rlimit_mode));
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
			/*
			 * Failed allocations give ENOMEM; the object lookup's
			 * own fault point (main.c) reports a missing object
			 */
			if (err != ENOENT &&
			    !(tc->lookup_einval && err == EINVAL))
				ASSERT_EQ(ENOMEM, err);
			if (err == ENOMEM)
				enomem++;
		}
		errno = err;
		tc->check(_metadata, &ctx, rc);

		/* Whatever happened, close releases everything */
		if (ctx.fd >= 0)
			ASSERT_EQ(0, close(ctx.fd));
		ASSERT_EQ(0, _test_cmd_check_refs(probe_fd, buffer,
						  NTH_BUFFER_SIZE, 0));
		check_no_charge(_metadata, variant, probe_fd,
				fx->probe_ioas_id, fx->probe_buffer, pinned,
				locked);

		/* The call never reached an Nth fault point: all were tried */
		if (remaining)
			break;
	}
	TH_LOG("%s: %u fault points, %u failed calls (%u ENOMEM)", tc->name,
	       n - 1, failed, enomem);
	ASSERT_GE(MAX_NTH, n);
	/* Something was failed, unless the call cannot fail at all */
	ASSERT_EQ(tc->never_fails, !failed);
	if (tc->needs_enomem)
		ASSERT_LE(1, enomem);
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

/* The ID the next object will get, for checks that none was left */
#define save_next_id()                                                        \
	do {                                                                  \
		test_ioctl_ioas_alloc(&self->next_id);                        \
		test_ioctl_destroy(self->next_id);                            \
	} while (0)

#define check_next_id()                                                       \
	do {                                                                  \
		__u32 __id;                                                   \
		test_ioctl_ioas_alloc(&__id);                                 \
		ASSERT_EQ(self->next_id, __id);                               \
		test_ioctl_destroy(__id);                                     \
	} while (0)

/*
 * IOMMU_HWPT_ALLOC for an smmuv3-like mock device (the domain is finished
 * without an attach, a fault point) on an IOAS that has a mapping
 */
static void hwpt_alloc_setup(struct __test_metadata *_metadata,
			     struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, 0,
						 MOCK_FLAGS_DEVICE_SMMUV3 |
						 MOCK_FLAGS_DEVICE_NO_ATTACH,
						 0, &self->stdev_id, NULL,
						 &self->dev_id));
	save_ranges();
	save_next_id();
}

static int hwpt_alloc_call(struct nth_ctx *self)
{
	return _test_ioctl_hwpt_alloc(self->fd, self->dev_id, self->ioas_id,
				      &self->hwpt_id);
}

static void hwpt_alloc_check(struct __test_metadata *_metadata,
			     struct nth_ctx *self, int rc)
{
	if (rc) {
		check_ranges(_metadata, self);
		check_next_id();
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
		return;
	}
	test_cmd_check_map(self->hwpt_id, NTH_IOVA, self->buffer,
			   NTH_BUFFER_SIZE);
	test_cmd_mock_attach(self->stdev_id, self->hwpt_id, NULL);
	test_cmd_mock_detach(self->stdev_id);
	test_ioctl_destroy(self->hwpt_id);
	check_ranges(_metadata, self);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
}

/*
 * Replace of an attached smmuv3-like mock device from its automatic page
 * table in IOAS 2 to IOAS 1 (a new automatic one, finished and filled
 * first), or with @manual to a HW_PAGETABLE made by IOMMU_HWPT_ALLOC
 */
static void replace_setup_common(struct __test_metadata *_metadata,
				 struct nth_ctx *self, bool manual)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_alloc(&self->ioas2_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	test_ioctl_ioas_map_fixed(self->ioas2_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, self->ioas2_id,
						 MOCK_FLAGS_DEVICE_SMMUV3, 0,
						 &self->stdev_id,
						 &self->hwpt_id,
						 &self->dev_id));
	self->hwpt2_id = 0;
	if (manual)
		test_ioctl_hwpt_alloc(self->dev_id, self->ioas_id,
				      &self->hwpt2_id);
	save_ranges();
	save_next_id();
}

static void replace_ioas_setup(struct __test_metadata *_metadata,
			       struct nth_ctx *self)
{
	replace_setup_common(_metadata, self, false);
}

static void replace_hwpt_setup(struct __test_metadata *_metadata,
			       struct nth_ctx *self)
{
	replace_setup_common(_metadata, self, true);
}

static int replace_call(struct nth_ctx *self)
{
	__u32 pt_id = self->hwpt2_id ? self->hwpt2_id : self->ioas_id;

	return _test_cmd_mock_replace(self->fd, self->stdev_id, pt_id,
				      &self->new_hwpt_id);
}

static void replace_check(struct __test_metadata *_metadata,
			  struct nth_ctx *self, int rc)
{
	__u32 new_id = self->new_hwpt_id;

	if (rc) {
		/* Where it was, with nothing left behind in the new IOAS */
		test_cmd_mock_device_on(self->stdev_id, self->hwpt_id,
					MOCK_DEV_ON_HWPT);
		test_err(EBUSY, _test_ioctl_destroy(self->fd, self->hwpt_id));
		check_ranges(_metadata, self);
		check_next_id();
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 2);
		return;
	}
	if (self->hwpt2_id)
		ASSERT_EQ(self->hwpt2_id, new_id);
	test_cmd_mock_device_on(self->stdev_id, new_id, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, self->hwpt_id));
	test_cmd_check_map(new_id, NTH_IOVA, self->buffer, NTH_BUFFER_SIZE);
	test_cmd_mock_detach(self->stdev_id);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 2);
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

/* IOMMU_DESTROY of an IOAS holding mappings (no domain) */
static void destroy_setup(struct __test_metadata *_metadata,
			  struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
}

static int destroy_call(struct nth_ctx *self)
{
	return _test_ioctl_destroy(self->fd, self->ioas_id);
}

static void destroy_check(struct __test_metadata *_metadata,
			  struct nth_ctx *self, int rc)
{
	if (!rc) {
		/* Gone, and so is its memory */
		test_err(ENOENT, _test_ioctl_destroy(self->fd, self->ioas_id));
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
		return;
	}
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_destroy(self->ioas_id);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_DESTROY of a mock device attached to an IOAS with mappings */
static void destroy_device_setup(struct __test_metadata *_metadata,
				 struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	test_cmd_mock_domain(self->ioas_id, &self->stdev_id, &self->hwpt_id,
			     NULL);
}

static int destroy_device_call(struct nth_ctx *self)
{
	return _test_ioctl_destroy(self->fd, self->stdev_id);
}

static void destroy_device_check(struct __test_metadata *_metadata,
				 struct nth_ctx *self, int rc)
{
	if (rc) {
		test_cmd_check_map(self->hwpt_id, NTH_IOVA, self->buffer,
				   NTH_BUFFER_SIZE);
		test_ioctl_destroy(self->stdev_id);
	}
	/* The mappings stay with the IOAS, pinned once */
	test_err(ENOENT, _test_ioctl_destroy(self->fd, self->stdev_id));
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_IOAS_COPY to an IOVA the kernel chooses */
static int copy_auto_call(struct nth_ctx *self)
{
	return _test_ioctl_ioas_copy(self->fd, self->ioas2_id, self->ioas_id,
				     NTH_IOVA, NTH_BUFFER_SIZE, &self->iova,
				     IOMMU_IOAS_MAP_RW);
}

/* IOMMU_IOAS_UNMAP of everything, over many areas and a mock domain */
static void unmap_all_setup(struct __test_metadata *_metadata,
			    struct nth_ctx *self)
{
	unsigned int i;
	__u64 iova;

	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id, NULL);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	for (i = 1; i != NTH_MANY_AREAS; i++) {
		iova = NTH_IOVA + i * NTH_BUFFER_SIZE;
		ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
						   self->ioas_id, NTH_IOVA,
						   NTH_BUFFER_SIZE, &iova,
						   IOMMU_IOAS_MAP_FIXED_IOVA |
						   IOMMU_IOAS_MAP_RW));
	}
}

static int unmap_all_call(struct nth_ctx *self)
{
	__u64 len;
	int rc;

	rc = _test_ioctl_ioas_unmap(self->fd, self->ioas_id, UNMAP_ALL_IOVA,
				    UNMAP_ALL_LENGTH, &len);
	self->iova = len;
	return rc;
}

static void unmap_all_check(struct __test_metadata *_metadata,
			    struct nth_ctx *self, int rc)
{
	unsigned int i;

	if (!rc) {
		ASSERT_EQ(NTH_MANY_AREAS * NTH_BUFFER_SIZE, self->iova);
		check_ioas_empty(self->ioas_id);
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
		return;
	}
	/* Nothing was removed */
	for (i = 0; i != NTH_MANY_AREAS; i++)
		test_cmd_check_map(self->hwpt_id,
				   NTH_IOVA + i * NTH_BUFFER_SIZE,
				   self->buffer, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &self->iova));
	ASSERT_EQ(NTH_MANY_AREAS * NTH_BUFFER_SIZE, self->iova);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

/* IOMMU_OPTION_RLIMIT_MODE: switch the mode of an empty context */
static void rlimit_setup(struct __test_metadata *_metadata,
			 struct nth_ctx *self)
{
}

static int rlimit_call(struct nth_ctx *self)
{
	return _test_ioctl_set_option(self->fd, IOMMU_OPTION_RLIMIT_MODE, 0,
				      !self->rlimit_mode);
}

static void rlimit_check(struct __test_metadata *_metadata,
			 struct nth_ctx *self, int rc)
{
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0,
				rc ? self->rlimit_mode : !self->rlimit_mode);
	/* Maps are charged in the mode in force */
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
}

/* close() of a context with mappings, a copy and a mock domain */
static void close_setup(struct __test_metadata *_metadata,
			struct nth_ctx *self)
{
	copy_setup(_metadata, self);
	self->iova = NTH_IOVA + NTH_BUFFER_SIZE;
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas2_id,
					   self->ioas_id, NTH_IOVA,
					   NTH_BUFFER_SIZE, &self->iova,
					   IOMMU_IOAS_MAP_FIXED_IOVA |
					   IOMMU_IOAS_MAP_RW));
}

static int close_call(struct nth_ctx *self)
{
	int rc = close(self->fd);

	self->fd = -1;
	return rc;
}

static void close_check(struct __test_metadata *_metadata,
			struct nth_ctx *self, int rc)
{
	/* close() cannot fail; everything is unpinned and uncharged */
	ASSERT_EQ(0, rc);
}

/*
 * IOMMU_GET_HW_INFO of a mock device: the lookup and the mock driver's
 * allocation fail; a failed call writes neither the buffer nor the
 * structure.  The data is 8 bytes, the buffer 16 (zero-filled on success)
 * in 64 bytes of 0xff.
 */
#define NTH_HW_INFO_LEN 16
#define NTH_HW_INFO_FILL 64

static void hw_info_setup(struct __test_metadata *_metadata,
			  struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	ASSERT_EQ(0, _test_cmd_mock_domain(self->fd, self->ioas_id,
					   &self->stdev_id, &self->hwpt_id,
					   &self->idev_id));
	memset(self->buffer, 0xff, NTH_HW_INFO_FILL);
}

static int hw_info_call(struct nth_ctx *self)
{
	return _test_ioctl_get_hw_info(self->fd, self->idev_id, self->buffer,
				       NTH_HW_INFO_LEN, &self->hw_info);
}

static void hw_info_check(struct __test_metadata *_metadata,
			  struct nth_ctx *self, int rc)
{
	const struct iommu_test_hw_info expected = {
		.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
	};
	unsigned int i = 0;

	if (rc) {
		ASSERT_EQ(NTH_HW_INFO_LEN, self->hw_info.data_len);
		ASSERT_EQ(IOMMU_HW_INFO_TYPE_NONE,
			  self->hw_info.out_data_type);
	} else {
		ASSERT_EQ(sizeof(expected), self->hw_info.data_len);
		ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST,
			  self->hw_info.out_data_type);
		ASSERT_EQ(0, memcmp(self->buffer, &expected,
				    sizeof(expected)));
		for (i = sizeof(expected); i != NTH_HW_INFO_LEN; i++)
			ASSERT_EQ(0, (__u8)self->buffer[i]);
	}
	for (; i != NTH_HW_INFO_FILL; i++)
		ASSERT_EQ(0xff, (__u8)self->buffer[i]);
	memset(self->buffer, 0, NTH_HW_INFO_FILL);
	/* The device is still there and answers */
	ASSERT_EQ(0, hw_info_call(self));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, self->hw_info.out_data_type);
	memset(self->buffer, 0, NTH_HW_INFO_FILL);
	test_ioctl_destroy(self->stdev_id);
}

/*
 * In-kernel accesses of the mock driver: IOMMU_TEST_OP_CREATE_ACCESS
 * attached to an IOAS with a mapping
 */
#define NTH_PIN_IOVA (NTH_IOVA + PAGE_SIZE)
#define NTH_PIN_LENGTH (4 * PAGE_SIZE)

/* The access pins [NTH_PIN_IOVA, +NTH_PIN_LENGTH) and gives it back */
#define check_access_works(access_id)                                          \
	do {                                                                   \
		__u32 __id = (access_id);                                      \
		ASSERT_EQ(0, _test_cmd_access_pin(self->fd, __id,              \
						  NTH_PIN_IOVA,                \
						  NTH_PIN_LENGTH,              \
						  self->buffer + PAGE_SIZE, 0, \
						  NULL));                      \
		test_cmd_access_unpin(__id, NTH_PIN_IOVA, NTH_PIN_LENGTH);     \
	} while (0)

static void access_create_setup(struct __test_metadata *_metadata,
				struct nth_ctx *self)
{
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	save_ranges();
	save_next_id();
}

static int access_create_call(struct nth_ctx *self)
{
	return _test_cmd_create_access(self->fd, self->ioas_id,
				       MOCK_ACCESS_NEEDS_PIN_PAGES,
				       &self->access_id, NULL);
}

static void access_create_check(struct __test_metadata *_metadata,
				struct nth_ctx *self, int rc)
{
	if (rc) {
		/* No object left, the IOAS as it was */
		check_next_id();
		check_ranges(_metadata, self);
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
		return;
	}
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, self->ioas_id));
	check_access_works(self->access_id);
	test_ioctl_destroy(self->access_id);
	check_ranges(_metadata, self);
	check_next_id();
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
}

/* IOMMU_TEST_OP_ACCESS_SET_IOAS attaching an access made unattached */
static void access_attach_setup(struct __test_metadata *_metadata,
				struct nth_ctx *self)
{
	access_create_setup(_metadata, self);
	ASSERT_EQ(0, _test_cmd_create_access(self->fd, 0,
					     MOCK_ACCESS_NEEDS_PIN_PAGES,
					     &self->access_id, NULL));
}

static int access_attach_call(struct nth_ctx *self)
{
	return _test_cmd_access_set_ioas(self->fd, self->access_id,
					 MOCK_ACCESS_IOAS_ATTACH,
					 self->ioas_id);
}

static void access_attach_check(struct __test_metadata *_metadata,
				struct nth_ctx *self, int rc)
{
	if (rc) {
		check_ranges(_metadata, self);
		test_err(EINVAL, _test_cmd_access_pin(self->fd,
						      self->access_id,
						      NTH_PIN_IOVA, PAGE_SIZE,
						      NULL, 0, NULL));
		ASSERT_EQ(0, access_attach_call(self));
	}
	check_access_works(self->access_id);
	test_ioctl_destroy(self->access_id);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
}

/* IOMMU_TEST_OP_ACCESS_PIN */
static void access_pin_setup(struct __test_metadata *_metadata,
			     struct nth_ctx *self)
{
	access_create_setup(_metadata, self);
	ASSERT_EQ(0, access_create_call(self));
}

static int access_pin_call(struct nth_ctx *self)
{
	return _test_cmd_access_pin(self->fd, self->access_id, NTH_PIN_IOVA,
				    NTH_PIN_LENGTH, NULL, MOCK_ACCESS_RW_WRITE,
				    NULL);
}

static void access_pin_check(struct __test_metadata *_metadata,
			     struct nth_ctx *self, int rc)
{
	struct iommu_test_cmd c;

	test_cmd_access_unmaps(self->access_id, 0, rc ? 0 : 1);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	/* A failed pin left nothing the unmap would have to wait for */
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
	test_cmd_access_unmaps_c(self->access_id, rc ? 0 : 1, 0, &c);
	if (!rc) {
		ASSERT_EQ(NTH_PIN_IOVA, c.access_unmaps.out_first.iova);
		ASSERT_EQ(NTH_PIN_LENGTH, c.access_unmaps.out_first.length);
	}
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
	test_ioctl_destroy(self->access_id);
}

/* IOMMU_TEST_OP_ACCESS_RW writing across a page boundary */
static char nth_rw_src[2 * PAGE_SIZE];

static void access_rw_setup(struct __test_metadata *_metadata,
			    struct nth_ctx *self)
{
	access_create_setup(_metadata, self);
	ASSERT_EQ(0, _test_cmd_create_access(self->fd, self->ioas_id, 0,
					     &self->access_id, NULL));
	memset(self->buffer, 0, NTH_BUFFER_SIZE);
	memset(nth_rw_src, 0x3c, sizeof(nth_rw_src));
}

static int access_rw_call(struct nth_ctx *self)
{
	return _test_cmd_access_rw(self->fd, self->access_id,
				   NTH_IOVA + PAGE_SIZE - 5, nth_rw_src,
				   sizeof(nth_rw_src), MOCK_ACCESS_RW_WRITE);
}

static void access_rw_check(struct __test_metadata *_metadata,
			    struct nth_ctx *self, int rc)
{
	unsigned int i;

	/* All or nothing */
	for (i = 0; i != 2 * PAGE_SIZE; i++)
		ASSERT_EQ(rc ? 0 : 0x3c,
			  (__u8)self->buffer[PAGE_SIZE - 5 + i]);
	memset(self->buffer, 0, NTH_BUFFER_SIZE);
	test_ioctl_destroy(self->access_id);
}

/* IOMMU_TEST_OP_ACCESS_SET_IOAS replacing, with a pin to give back */
static void access_replace_setup(struct __test_metadata *_metadata,
				 struct nth_ctx *self)
{
	access_pin_setup(_metadata, self);
	test_ioctl_ioas_alloc(&self->ioas2_id);
	test_ioctl_ioas_map_fixed(self->ioas2_id, self->buffer,
				  NTH_BUFFER_SIZE, NTH_IOVA);
	ASSERT_EQ(0, access_pin_call(self));
	save_next_id();
}

static int access_replace_call(struct nth_ctx *self)
{
	return _test_cmd_access_set_ioas(self->fd, self->access_id,
					 MOCK_ACCESS_IOAS_REPLACE,
					 self->ioas2_id);
}

static void access_replace_check(struct __test_metadata *_metadata,
				 struct nth_ctx *self, int rc)
{
	check_next_id();
	if (rc) {
		/* Nothing was given back, still on the first IOAS */
		test_cmd_access_unmaps(self->access_id, 0, 1);
		ASSERT_NE(PAGE_SIZE, ioas_alignment(self->fd, self->ioas2_id));
		test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA,
				      NTH_BUFFER_SIZE);
		test_cmd_access_unmaps(self->access_id, 1, 0);
	} else {
		test_cmd_access_unmaps(self->access_id, 1, 0);
		ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, self->ioas2_id));
		test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA,
				      NTH_BUFFER_SIZE);
		check_access_works(self->access_id);
	}
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_destroy(self->access_id);
}

/* IOMMU_IOAS_UNMAP of a range an access pinned: the driver unpins */
static int access_unmap_call(struct nth_ctx *self)
{
	return _test_ioctl_ioas_unmap(self->fd, self->ioas_id, NTH_IOVA,
				      NTH_BUFFER_SIZE, NULL);
}

static void access_unmap_setup(struct __test_metadata *_metadata,
			       struct nth_ctx *self)
{
	access_pin_setup(_metadata, self);
	ASSERT_EQ(0, access_pin_call(self));
}

static void access_unmap_check(struct __test_metadata *_metadata,
			       struct nth_ctx *self, int rc)
{
	if (rc) {
		/* Nobody was asked, nothing was unmapped */
		test_cmd_access_unmaps(self->access_id, 0, 1);
		test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
		ASSERT_EQ(0, access_unmap_call(self));
	}
	test_cmd_access_unmaps(self->access_id, 1, 0);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
	test_ioctl_destroy(self->access_id);
}

/* IOMMU_DESTROY of an access that still pins: never fails */
static int access_destroy_call(struct nth_ctx *self)
{
	return _test_ioctl_destroy(self->fd, self->access_id);
}

static void access_destroy_check(struct __test_metadata *_metadata,
				 struct nth_ctx *self, int rc)
{
	ASSERT_EQ(0, rc);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 1);
	test_ioctl_ioas_unmap(self->ioas_id, NTH_IOVA, NTH_BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, NTH_BUFFER_SIZE, 0);
}

#define ___FAIL_NTH_TEST(test_name, setup_fn, call_fn, check_fn, never, einval) \
	static const struct nth_case nth_##test_name = {                      \
		.name = #test_name,                                           \
		.setup = setup_fn,                                            \
		.call = call_fn,                                              \
		.check = check_fn,                                            \
		.never_fails = never,                                         \
		.lookup_einval = einval,                                      \
	};                                                                    \
	TEST_F_TIMEOUT(fail_nth, test_name, 120)                              \
	{                                                                     \
		run_fail_nth(_metadata, self, variant, &nth_##test_name);     \
	}

#define __FAIL_NTH_TEST(test_name, setup_fn, call_fn, check_fn, never)        \
	___FAIL_NTH_TEST(test_name, setup_fn, call_fn, check_fn, never, false)

#define FAIL_NTH_TEST(test_name, setup_fn, call_fn, check_fn)                 \
	__FAIL_NTH_TEST(test_name, setup_fn, call_fn, check_fn, false)

/* A case that must reach an allocation and see it fail with ENOMEM */
#define FAIL_NTH_TEST_ENOMEM(test_name, setup_fn, call_fn, check_fn)          \
	static const struct nth_case nth_##test_name = {                      \
		.name = #test_name,                                           \
		.setup = setup_fn,                                            \
		.call = call_fn,                                              \
		.check = check_fn,                                            \
		.needs_enomem = true,                                         \
	};                                                                    \
	TEST_F_TIMEOUT(fail_nth, test_name, 120)                              \
	{                                                                     \
		run_fail_nth(_metadata, self, variant, &nth_##test_name);     \
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
__FAIL_NTH_TEST(destroy_ioas, destroy_setup, destroy_call, destroy_check, true)
__FAIL_NTH_TEST(destroy_device, destroy_device_setup, destroy_device_call,
		destroy_device_check, true)
FAIL_NTH_TEST(copy_auto, copy_setup, copy_auto_call, copy_check)
FAIL_NTH_TEST(unmap_all_many, unmap_all_setup, unmap_all_call,
	      unmap_all_check)
__FAIL_NTH_TEST(rlimit_mode, rlimit_setup, rlimit_call, rlimit_check, true)
__FAIL_NTH_TEST(close, close_setup, close_call, close_check, true)
FAIL_NTH_TEST_ENOMEM(hw_info, hw_info_setup, hw_info_call, hw_info_check)
___FAIL_NTH_TEST(hwpt_alloc, hwpt_alloc_setup, hwpt_alloc_call,
		 hwpt_alloc_check, false, true)
FAIL_NTH_TEST(replace_ioas, replace_ioas_setup, replace_call, replace_check)
FAIL_NTH_TEST(replace_hwpt, replace_hwpt_setup, replace_call, replace_check)
FAIL_NTH_TEST_ENOMEM(access_create, access_create_setup, access_create_call,
		     access_create_check)
FAIL_NTH_TEST(access_attach, access_attach_setup, access_attach_call,
	      access_attach_check)
FAIL_NTH_TEST_ENOMEM(access_pin, access_pin_setup, access_pin_call,
		     access_pin_check)
/* Its bounce buffer is a kvzalloc(): a failed kmalloc() falls back */
FAIL_NTH_TEST(access_rw, access_rw_setup, access_rw_call, access_rw_check)
FAIL_NTH_TEST(access_replace, access_replace_setup, access_replace_call,
	      access_replace_check)
FAIL_NTH_TEST(access_unmap, access_unmap_setup, access_unmap_call,
	      access_unmap_check)
__FAIL_NTH_TEST(access_destroy, access_unmap_setup, access_destroy_call,
		access_destroy_check, true)

TEST_HARNESS_MAIN
