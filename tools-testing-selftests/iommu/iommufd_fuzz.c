// SPDX-License-Identifier: GPL-2.0-only
/*
 * iommufd_fuzz - a structured, seeded fuzzer for /dev/iommu and the VFIO
 * nodes that sit on top of it.
 *
 * Every call is built "mostly valid" from a model of what exists (objects,
 * mappings, buffers), then, half of the time, one field is mutated: the
 * size (short, exact, long with a zero or a non-zero tail, or crossing into
 * an unmapped page), a flag word (an unknown bit, no access bit), an ID
 * (valid, stale, of another type, of another context, 0, beyond 31 bits), a
 * range (overlapping, wrapping, unaligned, huge, zero), a user pointer
 * (NULL, kernel, unmapped, read-only) or a reserved field.  Calls come from
 * several threads and from a forked child that shares the file descriptors;
 * in between, buffers are munmap()ed, mremap()ed and madvise()d away, and
 * files are closed under calls in flight: a whole context is killed (every
 * descriptor of it becomes /dev/null through dup2(), so the iommufd is
 * released by the last call holding it) and revived later, and the VFIO
 * device files are closed or replaced the same way.
 *
 * Work is cut in episodes: fresh contexts, N calls, close everything, then
 * check the invariants (see struct inv): VmPin/VmLck back to the baseline,
 * the per-user RLIMIT_MEMLOCK charge back to zero (a probe maps exactly the
 * limit), no mock device left and every IOMMU group's DMA owner back to its
 * start value, an empty new context, the IOMMU page tables of the mock
 * domains equal to the pinned user pages (single-threaded episodes, and a
 * probe with a negative control), the errnos of the UAPI contract, a
 * validated edu DMA round trip (every --dma-every episodes), a guest log
 * (/dev/kmsg) without WARN, BUG, KASAN, lockdep or kmemleak reports, and
 * in a long run, every available op called and succeeding (coverage).  An
 * invariant that was never checked fails: it would have held vacuously.
 *
 * In single-threaded episodes the model is exact and the calls it can
 * predict must end as it says: an UNMAP reports the bytes the model had (a
 * failed one removed nothing: every mapping in its range is still there), a
 * mapping of the model the IOAS lost is a violation, a COPY maps one piece
 * per source mapping it covers, a second VFIO_DEVICE_ATTACH_IOMMUFD_PT of an
 * attached device naming its own HWPT succeeds (a replace that does
 * nothing; one to another page table destroys the automatic HWPT left
 * behind), a second attach of a mock device gives EBUSY (the mock attach
 * does not replace), the PASID flags EOPNOTSUPP, an
 * unbound cdev EINVAL, a second BIND EINVAL, DETACH of a bound device
 * succeeds, IOMMU_VFIO_IOAS GET returns the IOAS the model set (ENODEV
 * without one), and a mock device is on the domain of its HWPT while
 * attached and on the blocking domain while not.  What the model does not
 * follow (the compat IOAS's SET_CONTAINER, MAP_DMA and type1 v1 UNMAP_DMA, a
 * full table) makes the episode inexact, and its contracts are off.
 *
 * Reproducible: the run seed is printed; episode E uses a seed derived from
 * it, printed with every violation, and "--seed S --first-episode E
 * --episodes 1 --threads 1" replays it call for call (with more threads the
 * interleaving is up to the scheduler; --trace prints every call).  The
 * program runs itself again without address space randomization: the
 * kernel aligns the IOVAs it picks after the user addresses.  Output is
 * KTAP, one test per invariant class, followed by one greppable line:
 *   # FUZZ-STATS calls=... episodes=... seconds=... calls_per_sec=... seed=...
 *
 * The program never programs a DMA of the edu device during fuzzing; the
 * edu round trip of the invariant check uses edu.h's validated helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "../kselftest.h"
#include "../../../../drivers/iommu/iommufd/iommufd_test.h"
#include "../vfio/edu.h"

#ifndef PAGE_SIZE
#define PAGE_SIZE 4096UL
#endif
#define HPAGE (2UL << 20)
/* The mremap() target: larger than every buffer */
#define SCRATCH_LEN (4UL << 20)
#define MOCK_PAGE (PAGE_SIZE / 2)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* ---- options ------------------------------------------------------------ */

static struct {
	uint64_t seed;
	long seconds;		/* 0: no time limit */
	long calls;		/* stop after this many calls (0: none) */
	long min_calls;		/* KTAP failure if fewer were made */
	long episodes;		/* 0: no limit */
	long first_episode;
	int threads;
	int episode_calls;
	int dma_every;		/* edu round trip every N episodes */
	int vfio_every;		/* a VFIO mode every N episodes */
	bool vfio_group, vfio_container, vfio_cdev;
	bool no_fork, no_chaos, verbose;
	bool trace;		/* print every call (for a replay) */
	const char *bdf;	/* edu for the VFIO modes and the DMA check */
	long pinwatch;		/* seconds of the pin-under-pressure mode */
	bool check_only;	/* only the invariants (after trinity) */
	const char *log_since;	/* kmsg: only records after this marker */
} opt = {
	.threads = 4,
	.episode_calls = 1000,
	.dma_every = 25,
	.vfio_every = 2,
};

/* ---- random numbers: splitmix64, one state per thread ------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rn(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct rng *r, unsigned int pct)
{
	return rn(r, 100) < pct;
}

static uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b)
{
	struct rng r = { seed ^ (a * 0x100000001b3ULL) ^ (b << 48) };

	rnd(&r);
	return rnd(&r);
}

/* ---- invariant classes, reported as one KTAP test each ------------------ */

enum inv {
	INV_VMPIN,
	INV_VMLCK,
	INV_ACCOUNT,
	INV_NODEV,
	INV_NOLEFT,
	INV_CONTENT,
	INV_ERRNO,
	INV_EDU_DMA,
	INV_LOG,
	INV_VFIO,
	INV_COVER,
	INV_BUDGET,
	INV_PRESSURE,
	INV_NR,
};

static const char *const inv_name[INV_NR] = {
	[INV_VMPIN] = "vmpin_back_to_baseline",
	[INV_VMLCK] = "vmlck_back_to_baseline",
	[INV_ACCOUNT] = "user_memlock_charge_back_to_zero",
	[INV_NODEV] = "no_device_left_bound",
	[INV_NOLEFT] = "no_leftover_object_in_new_context",
	[INV_CONTENT] = "io_page_tables_match_pinned_pages",
	[INV_ERRNO] = "errno_contract",
	[INV_EDU_DMA] = "edu_dma_round_trip",
	[INV_LOG] = "guest_log_clean",
	[INV_VFIO] = "vfio_paths_exercised",
	[INV_COVER] = "every_op_called_and_succeeded",
	[INV_BUDGET] = "call_budget_reached",
	[INV_PRESSURE] = "memory_pressure_applied",
};

static struct {
	long fails;
	long checks;
	bool unused;	/* not reported in this mode */
	bool skip;
	char skip_why[128];
} invs[INV_NR];

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static long cur_episode;
static uint64_t cur_episode_seed;

static void violation(enum inv i, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report_lock);
	invs[i].fails++;
	if (invs[i].fails <= 8) {
		printf("# VIOLATION %s episode=%ld episode_seed=0x%llx: ",
		       inv_name[i], cur_episode,
		       (unsigned long long)cur_episode_seed);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		fflush(stdout);
	}
	pthread_mutex_unlock(&report_lock);
}

static void checked(enum inv i)
{
	__atomic_add_fetch(&invs[i].checks, 1, __ATOMIC_RELAXED);
}

/* ---- small helpers ------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long status_kb(const char *key)
{
	size_t klen = strlen(key);
	char line[256];
	long val = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/* A counter of /proc/vmstat, -1 if it has none */
static long vmstat_counter(const char *key)
{
	size_t klen = strlen(key);
	char line[256];
	long val = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/* Raise or lower a capability in this thread's effective set only */
static int thread_cap(int cap, bool on)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	if (on)
		data[cap / 32].effective |= 1U << (cap % 32);
	else
		data[cap / 32].effective &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &hdr, data);
}

static int count_dir(const char *path)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(path);

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- the guest log: new /dev/kmsg records since the last look ----------- */

static int kmsg_fd = -1;

static bool kmsg_armed = true;

/*
 * Look at what the kernel logs from now on or, with --log-since, from the
 * record holding the marker on (the whole buffer if it is gone).
 */
static void kmsg_open(void)
{
	char rec[2048];
	ssize_t n;
	bool seen = false;

	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd < 0)
		return;
	if (!opt.log_since) {
		lseek(kmsg_fd, 0, SEEK_END);
		return;
	}
	for (;;) {
		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, opt.log_since)) {
			seen = true;
			break;
		}
	}
	/* Not found: start over and check everything that is left */
	if (!seen)
		lseek(kmsg_fd, 0, SEEK_SET);
	kmsg_armed = true;
}

static const char *const log_bad[] = {
	"WARNING:", "BUG:", "KASAN:", "UBSAN:", "Call Trace:",
	"possible circular locking", "possible recursive locking",
	"inconsistent lock state", "suspicious RCU usage",
	"lock held when returning to user space", "DEBUG_LOCKS_WARN_ON",
	"lockdep is turned off", "general protection fault", "Oops:",
	"Kernel panic", "suspected memory leaks", "detected stalls",
	"blocked for more than", "BUG kmalloc",
};

/* Returns the number of bad lines, printing the first few */
static int kmsg_scan(const char *when)
{
	char rec[2048];
	int bad = 0;
	ssize_t n;
	size_t i;

	if (kmsg_fd < 0)
		return 0;
	for (;;) {
		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE) /* overwritten: go on */
				continue;
			break;
		}
		rec[n] = '\0';
		for (i = 0; i < ARRAY_SIZE(log_bad); i++)
			if (strstr(rec, log_bad[i])) {
				char *msg = strchr(rec, ';');

				bad++;
				violation(INV_LOG, "%s: %s", when,
					  msg ? msg + 1 : rec);
				break;
			}
	}
	return bad;
}

/* ---- the model ----------------------------------------------------------- */

enum otype { OT_IOAS = 1, OT_HWPT, OT_DEV, OT_STDEV, OT_NR };

#define MAXOBJ 96
#define MAXSTALE 32
#define MAXMAP 128
#define NBUF 7
#define NCTX 2

struct obj {
	uint32_t id;
	uint8_t type;
	uint32_t ioas;	/* HWPT: its IOAS; STDEV: the IOAS it attached to */
	uint32_t hwpt;	/* STDEV: its HWPT, 0 while detached */
	bool real;	/* HWPT: of a real IOMMU (edu), not of the mock */
	bool shared;	/* STDEV: its iommu_group has other mock devices */
};

struct ctx {
	int fd;			/* -1 while closed */
	bool dead;		/* its file was released: fd is /dev/null */
	bool mm_mode;
	uint32_t compat_ioas;	/* IOMMU_VFIO_IOAS: 0 if none (model) */
	struct obj objs[MAXOBJ];
	int nobj;
	uint32_t stale[MAXSTALE];
	int nstale;
	uint32_t max_id;
};

enum buf_kind { B_ANON, B_THP, B_RO, B_MEMFD, B_SMALL, B_HUGE_RW, B_GUARD };

struct buf {
	char *addr;
	size_t len;
	enum buf_kind kind;
	int memfd;
	bool moved;	/* its pages changed since it was mapped: no content check */
};

struct mapping {
	int ctx;
	uint32_t ioas;
	uint64_t iova, len;
	int buf;	/* -1: unknown backing */
	uint64_t off;
};

/* What a VFIO mode of an episode opened */
struct vfio_state {
	int mode;		/* 0 none, 1 group+iommufd, 2 iommufd container, 3 cdev */
	int group_fd, dev_fd, cdev_fd;
	uint32_t devid;
	bool setup_ok;
	bool dev_dead;		/* dev_fd was closed: it is /dev/null */
	/* The model of the cdev, kept in single-threaded episodes only */
	bool bound;		/* cdev_fd is bound */
	int bound_ci;		/* ...to this context */
	uint32_t hwpt;		/* ...and attached to this HWPT (0: detached) */
};

/*
 * File descriptor numbers stay the same for a whole episode: a file is
 * closed or replaced under calls in flight with dup2(), so that its last
 * reference drops (and its release runs) at the end of the last call that
 * holds it, and a call never lands on an unrelated file that reused the
 * number.  ep.fdgen counts those replacements: a call that overlapped one
 * may have reached either file, and is not judged.
 */
struct episode {
	pthread_mutex_t lock;	/* the model */
	unsigned long fdgen;	/* fds replaced so far (atomic) */
	struct thr *thr[64];	/* the parent's workers */
	int nthr;
	int devnull;
	struct ctx ctx[NCTX];
	struct buf bufs[NBUF];
	struct mapping maps[MAXMAP];
	int nmap;
	struct vfio_state vfio;
	long calls_left;
	bool single;		/* one thread, no child: the model is exact */
	bool inexact;		/* ...until an UNMAP removed an unknown part */
	bool no_ipc_lock;	/* workers drop CAP_IPC_LOCK: user accounting */
	char *scratch;		/* mremap() target area, PROT_NONE */
};

static struct episode ep;

/* ---- global stats --------------------------------------------------------- */

static long total_calls, total_episodes, total_mutated;
/* Contexts killed and revived under calls, calls that overlapped a close */
static long ctx_kills, ctx_revives, total_raced_close;
/* Filled by the forked child of an episode: calls made, violations seen */
static long *child_stats;
static bool stop_now;
static double t_start;
static bool have_test_cmd, have_vfio_ioas, have_compat;
static char edu_bdf[EDU_BDF_LEN];
static int edu_group = -1;
static char cdev_path[300];
static char owner_start[64][64];	/* dma_owner of groups 0..63 at start */
static int mock_devs_start;

/* ---- model helpers (ep.lock held) --------------------------------------- */

/*
 * Record object @id.  When the model is full the object stays unknown, and
 * with it everything done through it: the model is no longer exact.
 */
static struct obj *obj_add(struct ctx *c, uint32_t id, int type,
			   uint32_t ioas, uint32_t hwpt)
{
	struct obj *o;
	int i;

	if (!id)
		return NULL;
	for (i = 0; i < c->nobj; i++)
		if (c->objs[i].id == id) {
			o = &c->objs[i];
			*o = (struct obj){ id, type, ioas, hwpt, false, false };
			return o;
		}
	if (c->nobj == MAXOBJ) {
		ep.inexact = true;
		return NULL;
	}
	o = &c->objs[c->nobj++];
	*o = (struct obj){ id, type, ioas, hwpt, false, false };
	if (id > c->max_id)
		c->max_id = id;
	return o;
}

static struct obj *obj_find(struct ctx *c, uint32_t id)
{
	int i;

	for (i = 0; i < c->nobj; i++)
		if (c->objs[i].id == id)
			return &c->objs[i];
	return NULL;
}

static void obj_stale(struct ctx *c, uint32_t id)
{
	int i;

	for (i = 0; i < c->nobj; i++)
		if (c->objs[i].id == id) {
			c->objs[i] = c->objs[--c->nobj];
			break;
		}
	if (c->nstale < MAXSTALE)
		c->stale[c->nstale++] = id;
	else
		c->stale[id % MAXSTALE] = id;
}

static void maps_drop_ioas(int ci, uint32_t ioas)
{
	int i;

	for (i = 0; i < ep.nmap;)
		if (ep.maps[i].ctx == ci && ep.maps[i].ioas == ioas)
			ep.maps[i] = ep.maps[--ep.nmap];
		else
			i++;
}

/* A mock device left @hwpt: an automatic HWPT goes with its last device */
static void hwpt_left(struct ctx *c, uint32_t hwpt)
{
	struct obj *o = obj_find(c, hwpt);
	int i;

	if (!hwpt || !o || o->real)
		return;
	for (i = 0; i < c->nobj; i++)
		if (c->objs[i].type == OT_STDEV && c->objs[i].hwpt == hwpt)
			return;
	obj_stale(c, hwpt);
}

/* Forget objects that die with @id (destroyed or closed) */
static void obj_destroyed(int ci, uint32_t id)
{
	struct ctx *c = &ep.ctx[ci];
	struct obj *o = obj_find(c, id);
	int i;

	/* The compat IOAS of IOMMU_VFIO_IOAS is forgotten with it */
	if (c->compat_ioas == id)
		c->compat_ioas = 0;
	if (!o) {
		obj_stale(c, id);
		return;
	}
	if (o->type == OT_IOAS)
		maps_drop_ioas(ci, id);
	if (o->type == OT_STDEV) {
		uint32_t hwpt = o->hwpt;

		/* Its DEVICE goes, and an automatic HWPT with its last device */
		for (i = 0; i < c->nobj; i++)
			if (c->objs[i].type == OT_DEV && c->objs[i].ioas == id) {
				obj_stale(c, c->objs[i].id);
				break;
			}
		obj_stale(c, id);
		hwpt_left(c, hwpt);
		return;
	}
	obj_stale(c, id);
}

static struct obj *pick_obj(struct rng *r, struct ctx *c, int type)
{
	struct obj *cand[MAXOBJ];
	int i, n = 0;

	for (i = 0; i < c->nobj; i++)
		if (!type || c->objs[i].type == type)
			cand[n++] = &c->objs[i];
	return n ? cand[rn(r, n)] : NULL;
}

/* ---- per thread state ------------------------------------------------------ */

#define ARGBUF (2 * PAGE_SIZE)
#define HIST 16

struct call_rec {
	const char *op;
	const char *mut;
	int rc, err;
	uint32_t usize;
};

struct thr {
	int idx;
	struct rng r;
	int fd[NCTX];		/* this thread's dup of each context's fd */
	char *arg;		/* ARGBUF bytes; the page after it is PROT_NONE */
	struct iommu_iova_range ranges[16];
	struct call_rec hist[HIST];
	unsigned int nhist;
	long calls, mutated;
	long raced_close;	/* calls that overlapped a close */
	bool child;
};

/* ---- the ioctl table ------------------------------------------------------- */

enum fkind {
	F_FLAGS,	/* valid: mask */
	F_ID,		/* object ID; strict: out of range -> ENOENT */
	F_IOVA,
	F_LEN,
	F_UPTR,
	F_RSVD,		/* must be 0; strict -> EOPNOTSUPP */
	F_ENUM,		/* valid values 0..mask; strict -> EOPNOTSUPP/EINVAL */
	F_NUM,		/* a count */
	F_FD,
};

struct field {
	const char *name;
	uint16_t off;
	uint8_t width;
	uint8_t kind;
	uint64_t valid;	/* F_FLAGS: known bits; F_ENUM: largest value */
	bool strict;	/* the mutation has a known errno */
};

