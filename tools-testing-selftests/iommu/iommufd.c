// SPDX-License-Identifier: GPL-2.0-only
/*
 * Functional tests of /dev/iommu: argument checking of every ioctl, object
 * IDs and lifetime, the IOVA rules of IOMMU_IOAS_MAP/COPY/UNMAP, the usable
 * and allowed ranges, what the mock domains of CONFIG_IOMMUFD_TEST end up
 * mapping, and the RLIMIT_MEMLOCK accounting of pinned memory.
 *
 * Needs root, CONFIG_IOMMUFD and CONFIG_IOMMUFD_TEST.  Rules marked
 * "(design)" come from this series' UAPI documentation rather than from
 * upstream's selftests.
 */
#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "iommufd_utils.h"

#define BUFFER_SIZE (256 * PAGE_SIZE)	/* 1 MiB */
#define SZ_64K 0x10000UL

static void *alloc_buffer(size_t size)
{
	void *buf;

	/* Shared anonymous memory is shmem: never a transparent huge page */
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	memset(buf, 0, size);
	return buf;
}

static bool ranges_overlap(__u64 a, __u64 a_len, __u64 b, __u64 b_len)
{
	return a < b + b_len && b < a + a_len;
}

/*
 * iommufd: an open /dev/iommu without any object
 */
FIXTURE(iommufd) {
	int fd;
	void *buffer;
};

FIXTURE_SETUP(iommufd)
{
	self->fd = iommufd_open();
	if (self->fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	self->buffer = alloc_buffer(BUFFER_SIZE);
	ASSERT_NE(NULL, self->buffer);
}

FIXTURE_TEARDOWN(iommufd)
{
	if (self->fd >= 0)
		close(self->fd);
	munmap(self->buffer, BUFFER_SIZE);
}

TEST_F(iommufd, simple_close)
{
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
}

TEST_F(iommufd, destroy_unknown_id)
{
	__u32 ioas_id;

	test_err(ENOENT, _test_ioctl_destroy(self->fd, 0));
	test_err(ENOENT, _test_ioctl_destroy(self->fd, 1));
	test_err(ENOENT, _test_ioctl_destroy(self->fd, UINT32_MAX));

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_destroy(ioas_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, ioas_id));
}

TEST_F(iommufd, unknown_ioctl)
{
	/* Big enough for any command, with a valid size and zero fields */
	__u32 buf[16] = { sizeof(buf) };

	/* First command number after IOMMU_GET_HW_INFO that this series lacks */
	test_err(ENOTTY, ioctl(self->fd, _IO(IOMMUFD_TYPE, 0x8b), buf));
	test_err(ENOTTY, ioctl(self->fd, _IO(IOMMUFD_TYPE, 0x90), buf));
	test_err(ENOTTY, ioctl(self->fd, _IO(IOMMUFD_TYPE, 0x7f), buf));
	/* Right number, wrong type or direction bits */
	test_err(ENOTTY, ioctl(self->fd, _IO('x', IOMMUFD_CMD_IOAS_ALLOC),
			       buf));
	test_err(ENOTTY, ioctl(self->fd, _IOWR(IOMMUFD_TYPE,
					       IOMMUFD_CMD_IOAS_ALLOC,
					       struct iommu_ioas_alloc), buf));
}

/*
 * Issue @nr with @cmd (whose valid content makes the command succeed) at
 * sizes: min - 1 (EINVAL), sizeof + 8 with a non-zero tail (E2BIG), then
 * sizeof + 8 with a zero tail, which must behave like sizeof: return the
 * result of that last call.
 */
static int check_sizes(struct __test_metadata *_metadata, int fd,
		       unsigned long nr, void *cmd, size_t size)
{
	unsigned char saved[64];

	ASSERT_GE(sizeof(saved), size);
	memcpy(saved, cmd, size);
	test_err(EINVAL, ioctl_sized(fd, nr, cmd, size, size - 1, 0));
	memcpy(cmd, saved, size);
	test_err(EINVAL, ioctl_sized(fd, nr, cmd, size, 0, 0));
	memcpy(cmd, saved, size);
	test_err(E2BIG, ioctl_sized(fd, nr, cmd, size, size + 8, 0xaa));
	memcpy(cmd, saved, size);
	test_err(E2BIG, ioctl_sized(fd, nr, cmd, size, size + 1, 1));
	memcpy(cmd, saved, size);
	return ioctl_sized(fd, nr, cmd, size, size + 8, 0);
}

TEST_F(iommufd, cmd_length)
{
	struct iommu_iova_range ranges[4];
	struct iommu_ioas_alloc alloc_cmd = { .size = sizeof(alloc_cmd) };
	struct iommu_ioas_iova_ranges ranges_cmd = {
		.size = sizeof(ranges_cmd),
		.num_iovas = ARRAY_SIZE(ranges),
		.allowed_iovas = (uintptr_t)ranges,
	};
	struct iommu_ioas_allow_iovas allow_cmd = {
		.size = sizeof(allow_cmd),
	};
	struct iommu_ioas_map map_cmd = {
		.size = sizeof(map_cmd),
		.flags = IOMMU_IOAS_MAP_RW,
		.user_va = (uintptr_t)self->buffer,
		.length = PAGE_SIZE,
	};
	struct iommu_ioas_copy copy_cmd = {
		.size = sizeof(copy_cmd),
		.flags = IOMMU_IOAS_MAP_RW,
		.length = PAGE_SIZE,
	};
	struct iommu_ioas_unmap unmap_cmd = {
		.size = sizeof(unmap_cmd),
		.length = PAGE_SIZE,
	};
	struct iommu_option option_cmd = {
		.size = sizeof(option_cmd),
		.option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = IOMMU_OPTION_OP_GET,
	};
	struct iommu_destroy destroy_cmd = { .size = sizeof(destroy_cmd) };
	__u32 ioas_id;
	__u64 iova;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_map(ioas_id, self->buffer, PAGE_SIZE, &iova);

	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_IOAS_ALLOC,
				 &alloc_cmd, sizeof(alloc_cmd)));
	/* The refused calls created nothing: the next free ID */
	ASSERT_EQ(ioas_id + 1, alloc_cmd.out_ioas_id);
	test_ioctl_destroy(alloc_cmd.out_ioas_id);

	ranges_cmd.ioas_id = ioas_id;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_IOAS_IOVA_RANGES,
				 &ranges_cmd, sizeof(ranges_cmd)));
	ASSERT_EQ(1, ranges_cmd.num_iovas);
	ASSERT_EQ(1, ranges_cmd.out_iova_alignment);

	allow_cmd.ioas_id = ioas_id;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_IOAS_ALLOW_IOVAS,
				 &allow_cmd, sizeof(allow_cmd)));

	map_cmd.ioas_id = ioas_id;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_IOAS_MAP,
				 &map_cmd, sizeof(map_cmd)));
	ASSERT_NE(0, map_cmd.iova);
	ASSERT_NE(iova, map_cmd.iova);
	test_ioctl_ioas_unmap(ioas_id, map_cmd.iova, PAGE_SIZE);

	copy_cmd.dst_ioas_id = ioas_id;
	copy_cmd.src_ioas_id = ioas_id;
	copy_cmd.src_iova = iova;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_IOAS_COPY,
				 &copy_cmd, sizeof(copy_cmd)));
	ASSERT_NE(0, copy_cmd.dst_iova);
	ASSERT_NE(iova, copy_cmd.dst_iova);
	test_ioctl_ioas_unmap(ioas_id, copy_cmd.dst_iova, PAGE_SIZE);

	unmap_cmd.ioas_id = ioas_id;
	unmap_cmd.iova = iova;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_IOAS_UNMAP,
				 &unmap_cmd, sizeof(unmap_cmd)));
	ASSERT_EQ(PAGE_SIZE, unmap_cmd.length);

	option_cmd.object_id = ioas_id;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_OPTION,
				 &option_cmd, sizeof(option_cmd)));
	ASSERT_EQ(1, option_cmd.val64);

	/* The failed calls above must not have destroyed anything */
	destroy_cmd.id = ioas_id;
	ASSERT_EQ(0, check_sizes(_metadata, self->fd, IOMMU_DESTROY,
				 &destroy_cmd, sizeof(destroy_cmd)));
	test_err(ENOENT, _test_ioctl_destroy(self->fd, ioas_id));
}

TEST_F(iommufd, ioas_alloc_flags)
{
	struct iommu_ioas_alloc cmd = {
		.size = sizeof(cmd),
		.flags = 1,
	};
	__u32 ioas_id;

	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_IOAS_ALLOC, &cmd));
	cmd.flags = 1U << 31;
	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_IOAS_ALLOC, &cmd));
	/* A failed creation leaves no ID behind */
	test_ioctl_ioas_alloc(&ioas_id);
	ASSERT_EQ(1, ioas_id);
}

TEST_F(iommufd, reserved_fields)
{
	struct iommu_iova_range range = {
		.start = MOCK_APERTURE_START,
		.last = MOCK_APERTURE_START + PAGE_SIZE - 1,
	};
	struct iommu_ioas_iova_ranges ranges_cmd = {
		.size = sizeof(ranges_cmd),
		.num_iovas = 1,
		.__reserved = 1,
		.allowed_iovas = (uintptr_t)&range,
	};
	struct iommu_ioas_allow_iovas allow_cmd = {
		.size = sizeof(allow_cmd),
		.num_iovas = 1,
		.__reserved = 1,
		.allowed_iovas = (uintptr_t)&range,
	};
	struct iommu_ioas_map map_cmd = {
		.size = sizeof(map_cmd),
		.flags = IOMMU_IOAS_MAP_RW,
		.__reserved = 1,
		.user_va = (uintptr_t)self->buffer,
		.length = PAGE_SIZE,
	};
	struct iommu_option option_cmd = {
		.size = sizeof(option_cmd),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_GET,
		.__reserved = 1,
	};
	__u32 ioas_id;
	__u64 len;

	test_ioctl_ioas_alloc(&ioas_id);
	ranges_cmd.ioas_id = ioas_id;
	test_err(EOPNOTSUPP,
		 ioctl(self->fd, IOMMU_IOAS_IOVA_RANGES, &ranges_cmd));
	allow_cmd.ioas_id = ioas_id;
	test_err(EOPNOTSUPP,
		 ioctl(self->fd, IOMMU_IOAS_ALLOW_IOVAS, &allow_cmd));
	map_cmd.ioas_id = ioas_id;
	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_IOAS_MAP, &map_cmd));
	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_OPTION, &option_cmd));
	option_cmd.__reserved = 0x8000;
	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_OPTION, &option_cmd));

	/* Nothing was mapped by the refused MAP */
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, ioas_id, UNMAP_ALL_IOVA,
					    UNMAP_ALL_LENGTH, &len));
	ASSERT_EQ(0, len);
}

TEST_F(iommufd, id_reuse)
{
	__u32 ids[4];
	int i;

	for (i = 0; i != 3; i++) {
		test_ioctl_ioas_alloc(&ids[i]);
		ASSERT_EQ(i + 1, ids[i]);
	}
	test_ioctl_destroy(2);
	test_ioctl_ioas_alloc(&ids[3]);
	ASSERT_EQ(2, ids[3]);
	test_ioctl_ioas_alloc(&ids[3]);
	ASSERT_EQ(4, ids[3]);
	test_ioctl_destroy(1);
	test_ioctl_destroy(3);
	test_ioctl_ioas_alloc(&ids[3]);
	ASSERT_EQ(1, ids[3]);
}

TEST_F(iommufd, option_rlimit_mode)
{
	__u64 val;
	__u32 ioas_id;

	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);
	test_err(EINVAL, _test_ioctl_set_option(self->fd,
						IOMMU_OPTION_RLIMIT_MODE, 0,
						2));
	test_err(EINVAL, _test_ioctl_set_option(self->fd,
						IOMMU_OPTION_RLIMIT_MODE, 0,
						UINT64_MAX));
	/* iommufd-wide: object_id must be 0 (design: EOPNOTSUPP) */
	test_err(EOPNOTSUPP, _test_ioctl_set_option(self->fd,
						    IOMMU_OPTION_RLIMIT_MODE,
						    1, 1));
	test_err(EOPNOTSUPP, _test_ioctl_option(self->fd,
						IOMMU_OPTION_RLIMIT_MODE,
						IOMMU_OPTION_OP_GET, 1, &val));
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);

	/* As root (CAP_SYS_RESOURCE) on a context without objects */
	test_ioctl_set_option(IOMMU_OPTION_RLIMIT_MODE, 0, 1);
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 1);
	test_ioctl_set_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);

	test_ioctl_ioas_alloc(&ioas_id);
	test_err(EBUSY, _test_ioctl_set_option(self->fd,
					       IOMMU_OPTION_RLIMIT_MODE, 0, 1));
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);
	test_ioctl_destroy(ioas_id);
	test_ioctl_set_option(IOMMU_OPTION_RLIMIT_MODE, 0, 1);
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 1);
}

TEST_F(iommufd, option_unknown)
{
	__u64 val = 0;
	__u32 ioas_id;

	test_ioctl_ioas_alloc(&ioas_id);
	test_err(EOPNOTSUPP, _test_ioctl_option(self->fd, 2,
						IOMMU_OPTION_OP_GET, 0, &val));
	test_err(EOPNOTSUPP, _test_ioctl_option(self->fd, 2,
						IOMMU_OPTION_OP_SET, 0, &val));
	test_err(EOPNOTSUPP, _test_ioctl_option(self->fd, UINT32_MAX,
						IOMMU_OPTION_OP_GET, ioas_id,
						&val));
	test_err(EOPNOTSUPP, _test_ioctl_option(self->fd,
						IOMMU_OPTION_RLIMIT_MODE, 2, 0,
						&val));
	test_err(EOPNOTSUPP, _test_ioctl_option(self->fd,
						IOMMU_OPTION_HUGE_PAGES,
						UINT16_MAX, ioas_id, &val));
}

TEST_F(iommufd, option_huge_pages)
{
	__u64 val;
	__u32 ioas_id;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 1);
	test_ioctl_set_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 0);
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 0);
	test_ioctl_set_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 1);
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 1);
	test_err(EINVAL, _test_ioctl_set_option(self->fd,
						IOMMU_OPTION_HUGE_PAGES,
						ioas_id, 2));
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 1);
	/* Per IOAS: the object must be an IOAS */
	test_err(ENOENT, _test_ioctl_set_option(self->fd,
						IOMMU_OPTION_HUGE_PAGES, 0, 0));
	test_err(ENOENT, _test_ioctl_option(self->fd, IOMMU_OPTION_HUGE_PAGES,
					    IOMMU_OPTION_OP_GET, ioas_id + 1,
					    &val));
}

/* Everything alive at close is torn down and unpinned */
struct destroy_race {
	int fd;
	void *buffer;
	bool stop;	/* __atomic accesses: written by the other thread */
	unsigned int maps;	/* MAP won: it found the IOAS */
	unsigned int gone;	/* DESTROY won: MAP or UNMAP found none */
	int bad_errno;
};

/* Map and unmap a page of IOAS 1 while the other thread destroys it */
static void *destroy_race_mapper(void *arg)
{
	struct destroy_race *dr = arg;
	__u64 iova;

	while (!__atomic_load_n(&dr->stop, __ATOMIC_RELAXED)) {
		if (_test_ioctl_ioas_map(dr->fd, 1, dr->buffer, PAGE_SIZE,
					 &iova, IOMMU_IOAS_MAP_RW)) {
			if (errno != ENOENT)
				dr->bad_errno = errno;
			__atomic_add_fetch(&dr->gone, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&dr->maps, 1, __ATOMIC_RELAXED);
		/* ENOENT: destroyed, possibly replaced by a new IOAS 1 */
		if (_test_ioctl_ioas_unmap(dr->fd, 1, iova, PAGE_SIZE, NULL)) {
			if (errno != ENOENT)
				dr->bad_errno = errno;
			__atomic_add_fetch(&dr->gone, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/*
 * IOMMU_DESTROY of an IOAS racing with MAP and UNMAP of it in another
 * thread: every call works or fails cleanly (ENOENT once the IOAS is gone,
 * EBUSY for the destroy while a call is using the IOAS), and nothing stays
 * pinned.  The race must really happen: the test runs, for at least 3
 * seconds and at most 60, until both outcomes were seen: DESTROY first
 * (MAP or UNMAP found no IOAS) and MAP first (it mapped into the IOAS the
 * main thread then destroys).  A use-after-free or a locking problem shows
 * up in the guest log (KASAN, lockdep), which the harness checks.
 */
TEST_F(iommufd, destroy_race)
{
	struct destroy_race dr = { .fd = self->fd, .buffer = self->buffer };
	unsigned int destroyed = 0, busy = 0;
	pthread_t thread;
	time_t start;
	__u32 id;

	ASSERT_EQ(0, pthread_create(&thread, NULL, destroy_race_mapper, &dr));
	start = time(NULL);
	for (;;) {
		time_t now = time(NULL);

		if (now >= start + 60)
			break;
		if (now >= start + 3 &&
		    __atomic_load_n(&dr.maps, __ATOMIC_RELAXED) &&
		    __atomic_load_n(&dr.gone, __ATOMIC_RELAXED))
			break;
		/* The lowest free ID: IOAS 1 again and again */
		test_ioctl_ioas_alloc(&id);
		ASSERT_EQ(1, id);
		while (_test_ioctl_destroy(self->fd, id)) {
			ASSERT_EQ(EBUSY, errno);
			busy++;
		}
		destroyed++;
	}
	__atomic_store_n(&dr.stop, true, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(0, dr.bad_errno);
	TH_LOG("%u IOAS destroyed (%u EBUSY), %u maps in between, %u calls found no IOAS",
	       destroyed, busy, dr.maps, dr.gone);
	ASSERT_LT(0, destroyed);
	/* Both outcomes of the race */
	ASSERT_LT(0, dr.maps);
	ASSERT_LT(0, dr.gone);
	if (iommufd_test_supported(self->fd))
		test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
}

TEST_F(iommufd, close_all_alive)
{
	__u32 ioas_id, ioas2_id, hwpt_id, hwpt2_id;
	__u64 iova, iova2;
	long pinned;

	if (!iommufd_test_supported(self->fd))
		SKIP(return, "CONFIG_IOMMUFD_TEST is off");

	pinned = vm_pinned_kb();
	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_alloc(&ioas2_id);
	test_cmd_mock_domain(ioas_id, NULL, &hwpt_id, NULL);
	test_cmd_mock_domain(ioas_id, NULL, NULL, NULL);
	test_cmd_mock_domain(ioas2_id, NULL, &hwpt2_id, NULL);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE,
				  MOCK_APERTURE_START);
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas2_id, ioas_id,
					   MOCK_APERTURE_START, BUFFER_SIZE,
					   &iova, IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas_id, ioas_id,
					   MOCK_APERTURE_START, PAGE_SIZE,
					   &iova2, IOMMU_IOAS_MAP_RW));
	test_cmd_check_map(hwpt2_id, iova, self->buffer, BUFFER_SIZE);
	test_cmd_check_map(hwpt_id, iova2, self->buffer, PAGE_SIZE);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 1);

	ASSERT_EQ(0, close(self->fd));
	self->fd = iommufd_open();
	ASSERT_LE(0, self->fd);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	ASSERT_EQ(pinned, vm_pinned_kb());
	/* A new context starts empty */
	test_ioctl_ioas_alloc(&ioas_id);
	ASSERT_EQ(1, ioas_id);
}

/*
 * Attaching a domain is refused when the IOAS holds mappings or allowed
 * ranges the domain cannot translate, or mappings misaligned for it.
 */
TEST_F(iommufd, attach_conflicts)
{
	struct iommu_iova_range range = {
		.start = PAGE_SIZE,
		.last = 2 * PAGE_SIZE - 1,
	};
	struct iommu_iova_range ranges[4];
	__u32 ioas_id, stdev_id, num;
	__u64 alignment;

	if (!iommufd_test_supported(self->fd))
		SKIP(return, "CONFIG_IOMMUFD_TEST is off");
	test_ioctl_ioas_alloc(&ioas_id);

	/* A mapping below the mock aperture */
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE, PAGE_SIZE);
	test_err(EADDRINUSE, _test_cmd_mock_domain(self->fd, ioas_id, NULL,
						   NULL, NULL));
	/* Only the mapping's own pin */
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 1);
	num = ARRAY_SIZE(ranges);
	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, ioas_id, ranges, &num,
					     &alignment));
	ASSERT_EQ(1, num);
	ASSERT_EQ(0, ranges[0].start);
	ASSERT_EQ(UINT64_MAX, ranges[0].last);
	ASSERT_EQ(1, alignment);
	test_ioctl_ioas_unmap(ioas_id, PAGE_SIZE, PAGE_SIZE);

	/* An allowed range below the mock aperture */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, ioas_id, &range, 1));
	test_err(EADDRINUSE, _test_cmd_mock_domain(self->fd, ioas_id, NULL,
						   NULL, NULL));
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, ioas_id, NULL, 0));

	/* A mapping aligned to 1 but not to MOCK_IO_PAGE_SIZE */
	test_ioctl_ioas_map_fixed(ioas_id, (char *)self->buffer + 1, PAGE_SIZE,
				  MOCK_APERTURE_START + 1);
	test_err(EADDRINUSE, _test_cmd_mock_domain(self->fd, ioas_id, NULL,
						   NULL, NULL));
	ASSERT_EQ(1, ioas_alignment(self->fd, ioas_id));
	test_ioctl_ioas_unmap(ioas_id, MOCK_APERTURE_START + 1, PAGE_SIZE);

	/* Nothing in the way any more */
	test_cmd_mock_domain(ioas_id, &stdev_id, NULL, NULL);
	ASSERT_EQ(MOCK_IO_PAGE_SIZE, ioas_alignment(self->fd, ioas_id));
	test_ioctl_destroy(stdev_id);
	ASSERT_EQ(1, ioas_alignment(self->fd, ioas_id));
}

/* Filling a new domain from memory that cannot be pinned */
TEST_F(iommufd, attach_efault)
{
	__u32 ioas_id;
	char *buf;
	__u64 iova = MOCK_APERTURE_START;
	int rc;

	if (!iommufd_test_supported(self->fd))
		SKIP(return, "CONFIG_IOMMUFD_TEST is off");
	buf = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	buf[0] = 1;
	ASSERT_EQ(0, munmap(buf + PAGE_SIZE, PAGE_SIZE));

	test_ioctl_ioas_alloc(&ioas_id);
	/*
	 * Without a domain nothing needs to be pinned yet, so the kernel may
	 * accept the mapping; if it checks now it must say EFAULT.
	 */
	rc = _test_ioctl_ioas_map(self->fd, ioas_id, buf, 2 * PAGE_SIZE, &iova,
				  IOMMU_IOAS_MAP_FIXED_IOVA |
				  IOMMU_IOAS_MAP_RW);
	if (rc) {
		ASSERT_EQ(EFAULT, errno);
	} else {
		test_err(EFAULT, _test_cmd_mock_domain(self->fd, ioas_id,
						       NULL, NULL, NULL));
		test_ioctl_ioas_unmap(ioas_id, MOCK_APERTURE_START,
				      2 * PAGE_SIZE);
	}
	test_cmd_check_refs(buf, PAGE_SIZE, 0);
	test_cmd_mock_domain(ioas_id, NULL, NULL, NULL);
	munmap(buf, PAGE_SIZE);
}

/*
 * iommufd_ioas: an IOAS with 0, 1 or 2 mock domains attached
 */
FIXTURE(iommufd_ioas) {
	int fd;
	__u32 ioas_id;
	__u32 stdev_ids[2];
	__u32 hwpt_ids[2];
	__u32 idev_ids[2];
	__u32 refs;		/* pins per mapped page */
	__u64 base;		/* an IOVA every variant can map */
	__u64 alignment;
	void *buffer;
};

FIXTURE_VARIANT(iommufd_ioas) {
	unsigned int mock_domains;
	__u32 memory_limit;
	bool no_huge;
};

FIXTURE_VARIANT_ADD(iommufd_ioas, no_domain) {
	.mock_domains = 0,
};

FIXTURE_VARIANT_ADD(iommufd_ioas, mock_domain) {
	.mock_domains = 1,
};

FIXTURE_VARIANT_ADD(iommufd_ioas, two_mock_domain) {
	.mock_domains = 2,
};

/* Pin batches of a few entries: many iterations of every pin loop */
FIXTURE_VARIANT_ADD(iommufd_ioas, mock_domain_limit) {
	.mock_domains = 1,
	.memory_limit = 16,
};

FIXTURE_VARIANT_ADD(iommufd_ioas, mock_domain_nohuge) {
	.mock_domains = 1,
	.no_huge = true,
};

FIXTURE_SETUP(iommufd_ioas)
{
	unsigned int i;

	self->fd = iommufd_open();
	if (self->fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	if (!iommufd_test_supported(self->fd))
		SKIP_TEST("CONFIG_IOMMUFD_TEST is off");
	self->buffer = alloc_buffer(BUFFER_SIZE);
	ASSERT_NE(NULL, self->buffer);

	test_ioctl_ioas_alloc(&self->ioas_id);
	if (variant->no_huge)
		test_ioctl_set_option(IOMMU_OPTION_HUGE_PAGES, self->ioas_id,
				      0);
	if (variant->memory_limit)
		ASSERT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd,
							     variant->memory_limit));
	for (i = 0; i != variant->mock_domains; i++)
		test_cmd_mock_domain(self->ioas_id, &self->stdev_ids[i],
				     &self->hwpt_ids[i], &self->idev_ids[i]);
	/* Mapped memory is pinned once, at map time, domains or not */
	self->refs = 1;
	self->base = MOCK_APERTURE_START;
	self->alignment = ioas_alignment(self->fd, self->ioas_id);
	ASSERT_NE(0, self->alignment);
}

FIXTURE_TEARDOWN(iommufd_ioas)
{
	if (variant->memory_limit)
		EXPECT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd, 0));
	close(self->fd);
	munmap(self->buffer, BUFFER_SIZE);
}

/* Check that every domain of the IOAS maps [iova, iova + length) to buf */
#define check_domains(iova, buf, length)                                      \
	do {                                                                  \
		unsigned int __i;                                             \
		for (__i = 0; __i != variant->mock_domains; __i++)            \
			test_cmd_check_map(self->hwpt_ids[__i], iova, buf,    \
					   length);                           \
	} while (0)

TEST_F(iommufd_ioas, ioas_destroy)
{
	unsigned int i;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, BUFFER_SIZE,
				  self->base);
	if (variant->mock_domains) {
		/* The attached devices hold the IOAS */
		test_err(EBUSY, _test_ioctl_destroy(self->fd, self->ioas_id));
		check_domains(self->base, self->buffer, BUFFER_SIZE);
		for (i = 0; i != variant->mock_domains; i++)
			test_ioctl_destroy(self->stdev_ids[i]);
	}
	/* The IOAS still maps the memory */
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 1);
	test_ioctl_destroy(self->ioas_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, self->ioas_id));
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

