/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for the iommufd selftests.
 *
 * The _test_*() functions issue one ioctl and return its result (0, or -1
 * with errno set) so that a test can check either outcome.  The test_*()
 * macros wrap them for the common case: they use self->fd and ASSERT that
 * the call succeeds.  test_err(errno, call) asserts a failure with errno.
 * Include ../kselftest_harness.h first to use the macros.
 */
#ifndef __SELFTEST_IOMMUFD_UTILS_H
#define __SELFTEST_IOMMUFD_UTILS_H

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#ifndef PAGE_SIZE
#define PAGE_SIZE 4096UL
#endif
#define HUGEPAGE_SIZE (2UL << 20)

#include "../../../../drivers/iommu/iommufd/iommufd_test.h"

/* As the kernel's static_assert in iommufd_test.h: the access ops fit */
static_assert(sizeof(struct iommu_test_cmd) == 64,
	      "struct iommu_test_cmd must stay 64 bytes");

#define IOMMU_IOAS_MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

/* The (0, U64_MAX) pair of IOMMU_IOAS_UNMAP removes every mapping */
#define UNMAP_ALL_IOVA 0
#define UNMAP_ALL_LENGTH UINT64_MAX

/* Assert that @call fails with @err */
#define test_err(err, call)                                                   \
	do {                                                                  \
		ASSERT_EQ(-1, call);                                          \
		ASSERT_EQ(err, errno);                                        \
	} while (0)

/*
 * SKIP() in a FIXTURE_SETUP() of the 6.1 harness still runs the test body:
 * report the skip and end the test process here instead.
 */
#define SKIP_TEST(fmt, ...)                                                   \
	SKIP(do { fflush(NULL); _exit(255); } while (0), fmt, ##__VA_ARGS__)

static inline int iommufd_open(void)
{
	return open("/dev/iommu", O_RDWR | O_CLOEXEC);
}

/* False when the kernel lacks IOMMU_TEST_CMD (CONFIG_IOMMUFD_TEST=n) */
static inline bool iommufd_test_supported(int fd)
{
	/* Any answer but ENOTTY will do: nothing to check, nothing changes */
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd) == 0 || errno != ENOTTY;
}

/*
 * Issue @nr with a copy of @cmd whose size field says @user_size.  The
 * bytes from @kernel_size to @user_size are zero, except the last one which
 * is @tail.  The first @kernel_size bytes are copied back to @cmd.
 */
static inline int ioctl_sized(int fd, unsigned long nr, void *cmd,
			      size_t kernel_size, size_t user_size,
			      unsigned char tail)
{
	size_t len = kernel_size > user_size ? kernel_size : user_size;
	unsigned char *buf;
	__u32 size = user_size;
	int saved_errno;
	int rc;

	buf = calloc(1, len);
	if (!buf)
		return -1;
	memcpy(buf, cmd, kernel_size);
	memcpy(buf, &size, sizeof(size));
	if (user_size > kernel_size)
		buf[user_size - 1] = tail;
	rc = ioctl(fd, nr, buf);
	saved_errno = errno;
	memcpy(cmd, buf, kernel_size);
	free(buf);
	errno = saved_errno;
	return rc;
}

static inline int _test_ioctl_destroy(int fd, __u32 id)
{
	struct iommu_destroy cmd = {
		.size = sizeof(cmd),
		.id = id,
	};

	return ioctl(fd, IOMMU_DESTROY, &cmd);
}

#define test_ioctl_destroy(id) ASSERT_EQ(0, _test_ioctl_destroy(self->fd, id))

static inline int _test_ioctl_ioas_alloc(int fd, __u32 *id)
{
	struct iommu_ioas_alloc cmd = {
		.size = sizeof(cmd),
	};
	int rc;

	rc = ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);
	if (!rc)
		*id = cmd.out_ioas_id;
	return rc;
}

#define test_ioctl_ioas_alloc(idp)                                             \
	do {                                                                  \
		__u32 *__idp = (idp);                                         \
		ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->fd, __idp));        \
		ASSERT_NE(0, *__idp);                                         \
	} while (0)