enum fdk { FD_IOMMUFD, FD_GROUP, FD_DEVICE, FD_CDEV };

struct fcall;
struct op {
	const char *name;
	unsigned long nr;
	uint32_t ksize, minsize;
	enum fdk fdk;
	bool vfio;		/* argsz rules, EINVAL for bad flags */
	bool scalar;		/* the argument is not a structure */
	const struct field *fields;
	int nfields;
	int weight;
	const int *errnos;	/* allowed, 0-terminated */
	bool (*avail)(void);
	void (*gen)(struct thr *t, struct fcall *c);
	void (*done)(struct thr *t, struct fcall *c);
};

/* One call in preparation / just made */
struct fcall {
	const struct op *op;
	int ci;			/* context */
	int fd;
	union {
		unsigned char b[512];
		uint64_t align;
	} s;			/* the structure as the generator built it */
	unsigned long scalar;
	uint32_t usize;		/* size/argsz the caller claims */
	uint32_t blen;		/* bytes placed in the argument buffer */
	bool at_end;		/* placed so that blen ends at the guard page */
	unsigned char tail;	/* non-zero: last byte of a long struct */
	int expect;		/* strict expectation, 0 if none */
	const char *mut;	/* the mutation made */
	bool check_content;	/* MD_CHECK_MAP that must succeed */
	int rc, err;
	unsigned char out[512];	/* what the kernel left in the buffer */
};

/* @w: the size of the field, checked by check_tables() */
#define FLD(st, f, w, k, v, s) { #f, offsetof(struct st, f), w, k, v, s }

static const int e_common[] = { EFAULT, EINVAL, ENOENT, EOPNOTSUPP, E2BIG,
				ENOMEM, 0 };

#define ERRNOS(...)                                                           \
	((const int[]){ EFAULT, EINVAL, ENOENT, EOPNOTSUPP, E2BIG, ENOMEM,    \
			__VA_ARGS__, 0 })

/*
 * What the model says @c must have ended with: errno @err, or success when
 * @err is 0.  A descriptor closed under the call (EBADF) and a signal
 * (EINTR) excuse anything.
 */
static void contract(struct fcall *c, int err, const char *why)
{
	checked(INV_ERRNO);
	if (c->rc < 0 && (c->err == EBADF || c->err == EINTR))
		return;
	if (err ? c->rc < 0 && c->err == err : c->rc >= 0)
		return;
	violation(INV_ERRNO, "%s %s (%s): expected errno %d, got rc %d errno %d",
		  c->op->name, c->mut ? c->mut : "unmutated", why, err, c->rc,
		  c->err);
}

/* Field helpers */
static uint64_t get_f(const struct fcall *c, const struct field *f)
{
	uint64_t v = 0;

	memcpy(&v, c->s.b + f->off, f->width);
	return v;
}

static void set_f(struct fcall *c, const struct field *f, uint64_t v)
{
	memcpy(c->s.b + f->off, &v, f->width);
}

#define S(type) ((struct type *)c->s.b)

/* ---- generators ------------------------------------------------------------ */

static uint32_t gen_id(struct thr *t, int ci, int type)
{
	struct obj *o;

	pthread_mutex_lock(&ep.lock);
	o = pick_obj(&t->r, &ep.ctx[ci], type);
	uint32_t id = o ? o->id : 0;

	if (!o && ep.ctx[ci].nstale)
		id = ep.ctx[ci].stale[rn(&t->r, ep.ctx[ci].nstale)];
	pthread_mutex_unlock(&ep.lock);
	return id ? id : 1 + rn(&t->r, 8);
}

/* A mapping of context @ci, copied out; false if there is none */
static bool pick_map(struct thr *t, int ci, struct mapping *m)
{
	int i, n = 0, idx[MAXMAP];

	pthread_mutex_lock(&ep.lock);
	for (i = 0; i < ep.nmap; i++)
		if (ep.maps[i].ctx == ci)
			idx[n++] = i;
	if (n)
		*m = ep.maps[idx[rn(&t->r, n)]];
	pthread_mutex_unlock(&ep.lock);
	return n;
}

/* A user range inside a buffer; the buffer's kind steers the flags */
static int pick_urange(struct thr *t, uint64_t *va, uint64_t *len,
		       uint64_t *off)
{
	int b = rn(&t->r, NBUF);
	struct buf *bf = &ep.bufs[b];
	uint64_t pages = bf->len / PAGE_SIZE, first, n;

	/*
	 * Mostly a page or two: under TCG and KASAN every pinned page and
	 * every 2 KiB the mock domains map costs; now and then a long run
	 * and the whole THP, for the batch, huge page and run code.
	 */
	if (bf->kind == B_THP && chance(&t->r, 3)) {
		first = 0;
		n = pages;
	} else {
		uint64_t r = rn(&t->r, 100), max;

		max = r < 60 ? 2 : r < 85 ? 16 : r < 95 ? 64 : pages;
		first = rn(&t->r, pages);
		if (max > pages - first)
			max = pages - first;
		n = 1 + rn(&t->r, max);
	}
	*off = first * PAGE_SIZE;
	*va = (uintptr_t)bf->addr + *off;
	*len = n * PAGE_SIZE;
	/* Sub-page starts: legal while only mock domains (2 KiB) are attached */
	if (chance(&t->r, 5) && *len > MOCK_PAGE) {
		*va += MOCK_PAGE;
		*off += MOCK_PAGE;
		*len -= MOCK_PAGE;
	}
	return b;
}

/* An IOVA the mock domains translate: [MOCK_APERTURE_START, 2^31) */
static uint64_t pick_iova(struct thr *t, uint64_t len)
{
	uint64_t span = MOCK_APERTURE_LAST + 1 - MOCK_APERTURE_START;
	uint64_t align = chance(&t->r, 30) ? HPAGE : PAGE_SIZE;
	uint64_t iova;

	if (len >= span)
		return MOCK_APERTURE_START;
	iova = MOCK_APERTURE_START + rn(&t->r, span - len);
	iova &= ~(align - 1);
	if (iova < MOCK_APERTURE_START)
		iova = MOCK_APERTURE_START;
	return iova;
}

static void gen_destroy(struct thr *t, struct fcall *c)
{
	S(iommu_destroy)->id = gen_id(t, c->ci, 0);
}

static void gen_ioas_alloc(struct thr *t, struct fcall *c)
{
}

static void done_ioas_alloc(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_alloc *a = (void *)c->out;

	if (c->rc)
		return;
	if (!a->out_ioas_id || a->out_ioas_id > 0x7fffffff)
		violation(INV_ERRNO, "IOAS_ALLOC returned id %u", a->out_ioas_id);
	pthread_mutex_lock(&ep.lock);
	obj_add(&ep.ctx[c->ci], a->out_ioas_id, OT_IOAS, 0, 0);
	pthread_mutex_unlock(&ep.lock);
}

static void done_destroy(struct thr *t, struct fcall *c)
{
	if (c->rc)
		return;
	pthread_mutex_lock(&ep.lock);
	obj_destroyed(c->ci, S(iommu_destroy)->id);
	pthread_mutex_unlock(&ep.lock);
}

static void gen_allow_iovas(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_allow_iovas *a = S(iommu_ioas_allow_iovas);
	unsigned int i, n = rn(&t->r, 4);

	a->ioas_id = gen_id(t, c->ci, OT_IOAS);
	for (i = 0; i < n; i++) {
		uint64_t start = pick_iova(t, HPAGE);

		if (chance(&t->r, 10))
			start = rn(&t->r, MOCK_APERTURE_START);
		t->ranges[i].start = start;
		t->ranges[i].last = start + (1 + rn(&t->r, 512)) * PAGE_SIZE - 1;
		if (chance(&t->r, 5)) /* last < start */
			t->ranges[i].last = start - 1;
	}
	/* Mostly disjoint; sometimes an overlap on purpose */
	if (n == 2 && chance(&t->r, 70) &&
	    t->ranges[0].start <= t->ranges[1].last &&
	    t->ranges[1].start <= t->ranges[0].last)
		n = 1;
	a->num_iovas = n;
	a->allowed_iovas = (uintptr_t)t->ranges;
	/* Most of the time leave the list empty again: it restricts MAP */
	if (chance(&t->r, 60))
		a->num_iovas = 0;
}

static void gen_iova_ranges(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_iova_ranges *a = S(iommu_ioas_iova_ranges);

	a->ioas_id = gen_id(t, c->ci, OT_IOAS);
	a->num_iovas = rn(&t->r, 6);
	a->allowed_iovas = (uintptr_t)t->ranges;
}

static void done_iova_ranges(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_iova_ranges *a = (void *)c->out;
	struct iommu_ioas_iova_ranges *in = S(iommu_ioas_iova_ranges);
	uint64_t al = a->out_iova_alignment;
	unsigned int i, n;

	if (c->rc && c->err != EMSGSIZE)
		return;
	if (c->err == EMSGSIZE && a->num_iovas <= in->num_iovas)
		violation(INV_ERRNO, "IOVA_RANGES EMSGSIZE with num_iovas %u <= room %u",
			  a->num_iovas, in->num_iovas);
	if (!al || (al & (al - 1)) || al > PAGE_SIZE)
		violation(INV_ERRNO, "IOVA_RANGES alignment %#llx",
			  (unsigned long long)al);
	if (c->rc || (uintptr_t)t->ranges != in->allowed_iovas)
		return;
	n = a->num_iovas < 16 ? a->num_iovas : 16;
	for (i = 0; i < n; i++) {
		if (t->ranges[i].start > t->ranges[i].last ||
		    (i && t->ranges[i].start <= t->ranges[i - 1].last))
			violation(INV_ERRNO, "IOVA_RANGES range %u [%#llx, %#llx] disordered",
				  i, (unsigned long long)t->ranges[i].start,
				  (unsigned long long)t->ranges[i].last);
	}
}

static void gen_map(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_map *a = S(iommu_ioas_map);
	uint64_t va, len, off;
	int b = pick_urange(t, &va, &len, &off);

	a->ioas_id = gen_id(t, c->ci, OT_IOAS);
	a->user_va = va;
	a->length = len;
	a->flags = IOMMU_IOAS_MAP_READABLE;
	if (ep.bufs[b].kind != B_RO || chance(&t->r, 10))
		a->flags |= IOMMU_IOAS_MAP_WRITEABLE;
	if (chance(&t->r, 50)) {
		struct mapping m;

		a->flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
		a->iova = pick_iova(t, len) + (off & (PAGE_SIZE - 1));
		/* An overlap with an existing mapping now and then */
		if (chance(&t->r, 10) && pick_map(t, c->ci, &m) &&
		    m.iova <= ULONG_MAX - len)
			a->iova = m.iova;
	}
}

static void done_map_common(struct thr *t, struct fcall *c, uint32_t ioas,
			    uint64_t iova, uint64_t len, int b, uint64_t off)
{
	pthread_mutex_lock(&ep.lock);
	if (ep.nmap < MAXMAP && obj_find(&ep.ctx[c->ci], ioas))
		ep.maps[ep.nmap++] = (struct mapping){ c->ci, ioas, iova, len,
						       b, off };
	else
		ep.inexact = true;	/* a mapping the model does not know */
	pthread_mutex_unlock(&ep.lock);
}

static int buf_of(uint64_t va, uint64_t *off)
{
	int b;

	for (b = 0; b < NBUF; b++)
		if (va >= (uintptr_t)ep.bufs[b].addr &&
		    va < (uintptr_t)ep.bufs[b].addr + ep.bufs[b].len) {
			*off = va - (uintptr_t)ep.bufs[b].addr;
			return b;
		}
	return -1;
}

static void done_map(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_map *a = (void *)c->out;
	uint64_t off = 0;
	int b;

	if (c->rc)
		return;
	b = buf_of(a->user_va, &off);
	if (b >= 0 && a->length > ep.bufs[b].len - off)
		b = -1;
	done_map_common(t, c, a->ioas_id, a->iova, a->length, b, off);
}

static void gen_copy(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_copy *a = S(iommu_ioas_copy);
	struct mapping m;

	a->flags = IOMMU_IOAS_MAP_READABLE;
	if (chance(&t->r, 70))
		a->flags |= IOMMU_IOAS_MAP_WRITEABLE;
	a->dst_ioas_id = gen_id(t, c->ci, OT_IOAS);
	if (pick_map(t, c->ci, &m)) {
		a->src_ioas_id = m.ioas;
		a->src_iova = m.iova;
		a->length = m.len;
		if (chance(&t->r, 20) && m.len > PAGE_SIZE) {
			a->src_iova += PAGE_SIZE;
			a->length -= PAGE_SIZE;
		}
	} else {
		a->src_ioas_id = gen_id(t, c->ci, OT_IOAS);
		a->src_iova = pick_iova(t, PAGE_SIZE);
		a->length = PAGE_SIZE;
	}
	if (chance(&t->r, 50)) {
		a->flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
		a->dst_iova = pick_iova(t, a->length) + (a->src_iova & (PAGE_SIZE - 1));
	}
}

/*
 * Does the IOAS map all of [@iova, @iova + @len)?  A COPY of the range
 * succeeds only if it is fully mapped, and fails with ENOENT if it is not.
 * 1: mapped, 0: not mapped, -1: the probe itself failed (no answer).
 */
static int ioas_maps(int fd, uint32_t ioas, uint64_t iova, uint64_t len)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_copy cp = {
		.size = sizeof(cp), .flags = IOMMU_IOAS_MAP_READABLE,
		.src_ioas_id = ioas, .src_iova = iova, .length = len,
	};
	struct iommu_destroy d = { .size = sizeof(d) };
	int mapped;

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &alloc))
		return -1;
	cp.dst_ioas_id = alloc.out_ioas_id;
	mapped = !ioctl(fd, IOMMU_IOAS_COPY, &cp);
	if (!mapped && errno != ENOENT)
		mapped = -1;
	d.id = alloc.out_ioas_id;
	ioctl(fd, IOMMU_DESTROY, &d);
	return mapped;
}

/* The model mapping of IOAS @ioas of context @ci holding @iova (ep.lock held) */
static struct mapping *map_at(int ci, uint32_t ioas, uint64_t iova)
{
	int i;

	for (i = 0; i < ep.nmap; i++)
		if (ep.maps[i].ctx == ci && ep.maps[i].ioas == ioas &&
		    iova >= ep.maps[i].iova &&
		    iova - ep.maps[i].iova < ep.maps[i].len)
			return &ep.maps[i];
	return NULL;
}

/*
 * A COPY maps one new mapping per source mapping the range covers, in
 * pieces contiguous in IOVA, each with the backing of its source piece:
 * an UNMAP may then remove one piece alone.
 */
static void done_copy(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_copy *a = (void *)c->out;
	uint64_t cur = a->src_iova, last = a->src_iova + a->length - 1, end;
	bool exact = ep.single && !ep.inexact && !ep.vfio.mode;
	struct mapping piece[8], *m = NULL;
	int i, n = 0;

	if (c->rc)
		return;
	pthread_mutex_lock(&ep.lock);
	while (n < (int)ARRAY_SIZE(piece)) {
		m = map_at(c->ci, a->src_ioas_id, cur);
		if (!m)
			break;
		end = m->iova + m->len - 1 < last ? m->iova + m->len - 1 : last;
		piece[n].buf = m->buf;
		piece[n].off = m->off + (cur - m->iova);
		piece[n].iova = a->dst_iova + (cur - a->src_iova);
		piece[n++].len = end - cur + 1;
		if (end == last)
			break;
		cur = end + 1;
		m = NULL;
	}
	if (!m)
		ep.inexact = true;	/* pieces the model does not know */
	pthread_mutex_unlock(&ep.lock);
	if (!m && exact)
		violation(INV_ERRNO,
			  "COPY of [%#llx +%#llx] of IOAS %u succeeded, the model has nothing at %#llx",
			  (unsigned long long)a->src_iova,
			  (unsigned long long)a->length, a->src_ioas_id,
			  (unsigned long long)cur);
	for (i = 0; i < n; i++)
		done_map_common(t, c, a->dst_ioas_id, piece[i].iova,
				piece[i].len, piece[i].buf, piece[i].off);
}

static void gen_unmap(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_unmap *a = S(iommu_ioas_unmap);
	struct mapping m;

	if (!pick_map(t, c->ci, &m) || chance(&t->r, 10)) {
		a->ioas_id = gen_id(t, c->ci, OT_IOAS);
		a->iova = 0;
		a->length = UINT64_MAX;
		return;
	}
	a->ioas_id = m.ioas;
	a->iova = m.iova;
	a->length = m.len;
	switch (rn(&t->r, 6)) {
	case 0: /* a superset */
		a->iova = m.iova > HPAGE ? m.iova - HPAGE : 0;
		a->length = m.len + 2 * HPAGE;
		break;
	case 1: /* cuts the mapping: ENOENT */
		if (m.len > PAGE_SIZE)
			a->length = m.len - PAGE_SIZE;
		break;
	default:
		break;
	}
}

/*
 * An UNMAP failed in an exact episode: every mapping of the model inside
 * its range must still be there, whole.
 */
static void unmap_removed_nothing(struct fcall *c,
				  const struct iommu_ioas_unmap *in)
{
	bool all = in->iova == 0 && in->length == UINT64_MAX;
	struct mapping kept[8];
	int i, n = 0;

	pthread_mutex_lock(&ep.lock);
	for (i = 0; i < ep.nmap && n < (int)ARRAY_SIZE(kept); i++) {
		struct mapping *m = &ep.maps[i];

		if (m->ctx == c->ci && m->ioas == in->ioas_id &&
		    (all || (m->iova >= in->iova && in->length &&
			     m->iova + m->len - 1 <= in->iova + in->length - 1)))
			kept[n++] = *m;
	}
	pthread_mutex_unlock(&ep.lock);
	for (i = 0; i < n; i++) {
		checked(INV_ERRNO);
		if (!ioas_maps(c->fd, kept[i].ioas, kept[i].iova, kept[i].len))
			violation(INV_ERRNO,
				  "UNMAP [%#llx +%#llx] of IOAS %u failed (errno %d) but [%#llx +%#llx] is gone",
				  (unsigned long long)in->iova,
				  (unsigned long long)in->length, in->ioas_id,
				  c->err, (unsigned long long)kept[i].iova,
				  (unsigned long long)kept[i].len);
	}
}