TEST_F(iommufd_ioas, hwpt_destroy)
{
	unsigned int i;

	if (!variant->mock_domains)
		SKIP(return, "needs a mock domain");
	for (i = 0; i != variant->mock_domains; i++) {
		/* In use by its device */
		test_err(EBUSY, _test_ioctl_destroy(self->fd,
						    self->hwpt_ids[i]));
		/* Devices belong to their (mock) driver */
		test_err(EBUSY, _test_ioctl_destroy(self->fd,
						    self->idev_ids[i]));
	}
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	for (i = 0; i != variant->mock_domains; i++) {
		test_ioctl_destroy(self->stdev_ids[i]);
		/*
		 * The automatic HW_PAGETABLE goes with its last device; two
		 * mock devices of one IOAS may share one.
		 */
		if (i + 1 < variant->mock_domains &&
		    self->hwpt_ids[i + 1] == self->hwpt_ids[i])
			test_err(EBUSY, _test_ioctl_destroy(self->fd,
							    self->hwpt_ids[i]));
		else
			test_err(ENOENT, _test_ioctl_destroy(self->fd,
							     self->hwpt_ids[i]));
		test_err(ENOENT, _test_ioctl_destroy(self->fd,
						     self->idev_ids[i]));
		test_err(ENOENT, _test_ioctl_destroy(self->fd,
						     self->stdev_ids[i]));
	}
	/* Pinned until unmapped, whatever the domains do */
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 1);
	/* Without domains only HUGE_PAGES=0 keeps the alignment at PAGE_SIZE */
	ASSERT_EQ(variant->no_huge ? PAGE_SIZE : 1,
		  ioas_alignment(self->fd, self->ioas_id));
	test_ioctl_ioas_unmap(self->ioas_id, self->base, PAGE_SIZE);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
}

TEST_F(iommufd_ioas, iova_ranges)
{
	struct iommu_iova_range ranges[16];
	__u64 alignment = 0, expected;
	__u32 num, i;

	memset(ranges, 0xa5, sizeof(ranges));
	num = 0;
	test_err(EMSGSIZE, _test_ioctl_iova_ranges(self->fd, self->ioas_id,
						   ranges, &num, &alignment));
	ASSERT_LE(1, num);
	ASSERT_GE(ARRAY_SIZE(ranges) - 1, num);
	/* Nothing was written */
	ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, ranges[0].start);

	if (variant->no_huge)
		expected = PAGE_SIZE;
	else if (variant->mock_domains)
		expected = MOCK_IO_PAGE_SIZE;
	else
		expected = 1;
	ASSERT_EQ(expected, alignment);

	i = num;
	num = ARRAY_SIZE(ranges);
	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, ranges,
					     &num, &alignment));
	ASSERT_EQ(i, num);
	ASSERT_EQ(expected, alignment);
	/* Entries past num are untouched */
	ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, ranges[num].start);
	for (i = 0; i != num; i++) {
		ASSERT_LE(ranges[i].start, ranges[i].last);
		if (i)
			ASSERT_LT(ranges[i - 1].last, ranges[i].start);
		if (variant->mock_domains) {
			ASSERT_LE(MOCK_APERTURE_START, ranges[i].start);
			ASSERT_GE(MOCK_APERTURE_LAST, ranges[i].last);
		}
	}
	if (!variant->mock_domains) {
		ASSERT_EQ(1, num);
		ASSERT_EQ(0, ranges[0].start);
		ASSERT_EQ(UINT64_MAX, ranges[0].last);
	}

	test_err(ENOENT, _test_ioctl_iova_ranges(self->fd, 0, ranges, &num,
						 NULL));
	if (variant->mock_domains)
		test_err(ENOENT, _test_ioctl_iova_ranges(self->fd,
							 self->hwpt_ids[0],
							 ranges, &num, NULL));
}

TEST_F(iommufd_ioas, iova_ranges_reserved)
{
	struct iommu_iova_range before[16], after[16];
	__u64 start = self->base + 64 * PAGE_SIZE;
	__u64 last = start + PAGE_SIZE - 1;
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u32 num_before = 16, num_after = 16, i;
	bool below = false, above = false;
	__u64 iova;

	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, before,
					     &num_before, NULL));
	test_cmd_add_reserved(self->ioas_id, start, PAGE_SIZE);
	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, after,
					     &num_after, NULL));
	ASSERT_EQ(num_before + 1, num_after);
	for (i = 0; i != num_after; i++) {
		ASSERT_FALSE(after[i].start <= last && start <= after[i].last);
		if (after[i].last == start - 1)
			below = true;
		if (after[i].start == last + 1)
			above = true;
	}
	ASSERT_TRUE(below);
	ASSERT_TRUE(above);

	/* Reserved IOVA cannot be mapped at a fixed address */
	iova = start;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      fixed));
	iova = start - PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 2 * PAGE_SIZE,
					      &iova, fixed));

	/* Reserving over a mapping is refused */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	test_err(EADDRINUSE, _test_cmd_add_reserved(self->fd, self->ioas_id,
						    self->base, PAGE_SIZE));
	test_ioctl_ioas_unmap(self->ioas_id, self->base, PAGE_SIZE);
}

TEST_F(iommufd_ioas, map_unmap_fixed)
{
	__u64 len, iova;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, BUFFER_SIZE,
				  self->base);
	check_domains(self->base, self->buffer, BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, self->refs);

	/* A read-only mapping next to it */
	iova = self->base + BUFFER_SIZE;
	ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					  self->buffer, PAGE_SIZE, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_READABLE));
	ASSERT_EQ(self->base + BUFFER_SIZE, iova);
	check_domains(iova, self->buffer, PAGE_SIZE);
	/* The same page mapped twice is pinned twice */
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 2 * self->refs);

	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    self->base, BUFFER_SIZE, &len));
	ASSERT_EQ(BUFFER_SIZE, len);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, self->refs);
	test_cmd_check_refs((char *)self->buffer + PAGE_SIZE,
			    BUFFER_SIZE - PAGE_SIZE, 0);
	test_ioctl_ioas_unmap(self->ioas_id, self->base + BUFFER_SIZE,
			      PAGE_SIZE);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);

	/* The IOVA is free again */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, BUFFER_SIZE,
				  self->base);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);
}

TEST_F(iommufd_ioas, map_unmap_auto)
{
	__u64 iova;

	test_ioctl_ioas_map(self->ioas_id, self->buffer, BUFFER_SIZE, &iova);
	ASSERT_NE(0, iova);
	check_domains(iova, self->buffer, BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, self->refs);
	test_ioctl_ioas_unmap(self->ioas_id, iova, BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

TEST_F(iommufd_ioas, map_bad_flags)
{
	static const __u32 bad_flags[] = { 1U << 3, 1U << 16, 1U << 31 };
	__u64 iova = self->base;
	unsigned int i;

	/* Neither readable nor writeable */
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      0));
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA));
	for (i = 0; i != ARRAY_SIZE(bad_flags); i++)
		test_err(EOPNOTSUPP,
			 _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW |
					      bad_flags[i]));

	/* The same rules for COPY */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	test_err(EINVAL, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, self->base,
					       PAGE_SIZE, &iova, 0));
	for (i = 0; i != ARRAY_SIZE(bad_flags); i++)
		test_err(EOPNOTSUPP,
			 _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, self->base,
					       PAGE_SIZE, &iova,
					       IOMMU_IOAS_MAP_RW |
					       bad_flags[i]));
	test_ioctl_ioas_unmap(self->ioas_id, self->base, PAGE_SIZE);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
}

TEST_F(iommufd_ioas, map_zero_length)
{
	__u64 iova = self->base;

	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 0, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	/* (design) the UAPI says EINVAL for length 0 whatever the flags */
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 0, &iova,
					      IOMMU_IOAS_MAP_RW));
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	test_err(EINVAL, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, self->base, 0,
					       &iova, IOMMU_IOAS_MAP_RW));
	test_ioctl_ioas_unmap(self->ioas_id, self->base, PAGE_SIZE);
}

TEST_F(iommufd_ioas, map_alignment)
{
	__u64 align = self->alignment;
	char *buf = self->buffer;
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 iova;

	if (align > 1) {
		__u64 half = align / 2;

		iova = self->base + half;
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf, PAGE_SIZE, &iova,
						      fixed));
		iova = self->base;
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf, PAGE_SIZE + half,
						      &iova, fixed));
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf, PAGE_SIZE + half,
						      &iova,
						      IOMMU_IOAS_MAP_RW));
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf + half, PAGE_SIZE,
						      &iova, fixed));
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf + half, PAGE_SIZE,
						      &iova,
						      IOMMU_IOAS_MAP_RW));
		test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd,
							self->ioas_id, 0,
							UINT64_MAX - 1, NULL));
	}

	/* The smallest legal sub-page offset, length and IOVA */
	if (align < PAGE_SIZE) {
		test_ioctl_ioas_map_fixed(self->ioas_id, buf + align,
					  PAGE_SIZE + align,
					  self->base + align);
		check_domains(self->base + align, buf + align,
			      PAGE_SIZE + align);
		test_cmd_check_refs(buf, 2 * PAGE_SIZE, self->refs);
		test_ioctl_ioas_unmap(self->ioas_id, self->base + align,
				      PAGE_SIZE + align);
		test_ioctl_ioas_map(self->ioas_id, buf + align, align, &iova);
		ASSERT_EQ(0, iova % align);
		ASSERT_EQ(align, iova % PAGE_SIZE);
		check_domains(iova, buf + align, align);
		test_ioctl_ioas_unmap(self->ioas_id, iova, align);
		test_cmd_check_refs(buf, 2 * PAGE_SIZE, 0);
	}
}

TEST_F(iommufd_ioas, map_overflow)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 iova;

	iova = UINT64_MAX;
	test_err(EOVERFLOW, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						 self->buffer, PAGE_SIZE,
						 &iova, fixed));
	iova = self->base;
	test_err(EOVERFLOW, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						 self->buffer, UINT64_MAX,
						 &iova, fixed));
	test_err(EOVERFLOW, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						 self->buffer, UINT64_MAX,
						 &iova, IOMMU_IOAS_MAP_RW));
	/* iova + length wraps around */
	iova = 0 - 2 * PAGE_SIZE;
	test_err(EOVERFLOW, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						 self->buffer, 4 * PAGE_SIZE,
						 &iova, fixed));
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, 0,
						UINT64_MAX - 1, NULL));
}

TEST_F(iommufd_ioas, map_fixed_overlap)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 iova, start = self->base + 16 * PAGE_SIZE;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 4 * PAGE_SIZE,
				  start);
	iova = start;
	test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 4 * PAGE_SIZE,
					      &iova, fixed));
	iova = start - 2 * PAGE_SIZE;
	test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 4 * PAGE_SIZE,
					      &iova, fixed));
	iova = start + 3 * PAGE_SIZE;
	test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 4 * PAGE_SIZE,
					      &iova, fixed));
	iova = start + PAGE_SIZE;
	test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE,
					      &iova, fixed));
	iova = start - 4 * PAGE_SIZE;
	test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 16 * PAGE_SIZE,
					      &iova, fixed));
	/* The existing mapping was not replaced */
	check_domains(start, self->buffer, 4 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, self->refs);
	/* Adjacent on both sides is fine */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  start - PAGE_SIZE);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  start + 4 * PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, start - PAGE_SIZE, 6 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
}

TEST_F(iommufd_ioas, map_fixed_reserved)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 iova;

	if (variant->mock_domains) {
		/* Outside the aperture of the mock domains */
		iova = 0;
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      self->buffer, PAGE_SIZE,
						      &iova, fixed));
		iova = MOCK_APERTURE_START - PAGE_SIZE;
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      self->buffer,
						      2 * PAGE_SIZE, &iova,
						      fixed));
		iova = MOCK_APERTURE_LAST + 1 - PAGE_SIZE;
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      self->buffer,
						      2 * PAGE_SIZE, &iova,
						      fixed));
		test_cmd_check_refs(self->buffer, 2 * PAGE_SIZE, 0);
	} else {
		/* A fixed IOVA may be 0 */
		test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
					  PAGE_SIZE, 0);
		test_ioctl_ioas_unmap(self->ioas_id, 0, PAGE_SIZE);
	}
	test_cmd_add_reserved(self->ioas_id, self->base + 8 * PAGE_SIZE,
			      4 * PAGE_SIZE);
	iova = self->base + 8 * PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      fixed));
	iova = self->base + 11 * PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 2 * PAGE_SIZE,
					      &iova, fixed));
	iova = self->base;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 16 * PAGE_SIZE,
					      &iova, fixed));
	test_cmd_check_refs(self->buffer, 16 * PAGE_SIZE, 0);
	/* Right next to the reserved range */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 8 * PAGE_SIZE,
				  self->base);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base + 12 * PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, 8 * PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, self->base + 12 * PAGE_SIZE,
			      PAGE_SIZE);
}

TEST_F(iommufd_ioas, map_bad_ioas)
{
	__u64 iova = self->base;
	__u32 ioas2_id;

	test_err(ENOENT, _test_ioctl_ioas_map(self->fd, 0, self->buffer,
					      PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW));
	test_err(ENOENT, _test_ioctl_ioas_map(self->fd, 1000, self->buffer,
					      PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW));
	if (variant->mock_domains) {
		/* Not an IOAS */
		test_err(ENOENT, _test_ioctl_ioas_map(self->fd,
						      self->hwpt_ids[0],
						      self->buffer, PAGE_SIZE,
						      &iova,
						      IOMMU_IOAS_MAP_RW));
		test_err(ENOENT, _test_ioctl_ioas_map(self->fd,
						      self->stdev_ids[0],
						      self->buffer, PAGE_SIZE,
						      &iova,
						      IOMMU_IOAS_MAP_RW));
	}
	test_ioctl_ioas_alloc(&ioas2_id);
	test_ioctl_destroy(ioas2_id);
	test_err(ENOENT, _test_ioctl_ioas_map(self->fd, ioas2_id,
					      self->buffer, PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW));
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, ioas2_id, 0,
						UINT64_MAX, NULL));
	test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id, self->base,
					       PAGE_SIZE, &iova,
					       IOMMU_IOAS_MAP_RW));
}

TEST_F(iommufd_ioas, map_bad_user_va)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 iova;
	char *buf;
	int rc;

	buf = mmap(NULL, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, 2 * PAGE_SIZE);
	ASSERT_EQ(0, munmap(buf + 2 * PAGE_SIZE, PAGE_SIZE));
	ASSERT_EQ(0, mprotect(buf + 3 * PAGE_SIZE, PAGE_SIZE, PROT_NONE));

	iova = self->base;
	rc = _test_ioctl_ioas_map(self->fd, self->ioas_id, buf, 3 * PAGE_SIZE,
				  &iova, fixed);
	if (!variant->mock_domains && !rc) {
		/* Nothing to pin without a domain: see attach_efault */
		test_ioctl_ioas_unmap(self->ioas_id, self->base,
				      3 * PAGE_SIZE);
	} else {
		ASSERT_EQ(-1, rc);
		ASSERT_EQ(EFAULT, errno);
	}
	if (variant->mock_domains) {
		iova = self->base;
		test_err(EFAULT, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf + 3 * PAGE_SIZE,
						      PAGE_SIZE, &iova,
						      fixed));
		test_err(EFAULT, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      buf + 3 * PAGE_SIZE,
						      PAGE_SIZE, &iova,
						      IOMMU_IOAS_MAP_RW));
	}
	/* Nothing left pinned or mapped */
	test_cmd_check_refs(buf, 2 * PAGE_SIZE, 0);
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, 0,
						UINT64_MAX - 1, NULL));
	/* The good part alone maps fine */
	test_ioctl_ioas_map_fixed(self->ioas_id, buf, 2 * PAGE_SIZE,
				  self->base);
	test_cmd_check_refs(buf, 2 * PAGE_SIZE, self->refs);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, 2 * PAGE_SIZE);
	munmap(buf, 2 * PAGE_SIZE);
	munmap(buf + 3 * PAGE_SIZE, PAGE_SIZE);
}

TEST_F(iommufd_ioas, auto_iova_rules)
{
	__u64 off = self->alignment < PAGE_SIZE ? PAGE_SIZE / 2 : 0;
	__u64 iovas[8], lengths[8], total = 0, len, iova;
	char *buf = self->buffer, *aligned;
	unsigned int i, j;

	for (i = 0; i != ARRAY_SIZE(iovas); i++) {
		lengths[i] = (i + 1) * PAGE_SIZE;
		test_ioctl_ioas_map(self->ioas_id, buf + off, lengths[i],
				    &iovas[i]);
		total += lengths[i];
		ASSERT_NE(0, iovas[i]);
		/* Same offset within the page as the memory */
		ASSERT_EQ(off, iovas[i] % PAGE_SIZE);
		ASSERT_EQ(0, iovas[i] % self->alignment);
		if (variant->mock_domains) {
			ASSERT_LE(MOCK_APERTURE_START, iovas[i]);
			ASSERT_GE(MOCK_APERTURE_LAST,
				  iovas[i] + lengths[i] - 1);
		}
		for (j = 0; j != i; j++)
			ASSERT_FALSE(ranges_overlap(iovas[i], lengths[i],
						    iovas[j], lengths[j]));
		check_domains(iovas[i], buf + off, lengths[i]);
	}

	/*
	 * The IOVA keeps the alignment of the memory, up to the length
	 * rounded to a power of two, so that large IOPTEs can be used.
	 */
	aligned = (char *)(((uintptr_t)buf + SZ_64K - 1) &
			   ~(uintptr_t)(SZ_64K - 1));
	test_ioctl_ioas_map(self->ioas_id, aligned, SZ_64K, &iova);
	ASSERT_EQ(0, iova % SZ_64K);
	total += SZ_64K;

	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(total, len);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
}

TEST_F(iommufd_ioas, auto_iova_allowed)
{
	struct iommu_iova_range allowed[] = {
		{ self->base + 64 * PAGE_SIZE, self->base + 72 * PAGE_SIZE - 1 },
		{ self->base + 256 * PAGE_SIZE,
		  self->base + 264 * PAGE_SIZE - 1 },
	};
	struct iommu_iova_range replaced = {
		self->base + 512 * PAGE_SIZE, self->base + 516 * PAGE_SIZE - 1
	};
	char *buf = (char *)(((uintptr_t)self->buffer + SZ_64K - 1) &
			     ~(uintptr_t)(SZ_64K - 1));
	__u64 iova, len;
	unsigned int i;

	/*
	 * The kernel keeps the alignment of the memory in the IOVA: with
	 * 64 KiB aligned memory two 4 page mappings fill each range.
	 */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id, allowed,
					     ARRAY_SIZE(allowed)));
	for (i = 0; i != 4; i++) {
		test_ioctl_ioas_map(self->ioas_id, buf, 4 * PAGE_SIZE, &iova);
		ASSERT_TRUE((iova >= allowed[0].start &&
			     iova + 4 * PAGE_SIZE - 1 <= allowed[0].last) ||
			    (iova >= allowed[1].start &&
			     iova + 4 * PAGE_SIZE - 1 <= allowed[1].last));
	}
	/* Both ranges are full */
	test_err(ENOSPC, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW));
	/* Fixed IOVAs are not limited by the list */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);

	/* Replace the whole list */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
					     &replaced, 1));
	test_ioctl_ioas_map(self->ioas_id, buf, 4 * PAGE_SIZE, &iova);
	ASSERT_EQ(replaced.start, iova);
	test_err(ENOSPC, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW));

	/* Clear it: anything free will do */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id, NULL,
					     0));
	test_ioctl_ioas_map(self->ioas_id, self->buffer, 4 * PAGE_SIZE, &iova);

	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(25 * PAGE_SIZE, len);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

TEST_F(iommufd_ioas, auto_iova_reserved)
{
	__u64 window = self->base + 1024 * PAGE_SIZE;
	struct iommu_iova_range ranges[8];
	__u64 iovas[4], len;
	unsigned int i, j, big = 0;
	__u32 num = ARRAY_SIZE(ranges);

	/* Leave a 4 page window: [0, window) and [window + 4 pages, -2] */
	test_cmd_add_reserved(self->ioas_id, 0, window);
	test_cmd_add_reserved(self->ioas_id, window + 4 * PAGE_SIZE,
			      UINT64_MAX - (window + 4 * PAGE_SIZE));
	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, ranges,
					     &num, NULL));
	for (i = 0; i != num; i++) {
		if (ranges[i].last - ranges[i].start < PAGE_SIZE - 1)
			continue;
		big++;
		ASSERT_EQ(window, ranges[i].start);
		ASSERT_EQ(window + 4 * PAGE_SIZE - 1, ranges[i].last);
	}
	ASSERT_EQ(1, big);

	for (i = 0; i != ARRAY_SIZE(iovas); i++) {
		test_ioctl_ioas_map(self->ioas_id, self->buffer, PAGE_SIZE,
				    &iovas[i]);
		ASSERT_LE(window, iovas[i]);
		ASSERT_GT(window + 4 * PAGE_SIZE, iovas[i]);
		for (j = 0; j != i; j++)
			ASSERT_NE(iovas[j], iovas[i]);
	}
	test_err(ENOSPC, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE,
					      &iovas[0], IOMMU_IOAS_MAP_RW));
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 4 * self->refs);
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(4 * PAGE_SIZE, len);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
}

TEST_F(iommufd_ioas, unmap_whole)
{
	__u64 start = self->base + 16 * PAGE_SIZE, len;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 4 * PAGE_SIZE,
				  start);
	/* A range covering more than the mapping removes it whole */
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    start - PAGE_SIZE, 6 * PAGE_SIZE,
					    &len));
	ASSERT_EQ(4 * PAGE_SIZE, len);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, start,
						4 * PAGE_SIZE, NULL));
}

TEST_F(iommufd_ioas, unmap_cut)
{
	__u64 start = self->base + 16 * PAGE_SIZE;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 4 * PAGE_SIZE,
				  start);
	/* Every range that cuts the mapping */
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, start,
						2 * PAGE_SIZE, NULL));
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						start + 2 * PAGE_SIZE,
						2 * PAGE_SIZE, NULL));
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						start + PAGE_SIZE,
						2 * PAGE_SIZE, NULL));
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						start - PAGE_SIZE,
						2 * PAGE_SIZE, NULL));
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						start + 3 * PAGE_SIZE,
						2 * PAGE_SIZE, NULL));
	/* The mapping is intact */
	check_domains(start, self->buffer, 4 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, self->refs);
	test_ioctl_ioas_unmap(self->ioas_id, start, 4 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
}

TEST_F(iommufd_ioas, unmap_empty)
{
	__u64 len = 1;

	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						self->base, PAGE_SIZE, NULL));
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, 0,
						UINT64_MAX - 1, NULL));
	/* Unmap all succeeds on an empty IOAS */
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(0, len);

	/* A hole next to a mapping */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						self->base + PAGE_SIZE,
						PAGE_SIZE, NULL));
	test_ioctl_ioas_unmap(self->ioas_id, self->base, PAGE_SIZE);
}

TEST_F(iommufd_ioas, unmap_all)
{
	__u64 len, iova;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 8 * PAGE_SIZE,
				  self->base + 4 * PAGE_SIZE);
	test_ioctl_ioas_map(self->ioas_id, (char *)self->buffer + PAGE_SIZE,
			    16 * PAGE_SIZE, &iova);
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					   self->ioas_id, self->base,
					   PAGE_SIZE, &iova,
					   IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(26 * PAGE_SIZE, len);
	test_cmd_check_refs(self->buffer, 17 * PAGE_SIZE, 0);
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(0, len);
}

TEST_F(iommufd_ioas, allow_iovas)
{
	__u64 base = self->base;
	struct iommu_iova_range ranges[16], before[16];
	struct iommu_iova_range bad[2];
	__u32 num = 16, num_before = 16;

	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, before,
					     &num_before, NULL));

	bad[0].start = base + 2 * PAGE_SIZE;
	bad[0].last = base + PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_allow_iovas(self->fd, self->ioas_id, bad,
						 1));
	/* A range needs start < last */
	bad[0].last = bad[0].start;
	test_err(EINVAL, _test_ioctl_allow_iovas(self->fd, self->ioas_id, bad,
						 1));
	bad[0].start = base;
	bad[0].last = base + 4 * PAGE_SIZE - 1;
	bad[1].start = base + 3 * PAGE_SIZE;
	bad[1].last = base + 8 * PAGE_SIZE - 1;
	test_err(EINVAL, _test_ioctl_allow_iovas(self->fd, self->ioas_id, bad,
						 2));
	/* Same range twice */
	bad[1] = bad[0];
	test_err(EINVAL, _test_ioctl_allow_iovas(self->fd, self->ioas_id, bad,
						 2));
	test_err(ENOENT, _test_ioctl_allow_iovas(self->fd, 0, bad, 1));

	/* Overlapping reserved IOVA */
	test_cmd_add_reserved(self->ioas_id, base + 16 * PAGE_SIZE, PAGE_SIZE);
	bad[0].start = base + 8 * PAGE_SIZE;
	bad[0].last = base + 16 * PAGE_SIZE;
	test_err(EADDRINUSE, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
						     bad, 1));
	if (variant->mock_domains) {
		/* Outside the aperture is reserved too */
		bad[0].start = PAGE_SIZE;
		bad[0].last = 2 * PAGE_SIZE - 1;
		test_err(EADDRINUSE,
			 _test_ioctl_allow_iovas(self->fd, self->ioas_id, bad,
						 1));
	}

	/* Next to it is fine; then nothing more can be reserved there */
	bad[0].start = base + 8 * PAGE_SIZE;
	bad[0].last = base + 16 * PAGE_SIZE - 1;
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id, bad,
					     1));
	test_err(EADDRINUSE, _test_cmd_add_reserved(self->fd, self->ioas_id,
						    base + 15 * PAGE_SIZE,
						    PAGE_SIZE));
	/* The usable ranges do not depend on the allowed list */
	ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, self->ioas_id, ranges,
					     &num, NULL));
	ASSERT_EQ(num_before + 1, num);

	/* Clear the list: reserving works again */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id, NULL,
					     0));
	test_cmd_add_reserved(self->ioas_id, base + 15 * PAGE_SIZE, PAGE_SIZE);
}

TEST_F(iommufd_ioas, copy)
{
	__u32 ioas2_id, hwpt2_id = 0, stdev2_id = 0;
	__u64 length = 64 * PAGE_SIZE;
	char *buf = self->buffer;
	__u64 iova, iova2, iova3;
	long pinned, locked;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, length, self->base);
	test_ioctl_ioas_alloc(&ioas2_id);
	if (variant->mock_domains)
		test_cmd_mock_domain(ioas2_id, &stdev2_id, &hwpt2_id, NULL);
	pinned = vm_pinned_kb();
	locked = vm_locked_kb();

	/* Into another IOAS */
	iova = self->base;
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas2_id, self->ioas_id,
					   self->base, length, &iova,
					   IOMMU_IOAS_MAP_FIXED_IOVA |
					   IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(self->base, iova);
	if (hwpt2_id)
		test_cmd_check_map(hwpt2_id, iova, buf, length);
	/* Not pinned a second time */
	test_cmd_check_refs(buf, length, self->refs);

	/* Within the same IOAS, at a kernel chosen IOVA */
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					   self->ioas_id, self->base, length,
					   &iova2, IOMMU_IOAS_MAP_RW));
	ASSERT_FALSE(ranges_overlap(iova2, length, self->base, length));
	check_domains(iova2, buf, length);
	test_cmd_check_refs(buf, length, self->refs);

	/* A part of a mapping, and a copy of a copy */
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas2_id, self->ioas_id,
					   iova2 + PAGE_SIZE, 2 * PAGE_SIZE,
					   &iova3, IOMMU_IOAS_MAP_READABLE));
	if (hwpt2_id)
		test_cmd_check_map(hwpt2_id, iova3, buf + PAGE_SIZE,
				   2 * PAGE_SIZE);
	test_cmd_check_refs(buf, length, self->refs);
	ASSERT_EQ(pinned, vm_pinned_kb());
	ASSERT_EQ(locked, vm_locked_kb());

	/* The source goes away, the copies keep the memory */
	test_ioctl_ioas_unmap(self->ioas_id, self->base, length);
	if (hwpt2_id) {
		test_cmd_check_map(hwpt2_id, self->base, buf, length);
		test_cmd_check_refs(buf, length, 1);
	}
	test_ioctl_ioas_unmap(self->ioas_id, iova2, length);
	test_ioctl_ioas_unmap(ioas2_id, self->base, length);
	if (hwpt2_id)
		test_cmd_check_refs(buf + PAGE_SIZE, 2 * PAGE_SIZE, 1);
	test_ioctl_ioas_unmap(ioas2_id, iova3, 2 * PAGE_SIZE);
	test_cmd_check_refs(buf, length, 0);
	if (stdev2_id)
		test_ioctl_destroy(stdev2_id);
	test_ioctl_destroy(ioas2_id);
}