/*
 * Map [@buf, @buf + @length).  With IOMMU_IOAS_MAP_FIXED_IOVA in @flags
 * *@iova is the IOVA to map at; *@iova returns the IOVA used.
 */
static inline int _test_ioctl_ioas_map(int fd, __u32 ioas_id, void *buf,
				       __u64 length, __u64 *iova, __u32 flags)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)buf,
		.length = length,
	};
	int rc;

	if (flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		cmd.iova = *iova;
	rc = ioctl(fd, IOMMU_IOAS_MAP, &cmd);
	if (!rc)
		*iova = cmd.iova;
	return rc;
}

/* Map read/write at the fixed IOVA @iova */
#define test_ioctl_ioas_map_fixed(ioas_id, buf, length, iova)                 \
	do {                                                                  \
		__u64 __want = (iova), __iova = __want;                       \
		ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, ioas_id, buf,     \
						  length, &__iova,            \
						  IOMMU_IOAS_MAP_FIXED_IOVA | \
						  IOMMU_IOAS_MAP_RW));        \
		ASSERT_EQ(__want, __iova);                                    \
	} while (0)

/* Map read/write at an IOVA chosen by the kernel, returned in *@iovap */
#define test_ioctl_ioas_map(ioas_id, buf, length, iovap)                      \
	ASSERT_EQ(0, _test_ioctl_ioas_map(self->fd, ioas_id, buf, length,     \
					  iovap, IOMMU_IOAS_MAP_RW))

static inline int _test_ioctl_ioas_unmap(int fd, __u32 ioas_id, __u64 iova,
					 __u64 length, __u64 *out_len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
	int rc;

	rc = ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);
	if (out_len)
		*out_len = rc ? 0 : cmd.length;
	return rc;
}

/* Unmap [iova, iova + length) and check that exactly @length went away */
#define test_ioctl_ioas_unmap(ioas_id, iova, length)                          \
	do {                                                                  \
		__u64 __length = (length), __len;                             \
		ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->fd, ioas_id, iova,  \
						    __length, &__len));       \
		ASSERT_EQ(__length, __len);                                   \
	} while (0)

static inline int _test_ioctl_ioas_copy(int fd, __u32 dst_ioas_id,
					__u32 src_ioas_id, __u64 src_iova,
					__u64 length, __u64 *dst_iova,
					__u32 flags)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dst_ioas_id = dst_ioas_id,
		.src_ioas_id = src_ioas_id,
		.length = length,
		.src_iova = src_iova,
	};
	int rc;

	if (flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		cmd.dst_iova = *dst_iova;
	rc = ioctl(fd, IOMMU_IOAS_COPY, &cmd);
	if (!rc)
		*dst_iova = cmd.dst_iova;
	return rc;
}

/*
 * Read the usable ranges of @ioas_id.  *@num is the capacity of @ranges on
 * input and the number of ranges on output (also on EMSGSIZE).
 */
static inline int _test_ioctl_iova_ranges(int fd, __u32 ioas_id,
					  struct iommu_iova_range *ranges,
					  __u32 *num, __u64 *alignment)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = *num,
		.allowed_iovas = (uintptr_t)ranges,
	};
	int rc;

	rc = ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd);
	if (!rc || errno == EMSGSIZE) {
		*num = cmd.num_iovas;
		if (alignment)
			*alignment = cmd.out_iova_alignment;
	}
	return rc;
}

/* Return the IOVA alignment of @ioas_id, 0 on error */
static inline __u64 ioas_alignment(int fd, __u32 ioas_id)
{
	struct iommu_iova_range ranges[16];
	__u32 num = 16;
	__u64 alignment;

	if (_test_ioctl_iova_ranges(fd, ioas_id, ranges, &num, &alignment))
		return 0;
	return alignment;
}