static void done_unmap(struct thr *t, struct fcall *c)
{
	struct iommu_ioas_unmap *in = S(iommu_ioas_unmap);
	struct iommu_ioas_unmap *a = (void *)c->out;
	bool all = in->iova == 0 && in->length == UINT64_MAX;
	uint64_t sum = 0;
	int i;

	/* The range is checked first: a failed UNMAP removed nothing */
	if (c->rc) {
		if (ep.single && !ep.inexact && !ep.vfio.mode &&
		    c->err != EBADF && c->err != EINTR)
			unmap_removed_nothing(c, in);
		return;
	}
	pthread_mutex_lock(&ep.lock);
	for (i = 0; i < ep.nmap;) {
		struct mapping *m = &ep.maps[i];

		if (m->ctx == c->ci && m->ioas == in->ioas_id &&
		    (all || (m->iova >= in->iova &&
			     m->iova + m->len - 1 <= in->iova + in->length - 1))) {
			sum += m->len;
			*m = ep.maps[--ep.nmap];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&ep.lock);
	/* With one thread the model knows exactly what was there */
	if (ep.single && !ep.inexact && !ep.vfio.mode && c->usize >= 24 &&
	    a->length != sum)
		violation(INV_ERRNO,
			  "UNMAP [%#llx +%#llx] of IOAS %u reported %#llx bytes, model %#llx",
			  (unsigned long long)in->iova,
			  (unsigned long long)in->length, in->ioas_id,
			  (unsigned long long)a->length,
			  (unsigned long long)sum);
}

static void gen_option(struct thr *t, struct fcall *c)
{
	struct iommu_option *a = S(iommu_option);

	a->option_id = rn(&t->r, 2);
	a->op = rn(&t->r, 2);
	a->val64 = rn(&t->r, 2);
	if (a->option_id == IOMMU_OPTION_HUGE_PAGES)
		a->object_id = gen_id(t, c->ci, OT_IOAS);
}

static void done_option(struct thr *t, struct fcall *c)
{
	struct iommu_option *a = (void *)c->out;

	if (!c->rc && a->op == IOMMU_OPTION_OP_GET && a->val64 > 1)
		violation(INV_ERRNO, "OPTION %u GET returned %llu", a->option_id,
			  (unsigned long long)a->val64);
	if (!c->rc && a->option_id == IOMMU_OPTION_RLIMIT_MODE &&
	    a->op == IOMMU_OPTION_OP_SET) {
		pthread_mutex_lock(&ep.lock);
		ep.ctx[c->ci].mm_mode = a->val64;
		pthread_mutex_unlock(&ep.lock);
	}
}

static void gen_vfio_ioas(struct thr *t, struct fcall *c)
{
	struct iommu_vfio_ioas *a = S(iommu_vfio_ioas);

	a->op = rn(&t->r, 3);
	a->ioas_id = gen_id(t, c->ci, OT_IOAS);
}

/* A mock device (selftest object) of the model, copied out */
static bool pick_stdev(struct thr *t, int ci, struct obj *out)
{
	struct obj *o;

	pthread_mutex_lock(&ep.lock);
	o = pick_obj(&t->r, &ep.ctx[ci], OT_STDEV);
	if (o)
		*out = *o;
	pthread_mutex_unlock(&ep.lock);
	return o;
}

/* IOMMU_TEST_CMD: every op of the mock */
static void gen_test(struct thr *t, struct fcall *c)
{
	static const uint32_t kinds[] = {
		0, MOCK_FLAGS_DEVICE_SMMUV3, MOCK_FLAGS_DEVICE_INTEL,
		MOCK_FLAGS_DEVICE_INTEL | MOCK_FLAGS_DEVICE_NARROW,
	};
	struct iommu_test_cmd *a = S(iommu_test_cmd);
	struct mapping m;
	struct obj *o, sd;
	uint32_t f;

	switch (rn(&t->r, 16)) {
	case 0: case 1:
		a->op = IOMMU_TEST_OP_MOCK_DOMAIN;
		a->id = gen_id(t, c->ci, chance(&t->r, 85) ? OT_IOAS : OT_HWPT);
		break;
	case 2:
		/* Other mock IOMMUs, shared instances and groups, no attach */
		a->op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS;
		a->id = gen_id(t, c->ci, chance(&t->r, 85) ? OT_IOAS : OT_HWPT);
		f = kinds[rn(&t->r, ARRAY_SIZE(kinds))];
		if (chance(&t->r, 20))
			f |= MOCK_FLAGS_DEVICE_NO_SNOOP;
		if (chance(&t->r, 25)) {
			f = chance(&t->r, 50) ? MOCK_FLAGS_DEVICE_SAME_INSTANCE :
						MOCK_FLAGS_DEVICE_SAME_GROUP;
			a->mock_domain_flags.peer_stdev_id =
				gen_id(t, c->ci, OT_STDEV);
		}
		if (chance(&t->r, 25))
			f |= MOCK_FLAGS_DEVICE_NO_ATTACH;
		if (chance(&t->r, 5)) {
			/* Checked before anything else */
			f |= 1U << (8 + rn(&t->r, 24));
			c->expect = EOPNOTSUPP;
		} else if (chance(&t->r, 5)) {
			f = MOCK_FLAGS_DEVICE_SMMUV3 | MOCK_FLAGS_DEVICE_INTEL;
			c->expect = EINVAL;
		}
		a->mock_domain_flags.dev_flags = f;
		break;
	case 3:
		a->op = IOMMU_TEST_OP_MOCK_DEVICE_ATTACH;
		a->id = gen_id(t, c->ci, OT_STDEV);
		a->mock_attach.pt_id = gen_id(t, c->ci, chance(&t->r, 70) ?
						     OT_IOAS : OT_HWPT);
		break;
	case 4:
		a->op = IOMMU_TEST_OP_MOCK_DEVICE_DETACH;
		a->id = gen_id(t, c->ci, OT_STDEV);
		break;
	case 5:
		a->op = IOMMU_TEST_OP_ADD_RESERVED;
		a->id = gen_id(t, c->ci, OT_IOAS);
		a->add_reserved.start = pick_iova(t, HPAGE);
		a->add_reserved.length = (1 + rn(&t->r, 16)) * PAGE_SIZE;
		break;
	case 6: case 7: case 8: case 9:
		a->op = IOMMU_TEST_OP_MD_CHECK_MAP;
		if (!pick_map(t, c->ci, &m) || m.buf < 0) {
			a->id = gen_id(t, c->ci, OT_HWPT);
			a->check_map.iova = pick_iova(t, PAGE_SIZE);
			a->check_map.length = PAGE_SIZE;
			a->check_map.uptr = (uintptr_t)ep.bufs[0].addr;
			break;
		}
		a->check_map.iova = m.iova;
		/* A prefix: checking pays get_user_pages() per page */
		a->check_map.length = m.len > 64 * PAGE_SIZE && !(m.off % PAGE_SIZE) ?
				      64 * PAGE_SIZE : m.len;
		a->check_map.uptr = (uintptr_t)ep.bufs[m.buf].addr + m.off;
		pthread_mutex_lock(&ep.lock);
		o = pick_obj(&t->r, &ep.ctx[c->ci], OT_HWPT);
		/* A HWPT of the mapping's IOAS, if the model knows one */
		for (int i = 0; i < ep.ctx[c->ci].nobj; i++)
			if (ep.ctx[c->ci].objs[i].type == OT_HWPT &&
			    !ep.ctx[c->ci].objs[i].real &&
			    ep.ctx[c->ci].objs[i].ioas == m.ioas) {
				o = &ep.ctx[c->ci].objs[i];
				c->check_content = ep.single &&
						   !ep.bufs[m.buf].moved;
				break;
			}
		a->id = o ? o->id : 1;
		pthread_mutex_unlock(&ep.lock);
		break;
	case 10:
		a->op = IOMMU_TEST_OP_MD_CHECK_REFS;
		if (pick_map(t, c->ci, &m) && m.buf >= 0) {
			a->check_refs.uptr = (uintptr_t)ep.bufs[m.buf].addr + m.off;
			a->check_refs.length = m.len;
		} else {
			a->check_refs.uptr = (uintptr_t)ep.bufs[0].addr;
			a->check_refs.length = PAGE_SIZE;
		}
		a->check_refs.refs = rn(&t->r, 3);
		break;
	case 11:
		a->op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT;
		a->memory_limit.limit = chance(&t->r, 50) ? 0 : 16 << rn(&t->r, 10);
		break;
	case 12:
		a->op = IOMMU_TEST_OP_MOCK_DOMAIN_ALLOCS;
		break;
	case 13:
		a->op = IOMMU_TEST_OP_IOAS_METADATA;
		a->id = gen_id(t, c->ci, OT_IOAS);
		break;
	case 14:
		a->op = IOMMU_TEST_OP_HWPT_COHERENCY;
		a->id = gen_id(t, c->ci, OT_HWPT);
		break;
	default:
		a->op = IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN;
		if (!pick_stdev(t, c->ci, &sd)) {
			a->id = gen_id(t, c->ci, OT_STDEV);
			break;
		}
		a->id = sd.id;
		a->mock_device_domain.hwpt_id = chance(&t->r, 80) ? sd.hwpt :
						gen_id(t, c->ci, OT_HWPT);
		break;
	}
}

static int content_confirm(struct thr *t, struct fcall *c)
{
	struct iommu_test_cmd *in = S(iommu_test_cmd);
	uint32_t ioas;
	struct obj *o;

	pthread_mutex_lock(&ep.lock);
	o = obj_find(&ep.ctx[c->ci], in->id);
	ioas = o ? o->ioas : 0;
	pthread_mutex_unlock(&ep.lock);
	return ioas_maps(c->fd, ioas, in->check_map.iova, in->check_map.length);
}

/* The model's view of a mock device, for the contract of single episodes */
static bool model_stdev(struct fcall *c, uint32_t id, struct obj *out)
{
	struct obj *o;

	if (!ep.single || ep.inexact || c->mut)
		return false;
	pthread_mutex_lock(&ep.lock);
	o = obj_find(&ep.ctx[c->ci], id);
	if (o && o->type == OT_STDEV)
		*out = *o;
	else
		o = NULL;
	pthread_mutex_unlock(&ep.lock);
	return o;
}

static bool model_is(struct fcall *c, uint32_t id, int type)
{
	struct obj *o;
	bool ret;

	pthread_mutex_lock(&ep.lock);
	o = obj_find(&ep.ctx[c->ci], id);
	ret = o && o->type == type;
	pthread_mutex_unlock(&ep.lock);
	return ret;
}

/* The contract of the mock device ops, from the model (single episodes) */
static void test_contract(struct fcall *c)
{
	struct iommu_test_cmd *in = S(iommu_test_cmd);
	struct iommu_test_cmd *a = (void *)c->out;
	struct obj sd;

	if (!model_stdev(c, in->id, &sd))
		return;
	switch (in->op) {
	case IOMMU_TEST_OP_MOCK_DEVICE_ATTACH:
		/* No replace: an attached device must be detached first */
		if (sd.hwpt && model_is(c, in->mock_attach.pt_id, OT_IOAS))
			contract(c, EBUSY, "mock device attached already");
		break;
	case IOMMU_TEST_OP_MOCK_DEVICE_DETACH:
		contract(c, sd.hwpt ? 0 : EINVAL,
			 sd.hwpt ? "attached mock device" : "detached mock device");
		break;
	case IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN:
		/* A device alone in its group: its domain is its HWPT's */
		if (sd.shared)
			break;
		if (sd.hwpt && in->mock_device_domain.hwpt_id == sd.hwpt) {
			contract(c, 0, "attached mock device");
			if (!c->rc && a->mock_device_domain.out_kind != MOCK_DEV_ON_HWPT)
				violation(INV_ERRNO,
					  "mock device %u attached to HWPT %u is on domain kind %u",
					  sd.id, sd.hwpt, a->mock_device_domain.out_kind);
		} else if (!sd.hwpt && !in->mock_device_domain.hwpt_id) {
			/* Bound and detached: its DMA is blocked */
			contract(c, 0, "detached mock device");
			if (!c->rc && a->mock_device_domain.out_kind != MOCK_DEV_ON_BLOCKED)
				violation(INV_ERRNO,
					  "detached mock device %u is on domain kind %u, not blocked",
					  sd.id, a->mock_device_domain.out_kind);
		}
		break;
	}
}

/* A mock device was created: its selftest object, DEVICE and HWPT */
static void model_new_stdev(struct fcall *c, uint32_t stdev, uint32_t idev,
			    uint32_t hwpt, bool shared, uint32_t peer)
{
	struct iommu_test_cmd *in = S(iommu_test_cmd);
	struct ctx *cx = &ep.ctx[c->ci];
	struct obj *pt = obj_find(cx, in->id);
	uint32_t ioas = pt && pt->type == OT_HWPT ? pt->ioas : in->id;
	struct obj *o;

	if (!hwpt)
		ioas = 0;
	else if (!obj_find(cx, hwpt))
		obj_add(cx, hwpt, OT_HWPT, ioas, 0);
	/* DEV records its STDEV in .ioas for obj_destroyed() */
	obj_add(cx, idev, OT_DEV, stdev, hwpt);
	o = obj_add(cx, stdev, OT_STDEV, ioas, hwpt);
	if (o)
		o->shared = shared;
	o = shared ? obj_find(cx, peer) : NULL;
	if (o)
		o->shared = true;
}

static void done_test(struct thr *t, struct fcall *c)
{
	struct iommu_test_cmd *a = (void *)c->out;
	struct iommu_test_cmd *in = S(iommu_test_cmd);
	struct ctx *cx = &ep.ctx[c->ci];
	struct obj *o, *pt;
	uint32_t old;

	/*
	 * Only in exact episodes: the model is sure the range is mapped, so
	 * the IOAS not mapping it (COPY fails with ENOENT) is a lost mapping,
	 * and the IOAS mapping it but not the domain a wrong page table.
	 */
	if (c->check_content && !c->mut && !ep.inexact) {
		int in_ioas = c->rc ? content_confirm(t, c) : 1;

		checked(INV_CONTENT);
		if (c->rc && in_ioas == 1)
			violation(INV_CONTENT,
				  "MD_CHECK_MAP hwpt %u iova %#llx len %#llx uptr %#llx: errno %d, and the IOAS does map the range",
				  in->id, (unsigned long long)in->check_map.iova,
				  (unsigned long long)in->check_map.length,
				  (unsigned long long)in->check_map.uptr, c->err);
		else if (c->rc && !in_ioas)
			violation(INV_CONTENT,
				  "lost mapping: hwpt %u iova %#llx len %#llx is in the model, the IOAS does not map it (MD_CHECK_MAP errno %d)",
				  in->id, (unsigned long long)in->check_map.iova,
				  (unsigned long long)in->check_map.length, c->err);
	}
	test_contract(c);
	if (c->rc)
		return;
	pthread_mutex_lock(&ep.lock);
	switch (in->op) {
	case IOMMU_TEST_OP_MOCK_DOMAIN:
		model_new_stdev(c, a->mock_domain.out_stdev_id,
				a->mock_domain.out_idev_id,
				a->mock_domain.out_hwpt_id, false, 0);
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		model_new_stdev(c, a->mock_domain_flags.out_stdev_id,
				a->mock_domain_flags.out_idev_id,
				a->mock_domain_flags.out_hwpt_id,
				in->mock_domain_flags.dev_flags &
				MOCK_FLAGS_DEVICE_SAME_GROUP,
				in->mock_domain_flags.peer_stdev_id);
		break;
	case IOMMU_TEST_OP_MOCK_DEVICE_ATTACH:
		o = obj_find(cx, in->id);
		if (!o || o->type != OT_STDEV)
			break;
		pt = obj_find(cx, in->mock_attach.pt_id);
		o->hwpt = a->mock_attach.out_hwpt_id;
		o->ioas = pt && pt->type == OT_HWPT ? pt->ioas :
			  in->mock_attach.pt_id;
		if (!obj_find(cx, o->hwpt))
			obj_add(cx, o->hwpt, OT_HWPT, o->ioas, 0);
		break;
	case IOMMU_TEST_OP_MOCK_DEVICE_DETACH:
		o = obj_find(cx, in->id);
		if (!o || o->type != OT_STDEV)
			break;
		old = o->hwpt;
		o->hwpt = 0;
		o->ioas = 0;
		hwpt_left(cx, old);
		break;
	}
	pthread_mutex_unlock(&ep.lock);
}

/* ---- VFIO generators --------------------------------------------------------- */

static void gen_group_status(struct thr *t, struct fcall *c)
{
}

static void gen_scalar_fd(struct thr *t, struct fcall *c)
{
	/* VFIO_GROUP_SET_CONTAINER: a pointer to an fd */
	int *p = (int *)c->s.b;

	switch (rn(&t->r, 5)) {
	case 0:
		*p = t->fd[0];
		break;
	case 1:
		*p = t->fd[1];
		break;
	case 2:
		*p = -1;
		break;
	case 3:
		*p = ep.vfio.group_fd;
		break;
	default:
		*p = 0; /* stdin: not an iommufd */
		break;
	}
}

static void gen_none(struct thr *t, struct fcall *c)
{
}

static void gen_get_device_fd(struct thr *t, struct fcall *c)
{
	static const char *const names[] = { "0000:00:05.0", "", "vfio",
					     "0000:00:03.0 " };

	if (chance(&t->r, 70))
		snprintf((char *)c->s.b, 64, "%s", edu_bdf);
	else
		snprintf((char *)c->s.b, 64, "%s", names[rn(&t->r, 4)]);
}

static void done_get_device_fd(struct thr *t, struct fcall *c)
{
	/* Keep at most one device fd: close the new one */
	if (c->rc >= 0)
		close(c->rc);
}

static void gen_check_ext(struct thr *t, struct fcall *c)
{
	c->scalar = rn(&t->r, 12);
}

static void gen_set_iommu(struct thr *t, struct fcall *c)
{
	c->scalar = chance(&t->r, 60) ? VFIO_TYPE1v2_IOMMU : rn(&t->r, 12);
}

static void gen_iommu_info(struct thr *t, struct fcall *c)
{
	/* Padding and reserved bytes must come back 0, not 0xff */
	memset(c->s.b, 0xff, sizeof(c->s.b));
	S(vfio_iommu_type1_info)->flags = 0;
}

static void done_iommu_info(struct thr *t, struct fcall *c)
{
	struct vfio_iommu_type1_info *a = (void *)c->out;

	if (c->rc || c->usize < sizeof(*a) || a->argsz > sizeof(c->out))
		return;
	/* 6.1's header has no name for the 4 bytes after cap_offset */
	if (*(uint32_t *)(c->out + 20))
		violation(INV_ERRNO, "VFIO_IOMMU_GET_INFO: padding after cap_offset is %#x",
			  *(uint32_t *)(c->out + 20));
	if ((a->flags & VFIO_IOMMU_INFO_CAPS) && a->cap_offset &&
	    a->argsz <= c->usize) {
		uint32_t off = a->cap_offset;
		int hops = 0;

		while (off && off + 8 <= a->argsz && hops++ < 8) {
			struct vfio_info_cap_header *h = (void *)(c->out + off);

			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
			    off + 16 <= a->argsz &&
			    ((struct vfio_iommu_type1_info_cap_iova_range *)h)->reserved)
				violation(INV_ERRNO, "GET_INFO IOVA_RANGE cap: reserved not 0");
			if (h->next && h->next <= off)
				break;
			off = h->next;
		}
	}
}