TEST_F(iommufd_ioas, copy_hole)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 start = self->base + 16 * PAGE_SIZE;
	__u64 iova;
	__u32 ioas2_id;

	test_ioctl_ioas_alloc(&ioas2_id);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 4 * PAGE_SIZE,
				  start);
	iova = self->base;
	test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id,
					       start + 4 * PAGE_SIZE,
					       4 * PAGE_SIZE, &iova, fixed));
	test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id,
					       start + 2 * PAGE_SIZE,
					       4 * PAGE_SIZE, &iova, fixed));
	test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id,
					       start - PAGE_SIZE,
					       2 * PAGE_SIZE, &iova, fixed));
	/* Bad source or destination IOAS */
	test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, ioas2_id, 0, start,
					       PAGE_SIZE, &iova, fixed));
	test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, 0, self->ioas_id,
					       start, PAGE_SIZE, &iova,
					       fixed));
	/* The destination must follow the MAP rules */
	test_ioctl_ioas_map_fixed(ioas2_id, self->buffer, PAGE_SIZE,
				  self->base);
	test_err(EEXIST, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id, start,
					       PAGE_SIZE, &iova, fixed));
	test_ioctl_ioas_unmap(ioas2_id, self->base, PAGE_SIZE);
	/* Nothing was created in the destination */
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, ioas2_id, 0,
						UINT64_MAX - 1, NULL));
	test_ioctl_ioas_unmap(self->ioas_id, start, 4 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
}

TEST_F(iommufd_ioas, copy_readonly)
{
	__u64 iova = self->base;

	ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					  self->buffer, 4 * PAGE_SIZE, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_READABLE));
	test_err(EPERM, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					      self->ioas_id, self->base,
					      4 * PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_RW));
	test_err(EPERM, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					      self->ioas_id, self->base,
					      4 * PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_WRITEABLE));
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					   self->ioas_id, self->base,
					   4 * PAGE_SIZE, &iova,
					   IOMMU_IOAS_MAP_READABLE));
	check_domains(iova, self->buffer, 4 * PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, iova, 4 * PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, 4 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
}

/* A domain attached to an IOAS that has mappings is filled with them */
TEST_F(iommufd_ioas, domain_fill)
{
	__u64 length = 64 * PAGE_SIZE, iova;
	__u32 stdev_id, hwpt_id;
	char *buf = self->buffer;

	/* Mappings the mock domain can hold: aligned, inside its aperture */
	test_ioctl_ioas_map_fixed(self->ioas_id, buf, length, self->base);
	iova = self->base + 4 * length;
	test_ioctl_ioas_map_fixed(self->ioas_id, buf + length, length, iova);
	/*
	 * With mock domains already attached the kernel may reuse their
	 * HW_PAGETABLE for the new device; without, it must fill a new one.
	 */
	test_cmd_mock_domain(self->ioas_id, &stdev_id, &hwpt_id, NULL);
	test_cmd_check_map(hwpt_id, self->base, buf, length);
	test_cmd_check_map(hwpt_id, iova, buf + length, length);
	check_domains(self->base, buf, length);
	test_cmd_check_refs(buf, 2 * length, 1);
	ASSERT_EQ(variant->no_huge ? PAGE_SIZE : MOCK_IO_PAGE_SIZE,
		  ioas_alignment(self->fd, self->ioas_id));

	/* Removing it keeps the others filled */
	test_ioctl_destroy(stdev_id);
	test_cmd_check_refs(buf, 2 * length, self->refs);
	check_domains(self->base, buf, length);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, length);
	test_ioctl_ioas_unmap(self->ioas_id, iova, length);
	test_cmd_check_refs(buf, 2 * length, 0);
}

TEST_F(iommufd_ioas, huge_pages)
{
	size_t size = 2 * HUGEPAGE_SIZE;
	__u64 max_map, max = 0;
	struct huge_buffer hb;
	unsigned int i;
	char *buf;
	int huge;

	if (!variant->mock_domains)
		SKIP(return, "needs a mock domain");
	/* FAIL, not SKIP, when THP is enabled but not obtained */
	huge = alloc_huge_buffer(&hb, size);
	if (huge == HUGE_BUFFER_NONE) {
		free_huge_buffer(&hb);
		SKIP(return, "no transparent huge pages and no hugetlb pages");
	}
	if (huge == HUGE_BUFFER_THP_MISSING)
		free_huge_buffer(&hb);
	ASSERT_EQ(HUGE_BUFFER_OK, huge)
		TH_LOG("THP is enabled but no huge page was obtained");
	buf = hb.buf;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, size, self->base);
	for (i = 0; i != variant->mock_domains; i++) {
		ASSERT_EQ(0, _test_cmd_check_map(self->fd, self->hwpt_ids[i],
						 self->base, buf, size,
						 &max_map));
		if (max_map > max)
			max = max_map;
	}
	test_ioctl_ioas_unmap(self->ioas_id, self->base, size);
	free_huge_buffer(&hb);

	TH_LOG("%s, largest map %llu", hb.hugetlb ? "hugetlb" : "THP",
	       (unsigned long long)max);
	if (variant->no_huge) {
		ASSERT_EQ(PAGE_SIZE, max);
		return;
	}
	ASSERT_LE(HUGEPAGE_SIZE, max);
}

TEST_F(iommufd_ioas, huge_pages_option)
{
	__u64 len;

	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, self->ioas_id,
				!variant->no_huge);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  self->base);
	if (variant->mock_domains && !variant->no_huge) {
		/* Domains and mappings exist: too late */
		test_err(EINVAL, _test_ioctl_set_option(self->fd,
							IOMMU_OPTION_HUGE_PAGES,
							self->ioas_id, 0));
		test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES,
					self->ioas_id, 1);
	}
	if (variant->mock_domains) {
		/* Without mappings a domain does not stop it */
		ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						    UNMAP_ALL_IOVA,
						    UNMAP_ALL_LENGTH, &len));
		ASSERT_EQ(PAGE_SIZE, len);
	}
	test_ioctl_set_option(IOMMU_OPTION_HUGE_PAGES, self->ioas_id, 0);
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, self->ioas_id, 0);
	/* HUGE_PAGES=0 maps every page on its own: PAGE_SIZE granularity */
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, self->ioas_id));
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
}

/*
 * accounting: RLIMIT_MEMLOCK charges of pinned memory.  Each test runs in
 * its own process, so dropping capabilities only affects that test.
 */
FIXTURE(accounting) {
	int fd;
	__u32 ioas_id;
	__u32 hwpt_id;
	void *buffer;
};

FIXTURE_SETUP(accounting)
{
	struct rlimit limit = {
		.rlim_cur = 64UL << 20,
		.rlim_max = 64UL << 20,
	};

	self->fd = iommufd_open();
	if (self->fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	if (!iommufd_test_supported(self->fd))
		SKIP_TEST("CONFIG_IOMMUFD_TEST is off");
	if (geteuid())
		SKIP_TEST("needs root");
	self->buffer = alloc_buffer(BUFFER_SIZE);
	ASSERT_NE(NULL, self->buffer);
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &limit));
}

FIXTURE_TEARDOWN(accounting)
{
	close(self->fd);
	munmap(self->buffer, BUFFER_SIZE);
}

/* Lower RLIMIT_MEMLOCK to @bytes */
#define set_memlock_limit(bytes)                                              \
	do {                                                                  \
		rlim_t __bytes = (bytes);                                     \
		struct rlimit __lim = { __bytes, __bytes };                   \
		ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &__lim));              \
	} while (0)

/*
 * Open a new context (after any capability change), select the accounting
 * mode, then create an IOAS with a mock domain.
 */
#define accounting_start(mode)                                                \
	do {                                                                  \
		close(self->fd);                                              \
		self->fd = iommufd_open();                                    \
		ASSERT_LE(0, self->fd);                                       \
		test_ioctl_set_option(IOMMU_OPTION_RLIMIT_MODE, 0, mode);     \
		test_ioctl_ioas_alloc(&self->ioas_id);                        \
		test_cmd_mock_domain(self->ioas_id, NULL, &self->hwpt_id,     \
				     NULL);                                   \
	} while (0)

TEST_F(accounting, mm_mode_charges)
{
	__u32 ioas2_id;
	long locked;
	__u64 iova;

	ASSERT_EQ(0, drop_capability(CAP_IPC_LOCK));
	accounting_start(1);
	locked = vm_locked_kb();
	ASSERT_LE(0, locked);

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, BUFFER_SIZE,
				  MOCK_APERTURE_START);
	ASSERT_EQ(locked + BUFFER_SIZE / 1024, vm_locked_kb());

	/* A copy shares the pinned pages and their charge */
	test_ioctl_ioas_alloc(&ioas2_id);
	test_cmd_mock_domain(ioas2_id, NULL, NULL, NULL);
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas2_id, self->ioas_id,
					   MOCK_APERTURE_START, BUFFER_SIZE,
					   &iova, IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(locked + BUFFER_SIZE / 1024, vm_locked_kb());
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START,
			      BUFFER_SIZE);
	ASSERT_EQ(locked + BUFFER_SIZE / 1024, vm_locked_kb());
	test_ioctl_ioas_unmap(ioas2_id, iova, BUFFER_SIZE);
	ASSERT_EQ(locked, vm_locked_kb());
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);

	/* Released at close too */
	test_ioctl_ioas_map(self->ioas_id, self->buffer, BUFFER_SIZE / 2,
			    &iova);
	ASSERT_EQ(locked + BUFFER_SIZE / 2048, vm_locked_kb());
	ASSERT_EQ(0, close(self->fd));
	ASSERT_EQ(locked, vm_locked_kb());
	self->fd = iommufd_open();
	ASSERT_LE(0, self->fd);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

TEST_F(accounting, mm_mode_limit)
{
	__u64 iova = MOCK_APERTURE_START;
	long locked;

	ASSERT_EQ(0, drop_capability(CAP_IPC_LOCK));
	set_memlock_limit(256 * 1024);
	accounting_start(1);
	locked = vm_locked_kb();

	test_err(ENOMEM, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, BUFFER_SIZE, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	ASSERT_EQ(locked, vm_locked_kb());
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, 0,
						UINT64_MAX - 1, NULL));

	/* Within the limit */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 128 * 1024,
				  MOCK_APERTURE_START);
	ASSERT_EQ(locked + 128, vm_locked_kb());
	test_cmd_check_refs(self->buffer, 128 * 1024, 1);
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, 128 * 1024);
	ASSERT_EQ(locked, vm_locked_kb());
}

TEST_F(accounting, user_mode_limit)
{
	__u64 iova = MOCK_APERTURE_START;
	long locked;

	ASSERT_EQ(0, drop_capability(CAP_IPC_LOCK));
	set_memlock_limit(256 * 1024);
	accounting_start(0);
	locked = vm_locked_kb();

	test_err(ENOMEM, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, BUFFER_SIZE, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id, 0,
						UINT64_MAX - 1, NULL));

	/* Within the limit; the user is charged, not the mm */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 128 * 1024,
				  MOCK_APERTURE_START);
	ASSERT_EQ(locked, vm_locked_kb());
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, 128 * 1024);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/*
 * CAP_IPC_LOCK bypasses RLIMIT_MEMLOCK in both modes.  Whether its holder
 * is charged at all differs (upstream: never; this series: not in mode 0,
 * like VFIO type1 in mode 1), so only the limit and the unwinding are
 * checked.
 */
/*
 * The exemption is the mapping task's: a context opened with CAP_IPC_LOCK
 * and used after the capability is gone is charged and limited.
 */
TEST_F(accounting, cap_checked_at_map)
{
	__u64 iova = MOCK_APERTURE_START;
	long locked;

	set_memlock_limit(256 * 1024);
	accounting_start(1);
	ASSERT_EQ(0, drop_capability(CAP_IPC_LOCK));
	locked = vm_locked_kb();
	test_err(ENOMEM, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, BUFFER_SIZE, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 128 * 1024,
				  MOCK_APERTURE_START);
	ASSERT_EQ(locked + 128, vm_locked_kb());
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, 128 * 1024);
	ASSERT_EQ(locked, vm_locked_kb());
}

TEST_F(accounting, cap_ipc_lock_bypass)
{
	unsigned int mode;
	long locked;

	set_memlock_limit(64 * 1024);
	for (mode = 0; mode != 2; mode++) {
		accounting_start(mode);
		locked = vm_locked_kb();
		test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
					  BUFFER_SIZE, MOCK_APERTURE_START);
		test_cmd_check_refs(self->buffer, BUFFER_SIZE, 1);
		/* Not charged at all, in either mode */
		ASSERT_EQ(locked, vm_locked_kb());
		test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START,
				      BUFFER_SIZE);
		test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
		ASSERT_EQ(locked, vm_locked_kb());
	}
}

TEST_F(accounting, rlimit_mode_needs_cap)
{
	ASSERT_EQ(0, drop_capability(CAP_SYS_RESOURCE));
	test_err(EPERM, _test_ioctl_set_option(self->fd,
					       IOMMU_OPTION_RLIMIT_MODE, 0, 1));
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);
}

/*
 * Review of the storage and IOAS code: limits, preemption, errnos and the
 * metadata of pinned memory.
 *
 * iommufd_limits: an IOAS with one mock domain; tests that need another
 * setup make their own objects.
 */
FIXTURE(iommufd_limits) {
	int fd;
	__u32 ioas_id;
	__u32 stdev_id;
	__u32 hwpt_id;
	__u32 idev_id;
	void *buffer;
};

FIXTURE_SETUP(iommufd_limits)
{
	self->fd = iommufd_open();
	if (self->fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	if (!iommufd_test_supported(self->fd))
		SKIP_TEST("CONFIG_IOMMUFD_TEST is off");
	self->buffer = alloc_buffer(BUFFER_SIZE);
	ASSERT_NE(NULL, self->buffer);
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, &self->stdev_id, &self->hwpt_id,
			     &self->idev_id);
}

FIXTURE_TEARDOWN(iommufd_limits)
{
	close(self->fd);
	munmap(self->buffer, BUFFER_SIZE);
}

/*
 * COPY makes areas without pinning or charging anything: max_areas bounds
 * them (ENOSPC, like type1's dma_entry_limit), for MAP too.  Removing all
 * of them at once is one long loop under the IOVA lock, which must
 * reschedule (the gate runs with the soft-lockup detector).
 */
TEST_F_TIMEOUT(iommufd_limits, copy_many_unmap_all, 600)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 iova, len, base = MOCK_APERTURE_START;
	struct iommu_test_cmd md;
	long long max_areas;
	unsigned long i;

	max_areas = read_file_num(IOMMUFD_MAX_AREAS_PATH);
	ASSERT_EQ(65535, max_areas);
	/* Every copy needs a page of the mock aperture */
	ASSERT_LE((max_areas + 1) * PAGE_SIZE,
		  MOCK_APERTURE_LAST + 1 - MOCK_APERTURE_START);

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  base);
	for (i = 1; i != (unsigned long)max_areas; i++) {
		iova = base + i * PAGE_SIZE;
		ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
						   self->ioas_id, base,
						   PAGE_SIZE, &iova, fixed));
	}
	ASSERT_EQ(0, _test_cmd_ioas_metadata(self->fd, self->ioas_id, &md));
	ASSERT_EQ(max_areas, md.metadata.out_areas);
	ASSERT_EQ(1, md.metadata.out_pages);

	/* Full: neither a copy nor a map makes one more */
	iova = base + max_areas * PAGE_SIZE;
	test_err(ENOSPC, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, base, PAGE_SIZE,
					       &iova, fixed));
	test_err(ENOSPC, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer + PAGE_SIZE,
					      PAGE_SIZE, &iova, fixed));
	/* The refused map pinned nothing */
	test_cmd_check_refs(self->buffer + PAGE_SIZE, PAGE_SIZE, 0);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 1);

	/* A copy spanning several source areas needs one area per piece */
	test_ioctl_ioas_unmap(self->ioas_id, base + PAGE_SIZE, 2 * PAGE_SIZE);
	iova = base + max_areas * PAGE_SIZE;
	test_err(ENOSPC, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id,
					       base + 3 * PAGE_SIZE,
					       3 * PAGE_SIZE, &iova, fixed));
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					   self->ioas_id, base + 3 * PAGE_SIZE,
					   2 * PAGE_SIZE, &iova, fixed));

	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &len));
	ASSERT_EQ(max_areas * PAGE_SIZE, len);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
	ASSERT_EQ(0, _test_cmd_ioas_metadata(self->fd, self->ioas_id, &md));
	ASSERT_EQ(0, md.metadata.out_areas);
	ASSERT_EQ(0, md.metadata.out_bytes);
}

struct pin_watch {
	bool stop;	/* __atomic: set by the test thread */
	long expected;	/* VmPin every sample must show, kB */
	long samples;	/* __atomic: read by the test thread */
	long bad;	/* a sample that differed, or 0 */
};

/* Samples a failing map must run during, at least */
#define PIN_WATCH_SAMPLES 200

static void *pin_watcher(void *arg)
{
	struct pin_watch *pw = arg;

	while (!__atomic_load_n(&pw->stop, __ATOMIC_RELAXED)) {
		long pin = vm_pinned_kb();

		if (pin != pw->expected)
			pw->bad = pin ? pin : -1;
		__atomic_add_fetch(&pw->samples, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Keep failing maps going until the watcher has sampled enough */
static bool pin_watch_more(struct pin_watch *pw, unsigned int calls)
{
	return calls < PIN_WATCH_SAMPLES ||
	       __atomic_load_n(&pw->samples, __ATOMIC_RELAXED) <
		       PIN_WATCH_SAMPLES;
}

/*
 * Start a thread that samples VmPin until pin_watch_stop(): a map that
 * will fail on IOVA must never pin, not even for a moment.
 */
static void pin_watch_start(struct __test_metadata *_metadata,
			    struct pin_watch *pw, pthread_t *thread)
{
	pw->expected = vm_pinned_kb();
	ASSERT_LE(0, pw->expected);
	ASSERT_EQ(0, pthread_create(thread, NULL, pin_watcher, pw));
}

static void pin_watch_stop(struct __test_metadata *_metadata,
			   struct pin_watch *pw, pthread_t thread)
{
	__atomic_store_n(&pw->stop, true, __ATOMIC_RELAXED);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	TH_LOG("%ld VmPin samples", pw->samples);
	ASSERT_LE(PIN_WATCH_SAMPLES, pw->samples);
	ASSERT_EQ(0, pw->bad);
}

TEST_F(iommufd_limits, map_fixed_used_never_pins)
{
	struct pin_watch pw = {};
	pthread_t thread;
	unsigned int i;
	__u64 iova;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_APERTURE_START + BUFFER_SIZE - PAGE_SIZE);
	pin_watch_start(_metadata, &pw, &thread);
	for (i = 0; pin_watch_more(&pw, i); i++) {
		/* 1 MiB whose last page is used: refused before pinning */
		iova = MOCK_APERTURE_START;
		test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      self->buffer,
						      BUFFER_SIZE, &iova,
						      IOMMU_IOAS_MAP_FIXED_IOVA |
						      IOMMU_IOAS_MAP_RW));
	}
	pin_watch_stop(_metadata, &pw, thread);
	test_cmd_check_refs(self->buffer + PAGE_SIZE,
			    BUFFER_SIZE - PAGE_SIZE, 0);
}

TEST_F(iommufd_limits, map_auto_no_space_never_pins)
{
	struct iommu_iova_range allowed = {
		MOCK_APERTURE_START, MOCK_APERTURE_START + 2 * PAGE_SIZE - 1,
	};
	struct pin_watch pw = {};
	pthread_t thread;
	unsigned int i;
	__u64 iova;

	/* Only two pages may be chosen: a 1 MiB map has no room */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
					     &allowed, 1));
	pin_watch_start(_metadata, &pw, &thread);
	for (i = 0; pin_watch_more(&pw, i); i++)
		test_err(ENOSPC, _test_ioctl_ioas_map(self->fd, self->ioas_id,
						      self->buffer,
						      BUFFER_SIZE, &iova,
						      IOMMU_IOAS_MAP_RW));
	pin_watch_stop(_metadata, &pw, thread);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	test_ioctl_ioas_map(self->ioas_id, self->buffer, 2 * PAGE_SIZE, &iova);
	ASSERT_EQ(MOCK_APERTURE_START, iova);
}

/* Reserved IOVA is checked before mappings: EINVAL even over both */
TEST_F(iommufd_limits, map_fixed_reserved_first)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u64 base = MOCK_APERTURE_START, iova;

	/* Pages 0-1 mapped, page 2 reserved */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, 2 * PAGE_SIZE,
				  base);
	test_cmd_add_reserved(self->ioas_id, base + 2 * PAGE_SIZE, PAGE_SIZE);

	/* Pages 1-2: over the mapping and the reserved page */
	iova = base + PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, 2 * PAGE_SIZE,
					      &iova, fixed));
	iova = base + PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, base,
					       2 * PAGE_SIZE, &iova, fixed));
	/* Only the mapping: EEXIST */
	iova = base + PAGE_SIZE;
	test_err(EEXIST, _test_ioctl_ioas_map(self->fd, self->ioas_id,
					      self->buffer, PAGE_SIZE, &iova,
					      fixed));
	iova = base;
	test_err(EEXIST, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, base, PAGE_SIZE,
					       &iova, fixed));
	/* Only the reserved page: EINVAL */
	iova = base + 2 * PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
					       self->ioas_id, base, PAGE_SIZE,
					       &iova, fixed));
	test_cmd_check_refs(self->buffer, 2 * PAGE_SIZE, 1);
	test_cmd_check_refs(self->buffer + 2 * PAGE_SIZE, PAGE_SIZE, 0);
	test_ioctl_ioas_unmap(self->ioas_id, base, 2 * PAGE_SIZE);
}

/* HUGE_PAGES=0 with a mapping not aligned to PAGE_SIZE: EADDRINUSE */
TEST_F(iommufd_limits, huge_pages_subpage_mapping)
{
	__u64 iova = 512;
	__u32 ioas_id;

	/* Without a domain the alignment is 1 */
	test_ioctl_ioas_alloc(&ioas_id);
	ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, ioas_id,
					  (char *)self->buffer + 512, 1024,
					  &iova, IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_RW));
	test_err(EADDRINUSE, _test_ioctl_set_option(self->fd,
						    IOMMU_OPTION_HUGE_PAGES,
						    ioas_id, 0));
	test_ioctl_check_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 1);
	ASSERT_EQ(1, ioas_alignment(self->fd, ioas_id));
	test_ioctl_ioas_unmap(ioas_id, 512, 1024);
	test_ioctl_set_option(IOMMU_OPTION_HUGE_PAGES, ioas_id, 0);
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, ioas_id));

	/* With a domain and mappings: EINVAL (checked first) */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_APERTURE_START);
	test_err(EINVAL, _test_ioctl_set_option(self->fd,
						IOMMU_OPTION_HUGE_PAGES,
						self->ioas_id, 0));
	test_ioctl_destroy(ioas_id);
}

/*
 * ALLOW_IOVAS has no limit on the number of ranges (upstream has none) and
 * reads them in bounded pieces: a list of several pieces works, and a
 * num_iovas beyond 1M (refused with EINVAL before), up to 2^32 - 1, over a
 * buffer of one page is read until the buffer ends (EFAULT), without an
 * oversized allocation or a WARN; a failed call keeps the old list.
 */
TEST_F(iommufd_limits, allow_iovas_no_limit)
{
	size_t num = 4 * PAGE_SIZE / sizeof(struct iommu_iova_range) + 1, i;
	struct iommu_iova_range *ranges;
	__u64 iova, last_start;

	ranges = mmap(NULL, num * sizeof(*ranges), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ranges);
	/* 2-byte ranges no mapping fits in, 4 bytes apart ... */
	for (i = 0; i != num - 1; i++) {
		ranges[i].start = MOCK_APERTURE_START + 4 * i;
		ranges[i].last = ranges[i].start + 1;
	}
	/* ... and, last, in the fifth piece, the only one a map fits in */
	last_start = MOCK_APERTURE_START + 4 * num + 16 * PAGE_SIZE;
	last_start &= ~(PAGE_SIZE - 1);
	ranges[num - 1].start = last_start;
	ranges[num - 1].last = last_start + 2 * PAGE_SIZE - 1;
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id, ranges,
					     num));
	test_ioctl_ioas_map(self->ioas_id, self->buffer, 2 * PAGE_SIZE, &iova);
	ASSERT_EQ(last_start, iova);
	test_ioctl_ioas_unmap(self->ioas_id, iova, 2 * PAGE_SIZE);

	/* More ranges claimed than the buffer holds: EFAULT */
	ASSERT_EQ(0, munmap((char *)ranges + PAGE_SIZE,
			    num * sizeof(*ranges) - PAGE_SIZE));
	test_err(EFAULT, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
						 ranges, (1U << 20) + 1));
	test_err(EFAULT, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
						 ranges, 1U << 28));
	test_err(EFAULT, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
						 ranges, UINT32_MAX));
	/* An overlap inside the first piece: EINVAL before reading on */
	ranges[1] = ranges[0];
	test_err(EINVAL, _test_ioctl_allow_iovas(self->fd, self->ioas_id,
						 ranges, UINT32_MAX));
	/* The old list is still in force */
	test_ioctl_ioas_map(self->ioas_id, self->buffer, 2 * PAGE_SIZE, &iova);
	ASSERT_EQ(last_start, iova);
	test_ioctl_ioas_unmap(self->ioas_id, iova, 2 * PAGE_SIZE);
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, self->ioas_id, NULL,
					     0));
	munmap(ranges, PAGE_SIZE);
}