static inline int _test_ioctl_allow_iovas(int fd, __u32 ioas_id,
					  const struct iommu_iova_range *ranges,
					  __u32 num)
{
	struct iommu_ioas_allow_iovas cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = num,
		.allowed_iovas = (uintptr_t)ranges,
	};

	return ioctl(fd, IOMMU_IOAS_ALLOW_IOVAS, &cmd);
}

/* IOMMU_OPTION: *@val is the value to set or the value read */
static inline int _test_ioctl_option(int fd, __u32 option_id, __u16 op,
				     __u32 object_id, __u64 *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = option_id,
		.op = op,
		.object_id = object_id,
		.val64 = op == IOMMU_OPTION_OP_SET ? *val : 0,
	};
	int rc;

	rc = ioctl(fd, IOMMU_OPTION, &cmd);
	if (!rc && op == IOMMU_OPTION_OP_GET)
		*val = cmd.val64;
	return rc;
}

static inline int _test_ioctl_set_option(int fd, __u32 option_id,
					 __u32 object_id, __u64 val)
{
	return _test_ioctl_option(fd, option_id, IOMMU_OPTION_OP_SET,
				  object_id, &val);
}

#define test_ioctl_set_option(option_id, object_id, val)                      \
	ASSERT_EQ(0, _test_ioctl_set_option(self->fd, option_id, object_id,   \
					    val))

/* Assert that option @option_id of @object_id reads @val */
#define test_ioctl_check_option(option_id, object_id, val)                    \
	do {                                                                  \
		__u64 __val = ~0ULL;                                          \
		ASSERT_EQ(0, _test_ioctl_option(self->fd, option_id,          \
						IOMMU_OPTION_OP_GET,          \
						object_id, &__val));          \
		ASSERT_EQ((__u64)(val), __val);                               \
	} while (0)

/*
 * Create a mock device, bind it and attach it to @ioas_id.  Any of the
 * output pointers may be NULL.
 */
static inline int _test_cmd_mock_domain(int fd, __u32 ioas_id, __u32 *stdev_id,
					__u32 *hwpt_id, __u32 *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (rc)
		return rc;
	if (stdev_id)
		*stdev_id = cmd.mock_domain.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain.out_idev_id;
	return 0;
}

#define test_cmd_mock_domain(ioas_id, stdev_id, hwpt_id, idev_id)             \
	ASSERT_EQ(0, _test_cmd_mock_domain(self->fd, ioas_id, stdev_id,       \
					   hwpt_id, idev_id))

static inline int _test_cmd_add_reserved(int fd, __u32 ioas_id, __u64 start,
					 __u64 length)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ADD_RESERVED,
		.id = ioas_id,
		.add_reserved = { .start = start, .length = length },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#define test_cmd_add_reserved(ioas_id, start, length)                         \
	ASSERT_EQ(0, _test_cmd_add_reserved(self->fd, ioas_id, start, length))

/*
 * Check that HW_PAGETABLE @hwpt_id maps [iova, iova + length) to @uptr;
 * *@max_map returns the largest single map operation seen (may be NULL).
 */
static inline int _test_cmd_check_map(int fd, __u32 hwpt_id, __u64 iova,
				      void *uptr, __u64 length, __u64 *max_map)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt_id,
		.check_map = {
			.iova = iova,
			.length = length,
			.uptr = (uintptr_t)uptr,
		},
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (!rc && max_map)
		*max_map = cmd.check_map.out_max_map_size;
	return rc;
}

#define test_cmd_check_map(hwpt_id, iova, uptr, length)                       \
	ASSERT_EQ(0, _test_cmd_check_map(self->fd, hwpt_id, iova, uptr,       \
					 length, NULL))

/* Check that every page of [uptr, uptr + length) has @refs pins */
static inline int _test_cmd_check_refs(int fd, void *uptr, __u64 length,
				       __u32 refs)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = {
			.length = length,
			.uptr = (uintptr_t)uptr,
			.refs = refs,
		},
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#define test_cmd_check_refs(uptr, length, refs)                               \
	ASSERT_EQ(0, _test_cmd_check_refs(self->fd, uptr, length, refs))