static void gen_map_dma(struct thr *t, struct fcall *c)
{
	struct vfio_iommu_type1_dma_map *a = S(vfio_iommu_type1_dma_map);
	uint64_t va, len, off;

	pick_urange(t, &va, &len, &off);
	a->flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	a->vaddr = va & ~(PAGE_SIZE - 1);
	a->size = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	a->iova = (1 + rn(&t->r, 4096)) * PAGE_SIZE;
}

static void gen_unmap_dma(struct thr *t, struct fcall *c)
{
	struct vfio_iommu_type1_dma_unmap *a = S(vfio_iommu_type1_dma_unmap);

	if (chance(&t->r, 20)) {
		a->flags = VFIO_DMA_UNMAP_FLAG_ALL;
		return;
	}
	a->iova = (1 + rn(&t->r, 4096)) * PAGE_SIZE;
	a->size = (1 + rn(&t->r, 64)) * PAGE_SIZE;
}

static void gen_dev_info(struct thr *t, struct fcall *c)
{
}

static void gen_hot_reset_info(struct thr *t, struct fcall *c)
{
	S(vfio_pci_hot_reset_info)->count = rn(&t->r, 3);
}

static void gen_bind(struct thr *t, struct fcall *c)
{
	static const char token[16] = "iommufd_fuzz_vf";
	struct vfio_device_bind_iommufd *a = S(vfio_device_bind_iommufd);

	int ci = chance(&t->r, 80) ? 0 : 1;

	a->iommufd = t->fd[ci];
	if (chance(&t->r, 10)) {
		/* The token is read before anything else */
		a->flags = VFIO_DEVICE_BIND_FLAG_TOKEN;
		if (chance(&t->r, 50)) {
			c->expect = EFAULT;
		} else {
			/* edu is neither a VF nor a PF: it takes no token */
			a->token_uuid_ptr = (uintptr_t)token;
			c->expect = EINVAL;
		}
	}
	/* A killed context's fd is /dev/null: EBADFD comes first then */
	if (__atomic_load_n(&ep.ctx[ci].dead, __ATOMIC_SEQ_CST) &&
	    c->expect == EINVAL)
		c->expect = 0;
}

/* Whether the cdev contract can be checked: the model is exact */
static bool cdev_model(void)
{
	return ep.single && ep.vfio.mode == 3;
}

static void done_bind(struct thr *t, struct fcall *c)
{
	struct vfio_device_bind_iommufd *a = (void *)c->out;
	struct vfio_device_bind_iommufd *in = S(vfio_device_bind_iommufd);
	struct vfio_state *v = &ep.vfio;
	int ci = in->iommufd == t->fd[1];

	/* One bind per open file */
	if (cdev_model() && !c->mut && !in->flags && v->bound)
		contract(c, EINVAL, "second bind of the file");
	if (c->rc)
		return;
	if (!a->out_devid || a->out_devid > 0x7fffffff)
		violation(INV_ERRNO, "BIND_IOMMUFD out_devid %u", a->out_devid);
	pthread_mutex_lock(&ep.lock);
	obj_add(&ep.ctx[ci], a->out_devid, OT_DEV, 0, 0);
	if (cdev_model()) {
		v->bound = true;
		v->bound_ci = ci;
		v->hwpt = 0;
	}
	pthread_mutex_unlock(&ep.lock);
}

static void gen_attach(struct thr *t, struct fcall *c)
{
	struct vfio_device_attach_iommufd_pt *a = S(vfio_device_attach_iommufd_pt);

	a->pt_id = gen_id(t, ep.vfio.bound_ci,
			  chance(&t->r, 80) ? OT_IOAS : OT_HWPT);
	if (chance(&t->r, 5))
		a->flags = VFIO_DEVICE_ATTACH_PASID;
}

/*
 * ATTACH and DETACH on the cdev: the PASID flag is refused by a bound file
 * whatever argsz says, and a file that is not bound refuses every ioctl
 * but BIND with EINVAL.  Returns false if the caller's own contract
 * applies: the model is exact, the call is unmutated and the file bound.
 */
static bool cdev_pasid_contract(struct fcall *c, uint32_t flags,
				uint32_t pasid_flag)
{
	if (!cdev_model() ||
	    (c->mut && strcmp(c->mut, "flags_random_known")))
		return true;
	if (flags & pasid_flag) {
		contract(c, ep.vfio.bound ? EOPNOTSUPP : EINVAL, "PASID flag");
		return true;
	}
	if (!ep.vfio.bound) {
		contract(c, EINVAL, "file not bound");
		return true;
	}
	return c->mut;
}

static void done_attach(struct thr *t, struct fcall *c)
{
	struct vfio_device_attach_iommufd_pt *a = (void *)c->out;
	struct vfio_device_attach_iommufd_pt *in = S(vfio_device_attach_iommufd_pt);
	struct vfio_state *v = &ep.vfio;
	struct obj *o;

	/* A replace with the page table the device is on does nothing */
	if (!cdev_pasid_contract(c, in->flags, VFIO_DEVICE_ATTACH_PASID) &&
	    v->hwpt && in->pt_id == v->hwpt)
		contract(c, 0, "replace with its own HWPT");
	if (c->rc)
		return;
	pthread_mutex_lock(&ep.lock);
	/* Replaced: the automatic HWPT left without its device is gone */
	if (cdev_model() && v->hwpt && a->pt_id != v->hwpt &&
	    obj_find(&ep.ctx[v->bound_ci], v->hwpt))
		obj_stale(&ep.ctx[v->bound_ci], v->hwpt);
	if (a->pt_id != in->pt_id) {
		o = obj_add(&ep.ctx[v->bound_ci], a->pt_id, OT_HWPT,
			    in->pt_id, 0);
		if (o)
			o->real = true;
	}
	if (cdev_model())
		v->hwpt = a->pt_id;
	pthread_mutex_unlock(&ep.lock);
}

static void gen_detach(struct thr *t, struct fcall *c)
{
	if (chance(&t->r, 5))
		S(vfio_device_detach_iommufd_pt)->flags = VFIO_DEVICE_DETACH_PASID;
}

static void done_detach(struct thr *t, struct fcall *c)
{
	struct vfio_device_detach_iommufd_pt *in = S(vfio_device_detach_iommufd_pt);
	struct vfio_state *v = &ep.vfio;

	/* Detaching a bound device always works, attached or not */
	if (!cdev_pasid_contract(c, in->flags, VFIO_DEVICE_DETACH_PASID))
		contract(c, 0, "bound file");
	if (c->rc || !cdev_model())
		return;
	pthread_mutex_lock(&ep.lock);
	/* The automatic HWPT goes with its only device */
	if (v->hwpt && obj_find(&ep.ctx[v->bound_ci], v->hwpt))
		obj_stale(&ep.ctx[v->bound_ci], v->hwpt);
	v->hwpt = 0;
	pthread_mutex_unlock(&ep.lock);
}

/* IOMMU_VFIO_IOAS against the model, in episodes without VFIO */
static void done_vfio_ioas(struct thr *t, struct fcall *c)
{
	struct iommu_vfio_ioas *in = S(iommu_vfio_ioas);
	struct iommu_vfio_ioas *a = (void *)c->out;
	struct ctx *cx = &ep.ctx[c->ci];
	bool model = ep.single && !ep.vfio.mode && !ep.inexact;

	if (model && !c->mut) {
		switch (in->op) {
		case IOMMU_VFIO_IOAS_GET:
			contract(c, cx->compat_ioas ? 0 : ENODEV,
				 cx->compat_ioas ? "compat IOAS set" :
						   "no compat IOAS");
			if (!c->rc && a->ioas_id != cx->compat_ioas)
				violation(INV_ERRNO, "VFIO_IOAS GET: IOAS %u, model %u",
					  a->ioas_id, cx->compat_ioas);
			break;
		case IOMMU_VFIO_IOAS_SET:
			if (model_is(c, in->ioas_id, OT_IOAS))
				contract(c, 0, "SET of an IOAS");
			break;
		case IOMMU_VFIO_IOAS_CLEAR:
			contract(c, 0, "CLEAR");
			break;
		}
	}
	if (model && c->mut && !strcmp(c->mut, "id") &&
	    in->op == IOMMU_VFIO_IOAS_SET &&
	    (!in->ioas_id || in->ioas_id >= 0x7fffffff))
		contract(c, ENOENT, "SET of no object");
	if (c->rc)
		return;
	pthread_mutex_lock(&ep.lock);
	if (in->op == IOMMU_VFIO_IOAS_SET)
		cx->compat_ioas = in->ioas_id;
	else if (in->op == IOMMU_VFIO_IOAS_CLEAR)
		cx->compat_ioas = 0;
	pthread_mutex_unlock(&ep.lock);
}

/*
 * What the model does not follow: the compat IOAS that SET_CONTAINER
 * creates, the mappings of VFIO_IOMMU_MAP_DMA, and the type1 v1 unmap that
 * cuts mappings.  Once one succeeded, the model is no longer exact.
 */
static void done_compat(struct thr *t, struct fcall *c)
{
	if (c->rc < 0)
		return;
	pthread_mutex_lock(&ep.lock);
	ep.inexact = true;
	pthread_mutex_unlock(&ep.lock);
}

/* ---- availability -------------------------------------------------------------- */

static bool av_test(void)
{
	return have_test_cmd;
}

static bool av_vfio_ioas(void)
{
	return have_vfio_ioas;
}

static bool av_compat(void)
{
	return have_compat && ep.vfio.mode == 2;
}

static bool av_group(void)
{
	return ep.vfio.mode == 1 || ep.vfio.mode == 2;
}

static bool av_dev(void)
{
	return ep.vfio.mode && ep.vfio.mode != 3;
}

static bool av_cdev(void)
{
	return ep.vfio.mode == 3;
}

/* ---- the table ------------------------------------------------------------------ */

static const struct field f_destroy[] = {
	FLD(iommu_destroy, id, 4, F_ID, 0, true),
};

static const struct field f_ioas_alloc[] = {
	FLD(iommu_ioas_alloc, flags, 4, F_FLAGS, 0, true),
};

static const struct field f_allow[] = {
	FLD(iommu_ioas_allow_iovas, ioas_id, 4, F_ID, 0, false),
	FLD(iommu_ioas_allow_iovas, num_iovas, 4, F_NUM, 0, false),
	FLD(iommu_ioas_allow_iovas, __reserved, 4, F_RSVD, 0, true),
	FLD(iommu_ioas_allow_iovas, allowed_iovas, 8, F_UPTR, 0, false),
};

static const struct field f_ranges[] = {
	FLD(iommu_ioas_iova_ranges, ioas_id, 4, F_ID, 0, true),
	FLD(iommu_ioas_iova_ranges, num_iovas, 4, F_NUM, 0, false),
	FLD(iommu_ioas_iova_ranges, __reserved, 4, F_RSVD, 0, true),
	FLD(iommu_ioas_iova_ranges, allowed_iovas, 8, F_UPTR, 0, false),
};

static const struct field f_map[] = {
	FLD(iommu_ioas_map, flags, 4, F_FLAGS, 7, true),
	FLD(iommu_ioas_map, ioas_id, 4, F_ID, 0, true),
	FLD(iommu_ioas_map, __reserved, 4, F_RSVD, 0, true),
	FLD(iommu_ioas_map, user_va, 8, F_UPTR, 0, false),
	FLD(iommu_ioas_map, length, 8, F_LEN, 0, false),
	FLD(iommu_ioas_map, iova, 8, F_IOVA, 0, false),
};

static const struct field f_copy[] = {
	FLD(iommu_ioas_copy, flags, 4, F_FLAGS, 7, true),
	FLD(iommu_ioas_copy, dst_ioas_id, 4, F_ID, 0, false),
	FLD(iommu_ioas_copy, src_ioas_id, 4, F_ID, 0, true),
	FLD(iommu_ioas_copy, length, 8, F_LEN, 0, false),
	FLD(iommu_ioas_copy, dst_iova, 8, F_IOVA, 0, false),
	FLD(iommu_ioas_copy, src_iova, 8, F_IOVA, 0, false),
};

static const struct field f_unmap[] = {
	FLD(iommu_ioas_unmap, ioas_id, 4, F_ID, 0, false),
	FLD(iommu_ioas_unmap, iova, 8, F_IOVA, 0, false),
	FLD(iommu_ioas_unmap, length, 8, F_LEN, 0, false),
};

static const struct field f_option[] = {
	FLD(iommu_option, option_id, 4, F_ENUM, 1, true),
	FLD(iommu_option, op, 2, F_ENUM, 1, true),
	FLD(iommu_option, __reserved, 2, F_RSVD, 0, true),
	FLD(iommu_option, object_id, 4, F_ID, 0, false),
	FLD(iommu_option, val64, 8, F_NUM, 0, false),
};

static const struct field f_vfio_ioas[] = {
	FLD(iommu_vfio_ioas, ioas_id, 4, F_ID, 0, false),
	FLD(iommu_vfio_ioas, op, 2, F_ENUM, 2, true),
	FLD(iommu_vfio_ioas, __reserved, 2, F_RSVD, 0, true),
};

static const struct field f_test[] = {
	FLD(iommu_test_cmd, op, 4, F_ENUM, IOMMU_TEST_OP_ACCESS_UNMAPS, true),
	FLD(iommu_test_cmd, id, 4, F_ID, 0, false),
	FLD(iommu_test_cmd, __reserved, 4, F_RSVD, 0, true),
	FLD(iommu_test_cmd, check_map.iova, 8, F_IOVA, 0, false),
	FLD(iommu_test_cmd, check_map.length, 8, F_LEN, 0, false),
	FLD(iommu_test_cmd, check_map.uptr, 8, F_UPTR, 0, false),
	FLD(iommu_test_cmd, last, 4, F_NUM, 0, false),
};

static const struct field f_group_status[] = {
	FLD(vfio_group_status, flags, 4, F_NUM, 0, false),
};

static const struct field f_iommu_info[] = {
	FLD(vfio_iommu_type1_info, flags, 4, F_NUM, 0, false),
	FLD(vfio_iommu_type1_info, cap_offset, 4, F_NUM, 0, false),
};

static const struct field f_map_dma[] = {
	FLD(vfio_iommu_type1_dma_map, flags, 4, F_FLAGS, 3, true),
	FLD(vfio_iommu_type1_dma_map, vaddr, 8, F_UPTR, 0, false),
	FLD(vfio_iommu_type1_dma_map, iova, 8, F_IOVA, 0, false),
	FLD(vfio_iommu_type1_dma_map, size, 8, F_LEN, 0, false),
};

static const struct field f_unmap_dma[] = {
	FLD(vfio_iommu_type1_dma_unmap, flags, 4, F_FLAGS, VFIO_DMA_UNMAP_FLAG_ALL, true),
	FLD(vfio_iommu_type1_dma_unmap, iova, 8, F_IOVA, 0, false),
	FLD(vfio_iommu_type1_dma_unmap, size, 8, F_LEN, 0, false),
};

static const struct field f_dev_info[] = {
	FLD(vfio_device_info, flags, 4, F_NUM, 0, false),
};

static const struct field f_hot_reset_info[] = {
	FLD(vfio_pci_hot_reset_info, flags, 4, F_NUM, 0, false),
	FLD(vfio_pci_hot_reset_info, count, 4, F_NUM, 0, false),
};

static const struct field f_bind[] = {
	FLD(vfio_device_bind_iommufd, flags, 4, F_FLAGS, 1, true),
	FLD(vfio_device_bind_iommufd, iommufd, 4, F_FD, 0, false),
	FLD(vfio_device_bind_iommufd, token_uuid_ptr, 8, F_UPTR, 0, false),
};

static const struct field f_attach[] = {
	FLD(vfio_device_attach_iommufd_pt, flags, 4, F_FLAGS, 1, true),
	FLD(vfio_device_attach_iommufd_pt, pt_id, 4, F_ID, 0, false),
	FLD(vfio_device_attach_iommufd_pt, pasid, 4, F_NUM, 0, false),
};

static const struct field f_detach[] = {
	FLD(vfio_device_detach_iommufd_pt, flags, 4, F_FLAGS, 1, true),
	FLD(vfio_device_detach_iommufd_pt, pasid, 4, F_NUM, 0, false),
};

static const int e_vfio[] = { EFAULT, EINVAL, ENOENT, EBUSY, ENODEV, EBADF,
			      EBADFD, EPERM, ENOMEM, ENOTTY, ENOSPC, EEXIST,
			      EOPNOTSUPP, EADDRINUSE, E2BIG, EOVERFLOW, EACCES,
			      0 };