/* The destination errnos of IOMMU_IOAS_COPY */
TEST_F(iommufd_limits, copy_errnos)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	struct iommu_iova_range allowed = {
		MOCK_APERTURE_START + 64 * PAGE_SIZE,
		MOCK_APERTURE_START + 65 * PAGE_SIZE - 1,
	};
	__u64 base = MOCK_APERTURE_START, iova;
	__u32 ioas2_id;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
				  4 * PAGE_SIZE, base);
	test_ioctl_ioas_alloc(&ioas2_id);
	test_cmd_mock_domain(ioas2_id, NULL, NULL, NULL);

	/* No room for an automatic destination IOVA: ENOSPC */
	ASSERT_EQ(0, _test_ioctl_allow_iovas(self->fd, ioas2_id, &allowed,
					     1));
	test_err(ENOSPC, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id, base,
					       2 * PAGE_SIZE, &iova,
					       IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas2_id, self->ioas_id,
					   base, PAGE_SIZE, &iova,
					   IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(allowed.start, iova);

	/* Lengths an automatic IOVA cannot have, and sums that wrap */
	test_err(EOVERFLOW, _test_ioctl_ioas_copy(self->fd, ioas2_id,
						  self->ioas_id, base,
						  UINT64_MAX / 2, &iova,
						  IOMMU_IOAS_MAP_RW));
	test_err(EOVERFLOW, _test_ioctl_ioas_copy(self->fd, ioas2_id,
						  self->ioas_id, base,
						  UINT64_MAX, &iova,
						  IOMMU_IOAS_MAP_RW));
	iova = UINT64_MAX - PAGE_SIZE + 1;
	test_err(EOVERFLOW, _test_ioctl_ioas_copy(self->fd, ioas2_id,
						  self->ioas_id, base,
						  2 * PAGE_SIZE, &iova,
						  fixed));
	iova = base;
	test_err(EOVERFLOW, _test_ioctl_ioas_copy(self->fd, ioas2_id,
						  self->ioas_id,
						  UINT64_MAX - PAGE_SIZE + 1,
						  2 * PAGE_SIZE, &iova,
						  fixed));

	/* A reserved destination: EINVAL; outside the aperture too */
	test_cmd_add_reserved(ioas2_id, base, PAGE_SIZE);
	iova = base;
	test_err(EINVAL, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id, base, PAGE_SIZE,
					       &iova, fixed));
	iova = MOCK_APERTURE_START - PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_copy(self->fd, ioas2_id,
					       self->ioas_id, base, PAGE_SIZE,
					       &iova, fixed));
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 1);
	test_ioctl_ioas_unmap(ioas2_id, allowed.start, PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, base, 4 * PAGE_SIZE);
	test_cmd_check_refs(self->buffer, 4 * PAGE_SIZE, 0);
}

struct unmap_race {
	int fd;
	__u32 ioas_id;
	__u64 iova;
	pthread_barrier_t start;	/* both unmap after it */
	pthread_barrier_t end;		/* both are done before it */
	bool stop;
	int rc;
	int err;
	__u64 len;
};

#define UNMAP_RACE_ROUNDS 200

static void *unmap_racer(void *arg)
{
	struct unmap_race *ur = arg;

	for (;;) {
		pthread_barrier_wait(&ur->start);
		if (ur->stop)
			break;
		ur->rc = _test_ioctl_ioas_unmap(ur->fd, ur->ioas_id, ur->iova,
						PAGE_SIZE, &ur->len);
		ur->err = errno;
		pthread_barrier_wait(&ur->end);
	}
	return NULL;
}

/*
 * Two unmaps of one mapping at the same time: the IOVA lock serializes
 * them, so upstream's EBUSY cannot happen; exactly one removes the mapping
 * and the other finds nothing (ENOENT), every time.
 */
TEST_F_TIMEOUT(iommufd_limits, unmap_concurrent, 120)
{
	struct unmap_race ur = {
		.fd = self->fd,
		.ioas_id = self->ioas_id,
		.iova = MOCK_APERTURE_START,
	};
	unsigned int round, mine = 0, theirs = 0;
	pthread_t thread;
	int rc, err;
	__u64 len;

	ASSERT_EQ(0, pthread_barrier_init(&ur.start, NULL, 2));
	ASSERT_EQ(0, pthread_barrier_init(&ur.end, NULL, 2));
	ASSERT_EQ(0, pthread_create(&thread, NULL, unmap_racer, &ur));
	for (round = 0; round != UNMAP_RACE_ROUNDS; round++) {
		test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer,
					  PAGE_SIZE, ur.iova);
		pthread_barrier_wait(&ur.start);
		rc = _test_ioctl_ioas_unmap(self->fd, self->ioas_id, ur.iova,
					    PAGE_SIZE, &len);
		err = errno;
		pthread_barrier_wait(&ur.end);
		if (rc)
			ASSERT_EQ(ENOENT, err);
		if (ur.rc)
			ASSERT_EQ(ENOENT, ur.err);
		/* Exactly one of the two removed the page */
		ASSERT_EQ(1, !rc + !ur.rc);
		ASSERT_EQ(PAGE_SIZE, rc ? ur.len : len);
		if (rc)
			theirs++;
		else
			mine++;
		test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
	}
	ur.stop = true;
	pthread_barrier_wait(&ur.start);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	TH_LOG("unmapped by the test thread %u times, by the other %u times",
	       mine, theirs);
}

/*
 * An ID that exists but names an object of another type is ENOENT for
 * every command that takes an ID of a given type.  (IOMMU_DESTROY takes
 * any type; IOMMU_TEST_OP_MOCK_DOMAIN takes a page table ID, IOAS or
 * HW_PAGETABLE, like a device attach, which refuses other types with
 * EINVAL as upstream's attach does.)
 */
TEST_F(iommufd_limits, wrong_type_enoent)
{
	__u32 fixed = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_RW;
	__u32 wrong[] = { self->hwpt_id, self->idev_id, self->stdev_id };
	struct iommu_iova_range ranges[4];
	struct iommu_test_cmd md;
	unsigned int i;
	__u32 num;
	__u64 val, iova;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_APERTURE_START);
	for (i = 0; i != ARRAY_SIZE(wrong); i++) {
		__u32 id = wrong[i];

		ASSERT_NE(self->ioas_id, id);
		iova = MOCK_APERTURE_START + PAGE_SIZE;
		test_err(ENOENT, _test_ioctl_ioas_map(self->fd, id,
						      self->buffer, PAGE_SIZE,
						      &iova, fixed));
		test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, id,
							UNMAP_ALL_IOVA,
							UNMAP_ALL_LENGTH,
							NULL));
		test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, id,
						       self->ioas_id,
						       MOCK_APERTURE_START,
						       PAGE_SIZE, &iova,
						       fixed));
		test_err(ENOENT, _test_ioctl_ioas_copy(self->fd, self->ioas_id,
						       id, MOCK_APERTURE_START,
						       PAGE_SIZE, &iova,
						       fixed));
		num = ARRAY_SIZE(ranges);
		test_err(ENOENT, _test_ioctl_iova_ranges(self->fd, id, ranges,
							 &num, NULL));
		test_err(ENOENT, _test_ioctl_allow_iovas(self->fd, id, NULL,
							 0));
		test_err(ENOENT, _test_ioctl_option(self->fd,
						    IOMMU_OPTION_HUGE_PAGES,
						    IOMMU_OPTION_OP_GET, id,
						    &val));
		test_err(ENOENT, _test_ioctl_set_option(self->fd,
							IOMMU_OPTION_HUGE_PAGES,
							id, 1));
		test_err(ENOENT, _test_cmd_add_reserved(self->fd, id,
							MOCK_APERTURE_START,
							PAGE_SIZE));
		test_err(ENOENT, _test_cmd_ioas_metadata(self->fd, id, &md));
	}
	/* The other way round: an IOAS where a HW_PAGETABLE is expected */
	test_err(ENOENT, _test_cmd_check_map(self->fd, self->ioas_id,
					     MOCK_APERTURE_START,
					     self->buffer, PAGE_SIZE, NULL));
	test_err(ENOENT, _test_cmd_check_map(self->fd, self->idev_id,
					     MOCK_APERTURE_START,
					     self->buffer, PAGE_SIZE, NULL));
	/* Nothing was changed by any of them */
	test_cmd_check_map(self->hwpt_id, MOCK_APERTURE_START, self->buffer,
			   PAGE_SIZE);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 1);
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, PAGE_SIZE);
}

/*
 * The metadata of pinned memory: 8 bytes per run of contiguous pages, in
 * allocations of at most a page, and little per mapping.
 */
TEST_F_TIMEOUT(iommufd_limits, metadata_storage, 120)
{
	size_t size = 4 * HUGEPAGE_SIZE, i;
	unsigned long npages = size / PAGE_SIZE;
	struct iommu_test_cmd md;
	void *base;
	char *buf;
	long thp;

	/* A one page mapping costs far less than a page */
	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_APERTURE_START);
	ASSERT_EQ(0, _test_cmd_ioas_metadata(self->fd, self->ioas_id, &md));
	TH_LOG("1 page: %llu bytes", (unsigned long long)md.metadata.out_bytes);
	ASSERT_EQ(1, md.metadata.out_areas);
	ASSERT_EQ(1, md.metadata.out_pages);
	ASSERT_EQ(1, md.metadata.out_runs);
	ASSERT_GT(md.metadata.out_bytes, 0);
	ASSERT_GT(1024, md.metadata.out_bytes);
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, PAGE_SIZE);

	/*
	 * 8 MiB of 4 KiB pages (shared memory is never a transparent huge
	 * page; madvise() may not exist) faulted in from the end: ascending
	 * addresses get descending frames, no two pages make a run
	 */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, base);
	buf = base;
	for (i = npages; i--;)
		buf[i * PAGE_SIZE] = 1;
	test_ioctl_ioas_map_fixed(self->ioas_id, buf, size,
				  MOCK_APERTURE_START);
	ASSERT_EQ(0, _test_cmd_ioas_metadata(self->fd, self->ioas_id, &md));
	TH_LOG("%lu 4K pages faulted backwards: %llu runs, %llu bytes",
	       npages, (unsigned long long)md.metadata.out_runs,
	       (unsigned long long)md.metadata.out_bytes);
	ASSERT_LE(1, md.metadata.out_runs);
	ASSERT_GE(npages, md.metadata.out_runs);
	/* 8 bytes a run in 4 KiB chunks, an xarray, the area, the object */
	ASSERT_GE(md.metadata.out_runs * 8 * PAGE_SIZE / (PAGE_SIZE - 64) +
		  4096, md.metadata.out_bytes);
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, size);
	munmap(base, size);

	/* With transparent huge pages: a run per huge page at most */
	buf = alloc_aligned_buffer(size, true, &base);
	ASSERT_NE(NULL, buf);
	thp = vma_anon_huge_kb(buf);
	ASSERT_EQ(size / 1024, thp);
	test_ioctl_ioas_map_fixed(self->ioas_id, buf, size,
				  MOCK_APERTURE_START);
	ASSERT_EQ(0, _test_cmd_ioas_metadata(self->fd, self->ioas_id, &md));
	TH_LOG("%lu pages in THP: %llu runs, %llu bytes", npages,
	       (unsigned long long)md.metadata.out_runs,
	       (unsigned long long)md.metadata.out_bytes);
	ASSERT_GE(size / HUGEPAGE_SIZE, md.metadata.out_runs);
	ASSERT_GT(1024, md.metadata.out_bytes);
	test_ioctl_ioas_unmap(self->ioas_id, MOCK_APERTURE_START, size);
	munmap(base, size + HUGEPAGE_SIZE);
}

/* Fault points a fixed map of @pages pages makes on @fd, -1 on error */
static long map_fault_points(int fd, __u32 ioas_id, void *buf,
			     unsigned long pages)
{
	const long start = 1000000;
	char path[64], val[32];
	__u64 iova = 0;
	long left = -1;
	int proc_fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	proc_fd = open(path, O_RDWR | O_CLOEXEC);
	if (proc_fd < 0)
		return -1;
	snprintf(val, sizeof(val), "%ld", start);
	if (pwrite(proc_fd, val, strlen(val), 0) < 0)
		goto out;
	if (_test_ioctl_ioas_map(fd, ioas_id, buf, pages * PAGE_SIZE, &iova,
				 IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_RW))
		goto out_disable;
	memset(val, 0, sizeof(val));
	if (pread(proc_fd, val, sizeof(val) - 1, 0) > 0)
		left = start - strtol(val, NULL, 10);
	_test_ioctl_ioas_unmap(fd, ioas_id, 0, pages * PAGE_SIZE, NULL);
out_disable:
	pwrite(proc_fd, "0", 1, 0);
out:
	close(proc_fd);
	return left;
}

/*
 * IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT belongs to the iommufd it is set
 * on: one pin batch per page there, unchanged batches everywhere else
 * (each batch is one fail_iommufd fault point).
 */
TEST_F(iommufd_limits, temp_memory_limit_per_context)
{
	long limited, other, fresh;
	__u32 ioas_id, ioas3_id;
	int fd2;

	test_ioctl_ioas_alloc(&ioas_id);
	fd2 = iommufd_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(fd2, &ioas3_id));

	/* 8 bytes: one struct page pointer, one page per batch */
	ASSERT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd, 8));
	limited = map_fault_points(self->fd, ioas_id, self->buffer, 64);
	other = map_fault_points(fd2, ioas3_id, self->buffer, 64);
	ASSERT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd, 0));
	fresh = map_fault_points(self->fd, ioas_id, self->buffer, 64);
	TH_LOG("fault points of a 64 page map: limited %ld, other %ld, restored %ld",
	       limited, other, fresh);
	ASSERT_LT(0, other);
	ASSERT_LT(0, fresh);
	ASSERT_LE(other + 63, limited);
	ASSERT_LE(fresh + 63, limited);
	test_cmd_check_refs(self->buffer, 64 * PAGE_SIZE, 0);
	close(fd2);
}

/*
 * The limit can only make pin batches smaller.  A huge one once sized the
 * page array of a batch: a MAP of a huge length asked kvmalloc() for 2 GiB
 * and the kernel logged an allocation failure with a stack dump (which the
 * gate's guest log check fails on).  Now the MAP pins in small batches
 * until it reaches the end of the buffer's mapping: EFAULT, nothing left
 * pinned.
 */
TEST_F(iommufd_limits, temp_memory_limit_huge)
{
	__u32 ioas_id;
	__u64 iova;

	/* No domain: the IOVA space is not what stops a 1 TiB map */
	test_ioctl_ioas_alloc(&ioas_id);
	ASSERT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd, 0xffffffff));
	ASSERT_EQ(-1, _test_ioctl_ioas_map(self->fd, ioas_id, self->buffer,
					   1ULL << 40, &iova,
					   IOMMU_IOAS_MAP_READABLE));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(0, _test_cmd_set_temp_memory_limit(self->fd, 0));
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define SIGNAL_MAP_SIZE (32UL << 20)

/* Map @buf one page per pin batch: the longest pinning there is */
static int slow_map(int fd, void *buf)
{
	__u64 iova = MOCK_APERTURE_START;
	__u32 ioas_id;

	if (_test_ioctl_ioas_alloc(fd, &ioas_id) ||
	    _test_cmd_set_temp_memory_limit(fd, sizeof(void *)))
		return -1;
	return _test_ioctl_ioas_map(fd, ioas_id, buf, SIGNAL_MAP_SIZE, &iova,
				    IOMMU_IOAS_MAP_FIXED_IOVA |
				    IOMMU_IOAS_MAP_RW);
}

/*
 * A fatal signal stops the pinning between two batches (EINTR) instead of
 * letting a killed process pin gigabytes first: a process killed while
 * pinning 32 MiB page by page dies much sooner than the pinning takes,
 * and nothing stays pinned.
 */
TEST_F_TIMEOUT(iommufd_limits, map_fatal_signal, 300)
{
	double t, full, killed;
	int report[2], status;
	void *buf;
	pid_t pid;
	int fd;
	char c;

	buf = alloc_buffer(SIGNAL_MAP_SIZE);
	ASSERT_NE(NULL, buf);

	/* How long the whole pinning takes */
	fd = iommufd_open();
	ASSERT_LE(0, fd);
	t = now_sec();
	ASSERT_EQ(0, slow_map(fd, buf));
	full = now_sec() - t;
	ASSERT_EQ(0, close(fd));
	test_cmd_check_refs(buf, SIGNAL_MAP_SIZE, 0);

	ASSERT_EQ(0, pipe(report));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = iommufd_open();
		if (fd < 0 || write(report[1], "x", 1) != 1)
			_exit(1);
		slow_map(fd, buf);
		_exit(2);
	}
	ASSERT_EQ(1, read(report[0], &c, 1));
	/* Let it pin for a tenth of the time it needs */
	usleep(full * 100000);
	t = now_sec();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	killed = now_sec() - t;
	TH_LOG("pinning 32 MiB page by page: %.3f s; killed after %.3f s, gone %.3f s later",
	       full, full / 10, killed);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));
	/* Without the check it would have pinned the other 90% first */
	ASSERT_LT(killed, full / 2);
	test_cmd_check_refs(buf, SIGNAL_MAP_SIZE, 0);
	close(report[0]);
	close(report[1]);
	munmap(buf, SIGNAL_MAP_SIZE);
}

/*
 * IOMMU_OPTION_RLIMIT_MODE as an unprivileged user: EPERM, whatever the
 * value, before the value is checked.
 */
TEST_F(accounting, rlimit_mode_eperm_first)
{
	ASSERT_EQ(0, drop_capability(CAP_SYS_RESOURCE));
	test_err(EPERM, _test_ioctl_set_option(self->fd,
					       IOMMU_OPTION_RLIMIT_MODE, 0, 2));
	test_err(EPERM, _test_ioctl_set_option(self->fd,
					       IOMMU_OPTION_RLIMIT_MODE, 0,
					       UINT64_MAX));
	test_err(EPERM, _test_ioctl_set_option(self->fd,
					       IOMMU_OPTION_RLIMIT_MODE, 0, 0));
	test_ioctl_check_option(IOMMU_OPTION_RLIMIT_MODE, 0, 0);
}

#define SAME_USER_UID 12345

/*
 * In a child: open a context (as root), make an IOAS, become @uid (which
 * drops every capability) with RLIMIT_MEMLOCK @limit, then try to map
 * @bytes of @buf.  Reports errno (0 for success) on @report_fd, then
 * waits for a byte on @wait_fd before exiting (which unmaps).
 */
static void same_user_child(void *buf, size_t bytes, rlim_t limit,
			    int report_fd, int wait_fd)
{
	struct rlimit rl = { limit, limit };
	__u32 ioas_id;
	__u64 iova;
	char c;
	int fd, err = 0;

	fd = iommufd_open();
	if (fd < 0 || _test_ioctl_ioas_alloc(fd, &ioas_id) ||
	    setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(SAME_USER_UID) ||
	    setuid(SAME_USER_UID))
		_exit(100);
	if (_test_ioctl_ioas_map(fd, ioas_id, buf, bytes, &iova,
				 IOMMU_IOAS_MAP_RW))
		err = errno;
	if (write(report_fd, &err, sizeof(err)) != sizeof(err))
		_exit(101);
	if (read(wait_fd, &c, 1) != 1)
		_exit(102);
	_exit(0);
}

/* A child of same_user_child(): its pid and the two pipes to it */
struct same_user {
	pid_t pid;
	int report[2];
	int wait[2];
};

/* Fork same_user_child() and return the errno of its map */
static int same_user_fork(struct __test_metadata *_metadata,
			  struct same_user *su, void *buf, size_t bytes)
{
	int err = -1;

	ASSERT_EQ(0, pipe(su->report));
	ASSERT_EQ(0, pipe(su->wait));
	su->pid = fork();
	ASSERT_LE(0, su->pid);
	if (!su->pid)
		same_user_child(buf, bytes, 256 * 1024, su->report[1],
				su->wait[0]);
	ASSERT_EQ(sizeof(err), read(su->report[0], &err, sizeof(err)));
	return err;
}

/* Let the child exit, which unmaps and unpins what it mapped */
static void same_user_end(struct __test_metadata *_metadata,
			  struct same_user *su)
{
	int status;

	ASSERT_EQ(1, write(su->wait[1], "x", 1));
	ASSERT_EQ(su->pid, waitpid(su->pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	close(su->report[0]);
	close(su->report[1]);
	close(su->wait[0]);
	close(su->wait[1]);
}

/*
 * Per-user accounting (mode 0, the default) is per user: what one process
 * of a user pinned counts against the limit of another process of the
 * same user, until it is unpinned.
 */
TEST_F(accounting, per_user_charge_shared)
{
	char *second = (char *)self->buffer + 256 * 1024;
	struct same_user a, b;

	/* A pins 192 KiB of its 256 KiB limit and keeps it */
	ASSERT_EQ(0, same_user_fork(_metadata, &a, self->buffer, 192 * 1024));
	test_cmd_check_refs(self->buffer, 192 * 1024, 1);
	/* B, the same user: 128 KiB more exceeds the user's limit */
	ASSERT_EQ(ENOMEM, same_user_fork(_metadata, &b, second, 128 * 1024));
	same_user_end(_metadata, &b);
	test_cmd_check_refs(second, 128 * 1024, 0);
	/* 64 KiB more reaches it exactly */
	ASSERT_EQ(0, same_user_fork(_metadata, &b, second, 64 * 1024));
	same_user_end(_metadata, &b);
	/* Once A is gone, its charge is too */
	same_user_end(_metadata, &a);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	ASSERT_EQ(0, same_user_fork(_metadata, &b, second, 256 * 1024));
	same_user_end(_metadata, &b);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/*
 * attach: how devices are attached to page tables.  Mock IOMMUs that
 * finish their domains at the first attach as 6.1's drivers do, mock IOMMU
 * instances that refuse each other's domains, units that cannot enforce
 * cache coherency, and mock devices sharing an iommu_group (see
 * iommufd_test.h).
 */
FIXTURE(attach) {
	int fd;
	void *buffer;
};

FIXTURE_SETUP(attach)
{
	self->fd = iommufd_open();
	if (self->fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	if (!iommufd_test_supported(self->fd))
		SKIP_TEST("CONFIG_IOMMUFD_TEST is off");
	self->buffer = alloc_buffer(BUFFER_SIZE);
	ASSERT_NE(NULL, self->buffer);
}

FIXTURE_TEARDOWN(attach)
{
	close(self->fd);
	munmap(self->buffer, BUFFER_SIZE);
}

/* Assert that the usable IOVA of @ioas_id is exactly [start, last] */
#define check_one_range(ioas_id, _start, _last)                               \
	do {                                                                  \
		struct iommu_iova_range __r[4];                               \
		__u32 __num = ARRAY_SIZE(__r);                                \
		__u64 __align;                                                \
		ASSERT_EQ(0, _test_ioctl_iova_ranges(self->fd, ioas_id, __r,  \
						     &__num, &__align));      \
		ASSERT_EQ(1, __num);                                          \
		ASSERT_EQ((__u64)(_start), __r[0].start);                     \
		ASSERT_EQ((__u64)(_last), __r[0].last);                       \
	} while (0)

/*
 * Like 6.1 arm-smmu-v3, the domain has no page table, aperture or real page
 * sizes before its first attach, and map fails until then: the domain must
 * be attached before it is filled and measured.
 */
TEST_F(attach, smmu_map_then_attach)
{
	__u64 iova = 1ULL << 30, len;
	__u32 ioas_id, stdev_id, hwpt_id;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE, iova);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_SMMUV3, 0,
				   &stdev_id, &hwpt_id);
	test_cmd_check_map(hwpt_id, iova, self->buffer, BUFFER_SIZE);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 1);

	/* The real aperture and page sizes, known after the attach only */
	check_one_range(ioas_id, 0, MOCK_SMMU_APERTURE_LAST);
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, ioas_id));

	/* Beyond the aperture is reserved: EINVAL, never a map attempt */
	len = MOCK_SMMU_APERTURE_LAST + 1;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, ioas_id, self->buffer,
					      PAGE_SIZE, &len,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	len = MOCK_SMMU_APERTURE_LAST + 1 - PAGE_SIZE;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, ioas_id, self->buffer,
					      2 * PAGE_SIZE, &len,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	/* The last page of the aperture is fine, and mapped */
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_SMMU_APERTURE_LAST + 1 - PAGE_SIZE);
	test_cmd_check_map(hwpt_id, MOCK_SMMU_APERTURE_LAST + 1 - PAGE_SIZE,
			   self->buffer, PAGE_SIZE);
	/* So is an IOVA the kernel chooses */
	test_ioctl_ioas_map(ioas_id, self->buffer, BUFFER_SIZE, &len);
	ASSERT_GE(MOCK_SMMU_APERTURE_LAST, len + BUFFER_SIZE - 1);
	test_cmd_check_map(hwpt_id, len, self->buffer, BUFFER_SIZE);

	/* The last device takes the domain and its reservation away */
	test_ioctl_destroy(stdev_id);
	check_one_range(ioas_id, 0, UINT64_MAX);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 3);
	test_cmd_check_refs((char *)self->buffer + PAGE_SIZE,
			    BUFFER_SIZE - PAGE_SIZE, 2);
	test_ioctl_destroy(ioas_id);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/* A mapping outside the aperture known after attach: refused, undone */
TEST_F(attach, smmu_mapping_beyond_aperture)
{
	__u64 iova = MOCK_SMMU_APERTURE_LAST + 1;
	__u32 ioas_id, hwpt_id;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE, iova);
	test_err(EADDRINUSE,
		 _test_cmd_mock_domain_flags(self->fd, ioas_id,
					     MOCK_FLAGS_DEVICE_SMMUV3, 0, NULL,
					     NULL, NULL));
	/* Nothing is left behind: no reservation, no alignment, no pin */
	check_one_range(ioas_id, 0, UINT64_MAX);
	ASSERT_EQ(1, ioas_alignment(self->fd, ioas_id));
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 1);
	test_ioctl_ioas_unmap(ioas_id, iova, PAGE_SIZE);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
	/* The group went back to blocking: it can be attached again */
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_SMMUV3, 0, NULL,
				   &hwpt_id);
	ASSERT_NE(0, hwpt_id);
}

/*
 * Like 6.1 intel: 4K pages and a 57-bit aperture until the first attach,
 * then the unit's width and superpages.  A 2 MiB mapping made before and
 * one made after the attach both become one 2 MiB IOPTE.
 */
TEST_F(attach, intel_huge_before_and_after)
{
	size_t size = 2 * HUGEPAGE_SIZE;
	__u64 iova = 1ULL << 30, pgsize;
	__u32 ioas_id, hwpt_id;
	struct huge_buffer hb;
	char *buf;
	int huge;

	/* FAIL, not SKIP, when THP is enabled but not obtained */
	huge = alloc_huge_buffer(&hb, size);
	if (huge == HUGE_BUFFER_NONE) {
		free_huge_buffer(&hb);
		SKIP(return, "no transparent huge pages and no hugetlb pages");
	}
	if (huge == HUGE_BUFFER_THP_MISSING)
		free_huge_buffer(&hb);
	ASSERT_EQ(HUGE_BUFFER_OK, huge)
		TH_LOG("THP is enabled but no huge page was obtained");
	buf = hb.buf;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_map_fixed(ioas_id, buf, HUGEPAGE_SIZE, iova);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0, NULL,
				   &hwpt_id);
	check_one_range(ioas_id, 0, MOCK_INTEL_APERTURE_LAST);
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, ioas_id));

	ASSERT_EQ(0, _test_cmd_check_map_pgsize(self->fd, hwpt_id, iova, buf,
						HUGEPAGE_SIZE, &pgsize));
	ASSERT_EQ(HUGEPAGE_SIZE, pgsize);

	test_ioctl_ioas_map_fixed(ioas_id, buf + HUGEPAGE_SIZE, HUGEPAGE_SIZE,
				  iova + 4 * HUGEPAGE_SIZE);
	ASSERT_EQ(0, _test_cmd_check_map_pgsize(self->fd, hwpt_id,
						iova + 4 * HUGEPAGE_SIZE,
						buf + HUGEPAGE_SIZE,
						HUGEPAGE_SIZE, &pgsize));
	ASSERT_EQ(HUGEPAGE_SIZE, pgsize);

	/* Beyond the unit's width */
	iova = MOCK_INTEL_APERTURE_LAST + 1;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, ioas_id, buf, PAGE_SIZE,
					      &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	test_ioctl_ioas_unmap(ioas_id, 1ULL << 30, HUGEPAGE_SIZE);
	test_ioctl_ioas_unmap(ioas_id, (1ULL << 30) + 4 * HUGEPAGE_SIZE,
			      HUGEPAGE_SIZE);
	free_huge_buffer(&hb);
}