static inline int _test_cmd_set_temp_memory_limit(int fd, __u32 limit)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
		.memory_limit = { .limit = limit },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

/* IOMMU_TEST_OP_IOAS_METADATA of @ioas_id into *@cmd */
static inline int _test_cmd_ioas_metadata(int fd, __u32 ioas_id,
					  struct iommu_test_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->op = IOMMU_TEST_OP_IOAS_METADATA;
	cmd->id = ioas_id;
	return ioctl(fd, IOMMU_TEST_CMD, cmd);
}

/* Read an unsigned number from a sysfs or procfs file; -1 on error */
static inline long long read_file_num(const char *path)
{
	long long val = -1;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* The max_areas parameter of iommufd: mappings one IOAS may hold */
#define IOMMUFD_MAX_AREAS_PATH "/sys/module/iommufd/parameters/max_areas"

/* Read "@key: N kB" from a status-like file, in kB; -1 if absent */
static inline long file_status_kb(const char *path, const char *key)
{
	size_t key_len = strlen(key);
	char line[256];
	long val = -1;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, key_len) && line[key_len] == ':') {
			val = strtol(line + key_len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* Read "@key: N kB" from /proc/self/status, in kB; -1 if absent */
static inline long proc_status_kb(const char *key)
{
	return file_status_kb("/proc/self/status", key);
}

/* mm->locked_vm and mm->pinned_vm of this process, in kB */
#define vm_locked_kb() proc_status_kb("VmLck")
#define vm_pinned_kb() proc_status_kb("VmPin")

/* AnonHugePages of the VMA holding @addr, in kB; -1 if not found */
static inline long vma_anon_huge_kb(void *addr)
{
	unsigned long start, end, target = (uintptr_t)addr;
	bool in_vma = false;
	char line[512];
	long val = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in_vma = target >= start && target < end;
			continue;
		}
		if (in_vma && !strncmp(line, "AnonHugePages:", 14)) {
			val = strtol(line + 14, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/*
 * Allocate @size bytes of anonymous memory aligned to HUGEPAGE_SIZE, ask
 * for transparent huge pages (or forbid them) and fault every page in.
 * *@base returns the start of the mapping to munmap() with @size +
 * HUGEPAGE_SIZE.
 */
static inline void *alloc_aligned_buffer(size_t size, bool huge, void **base)
{
	char *addr;
	void *map;
	size_t i;

	map = mmap(NULL, size + HUGEPAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	addr = (char *)(((uintptr_t)map + HUGEPAGE_SIZE - 1) &
			~(HUGEPAGE_SIZE - 1));
	madvise(addr, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < size; i += PAGE_SIZE)
		addr[i] = 1;
	*base = map;
	return addr;
}

/*
 * Whether transparent huge pages are configured so that madvise() gets
 * them: /sys/kernel/mm/transparent_hugepage/enabled says [always] or
 * [madvise].  False without CONFIG_TRANSPARENT_HUGEPAGE.
 */
static inline bool thp_configured(void)
{
	char line[128] = "";
	FILE *f;

	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strstr(line, "[always]") || strstr(line, "[madvise]");
}

/* Memory backed by 2 MiB pages, see alloc_huge_buffer() */
struct huge_buffer {
	char *buf;
	void *map;
	size_t map_len;
	bool hugetlb;
};

enum {
	HUGE_BUFFER_OK,
	/* THP is configured, yet no huge page was obtained: a failure */
	HUGE_BUFFER_THP_MISSING,
	/* Neither THP nor a hugetlb page to be had: a reason to skip */
	HUGE_BUFFER_NONE,
};

/*
 * @size bytes (a multiple of HUGEPAGE_SIZE) of private memory made of
 * 2 MiB pages: transparent huge pages if configured, else hugetlb pages
 * (MAP_HUGETLB, from the pool of the default 2 MiB size).  Release with
 * free_huge_buffer(), whatever the result.
 */
static inline int alloc_huge_buffer(struct huge_buffer *hb, size_t size)
{
	size_t i;

	memset(hb, 0, sizeof(*hb));
	if (thp_configured()) {
		hb->buf = alloc_aligned_buffer(size, true, &hb->map);
		if (!hb->buf)
			return HUGE_BUFFER_THP_MISSING;
		hb->map_len = size + HUGEPAGE_SIZE;
		if (vma_anon_huge_kb(hb->buf) < (long)(size / 1024))
			return HUGE_BUFFER_THP_MISSING;
		return HUGE_BUFFER_OK;
	}

	hb->map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (hb->map == MAP_FAILED) {
		hb->map = NULL;
		return HUGE_BUFFER_NONE;
	}
	hb->map_len = size;
	hb->hugetlb = true;
	hb->buf = hb->map;
	for (i = 0; i < size; i += PAGE_SIZE)
		hb->buf[i] = 1;
	return HUGE_BUFFER_OK;
}

static inline void free_huge_buffer(struct huge_buffer *hb)
{
	if (hb->map)
		munmap(hb->map, hb->map_len);
	hb->map = NULL;
}

/* Remove @cap from the effective, permitted and inheritable sets */
static inline int drop_capability(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[cap / 32].effective &= ~(1U << (cap % 32));
	data[cap / 32].permitted &= ~(1U << (cap % 32));
	data[cap / 32].inheritable &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &hdr, data);
}

/*
 * Create a mock device with MOCK_FLAGS_DEVICE_* @flags (@peer: selftest
 * object of the device the SAME_* flags name), bind it and, unless
 * MOCK_FLAGS_DEVICE_NO_ATTACH, attach it to @pt_id.  Any of the output
 * pointers may be NULL.
 */
static inline int _test_cmd_mock_domain_flags(int fd, __u32 pt_id, __u32 flags,
					      __u32 peer, __u32 *stdev_id,
					      __u32 *hwpt_id, __u32 *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = pt_id,
		.mock_domain_flags = { .dev_flags = flags,
				       .peer_stdev_id = peer },
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (rc)
		return rc;
	if (stdev_id)
		*stdev_id = cmd.mock_domain_flags.out_stdev_id;
	if (hwpt_id)
		*hwpt_id = cmd.mock_domain_flags.out_hwpt_id;
	if (idev_id)
		*idev_id = cmd.mock_domain_flags.out_idev_id;
	return 0;
}

#define test_cmd_mock_domain_flags(pt_id, flags, peer, stdev_id, hwpt_id)     \
	ASSERT_EQ(0, _test_cmd_mock_domain_flags(self->fd, pt_id, flags, peer, \
						 stdev_id, hwpt_id, NULL))

/* Attach the mock device of @stdev_id to IOAS or HW_PAGETABLE @pt_id */
static inline int _test_cmd_mock_attach(int fd, __u32 stdev_id, __u32 pt_id,
					__u32 *hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DEVICE_ATTACH,
		.id = stdev_id,
		.mock_attach = { .pt_id = pt_id },
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (!rc && hwpt_id)
		*hwpt_id = cmd.mock_attach.out_hwpt_id;
	return rc;
}

#define test_cmd_mock_attach(stdev_id, pt_id, hwpt_id)                         \
	ASSERT_EQ(0, _test_cmd_mock_attach(self->fd, stdev_id, pt_id, hwpt_id))

static inline int _test_cmd_mock_detach(int fd, __u32 stdev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DEVICE_DETACH,
		.id = stdev_id,
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#define test_cmd_mock_detach(stdev_id)                                         \
	ASSERT_EQ(0, _test_cmd_mock_detach(self->fd, stdev_id))

/*
 * Replace the page table of the attached mock device of @stdev_id with IOAS
 * or HW_PAGETABLE @pt_id (iommufd_device_replace())
 */
static inline int _test_cmd_mock_replace(int fd, __u32 stdev_id, __u32 pt_id,
					 __u32 *hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DEVICE_REPLACE,
		.id = stdev_id,
		.mock_attach = { .pt_id = pt_id },
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (!rc && hwpt_id)
		*hwpt_id = cmd.mock_attach.out_hwpt_id;
	return rc;
}

#define test_cmd_mock_replace(stdev_id, pt_id, hwpt_id)                        \
	ASSERT_EQ(0, _test_cmd_mock_replace(self->fd, stdev_id, pt_id, hwpt_id))

/* IOMMU_HWPT_ALLOC of a paging HW_PAGETABLE of IOAS @pt_id for @dev_id */
static inline int _test_ioctl_hwpt_alloc(int fd, __u32 dev_id, __u32 pt_id,
					 __u32 *hwpt_id)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.pt_id = pt_id,
	};
	int rc;

	rc = ioctl(fd, IOMMU_HWPT_ALLOC, &cmd);
	if (!rc && hwpt_id)
		*hwpt_id = cmd.out_hwpt_id;
	return rc;
}

#define test_ioctl_hwpt_alloc(dev_id, pt_id, hwpt_id)                          \
	ASSERT_EQ(0, _test_ioctl_hwpt_alloc(self->fd, dev_id, pt_id, hwpt_id))

/* Mock paging domains allocated since boot; ~0 on error */
static inline __u64 mock_domain_allocs(int fd)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_ALLOCS,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		return ~0ULL;
	return cmd.domain_allocs.out_count;
}

/* Whether HW_PAGETABLE @hwpt_id enforces cache coherency; -1 on error */
static inline int hwpt_enforces_coherency(int fd, __u32 hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_HWPT_COHERENCY,
		.id = hwpt_id,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		return -1;
	return cmd.hwpt_coherency.out_enforce;
}

#define test_cmd_hwpt_coherency(hwpt_id, expected)                             \
	ASSERT_EQ(expected, hwpt_enforces_coherency(self->fd, hwpt_id))

/*
 * Where the mock driver has the device of selftest object @stdev_id
 * (MOCK_DEV_ON_*; MOCK_DEV_ON_HWPT: on the domain of @hwpt_id); -1 on error
 */
static inline int mock_device_domain(int fd, __u32 stdev_id, __u32 hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN,
		.id = stdev_id,
		.mock_device_domain = { .hwpt_id = hwpt_id },
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		return -1;
	return cmd.mock_device_domain.out_kind;
}

#define test_cmd_mock_device_on(stdev_id, hwpt_id, expected)                   \
	ASSERT_EQ(expected, mock_device_domain(self->fd, stdev_id, hwpt_id))

/* test_cmd_check_map() that returns the largest page size mapped */
static inline int _test_cmd_check_map_pgsize(int fd, __u32 hwpt_id,
					     __u64 iova, void *uptr,
					     __u64 length, __u64 *max_pgsize)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt_id,
		.check_map = {
			.iova = iova,
			.length = length,
			.uptr = (uintptr_t)uptr,
		},
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (!rc)
		*max_pgsize = cmd.check_map.out_max_pgsize;
	return rc;
}

/*
 * IOMMU_GET_HW_INFO of DEVICE @dev_id into the @data_len bytes at @data;
 * the whole structure as the kernel left it in *@cmd if @cmd is not NULL.
 */
static inline int _test_ioctl_get_hw_info(int fd, __u32 dev_id, void *data,
					  __u32 data_len,
					  struct iommu_hw_info *cmd)
{
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.dev_id = dev_id,
		.data_len = data_len,
		.data_uptr = (uintptr_t)data,
	};
	int rc;

	rc = ioctl(fd, IOMMU_GET_HW_INFO, &info);
	if (cmd)
		*cmd = info;
	return rc;
}