static const struct op ops[] = {
	{ "DESTROY", IOMMU_DESTROY, sizeof(struct iommu_destroy), 8, FD_IOMMUFD,
	  false, false, f_destroy, ARRAY_SIZE(f_destroy), 6,
	  ERRNOS(EBUSY), NULL,
	  gen_destroy, done_destroy },
	{ "IOAS_ALLOC", IOMMU_IOAS_ALLOC, sizeof(struct iommu_ioas_alloc), 12, FD_IOMMUFD,
	  false, false, f_ioas_alloc, ARRAY_SIZE(f_ioas_alloc), 6,
	  e_common, NULL,
	  gen_ioas_alloc, done_ioas_alloc },
	{ "IOAS_ALLOW_IOVAS", IOMMU_IOAS_ALLOW_IOVAS,
	  sizeof(struct iommu_ioas_allow_iovas), 24, FD_IOMMUFD,
	  false, false, f_allow, ARRAY_SIZE(f_allow), 3,
	  ERRNOS(EOVERFLOW, EADDRINUSE), NULL,
	  gen_allow_iovas, NULL },
	{ "IOAS_COPY", IOMMU_IOAS_COPY, sizeof(struct iommu_ioas_copy), 40, FD_IOMMUFD,
	  false, false, f_copy, ARRAY_SIZE(f_copy), 8,
	  ERRNOS(EOVERFLOW, EEXIST, ENOSPC, EPERM, EBUSY), NULL,
	  gen_copy, done_copy },
	{ "IOAS_IOVA_RANGES", IOMMU_IOAS_IOVA_RANGES,
	  sizeof(struct iommu_ioas_iova_ranges), 32, FD_IOMMUFD,
	  false, false, f_ranges, ARRAY_SIZE(f_ranges), 4,
	  ERRNOS(EMSGSIZE), NULL,
	  gen_iova_ranges, done_iova_ranges },
	{ "IOAS_MAP", IOMMU_IOAS_MAP, sizeof(struct iommu_ioas_map), 40, FD_IOMMUFD,
	  false, false, f_map, ARRAY_SIZE(f_map), 14,
	  ERRNOS(EOVERFLOW, EEXIST, ENOSPC, EPERM, EBUSY, EADDRINUSE), NULL,
	  gen_map, done_map },
	{ "IOAS_UNMAP", IOMMU_IOAS_UNMAP, sizeof(struct iommu_ioas_unmap), 24, FD_IOMMUFD,
	  false, false, f_unmap, ARRAY_SIZE(f_unmap), 10,
	  ERRNOS(EOVERFLOW), NULL,
	  gen_unmap, done_unmap },
	{ "OPTION", IOMMU_OPTION, sizeof(struct iommu_option), 24, FD_IOMMUFD,
	  false, false, f_option, ARRAY_SIZE(f_option), 4,
	  ERRNOS(EPERM, EBUSY, EADDRINUSE), NULL,
	  gen_option, done_option },
	{ "VFIO_IOAS", IOMMU_VFIO_IOAS, sizeof(struct iommu_vfio_ioas), 12,
	  FD_IOMMUFD, false, false, f_vfio_ioas, ARRAY_SIZE(f_vfio_ioas), 3,
	  ERRNOS(ENODEV), av_vfio_ioas, gen_vfio_ioas, done_vfio_ioas },
	{ "TEST_CMD", IOMMU_TEST_CMD, sizeof(struct iommu_test_cmd),
	  offsetof(struct iommu_test_cmd, last) + sizeof(__u32), FD_IOMMUFD,
	  false, false, f_test,
	  ARRAY_SIZE(f_test), 14,
	  /*
	   * ENXIO: a mock device refusing a domain of another mock IOMMU;
	   * EPERM: an attach of a device the context does not own
	   */
	  ERRNOS(EOVERFLOW, EEXIST, EBUSY, EADDRINUSE, EINTR, ENOSPC, ENODEV,
		 ENXIO, EPERM),
	  av_test, gen_test, done_test },
	/* VFIO: group FD with an iommufd, iommufd as the type1 container */
	{ "GROUP_GET_STATUS", VFIO_GROUP_GET_STATUS,
	  sizeof(struct vfio_group_status), 8, FD_GROUP, true, false,
	  f_group_status, ARRAY_SIZE(f_group_status), 2, e_vfio, av_group,
	  gen_group_status, NULL },
	{ "GROUP_SET_CONTAINER", VFIO_GROUP_SET_CONTAINER, sizeof(int),
	  sizeof(int), FD_GROUP, true, true, NULL, 0, 2, e_vfio, av_group,
	  gen_scalar_fd, done_compat },
	{ "GROUP_UNSET_CONTAINER", VFIO_GROUP_UNSET_CONTAINER, 0, 0, FD_GROUP,
	  true, true, NULL, 0, 1, e_vfio, av_group, gen_none, done_compat },
	{ "GROUP_GET_DEVICE_FD", VFIO_GROUP_GET_DEVICE_FD, 64, 64, FD_GROUP,
	  true, true, NULL, 0, 1, e_vfio, av_group, gen_get_device_fd,
	  done_get_device_fd },
	{ "CHECK_EXTENSION", VFIO_CHECK_EXTENSION, 0, 0, FD_IOMMUFD, true,
	  true, NULL, 0, 2, e_vfio, av_compat, gen_check_ext, NULL },
	{ "SET_IOMMU", VFIO_SET_IOMMU, 0, 0, FD_IOMMUFD, true, true, NULL, 0,
	  2, e_vfio, av_compat, gen_set_iommu, NULL },
	{ "IOMMU_GET_INFO", VFIO_IOMMU_GET_INFO, 256, 16, FD_IOMMUFD, true,
	  false, f_iommu_info, ARRAY_SIZE(f_iommu_info), 3, e_vfio, av_compat,
	  gen_iommu_info, done_iommu_info },
	{ "IOMMU_MAP_DMA", VFIO_IOMMU_MAP_DMA,
	  sizeof(struct vfio_iommu_type1_dma_map), 32, FD_IOMMUFD, true, false,
	  f_map_dma, ARRAY_SIZE(f_map_dma), 5, e_vfio, av_compat, gen_map_dma,
	  done_compat },
	{ "IOMMU_UNMAP_DMA", VFIO_IOMMU_UNMAP_DMA,
	  sizeof(struct vfio_iommu_type1_dma_unmap), 24, FD_IOMMUFD, true,
	  false, f_unmap_dma, ARRAY_SIZE(f_unmap_dma), 4, e_vfio, av_compat,
	  gen_unmap_dma, done_compat },
	{ "DEVICE_GET_INFO", VFIO_DEVICE_GET_INFO,
	  sizeof(struct vfio_device_info), 16, FD_DEVICE, true, false,
	  f_dev_info, ARRAY_SIZE(f_dev_info), 1, e_vfio, av_dev, gen_dev_info, NULL },
	{ "HOT_RESET_INFO", VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
	  sizeof(struct vfio_pci_hot_reset_info) + 8 * 4, 12, FD_DEVICE, true,
	  false, f_hot_reset_info, ARRAY_SIZE(f_hot_reset_info), 1, e_vfio, av_dev,
	  gen_hot_reset_info, NULL },
	/* The device cdev */
	{ "BIND_IOMMUFD", VFIO_DEVICE_BIND_IOMMUFD,
	  sizeof(struct vfio_device_bind_iommufd), 16, FD_CDEV, true, false,
	  f_bind, ARRAY_SIZE(f_bind), 1, e_vfio, av_cdev, gen_bind, done_bind },
	{ "ATTACH_IOMMUFD_PT", VFIO_DEVICE_ATTACH_IOMMUFD_PT,
	  sizeof(struct vfio_device_attach_iommufd_pt), 12, FD_CDEV, true,
	  false, f_attach, ARRAY_SIZE(f_attach), 4, e_vfio, av_cdev, gen_attach,
	  done_attach },
	{ "DETACH_IOMMUFD_PT", VFIO_DEVICE_DETACH_IOMMUFD_PT,
	  sizeof(struct vfio_device_detach_iommufd_pt), 8, FD_CDEV, true,
	  false, f_detach, ARRAY_SIZE(f_detach), 2, e_vfio, av_cdev, gen_detach,
	  done_detach },
	{ "CDEV_GET_INFO", VFIO_DEVICE_GET_INFO,
	  sizeof(struct vfio_device_info), 16, FD_CDEV, true, false,
	  f_dev_info, ARRAY_SIZE(f_dev_info), 1, e_vfio, av_cdev, gen_dev_info, NULL },
	{ "CDEV_HOT_RESET_INFO", VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
	  sizeof(struct vfio_pci_hot_reset_info) + 8 * 4, 12, FD_CDEV, true,
	  false, f_hot_reset_info, ARRAY_SIZE(f_hot_reset_info), 1, e_vfio, av_cdev,
	  gen_hot_reset_info, NULL },
};

#define NOPS ((int)ARRAY_SIZE(ops))
static long op_calls[NOPS], op_ok[NOPS], op_usec[NOPS];
static bool op_avail[NOPS];	/* available in some episode */
static double t_episode_overhead;	/* setup, teardown and checks */

/*
 * Coverage: in a run of at least COVER_RUN calls, every op available in
 * some episode is called COVER_MIN times and succeeds once, except these.
 * The edu of the VFIO modes is alone on the root bus, where no reset is
 * possible: VFIO_DEVICE_GET_PCI_HOT_RESET_INFO always fails on it.
 */
#define COVER_RUN 20000
#define COVER_MIN 20
static const char *const never_ok[] = { "HOT_RESET_INFO", "CDEV_HOT_RESET_INFO" };

static void check_coverage(void)
{
	unsigned int j;
	bool may_fail;
	int i;

	if (total_calls < COVER_RUN) {
		invs[INV_COVER].skip = true;
		snprintf(invs[INV_COVER].skip_why, 128, "fewer than %d calls",
			 COVER_RUN);
		return;
	}
	for (i = 0; i < NOPS; i++) {
		if (!op_avail[i])
			continue;
		may_fail = false;
		for (j = 0; j < ARRAY_SIZE(never_ok); j++)
			may_fail |= !strcmp(ops[i].name, never_ok[j]);
		checked(INV_COVER);
		if (op_calls[i] < COVER_MIN || (!op_ok[i] && !may_fail))
			violation(INV_COVER,
				  "op %s: %ld calls (%d required), %ld succeeded",
				  ops[i].name, op_calls[i], COVER_MIN, op_ok[i]);
	}
}

/* Every field must lie inside its structure, with a size the code handles */
static void check_tables(void)
{
	int i, j;

	for (i = 0; i < NOPS; i++)
		for (j = 0; j < ops[i].nfields; j++) {
			const struct field *f = &ops[i].fields[j];

			if ((f->width != 2 && f->width != 4 && f->width != 8) ||
			    f->off + f->width > ops[i].ksize || f->off % f->width)
				ksft_exit_fail_msg("table: %s.%s\n", ops[i].name,
						   f->name);
		}
}

/* ---- mutation ------------------------------------------------------------------ */

static uint64_t evil_iova(struct thr *t, uint64_t cur, uint64_t len)
{
	switch (rn(&t->r, 9)) {
	case 0:
		return 0;
	case 1:
		return cur + 1; /* unaligned */
	case 2:
		return cur + MOCK_PAGE; /* sub-page */
	case 3:
		return UINT64_MAX - PAGE_SIZE + 1; /* near the top */
	case 4:
		return -len / 2; /* wraps */
	case 5:
		return 1ULL << 63;
	case 6:
		return rn(&t->r, MOCK_APERTURE_START); /* reserved (mock) */
	case 7:
		return MOCK_APERTURE_LAST + 1 - PAGE_SIZE; /* crosses the end */
	default:
		return rnd(&t->r);
	}
}

static uint64_t evil_len(struct thr *t, uint64_t cur)
{
	switch (rn(&t->r, 9)) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	case 2:
		return cur + 1;
	case 3:
		return cur - 1;
	case 4:
		return 1ULL << 62;
	case 5:
		return cur * 2;
	case 6:
		return MOCK_PAGE;
	case 7:
		return ULONG_MAX / 2;
	default:
		return rnd(&t->r) & ~(PAGE_SIZE - 1);
	}
}

static uint64_t evil_uptr(struct thr *t, uint64_t cur)
{
	switch (rn(&t->r, 8)) {
	case 0:
		return 0;
	case 1:
		return 0xffff888000000000ULL; /* kernel */
	case 2:
		/* next to PROT_NONE */
		return (uintptr_t)ep.bufs[B_GUARD].addr +
		       ep.bufs[B_GUARD].len - PAGE_SIZE;
	case 3:
		return (uintptr_t)ep.bufs[B_RO].addr;
	case 4:
		return cur + 1;
	case 5:
		return (uintptr_t)t->arg + ARGBUF; /* PROT_NONE */
	case 6:
		return (uintptr_t)ep.scratch; /* PROT_NONE */
	default:
		return rnd(&t->r);
	}
}

static uint32_t evil_id(struct thr *t, struct fcall *c, bool *strict)
{
	struct ctx *cx = &ep.ctx[c->ci];

	*strict = false;
	switch (rn(&t->r, 7)) {
	case 0:
		*strict = true;
		return 0;
	case 1:
		*strict = true;
		return 0x80000000U + rn(&t->r, 0x7fffffff);	/* beyond 31 bits */
	case 2:
		*strict = true;
		return 0x7fffffff;	/* never reached in a test */
	case 3:
		{; /* stale */
		uint32_t id = 0;

		pthread_mutex_lock(&ep.lock);
		if (cx->nstale)
			id = cx->stale[rn(&t->r, cx->nstale)];
		pthread_mutex_unlock(&ep.lock);
		return id ? id : 1;
	}
	case 4:	/* of another context */
		return gen_id(t, !c->ci, 0);
	default:	/* any type */
		return gen_id(t, c->ci, 1 + rn(&t->r, OT_NR - 1));
	}
}

/* Mutate one thing of @c; sets c->mut and, when known, c->expect */
static void mutate(struct thr *t, struct fcall *c)
{
	const struct op *op = c->op;
	int nf = op->nfields + (op->scalar ? 0 : 1);
	int pick = rn(&t->r, nf + 1);	/* +1: the size gets two chances */
	const struct field *f;
	bool strict;
	uint64_t v;

	if (op->scalar) {
		c->mut = "scalar";
		c->scalar = chance(&t->r, 50) ? rnd(&t->r) : rn(&t->r, 64);
		if (op->ksize == sizeof(int))
			*(int *)c->s.b = rn(&t->r, 64);
		return;
	}
	if (pick >= op->nfields) {
		/* The size / argsz word */
		switch (rn(&t->r, 7)) {
		case 0:
			c->mut = "size_short";
			c->usize = op->minsize ? rn(&t->r, op->minsize) : 0;
			c->blen = op->ksize;
			c->expect = EINVAL;
			break;
		case 1:
			c->mut = "size_long_zero";
			c->usize = op->ksize + 8 * (1 + rn(&t->r, 16));
			c->blen = c->usize;
			break;
		case 2:
			c->mut = "size_long_tail";
			c->usize = op->ksize + 1 + rn(&t->r, 64);
			c->blen = c->usize;
			c->tail = 1 + rn(&t->r, 255);
			/* iommufd: E2BIG; VFIO's argsz only bounds what is read */
			if (!op->vfio)
				c->expect = E2BIG;
			break;
		case 3:
			c->mut = "size_fault";
			c->usize = op->ksize + 64 + rn(&t->r, PAGE_SIZE);
			c->blen = op->ksize;
			c->at_end = true;
			break;
		case 4:
			c->mut = "size_huge";
			c->usize = chance(&t->r, 50) ? UINT32_MAX : 1U << 20;
			c->blen = op->ksize;
			c->at_end = true;
			break;
		case 5:
			c->mut = "size_min";
			c->usize = op->minsize;
			c->blen = op->ksize;
			break;
		default:
			c->mut = "size_page";
			c->usize = PAGE_SIZE;
			c->blen = PAGE_SIZE;
			break;
		}
		return;
	}

	f = &op->fields[pick];
	v = get_f(c, f);
	switch (f->kind) {
	case F_FLAGS:
		if (chance(&t->r, 60) && f->valid != UINT64_MAX) {
			unsigned int bit;

			do
				bit = rn(&t->r, f->width * 8);
			while ((1ULL << bit) & f->valid);
			v |= 1ULL << bit;
			c->mut = "flags_unknown";
			if (f->strict)
				c->expect = op->vfio ? EINVAL : EOPNOTSUPP;
		} else {
			v = rnd(&t->r) & f->valid;
			c->mut = "flags_random_known";
		}
		break;
	case F_ID:
		v = evil_id(t, c, &strict);
		c->mut = "id";
		if (strict && f->strict && (v == 0 || v >= 0x7fffffff))
			c->expect = ENOENT;
		break;
	case F_IOVA:
		v = evil_iova(t, v, 0);
		c->mut = "iova";
		break;
	case F_LEN:
		v = evil_len(t, v);
		c->mut = "length";
		break;
	case F_UPTR:
		v = evil_uptr(t, v);
		c->mut = "uptr";
		break;
	case F_RSVD:
		v = 1 + rn(&t->r, 0xffff);
		c->mut = "reserved";
		if (f->strict)
			c->expect = EOPNOTSUPP;
		break;
	case F_ENUM:
		v = f->valid + 1 + rn(&t->r, 1000);
		c->mut = "enum";
		if (f->strict)
			c->expect = op->vfio ? EINVAL : EOPNOTSUPP;
		break;
	case F_NUM:
		v = chance(&t->r, 50) ? rnd(&t->r) : rn(&t->r, 1 << 20);
		c->mut = "number";
		break;
	case F_FD:
		v = (uint32_t)(chance(&t->r, 50) ? -1 : (int)rn(&t->r, 64));
		c->mut = "fd";
		break;
	}
	set_f(c, f, v);
}

/* ---- making one call --------------------------------------------------------------- */

static bool errno_allowed(const struct op *op, int err)
{
	const int *e;

	if (err == EBADF || err == EINTR)	/* fd closed under us; signals */
		return true;
	for (e = op->errnos; *e; e++)
		if (*e == err)
			return true;
	return false;
}

static int op_fd(struct thr *t, const struct op *op, int ci)
{
	switch (op->fdk) {
	case FD_IOMMUFD:
		return __atomic_load_n(&ep.ctx[ci].dead, __ATOMIC_SEQ_CST) ?
		       -1 : t->fd[ci];
	case FD_GROUP:
		return ep.vfio.group_fd;
	case FD_DEVICE:
		return __atomic_load_n(&ep.vfio.dev_dead, __ATOMIC_SEQ_CST) ?
		       -1 : ep.vfio.dev_fd;
	case FD_CDEV:
		return ep.vfio.cdev_fd;
	}
	return -1;
}

static const struct op *pick_op(struct thr *t)
{
	int total = 0, i, w;

	for (i = 0; i < NOPS; i++)
		if (!ops[i].avail || ops[i].avail()) {
			total += ops[i].weight;
			if (!__atomic_load_n(&op_avail[i], __ATOMIC_RELAXED))
				__atomic_store_n(&op_avail[i], true,
						 __ATOMIC_RELAXED);
		}
	w = rn(&t->r, total);
	for (i = 0; i < NOPS; i++) {
		if (ops[i].avail && !ops[i].avail())
			continue;
		if (w < ops[i].weight)
			return &ops[i];
		w -= ops[i].weight;
	}
	return &ops[0];
}

static void record(struct thr *t, struct fcall *c)
{
	struct call_rec *h = &t->hist[t->nhist++ % HIST];

	h->op = c->op->name;
	h->mut = c->mut;
	h->rc = c->rc;
	h->err = c->err;
	h->usize = c->usize;
}