/*
 * Cache coherency is enforced after the first attach, as VFIO type1 does:
 * 6.1 intel accepts it for a domain without device and then refuses every
 * device of a unit without Snoop Control (QEMU's default intel-iommu).
 * Like type1, which only merges domains that agree on coherency, a device
 * that could be enforced never joins a domain that is not.
 */
TEST_F(attach, coherency_after_attach)
{
	__u32 ioas_id, ioas2_id, snoop_id, snoop2_id, nosnoop_id;
	__u32 hwpt_id, hwpt2_id, hwpt3_id;

	/* A unit without Snoop Control alone: attached, not enforced */
	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NO_SNOOP, 0, &nosnoop_id,
				   &hwpt_id);
	test_cmd_hwpt_coherency(hwpt_id, 0);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE,
				  1ULL << 30);
	/* A snooping device gets a domain of its own, which enforces */
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0,
				   &snoop_id, &hwpt2_id);
	ASSERT_NE(hwpt_id, hwpt2_id);
	test_cmd_hwpt_coherency(hwpt2_id, 1);
	test_cmd_hwpt_coherency(hwpt_id, 0);
	test_cmd_mock_device_on(snoop_id, hwpt2_id, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(nosnoop_id, hwpt_id, MOCK_DEV_ON_HWPT);
	test_cmd_check_map(hwpt2_id, 1ULL << 30, self->buffer, BUFFER_SIZE);
	/* and so does the next snooping device, on that domain */
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0,
				   &snoop2_id, &hwpt3_id);
	ASSERT_EQ(hwpt2_id, hwpt3_id);
	test_ioctl_destroy(snoop2_id);
	test_ioctl_destroy(nosnoop_id);
	test_ioctl_destroy(snoop_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt2_id));

	/* A snooping device first: its new domain enforces coherency */
	test_ioctl_ioas_alloc(&ioas2_id);
	test_cmd_mock_domain_flags(ioas2_id, MOCK_FLAGS_DEVICE_INTEL, 0,
				   &snoop_id, &hwpt_id);
	test_cmd_hwpt_coherency(hwpt_id, 1);
	test_cmd_mock_domain_flags(ioas2_id, MOCK_FLAGS_DEVICE_INTEL, 0,
				   &snoop2_id, &hwpt2_id);
	ASSERT_EQ(hwpt_id, hwpt2_id);
	/*
	 * The driver refuses a non-snooping device by HW_PAGETABLE ID
	 * (6.1 intel: EOPNOTSUPP, reported as EINVAL), and the device is
	 * left on the blocking domain
	 */
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NO_SNOOP |
				   MOCK_FLAGS_DEVICE_NO_ATTACH, 0, &nosnoop_id,
				   NULL);
	test_cmd_mock_device_on(nosnoop_id, 0, MOCK_DEV_ON_BLOCKED);
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, nosnoop_id, hwpt_id,
					       NULL));
	test_cmd_mock_device_on(nosnoop_id, hwpt_id, MOCK_DEV_ON_BLOCKED);
	test_cmd_mock_device_on(snoop_id, hwpt_id, MOCK_DEV_ON_HWPT);
	/* and by IOAS it gets a domain of its own, filled */
	test_cmd_mock_attach(nosnoop_id, ioas2_id, &hwpt3_id);
	ASSERT_NE(hwpt_id, hwpt3_id);
	test_cmd_mock_device_on(nosnoop_id, hwpt3_id, MOCK_DEV_ON_HWPT);
	test_cmd_hwpt_coherency(hwpt3_id, 0);
	test_cmd_hwpt_coherency(hwpt_id, 1);
	test_ioctl_ioas_map_fixed(ioas2_id, self->buffer, BUFFER_SIZE,
				  1ULL << 30);
	test_cmd_check_map(hwpt_id, 1ULL << 30, self->buffer, BUFFER_SIZE);
	test_cmd_check_map(hwpt3_id, 1ULL << 30, self->buffer, BUFFER_SIZE);
}

/*
 * A domain another device joins may be narrowed by the driver (intel: the
 * address width of the unit that joins).  6.1 intel refuses the join with
 * -EFAULT once the domain mapped beyond that width, even after the mapping
 * was unmapped; a new domain for the device is refused by iommufd while
 * mappings of the IOAS lie beyond its aperture.  Otherwise the IOAS
 * follows the narrower aperture.
 */
TEST_F(attach, intel_join_narrows)
{
	__u64 high = 1ULL << 40, iova;
	__u32 ioas_id, wide_id, narrow_id, hwpt_id, hwpt2_id;
	__u64 allocs;

	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0,
				   &wide_id, &hwpt_id);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE, high);
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NARROW |
				   MOCK_FLAGS_DEVICE_NO_ATTACH, 0, &narrow_id,
				   NULL);

	/* Refused on the existing domain, and on a new one */
	allocs = mock_domain_allocs(self->fd);
	test_err(EADDRINUSE, _test_cmd_mock_attach(self->fd, narrow_id,
						   ioas_id, NULL));
	ASSERT_EQ(allocs + 1, mock_domain_allocs(self->fd));
	test_cmd_mock_device_on(narrow_id, 0, MOCK_DEV_ON_BLOCKED);
	/* The driver's -EFAULT is reported as EINVAL */
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, narrow_id, hwpt_id,
					       NULL));
	test_cmd_mock_device_on(narrow_id, 0, MOCK_DEV_ON_BLOCKED);
	/* The existing domain and the IOAS are as they were */
	check_one_range(ioas_id, 0, MOCK_INTEL_APERTURE_LAST);
	test_cmd_check_map(hwpt_id, high, self->buffer, PAGE_SIZE);
	test_cmd_mock_device_on(wide_id, hwpt_id, MOCK_DEV_ON_HWPT);

	/*
	 * Without the high mapping 6.1 intel still refuses the join (its
	 * max_addr is sticky): the device gets a domain of its own
	 */
	test_ioctl_ioas_unmap(ioas_id, high, PAGE_SIZE);
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, narrow_id, hwpt_id,
					       NULL));
	test_cmd_mock_device_on(narrow_id, 0, MOCK_DEV_ON_BLOCKED);
	test_cmd_mock_attach(narrow_id, ioas_id, &hwpt2_id);
	ASSERT_NE(hwpt_id, hwpt2_id);
	test_cmd_mock_device_on(narrow_id, hwpt2_id, MOCK_DEV_ON_HWPT);
	/* and the IOAS narrows to what both domains translate */
	check_one_range(ioas_id, 0, MOCK_INTEL_NARROW_LAST);
	iova = high;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, ioas_id, self->buffer,
					      PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_INTEL_NARROW_LAST + 1 - PAGE_SIZE);
	test_cmd_check_map(hwpt_id, MOCK_INTEL_NARROW_LAST + 1 - PAGE_SIZE,
			   self->buffer, PAGE_SIZE);
	test_cmd_check_map(hwpt2_id, MOCK_INTEL_NARROW_LAST + 1 - PAGE_SIZE,
			   self->buffer, PAGE_SIZE);
	test_cmd_mock_detach(narrow_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt2_id));
	check_one_range(ioas_id, 0, MOCK_INTEL_APERTURE_LAST);
	test_cmd_mock_detach(wide_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
	check_one_range(ioas_id, 0, UINT64_MAX);
}

/*
 * 6.1 intel sets a domain's aperture to the width of the unit that joined
 * last but never adds page-table levels back: after a wide, a narrow and
 * another wide unit joined, the domain still only translates the narrow
 * width, and the IOAS must keep reserving everything above it while the
 * domain exists.
 */
TEST_F(attach, intel_wide_narrow_wide)
{
	__u32 ioas_id, w_id, n_id, w2_id, hwpt_id, hwpt2_id, hwpt3_id;
	__u64 iova;

	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0, &w_id,
				   &hwpt_id);
	check_one_range(ioas_id, 0, MOCK_INTEL_APERTURE_LAST);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NARROW, 0, &n_id,
				   &hwpt2_id);
	ASSERT_EQ(hwpt_id, hwpt2_id);
	check_one_range(ioas_id, 0, MOCK_INTEL_NARROW_LAST);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0, &w2_id,
				   &hwpt3_id);
	ASSERT_EQ(hwpt_id, hwpt3_id);
	/* The driver reports the wide aperture again; the IOAS does not */
	check_one_range(ioas_id, 0, MOCK_INTEL_NARROW_LAST);
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, ioas_id));

	/* EINVAL from iommufd, not ENOMEM from the page table */
	iova = MOCK_INTEL_NARROW_LAST + 1;
	test_err(EINVAL, _test_ioctl_ioas_map(self->fd, ioas_id, self->buffer,
					      PAGE_SIZE, &iova,
					      IOMMU_IOAS_MAP_FIXED_IOVA |
					      IOMMU_IOAS_MAP_RW));
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_INTEL_NARROW_LAST + 1 - PAGE_SIZE);
	test_cmd_check_map(hwpt_id, MOCK_INTEL_NARROW_LAST + 1 - PAGE_SIZE,
			   self->buffer, PAGE_SIZE);
	/* An automatic IOVA stays below the narrow width too */
	test_ioctl_ioas_map(ioas_id, self->buffer, BUFFER_SIZE, &iova);
	ASSERT_GE(MOCK_INTEL_NARROW_LAST, iova + BUFFER_SIZE - 1);

	/* Not even once the narrow device left: the page table did not grow */
	test_ioctl_destroy(n_id);
	check_one_range(ioas_id, 0, MOCK_INTEL_NARROW_LAST);
	test_ioctl_destroy(w_id);
	test_ioctl_destroy(w2_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
	check_one_range(ioas_id, 0, UINT64_MAX);
	test_ioctl_destroy(ioas_id);
}

/*
 * 6.1 drivers refuse another instance's domain with -ENXIO, not -EINVAL:
 * attaching by IOAS must still find or make a domain for every device.
 */
TEST_F(attach, foreign_instance)
{
	static const __u32 kinds[] = { 0, MOCK_FLAGS_DEVICE_SMMUV3 };
	__u32 ioas_id, a_id, b_id, c_id, hwpt_a, hwpt_b, hwpt_c;
	__u64 iova = MOCK_APERTURE_START;
	unsigned int i;

	for (i = 0; i != ARRAY_SIZE(kinds); i++) {
		test_ioctl_ioas_alloc(&ioas_id);
		test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE,
					  iova);
		/* Two instances: two domains, both filled */
		test_cmd_mock_domain_flags(ioas_id, kinds[i], 0, &a_id,
					   &hwpt_a);
		test_cmd_mock_domain_flags(ioas_id, kinds[i], 0, &b_id,
					   &hwpt_b);
		ASSERT_NE(hwpt_a, hwpt_b);
		test_cmd_check_map(hwpt_a, iova, self->buffer, BUFFER_SIZE);
		test_cmd_check_map(hwpt_b, iova, self->buffer, BUFFER_SIZE);
		/* The instance of a: shares a's domain */
		test_cmd_mock_domain_flags(ioas_id,
					   MOCK_FLAGS_DEVICE_SAME_INSTANCE,
					   a_id, &c_id, &hwpt_c);
		ASSERT_EQ(hwpt_a, hwpt_c);
		test_ioctl_destroy(c_id);
		/*
		 * By HW_PAGETABLE ID the driver's refusal (ENXIO) is
		 * EINVAL, and the device is left on the blocking domain
		 */
		test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_SAME_INSTANCE |
					   MOCK_FLAGS_DEVICE_NO_ATTACH, b_id,
					   &c_id, NULL);
		test_err(EINVAL, _test_cmd_mock_attach(self->fd, c_id, hwpt_a,
						       NULL));
		test_cmd_mock_device_on(c_id, hwpt_a, MOCK_DEV_ON_BLOCKED);
		test_cmd_mock_device_on(a_id, hwpt_a, MOCK_DEV_ON_HWPT);
		test_cmd_mock_attach(c_id, hwpt_b, &hwpt_c);
		ASSERT_EQ(hwpt_b, hwpt_c);
		test_cmd_mock_device_on(c_id, hwpt_b, MOCK_DEV_ON_HWPT);
		test_ioctl_destroy(c_id);
		/* By IOAS: refused by a's domain, then on b's */
		test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_SAME_INSTANCE |
					   MOCK_FLAGS_DEVICE_NO_ATTACH, b_id,
					   &c_id, NULL);
		test_cmd_mock_attach(c_id, ioas_id, &hwpt_c);
		ASSERT_EQ(hwpt_b, hwpt_c);
		test_cmd_mock_device_on(c_id, hwpt_b, MOCK_DEV_ON_HWPT);
		test_ioctl_destroy(a_id);
		test_ioctl_destroy(b_id);
		test_ioctl_destroy(c_id);
		test_ioctl_destroy(ioas_id);
	}

	/* Another kind of IOMMU: refused too, another domain */
	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_domain_flags(ioas_id, 0, 0, &a_id, &hwpt_a);
	test_cmd_mock_domain_flags(ioas_id, MOCK_FLAGS_DEVICE_INTEL, 0, &b_id,
				   &hwpt_b);
	ASSERT_NE(hwpt_a, hwpt_b);
	test_cmd_mock_device_on(b_id, hwpt_b, MOCK_DEV_ON_HWPT);
	/* By ID, every kind refuses the others' domains with EINVAL */
	for (i = 0; i != ARRAY_SIZE(kinds); i++) {
		test_cmd_mock_domain_flags(0, kinds[i] |
					   MOCK_FLAGS_DEVICE_NO_ATTACH, 0,
					   &c_id, NULL);
		test_err(EINVAL, _test_cmd_mock_attach(self->fd, c_id, hwpt_b,
						       NULL));
		test_cmd_mock_device_on(c_id, hwpt_b, MOCK_DEV_ON_BLOCKED);
		test_ioctl_destroy(c_id);
	}
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NO_ATTACH, 0, &c_id, NULL);
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, c_id, hwpt_a, NULL));
	test_cmd_mock_device_on(c_id, hwpt_a, MOCK_DEV_ON_BLOCKED);
	test_cmd_mock_attach(c_id, hwpt_b, &hwpt_c);
	ASSERT_EQ(hwpt_b, hwpt_c);
	test_cmd_mock_device_on(c_id, hwpt_b, MOCK_DEV_ON_HWPT);
}

/*
 * A group attached to a page table of one IOAS cannot be attached to
 * another by another of its devices: EINVAL, found before any domain is
 * allocated or filled.
 */
TEST_F(attach, group_attached_elsewhere)
{
	__u32 ioas_id, ioas2_id, a_id, b_id, c_id, hwpt_id, hwpt2_id, id;
	__u64 allocs;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_alloc(&ioas2_id);
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_NO_ATTACH, 0, &a_id,
				   NULL);
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_SAME_GROUP |
				   MOCK_FLAGS_DEVICE_NO_ATTACH, a_id, &b_id,
				   NULL);
	/* A peer that is attached cannot get a new group member */
	test_cmd_mock_attach(a_id, ioas_id, &hwpt_id);
	test_err(EBUSY, _test_cmd_mock_domain_flags(self->fd, 0,
						    MOCK_FLAGS_DEVICE_SAME_GROUP |
						    MOCK_FLAGS_DEVICE_NO_ATTACH,
						    a_id, NULL, NULL, NULL));
	test_cmd_mock_domain_flags(ioas2_id, MOCK_FLAGS_DEVICE_SMMUV3, 0,
				   &c_id, &hwpt2_id);

	/*
	 * IOAS 2 holds a mapping below the aperture of the default mock
	 * IOMMU: building a domain for b would fail with EADDRINUSE, the
	 * group check comes first.
	 */
	test_ioctl_ioas_map_fixed(ioas2_id, self->buffer, PAGE_SIZE, 0);
	allocs = mock_domain_allocs(self->fd);
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, b_id, ioas2_id, NULL));
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, b_id, hwpt2_id, NULL));
	ASSERT_EQ(allocs, mock_domain_allocs(self->fd));

	/* Its own page table is fine, by IOAS or by ID */
	test_cmd_mock_attach(b_id, ioas_id, &id);
	ASSERT_EQ(hwpt_id, id);
	test_cmd_mock_detach(b_id);
	test_cmd_mock_attach(b_id, hwpt_id, &id);
	ASSERT_EQ(hwpt_id, id);
	ASSERT_EQ(allocs, mock_domain_allocs(self->fd));
	/* Attached already */
	test_err(EBUSY, _test_cmd_mock_attach(self->fd, b_id, ioas_id, NULL));
	/* Once the whole group left, anything goes */
	test_cmd_mock_detach(a_id);
	test_cmd_mock_detach(b_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
	test_ioctl_ioas_unmap(ioas2_id, 0, PAGE_SIZE);
	test_cmd_mock_attach(b_id, ioas2_id, &id);
	ASSERT_NE(hwpt2_id, id);
	test_cmd_check_refs(self->buffer, PAGE_SIZE, 0);
}

/*
 * Two devices of one group, attached and detached in both orders, by IOAS
 * and by HW_PAGETABLE ID (upstream once added a HW_PAGETABLE to its IOAS
 * twice when a device attached by ID: mapping twice into one mock domain
 * fails with EEXIST).
 */
TEST_F(attach, group_orders)
{
	__u32 ioas_id, dev[2], hwpt_id, id;
	unsigned int first, by_id, detach_first;
	__u64 iova = MOCK_APERTURE_START, allocs;

	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_NO_ATTACH, 0, &dev[0],
				   NULL);
	test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_SAME_GROUP |
				   MOCK_FLAGS_DEVICE_NO_ATTACH, dev[0], &dev[1],
				   NULL);

	for (first = 0; first != 2; first++) {
		for (by_id = 0; by_id != 2; by_id++) {
			for (detach_first = 0; detach_first != 2;
			     detach_first++) {
				unsigned int second = !first;

				allocs = mock_domain_allocs(self->fd);
				test_cmd_mock_attach(dev[first], ioas_id,
						     &hwpt_id);
				test_cmd_mock_attach(dev[second],
						     by_id ? hwpt_id : ioas_id,
						     &id);
				ASSERT_EQ(hwpt_id, id);
				ASSERT_EQ(allocs + 1,
					  mock_domain_allocs(self->fd));
				/* One domain, mapped once */
				test_ioctl_ioas_map_fixed(ioas_id, self->buffer,
							  BUFFER_SIZE, iova);
				test_cmd_check_map(hwpt_id, iova, self->buffer,
						   BUFFER_SIZE);
				test_err(EBUSY,
					 _test_ioctl_destroy(self->fd,
							     hwpt_id));

				test_cmd_mock_detach(dev[detach_first]);
				/* The other device keeps it alive and mapped */
				test_err(EBUSY,
					 _test_ioctl_destroy(self->fd,
							     hwpt_id));
				test_ioctl_ioas_unmap(ioas_id, iova,
						      BUFFER_SIZE);
				test_ioctl_ioas_map_fixed(ioas_id,
							  self->buffer,
							  BUFFER_SIZE, iova);
				test_cmd_check_map(hwpt_id, iova, self->buffer,
						   BUFFER_SIZE);
				/* Back in by ID while the other holds it */
				test_cmd_mock_attach(dev[detach_first],
						     hwpt_id, &id);
				ASSERT_EQ(hwpt_id, id);
				test_cmd_mock_detach(dev[detach_first]);
				test_cmd_mock_detach(dev[!detach_first]);
				test_err(ENOENT,
					 _test_ioctl_destroy(self->fd,
							     hwpt_id));
				test_err(EINVAL,
					 _test_cmd_mock_detach(self->fd,
							       dev[first]));
				test_ioctl_ioas_unmap(ioas_id, iova,
						      BUFFER_SIZE);
				test_cmd_check_refs(self->buffer, BUFFER_SIZE,
						    0);
			}
		}
	}
}

/*
 * A device removed from a group that stays attached through another of
 * its devices leaves the domain (the mock WARNs when a domain is freed
 * with devices still counted on it).
 */
TEST_F(attach, group_member_removed)
{
	__u32 ioas_id, a_id, b_id, hwpt_id, id;
	unsigned int both;

	test_ioctl_ioas_alloc(&ioas_id);
	for (both = 0; both != 2; both++) {
		test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_NO_ATTACH, 0,
					   &a_id, NULL);
		test_cmd_mock_domain_flags(0, MOCK_FLAGS_DEVICE_SAME_GROUP |
					   MOCK_FLAGS_DEVICE_NO_ATTACH, a_id,
					   &b_id, NULL);
		/* The group follows b, with a in it */
		test_cmd_mock_attach(b_id, ioas_id, &hwpt_id);
		if (both) {
			test_cmd_mock_attach(a_id, ioas_id, &id);
			ASSERT_EQ(hwpt_id, id);
		}
		test_ioctl_destroy(a_id);
		test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE,
					  MOCK_APERTURE_START);
		test_cmd_check_map(hwpt_id, MOCK_APERTURE_START, self->buffer,
				   BUFFER_SIZE);
		test_ioctl_destroy(b_id);
		test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
		test_ioctl_ioas_unmap(ioas_id, MOCK_APERTURE_START,
				      BUFFER_SIZE);
	}
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

struct destroy_wait_arg {
	int fd;
	__u32 hwpt_id;
	void *buffer;
	unsigned int ok;
	int last_errno;
};

static void *destroy_wait_checker(void *arg)
{
	struct destroy_wait_arg *dw = arg;

	/*
	 * Each check holds a reference on the HW_PAGETABLE meanwhile; the
	 * pauses let the destroy see the moments without one.
	 */
	for (;;) {
		if (_test_cmd_check_map(dw->fd, dw->hwpt_id,
					MOCK_APERTURE_START, dw->buffer,
					BUFFER_SIZE, NULL)) {
			dw->last_errno = errno;
			return NULL;
		}
		__atomic_add_fetch(&dw->ok, 1, __ATOMIC_RELAXED);
		usleep(1000);
	}
}

/*
 * Destroying a device waits for the ioctls using its automatic
 * HW_PAGETABLE (iommufd_object_destroy_user()); after it the ID is gone.
 */
TEST_F(attach, destroy_waits_for_users)
{
	struct destroy_wait_arg dw = { .fd = self->fd,
				       .buffer = self->buffer };
	__u32 ioas_id, stdev_id;
	pthread_t thread;

	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_domain(ioas_id, &stdev_id, &dw.hwpt_id, NULL);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE,
				  MOCK_APERTURE_START);
	ASSERT_EQ(0, pthread_create(&thread, NULL, destroy_wait_checker, &dw));
	while (!__atomic_load_n(&dw.ok, __ATOMIC_RELAXED))
		usleep(1000);
	test_ioctl_destroy(stdev_id);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(ENOENT, dw.last_errno);
	ASSERT_LT(0, dw.ok);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, dw.hwpt_id));
	test_ioctl_destroy(ioas_id);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/*
 * IOMMU_GET_HW_INFO on mock devices: the default and INTEL mock IOMMUs
 * report a struct iommu_test_hw_info (IOMMU_HW_INFO_TYPE_SELFTEST), the
 * SMMUV3 one nothing.  The user buffer is pre-filled with 0xff so that
 * every byte the kernel wrote, and every byte it must not write, shows.
 */
#define HW_INFO_FILL 0xff
#define HW_INFO_BUF 128

FIXTURE(hw_info) {
	int fd;
	__u32 ioas_id;
	__u32 stdev_id;
	__u32 hwpt_id;
	__u32 idev_id;
	/* Two pages, the second PROT_NONE */
	__u8 *pages;
};

FIXTURE_SETUP(hw_info)
{
	self->fd = iommufd_open();
	if (self->fd < 0)
		SKIP_TEST("cannot open /dev/iommu: %s", strerror(errno));
	if (!iommufd_test_supported(self->fd))
		SKIP_TEST("CONFIG_IOMMUFD_TEST is off");
	test_ioctl_ioas_alloc(&self->ioas_id);
	test_cmd_mock_domain(self->ioas_id, &self->stdev_id, &self->hwpt_id,
			     &self->idev_id);
	self->pages = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->pages);
	ASSERT_EQ(0, mprotect(self->pages + PAGE_SIZE, PAGE_SIZE, PROT_NONE));
}

FIXTURE_TEARDOWN(hw_info)
{
	close(self->fd);
	munmap(self->pages, 2 * PAGE_SIZE);
}

static const struct iommu_test_hw_info hw_info_default = {
	.flags = 0,
	.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
};

static bool all_bytes(const void *p, size_t len, __u8 val)
{
	const __u8 *b = p;

	while (len--)
		if (*b++ != val)
			return false;
	return true;
}

/*
 * Assert that @buf (HW_INFO_BUF bytes, pre-filled with HW_INFO_FILL)
 * holds the first bytes of @data (@data_size bytes) up to @data_len, zero
 * after them up to @data_len, and HW_INFO_FILL from @data_len on.
 */
static void check_hw_info_buf(struct __test_metadata *_metadata,
			      const __u8 *buf, __u32 data_len,
			      const void *data, __u32 data_size)
{
	__u32 copied = data_len < data_size ? data_len : data_size;
	__u32 i;

	ASSERT_EQ(0, memcmp(buf, data, copied));
	for (i = copied; i != data_len; i++)
		ASSERT_EQ(0, buf[i]) TH_LOG("byte %u of %u not zeroed", i,
					    data_len);
	for (i = data_len; i != HW_INFO_BUF; i++)
		ASSERT_EQ(HW_INFO_FILL, buf[i])
			TH_LOG("byte %u written beyond data_len %u", i,
			       data_len);
}

/*
 * data_len smaller than, equal to and larger than the driver's data: the
 * copy is truncated or zero-filled, data_len comes back as the driver's
 * size, and the output fields are written whatever they held.
 */
TEST_F(hw_info, data_len)
{
	static const __u32 lens[] = { 0, 1, 4, 7, 8, 9, 16, 64, HW_INFO_BUF };
	__u8 buf[HW_INFO_BUF];
	unsigned int i;

	for (i = 0; i != ARRAY_SIZE(lens); i++) {
		struct iommu_hw_info cmd = {
			.size = sizeof(cmd),
			.dev_id = self->idev_id,
			.data_len = lens[i],
			.data_uptr = (uintptr_t)buf,
			.out_data_type = 0x55555555,
			.out_max_pasid_log2 = 0xff,
			.out_capabilities = UINT64_MAX,
		};

		memset(buf, HW_INFO_FILL, sizeof(buf));
		ASSERT_EQ(0, ioctl(self->fd, IOMMU_GET_HW_INFO, &cmd));
		ASSERT_EQ(sizeof(struct iommu_test_hw_info), cmd.data_len);
		ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
		ASSERT_EQ(0, cmd.out_max_pasid_log2);
		ASSERT_EQ(0, cmd.out_capabilities);
		ASSERT_EQ(0, cmd.flags);
		ASSERT_EQ(self->idev_id, cmd.dev_id);
		ASSERT_EQ((uintptr_t)buf, cmd.data_uptr);
		check_hw_info_buf(_metadata, buf, lens[i], &hw_info_default,
				  sizeof(hw_info_default));
	}

	/* Asking for the size only: no buffer at all */
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id, NULL, 0,
					     NULL));
}