/* IOMMU_TEST_OP_CREATE_ACCESS: attached to @ioas_id unless it is 0 */
static inline int _test_cmd_create_access(int fd, __u32 ioas_id, __u32 flags,
					  __u32 *access_id, __u32 *obj_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas_id,
		.access_create = { .flags = flags },
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (rc)
		return rc;
	if (access_id)
		*access_id = cmd.access_create.out_access_id;
	if (obj_id)
		*obj_id = cmd.access_create.out_access_obj_id;
	return 0;
}

#define test_cmd_create_access(ioas_id, flags, access_id)                      \
	ASSERT_EQ(0, _test_cmd_create_access(self->fd, ioas_id, flags,         \
					     access_id, NULL))

/* IOMMU_TEST_OP_ACCESS_SET_IOAS: MOCK_ACCESS_IOAS_* @mode */
static inline int _test_cmd_access_set_ioas(int fd, __u32 access_id,
					    __u32 mode, __u32 ioas_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ACCESS_SET_IOAS,
		.id = access_id,
		.access_ioas = { .mode = mode, .ioas_id = ioas_id },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#define test_cmd_access_set_ioas(access_id, mode, ioas_id)                     \
	ASSERT_EQ(0, _test_cmd_access_set_ioas(self->fd, access_id, mode,      \
					       ioas_id))

/*
 * IOMMU_TEST_OP_ACCESS_PIN; with @uptr, the kernel checks every pinned
 * page against the user memory there
 */
static inline int _test_cmd_access_pin(int fd, __u32 access_id, __u64 iova,
				       __u64 length, void *uptr, __u32 flags,
				       __u32 *npages)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ACCESS_PIN,
		.id = access_id,
		.access_pages = {
			.iova = iova,
			.length = length,
			.uptr = (uintptr_t)uptr,
			.flags = flags,
		},
	};
	int rc;

	rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);
	if (!rc && npages)
		*npages = cmd.access_pages.out_npages;
	return rc;
}