static void dump_hist(struct thr *t)
{
	unsigned int i, n = t->nhist < HIST ? t->nhist : HIST;

	for (i = t->nhist - n; i != t->nhist; i++) {
		struct call_rec *h = &t->hist[i % HIST];

		printf("#   thread %d call %u: %s mutation=%s size=%u rc=%d errno=%d\n",
		       t->idx, i, h->op, h->mut ? h->mut : "none", h->usize,
		       h->rc, h->err);
	}
}

/* One line per call: what the kernel left in the argument, and the result */
static void trace_call(struct thr *t, struct fcall *c)
{
	uint32_t i, n = c->op->ksize < 48 ? c->op->ksize : 48;

	printf("# trace thread %d %s ctx %d fd %d mutation %s size %u rc %d errno %d:",
	       t->idx, c->op->name, c->ci, c->fd, c->mut ? c->mut : "none",
	       c->usize, c->rc, c->err);
	if (c->op->scalar && !c->op->ksize)
		printf(" arg %#lx", c->scalar);
	for (i = 0; i < n; i += 8) {
		uint64_t v = 0;

		memcpy(&v, c->out + i, n - i < 8 ? n - i : 8);
		printf(" %#llx", (unsigned long long)v);
	}
	printf("\n");
}

static void one_call(struct thr *t)
{
	struct fcall c;
	const struct op *op = pick_op(t);
	unsigned long fdgen;
	double t_call = 0;
	char *place;
	int i;

	/* Before the call is built from the model of the files it will use */
	fdgen = __atomic_load_n(&ep.fdgen, __ATOMIC_SEQ_CST);
	memset(&c, 0, sizeof(c));
	c.op = op;
	c.ci = chance(&t->r, 85) ? 0 : 1;
	c.usize = op->ksize;
	c.blen = op->ksize;
	op->gen(t, &c);
	if (chance(&t->r, 50)) {
		/* What the generator expected holds for its own call only */
		c.expect = 0;
		mutate(t, &c);
	}

	c.fd = op_fd(t, op, c.ci);
	if (c.fd < 0)
		return;
	if (c.mut)
		t->mutated++;
	if (op->scalar && !op->ksize) {
		/* The argument is a number */
		t_call = now_s();
		c.rc = ioctl(c.fd, op->nr, c.scalar);
		c.err = c.rc < 0 ? errno : 0;
		t_call = now_s() - t_call;
	} else {
		uint32_t blen = c.blen > ARGBUF ? ARGBUF : c.blen;
		uint32_t klen = op->ksize < blen ? op->ksize : blen;

		place = c.at_end ? t->arg + ARGBUF - blen : t->arg;
		memset(place, 0, blen);
		memcpy(place, c.s.b, klen);
		/* size (iommufd) or argsz (VFIO): the first word of a structure */
		if (!op->scalar)
			memcpy(place, &c.usize, sizeof(c.usize));
		if (c.tail && c.usize <= blen && c.usize > klen)
			place[c.usize - 1] = c.tail;
		t_call = now_s();
		c.rc = ioctl(c.fd, op->nr, place);
		c.err = c.rc < 0 ? errno : 0;
		t_call = now_s() - t_call;
		memcpy(c.out, place, klen < sizeof(c.out) ? klen : sizeof(c.out));
	}

	t->calls++;
	i = op - ops;
	__atomic_add_fetch(&op_calls[i], 1, __ATOMIC_RELAXED);
	if (c.rc >= 0)
		__atomic_add_fetch(&op_ok[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&op_usec[i], (long)(t_call * 1e6), __ATOMIC_RELAXED);
	record(t, &c);
	if (opt.trace)
		trace_call(t, &c);
	/*
	 * A file was closed or replaced during the call: either file answered,
	 * the call is not judged.  A device fd it returned is still ours.
	 */
	if (__atomic_load_n(&ep.fdgen, __ATOMIC_SEQ_CST) != fdgen) {
		t->raced_close++;
		if (op->nr == VFIO_GROUP_GET_DEVICE_FD && c.rc >= 0)
			close(c.rc);
		return;
	}

	/* The UAPI contract */
	checked(INV_ERRNO);
	if (c.expect && !(c.rc < 0 && c.err == c.expect) &&
	    !(c.rc < 0 && c.err == EBADF)) {
		violation(INV_ERRNO,
			  "%s mutation %s: expected errno %d, got rc %d errno %d (thread %d)",
			  op->name, c.mut, c.expect, c.rc, c.err, t->idx);
		if (invs[INV_ERRNO].fails <= 3)
			dump_hist(t);
	} else if (c.rc < 0 && !errno_allowed(op, c.err)) {
		violation(INV_ERRNO, "%s mutation %s: errno %d (%s) is not in the contract",
			  op->name, c.mut ? c.mut : "none", c.err,
			  strerror(c.err));
	}
	if (c.op->done)
		c.op->done(t, &c);
}

/* ---- chaos: memory and file descriptors change under the calls ---------------- */

/*
 * Kill context @ci: every fd of it (the episode's and each worker's dup)
 * becomes /dev/null at once, so the iommufd is released at the end of the
 * last call still in flight on it (or when a VFIO device bound to it, or a
 * group using it as container, lets it go).  A dead context is revived
 * later with a new /dev/iommu under the same numbers, and an empty model.
 */
static void ctx_kill_or_revive(int ci)
{
	struct ctx *cx = &ep.ctx[ci];
	int i, nfd = -1;

	pthread_mutex_lock(&ep.lock);
	if (cx->fd < 0)
		goto out;
	if (cx->dead) {
		nfd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (nfd < 0)
			goto out;
	}
	/*
	 * fdgen is raised before and after the files change: a call that
	 * read it before the second raise and checks it after is not judged
	 * (it may have reached /dev/null, or the old file).  A context is
	 * marked dead before its files go, and alive only after they came.
	 */
	if (nfd < 0)
		__atomic_store_n(&cx->dead, true, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&ep.fdgen, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < ep.nthr; i++)
		dup2(nfd >= 0 ? nfd : ep.devnull, ep.thr[i]->fd[ci]);
	dup2(nfd >= 0 ? nfd : ep.devnull, cx->fd);
	if (nfd >= 0) {
		close(nfd);
		__atomic_store_n(&cx->dead, false, __ATOMIC_SEQ_CST);
	}
	__atomic_add_fetch(&ep.fdgen, 1, __ATOMIC_SEQ_CST);
	/* Nothing of the old context is reachable any more */
	cx->nobj = 0;
	cx->nstale = 0;
	cx->compat_ioas = 0;
	cx->mm_mode = false;
	for (i = 0; i < ep.nmap;)
		if (ep.maps[i].ctx == ci)
			ep.maps[i] = ep.maps[--ep.nmap];
		else
			i++;
	if (nfd < 0)
		ctx_kills++;
	else
		ctx_revives++;
out:
	pthread_mutex_unlock(&ep.lock);
}

static void chaos(struct thr *t)
{
	int b = rn(&t->r, NBUF);
	struct buf *bf = &ep.bufs[b];
	int action;
	void *p;

	if (opt.no_chaos)
		return;
	action = rn(&t->r, 7);
	if (opt.trace)
		printf("# trace thread %d disruption %d buffer %d\n", t->idx,
		       action, b);
	switch (action) {
	case 0:	/* munmap and mmap again: new pages at the same address */
		if (bf->kind == B_MEMFD || bf->kind == B_GUARD)
			break;
		pthread_mutex_lock(&ep.lock);
		munmap(bf->addr, bf->len);
		p = mmap(bf->addr, bf->len,
			 bf->kind == B_RO ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			ksft_exit_fail_msg("mmap again: %s\n", strerror(errno));
		bf->moved = true;
		pthread_mutex_unlock(&ep.lock);
		break;
	case 1:	/* mremap away and back: the pages move with the VMA */
		if (bf->kind == B_GUARD)
			break;
		pthread_mutex_lock(&ep.lock);
		p = mremap(bf->addr, bf->len, bf->len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, ep.scratch);
		if (p != MAP_FAILED &&
		    mremap(p, bf->len, bf->len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   bf->addr) == MAP_FAILED)
			ksft_exit_fail_msg("mremap back: %s\n", strerror(errno));
		/* The move left a hole in the reservation: fill it again */
		if (mmap(ep.scratch, SCRATCH_LEN, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			ksft_exit_fail_msg("mmap scratch: %s\n", strerror(errno));
		pthread_mutex_unlock(&ep.lock);
		break;
	case 2:	/* drop the pages of the user mapping */
		if (bf->kind == B_GUARD || bf->kind == B_RO)
			break;
		if (!madvise(bf->addr, bf->len, MADV_DONTNEED))
			bf->moved = true;
		break;
	case 3:	/* THP split / collapse of a pinned range */
		if (bf->kind != B_THP)
			break;
		madvise(bf->addr, bf->len,
			chance(&t->r, 50) ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
		madvise(bf->addr, bf->len, MADV_COLLAPSE);
		break;
	case 4:	/* replace this thread's fd of a context by a new dup */
		if (t->child)
			break;
		{
			int ci = rn(&t->r, NCTX);

			pthread_mutex_lock(&ep.lock);
			if (!ep.ctx[ci].dead)
				dup2(ep.ctx[ci].fd, t->fd[ci]);
			pthread_mutex_unlock(&ep.lock);
		}
		break;
	case 5:	/* kill or revive a context, under the calls of other threads */
		if (t->child || ep.single)
			break;
		ctx_kill_or_revive(rn(&t->r, NCTX));
		break;
	default:	/* close a VFIO fd: unbinds the device */
		if (t->child || !ep.vfio.mode)
			break;
		pthread_mutex_lock(&ep.lock);
		if (ep.vfio.mode == 3 && ep.vfio.cdev_fd >= 0 && chance(&t->r, 50)) {
			int nfd = open(cdev_path, O_RDWR | O_CLOEXEC);

			/*
			 * Unbinds, detaches and frees the automatic HWPT, at
			 * the end of the last call in flight on the old file
			 */
			__atomic_add_fetch(&ep.fdgen, 1, __ATOMIC_SEQ_CST);
			dup2(nfd >= 0 ? nfd : ep.devnull, ep.vfio.cdev_fd);
			__atomic_add_fetch(&ep.fdgen, 1, __ATOMIC_SEQ_CST);
			if (nfd >= 0)
				close(nfd);
			if (ep.vfio.hwpt)
				obj_stale(&ep.ctx[ep.vfio.bound_ci], ep.vfio.hwpt);
			ep.vfio.bound = false;
			ep.vfio.hwpt = 0;
		} else if (ep.vfio.dev_fd >= 0 && !ep.vfio.dev_dead) {
			__atomic_store_n(&ep.vfio.dev_dead, true, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&ep.fdgen, 1, __ATOMIC_SEQ_CST);
			dup2(ep.devnull, ep.vfio.dev_fd);
			__atomic_add_fetch(&ep.fdgen, 1, __ATOMIC_SEQ_CST);
		}
		pthread_mutex_unlock(&ep.lock);
		break;
	}
}

/* ---- workers ----------------------------------------------------------------------- */

static void worker_loop(struct thr *t)
{
	if (ep.no_ipc_lock)
		thread_cap(CAP_IPC_LOCK, false);
	while (__atomic_sub_fetch(&ep.calls_left, 1, __ATOMIC_RELAXED) >= 0 &&
	       !stop_now) {
		if (chance(&t->r, 2))
			chaos(t);
		else
			one_call(t);
	}
	if (ep.no_ipc_lock)
		thread_cap(CAP_IPC_LOCK, true);
}

static void *worker(void *arg)
{
	worker_loop(arg);
	return NULL;
}

static struct thr *thr_new(int idx, uint64_t seed)
{
	struct thr *t = calloc(1, sizeof(*t));
	int ci;

	if (!t)
		ksft_exit_fail_msg("calloc\n");
	t->idx = idx;
	t->r.s = seed;
	t->arg = mmap(NULL, ARGBUF + PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->arg == MAP_FAILED)
		ksft_exit_fail_msg("mmap\n");
	mprotect(t->arg + ARGBUF, PAGE_SIZE, PROT_NONE);
	for (ci = 0; ci < NCTX; ci++)
		t->fd[ci] = dup(ep.ctx[ci].fd);
	return t;
}

static void thr_free(struct thr *t)
{
	int ci;

	for (ci = 0; ci < NCTX; ci++)
		if (t->fd[ci] >= 0)
			close(t->fd[ci]);
	munmap(t->arg, ARGBUF + PAGE_SIZE);
	free(t);
}

/* ---- buffers ------------------------------------------------------------------------ */

static void bufs_create(void)
{
	static const struct { enum buf_kind kind; size_t len; } spec[NBUF] = {
		{ B_ANON, 64 << 10 },
		{ B_THP, HPAGE },
		{ B_RO, 16 << 10 },
		{ B_MEMFD, 64 << 10 },
		{ B_SMALL, PAGE_SIZE },
		{ B_HUGE_RW, 256 << 10 },
		{ B_GUARD, 2 * PAGE_SIZE },
	};
	int b;

	for (b = 0; b < NBUF; b++) {
		struct buf *bf = &ep.bufs[b];
		char *p;

		bf->kind = spec[b].kind;
		bf->len = spec[b].len;
		bf->memfd = -1;
		bf->moved = false;
		if (bf->kind == B_THP) {
			p = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				ksft_exit_fail_msg("mmap\n");
			bf->addr = (char *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));
			if (bf->addr != p)
				munmap(p, bf->addr - p);
			munmap(bf->addr + HPAGE, p + HPAGE - bf->addr);
			madvise(bf->addr, HPAGE, MADV_HUGEPAGE);
		} else if (bf->kind == B_MEMFD) {
			bf->memfd = memfd_create("iommufd_fuzz", MFD_CLOEXEC);
			if (bf->memfd < 0 || ftruncate(bf->memfd, bf->len))
				ksft_exit_fail_msg("memfd: %s\n", strerror(errno));
			bf->addr = mmap(NULL, bf->len, PROT_READ | PROT_WRITE,
					MAP_SHARED, bf->memfd, 0);
		} else {
			bf->addr = mmap(NULL, bf->len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		}
		if (bf->addr == MAP_FAILED)
			ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
		memset(bf->addr, 0x5a + b, bf->len);
		if (bf->kind == B_RO)
			mprotect(bf->addr, bf->len, PROT_READ);
		if (bf->kind == B_GUARD)
			mprotect(bf->addr + PAGE_SIZE, PAGE_SIZE, PROT_NONE);
	}
	/*
	 * Kept reserved (PROT_NONE) so that no thread stack or malloc arena
	 * lands there: it is the target of the mremap() round trip and the
	 * pointer to memory that cannot be read (EFAULT)
	 */
	ep.scratch = mmap(NULL, SCRATCH_LEN, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ep.scratch == MAP_FAILED)
		ksft_exit_fail_msg("mmap scratch\n");
}

static void bufs_destroy(void)
{
	int b;

	for (b = 0; b < NBUF; b++) {
		munmap(ep.bufs[b].addr, ep.bufs[b].len);
		if (ep.bufs[b].memfd >= 0)
			close(ep.bufs[b].memfd);
	}
	munmap(ep.scratch, SCRATCH_LEN);
}

/* ---- VFIO setup of an episode ---------------------------------------------------------- */

static long vfio_setups[4], vfio_setup_ok[4];

static void vfio_setup(struct rng *r)
{
	int modes[3], n = 0, rc = 0;
	struct vfio_state *v = &ep.vfio;
	struct obj *o;
	char path[64];

	v->mode = 0;
	v->group_fd = -1;
	v->dev_fd = -1;
	v->cdev_fd = -1;
	v->setup_ok = false;
	v->dev_dead = false;
	v->bound = false;
	v->bound_ci = 0;
	v->hwpt = 0;
	if (opt.vfio_group)
		modes[n++] = 1;
	if (opt.vfio_container)
		modes[n++] = 2;
	if (opt.vfio_cdev && cdev_path[0])
		modes[n++] = 3;
	if (!n || edu_group < 0)
		return;
	/*
	 * One episode in --vfio-every (default every other one), the modes in
	 * turn: opening a VFIO device costs about a second under TCG, the
	 * other episodes keep the call rate.
	 */
	if (cur_episode % opt.vfio_every != opt.vfio_every - 1)
		return;
	v->mode = modes[(cur_episode / opt.vfio_every) % n];
	vfio_setups[v->mode]++;

	if (v->mode == 3) {
		struct vfio_device_bind_iommufd bind = {
			.argsz = sizeof(bind), .iommufd = ep.ctx[0].fd,
		};
		struct vfio_device_attach_iommufd_pt at = {
			.argsz = sizeof(at),
		};
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

		v->cdev_fd = open(cdev_path, O_RDWR | O_CLOEXEC);
		if (v->cdev_fd < 0 || ioctl(v->cdev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
		    ioctl(ep.ctx[0].fd, IOMMU_IOAS_ALLOC, &alloc))
			goto fail;
		v->bound = true;
		obj_add(&ep.ctx[0], bind.out_devid, OT_DEV, 0, 0);
		obj_add(&ep.ctx[0], alloc.out_ioas_id, OT_IOAS, 0, 0);
		at.pt_id = alloc.out_ioas_id;
		if (ioctl(v->cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
			goto fail;
		o = obj_add(&ep.ctx[0], at.pt_id, OT_HWPT, alloc.out_ioas_id, 0);
		if (o)
			o->real = true;
		v->hwpt = at.pt_id;
		v->devid = bind.out_devid;
	} else {
		snprintf(path, sizeof(path), "/dev/vfio/%d", edu_group);
		v->group_fd = open(path, O_RDWR | O_CLOEXEC);
		if (v->group_fd < 0 ||
		    ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &ep.ctx[0].fd))
			goto fail;
		if (v->mode == 2 &&
		    ioctl(ep.ctx[0].fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
			goto fail;
		v->dev_fd = ioctl(v->group_fd, VFIO_GROUP_GET_DEVICE_FD, edu_bdf);
		if (v->dev_fd < 0)
			goto fail;
		if (have_vfio_ioas) {
			struct iommu_vfio_ioas vi = {
				.size = sizeof(vi), .op = IOMMU_VFIO_IOAS_GET,
			};

			if (!ioctl(ep.ctx[0].fd, IOMMU_VFIO_IOAS, &vi))
				obj_add(&ep.ctx[0], vi.ioas_id, OT_IOAS, 0, 0);
		}
	}
	v->setup_ok = true;
	vfio_setup_ok[v->mode]++;
	return;
fail:
	rc = errno;
	if (opt.verbose || vfio_setups[v->mode] - vfio_setup_ok[v->mode] <= 2)
		printf("# vfio mode %d setup failed: %s\n", v->mode, strerror(rc));
}

static void vfio_teardown(void)
{
	struct vfio_state *v = &ep.vfio;

	if (v->dev_fd >= 0)
		close(v->dev_fd);
	if (v->cdev_fd >= 0)
		close(v->cdev_fd);
	if (v->group_fd >= 0)
		close(v->group_fd);
	v->dev_fd = -1;
	v->cdev_fd = -1;
	v->group_fd = -1;
	v->mode = 0;
}

/* ---- invariant checks --------------------------------------------------------------- */

static long base_vmpin, base_vmlck;

static void read_owners(char out[64][64])
{
	char path[96];
	int g;

	for (g = 0; g < 64; g++) {
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/dma_owner", g);
		out[g][0] = '\0';
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, out[g], 63);
		out[g][n > 0 ? n : 0] = '\0';
		close(fd);
	}
}

/* Map exactly RLIMIT_MEMLOCK without CAP_IPC_LOCK: fails if a charge leaked */
static void account_probe(void)
{
	const size_t lim = 256 << 10;
	struct rlimit old, nr = { lim, lim };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd md = {
		.size = sizeof(md), .op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.length = lim,
	};
	char *buf;
	int fd;

	if (!have_test_cmd)
		return;
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	buf = mmap(NULL, lim + PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (fd < 0 || buf == MAP_FAILED)
		ksft_exit_fail_msg("account probe setup\n");
	getrlimit(RLIMIT_MEMLOCK, &old);
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &alloc))
		goto out;
	md.id = alloc.out_ioas_id;
	if (ioctl(fd, IOMMU_TEST_CMD, &md))
		goto out;
	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)buf;
	setrlimit(RLIMIT_MEMLOCK, &nr);
	thread_cap(CAP_IPC_LOCK, false);
	checked(INV_ACCOUNT);
	if (ioctl(fd, IOMMU_IOAS_MAP, &map))
		violation(INV_ACCOUNT,
			  "mapping exactly RLIMIT_MEMLOCK (%zu) failed: %s; a per-user charge leaked",
			  lim, strerror(errno));
	map.user_va = (uintptr_t)buf + lim;
	map.length = PAGE_SIZE;
	if (!ioctl(fd, IOMMU_IOAS_MAP, &map))
		violation(INV_ACCOUNT, "mapping beyond RLIMIT_MEMLOCK succeeded");
	thread_cap(CAP_IPC_LOCK, true);
	setrlimit(RLIMIT_MEMLOCK, &old);
out:
	close(fd);
	munmap(buf, lim + PAGE_SIZE);
}

/* A new context must be empty and the same as a fresh one */
static void leftover_probe(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_destroy d = { .size = sizeof(d) };
	uint32_t id;
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	checked(INV_NOLEFT);
	if (fd < 0) {
		violation(INV_NOLEFT, "open /dev/iommu: %s", strerror(errno));
		return;
	}
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) || alloc.out_ioas_id != 1)
		violation(INV_NOLEFT, "first IOAS of a new context: rc errno %d id %u",
			  errno, alloc.out_ioas_id);
	for (id = 2; id < 64; id++) {
		d.id = id;
		if (ioctl(fd, IOMMU_DESTROY, &d) == 0 || errno != ENOENT)
			violation(INV_NOLEFT, "new context: DESTROY %u did not say ENOENT", id);
	}
	close(fd);
}

/*
 * The IO page tables against a known mapping: a mock domain maps the user
 * page it was given, and MD_CHECK_MAP tells it from another page (the
 * negative control: a checker that cannot fail proves nothing).
 */
static void content_probe(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd md = {
		.size = sizeof(md), .op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.length = PAGE_SIZE,
	};
	struct iommu_test_cmd cm = {
		.size = sizeof(cm), .op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.check_map = { .length = PAGE_SIZE },
	};
	char *buf;
	int fd;

	if (!have_test_cmd)
		return;
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	buf = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (fd < 0 || buf == MAP_FAILED)
		ksft_exit_fail_msg("content probe setup\n");
	/* Two distinct pages */
	memset(buf, 1, PAGE_SIZE);
	memset(buf + PAGE_SIZE, 2, PAGE_SIZE);
	checked(INV_CONTENT);
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &alloc))
		goto fail;
	md.id = alloc.out_ioas_id;
	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)buf;
	if (ioctl(fd, IOMMU_TEST_CMD, &md) || ioctl(fd, IOMMU_IOAS_MAP, &map))
		goto fail;
	cm.id = md.mock_domain.out_hwpt_id;
	cm.check_map.iova = map.iova;
	cm.check_map.uptr = (uintptr_t)buf;
	if (ioctl(fd, IOMMU_TEST_CMD, &cm))
		violation(INV_CONTENT, "probe: a mock domain does not map the page just mapped: %s",
			  strerror(errno));
	cm.check_map.uptr = (uintptr_t)buf + PAGE_SIZE;
	if (!ioctl(fd, IOMMU_TEST_CMD, &cm) || errno != EINVAL)
		violation(INV_CONTENT,
			  "probe: MD_CHECK_MAP against another page: errno %d, not EINVAL",
			  errno);
	goto out;
fail:
	violation(INV_CONTENT, "probe setup: %s", strerror(errno));
out:
	close(fd);
	munmap(buf, 2 * PAGE_SIZE);
}

/*
 * End of a single-threaded episode: the mappings the model is sure of must
 * be in every mock domain of their IOAS, on the pages of their buffer.
 */
static void content_sweep(void)
{
	int i, j, n = 0, err;

	if (!ep.single || ep.inexact || !have_test_cmd)
		return;
	for (i = 0; i < ep.nmap && n < 16; i++) {
		struct mapping *m = &ep.maps[i];
		struct ctx *cx = &ep.ctx[m->ctx];

		if (m->buf < 0 || ep.bufs[m->buf].moved || cx->fd < 0 ||
		    (m->iova | m->len | m->off) % MOCK_PAGE)
			continue;
		for (j = 0; j < cx->nobj && n < 16; j++) {
			struct obj *o = &cx->objs[j];
			struct iommu_test_cmd cm = {
				.size = sizeof(cm),
				.op = IOMMU_TEST_OP_MD_CHECK_MAP,
				.id = o->id,
				.check_map = {
					.iova = m->iova,
					.length = m->len < 64 * PAGE_SIZE ?
						  m->len : 64 * PAGE_SIZE,
					.uptr = (uintptr_t)ep.bufs[m->buf].addr +
						m->off,
				},
			};

			if (o->type != OT_HWPT || o->real || o->ioas != m->ioas)
				continue;
			n++;
			checked(INV_CONTENT);
			if (!ioctl(cx->fd, IOMMU_TEST_CMD, &cm))
				continue;
			err = errno;
			switch (ioas_maps(cx->fd, m->ioas, m->iova,
					  cm.check_map.length)) {
			case 1:
				violation(INV_CONTENT,
					  "end of episode: HWPT %u of IOAS %u does not map [%#llx +%#llx] to its user pages (%s)",
					  o->id, m->ioas, (unsigned long long)m->iova,
					  (unsigned long long)cm.check_map.length,
					  strerror(err));
				break;
			case 0:
				violation(INV_CONTENT,
					  "end of episode: lost mapping: IOAS %u does not map [%#llx +%#llx] of the model",
					  m->ioas, (unsigned long long)m->iova,
					  (unsigned long long)cm.check_map.length);
				break;
			}
		}
	}
}

static void check_invariants(void)
{
	char owners[64][64];
	long v;
	int g, n;

	v = status_kb("VmPin");
	checked(INV_VMPIN);
	if (v != base_vmpin)
		violation(INV_VMPIN, "VmPin %ld kB, baseline %ld kB", v, base_vmpin);
	v = status_kb("VmLck");
	checked(INV_VMLCK);
	if (v != base_vmlck)
		violation(INV_VMLCK, "VmLck %ld kB, baseline %ld kB", v, base_vmlck);

	checked(INV_NODEV);
	n = count_dir("/sys/bus/iommufd_mock/devices");
	if (n > mock_devs_start)
		violation(INV_NODEV, "%d mock devices still exist (%d at start)", n,
			  mock_devs_start);
	read_owners(owners);
	for (g = 0; g < 64; g++)
		if (opt.check_only && !strncmp(owners[g], "user", 4))
			/* Everyone else closed their descriptors */
			violation(INV_NODEV, "iommu group %d still owned by user space: \"%.*s\"",
				  g, (int)strcspn(owners[g], "\n"), owners[g]);
		else if (strcmp(owners[g], owner_start[g]))
			violation(INV_NODEV, "iommu group %d dma_owner \"%.*s\", at start \"%.*s\"",
				  g, (int)strcspn(owners[g], "\n"), owners[g],
				  (int)strcspn(owner_start[g], "\n"), owner_start[g]);
	leftover_probe();
}

/* One validated DMA round trip through the legacy type1 path */
static int edu_round_trip(void)
{
	int container = -1, group = -1, rc;
	struct edu_dev dev = { .device_fd = -1 };
	const uint64_t iova = 0x100000;
	const uint32_t count = 2048;
	unsigned char *buf;
	unsigned int i;

	buf = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return -ENOMEM;
	for (i = 0; i < PAGE_SIZE; i++) {
		buf[i] = (unsigned char)(i * 7 + total_episodes);
		buf[PAGE_SIZE + i] = 0;
	}
	rc = edu_vfio_open(edu_group, &container, &group);
	if (!rc)
		rc = edu_vfio_attach(container, group);
	if (!rc)
		rc = edu_map(container, buf, iova, 2 * PAGE_SIZE);
	if (!rc)
		rc = edu_dev_open(&dev, group, edu_bdf);
	if (!rc)
		rc = edu_enable(&dev);
	/* RAM -> device buffer -> RAM one page further: both within limits */
	if (!rc)
		rc = edu_dma(&dev, iova, EDU_BUF_ADDR, count, false);
	if (!rc)
		rc = edu_dma(&dev, EDU_BUF_ADDR, iova + PAGE_SIZE, count, true);
	if (!rc && memcmp(buf, buf + PAGE_SIZE, count))
		rc = -EILSEQ;
	edu_dev_close(&dev);
	if (container >= 0) {
		edu_unmap(container, iova, 2 * PAGE_SIZE, NULL);
		close(group);
		close(container);
	}
	munmap(buf, 2 * PAGE_SIZE);
	return rc;
}

static void check_edu(void)
{
	int rc;

	if (edu_group < 0)
		return;
	checked(INV_EDU_DMA);
	rc = edu_round_trip();
	if (rc)
		violation(INV_EDU_DMA, "edu %s round trip: %s", edu_bdf,
			  strerror(-rc));
}

/* ---- one episode -------------------------------------------------------------------- */

static void run_episode(long e)
{
	struct rng r = { mix_seed(opt.seed, e, 0) };
	int nthr = opt.threads, i, ci;
	pthread_t tids[64];
	struct thr *thr[64];
	pid_t child = -1;
	double t_ov = now_s(), t_run;
	bool single;

	cur_episode = e;
	cur_episode_seed = r.s;
	memset(&ep.ctx, 0, sizeof(ep.ctx));
	ep.nmap = 0;
	ep.inexact = false;
	/*
	 * A quarter of the episodes are single threaded: the model is exact.
	 * Always drawn, so that --threads 1 replays the same random numbers.
	 */
	single = chance(&r, 25);
	ep.single = nthr == 1 || single;
	if (ep.single)
		nthr = 1;
	ep.no_ipc_lock = chance(&r, 30);
	ep.calls_left = opt.episode_calls;
	if (opt.calls && ep.calls_left > opt.calls - total_calls)
		ep.calls_left = opt.calls - total_calls;
	bufs_create();

	for (ci = 0; ci < NCTX; ci++) {
		ep.ctx[ci].fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (ep.ctx[ci].fd < 0)
			ksft_exit_fail_msg("open /dev/iommu: %s\n", strerror(errno));
		/* mm (type1 style) accounting in some contexts: VmLck moves */
		if (chance(&r, 25)) {
			struct iommu_option o = {
				.size = sizeof(o), .option_id = IOMMU_OPTION_RLIMIT_MODE,
				.op = IOMMU_OPTION_OP_SET, .val64 = 1,
			};

			ep.ctx[ci].mm_mode = !ioctl(ep.ctx[ci].fd, IOMMU_OPTION, &o);
		}
	}
	vfio_setup(&r);

	for (i = 0; i < nthr; i++)
		thr[i] = thr_new(i, mix_seed(opt.seed, e, i + 1));
	memcpy(ep.thr, thr, nthr * sizeof(thr[0]));
	ep.nthr = nthr;
	t_run = now_s();
	t_episode_overhead += t_run - t_ov;
	for (i = 1; i < nthr; i++)
		pthread_create(&tids[i], NULL, worker, thr[i]);

	/* A child sharing every fd, calling from its own address space */
	if (!ep.single && !opt.no_fork && chance(&r, 50)) {
		child_stats[0] = 0;
		child_stats[1] = 0;
		fflush(stdout);
		/*
		 * The workers run already: no context may die while the child's
		 * copy of the fd table and of the model is taken.
		 */
		pthread_mutex_lock(&ep.lock);
		child = fork();
		if (child)
			pthread_mutex_unlock(&ep.lock);
		if (child == 0) {
			struct thr *t = thr[0];

			long v = 0;

			pthread_mutex_init(&ep.lock, NULL);
			pthread_mutex_init(&report_lock, NULL);
			/* Count (and print) only the child's own violations */
			for (i = 0; i < INV_NR; i++)
				invs[i].fails = 0;
			t->child = true;
			t->calls = 0;
			t->idx = 99;
			t->r.s = mix_seed(opt.seed, e, 99);
			ep.calls_left = opt.episode_calls / 4;
			worker_loop(t);
			for (i = 0; i < INV_NR; i++)
				v += invs[i].fails;
			child_stats[0] = t->calls;
			child_stats[1] = v;
			fflush(stdout);
			_exit(0);
		}
	}
	worker_loop(thr[0]);
	for (i = 1; i < nthr; i++)
		pthread_join(tids[i], NULL);
	content_sweep();

	for (i = 0; i < nthr; i++) {
		total_calls += thr[i]->calls;
		total_mutated += thr[i]->mutated;
		total_raced_close += thr[i]->raced_close;
	}
	ep.nthr = 0;

	t_ov = now_s();
	/* Close in random order, the child may still be calling */
	vfio_teardown();
	for (i = 0; i < nthr; i++)
		thr_free(thr[i]);
	for (ci = 0; ci < NCTX; ci++) {
		close(ep.ctx[ci].fd);
		ep.ctx[ci].fd = -1;
	}
	if (child > 0) {
		int st;

		waitpid(child, &st, 0);
		total_calls += child_stats[0];
		if (!WIFEXITED(st) || WEXITSTATUS(st) || child_stats[1])
			violation(INV_ERRNO,
				  "forked child: status %#x, %ld violations (printed above)",
				  st, child_stats[1]);
	}
	bufs_destroy();

	check_invariants();
	if (ep.no_ipc_lock)
		account_probe();
	if (opt.dma_every && (e + 1) % opt.dma_every == 0)
		check_edu();
	checked(INV_LOG);
	kmsg_scan("after episode");
	total_episodes++;
	t_episode_overhead += now_s() - t_ov;
}

/* ---- pinwatch: pinned pages under memory pressure --------------------------------------- */

#define WATCH_IOVA 0x100000ULL

/*
 * The edu with a mapping that lives as long as the watch: through its
 * cdev and an IOAS if it has one, else through the type1 container.
 */
static int watch_edu_open(struct edu_vfio *v, struct edu_dev *dev, void *buf)
{
	int rc;

	edu_vfio_init(v, cdev_path[0] ? EDU_MODE_CDEV : EDU_MODE_TYPE1,
		      edu_group);
	dev->device_fd = -1;
	rc = edu_vfio_setup(v);
	if (!rc)
		rc = edu_vfio_map(v, buf, WATCH_IOVA, 2 * PAGE_SIZE);
	if (!rc)
		rc = edu_vfio_open_dev(v, dev, edu_bdf, NULL);
	if (!rc)
		rc = edu_enable(dev);
	return rc;
}

/* A DMA round trip through the long-lived mapping: it lands in @buf */
static int watch_edu_dma(struct edu_dev *dev, unsigned char *buf, long round)
{
	const uint32_t count = 2048;
	unsigned int i;
	int rc;

	for (i = 0; i < PAGE_SIZE; i++) {
		buf[i] = (unsigned char)(i * 5 + round);
		buf[PAGE_SIZE + i] = 0;
	}
	rc = edu_dma(dev, WATCH_IOVA, EDU_BUF_ADDR, count, false);
	if (!rc)
		rc = edu_dma(dev, EDU_BUF_ADDR, WATCH_IOVA + PAGE_SIZE, count,
			     true);
	if (!rc && memcmp(buf, buf + PAGE_SIZE, count))
		rc = -EILSEQ;
	return rc;
}

/*
 * Map buffers into mock domains (4 KiB pages, a THP, a memfd) and, while
 * something else compacts, migrates and churns memory, keep checking that
 * the IO page table still points at the user pages (they must not move
 * while pinned), that every page holds exactly one pin, that the content is
 * intact, and that pin/unpin cycles return VmPin to the baseline.  With an
 * edu device, every round DMAs through one long-lived mapping of the real
 * IOMMU: if its pages had moved, the device would write the old ones and
 * the user would not see the data.
 */
static int watch_pins(long seconds)
{
	const size_t sz[3] = { 256 << 10, HPAGE, 128 << 10 };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd md = { .size = sizeof(md),
				     .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	char *b[3];
	uint64_t iova[3];
	long rounds = 0, cycles = 0, dmas = 0, bad = 0;
	double end = now_s() + seconds;
	int fd, i, memfd, rc;
	struct edu_dev dev = { .device_fd = -1 };
	struct edu_vfio v;
	unsigned char *dbuf = NULL;
	long scanned = vmstat_counter("compact_migrate_scanned");

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, IOMMU_IOAS_ALLOC, &alloc))
		ksft_exit_fail_msg("pinwatch: iommufd\n");
	md.id = alloc.out_ioas_id;
	if (ioctl(fd, IOMMU_TEST_CMD, &md))
		ksft_exit_fail_msg("pinwatch: mock domain: %s\n", strerror(errno));

	b[0] = mmap(NULL, sz[0], PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b[1] = mmap(NULL, 2 * HPAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b[1] = (char *)(((uintptr_t)b[1] + HPAGE - 1) & ~(HPAGE - 1));
	madvise(b[1], HPAGE, MADV_HUGEPAGE);
	memfd = memfd_create("pinwatch", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, sz[2]))
		ksft_exit_fail_msg("pinwatch: memfd\n");
	b[2] = mmap(NULL, sz[2], PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	for (i = 0; i < 3; i++) {
		struct iommu_ioas_map map = {
			.size = sizeof(map), .ioas_id = alloc.out_ioas_id,
			.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
			.user_va = (uintptr_t)b[i], .length = sz[i],
		};

		for (size_t o = 0; o < sz[i]; o++)
			b[i][o] = (char)(o * 13 + i);
		if (ioctl(fd, IOMMU_IOAS_MAP, &map))
			ksft_exit_fail_msg("pinwatch: map: %s\n", strerror(errno));
		iova[i] = map.iova;
	}
	if (edu_group >= 0) {
		dbuf = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (dbuf == MAP_FAILED)
			ksft_exit_fail_msg("pinwatch: mmap\n");
		checked(INV_EDU_DMA);
		rc = watch_edu_open(&v, &dev, dbuf);
		if (rc) {
			violation(INV_EDU_DMA, "pinwatch: edu %s (%s): %s", edu_bdf,
				  edu_mode_name(v.mode), strerror(-rc));
			edu_dev_close(&dev);
		}
	}

	while (now_s() < end) {
		for (i = 0; i < 3; i++) {
			/* A window of 16 pages that walks the buffer round by round */
			size_t win = 16 * PAGE_SIZE;
			size_t off = (rounds * win) % sz[i];
			struct iommu_test_cmd cm = {
				.size = sizeof(cm), .op = IOMMU_TEST_OP_MD_CHECK_MAP,
				.id = md.mock_domain.out_hwpt_id,
				.check_map = { .iova = iova[i] + off, .length = win,
					       .uptr = (uintptr_t)b[i] + off },
			};
			struct iommu_test_cmd cr = {
				.size = sizeof(cr), .op = IOMMU_TEST_OP_MD_CHECK_REFS,
				.check_refs = { .uptr = (uintptr_t)b[i] + off,
						.length = win, .refs = 1 },
			};

			checked(INV_CONTENT);
			if (ioctl(fd, IOMMU_TEST_CMD, &cm)) {
				bad++;
				violation(INV_CONTENT,
					  "pinwatch buffer %d: IO page table no longer maps the user pages (%s): a pinned page moved",
					  i, strerror(errno));
			}
			if (ioctl(fd, IOMMU_TEST_CMD, &cr)) {
				bad++;
				violation(INV_CONTENT,
					  "pinwatch buffer %d: pin count is not 1 (%s)",
					  i, strerror(errno));
			}
			for (size_t o = 0; o < sz[i]; o += 997)
				if (b[i][o] != (char)(o * 13 + i)) {
					bad++;
					violation(INV_CONTENT,
						  "pinwatch buffer %d: content changed at %zu",
						  i, o);
					break;
				}
		}
		/* A pin/unpin cycle: map, unmap, VmPin back */
		{
			long before = status_kb("VmPin");
			struct iommu_ioas_map map = {
				.size = sizeof(map), .ioas_id = alloc.out_ioas_id,
				.flags = IOMMU_IOAS_MAP_READABLE,
				.user_va = (uintptr_t)b[0], .length = sz[0],
			};
			struct iommu_ioas_unmap um = {
				.size = sizeof(um), .ioas_id = alloc.out_ioas_id,
			};

			if (!ioctl(fd, IOMMU_IOAS_MAP, &map)) {
				um.iova = map.iova;
				um.length = map.length;
				checked(INV_ERRNO);
				if (ioctl(fd, IOMMU_IOAS_UNMAP, &um))
					violation(INV_ERRNO, "pinwatch unmap: %s", strerror(errno));
				cycles++;
			}
			checked(INV_VMPIN);
			if (status_kb("VmPin") != before)
				violation(INV_VMPIN,
					  "pinwatch: VmPin %ld after a map/unmap cycle, %ld before",
					  status_kb("VmPin"), before);
		}
		if (dev.device_fd >= 0) {
			checked(INV_EDU_DMA);
			rc = watch_edu_dma(&dev, dbuf, rounds);
			if (rc) {
				bad++;
				violation(INV_EDU_DMA,
					  "pinwatch round %ld: DMA through the long-lived mapping: %s",
					  rounds, strerror(-rc));
			}
			dmas++;
		}
		rounds++;
		checked(INV_LOG);
		kmsg_scan("pinwatch");
	}
	if (edu_group >= 0) {
		edu_dev_close(&dev);
		edu_vfio_unmap(&v, WATCH_IOVA, 2 * PAGE_SIZE, NULL);
		edu_vfio_close(&v);
		munmap(dbuf, 2 * PAGE_SIZE);
	}
	close(fd);
	munmap(b[0], sz[0]);
	munmap(b[1], HPAGE);
	munmap(b[2], sz[2]);
	close(memfd);
	checked(INV_VMPIN);
	if (status_kb("VmPin") != base_vmpin)
		violation(INV_VMPIN, "pinwatch: VmPin %ld kB at the end, baseline %ld",
			  status_kb("VmPin"), base_vmpin);
	printf("# PINWATCH rounds=%ld map_unmap_cycles=%ld edu_dmas=%ld",
	       rounds, cycles, dmas);
	printf(" bad=%ld seconds=%ld\n", bad, seconds);
	/*
	 * Pages that could not have moved prove nothing: compaction must have
	 * looked for pages to migrate while the pins were held.
	 */
	checked(INV_PRESSURE);
	if (scanned < 0)
		violation(INV_PRESSURE,
			  "/proc/vmstat has no compact_migrate_scanned: CONFIG_VM_EVENT_COUNTERS=n?");
	else if (vmstat_counter("compact_migrate_scanned") <= scanned)
		violation(INV_PRESSURE,
			  "compaction scanned no page during the watch (compact_migrate_scanned %ld, then %ld)",
			  scanned, vmstat_counter("compact_migrate_scanned"));
	/* A watch that never looked twice under pressure proved nothing */
	checked(INV_BUDGET);
	if (rounds < 3)
		violation(INV_BUDGET, "pinwatch made only %ld rounds in %ld s", rounds,
			  seconds);
	return 0;
}

/* ---- setup, main ------------------------------------------------------------------ */

static void probe_features(void)
{
	struct iommu_test_cmd tc = { .size = sizeof(tc),
				     .op = IOMMU_TEST_OP_MD_CHECK_REFS };
	struct iommu_vfio_ioas vi = { .size = sizeof(vi),
				      .op = IOMMU_VFIO_IOAS_GET };
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ksft_exit_skip("no /dev/iommu: %s\n", strerror(errno));
	have_test_cmd = ioctl(fd, IOMMU_TEST_CMD, &tc) == 0 || errno != ENOTTY;
	have_vfio_ioas = ioctl(fd, IOMMU_VFIO_IOAS, &vi) == 0 || errno != ENOTTY;
	have_compat = ioctl(fd, VFIO_GET_API_VERSION) == VFIO_API_VERSION;
	close(fd);
}

static void find_edu(void)
{
	struct edu_pci e[8];
	char path[160];
	int n, i;
	DIR *d;
	struct dirent *de;

	n = edu_find_all(e, 8);
	for (i = 0; i < n; i++) {
		if (opt.bdf && strcmp(opt.bdf, e[i].bdf))
			continue;
		/* Alone in its group: the whole group can go to VFIO */
		if (!opt.bdf && e[i].group_devs != 1)
			continue;
		if (edu_bind_vfio(e[i].bdf))
			continue;
		snprintf(edu_bdf, sizeof(edu_bdf), "%s", e[i].bdf);
		edu_group = e[i].group;
		break;
	}
	if (edu_group < 0)
		return;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", edu_bdf);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(cdev_path, sizeof(cdev_path),
				 "/dev/vfio/devices/%s", de->d_name);
			/* 6.1 has the class device without a char device */
			if (access(cdev_path, F_OK))
				cdev_path[0] = '\0';
			break;
		}
	closedir(d);
}