/*
 * The structure's size: upstream 6.6's 32 bytes (without
 * out_capabilities, which must then not be written), the current 40, and
 * larger with a zero or non-zero tail.
 */
TEST_F(hw_info, struct_sizes)
{
	struct iommu_test_hw_info data;
	struct iommu_hw_info cmd = {
		.dev_id = self->idev_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct iommu_hw_info raw;

	/* Shorter than upstream 6.6's structure */
	test_err(EINVAL, ioctl_sized(self->fd, IOMMU_GET_HW_INFO, &cmd,
				     sizeof(cmd), 31, 0));
	test_err(EINVAL, ioctl_sized(self->fd, IOMMU_GET_HW_INFO, &cmd,
				     sizeof(cmd), 0, 0));

	/* 32 bytes: out_capabilities is outside the structure */
	memset(&raw, 0, sizeof(raw));
	raw.size = 32;
	raw.dev_id = self->idev_id;
	raw.data_len = sizeof(data);
	raw.data_uptr = (uintptr_t)&data;
	raw.out_capabilities = 0xabababababababab;
	memset(&data, HW_INFO_FILL, sizeof(data));
	ASSERT_EQ(0, ioctl(self->fd, IOMMU_GET_HW_INFO, &raw));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, raw.out_data_type);
	ASSERT_EQ(sizeof(data), raw.data_len);
	ASSERT_EQ(0xabababababababab, raw.out_capabilities);
	ASSERT_EQ(0, memcmp(&data, &hw_info_default, sizeof(data)));

	/* 40, and 48 with a zero tail, work alike */
	memset(&data, HW_INFO_FILL, sizeof(data));
	cmd.out_capabilities = UINT64_MAX;
	ASSERT_EQ(0, ioctl_sized(self->fd, IOMMU_GET_HW_INFO, &cmd,
				 sizeof(cmd), sizeof(cmd), 0));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
	ASSERT_EQ(0, cmd.out_capabilities);
	ASSERT_EQ(0, memcmp(&data, &hw_info_default, sizeof(data)));

	memset(&data, HW_INFO_FILL, sizeof(data));
	cmd.out_data_type = 0;
	cmd.out_capabilities = UINT64_MAX;
	ASSERT_EQ(0, ioctl_sized(self->fd, IOMMU_GET_HW_INFO, &cmd,
				 sizeof(cmd), sizeof(cmd) + 8, 0));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
	ASSERT_EQ(0, cmd.out_capabilities);
	ASSERT_EQ(0, memcmp(&data, &hw_info_default, sizeof(data)));

	/* A non-zero byte the kernel does not know: E2BIG, nothing written */
	memset(&data, HW_INFO_FILL, sizeof(data));
	cmd.data_len = sizeof(data);
	cmd.out_data_type = 0;
	test_err(E2BIG, ioctl_sized(self->fd, IOMMU_GET_HW_INFO, &cmd,
				    sizeof(cmd), sizeof(cmd) + 8, 1));
	test_err(E2BIG, ioctl_sized(self->fd, IOMMU_GET_HW_INFO, &cmd,
				    sizeof(cmd), sizeof(cmd) + 1, 0x80));
	ASSERT_EQ(0, cmd.out_data_type);
	ASSERT_EQ(sizeof(data), cmd.data_len);
	ASSERT_TRUE(all_bytes(&data, sizeof(data), HW_INFO_FILL));
}

/*
 * Unknown flags (including upstream's IOMMU_HW_INFO_FLAG_INPUT_TYPE, not
 * implemented), reserved bytes and IDs that are no device: the errno of
 * the UAPI, and neither the buffer nor the structure written.
 */
TEST_F(hw_info, errnos)
{
	const __u32 not_devices[] = {
		0, self->ioas_id, self->hwpt_id, self->stdev_id,
		self->idev_id + 100, INT32_MAX, UINT32_MAX,
	};
	__u8 buf[HW_INFO_BUF];
	struct iommu_hw_info cmd;
	unsigned int i;

#define hw_info_err(err, field, val)                                          \
	do {                                                                  \
		memset(&cmd, 0, sizeof(cmd));                                 \
		cmd.size = sizeof(cmd);                                       \
		cmd.dev_id = self->idev_id;                                   \
		cmd.data_len = sizeof(buf);                                   \
		cmd.data_uptr = (uintptr_t)buf;                               \
		cmd.out_max_pasid_log2 = 0x7f;                                \
		cmd.out_capabilities = 0x1234;                                \
		cmd.field = val;                                              \
		memset(buf, HW_INFO_FILL, sizeof(buf));                       \
		test_err(err, ioctl(self->fd, IOMMU_GET_HW_INFO, &cmd));      \
		ASSERT_EQ(sizeof(buf), cmd.data_len);                         \
		ASSERT_EQ(0x7f, cmd.out_max_pasid_log2);                      \
		ASSERT_EQ(0x1234, cmd.out_capabilities);                      \
		ASSERT_TRUE(all_bytes(buf, sizeof(buf), HW_INFO_FILL));       \
	} while (0)

	hw_info_err(EOPNOTSUPP, flags, IOMMU_HW_INFO_FLAG_INPUT_TYPE);
	hw_info_err(EOPNOTSUPP, flags, 1U << 1);
	hw_info_err(EOPNOTSUPP, flags, 1U << 31);
	for (i = 0; i != ARRAY_SIZE(cmd.__reserved); i++) {
		hw_info_err(EOPNOTSUPP, __reserved[i], 1);
		hw_info_err(EOPNOTSUPP, __reserved[i], 0x80);
	}
	for (i = 0; i != ARRAY_SIZE(not_devices); i++)
		hw_info_err(ENOENT, dev_id, not_devices[i]);
	/* Flags and reserved bytes are checked before the ID */
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
	cmd.in_data_type = IOMMU_HW_INFO_TYPE_SELFTEST;
	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_GET_HW_INFO, &cmd));
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.__reserved[0] = 1;
	test_err(EOPNOTSUPP, ioctl(self->fd, IOMMU_GET_HW_INFO, &cmd));
#undef hw_info_err

	/* Without the flag in_data_type is ignored */
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.dev_id = self->idev_id;
	cmd.in_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
	ASSERT_EQ(0, ioctl(self->fd, IOMMU_GET_HW_INFO, &cmd));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
}

/*
 * User memory that cannot be written: the data buffer (unmapped,
 * read-only, or ending before data_len) and the structure itself give
 * EFAULT, and the structure is not written back.  With data_len 0 the
 * buffer is not touched at all.
 */
TEST_F(hw_info, efault)
{
	const __u32 size = sizeof(struct iommu_test_hw_info);
	__u8 *end = self->pages + PAGE_SIZE;	/* the PROT_NONE page */
	struct iommu_hw_info cmd;
	struct iommu_hw_info *ro;
	__u32 want_len;
	void *rw;

#define hw_info_efault(ptr, len)                                              \
	do {                                                                  \
		memset(&cmd, 0, sizeof(cmd));                                 \
		cmd.size = sizeof(cmd);                                       \
		cmd.dev_id = self->idev_id;                                   \
		want_len = (len);                                             \
		cmd.data_len = want_len;                                      \
		cmd.data_uptr = (uintptr_t)(ptr);                             \
		cmd.out_data_type = 0x55;                                     \
		test_err(EFAULT, ioctl(self->fd, IOMMU_GET_HW_INFO, &cmd));   \
		ASSERT_EQ(want_len, cmd.data_len);                            \
		ASSERT_EQ(0x55, cmd.out_data_type);                           \
	} while (0)

	hw_info_efault(end, size);
	hw_info_efault(end, 1);
	/* The copy runs into the unmapped page */
	hw_info_efault(end - size / 2, size);
	/* The copy fits, the zero fill does not */
	hw_info_efault(end - size, size + 1);
	hw_info_efault(end - size, PAGE_SIZE);
	hw_info_efault(end - 2 * size, UINT32_MAX);
	hw_info_efault(NULL, size);
	hw_info_efault(1ULL << 63, size);
	hw_info_efault(UINT64_MAX - 3, size);
#undef hw_info_efault

	/* Exactly up to the unmapped page is fine */
	memset(end - size, HW_INFO_FILL, size);
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id,
					     end - size, size, &cmd));
	ASSERT_EQ(0, memcmp(end - size, &hw_info_default, size));
	/* No data asked for: the pointer is not used */
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id, end, 0,
					     &cmd));
	ASSERT_EQ(size, cmd.data_len);
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id,
					     (void *)(uintptr_t)UINT64_MAX, 0,
					     &cmd));

	/* A read-only buffer */
	ASSERT_EQ(0, mprotect(self->pages, PAGE_SIZE, PROT_READ));
	test_err(EFAULT, _test_ioctl_get_hw_info(self->fd, self->idev_id,
						 self->pages, size, NULL));
	ASSERT_EQ(0, mprotect(self->pages, PAGE_SIZE,
			      PROT_READ | PROT_WRITE));

	/* The structure in read-only memory: the answer cannot be written */
	rw = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, rw);
	ro = rw;
	memset(ro, 0, sizeof(*ro));
	ro->size = sizeof(*ro);
	ro->dev_id = self->idev_id;
	ro->data_len = size;
	ro->data_uptr = (uintptr_t)self->pages;
	ASSERT_EQ(0, mprotect(rw, PAGE_SIZE, PROT_READ));
	memset(self->pages, HW_INFO_FILL, size);
	test_err(EFAULT, ioctl(self->fd, IOMMU_GET_HW_INFO, ro));
	/* The data was copied before the structure failed */
	ASSERT_EQ(0, memcmp(self->pages, &hw_info_default, size));
	munmap(rw, PAGE_SIZE);
	test_err(EFAULT, ioctl(self->fd, IOMMU_GET_HW_INFO, NULL));

	/* Nothing broke */
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id,
					     self->pages, size, &cmd));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_SELFTEST, cmd.out_data_type);
	ASSERT_EQ(0, memcmp(self->pages, &hw_info_default, size));
}

/*
 * A driver without hw_info (the SMMUV3 mock IOMMU, like 6.1's
 * arm-smmu-v3): type NONE, data_len 0, and the buffer zeroed up to the
 * data_len given.
 */
TEST_F(hw_info, no_hw_info)
{
	__u8 buf[HW_INFO_BUF];
	struct iommu_hw_info cmd;
	__u32 idev_id;

	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, 0,
						 MOCK_FLAGS_DEVICE_SMMUV3 |
						 MOCK_FLAGS_DEVICE_NO_ATTACH,
						 0, NULL, NULL, &idev_id));
	memset(buf, HW_INFO_FILL, sizeof(buf));
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, idev_id, buf, 16,
					     &cmd));
	ASSERT_EQ(IOMMU_HW_INFO_TYPE_NONE, cmd.out_data_type);
	ASSERT_EQ(0, cmd.data_len);
	ASSERT_EQ(0, cmd.out_capabilities);
	check_hw_info_buf(_metadata, buf, 16, &hw_info_default, 0);

	memset(buf, HW_INFO_FILL, sizeof(buf));
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, idev_id, buf, 0,
					     &cmd));
	ASSERT_EQ(0, cmd.data_len);
	check_hw_info_buf(_metadata, buf, 0, &hw_info_default, 0);
	test_err(EFAULT, _test_ioctl_get_hw_info(self->fd, idev_id,
						 self->pages + PAGE_SIZE, 1,
						 NULL));
}

/*
 * Each device is asked through its own IOMMU driver (the INTEL mock
 * IOMMU's data differs), attached or not; an unbound device is gone.
 */
TEST_F(hw_info, devices)
{
	const struct iommu_test_hw_info intel = {
		.flags = MOCK_FLAGS_DEVICE_INTEL,
		.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
	};
	struct iommu_test_hw_info data;
	__u32 stdev_id, idev_id, ioas_id;

	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, 0,
						 MOCK_FLAGS_DEVICE_INTEL |
						 MOCK_FLAGS_DEVICE_NO_ATTACH,
						 0, &stdev_id, NULL,
						 &idev_id));
	memset(&data, HW_INFO_FILL, sizeof(data));
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, idev_id, &data,
					     sizeof(data), NULL));
	ASSERT_EQ(0, memcmp(&data, &intel, sizeof(data)));

	memset(&data, HW_INFO_FILL, sizeof(data));
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id, &data,
					     sizeof(data), NULL));
	ASSERT_EQ(0, memcmp(&data, &hw_info_default, sizeof(data)));

	/* Attached, detached: the same answer */
	test_ioctl_ioas_alloc(&ioas_id);
	test_cmd_mock_attach(stdev_id, ioas_id, NULL);
	memset(&data, HW_INFO_FILL, sizeof(data));
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, idev_id, &data,
					     sizeof(data), NULL));
	ASSERT_EQ(0, memcmp(&data, &intel, sizeof(data)));
	test_cmd_mock_detach(self->stdev_id);
	memset(&data, HW_INFO_FILL, sizeof(data));
	ASSERT_EQ(0, _test_ioctl_get_hw_info(self->fd, self->idev_id, &data,
					     sizeof(data), NULL));
	ASSERT_EQ(0, memcmp(&data, &hw_info_default, sizeof(data)));

	/* Unbound: the DEVICE object went with the selftest object */
	test_ioctl_destroy(stdev_id);
	test_err(ENOENT, _test_ioctl_get_hw_info(self->fd, idev_id, &data,
						 sizeof(data), NULL));
	test_ioctl_destroy(self->stdev_id);
	test_err(ENOENT, _test_ioctl_get_hw_info(self->fd, self->idev_id,
						 &data, sizeof(data), NULL));
}

struct hw_info_race_arg {
	int fd;
	__u32 idev_id;
	unsigned int ok;	/* calls that returned the data */
	int last_rc;		/* of the last call: 0 or an errno */
	bool bad_data;
};

static void *hw_info_race_caller(void *arg)
{
	struct hw_info_race_arg *hr = arg;
	struct iommu_test_hw_info data;
	struct iommu_hw_info cmd;

	/* Until the device is gone: nothing but its data, then ENOENT */
	for (;;) {
		memset(&data, HW_INFO_FILL, sizeof(data));
		if (_test_ioctl_get_hw_info(hr->fd, hr->idev_id, &data,
					    sizeof(data), &cmd)) {
			hr->last_rc = errno;
			return NULL;
		}
		if (cmd.out_data_type != IOMMU_HW_INFO_TYPE_SELFTEST ||
		    cmd.data_len != sizeof(data) ||
		    memcmp(&data, &hw_info_default, sizeof(data))) {
			hr->bad_data = true;
			return NULL;
		}
		__atomic_add_fetch(&hr->ok, 1, __ATOMIC_RELAXED);
	}
}

/*
 * IOMMU_GET_HW_INFO in a loop while the mock device is unbound and
 * destroyed: each call gives the device's data or, once its driver
 * unbound it, ENOENT; never another error, never other data.
 */
TEST_F(hw_info, destroy_race)
{
	struct hw_info_race_arg hr = { .fd = self->fd };
	unsigned int round;
	pthread_t thread;

	for (round = 0; round != 20; round++) {
		__u32 stdev_id;

		ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, 0,
							 MOCK_FLAGS_DEVICE_NO_ATTACH,
							 0, &stdev_id, NULL,
							 &hr.idev_id));
		hr.ok = 0;
		hr.last_rc = 0;
		hr.bad_data = false;
		ASSERT_EQ(0, pthread_create(&thread, NULL, hw_info_race_caller,
					    &hr));
		/* Unbind under the caller, a little later each round */
		while (__atomic_load_n(&hr.ok, __ATOMIC_RELAXED) < round + 1)
			usleep(100);
		test_ioctl_destroy(stdev_id);
		ASSERT_EQ(0, pthread_join(thread, NULL));
		ASSERT_FALSE(hr.bad_data);
		ASSERT_EQ(ENOENT, hr.last_rc);
		ASSERT_LT(0, hr.ok);
		test_err(ENOENT, _test_ioctl_get_hw_info(self->fd, hr.idev_id,
							 NULL, 0, NULL));
	}
}

/* Create a mock device bound but not attached; returns its device ID */
#define bind_mock(flags, peer, stdev, idev)                                    \
	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, 0,                  \
						 (flags) |                     \
						 MOCK_FLAGS_DEVICE_NO_ATTACH,  \
						 peer, stdev, NULL, idev))

/* IOMMU_HWPT_ALLOC with every field given; the errno it fails with, or 0 */
static int hwpt_alloc_raw(int fd, struct iommu_hwpt_alloc *cmd, size_t size,
			  unsigned char tail)
{
	if (ioctl_sized(fd, IOMMU_HWPT_ALLOC, cmd, sizeof(*cmd), size, tail))
		return errno;
	return 0;
}

/* Every errno of IOMMU_HWPT_ALLOC, and the sizes it takes */
TEST_F(attach, hwpt_alloc_errnos)
{
	__u32 ioas_id, stdev_id, idev_id, hwpt_id, other_hwpt;
	struct iommu_hwpt_alloc cmd;
	unsigned int i;
	static const __u32 bad_flags[] = {
		IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
		IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_ALLOC_PASID, 1U << 31,
	};

	test_ioctl_ioas_alloc(&ioas_id);
	bind_mock(0, 0, &stdev_id, &idev_id);
	test_cmd_mock_domain(ioas_id, NULL, &other_hwpt, NULL);

#define reset_cmd()                                                            \
	do {                                                                   \
		memset(&cmd, 0, sizeof(cmd));                                  \
		cmd.size = sizeof(cmd);                                        \
		cmd.dev_id = idev_id;                                          \
		cmd.pt_id = ioas_id;                                           \
	} while (0)

	for (i = 0; i != ARRAY_SIZE(bad_flags); i++) {
		reset_cmd();
		cmd.flags = bad_flags[i];
		ASSERT_EQ(EOPNOTSUPP, hwpt_alloc_raw(self->fd, &cmd,
						     sizeof(cmd), 0));
	}
	reset_cmd();
	cmd.__reserved = 1;
	ASSERT_EQ(EOPNOTSUPP, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	reset_cmd();
	cmd.__reserved2 = 1;
	ASSERT_EQ(EOPNOTSUPP, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	/* Data length and type must agree, then no type is implemented */
	reset_cmd();
	cmd.data_len = 8;
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	reset_cmd();
	cmd.data_type = IOMMU_HWPT_DATA_VTD_S1;
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.data_len = 24;
	ASSERT_EQ(EOPNOTSUPP, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.data_type = IOMMU_HWPT_DATA_ARM_SMMUV3;
	ASSERT_EQ(EOPNOTSUPP, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.data_type = 1000;
	ASSERT_EQ(EOPNOTSUPP, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	/* dev_id must be a device */
	reset_cmd();
	cmd.dev_id = 0;
	ASSERT_EQ(ENOENT, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.dev_id = ioas_id;
	ASSERT_EQ(ENOENT, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.dev_id = stdev_id;
	ASSERT_EQ(ENOENT, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.dev_id = 1U << 30;
	ASSERT_EQ(ENOENT, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	/* pt_id must be an IOAS */
	reset_cmd();
	cmd.pt_id = 0;
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.pt_id = idev_id;
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.pt_id = other_hwpt;
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));
	cmd.pt_id = 1U << 30;
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd), 0));

	/* Sizes: 6.6's 24 bytes is the minimum, trailing bytes must be 0 */
	reset_cmd();
	ASSERT_EQ(EINVAL, hwpt_alloc_raw(self->fd, &cmd, 23, 0));
	ASSERT_EQ(E2BIG, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd) + 8, 1));
	ASSERT_EQ(0, hwpt_alloc_raw(self->fd, &cmd, 24, 0));
	hwpt_id = cmd.out_hwpt_id;
	ASSERT_NE(0, hwpt_id);
	test_cmd_hwpt_coherency(hwpt_id, 1);
	reset_cmd();
	ASSERT_EQ(0, hwpt_alloc_raw(self->fd, &cmd, sizeof(cmd) + 8, 0));
	ASSERT_NE(hwpt_id, cmd.out_hwpt_id);
	test_ioctl_destroy(cmd.out_hwpt_id);
	/* 6.7's 40-byte form: data_type NONE, data_len 0, data_uptr unread */
	reset_cmd();
	cmd.data_uptr = 1;
	ASSERT_EQ(0, hwpt_alloc_raw(self->fd, &cmd, 40, 0));
	test_ioctl_destroy(cmd.out_hwpt_id);
	/* A manual HW_PAGETABLE holds its IOAS */
	test_err(EBUSY, _test_ioctl_destroy(self->fd, ioas_id));
	test_ioctl_destroy(hwpt_id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_id));
#undef reset_cmd
}

/*
 * A manual HW_PAGETABLE is filled before any device is attached, attached
 * by its ID, busy while a device uses it, never picked by an attach by
 * IOAS, and outlives its devices.
 */
TEST_F(attach, hwpt_alloc_attach)
{
	__u32 ioas_id, a_id, a_dev, b_id, hwpt_id, id, auto_id;
	__u64 iova = MOCK_APERTURE_START;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE, iova);
	bind_mock(0, 0, &a_id, &a_dev);
	test_ioctl_hwpt_alloc(a_dev, ioas_id, &hwpt_id);
	test_cmd_check_map(hwpt_id, iova, self->buffer, BUFFER_SIZE);
	test_cmd_mock_device_on(a_id, 0, MOCK_DEV_ON_BLOCKED);

	test_cmd_mock_attach(a_id, hwpt_id, &id);
	ASSERT_EQ(hwpt_id, id);
	test_cmd_mock_device_on(a_id, hwpt_id, MOCK_DEV_ON_HWPT);
	test_err(EBUSY, _test_ioctl_destroy(self->fd, hwpt_id));

	/* An attach by IOAS makes an automatic one of its own */
	test_cmd_mock_domain(ioas_id, &b_id, &auto_id, NULL);
	ASSERT_NE(hwpt_id, auto_id);
	test_cmd_check_map(auto_id, iova, self->buffer, BUFFER_SIZE);

	/* A map and an unmap reach the manual one too */
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE,
				  iova + BUFFER_SIZE);
	test_cmd_check_map(hwpt_id, iova + BUFFER_SIZE, self->buffer,
			   PAGE_SIZE);
	test_ioctl_ioas_unmap(ioas_id, iova + BUFFER_SIZE, PAGE_SIZE);
	test_err(EINVAL, _test_cmd_check_map(self->fd, hwpt_id,
					     iova + BUFFER_SIZE, self->buffer,
					     PAGE_SIZE, NULL));
	test_cmd_check_map(hwpt_id, iova, self->buffer, BUFFER_SIZE);

	/* It outlives its last device, mappings included */
	test_cmd_mock_detach(a_id);
	test_cmd_mock_device_on(a_id, 0, MOCK_DEV_ON_BLOCKED);
	test_cmd_check_map(hwpt_id, iova, self->buffer, BUFFER_SIZE);
	test_cmd_mock_attach(a_id, hwpt_id, &id);
	ASSERT_EQ(hwpt_id, id);
	test_cmd_mock_detach(a_id);
	test_ioctl_destroy(hwpt_id);
	test_err(ENOENT, _test_cmd_mock_attach(self->fd, a_id, hwpt_id, NULL));
	test_ioctl_destroy(b_id);
	test_ioctl_destroy(ioas_id);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/*
 * Finished without an attach, as 6.1's drivers would at the first one:
 * the smmuv3-like domain has its page table and aperture before any
 * device is attached (its map would fail otherwise), binds itself to the
 * device's IOMMU instance, and the intel-like one takes the unit's width.
 */
TEST_F(attach, hwpt_alloc_finalised)
{
	__u32 ioas_id, s1_id, s1_dev, s2_id, s2_dev, hwpt_id, id;
	__u32 n_id, n_dev, w_dev;
	__u64 iova = 1ULL << 30;

	test_ioctl_ioas_alloc(&ioas_id);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, BUFFER_SIZE, iova);
	bind_mock(MOCK_FLAGS_DEVICE_SMMUV3, 0, &s1_id, &s1_dev);
	bind_mock(MOCK_FLAGS_DEVICE_SMMUV3, 0, &s2_id, &s2_dev);
	test_ioctl_hwpt_alloc(s1_dev, ioas_id, &hwpt_id);
	test_cmd_check_map(hwpt_id, iova, self->buffer, BUFFER_SIZE);
	check_one_range(ioas_id, 0, MOCK_SMMU_APERTURE_LAST);
	/* Another SMMU's device is refused, its own is not */
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, s2_id, hwpt_id, NULL));
	test_cmd_mock_device_on(s2_id, 0, MOCK_DEV_ON_BLOCKED);
	test_cmd_mock_attach(s1_id, hwpt_id, &id);
	test_cmd_mock_device_on(s1_id, hwpt_id, MOCK_DEV_ON_HWPT);
	test_cmd_mock_detach(s1_id);
	test_ioctl_destroy(hwpt_id);
	check_one_range(ioas_id, 0, UINT64_MAX);

	/* intel: the unit's width right away; a narrow unit refuses */
	bind_mock(MOCK_FLAGS_DEVICE_INTEL, 0, NULL, &w_dev);
	bind_mock(MOCK_FLAGS_DEVICE_INTEL | MOCK_FLAGS_DEVICE_NARROW, 0, &n_id,
		  &n_dev);
	test_ioctl_hwpt_alloc(w_dev, ioas_id, &hwpt_id);
	check_one_range(ioas_id, 0, MOCK_INTEL_APERTURE_LAST);
	test_cmd_check_map(hwpt_id, iova, self->buffer, BUFFER_SIZE);
	test_ioctl_destroy(hwpt_id);
	test_ioctl_ioas_map_fixed(ioas_id, self->buffer, PAGE_SIZE,
				  MOCK_INTEL_NARROW_LAST + 1);
	test_err(EADDRINUSE, _test_ioctl_hwpt_alloc(self->fd, n_dev, ioas_id,
						    NULL));
	test_ioctl_ioas_unmap(ioas_id, MOCK_INTEL_NARROW_LAST + 1, PAGE_SIZE);
	test_ioctl_hwpt_alloc(n_dev, ioas_id, &hwpt_id);
	check_one_range(ioas_id, 0, MOCK_INTEL_NARROW_LAST);
	test_cmd_mock_attach(n_id, hwpt_id, NULL);
	test_cmd_mock_detach(n_id);
	test_ioctl_destroy(hwpt_id);
	test_ioctl_destroy(ioas_id);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/*
 * Cache coherency: enforced when the device's unit can, else a page table
 * that does not enforce it, which the device can then be attached to.
 */
TEST_F(attach, hwpt_alloc_coherency)
{
	__u32 ioas_id, s_dev, ns_id, ns_dev, hwpt_id, hwpt2_id;

	test_ioctl_ioas_alloc(&ioas_id);
	bind_mock(MOCK_FLAGS_DEVICE_INTEL, 0, NULL, &s_dev);
	bind_mock(MOCK_FLAGS_DEVICE_INTEL | MOCK_FLAGS_DEVICE_NO_SNOOP, 0,
		  &ns_id, &ns_dev);
	test_ioctl_hwpt_alloc(s_dev, ioas_id, &hwpt_id);
	test_cmd_hwpt_coherency(hwpt_id, 1);
	test_ioctl_hwpt_alloc(ns_dev, ioas_id, &hwpt2_id);
	test_cmd_hwpt_coherency(hwpt2_id, 0);
	/* The device without snoop control: not on the enforcing one */
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, ns_id, hwpt_id, NULL));
	test_cmd_mock_attach(ns_id, hwpt2_id, NULL);
	test_cmd_mock_device_on(ns_id, hwpt2_id, MOCK_DEV_ON_HWPT);
	test_cmd_mock_detach(ns_id);
	test_ioctl_destroy(hwpt_id);
	test_ioctl_destroy(hwpt2_id);
}