#define test_cmd_access_pin(access_id, iova, length, uptr, flags)             \
	ASSERT_EQ(0, _test_cmd_access_pin(self->fd, access_id, iova, length,   \
					  uptr, flags, NULL))

static inline int _test_cmd_access_unpin(int fd, __u32 access_id, __u64 iova,
					 __u64 length)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ACCESS_UNPIN,
		.id = access_id,
		.access_pages = { .iova = iova, .length = length },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#define test_cmd_access_unpin(access_id, iova, length)                        \
	ASSERT_EQ(0, _test_cmd_access_unpin(self->fd, access_id, iova, length))

/* IOMMU_TEST_OP_ACCESS_RW between [iova, iova + length) and @buf */
static inline int _test_cmd_access_rw(int fd, __u32 access_id, __u64 iova,
				      void *buf, __u64 length, __u32 flags)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = access_id,
		.access_rw = {
			.iova = iova,
			.length = length,
			.uptr = (uintptr_t)buf,
			.flags = flags,
		},
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

#define test_cmd_access_rw(access_id, iova, buf, length, flags)               \
	ASSERT_EQ(0, _test_cmd_access_rw(self->fd, access_id, iova, buf,       \
					 length, flags))

/* IOMMU_TEST_OP_ACCESS_UNMAPS into *@cmd (and reset the record) */
static inline int _test_cmd_access_unmaps(int fd, __u32 access_id,
					  struct iommu_test_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->op = IOMMU_TEST_OP_ACCESS_UNMAPS;
	cmd->id = access_id;
	return ioctl(fd, IOMMU_TEST_CMD, cmd);
}

/*
 * Expect @count unmap callbacks and @pins ranges still pinned; the record
 * in *@cp
 */
#define test_cmd_access_unmaps_c(access_id, count, pins, cp)                  \
	do {                                                                  \
		struct iommu_test_cmd *__cp = (cp);                           \
		ASSERT_EQ(0, _test_cmd_access_unmaps(self->fd, access_id,     \
						     __cp));                  \
		ASSERT_EQ(count, __cp->access_unmaps.out_count);              \
		ASSERT_EQ(pins, __cp->access_unmaps.out_pins);                \
	} while (0)

#define test_cmd_access_unmaps(access_id, count, pins)                        \
	test_cmd_access_unmaps_c(access_id, count, pins,                      \
				 &(struct iommu_test_cmd){})

#endif