static void print_usage(void)
{
	printf("usage: iommufd_fuzz [--seed N] [--seconds S] [--calls N] [--min-calls N]\n"
	       "       [--threads T] [--episode-calls N] [--episodes N] [--first-episode E]\n"
	       "       [--vfio group,container,cdev|all|none] [--vfio-every N] [--bdf BDF]\n"
	       "       [--dma-every N]\n"
	       "       [--no-fork] [--no-chaos] [--pinwatch SECONDS] [--verbose] [--trace]\n"
	       "       [--check-only] [--log-since MARKER]\n");
}

static void on_alarm(int sig)
{
	stop_now = true;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", 1, NULL, 's' }, { "seconds", 1, NULL, 't' },
		{ "calls", 1, NULL, 'c' }, { "min-calls", 1, NULL, 'm' },
		{ "threads", 1, NULL, 'j' }, { "episode-calls", 1, NULL, 'n' },
		{ "episodes", 1, NULL, 'e' }, { "first-episode", 1, NULL, 'f' },
		{ "vfio", 1, NULL, 'v' }, { "bdf", 1, NULL, 'b' },
		{ "dma-every", 1, NULL, 'd' }, { "vfio-every", 1, NULL, 'E' },
		{ "no-fork", 0, NULL, 'F' },
		{ "no-chaos", 0, NULL, 'C' }, { "pinwatch", 1, NULL, 'p' },
		{ "verbose", 0, NULL, 'V' }, { "help", 0, NULL, 'h' },
		{ "check-only", 0, NULL, 'O' }, { "log-since", 1, NULL, 'L' },
		{ "trace", 0, NULL, 'T' },
		{}
	};
	double secs;
	long e;
	int o, i;

	/*
	 * The kernel picks IOVAs after the alignment of the user addresses:
	 * without address space randomization a single-threaded episode
	 * replays call for call.  Run again with it off (once).
	 */
	o = personality(0xffffffff);
	if (o != -1 && !(o & ADDR_NO_RANDOMIZE) &&
	    personality(o | ADDR_NO_RANDOMIZE) != -1)
		execv("/proc/self/exe", argv);

	opt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			opt.seconds = atol(optarg);
			break;
		case 'c':
			opt.calls = atol(optarg);
			break;
		case 'm':
			opt.min_calls = atol(optarg);
			break;
		case 'j':
			opt.threads = atoi(optarg);
			break;
		case 'n':
			opt.episode_calls = atoi(optarg);
			break;
		case 'e':
			opt.episodes = atol(optarg);
			break;
		case 'f':
			opt.first_episode = atol(optarg);
			break;
		case 'b':
			opt.bdf = optarg;
			break;
		case 'd':
			opt.dma_every = atoi(optarg);
			break;
		case 'E':
			opt.vfio_every = atoi(optarg);
			break;
		case 'F':
			opt.no_fork = true;
			break;
		case 'C':
			opt.no_chaos = true;
			break;
		case 'p':
			opt.pinwatch = atol(optarg);
			break;
		case 'V':
			opt.verbose = true;
			break;
		case 'T':
			opt.trace = true;
			break;
		case 'O':
			opt.check_only = true;
			break;
		case 'L':
			opt.log_since = optarg;
			break;
		case 'v':
			opt.vfio_group = strstr(optarg, "group") || !strcmp(optarg, "all");
			opt.vfio_container = strstr(optarg, "container") || !strcmp(optarg, "all");
			opt.vfio_cdev = strstr(optarg, "cdev") || !strcmp(optarg, "all");
			break;
		default:
			print_usage();
			return o == 'h' ? 0 : 2;
		}
	}
	if (opt.threads < 1 || opt.threads > 64 || opt.episode_calls < 1 ||
	    opt.vfio_every < 1)
		ksft_exit_fail_msg("bad --threads, --episode-calls or --vfio-every\n");
	if (!opt.seconds && !opt.calls && !opt.episodes && !opt.pinwatch &&
	    !opt.check_only) {
		opt.calls = 100000;
		opt.min_calls = opt.calls;
	}

	check_tables();
	ksft_print_header();
	printf("# iommufd_fuzz seed=0x%llx threads=%d episode_calls=%d\n",
	       (unsigned long long)opt.seed, opt.threads, opt.episode_calls);
	pthread_mutex_init(&ep.lock, NULL);
	ep.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (ep.devnull < 0)
		ksft_exit_fail_msg("open /dev/null: %s\n", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	child_stats = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (child_stats == MAP_FAILED)
		ksft_exit_fail_msg("mmap\n");
	probe_features();
	find_edu();
	printf("# features: test_cmd=%d vfio_ioas=%d compat_container=%d edu=%s group=%d cdev=%s\n",
	       have_test_cmd, have_vfio_ioas, have_compat,
	       edu_group >= 0 ? edu_bdf : "none", edu_group,
	       cdev_path[0] ? cdev_path : "none");
	kmsg_open();
	base_vmpin = status_kb("VmPin");
	base_vmlck = status_kb("VmLck");
	read_owners(owner_start);
	mock_devs_start = count_dir("/sys/bus/iommufd_mock/devices");
	if (mock_devs_start < 0)
		mock_devs_start = 0;
	if (edu_group >= 0)
		check_edu();	/* before anything: the device works */

	t_start = now_s();
	if (opt.seconds) {
		signal(SIGALRM, on_alarm);
		alarm(opt.seconds);
	}
	if (opt.check_only) {
		/* What must hold after someone else (trinity) had the nodes */
		for (i = 0; i < INV_NR; i++)
			invs[i].unused = i != INV_NODEV && i != INV_NOLEFT &&
					 i != INV_ACCOUNT && i != INV_EDU_DMA &&
					 i != INV_LOG;
		mock_devs_start = 0;
		check_invariants();
		account_probe();
	} else if (opt.pinwatch) {
		for (i = 0; i < INV_NR; i++)
			invs[i].unused = i != INV_VMPIN && i != INV_CONTENT &&
					 i != INV_EDU_DMA && i != INV_LOG &&
					 i != INV_ERRNO && i != INV_BUDGET &&
					 i != INV_PRESSURE;
		watch_pins(opt.pinwatch);
	} else {
		invs[INV_PRESSURE].unused = true;
		for (e = opt.first_episode; !stop_now; e++) {
			if (opt.episodes && e - opt.first_episode >= opt.episodes)
				break;
			if (opt.calls && total_calls >= opt.calls)
				break;
			run_episode(e);
			if (opt.verbose || total_episodes % 50 == 0)
				printf("# progress: episodes=%ld calls=%ld %.0f calls/s\n",
				       total_episodes, total_calls,
				       total_calls / (now_s() - t_start));
			fflush(stdout);
		}
		/* Once per run whatever the episodes drew */
		account_probe();
		content_probe();
	}
	secs = now_s() - t_start;
	if (edu_group >= 0)
		check_edu();
	checked(INV_LOG);
	kmsg_scan("at the end");

	/* Per-op coverage, as comments */
	for (i = 0; i < NOPS; i++)
		if (op_calls[i])
			printf("# op %-22s calls=%ld ok=%ld avg_us=%ld\n", ops[i].name,
			       op_calls[i], op_ok[i], op_usec[i] / op_calls[i]);
	printf("# time outside the fuzzed calls (episode setup, teardown, invariants): %.1f s\n",
	       t_episode_overhead);
	printf("# contexts killed %ld, revived %ld; calls overlapping a close %ld\n",
	       ctx_kills, ctx_revives, total_raced_close);
	for (i = 1; i < 4; i++)
		if (vfio_setups[i])
			printf("# vfio mode %d: %ld episodes, set up %ld times\n", i,
			       vfio_setups[i], vfio_setup_ok[i]);

	if (edu_group < 0) {
		invs[INV_EDU_DMA].skip = true;
		snprintf(invs[INV_EDU_DMA].skip_why, 128, "no edu device bound to vfio-pci");
	}
	if (!opt.vfio_group && !opt.vfio_container && !opt.vfio_cdev) {
		invs[INV_VFIO].unused = true;
		snprintf(invs[INV_VFIO].skip_why, 128, "VFIO modes not selected (--vfio)");
	} else {
		checked(INV_VFIO);
		if ((opt.vfio_group && !vfio_setup_ok[1]) ||
		    (opt.vfio_container && !vfio_setup_ok[2]) ||
		    (opt.vfio_cdev && !vfio_setup_ok[3]))
			violation(INV_VFIO,
				  "a selected VFIO mode was never set up (group %ld/%ld, container %ld/%ld, cdev %ld/%ld)",
				  vfio_setup_ok[1], vfio_setups[1], vfio_setup_ok[2],
				  vfio_setups[2], vfio_setup_ok[3], vfio_setups[3]);
	}
	if (!have_test_cmd) {
		invs[INV_CONTENT].skip = true;
		invs[INV_ACCOUNT].skip = true;
		snprintf(invs[INV_CONTENT].skip_why, 128, "no IOMMU_TEST_CMD");
		snprintf(invs[INV_ACCOUNT].skip_why, 128, "no IOMMU_TEST_CMD");
	}
	if (!opt.pinwatch && !opt.check_only) {
		check_coverage();
		/* Without a minimum there is nothing to check */
		invs[INV_BUDGET].unused = !opt.min_calls;
		checked(INV_BUDGET);
		if (total_calls < opt.min_calls)
			violation(INV_BUDGET, "%ld calls made, %ld required",
				  total_calls, opt.min_calls);
	}

	for (o = 0, i = 0; i < INV_NR; i++)
		o += !invs[i].unused;
	ksft_set_plan(o);
	for (i = 0; i < INV_NR; i++) {
		if (invs[i].unused)
			continue;
		printf("# %s: %ld checks, %ld violations\n", inv_name[i],
		       invs[i].checks, invs[i].fails);
		if (invs[i].skip)
			ksft_test_result_skip("%s (%s)\n", inv_name[i], invs[i].skip_why);
		else if (!invs[i].checks)
			/* An invariant never looked at held vacuously */
			ksft_test_result_fail("%s (never checked)\n", inv_name[i]);
		else if (invs[i].fails)
			ksft_test_result_fail("%s\n", inv_name[i]);
		else
			ksft_test_result_pass("%s\n", inv_name[i]);
	}
	if (!opt.pinwatch && !opt.check_only) {
		/* One line, for grep: keep the keys stable */
		printf("# FUZZ-STATS calls=%ld mutated=%ld episodes=%ld",
		       total_calls, total_mutated, total_episodes);
		printf(" seconds=%.1f calls_per_sec=%.0f seed=0x%llx", secs,
		       secs > 0 ? total_calls / secs : 0,
		       (unsigned long long)opt.seed);
		printf(" threads=%d result=%s\n", opt.threads,
		       ksft_get_fail_cnt() ? "FAIL" : "PASS");
	}
	ksft_finished();
	return 0;
}