struct hwpt_alloc_race_arg {
	int fd;
	__u32 idev_id;
	__u32 ioas_id;
	unsigned int ok;	/* HW_PAGETABLEs made (and destroyed) */
	int last_rc;		/* of the last call: 0 or an errno */
	bool done;		/* __atomic: the caller stopped */
};

static void *hwpt_alloc_race_caller(void *arg)
{
	struct hwpt_alloc_race_arg *hr = arg;
	__u32 hwpt_id;

	/* Until the device is gone: HW_PAGETABLEs, then ENOENT */
	for (;;) {
		if (_test_ioctl_hwpt_alloc(hr->fd, hr->idev_id, hr->ioas_id,
					   &hwpt_id) ||
		    _test_ioctl_destroy(hr->fd, hwpt_id)) {
			hr->last_rc = errno;
			__atomic_store_n(&hr->done, true, __ATOMIC_RELEASE);
			return NULL;
		}
		__atomic_add_fetch(&hr->ok, 1, __ATOMIC_RELAXED);
	}
}

/*
 * IOMMU_HWPT_ALLOC in a loop, on an IOAS with a mapping to fill, while the
 * mock device is unbound and destroyed: each call makes a HW_PAGETABLE
 * (destroyed again) or, once the device's driver unbound it, fails with
 * ENOENT; nothing else, and nothing is left in the IOAS afterwards.
 */
TEST_F(attach, hwpt_alloc_destroy_race)
{
	struct hwpt_alloc_race_arg hr = { .fd = self->fd };
	unsigned int round;
	pthread_t thread;

	test_ioctl_ioas_alloc(&hr.ioas_id);
	test_ioctl_ioas_map_fixed(hr.ioas_id, self->buffer, BUFFER_SIZE,
				  MOCK_APERTURE_START);
	for (round = 0; round != 10; round++) {
		__u32 stdev_id;

		bind_mock(0, 0, &stdev_id, &hr.idev_id);
		hr.ok = 0;
		hr.last_rc = 0;
		hr.done = false;
		ASSERT_EQ(0, pthread_create(&thread, NULL,
					    hwpt_alloc_race_caller, &hr));
		/* Unbind under the caller, a little later each round */
		while (__atomic_load_n(&hr.ok, __ATOMIC_RELAXED) < round + 1 &&
		       !__atomic_load_n(&hr.done, __ATOMIC_ACQUIRE))
			usleep(100);
		test_ioctl_destroy(stdev_id);
		ASSERT_EQ(0, pthread_join(thread, NULL));
		ASSERT_EQ(ENOENT, hr.last_rc);
		/* It stopped for the unbind only, after round + 1 at least */
		ASSERT_LE(round + 1, hr.ok);
		test_err(ENOENT, _test_ioctl_hwpt_alloc(self->fd, hr.idev_id,
							hr.ioas_id, NULL));
	}
	/* No HW_PAGETABLE left holding the IOAS */
	test_ioctl_destroy(hr.ioas_id);
}

/*
 * Replace between two IOASes: the device moves to an automatic page table
 * of the new IOAS (made, finished and filled first), the old automatic
 * one is destroyed, a manual one keeps its mappings, and naming where the
 * device is does nothing.
 */
TEST_F(attach, replace_ioas)
{
	__u32 ioas_a, ioas_b, stdev_id, idev_id, hwpt_a, hwpt_b, manual, id;
	__u64 iova = MOCK_APERTURE_START;
	char *buf_b = (char *)self->buffer + BUFFER_SIZE / 2;
	__u64 allocs;

	test_ioctl_ioas_alloc(&ioas_a);
	test_ioctl_ioas_alloc(&ioas_b);
	test_ioctl_ioas_map_fixed(ioas_a, self->buffer, BUFFER_SIZE / 2, iova);
	test_ioctl_ioas_map_fixed(ioas_b, buf_b, BUFFER_SIZE / 2, iova);
	test_cmd_mock_domain(ioas_a, &stdev_id, &hwpt_a, &idev_id);

	/* Where it is already: nothing happens */
	allocs = mock_domain_allocs(self->fd);
	test_cmd_mock_replace(stdev_id, ioas_a, &id);
	ASSERT_EQ(hwpt_a, id);
	test_cmd_mock_replace(stdev_id, hwpt_a, &id);
	ASSERT_EQ(hwpt_a, id);
	ASSERT_EQ(allocs, mock_domain_allocs(self->fd));

	test_cmd_mock_replace(stdev_id, ioas_b, &hwpt_b);
	ASSERT_NE(hwpt_a, hwpt_b);
	ASSERT_EQ(allocs + 1, mock_domain_allocs(self->fd));
	test_cmd_mock_device_on(stdev_id, hwpt_b, MOCK_DEV_ON_HWPT);
	test_cmd_check_map(hwpt_b, iova, buf_b, BUFFER_SIZE / 2);
	/* The automatic one left behind is gone, its IOAS free */
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_a));
	test_err(EBUSY, _test_ioctl_destroy(self->fd, ioas_b));

	/* To a manual one of IOAS A, by ID; B's automatic one goes */
	test_ioctl_hwpt_alloc(idev_id, ioas_a, &manual);
	test_cmd_mock_replace(stdev_id, manual, &id);
	ASSERT_EQ(manual, id);
	test_cmd_mock_device_on(stdev_id, manual, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_b));
	test_err(EBUSY, _test_ioctl_destroy(self->fd, manual));

	/* Naming IOAS A moves it off the manual one, to an automatic one */
	test_cmd_mock_replace(stdev_id, ioas_a, &id);
	ASSERT_NE(manual, id);
	test_cmd_mock_device_on(stdev_id, id, MOCK_DEV_ON_HWPT);
	test_cmd_check_map(id, iova, self->buffer, BUFFER_SIZE / 2);
	hwpt_a = id;
	test_cmd_mock_replace(stdev_id, manual, &id);
	ASSERT_EQ(manual, id);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_a));

	/* Away from the manual one: it stays, with its mappings */
	test_cmd_mock_replace(stdev_id, ioas_b, &hwpt_b);
	test_cmd_mock_device_on(stdev_id, hwpt_b, MOCK_DEV_ON_HWPT);
	test_cmd_check_map(manual, iova, self->buffer, BUFFER_SIZE / 2);
	test_cmd_check_map(hwpt_b, iova, buf_b, BUFFER_SIZE / 2);
	test_ioctl_destroy(manual);

	/* Detach works after replaces, and the automatic one goes with it */
	test_cmd_mock_detach(stdev_id);
	test_cmd_mock_device_on(stdev_id, 0, MOCK_DEV_ON_BLOCKED);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_b));
	test_ioctl_destroy(ioas_a);
	test_ioctl_destroy(ioas_b);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/* Every errno of a replace; after each the device is where it was */
TEST_F(attach, replace_errnos)
{
	__u32 ioas_a, ioas_b, stdev_id, hwpt_a, idle_id, idev_id, s_dev;
	__u32 smmu_hwpt, n_id, n_hwpt, ns_id, ns_hwpt, snoop_hwpt, s2_dev;
	__u32 resv_id, resv_hwpt, id;

	test_ioctl_ioas_alloc(&ioas_a);
	test_ioctl_ioas_alloc(&ioas_b);
	test_cmd_mock_domain_flags(ioas_a, MOCK_FLAGS_DEVICE_SMMUV3, 0,
				   &stdev_id, &hwpt_a);

#define still_on_a()                                                           \
	do {                                                                   \
		test_cmd_mock_device_on(stdev_id, hwpt_a, MOCK_DEV_ON_HWPT);   \
		test_err(EBUSY, _test_ioctl_destroy(self->fd, hwpt_a));        \
	} while (0)

	/* Not attached: iommufd_device_replace()'s own check */
	bind_mock(0, 0, &idle_id, &idev_id);
	test_err(EINVAL, _test_cmd_mock_replace(self->fd, idle_id, ioas_a,
						NULL));
	/* No such object, or neither an IOAS nor a HW_PAGETABLE */
	test_err(ENOENT, _test_cmd_mock_replace(self->fd, stdev_id, 1U << 30,
						NULL));
	still_on_a();
	test_err(EINVAL, _test_cmd_mock_replace(self->fd, stdev_id, idev_id,
						NULL));
	still_on_a();
	/* A page table of another mock IOMMU, or of another SMMU instance */
	test_ioctl_hwpt_alloc(idev_id, ioas_b, &smmu_hwpt);
	test_err(EINVAL, _test_cmd_mock_replace(self->fd, stdev_id, smmu_hwpt,
						NULL));
	still_on_a();
	test_ioctl_destroy(smmu_hwpt);
	bind_mock(MOCK_FLAGS_DEVICE_SMMUV3, 0, NULL, &s_dev);
	test_ioctl_hwpt_alloc(s_dev, ioas_b, &smmu_hwpt);
	test_err(EINVAL, _test_cmd_mock_replace(self->fd, stdev_id, smmu_hwpt,
						NULL));
	still_on_a();
	test_ioctl_destroy(smmu_hwpt);
	/* The new IOAS has a mapping the new page table cannot hold */
	test_ioctl_ioas_map_fixed(ioas_b, self->buffer, PAGE_SIZE,
				  MOCK_SMMU_APERTURE_LAST + 1);
	test_err(EADDRINUSE, _test_cmd_mock_replace(self->fd, stdev_id, ioas_b,
						    NULL));
	still_on_a();
	test_ioctl_ioas_unmap(ioas_b, MOCK_SMMU_APERTURE_LAST + 1, PAGE_SIZE);
	/* The new page table was undone with its reservation */
	check_one_range(ioas_b, 0, UINT64_MAX);

	/* intel: a narrow unit moved where a mapping lies beyond its width */
	test_cmd_mock_domain_flags(ioas_a, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NARROW, 0, &n_id, &n_hwpt);
	test_ioctl_ioas_map_fixed(ioas_b, self->buffer, PAGE_SIZE,
				  MOCK_INTEL_NARROW_LAST + 1);
	test_err(EADDRINUSE, _test_cmd_mock_replace(self->fd, n_id, ioas_b,
						    NULL));
	test_cmd_mock_device_on(n_id, n_hwpt, MOCK_DEV_ON_HWPT);
	test_ioctl_ioas_unmap(ioas_b, MOCK_INTEL_NARROW_LAST + 1, PAGE_SIZE);

	/* A unit without snoop control onto an enforcing page table */
	test_cmd_mock_domain_flags(ioas_a, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NO_SNOOP, 0, &ns_id,
				   &ns_hwpt);
	bind_mock(MOCK_FLAGS_DEVICE_INTEL, 0, NULL, &s2_dev);
	test_ioctl_hwpt_alloc(s2_dev, ioas_b, &snoop_hwpt);
	test_cmd_hwpt_coherency(snoop_hwpt, 1);
	test_err(EINVAL, _test_cmd_mock_replace(self->fd, ns_id, snoop_hwpt,
						NULL));
	test_cmd_mock_device_on(ns_id, ns_hwpt, MOCK_DEV_ON_HWPT);
	/* By IOAS it gets a page table it can use */
	test_cmd_mock_replace(ns_id, ioas_b, &ns_hwpt);
	ASSERT_NE(snoop_hwpt, ns_hwpt);
	test_cmd_hwpt_coherency(ns_hwpt, 0);
	test_cmd_mock_device_on(ns_id, ns_hwpt, MOCK_DEV_ON_HWPT);

	/*
	 * By IOAS, the automatic page tables of other mock IOMMUs there are
	 * tried and refuse the device: it gets a new one
	 */
	test_cmd_mock_domain(ioas_b, &resv_id, &resv_hwpt, NULL);
	test_cmd_mock_replace(stdev_id, ioas_b, &id);
	ASSERT_NE(resv_hwpt, id);
	ASSERT_NE(ns_hwpt, id);
	test_cmd_mock_device_on(stdev_id, id, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_a));
#undef still_on_a
}

/*
 * By IOAS, an automatic page table the driver refuses for the device (an
 * enforcing one, for a unit without snoop control: refused by the driver's
 * attach, not by iommufd's checks) is rolled back and the next candidate,
 * here a new page table without enforcement, is used; the refused one
 * keeps its device.
 */
TEST_F(attach, replace_refused_candidate)
{
	__u32 ioas_a, ioas_b, sc_id, sc_hwpt, ns_id, ns_hwpt, id;
	__u64 allocs;

	test_ioctl_ioas_alloc(&ioas_a);
	test_ioctl_ioas_alloc(&ioas_b);
	test_cmd_mock_domain_flags(ioas_b, MOCK_FLAGS_DEVICE_INTEL, 0, &sc_id,
				   &sc_hwpt);
	test_cmd_hwpt_coherency(sc_hwpt, 1);
	test_cmd_mock_domain_flags(ioas_a, MOCK_FLAGS_DEVICE_INTEL |
				   MOCK_FLAGS_DEVICE_NO_SNOOP, 0, &ns_id,
				   &ns_hwpt);
	test_cmd_hwpt_coherency(ns_hwpt, 0);

	allocs = mock_domain_allocs(self->fd);
	test_cmd_mock_replace(ns_id, ioas_b, &id);
	ASSERT_NE(sc_hwpt, id);
	test_cmd_hwpt_coherency(id, 0);
	test_cmd_mock_device_on(ns_id, id, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(sc_id, sc_hwpt, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, ns_hwpt));
	/* The new one: refused with enforcement, then made without it */
	ASSERT_EQ(allocs + 2, mock_domain_allocs(self->fd));
}

/*
 * A mock IOMMU without the finalise op, like 6.1 amd or arm-smmu-v3: no
 * IOMMU_HWPT_ALLOC, and no replace that needs a new page table, with the
 * device left where it was; a replace to an automatic page table of the
 * IOAS that takes the device works.
 */
TEST_F(attach, replace_no_finalise)
{
	__u32 ioas_a, ioas_b, ioas_c, d0, d1, idev0, hwpt_a, hwpt_b, id;
	__u64 iova = MOCK_APERTURE_START;

	test_ioctl_ioas_alloc(&ioas_a);
	test_ioctl_ioas_alloc(&ioas_b);
	test_ioctl_ioas_alloc(&ioas_c);
	test_ioctl_ioas_map_fixed(ioas_b, self->buffer, BUFFER_SIZE, iova);
	bind_mock(MOCK_FLAGS_DEVICE_NO_FINALISE, 0, &d0, &idev0);
	test_cmd_mock_attach(d0, ioas_a, &hwpt_a);

	test_err(EOPNOTSUPP, _test_ioctl_hwpt_alloc(self->fd, idev0, ioas_a,
						    NULL));
	test_err(EOPNOTSUPP, _test_ioctl_hwpt_alloc(self->fd, idev0, ioas_c,
						    NULL));
	/* Nothing left behind in the IOAS */
	test_ioctl_destroy(ioas_c);

	/* A replace to an IOAS without an automatic page table */
	test_err(EOPNOTSUPP, _test_cmd_mock_replace(self->fd, d0, ioas_b,
						    NULL));
	test_cmd_mock_device_on(d0, hwpt_a, MOCK_DEV_ON_HWPT);
	test_err(EBUSY, _test_ioctl_destroy(self->fd, hwpt_a));
	check_one_range(ioas_b, 0, UINT64_MAX);

	/* Another device of its IOMMU made one in IOAS B: that one is used */
	test_cmd_mock_domain_flags(ioas_b, MOCK_FLAGS_DEVICE_SAME_INSTANCE, d0,
				   &d1, &hwpt_b);
	test_cmd_mock_replace(d0, ioas_b, &id);
	ASSERT_EQ(hwpt_b, id);
	test_cmd_mock_device_on(d0, hwpt_b, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(d1, hwpt_b, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_a));
	test_cmd_check_map(hwpt_b, iova, self->buffer, BUFFER_SIZE);

	/* Back to IOAS A, which has no page table left: refused */
	test_err(EOPNOTSUPP, _test_cmd_mock_replace(self->fd, d0, ioas_a,
						    NULL));
	test_cmd_mock_device_on(d0, hwpt_b, MOCK_DEV_ON_HWPT);
	/* By the ID of a page table it can use: works */
	test_cmd_mock_replace(d0, hwpt_b, &id);
	ASSERT_EQ(hwpt_b, id);

	test_cmd_mock_detach(d0);
	test_cmd_mock_device_on(d1, hwpt_b, MOCK_DEV_ON_HWPT);
	test_ioctl_destroy(ioas_a);
	test_err(EBUSY, _test_ioctl_destroy(self->fd, ioas_b));
}

/*
 * IOMMU_HWPT_ALLOC whose reply cannot be written: EFAULT, and the new
 * HW_PAGETABLE is undone (its ID is free again, its IOAS can go)
 */
TEST_F(attach, hwpt_alloc_efault)
{
	struct iommu_hwpt_alloc *cmd;
	__u32 ioas_id, stdev_id, idev_id, probe, id;

	test_ioctl_ioas_alloc(&ioas_id);
	bind_mock(0, 0, &stdev_id, &idev_id);
	/* The lowest free ID, which the HW_PAGETABLE would take */
	test_ioctl_ioas_alloc(&probe);
	test_ioctl_destroy(probe);

	cmd = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cmd);
	*cmd = (struct iommu_hwpt_alloc){
		.size = sizeof(*cmd),
		.dev_id = idev_id,
		.pt_id = ioas_id,
	};
	ASSERT_EQ(0, mprotect(cmd, PAGE_SIZE, PROT_READ));
	test_err(EFAULT, ioctl(self->fd, IOMMU_HWPT_ALLOC, cmd));
	ASSERT_EQ(0, munmap(cmd, PAGE_SIZE));

	test_ioctl_ioas_alloc(&id);
	ASSERT_EQ(probe, id);
	test_ioctl_destroy(id);
	test_ioctl_destroy(ioas_id);
}

/*
 * The whole group moves: both attached devices of one group end on the new
 * page table, by IOAS and by HW_PAGETABLE ID, and either detaches as
 * usual; a bound but unattached member follows the group's domain and can
 * only join where the group is.
 */
TEST_F(attach, replace_group)
{
	__u32 ioas_a, ioas_b, d[3], hwpt_a, hwpt_b, manual, id, idev;
	__u64 iova = MOCK_APERTURE_START;

	test_ioctl_ioas_alloc(&ioas_a);
	test_ioctl_ioas_alloc(&ioas_b);
	test_ioctl_ioas_map_fixed(ioas_b, self->buffer, BUFFER_SIZE, iova);
	bind_mock(0, 0, &d[0], &idev);
	bind_mock(MOCK_FLAGS_DEVICE_SAME_GROUP, d[0], &d[1], NULL);
	bind_mock(MOCK_FLAGS_DEVICE_SAME_GROUP, d[0], &d[2], NULL);
	test_cmd_mock_attach(d[0], ioas_a, &hwpt_a);
	test_cmd_mock_attach(d[1], ioas_a, &id);
	ASSERT_EQ(hwpt_a, id);

	test_cmd_mock_replace(d[1], ioas_b, &hwpt_b);
	test_cmd_mock_device_on(d[0], hwpt_b, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(d[1], hwpt_b, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(d[2], hwpt_b, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_a));
	test_cmd_check_map(hwpt_b, iova, self->buffer, BUFFER_SIZE);
	/* The unattached member can only join the group's new page table */
	test_err(EINVAL, _test_cmd_mock_attach(self->fd, d[2], ioas_a, NULL));
	test_cmd_mock_attach(d[2], ioas_b, &id);
	ASSERT_EQ(hwpt_b, id);
	test_cmd_mock_detach(d[2]);

	/* By ID, to a manual one of IOAS A */
	test_ioctl_hwpt_alloc(idev, ioas_a, &manual);
	test_cmd_mock_replace(d[0], manual, &id);
	ASSERT_EQ(manual, id);
	test_cmd_mock_device_on(d[0], manual, MOCK_DEV_ON_HWPT);
	test_cmd_mock_device_on(d[1], manual, MOCK_DEV_ON_HWPT);
	test_err(ENOENT, _test_ioctl_destroy(self->fd, hwpt_b));
	test_cmd_mock_detach(d[0]);
	test_cmd_mock_device_on(d[1], manual, MOCK_DEV_ON_HWPT);
	test_err(EBUSY, _test_ioctl_destroy(self->fd, manual));
	test_cmd_mock_detach(d[1]);
	test_cmd_mock_device_on(d[1], 0, MOCK_DEV_ON_BLOCKED);
	test_ioctl_destroy(manual);
	test_ioctl_destroy(ioas_a);
	test_ioctl_destroy(ioas_b);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
}

/*
 * In-kernel accesses (the mock driver's, IOMMU_TEST_OP_CREATE_ACCESS) on
 * every variant of iommufd_ioas: pins and copies share the memory
 * IOMMU_IOAS_MAP pinned, whatever page tables mirror the IOAS.
 */
#define ACCESS_PIN MOCK_ACCESS_NEEDS_PIN_PAGES

/*
 * The @which (out_first or out_last) unmap callback reported
 * [iova, iova + length)
 */
#define check_unmap_range(c, which, _iova, _length)                           \
	do {                                                                  \
		const struct mock_access_unmap_range *__r =                   \
			&(c).access_unmaps.which;                             \
		ASSERT_EQ((__u64)(_iova), __r->iova);                         \
		ASSERT_EQ((__u64)(_length), __r->length);                     \
	} while (0)

TEST_F(iommufd_ioas, access_pin_unpin)
{
	__u64 length = 16 * PAGE_SIZE;
	long pinned, locked;
	__u32 access_id, npages;

	test_ioctl_ioas_map_fixed(self->ioas_id, self->buffer, BUFFER_SIZE,
				  self->base);
	pinned = vm_pinned_kb();
	locked = vm_locked_kb();
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_id);
	/* The IOAS now keeps every mapping PAGE_SIZE aligned */
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, self->ioas_id));

	ASSERT_EQ(0, _test_cmd_access_pin(self->fd, access_id,
					  self->base + PAGE_SIZE, length,
					  self->buffer + PAGE_SIZE,
					  MOCK_ACCESS_RW_WRITE, &npages));
	ASSERT_EQ(16, npages);
	/* Twice the same range: two pins, each undone on its own */
	test_cmd_access_pin(access_id, self->base + PAGE_SIZE, length,
			    self->buffer + PAGE_SIZE, 0);
	/* Neither pinned nor charged a second time */
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 1);
	ASSERT_EQ(pinned, vm_pinned_kb());
	ASSERT_EQ(locked, vm_locked_kb());
	test_cmd_access_unmaps(access_id, 0, 2);

	test_cmd_access_unpin(access_id, self->base + PAGE_SIZE, length);
	test_cmd_access_unpin(access_id, self->base + PAGE_SIZE, length);
	test_err(ENOENT, _test_cmd_access_unpin(self->fd, access_id,
						self->base + PAGE_SIZE,
						length));
	test_cmd_access_unmaps(access_id, 0, 0);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 1);

	/* Nothing pinned: the unmap does not call the driver */
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);
	test_cmd_access_unmaps(access_id, 0, 0);
	test_cmd_check_refs(self->buffer, BUFFER_SIZE, 0);
	test_ioctl_destroy(access_id);
	ASSERT_EQ(self->alignment, ioas_alignment(self->fd, self->ioas_id));
}

TEST_F(iommufd_ioas, access_pin_unaligned)
{
	char *buf = self->buffer;
	struct iommu_test_cmd c;
	__u32 access_id, npages;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_id);

	/* 2 pages from byte 100 of a page: 3 pages of IOVA */
	ASSERT_EQ(0, _test_cmd_access_pin(self->fd, access_id, self->base + 100,
					  2 * PAGE_SIZE, buf + 100, 0,
					  &npages));
	ASSERT_EQ(3, npages);
	/* One byte at the end of a page */
	ASSERT_EQ(0, _test_cmd_access_pin(self->fd, access_id,
					  self->base + 8 * PAGE_SIZE - 1, 1,
					  buf + 8 * PAGE_SIZE - 1, 0, &npages));
	ASSERT_EQ(1, npages);
	/* The pages are checked: the wrong memory gives EINVAL */
	test_err(EINVAL, _test_cmd_access_pin(self->fd, access_id,
					      self->base + 100, PAGE_SIZE,
					      buf + PAGE_SIZE + 100, 0, NULL));
	test_cmd_access_unmaps(access_id, 0, 2);

	/* Unmapping everything hands back each pin, as pinned */
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);
	test_cmd_access_unmaps_c(access_id, 2, 0, &c);
	check_unmap_range(c, out_first, self->base + 100, 2 * PAGE_SIZE);
	check_unmap_range(c, out_last, self->base + 8 * PAGE_SIZE - 1, 1);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
	test_ioctl_destroy(access_id);
}

TEST_F(iommufd_ioas, access_two_areas)
{
	__u64 half = 8 * PAGE_SIZE;
	char *buf = self->buffer;
	struct iommu_test_cmd c;
	__u32 access_id, npages;
	char data[3 * PAGE_SIZE];

	/* Two mappings, contiguous in IOVA and in user memory */
	test_ioctl_ioas_map_fixed(self->ioas_id, buf, half, self->base);
	test_ioctl_ioas_map_fixed(self->ioas_id, buf + half, half,
				  self->base + half);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_id);

	/* A pin across both */
	ASSERT_EQ(0, _test_cmd_access_pin(self->fd, access_id,
					  self->base + half - 2 * PAGE_SIZE + 7,
					  4 * PAGE_SIZE,
					  buf + half - 2 * PAGE_SIZE + 7, 0,
					  &npages));
	ASSERT_EQ(5, npages);
	test_cmd_check_refs(buf, 2 * half, 1);
	/* And a copy across both */
	memset(data, 0x5a, sizeof(data));
	test_cmd_access_rw(access_id, self->base + half - PAGE_SIZE - 3, data,
			   sizeof(data), MOCK_ACCESS_RW_WRITE);
	ASSERT_EQ(0, memcmp(buf + half - PAGE_SIZE - 3, data, sizeof(data)));

	/*
	 * Unmapping the first mapping: the callback gets the pinned range
	 * clipped to it, and the mock driver unpins the whole pin
	 */
	test_ioctl_ioas_unmap(self->ioas_id, self->base, half);
	test_cmd_access_unmaps_c(access_id, 1, 0, &c);
	check_unmap_range(c, out_first, self->base + half - 2 * PAGE_SIZE + 7,
			  2 * PAGE_SIZE - 7);
	test_cmd_check_refs(buf, half, 0);
	test_cmd_check_refs(buf + half, half, 1);

	/* The second one is still usable */
	test_cmd_access_rw(access_id, self->base + half, data, PAGE_SIZE, 0);
	ASSERT_EQ(0, memcmp(buf + half, data, PAGE_SIZE));
	test_err(ENOENT, _test_cmd_access_rw(self->fd, access_id,
					     self->base + half - 1, data, 2,
					     0));
	test_cmd_access_pin(access_id, self->base + half, half, buf + half, 0);
	test_ioctl_ioas_unmap(self->ioas_id, self->base + half, half);
	test_cmd_access_unmaps_c(access_id, 1, 0, &c);
	check_unmap_range(c, out_first, self->base + half, half);
	test_cmd_check_refs(buf, 2 * half, 0);
	test_ioctl_destroy(access_id);
}

TEST_F(iommufd_ioas, access_copy)
{
	__u64 length = 16 * PAGE_SIZE;
	char *buf = self->buffer;
	__u32 ioas2_id, access_id;
	struct iommu_test_cmd c;
	__u64 iova = self->base;
	char text[16];
	long pinned;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, length, self->base);
	test_ioctl_ioas_alloc(&ioas2_id);
	pinned = vm_pinned_kb();
	ASSERT_EQ(0, _test_ioctl_ioas_copy(self->fd, ioas2_id, self->ioas_id,
					   self->base, length, &iova,
					   IOMMU_IOAS_MAP_FIXED_IOVA |
					   IOMMU_IOAS_MAP_RW));
	test_cmd_create_access(ioas2_id, ACCESS_PIN, &access_id);
	test_cmd_access_pin(access_id, iova + PAGE_SIZE, 4 * PAGE_SIZE,
			    buf + PAGE_SIZE, MOCK_ACCESS_RW_WRITE);
	/* The pages of the source mapping, pinned once */
	test_cmd_check_refs(buf, length, 1);
	ASSERT_EQ(pinned, vm_pinned_kb());
	strcpy(buf + 5 * PAGE_SIZE, "copied");
	memset(text, 0, sizeof(text));
	test_cmd_access_rw(access_id, iova + 5 * PAGE_SIZE, text, 7, 0);
	ASSERT_EQ(0, strcmp(text, "copied"));

	/* The source goes: the pin is in the copy, nothing to tell */
	test_ioctl_ioas_unmap(self->ioas_id, self->base, length);
	test_cmd_access_unmaps(access_id, 0, 1);
	test_cmd_check_refs(buf, length, 1);
	ASSERT_EQ(pinned, vm_pinned_kb());

	/* The copy goes: the driver unpins, the memory is unpinned */
	test_ioctl_ioas_unmap(ioas2_id, iova, length);
	test_cmd_access_unmaps_c(access_id, 1, 0, &c);
	check_unmap_range(c, out_first, iova + PAGE_SIZE, 4 * PAGE_SIZE);
	test_cmd_check_refs(buf, length, 0);
	test_ioctl_destroy(access_id);
	test_ioctl_destroy(ioas2_id);
}

TEST_F(iommufd_ioas, access_rw)
{
	__u32 access_id, pin_access_id, ro_ioas_id;
	unsigned char *buf = self->buffer;
	unsigned char data[2 * PAGE_SIZE];
	__u64 iova, i;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	/* Copies need no pinning access; any alignment */
	test_cmd_create_access(self->ioas_id, 0, &access_id);
	ASSERT_EQ(self->alignment, ioas_alignment(self->fd, self->ioas_id));

	for (i = 0; i != sizeof(data); i++)
		data[i] = i * 7 + 1;
	for (iova = self->base; iova < self->base + 2 * PAGE_SIZE;
	     iova += 1021) {
		test_cmd_access_rw(access_id, iova, data, sizeof(data) - 13,
				   MOCK_ACCESS_RW_WRITE);
		ASSERT_EQ(0, memcmp(buf + (iova - self->base), data,
				    sizeof(data) - 13));
		memset(data + 1000, 0, 100);
		test_cmd_access_rw(access_id, iova + 999, data + 1000, 100, 0);
		ASSERT_EQ(0, memcmp(buf + (iova - self->base) + 999,
				    data + 1000, 100));
		memcpy(data + 1000, buf + (iova - self->base) + 1000, 100);
	}
	/* The same from a kthread's point of view: no mm needed */
	memset(buf, 0xa5, PAGE_SIZE);
	test_cmd_access_rw(access_id, self->base, data, PAGE_SIZE,
			   MOCK_ACCESS_RW_KTHREAD);
	ASSERT_EQ(0, memcmp(buf, data, PAGE_SIZE));

	/* A pinning access sees the same bytes */
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &pin_access_id);
	test_cmd_access_pin(pin_access_id, self->base, PAGE_SIZE, buf, 0);
	test_cmd_access_rw(pin_access_id, self->base + 3, data, 10,
			   MOCK_ACCESS_RW_WRITE);
	ASSERT_EQ(0, memcmp(buf + 3, data, 10));
	test_cmd_access_unpin(pin_access_id, self->base, PAGE_SIZE);

	/* Read-only memory: reads work, writes and write pins get EPERM */
	test_ioctl_ioas_alloc(&ro_ioas_id);
	iova = self->base;
	ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, ro_ioas_id, buf,
					  4 * PAGE_SIZE, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_READABLE));
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_REPLACE,
				 ro_ioas_id);
	test_cmd_access_rw(access_id, iova, data, PAGE_SIZE, 0);
	test_err(EPERM, _test_cmd_access_rw(self->fd, access_id, iova, data,
					    PAGE_SIZE, MOCK_ACCESS_RW_WRITE));
	test_cmd_access_set_ioas(pin_access_id, MOCK_ACCESS_IOAS_REPLACE,
				 ro_ioas_id);
	test_err(EPERM, _test_cmd_access_pin(self->fd, pin_access_id, iova,
					     PAGE_SIZE, buf,
					     MOCK_ACCESS_RW_WRITE, NULL));
	test_cmd_access_pin(pin_access_id, iova, PAGE_SIZE, buf, 0);
	/* Two mappings of the same memory: pinned by each, not by the pin */
	test_cmd_check_refs(buf, 4 * PAGE_SIZE, 2);
	test_cmd_check_refs(buf + 4 * PAGE_SIZE, BUFFER_SIZE - 4 * PAGE_SIZE,
			    1);
	test_ioctl_destroy(pin_access_id);
	test_ioctl_destroy(access_id);
	test_ioctl_destroy(ro_ioas_id);
}

TEST_F(iommufd_ioas, access_unmap_ranges)
{
	__u32 access_a, access_b;
	char *buf = self->buffer;
	struct iommu_test_cmd c;
	__u64 unmapped;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_a);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_b);

	/* Far apart: never reported as one span */
	test_cmd_access_pin(access_a, self->base, PAGE_SIZE, buf, 0);
	test_cmd_access_pin(access_a, self->base + BUFFER_SIZE - PAGE_SIZE,
			    PAGE_SIZE, buf + BUFFER_SIZE - PAGE_SIZE, 0);
	test_cmd_access_pin(access_b, self->base + 10 * PAGE_SIZE + 5, 17,
			    buf + 10 * PAGE_SIZE + 5, 0);

	/* A range cutting the mapping: ENOENT, and nobody is asked */
	test_err(ENOENT, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						self->base, PAGE_SIZE, NULL));
	test_cmd_access_unmaps(access_a, 0, 2);

	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
					    UNMAP_ALL_IOVA, UNMAP_ALL_LENGTH,
					    &unmapped));
	ASSERT_EQ(BUFFER_SIZE, unmapped);
	test_cmd_access_unmaps_c(access_a, 2, 0, &c);
	check_unmap_range(c, out_first, self->base, PAGE_SIZE);
	check_unmap_range(c, out_last, self->base + BUFFER_SIZE - PAGE_SIZE,
			  PAGE_SIZE);
	test_cmd_access_unmaps_c(access_b, 1, 0, &c);
	check_unmap_range(c, out_first, self->base + 10 * PAGE_SIZE + 5, 17);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
	test_ioctl_destroy(access_a);
	test_ioctl_destroy(access_b);
}

TEST_F(iommufd_ioas, access_ioas_destroy)
{
	char *buf = self->buffer;
	struct iommu_test_cmd c;
	__u32 access_id;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_id);
	test_cmd_access_pin(access_id, self->base + PAGE_SIZE, 2 * PAGE_SIZE,
			    buf + PAGE_SIZE, 0);

	/* The attached access holds the IOAS, like a device */
	test_err(EBUSY, _test_ioctl_destroy(self->fd, self->ioas_id));
	test_cmd_access_unmaps(access_id, 0, 1);

	/*
	 * Leaving the IOAS, the driver is asked to unpin what it pinned
	 * there, whole; then the IOAS can go, unpinning the memory
	 */
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_DETACH, 0);
	test_cmd_access_unmaps_c(access_id, 1, 0, &c);
	check_unmap_range(c, out_first, self->base + PAGE_SIZE, 2 * PAGE_SIZE);
	test_cmd_check_refs(buf, BUFFER_SIZE, 1);
	if (variant->mock_domains) {
		test_err(EBUSY, _test_ioctl_destroy(self->fd, self->ioas_id));
		for (unsigned int i = 0; i != variant->mock_domains; i++)
			test_ioctl_destroy(self->stdev_ids[i]);
	}
	test_ioctl_destroy(self->ioas_id);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
	test_err(EINVAL, _test_cmd_access_pin(self->fd, access_id, self->base,
					      PAGE_SIZE, NULL, 0, NULL));
	test_err(EINVAL, _test_cmd_access_rw(self->fd, access_id, self->base,
					     buf, 1, 0));
	test_ioctl_destroy(access_id);
}

TEST_F(iommufd_ioas, access_replace)
{
	__u32 ioas2_id, ioas3_id, access_id, buggy_id;
	char *buf = self->buffer;
	struct iommu_test_cmd c;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_ioctl_ioas_alloc(&ioas2_id);
	test_ioctl_ioas_map_fixed(ioas2_id, buf, 8 * PAGE_SIZE, self->base);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_id);
	test_cmd_access_pin(access_id, self->base, PAGE_SIZE, buf, 0);

	/* Same IOAS: nothing happens */
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_REPLACE,
				 self->ioas_id);
	test_cmd_access_unmaps(access_id, 0, 1);

	/* Moving gives the pins of the old IOAS back first */
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_REPLACE,
				 ioas2_id);
	test_cmd_access_unmaps_c(access_id, 1, 0, &c);
	check_unmap_range(c, out_first, self->base, PAGE_SIZE);
	test_cmd_access_pin(access_id, self->base + PAGE_SIZE, PAGE_SIZE,
			    buf + PAGE_SIZE, 0);
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, ioas2_id));
	ASSERT_EQ(self->alignment, ioas_alignment(self->fd, self->ioas_id));

	/* The old IOAS no longer reaches the access, the new one does */
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);
	test_cmd_access_unmaps(access_id, 0, 1);
	test_ioctl_ioas_unmap(ioas2_id, self->base, 8 * PAGE_SIZE);
	test_cmd_access_unmaps_c(access_id, 1, 0, &c);
	check_unmap_range(c, out_first, self->base + PAGE_SIZE, PAGE_SIZE);

	/* A driver that keeps its pins cannot be moved: EBUSY */
	test_ioctl_ioas_map_fixed(ioas2_id, buf, 8 * PAGE_SIZE, self->base);
	test_cmd_create_access(ioas2_id, ACCESS_PIN | MOCK_ACCESS_NO_UNPIN,
			       &buggy_id);
	test_cmd_access_pin(buggy_id, self->base, PAGE_SIZE, buf, 0);
	test_ioctl_ioas_alloc(&ioas3_id);
	test_err(EBUSY, _test_cmd_access_set_ioas(self->fd, buggy_id,
						  MOCK_ACCESS_IOAS_REPLACE,
						  ioas3_id));
	test_cmd_access_unmaps(buggy_id, 3, 1);
	/*
	 * Nothing changed: the new IOAS was left as it was, and the access
	 * is still on the old one
	 */
	ASSERT_EQ(1, ioas_alignment(self->fd, ioas3_id));
	test_cmd_access_rw(buggy_id, self->base, buf, 1, 0);
	/* Still on the old IOAS, which still sees the pin */
	test_err(EDEADLOCK, _test_ioctl_ioas_unmap(self->fd, ioas2_id,
						   self->base, 8 * PAGE_SIZE,
						   NULL));
	/* Without access_id, only the pinning buggy_id aligns ioas2 */
	test_ioctl_destroy(access_id);
	ASSERT_EQ(PAGE_SIZE, ioas_alignment(self->fd, ioas2_id));
	test_cmd_access_unpin(buggy_id, self->base, PAGE_SIZE);
	test_cmd_access_set_ioas(buggy_id, MOCK_ACCESS_IOAS_REPLACE,
				 ioas3_id);
	ASSERT_EQ(1, ioas_alignment(self->fd, ioas2_id));
	test_ioctl_destroy(buggy_id);
	test_ioctl_destroy(ioas3_id);
	test_ioctl_destroy(ioas2_id);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
}

/*
 * A buggy driver that never unpins: the unmap fails with EDEADLOCK after
 * asking a bounded number of times, and nothing is unmapped.  A real
 * driver would get a WARN_ONCE; the mock's NO_UNPIN access is the one
 * access that does not, so the guest log stays clean.
 */
TEST_F(iommufd_ioas, access_buggy_driver)
{
	char *buf = self->buffer;
	struct iommu_test_cmd c;
	__u64 unmapped;
	__u32 access_id;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_cmd_create_access(self->ioas_id,
			       ACCESS_PIN | MOCK_ACCESS_NO_UNPIN, &access_id);
	test_cmd_access_pin(access_id, self->base, PAGE_SIZE, buf, 0);

	unmapped = 1;
	test_err(EDEADLOCK, _test_ioctl_ioas_unmap(self->fd, self->ioas_id,
						   self->base, BUFFER_SIZE,
						   &unmapped));
	ASSERT_EQ(0, unmapped);
	test_cmd_access_unmaps_c(access_id, 3, 1, &c);
	check_unmap_range(c, out_first, self->base, PAGE_SIZE);
	check_unmap_range(c, out_last, self->base, PAGE_SIZE);
	/* Nothing was removed */
	check_domains(self->base, buf, BUFFER_SIZE);
	test_cmd_access_rw(access_id, self->base + PAGE_SIZE, buf, 1, 0);
	test_cmd_check_refs(buf, BUFFER_SIZE, 1);

	/* Unpinned by hand, the unmap goes through */
	test_cmd_access_unpin(access_id, self->base, PAGE_SIZE);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);
	test_cmd_access_unmaps(access_id, 0, 0);

	/*
	 * Detached with pins kept: they keep the memory until the access
	 * is destroyed (all the memory of the mapping: a pin holds the
	 * pinned memory of the mappings it crosses), and the IOAS no longer
	 * sees them
	 */
	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_cmd_access_pin(access_id, self->base, PAGE_SIZE, buf, 0);
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_DETACH, 0);
	test_cmd_access_unmaps(access_id, 3, 1);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);
	test_cmd_access_unmaps(access_id, 0, 1);
	test_cmd_check_refs(buf, BUFFER_SIZE, 1);
	test_ioctl_destroy(access_id);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
}

TEST_F(iommufd_ioas, access_errnos)
{
	__u32 access_id, obj_id, rw_access_id, ioas2_id;
	char *buf = self->buffer;
	__u64 iova;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, 8 * PAGE_SIZE,
				  self->base);

	/* Create */
	test_err(EOPNOTSUPP, _test_cmd_create_access(self->fd, self->ioas_id,
						     1 << 2, NULL, NULL));
	test_err(ENOENT, _test_cmd_create_access(self->fd, 99999, ACCESS_PIN,
						 NULL, NULL));
	ASSERT_EQ(0, _test_cmd_create_access(self->fd, self->ioas_id,
					     ACCESS_PIN, &access_id, &obj_id));
	ASSERT_NE(access_id, obj_id);
	/* The ACCESS object belongs to its driver */
	test_err(EBUSY, _test_ioctl_destroy(self->fd, obj_id));
	test_cmd_create_access(0, 0, &rw_access_id);

	/* Which object */
	test_err(ENOENT, _test_cmd_access_pin(self->fd, 99999, self->base,
					      PAGE_SIZE, NULL, 0, NULL));
	test_err(ENOENT, _test_cmd_access_pin(self->fd, self->ioas_id,
					      self->base, PAGE_SIZE, NULL, 0,
					      NULL));
	test_err(ENOENT, _test_cmd_access_pin(self->fd, obj_id, self->base,
					      PAGE_SIZE, NULL, 0, NULL));
	if (variant->mock_domains)
		test_err(ENOENT, _test_cmd_access_pin(self->fd,
						      self->stdev_ids[0],
						      self->base, PAGE_SIZE,
						      NULL, 0, NULL));
	test_err(ENOENT, _test_cmd_access_unmaps(self->fd, self->ioas_id,
						 &(struct iommu_test_cmd){}));

	/* Pin */
	test_err(EOPNOTSUPP, _test_cmd_access_pin(self->fd, access_id,
						  self->base, PAGE_SIZE, NULL,
						  MOCK_ACCESS_RW_KTHREAD,
						  NULL));
	test_err(EINVAL, _test_cmd_access_pin(self->fd, access_id, self->base,
					      0, NULL, 0, NULL));
	test_err(EINVAL, _test_cmd_access_pin(self->fd, access_id, self->base,
					      MOCK_ACCESS_MAX_LENGTH + 1, NULL,
					      0, NULL));
	test_err(EOVERFLOW, _test_cmd_access_pin(self->fd, access_id,
						 UINT64_MAX - 10, 100, NULL,
						 0, NULL));
	test_err(ENOENT, _test_cmd_access_pin(self->fd, access_id, 0,
					      PAGE_SIZE, NULL, 0, NULL));
	test_err(ENOENT, _test_cmd_access_pin(self->fd, access_id,
					      self->base + 7 * PAGE_SIZE,
					      2 * PAGE_SIZE, NULL, 0, NULL));
	test_err(ENOENT, _test_cmd_access_pin(self->fd, access_id,
					      self->base - 1, 2, NULL, 0,
					      NULL));
	/* The user address must have the offset of the IOVA in its page */
	test_err(EINVAL, _test_cmd_access_pin(self->fd, access_id, self->base,
					      PAGE_SIZE, buf + 1, 0, NULL));
	/* An access that does not pin pages cannot */
	test_err(EINVAL, _test_cmd_access_pin(self->fd, rw_access_id,
					      self->base, PAGE_SIZE, NULL, 0,
					      NULL));

	/* Unpin: only what was pinned, exactly */
	test_cmd_access_pin(access_id, self->base, 2 * PAGE_SIZE, buf, 0);
	test_err(ENOENT, _test_cmd_access_unpin(self->fd, access_id,
						self->base, PAGE_SIZE));
	test_err(ENOENT, _test_cmd_access_unpin(self->fd, access_id,
						self->base + PAGE_SIZE,
						PAGE_SIZE));
	test_err(ENOENT, _test_cmd_access_unpin(self->fd, rw_access_id,
						self->base, 2 * PAGE_SIZE));
	test_cmd_access_unpin(access_id, self->base, 2 * PAGE_SIZE);

	/* Rw */
	test_err(EINVAL, _test_cmd_access_rw(self->fd, rw_access_id,
					     self->base, buf, 1, 0));
	test_cmd_access_set_ioas(rw_access_id, MOCK_ACCESS_IOAS_ATTACH,
				 self->ioas_id);
	test_err(EOPNOTSUPP, _test_cmd_access_rw(self->fd, rw_access_id,
						 self->base, buf, 1, 1 << 2));
	test_err(EINVAL, _test_cmd_access_rw(self->fd, rw_access_id,
					     self->base, buf, 0, 0));
	test_err(EOVERFLOW, _test_cmd_access_rw(self->fd, rw_access_id,
						UINT64_MAX, buf, 2, 0));
	test_err(ENOENT, _test_cmd_access_rw(self->fd, rw_access_id,
					     self->base + 8 * PAGE_SIZE - 1,
					     buf, 2, 0));
	test_err(EFAULT, _test_cmd_access_rw(self->fd, rw_access_id,
					     self->base, NULL, 1, 0));
	test_err(EFAULT, _test_cmd_access_rw(self->fd, rw_access_id,
					     self->base, NULL, 1,
					     MOCK_ACCESS_RW_WRITE));

	/* Attach, replace, detach */
	test_err(EOPNOTSUPP, _test_cmd_access_set_ioas(self->fd, access_id, 3,
						       self->ioas_id));
	test_err(EINVAL, _test_cmd_access_set_ioas(self->fd, access_id,
						   MOCK_ACCESS_IOAS_ATTACH,
						   self->ioas_id));
	test_err(EINVAL, _test_cmd_access_set_ioas(self->fd, access_id,
						   MOCK_ACCESS_IOAS_DETACH,
						   self->ioas_id));
	test_err(ENOENT, _test_cmd_access_set_ioas(self->fd, access_id,
						   MOCK_ACCESS_IOAS_REPLACE,
						   99999));
	test_err(ENOENT, _test_cmd_access_set_ioas(self->fd, access_id,
						   MOCK_ACCESS_IOAS_REPLACE,
						   access_id));
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_DETACH, 0);
	test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_DETACH, 0);
	test_err(EINVAL, _test_cmd_access_set_ioas(self->fd, access_id,
						   MOCK_ACCESS_IOAS_REPLACE,
						   self->ioas_id));

	/*
	 * A pinning access needs PAGE_SIZE aligned mappings, and keeps
	 * them so while attached
	 */
	if (self->alignment < PAGE_SIZE) {
		test_ioctl_ioas_alloc(&ioas2_id);
		iova = self->base + MOCK_IO_PAGE_SIZE;
		ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, ioas2_id,
						  buf + MOCK_IO_PAGE_SIZE,
						  MOCK_IO_PAGE_SIZE, &iova,
						  IOMMU_IOAS_MAP_FIXED_IOVA |
						  IOMMU_IOAS_MAP_RW));
		test_err(EADDRINUSE,
			 _test_cmd_access_set_ioas(self->fd, access_id,
						   MOCK_ACCESS_IOAS_ATTACH,
						   ioas2_id));
		test_ioctl_ioas_unmap(ioas2_id, iova, MOCK_IO_PAGE_SIZE);
		test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_ATTACH,
					 ioas2_id);
		test_err(EINVAL, _test_ioctl_ioas_map(self->fd, ioas2_id,
						      buf + MOCK_IO_PAGE_SIZE,
						      MOCK_IO_PAGE_SIZE, &iova,
						      IOMMU_IOAS_MAP_FIXED_IOVA |
						      IOMMU_IOAS_MAP_RW));
		test_cmd_access_set_ioas(access_id, MOCK_ACCESS_IOAS_DETACH,
					 0);
		test_ioctl_destroy(ioas2_id);
	}

	test_ioctl_destroy(access_id);
	test_ioctl_destroy(rw_access_id);
	/* The ACCESS object went with it */
	test_err(ENOENT, _test_ioctl_destroy(self->fd, obj_id));
}

/* Closing the context destroys the accesses and what they still pin */
TEST_F(iommufd_ioas, access_close)
{
	__u32 ioas_id, access_id, buggy_id;
	char *buf = self->buffer;
	__u64 iova;
	long pinned;
	int fd;

	pinned = vm_pinned_kb();
	fd = iommufd_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(fd, &ioas_id));
	ASSERT_EQ(0, _test_ioctl_ioas_map(fd, ioas_id, buf, BUFFER_SIZE, &iova,
					  IOMMU_IOAS_MAP_RW));
	ASSERT_EQ(0, _test_cmd_create_access(fd, ioas_id, ACCESS_PIN,
					     &access_id, NULL));
	ASSERT_EQ(0, _test_cmd_create_access(fd, ioas_id,
					     ACCESS_PIN | MOCK_ACCESS_NO_UNPIN,
					     &buggy_id, NULL));
	ASSERT_EQ(0, _test_cmd_access_pin(fd, access_id, iova, PAGE_SIZE, buf,
					  0, NULL));
	ASSERT_EQ(0, _test_cmd_access_pin(fd, buggy_id, iova + PAGE_SIZE,
					  PAGE_SIZE, buf + PAGE_SIZE, 0, NULL));
	test_cmd_check_refs(buf, BUFFER_SIZE, 1);
	ASSERT_EQ(0, close(fd));
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
	ASSERT_EQ(pinned, vm_pinned_kb());
}

/*
 * IOMMU_TEST_OP_ACCESS_UNMAPS resets its record only once user space has
 * it: a reply that cannot be written back loses nothing
 */
TEST_F(iommufd_ioas, access_unmaps_efault)
{
	char *buf = self->buffer;
	struct iommu_test_cmd c, *ro;
	__u32 access_id;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	test_cmd_create_access(self->ioas_id, ACCESS_PIN, &access_id);
	test_cmd_access_pin(access_id, self->base, PAGE_SIZE, buf, 0);
	test_cmd_access_pin(access_id, self->base + 2 * PAGE_SIZE, PAGE_SIZE,
			    buf + 2 * PAGE_SIZE, 0);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);

	/* The command can be read, the reply cannot be written */
	ro = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	*ro = (struct iommu_test_cmd){
		.size = sizeof(*ro),
		.op = IOMMU_TEST_OP_ACCESS_UNMAPS,
		.id = access_id,
	};
	ASSERT_EQ(0, mprotect(ro, PAGE_SIZE, PROT_READ));
	test_err(EFAULT, ioctl(self->fd, IOMMU_TEST_CMD, ro));
	ASSERT_EQ(0, munmap(ro, PAGE_SIZE));

	/* Still all there, then reset */
	test_cmd_access_unmaps_c(access_id, 2, 0, &c);
	check_unmap_range(c, out_first, self->base, PAGE_SIZE);
	check_unmap_range(c, out_last, self->base + 2 * PAGE_SIZE, PAGE_SIZE);
	test_cmd_access_unmaps(access_id, 0, 0);
	test_cmd_check_refs(buf, BUFFER_SIZE, 0);
	test_ioctl_destroy(access_id);
}

/*
 * The access ops fit in struct iommu_test_cmd as it was before them, 64
 * bytes: a program that passes that size can use them
 */
TEST_F(iommufd_ioas, access_cmd_size)
{
	char *buf = self->buffer;
	struct iommu_test_cmd c = {
		.size = 64,
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = self->ioas_id,
		.access_create = { .flags = ACCESS_PIN },
	};
	__u32 access_id;

	test_ioctl_ioas_map_fixed(self->ioas_id, buf, BUFFER_SIZE, self->base);
	ASSERT_EQ(0, ioctl(self->fd, IOMMU_TEST_CMD, &c));
	access_id = c.access_create.out_access_id;

	c = (struct iommu_test_cmd){
		.size = 64,
		.op = IOMMU_TEST_OP_ACCESS_PIN,
		.id = access_id,
		.access_pages = { .iova = self->base + PAGE_SIZE,
				  .length = 2 * PAGE_SIZE,
				  .uptr = (uintptr_t)buf + PAGE_SIZE },
	};
	ASSERT_EQ(0, ioctl(self->fd, IOMMU_TEST_CMD, &c));
	ASSERT_EQ(2, c.access_pages.out_npages);
	test_ioctl_ioas_unmap(self->ioas_id, self->base, BUFFER_SIZE);

	c = (struct iommu_test_cmd){
		.size = 64,
		.op = IOMMU_TEST_OP_ACCESS_UNMAPS,
		.id = access_id,
	};
	ASSERT_EQ(0, ioctl(self->fd, IOMMU_TEST_CMD, &c));
	ASSERT_EQ(1, c.access_unmaps.out_count);
	ASSERT_EQ(0, c.access_unmaps.out_pins);
	check_unmap_range(c, out_first, self->base + PAGE_SIZE, 2 * PAGE_SIZE);
	check_unmap_range(c, out_last, self->base + PAGE_SIZE, 2 * PAGE_SIZE);
	test_ioctl_destroy(access_id);
}

TEST_HARNESS_MAIN
