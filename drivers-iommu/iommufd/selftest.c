// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel side of the iommufd selftests (CONFIG_IOMMUFD_TEST): a mock IOMMU
 * driver with mock devices, the IOMMU_TEST_CMD ioctl and the fail_iommufd
 * fault injection point.  See iommufd_test.h for the user space contract.
 *
 * Only one IOMMU driver can be registered with iommu_device_register() in
 * this kernel, and the real one owns the real buses.  The mock drivers
 * therefore serve private buses whose iommu_ops are the mock ops, one bus
 * per kind of mock IOMMU (a default one and two that finish their domains
 * at the first attach like 6.1's arm-smmu-v3 and intel, see
 * iommufd_test.h), and their devices are added to the IOMMU core with
 * iommu_probe_device(), as the bus notifier does for real buses.  That
 * function is not exported to modules; when iommufd is a module, the mock
 * devices are put in their group by hand instead (see mock_dev_iommu_add()).
 *
 * A mock paging domain records, for every MOCK_IO_PAGE_SIZE of IOVA, which
 * map_pages() call mapped it: the physical address, the size of that call
 * and its page size.  All slots of one call point to one struct mock_map,
 * so the tests can read back both the translation and how large the
 * mappings iommufd made were, and unmaps that cut a mapping apart are
 * detected.
 *
 * A mock device is bound to the iommufd context of the ioctl and attached
 * exactly as VFIO would do it, wrapped in a SELFTEST object whose
 * destruction (IOMMU_DESTROY, or closing the file) detaches, unbinds and
 * removes the device.  It is bound without a reference on the context's
 * file: such a reference would keep the file from ever being released, and
 * so the SELFTEST object from ever being destroyed.
 */
#include <linux/atomic.h>
#include <linux/compiler.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/fault-inject.h>
#include <linux/idr.h>
#include <linux/iommu.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"
#include "iommufd_test.h"

static DECLARE_FAULT_ATTR(fail_iommufd);
static struct dentry *fail_iommufd_dentry;

/**
 * iommufd_should_fail() - Fault injection point
 *
 * Controlled through the fail_iommufd directory of debugfs or, per task,
 * through the fail-nth file of /proc/self/task/TID.
 *
 * Return: true if the caller must fail as if it ran out of memory.
 */
bool iommufd_should_fail(void)
{
	return should_fail(&fail_iommufd, 1);
}

/* The mock IOMMU driver */

/*
 * The kinds of mock IOMMU (see iommufd_test.h).  Each kind is a driver of
 * its own: a bus whose iommu_ops allocate that kind's domains, and a
 * struct iommu_device that iommu_device_link() links its devices to.
 */
enum mock_kind {
	MOCK_KIND_DEFAULT,
	MOCK_KIND_SMMUV3,
	MOCK_KIND_INTEL,
	MOCK_KIND_NO_FINALISE,
	MOCK_KIND_NR,
};

static struct iommu_device mock_iommu[MOCK_KIND_NR];
static struct device *mock_root;
static DEFINE_IDA(mock_dev_ida);
/* IDs of mock IOMMU instances; 0 means "not bound to one" */
static atomic_t mock_instance_ids = ATOMIC_INIT(0);
/* Mock paging domains ever allocated (IOMMU_TEST_OP_MOCK_DOMAIN_ALLOCS) */
static atomic64_t mock_domain_allocs = ATOMIC64_INIT(0);

/*
 * One map_pages() call.  Immutable but for @nr_slots, the number of IOVA
 * slots that still point to it; freed after an RCU grace period when the
 * last one is unmapped, so that lookups under rcu_read_lock() can read it.
 */
struct mock_map {
	unsigned long iova;
	phys_addr_t paddr;
	size_t size;
	size_t pgsize;
	atomic_long_t nr_slots;
	struct rcu_head rcu;
};

/**
 * struct mock_iommu_domain - a mock paging domain
 * @domain: the iommu_domain; its geometry and pgsize_bitmap change at
 *          attach for MOCK_KIND_SMMUV3 and MOCK_KIND_INTEL, under @lock
 * @kind: the mock IOMMU that allocated it
 * @maps: struct mock_map of every mapped slot, indexed by
 *        iova / MOCK_IO_PAGE_SIZE; the xarray's lock serializes changes
 * @lock: protects the fields below.  Attaches of different groups to one
 *        domain are not serialized by the iommu core.
 * @instance: the IOMMU instance the domain is bound to since its first
 *            attach or finalise, 0 before
 * @nr_devs: mock devices attached
 * @nr_no_snoop: of which with MOCK_FLAGS_DEVICE_NO_SNOOP
 * @force_snooping: enforce_cache_coherency() succeeded
 * @intel_gaw_last: MOCK_KIND_INTEL: last IOVA of the address width of the
 *                  unit that joined last (6.1 intel's dmar_domain->gaw);
 *                  the aperture and the limit of map
 * @intel_agaw_last: MOCK_KIND_INTEL: last IOVA the page table can hold
 *                   (6.1's agaw), the narrowest width that ever joined:
 *                   page-table levels are only ever removed
 * @intel_max_addr: MOCK_KIND_INTEL: end of the highest mapping ever made,
 *                  lowered only when exactly that mapping is unmapped
 *                  (6.1's dmar_domain->max_addr)
 * @intel_walkers: MOCK_KIND_INTEL, not under @lock: map, unmap and IOTLB
 *                 sync calls in progress.  6.1 intel reads the domain's
 *                 per-unit records there without a lock
 *                 (intel_iommu_iotlb_sync_map(), intel_iommu_tlb_sync()),
 *                 and attach and detach change them (the unit's last
 *                 device frees its record, a join may drop page-table
 *                 levels)
 * @intel_attaching: MOCK_KIND_INTEL, not under @lock: attaches of a device
 *                   to the domain or off it in progress.  A walker and an
 *                   attach on one domain at the same time WARN, whichever
 *                   came first.
 */
struct mock_iommu_domain {
	struct iommu_domain domain;
	enum mock_kind kind;
	struct xarray maps;
	spinlock_t lock;	/* see the kernel-doc above */
	unsigned int instance;
	unsigned int nr_devs;
	unsigned int nr_no_snoop;
	bool force_snooping;
	u64 intel_gaw_last;
	u64 intel_agaw_last;
	u64 intel_max_addr;
	atomic_t intel_walkers;
	atomic_t intel_attaching;
};

static const struct iommu_domain_ops mock_domain_ops;
static const struct iommu_domain_ops mock_domain_no_finalise_ops;

/* A mock paging domain, of any kind */
static bool mock_is_paging(const struct iommu_domain *domain)
{
	return domain && (domain->ops == &mock_domain_ops ||
			  domain->ops == &mock_domain_no_finalise_ops);
}

static struct mock_iommu_domain *to_mock_domain(struct iommu_domain *domain)
{
	return container_of(domain, struct mock_iommu_domain, domain);
}

static void mock_map_free_rcu(struct rcu_head *head)
{
	kfree(container_of(head, struct mock_map, rcu));
}

/* Drop one slot's pointer to @map; never allocates */
static void mock_map_put_slot(struct mock_map *map)
{
	if (atomic_long_dec_and_test(&map->nr_slots))
		call_rcu(&map->rcu, mock_map_free_rcu);
}

/* Mock devices */

/**
 * struct mock_dev - a mock device
 * @dev: the device, on the bus of its @kind
 * @id: from mock_dev_ida, for its name
 * @kind: the kind of mock IOMMU it sits behind
 * @instance: the IOMMU instance it sits behind
 * @unit_flags: MOCK_FLAGS_DEVICE_NO_SNOOP and MOCK_FLAGS_DEVICE_NARROW:
 *              properties of its IOMMU unit, shared by the instance
 * @group_peer: while it is probed: a device whose iommu_group it joins
 * @domain: the domain the device is attached to, written by the attach
 *          callbacks, which the iommu core serializes under the group's
 *          mutex
 */
struct mock_dev {
	struct device dev;
	int id;
	enum mock_kind kind;
	unsigned int instance;
	u32 unit_flags;
	struct mock_dev *group_peer;
	struct iommu_domain *domain;
};

static struct mock_dev *to_mock_dev(struct device *dev)
{
	return container_of(dev, struct mock_dev, dev);
}

/*
 * Like 6.1 intel's prepare_domain_attach_device() and
 * domain_update_iommu_cap() when a device of a unit of width @width_last
 * joins: refused with -EFAULT if something was mapped beyond the width
 * (even if it was unmapped since, unless it was the highest mapping);
 * else the aperture becomes that width, wider or narrower than before,
 * while the page table only loses levels, and superpages appear.
 */
static int mock_intel_join(struct mock_iommu_domain *mock, u64 width_last)
{
	lockdep_assert_held(&mock->lock);

	if (mock->intel_max_addr > width_last + 1)
		return -EFAULT;
	mock->intel_gaw_last = width_last;
	mock->intel_agaw_last = min(mock->intel_agaw_last, width_last);
	mock->domain.geometry.aperture_start = 0;
	mock->domain.geometry.aperture_end = mock->intel_gaw_last;
	mock->domain.pgsize_bitmap = PAGE_SIZE | SZ_2M | SZ_1G;
	return 0;
}

/* Like arm_smmu_domain_finalise(), at the first attach */
static void mock_smmu_finalise(struct mock_iommu_domain *mock)
{
	lockdep_assert_held(&mock->lock);

	mock->domain.geometry.aperture_start = 0;
	mock->domain.geometry.aperture_end = MOCK_SMMU_APERTURE_LAST;
	mock->domain.geometry.force_aperture = true;
	mock->domain.pgsize_bitmap = PAGE_SIZE | SZ_2M | SZ_1G;
}

/*
 * What the first attach of @mdev does to the domain, and what every attach
 * checks, without attaching: the attach callback and the finalise op
 */
static int mock_domain_join(struct mock_iommu_domain *mock,
			    struct mock_dev *mdev)
{
	int rc;

	lockdep_assert_held(&mock->lock);

	/*
	 * 6.1 arm-smmu-v3 for a domain of another SMMU (it also logs an
	 * error, which would only flood the test logs here).  An intel
	 * domain can span the devices of several units.
	 */
	if (mock->kind != mdev->kind ||
	    (mock->kind != MOCK_KIND_INTEL && mock->instance &&
	     mock->instance != mdev->instance)) {
		dev_dbg(&mdev->dev, "cannot attach to a domain of another mock IOMMU\n");
		return -ENXIO;
	}
	if (mock->force_snooping &&
	    (mdev->unit_flags & MOCK_FLAGS_DEVICE_NO_SNOOP)) {
		/* 6.1 intel for a unit without Snoop Control */
		return -EOPNOTSUPP;
	}

	if (mock->kind == MOCK_KIND_INTEL) {
		rc = mock_intel_join(mock,
				     mdev->unit_flags & MOCK_FLAGS_DEVICE_NARROW ?
				     MOCK_INTEL_NARROW_LAST :
				     MOCK_INTEL_APERTURE_LAST);
		if (rc)
			return rc;
	}

	if (!mock->instance) {
		mock->instance = mdev->instance;
		if (mock->kind == MOCK_KIND_SMMUV3)
			mock_smmu_finalise(mock);
	}
	return 0;
}

static int mock_domain_add_dev(struct mock_iommu_domain *mock,
			       struct mock_dev *mdev)
{
	int rc;

	spin_lock(&mock->lock);
	rc = mock_domain_join(mock, mdev);
	if (!rc) {
		mock->nr_devs++;
		if (mdev->unit_flags & MOCK_FLAGS_DEVICE_NO_SNOOP)
			mock->nr_no_snoop++;
	}
	spin_unlock(&mock->lock);
	return rc;
}

static void mock_domain_del_dev(struct mock_iommu_domain *mock,
				struct mock_dev *mdev)
{
	spin_lock(&mock->lock);
	/* 6.1 intel keeps the width and the levels when a device leaves */
	mock->nr_devs--;
	if (mdev->unit_flags & MOCK_FLAGS_DEVICE_NO_SNOOP)
		mock->nr_no_snoop--;
	spin_unlock(&mock->lock);
}

#define MOCK_INTEL_RACE_MSG \
	"iommufd: a device was attached to or detached from an intel domain while the domain was mapped, unmapped or flushed\n"

/* See @intel_walkers and @intel_attaching of struct mock_iommu_domain */
static struct mock_iommu_domain *mock_intel(struct iommu_domain *domain)
{
	if (!mock_is_paging(domain) ||
	    to_mock_domain(domain)->kind != MOCK_KIND_INTEL)
		return NULL;
	return to_mock_domain(domain);
}

static void mock_walk_begin(struct iommu_domain *domain)
{
	struct mock_iommu_domain *mock = mock_intel(domain);

	if (!mock)
		return;
	atomic_inc(&mock->intel_walkers);
	/* Pairs with the one in mock_attach_begin() */
	smp_mb__after_atomic();
	WARN(atomic_read(&mock->intel_attaching), MOCK_INTEL_RACE_MSG);
}

static void mock_walk_end(struct iommu_domain *domain)
{
	struct mock_iommu_domain *mock = mock_intel(domain);

	if (mock)
		atomic_dec(&mock->intel_walkers);
}

static void mock_attach_begin(struct iommu_domain *domain)
{
	struct mock_iommu_domain *mock = mock_intel(domain);

	if (!mock)
		return;
	atomic_inc(&mock->intel_attaching);
	/* Pairs with the one in mock_walk_begin() */
	smp_mb__after_atomic();
	WARN(atomic_read(&mock->intel_walkers), MOCK_INTEL_RACE_MSG);
}

static void mock_attach_end(struct iommu_domain *domain)
{
	struct mock_iommu_domain *mock = mock_intel(domain);

	if (mock)
		atomic_dec(&mock->intel_attaching);
}

/*
 * Attaching a domain moves the device off its previous one, as 6.1's
 * drivers do: the core never calls detach_dev when it switches domains.
 * Like them, the device leaves its old domain before the new one can be
 * refused (arm_smmu_attach_dev() calls arm_smmu_detach_dev() before its
 * checks, intel_iommu_attach_device() blocks translation first): after a
 * refusal the device is on no domain until the iommu core attaches one
 * again.
 */
static int mock_domain_attach(struct iommu_domain *domain, struct device *dev)
{
	struct mock_dev *mdev = to_mock_dev(dev);
	struct iommu_domain *old = mdev->domain;
	int rc = 0;

	if (old == domain)
		return 0;
	mock_attach_begin(old);
	mock_attach_begin(domain);
	if (mock_is_paging(old))
		mock_domain_del_dev(to_mock_domain(old), mdev);
	WRITE_ONCE(mdev->domain, NULL);
	if (mock_is_paging(domain)) {
		rc = mock_domain_add_dev(to_mock_domain(domain), mdev);
		if (rc)
			goto out;
	}
	WRITE_ONCE(mdev->domain, domain);
out:
	mock_attach_end(domain);
	mock_attach_end(old);
	return rc;
}

static void mock_domain_nop_detach(struct iommu_domain *domain,
				   struct device *dev)
{
}

static void mock_static_domain_free(struct iommu_domain *domain)
{
	/* Shared by all groups, never freed */
}

static const struct iommu_domain_ops mock_static_domain_ops = {
	.attach_dev = mock_domain_attach,
	.detach_dev = mock_domain_nop_detach,
	.free = mock_static_domain_free,
};

/* The default domain of every mock group */
static struct iommu_domain mock_identity_domain = {
	.type = IOMMU_DOMAIN_IDENTITY,
	.ops = &mock_static_domain_ops,
	.pgsize_bitmap = MOCK_IO_PAGE_SIZE,
};

/* What a mock group sits on while it is owned but not attached */
static struct iommu_domain mock_blocking_domain = {
	.type = IOMMU_DOMAIN_BLOCKED,
	.ops = &mock_static_domain_ops,
	.pgsize_bitmap = MOCK_IO_PAGE_SIZE,
};

static struct iommu_domain *mock_domain_alloc(unsigned int type,
					      enum mock_kind kind)
{
	struct mock_iommu_domain *mock;

	switch (type) {
	case IOMMU_DOMAIN_IDENTITY:
		return &mock_identity_domain;
	case IOMMU_DOMAIN_BLOCKED:
		return &mock_blocking_domain;
	case IOMMU_DOMAIN_UNMANAGED:
		break;
	default:
		return NULL;
	}

	if (iommufd_should_fail())
		return NULL;
	mock = kzalloc(sizeof(*mock), GFP_KERNEL);
	if (!mock)
		return NULL;
	mock->kind = kind;
	spin_lock_init(&mock->lock);
	xa_init(&mock->maps);
	switch (kind) {
	case MOCK_KIND_DEFAULT:
	case MOCK_KIND_NO_FINALISE:
		mock->domain.geometry.aperture_start = MOCK_APERTURE_START;
		mock->domain.geometry.aperture_end = MOCK_APERTURE_LAST;
		mock->domain.geometry.force_aperture = true;
		/* Every power of two from MOCK_IO_PAGE_SIZE up */
		mock->domain.pgsize_bitmap = ~(MOCK_IO_PAGE_SIZE - 1UL);
		break;
	case MOCK_KIND_SMMUV3:
		/*
		 * No geometry; the core sets the bus's page sizes
		 * (MOCK_IO_PAGE_SIZE), as for 6.1 arm-smmu-v3 (the union of
		 * all SMMUs' sizes) until the first attach.
		 */
		break;
	case MOCK_KIND_INTEL:
		mock->domain.geometry.aperture_start = 0;
		mock->domain.geometry.aperture_end = MOCK_INTEL_UNATTACHED_LAST;
		mock->domain.geometry.force_aperture = true;
		mock->domain.pgsize_bitmap = PAGE_SIZE;
		mock->intel_gaw_last = MOCK_INTEL_UNATTACHED_LAST;
		mock->intel_agaw_last = MOCK_INTEL_UNATTACHED_LAST;
		break;
	default:
		break;
	}
	atomic64_inc(&mock_domain_allocs);
	return &mock->domain;
}

static struct iommu_domain *mock_domain_alloc_default(unsigned int type)
{
	return mock_domain_alloc(type, MOCK_KIND_DEFAULT);
}

static struct iommu_domain *mock_domain_alloc_smmu(unsigned int type)
{
	return mock_domain_alloc(type, MOCK_KIND_SMMUV3);
}

static struct iommu_domain *mock_domain_alloc_intel(unsigned int type)
{
	return mock_domain_alloc(type, MOCK_KIND_INTEL);
}

static struct iommu_domain *mock_domain_alloc_no_finalise(unsigned int type)
{
	return mock_domain_alloc(type, MOCK_KIND_NO_FINALISE);
}

static void mock_domain_free(struct iommu_domain *domain)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	struct mock_map *map;
	unsigned long index;

	/* iommufd unmaps everything and detaches every device first */
	WARN_ON(!xa_empty(&mock->maps) || mock->nr_devs);
	xa_for_each(&mock->maps, index, map) {
		xa_erase(&mock->maps, index);
		mock_map_put_slot(map);
	}
	xa_destroy(&mock->maps);
	kfree(mock);
}

static int __mock_domain_map_pages(struct iommu_domain *domain,
				   unsigned long iova, phys_addr_t paddr,
				   size_t pgsize, size_t pgcount, int prot,
				   gfp_t gfp, size_t *mapped)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	unsigned long first = iova / MOCK_IO_PAGE_SIZE;
	u64 ap_start, ap_end, agaw_last = U64_MAX;
	unsigned long nr_slots, i;
	struct mock_map *map;
	bool finished;
	size_t size;
	int rc;

	if (WARN_ON(check_mul_overflow(pgsize, pgcount, &size) || !size ||
		    iova % MOCK_IO_PAGE_SIZE || paddr % MOCK_IO_PAGE_SIZE ||
		    size % MOCK_IO_PAGE_SIZE))
		return -EINVAL;

	spin_lock(&mock->lock);
	finished = mock->kind != MOCK_KIND_SMMUV3 || mock->instance;
	ap_start = mock->domain.geometry.aperture_start;
	ap_end = mock->domain.geometry.aperture_end;
	if (mock->kind == MOCK_KIND_INTEL && iova >= ap_start &&
	    iova <= ap_end && size - 1 <= ap_end - iova) {
		/* 6.1 intel_iommu_map() records it before mapping */
		mock->intel_max_addr = max_t(u64, mock->intel_max_addr,
					     (u64)iova + size);
		agaw_last = mock->intel_agaw_last;
	}
	spin_unlock(&mock->lock);
	/* 6.1 arm-smmu-v3 has no page table before the first attach */
	if (!finished)
		return -ENODEV;
	/* 6.1 intel refuses, io-pgtable WARNs: iommufd reserves all that */
	if (iova < ap_start || iova > ap_end || size - 1 > ap_end - iova) {
		if (mock->kind == MOCK_KIND_INTEL)
			return -EFAULT;
		WARN(true, "iommufd mapped %#lx size %#zx outside [%#llx, %#llx]\n",
		     iova, size, ap_start, ap_end);
		return -EINVAL;
	}
	/*
	 * 6.1 intel: within the width of the last unit that joined, but
	 * beyond the levels of the page table (pfn_to_dma_pte() fails)
	 */
	if (iova > agaw_last || size - 1 > agaw_last - iova)
		return -ENOMEM;

	if (iommufd_should_fail())
		return -ENOMEM;

	map = kmalloc(sizeof(*map), gfp);
	if (!map)
		return -ENOMEM;
	nr_slots = size / MOCK_IO_PAGE_SIZE;
	map->iova = iova;
	map->paddr = paddr;
	map->size = size;
	map->pgsize = pgsize;
	atomic_long_set(&map->nr_slots, nr_slots);

	for (i = 0; i != nr_slots; i++) {
		rc = xa_insert(&mock->maps, first + i, map, gfp);
		if (rc) {
			/* -EBUSY: the slot is mapped already */
			if (rc == -EBUSY)
				rc = -EEXIST;
			goto err_erase;
		}
		/*
		 * One call can cover a whole contiguous run of pages (any
		 * power of two is a mock page size): 2K slots of a 256 MiB
		 * run take seconds under KASAN and lockdep.
		 */
		if (!((i + 1) % 4096) && gfpflags_allow_blocking(gfp))
			cond_resched();
	}
	*mapped += size;
	return 0;

err_erase:
	while (i--)
		xa_erase(&mock->maps, first + i);
	/* Lookups may have seen it in the slots just erased */
	call_rcu(&map->rcu, mock_map_free_rcu);
	return rc;
}

static int mock_domain_map_pages(struct iommu_domain *domain,
				 unsigned long iova, phys_addr_t paddr,
				 size_t pgsize, size_t pgcount, int prot,
				 gfp_t gfp, size_t *mapped)
{
	int rc;

	mock_walk_begin(domain);
	rc = __mock_domain_map_pages(domain, iova, paddr, pgsize, pgcount,
				     prot, gfp, mapped);
	mock_walk_end(domain);
	return rc;
}

/*
 * Unmap from @iova up to the first hole and return how much was unmapped:
 * 0 if @iova is not mapped, so that the core stops there.  Never allocates.
 */
static size_t __mock_domain_unmap_pages(struct iommu_domain *domain,
					unsigned long iova, size_t pgsize,
					size_t pgcount,
					struct iommu_iotlb_gather *gather)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	size_t size = pgsize * pgcount;
	struct mock_map *map;
	size_t done;

	for (done = 0; done < size; done += MOCK_IO_PAGE_SIZE) {
		map = xa_erase(&mock->maps, (iova + done) / MOCK_IO_PAGE_SIZE);
		if (!map)
			break;
		mock_map_put_slot(map);
	}
	/* Checked as one range by mock_domain_iotlb_sync() */
	if (done)
		iommu_iotlb_gather_add_range(gather, iova, done);
	if (mock->kind == MOCK_KIND_INTEL) {
		spin_lock(&mock->lock);
		/* 6.1 intel_iommu_unmap() */
		if (mock->intel_max_addr == (u64)iova + done)
			mock->intel_max_addr = iova;
		spin_unlock(&mock->lock);
	}
	return done;
}

static size_t mock_domain_unmap_pages(struct iommu_domain *domain,
				      unsigned long iova, size_t pgsize,
				      size_t pgcount,
				      struct iommu_iotlb_gather *gather)
{
	size_t done;

	mock_walk_begin(domain);
	done = __mock_domain_unmap_pages(domain, iova, pgsize, pgcount, gather);
	mock_walk_end(domain);
	return done;
}

/*
 * Called once per iommu_unmap() with everything it unmapped in @gather.
 * iommufd must unmap whole earlier maps: the IOVA just before and just
 * after the range must not belong to a mapping that extends into it.
 */
static void mock_domain_iotlb_sync(struct iommu_domain *domain,
				   struct iommu_iotlb_gather *gather)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	struct mock_map *map;

	if (!IS_ENABLED(CONFIG_IOMMUFD_TEST) || gather->start > gather->end)
		return;

	mock_walk_begin(domain);
	rcu_read_lock();
	if (gather->start >= MOCK_IO_PAGE_SIZE) {
		map = xa_load(&mock->maps,
			      gather->start / MOCK_IO_PAGE_SIZE - 1);
		WARN(map && map->iova + map->size > gather->start,
		     "iommufd unmapped from %#lx, inside a mapping of %#lx size %#zx\n",
		     gather->start, map->iova, map->size);
	}
	if (gather->end != ULONG_MAX) {
		map = xa_load(&mock->maps,
			      gather->end / MOCK_IO_PAGE_SIZE + 1);
		WARN(map && map->iova <= gather->end,
		     "iommufd unmapped up to %#lx, inside a mapping of %#lx size %#zx\n",
		     gather->end, map->iova, map->size);
	}
	rcu_read_unlock();
	mock_walk_end(domain);
}

/* Called by iommu_map() after the map_pages calls; nothing to sync here */
static void mock_domain_iotlb_sync_map(struct iommu_domain *domain,
				       unsigned long iova, size_t size)
{
	mock_walk_begin(domain);
	mock_walk_end(domain);
}

static phys_addr_t mock_domain_iova_to_phys(struct iommu_domain *domain,
					    dma_addr_t iova)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	struct mock_map *map;
	phys_addr_t phys = 0;

	if (iova > ULONG_MAX)
		return 0;

	rcu_read_lock();
	map = xa_load(&mock->maps, (unsigned long)iova / MOCK_IO_PAGE_SIZE);
	if (map)
		phys = map->paddr + (iova - map->iova);
	rcu_read_unlock();
	return phys;
}

/*
 * As 6.1 intel: true unless an attached device's unit cannot enforce it,
 * so true for a domain without device, after which such a device is
 * refused.
 */
static bool mock_domain_enforce_cache_coherency(struct iommu_domain *domain)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	bool ret = false;

	spin_lock(&mock->lock);
	if (!mock->nr_no_snoop) {
		mock->force_snooping = true;
		ret = true;
	}
	spin_unlock(&mock->lock);
	return ret;
}

/*
 * The finalise op, as 6.1's drivers would do it: the checks and the changes
 * of the first attach of @dev, nothing attached.  The smmuv3 flavour
 * allocates its page table here (a fault injection point), the intel one
 * takes the unit's width and superpages, every flavour but intel is bound
 * to @dev's IOMMU instance from then on.
 */
static int mock_domain_finalise(struct iommu_domain *domain, struct device *dev)
{
	struct mock_iommu_domain *mock = to_mock_domain(domain);
	int rc;

	if (mock->kind == MOCK_KIND_SMMUV3 && iommufd_should_fail())
		return -ENOMEM;

	spin_lock(&mock->lock);
	rc = mock_domain_join(mock, to_mock_dev(dev));
	spin_unlock(&mock->lock);
	return rc;
}

static const struct iommu_domain_ops mock_domain_ops = {
	.attach_dev = mock_domain_attach,
	.detach_dev = mock_domain_nop_detach,
	.map_pages = mock_domain_map_pages,
	.unmap_pages = mock_domain_unmap_pages,
	.iotlb_sync = mock_domain_iotlb_sync,
	.iotlb_sync_map = mock_domain_iotlb_sync_map,
	.iova_to_phys = mock_domain_iova_to_phys,
	.enforce_cache_coherency = mock_domain_enforce_cache_coherency,
	.finalise = mock_domain_finalise,
	.free = mock_domain_free,
};

/* Like 6.1 amd, arm-smmu-v3, arm-smmu, virtio-iommu: no finalise op */
static const struct iommu_domain_ops mock_domain_no_finalise_ops = {
	.attach_dev = mock_domain_attach,
	.detach_dev = mock_domain_nop_detach,
	.map_pages = mock_domain_map_pages,
	.unmap_pages = mock_domain_unmap_pages,
	.iotlb_sync = mock_domain_iotlb_sync,
	.iotlb_sync_map = mock_domain_iotlb_sync_map,
	.iova_to_phys = mock_domain_iova_to_phys,
	.enforce_cache_coherency = mock_domain_enforce_cache_coherency,
	.free = mock_domain_free,
};

static bool mock_capable(struct device *dev, enum iommu_cap cap)
{
	switch (cap) {
	case IOMMU_CAP_CACHE_COHERENCY:
	case IOMMU_CAP_INTR_REMAP:
		return true;
	default:
		return false;
	}
}

static struct iommu_device *mock_probe_device(struct device *dev)
{
	return &mock_iommu[to_mock_dev(dev)->kind];
}

/*
 * Like 6.1's drivers, a device that leaves its group leaves the domain it
 * is attached to: the group may stay attached through its other devices.
 */
static void mock_release_device(struct device *dev)
{
	struct mock_dev *mdev = to_mock_dev(dev);

	if (mock_is_paging(mdev->domain))
		mock_domain_del_dev(to_mock_domain(mdev->domain), mdev);
	mdev->domain = NULL;
}

/* A group of its own, or the group of the device it was created next to */
static struct iommu_group *mock_device_group(struct device *dev)
{
	struct mock_dev *mdev = to_mock_dev(dev);
	struct iommu_group *group;

	if (!mdev->group_peer)
		return iommu_group_alloc();
	group = iommu_group_get(&mdev->group_peer->dev);
	return group ?: ERR_PTR(-ENODEV);
}

static int mock_def_domain_type(struct device *dev)
{
	return IOMMU_DOMAIN_IDENTITY;
}

/*
 * IOMMU_GET_HW_INFO of the default and INTEL mock IOMMUs (the SMMUV3 one,
 * like 6.1's arm-smmu-v3, has no hw_info): a fresh allocation each time,
 * as a real driver's, so that fault injection reaches it.
 */
static void *mock_hw_info(struct device *dev, u32 *length, u32 *type)
{
	struct iommu_test_hw_info *info;

	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return ERR_PTR(-ENOMEM);

	info->flags = to_mock_dev(dev)->kind == MOCK_KIND_INTEL ?
			      MOCK_FLAGS_DEVICE_INTEL : 0;
	info->test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL;
	*length = sizeof(*info);
	*type = IOMMU_HW_INFO_TYPE_SELFTEST;
	return info;
}

#define MOCK_IOMMU_OPS(_alloc, _hw_info, _domain_ops)                        \
	{                                                                    \
		.capable = mock_capable,                                     \
		.domain_alloc = _alloc,                                      \
		.probe_device = mock_probe_device,                           \
		.release_device = mock_release_device,                       \
		.device_group = mock_device_group,                           \
		.def_domain_type = mock_def_domain_type,                     \
		.hw_info = _hw_info,                                         \
		.default_domain_ops = _domain_ops,                           \
		.pgsize_bitmap = MOCK_IO_PAGE_SIZE,                          \
		.owner = THIS_MODULE,                                        \
	}

static const struct iommu_ops mock_ops[MOCK_KIND_NR] = {
	[MOCK_KIND_DEFAULT] = MOCK_IOMMU_OPS(mock_domain_alloc_default,
					     mock_hw_info, &mock_domain_ops),
	[MOCK_KIND_SMMUV3] = MOCK_IOMMU_OPS(mock_domain_alloc_smmu, NULL,
					    &mock_domain_ops),
	[MOCK_KIND_INTEL] = MOCK_IOMMU_OPS(mock_domain_alloc_intel,
					   mock_hw_info, &mock_domain_ops),
	[MOCK_KIND_NO_FINALISE] =
		MOCK_IOMMU_OPS(mock_domain_alloc_no_finalise, mock_hw_info,
			       &mock_domain_no_finalise_ops),
};

/* iommu_ops are per bus in 6.1: one bus per kind of mock IOMMU */
static struct bus_type iommufd_mock_bus_type[MOCK_KIND_NR] = {
	[MOCK_KIND_DEFAULT] = {
		.name = "iommufd_mock",
		.iommu_ops = &mock_ops[MOCK_KIND_DEFAULT],
	},
	[MOCK_KIND_SMMUV3] = {
		.name = "iommufd_mock_smmuv3",
		.iommu_ops = &mock_ops[MOCK_KIND_SMMUV3],
	},
	[MOCK_KIND_INTEL] = {
		.name = "iommufd_mock_intel",
		.iommu_ops = &mock_ops[MOCK_KIND_INTEL],
	},
	[MOCK_KIND_NO_FINALISE] = {
		.name = "iommufd_mock_nofin",
		.iommu_ops = &mock_ops[MOCK_KIND_NO_FINALISE],
	},
};

static const char *const mock_iommu_names[MOCK_KIND_NR] = {
	[MOCK_KIND_DEFAULT] = "iommufd_mock_iommu",
	[MOCK_KIND_SMMUV3] = "iommufd_mock_smmuv3",
	[MOCK_KIND_INTEL] = "iommufd_mock_intel",
	[MOCK_KIND_NO_FINALISE] = "iommufd_mock_nofin",
};

static void mock_dev_release(struct device *dev)
{
	struct mock_dev *mdev = to_mock_dev(dev);

	ida_free(&mock_dev_ida, mdev->id);
	kfree(mdev);
}

#if IS_BUILTIN(CONFIG_IOMMUFD)
static int mock_dev_iommu_add(struct device *dev)
{
	return iommu_probe_device(dev);
}

static void mock_dev_iommu_remove(struct device *dev)
{
	iommu_release_device(dev);
}
#else
/*
 * What iommu_probe_device() would do, minus the default domain: the group
 * sits on no domain until it is claimed, and on none again afterwards.
 */
static int mock_dev_iommu_add(struct device *dev)
{
	struct iommu_group *group;
	int rc;

	dev->iommu = kzalloc(sizeof(*dev->iommu), GFP_KERNEL);
	if (!dev->iommu)
		return -ENOMEM;
	mutex_init(&dev->iommu->lock);
	dev->iommu->iommu_dev = mock_probe_device(dev);

	group = mock_device_group(dev);
	if (IS_ERR(group)) {
		rc = PTR_ERR(group);
		goto err_free;
	}
	/* The device holds a reference on the group from now on */
	rc = iommu_group_add_device(group, dev);
	iommu_group_put(group);
	if (rc)
		goto err_free;
	return 0;

err_free:
	kfree(dev->iommu);
	dev->iommu = NULL;
	return rc;
}

static void mock_dev_iommu_remove(struct device *dev)
{
	mock_release_device(dev);
	iommu_group_remove_device(dev);
	kfree(dev->iommu);
	dev->iommu = NULL;
}
#endif

/*
 * A new mock device behind the mock IOMMU @flags choose, or behind the
 * instance (and in the group, with MOCK_FLAGS_DEVICE_SAME_GROUP) of @peer.
 */
static struct mock_dev *mock_dev_create(u32 flags, struct mock_dev *peer)
{
	struct mock_dev *mdev;
	int rc;

	if (iommufd_should_fail())
		return ERR_PTR(-ENOMEM);

	mdev = kzalloc(sizeof(*mdev), GFP_KERNEL);
	if (!mdev)
		return ERR_PTR(-ENOMEM);
	mdev->id = ida_alloc(&mock_dev_ida, GFP_KERNEL);
	if (mdev->id < 0) {
		rc = mdev->id;
		kfree(mdev);
		return ERR_PTR(rc);
	}

	if (peer) {
		mdev->kind = peer->kind;
		mdev->instance = peer->instance;
		mdev->unit_flags = peer->unit_flags;
		if (flags & MOCK_FLAGS_DEVICE_SAME_GROUP)
			mdev->group_peer = peer;
	} else {
		if (flags & MOCK_FLAGS_DEVICE_SMMUV3)
			mdev->kind = MOCK_KIND_SMMUV3;
		else if (flags & MOCK_FLAGS_DEVICE_INTEL)
			mdev->kind = MOCK_KIND_INTEL;
		else if (flags & MOCK_FLAGS_DEVICE_NO_FINALISE)
			mdev->kind = MOCK_KIND_NO_FINALISE;
		else
			mdev->kind = MOCK_KIND_DEFAULT;
		mdev->instance = atomic_inc_return(&mock_instance_ids);
		mdev->unit_flags = flags & (MOCK_FLAGS_DEVICE_NO_SNOOP |
					    MOCK_FLAGS_DEVICE_NARROW);
	}

	/* From here on mock_dev_release() frees everything */
	device_initialize(&mdev->dev);
	mdev->dev.release = mock_dev_release;
	mdev->dev.bus = &iommufd_mock_bus_type[mdev->kind];
	mdev->dev.parent = mock_root;
	rc = dev_set_name(&mdev->dev, "iommufd_mock%d", mdev->id);
	if (rc)
		goto err_put;
	rc = device_add(&mdev->dev);
	if (rc)
		goto err_put;
	rc = mock_dev_iommu_add(&mdev->dev);
	/* Only for the probe: the peer may go away before this device */
	mdev->group_peer = NULL;
	if (rc)
		goto err_del;
	return mdev;

err_del:
	device_del(&mdev->dev);
err_put:
	put_device(&mdev->dev);
	return ERR_PTR(rc);
}

static void mock_dev_destroy(struct mock_dev *mdev)
{
	mock_dev_iommu_remove(&mdev->dev);
	device_unregister(&mdev->dev);
}

/* What a selftest object stands for */
enum selftest_obj_kind {
	SELFTEST_OBJ_DEVICE,	/* a mock device (0: the zeroed default) */
	SELFTEST_OBJ_ACCESS,	/* an in-kernel access of the mock driver */
};

/**
 * struct selftest_pin - pages the mock driver pinned through its access
 * @item: entry in &selftest_obj.pins while pinned
 * @iova: first IOVA
 * @length: bytes
 * @pages: the struct page of each page of IOVA, as the access returned them
 * @checking: IOMMU_TEST_OP_ACCESS_PIN is comparing @pages with user memory,
 *            without the mock driver's lock: ACCESS_UNPIN does not see the
 *            pin yet, and the unmap callback, which must unpin it, leaves
 *            the freeing to ACCESS_PIN
 * @unpinned: the unmap callback unpinned it while @checking
 *
 * @checking and @unpinned are protected by &selftest_obj.lock.
 */
struct selftest_pin {
	struct list_head item;
	unsigned long iova;
	unsigned long length;
	struct page **pages;
	bool checking;
	bool unpinned;
};

/**
 * struct selftest_obj - IOMMUFD_OBJ_SELFTEST: a mock device bound to the
 *                       context, or an access of the mock driver
 * @obj: object header
 * @kind: enum selftest_obj_kind; constant
 * @lock: SELFTEST_OBJ_DEVICE: serializes IOMMU_TEST_OP_MOCK_DEVICE_ATTACH
 *        and _DETACH, protects @attached.  SELFTEST_OBJ_ACCESS: the mock
 *        driver's lock, held across its pins and unpins and in its unmap
 *        callback; protects the fields below @access.  Never held across
 *        iommufd_access_attach(), _replace(), _detach() or _destroy(),
 *        which may call the unmap callback, nor across an access to user
 *        memory, whose fault may block for as long as user space wants
 *        (userfaultfd, FUSE) while an unmap waits for the callback.
 * @mdev: SELFTEST_OBJ_DEVICE: the mock device
 * @idev: SELFTEST_OBJ_DEVICE: its binding
 * @attached: SELFTEST_OBJ_DEVICE: @idev is attached
 * @access: SELFTEST_OBJ_ACCESS: the access
 * @access_flags: SELFTEST_OBJ_ACCESS: MOCK_ACCESS_*; constant
 * @pins: SELFTEST_OBJ_ACCESS: struct selftest_pin of the ranges pinned
 * @npins: SELFTEST_OBJ_ACCESS: entries of @pins
 * @unmap_count: SELFTEST_OBJ_ACCESS: unmap callbacks since the last
 *               IOMMU_TEST_OP_ACCESS_UNMAPS that reached user space
 * @unmap_first: SELFTEST_OBJ_ACCESS: [iova, length] of the first of them
 * @unmap_last: SELFTEST_OBJ_ACCESS: [iova, length] of the last of them
 * @unmap_read: SELFTEST_OBJ_ACCESS: @unmap_count when the
 *              IOMMU_TEST_OP_ACCESS_UNMAPS in progress read it, or 0
 * @unmap_next: SELFTEST_OBJ_ACCESS: [iova, length] of the callback number
 *              @unmap_read + 1: the first one once that read succeeded
 * @unmaps_mutex: SELFTEST_OBJ_ACCESS: serializes
 *                IOMMU_TEST_OP_ACCESS_UNMAPS across its copy to user
 *                space.  A sleeping lock, taken killable: the copy may
 *                fault and block for as long as user space wants.  Taken
 *                before @lock, which is never held across the copy, and
 *                never by the unmap callback.
 *
 * Holds no reference on any object itself: the device or the access holds
 * its own.
 */
struct selftest_obj {
	struct iommufd_object obj;
	enum selftest_obj_kind kind;
	struct mutex lock;	/* see the kernel-doc above */
	union {
		struct {
			struct mock_dev *mdev;
			struct iommufd_device *idev;
			bool attached;
		};
		struct {
			struct iommufd_access *access;
			u32 access_flags;
			struct list_head pins;
			unsigned int npins;
			u32 unmap_count;
			u64 unmap_first[2];
			u64 unmap_last[2];
			u32 unmap_read;
			u64 unmap_next[2];
			struct mutex unmaps_mutex; /* see the kernel-doc above */
		};
	};
};

static_assert(offsetof(struct selftest_obj, obj) == 0);

static void selftest_pin_free(struct selftest_pin *pin)
{
	kvfree(pin->pages);
	kfree(pin);
}

/**
 * iommufd_selftest_destroy() - Destroy op of IOMMUFD_OBJ_SELFTEST
 * @obj: the object, already removed from the table
 *
 * A mock device: detach (if attached) and unbind it, which may destroy its
 * automatic HW_PAGETABLE and destroys its DEVICE object, then remove it.
 * An access: destroy it, which asks the mock driver to unpin what it still
 * holds (the driver of MOCK_ACCESS_NO_UNPIN does not: the access drops
 * those pins itself).  Runs from IOMMU_DESTROY or from the release of the
 * context's file.  Never fails.
 */
void iommufd_selftest_destroy(struct iommufd_object *obj)
{
	struct selftest_obj *sobj = container_of(obj, struct selftest_obj, obj);
	struct selftest_pin *pin, *tmp;

	if (sobj->kind == SELFTEST_OBJ_ACCESS) {
		iommufd_access_destroy(sobj->access);
		/* Only the buggy driver has records left; the pins are gone */
		list_for_each_entry_safe(pin, tmp, &sobj->pins, item)
			selftest_pin_free(pin);
		mutex_destroy(&sobj->unmaps_mutex);
		mutex_destroy(&sobj->lock);
		return;
	}
	if (sobj->attached)
		iommufd_device_detach(sobj->idev);
	iommufd_device_unbind(sobj->idev);
	mock_dev_destroy(sobj->mdev);
	mutex_destroy(&sobj->lock);
}

#define MOCK_FLAGS_DEVICE_KIND (MOCK_FLAGS_DEVICE_SMMUV3 | \
				MOCK_FLAGS_DEVICE_INTEL | \
				MOCK_FLAGS_DEVICE_NO_FINALISE)
#define MOCK_FLAGS_DEVICE_UNIT (MOCK_FLAGS_DEVICE_NO_SNOOP | \
				MOCK_FLAGS_DEVICE_NARROW)
#define MOCK_FLAGS_DEVICE_PEER (MOCK_FLAGS_DEVICE_SAME_INSTANCE | \
				MOCK_FLAGS_DEVICE_SAME_GROUP)

/*
 * Look up selftest object @id, with a reference; -ENOENT if there is none or
 * it is not of @kind (a mock device's object for an access op, or the other
 * way round)
 */
static struct selftest_obj *iommufd_test_get_sobj(struct iommufd_ucmd *ucmd,
						  u32 id,
						  enum selftest_obj_kind kind)
{
	struct iommufd_object *obj;
	struct selftest_obj *sobj;

	obj = iommufd_get_object(ucmd->ictx, id, IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(obj))
		return ERR_CAST(obj);
	sobj = container_of(obj, struct selftest_obj, obj);
	if (sobj->kind != kind) {
		iommufd_put_object(ucmd->ictx, obj);
		return ERR_PTR(-ENOENT);
	}
	return sobj;
}

/*
 * IOMMU_TEST_OP_MOCK_DOMAIN (@flags 0) and IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
 * create a mock device, bind it and, unless MOCK_FLAGS_DEVICE_NO_ATTACH,
 * attach it to @pt_id.  Return 0 and the IDs in @out_* or an errno; -EBUSY
 * for MOCK_FLAGS_DEVICE_SAME_GROUP with a peer that is attached.
 */
static int iommufd_test_mock_domain(struct iommufd_ucmd *ucmd, u32 pt_id,
				    u32 flags, u32 peer_id, u32 *out_stdev_id,
				    u32 *out_idev_id, u32 *out_hwpt_id)
{
	struct selftest_obj *sobj, *peer = NULL;
	struct mock_dev *peer_mdev = NULL;
	u32 idev_id;
	int rc;

	if (flags & ~(MOCK_FLAGS_DEVICE_KIND | MOCK_FLAGS_DEVICE_UNIT |
		      MOCK_FLAGS_DEVICE_PEER | MOCK_FLAGS_DEVICE_NO_ATTACH))
		return -EOPNOTSUPP;
	if (hweight32(flags & MOCK_FLAGS_DEVICE_KIND) > 1 ||
	    ((flags & MOCK_FLAGS_DEVICE_NARROW) &&
	     !(flags & MOCK_FLAGS_DEVICE_INTEL)) ||
	    ((flags & MOCK_FLAGS_DEVICE_PEER) &&
	     (flags & (MOCK_FLAGS_DEVICE_KIND | MOCK_FLAGS_DEVICE_UNIT))))
		return -EINVAL;

	if (flags & MOCK_FLAGS_DEVICE_PEER) {
		peer = iommufd_test_get_sobj(ucmd, peer_id,
					     SELFTEST_OBJ_DEVICE);
		if (IS_ERR(peer))
			return PTR_ERR(peer);
		peer_mdev = peer->mdev;
		if (flags & MOCK_FLAGS_DEVICE_SAME_GROUP) {
			/* Keep it unattached until the new device is added */
			mutex_lock(&peer->lock);
			if (peer->attached) {
				rc = -EBUSY;
				goto out_peer;
			}
		}
	}

	sobj = iommufd_object_alloc(ucmd->ictx, sobj, IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(sobj)) {
		rc = PTR_ERR(sobj);
		goto out_peer;
	}
	mutex_init(&sobj->lock);
	sobj->attached = false;

	sobj->mdev = mock_dev_create(flags, peer_mdev);
	if (IS_ERR(sobj->mdev)) {
		rc = PTR_ERR(sobj->mdev);
		goto out_abort;
	}

	/* No reference on the file: see the comment at the top */
	sobj->idev = __iommufd_device_bind(ucmd->ictx, &sobj->mdev->dev,
					   &idev_id, false);
	if (IS_ERR(sobj->idev)) {
		rc = PTR_ERR(sobj->idev);
		goto out_mdev;
	}

	if (flags & MOCK_FLAGS_DEVICE_NO_ATTACH) {
		pt_id = 0;
	} else {
		rc = iommufd_device_attach(sobj->idev, &pt_id);
		if (rc)
			goto out_unbind;
		sobj->attached = true;
	}

	*out_stdev_id = sobj->obj.id;
	*out_idev_id = idev_id;
	*out_hwpt_id = pt_id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(struct iommu_test_cmd));
	if (rc)
		goto out_detach;
	iommufd_object_finalize(ucmd->ictx, &sobj->obj);
	rc = 0;
	goto out_peer;

out_detach:
	if (sobj->attached)
		iommufd_device_detach(sobj->idev);
out_unbind:
	iommufd_device_unbind(sobj->idev);
out_mdev:
	mock_dev_destroy(sobj->mdev);
out_abort:
	mutex_destroy(&sobj->lock);
	iommufd_object_abort(ucmd->ictx, &sobj->obj);
out_peer:
	if (peer) {
		if (flags & MOCK_FLAGS_DEVICE_SAME_GROUP)
			mutex_unlock(&peer->lock);
		iommufd_put_object(ucmd->ictx, &peer->obj);
	}
	return rc;
}

/* IOMMU_TEST_OP_MOCK_DEVICE_ATTACH and IOMMU_TEST_OP_MOCK_DEVICE_DETACH */
static int iommufd_test_mock_attach(struct iommufd_ucmd *ucmd,
				    struct iommu_test_cmd *cmd, bool attach)
{
	struct selftest_obj *sobj;
	u32 pt_id = cmd->mock_attach.pt_id;
	int rc = 0;

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_DEVICE);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);

	mutex_lock(&sobj->lock);
	if (attach) {
		rc = iommufd_device_attach(sobj->idev, &pt_id);
		if (!rc) {
			sobj->attached = true;
			cmd->mock_attach.out_hwpt_id = pt_id;
			/* Attached even if user space does not hear it */
			rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
		}
	} else if (sobj->attached) {
		iommufd_device_detach(sobj->idev);
		sobj->attached = false;
	} else {
		rc = -EINVAL;
	}
	mutex_unlock(&sobj->lock);
	iommufd_put_object(ucmd->ictx, &sobj->obj);
	return rc;
}

/*
 * IOMMU_TEST_OP_MOCK_DEVICE_REPLACE: the whole group of the mock device
 * moves; the selftest objects of the other moved devices stay attached
 */
static int iommufd_test_mock_replace(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	struct selftest_obj *sobj;
	u32 pt_id = cmd->mock_attach.pt_id;
	int rc;

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_DEVICE);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);

	/*
	 * Whether the device is attached is iommufd_device_replace()'s check.
	 * Test code only: the reply is written under the lock, and a fault
	 * there leaves the device moved.
	 */
	mutex_lock(&sobj->lock);
	rc = iommufd_device_replace(sobj->idev, &pt_id);
	if (!rc) {
		cmd->mock_attach.out_hwpt_id = pt_id;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
	mutex_unlock(&sobj->lock);
	iommufd_put_object(ucmd->ictx, &sobj->obj);
	return rc;
}

static int iommufd_test_add_reserved(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	struct iommufd_ioas *ioas;
	u64 last;
	int rc;

	if (!cmd->add_reserved.length)
		return -EINVAL;
	if (check_add_overflow(cmd->add_reserved.start,
			       cmd->add_reserved.length - 1, &last) ||
	    last > ULONG_MAX)
		return -EOVERFLOW;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	/* Stays until the IOAS is destroyed */
	rc = iopt_reserve_iova(&ioas->iopt, cmd->add_reserved.start, last,
			       NULL);
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

/* [*@start, *@last] = [uptr, uptr + length - 1], checked */
static int iommufd_test_user_range(u64 uptr, u64 length, unsigned long *start,
				   unsigned long *last)
{
	u64 end;

	if (!length)
		return -EINVAL;
	if (check_add_overflow(uptr, length - 1, &end) || end > ULONG_MAX)
		return -EOVERFLOW;
	*start = uptr;
	*last = end;
	return 0;
}

static int iommufd_test_md_check_map(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	u64 iova = cmd->check_map.iova, length = cmd->check_map.length;
	struct iommufd_hw_pagetable *hwpt;
	unsigned long ustart, ulast, uaddr;
	struct mock_iommu_domain *mock;
	struct iommufd_object *obj;
	struct page *page = NULL;
	struct mock_map *map;
	size_t max_size = 0, max_pgsize = 0;
	u64 iova_last, off;
	phys_addr_t phys;
	int rc;

	rc = iommufd_test_user_range(cmd->check_map.uptr, length, &ustart,
				     &ulast);
	if (rc)
		return rc;
	if (check_add_overflow(iova, length - 1, &iova_last) ||
	    iova_last > ULONG_MAX)
		return -EOVERFLOW;
	if (iova % MOCK_IO_PAGE_SIZE || length % MOCK_IO_PAGE_SIZE ||
	    ustart % MOCK_IO_PAGE_SIZE)
		return -EINVAL;

	obj = iommufd_get_object(ucmd->ictx, cmd->id,
				 IOMMUFD_OBJ_HW_PAGETABLE);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	hwpt = container_of(obj, struct iommufd_hw_pagetable, obj);
	if (!mock_is_paging(hwpt->domain)) {
		rc = -EINVAL;
		goto out_put;
	}
	mock = to_mock_domain(hwpt->domain);

	for (off = 0; off < length; off += MOCK_IO_PAGE_SIZE) {
		uaddr = ustart + off;
		if (!page || !(uaddr % PAGE_SIZE)) {
			if (page)
				put_page(page);
			page = NULL;
			if (fatal_signal_pending(current)) {
				rc = -EINTR;
				goto out_put;
			}
			cond_resched();
			/* A plain reference is enough to compare addresses */
			rc = get_user_pages_fast(uaddr & PAGE_MASK, 1, 0,
						 &page);
			if (rc != 1) {
				page = NULL;
				rc = rc < 0 ? rc : -EFAULT;
				goto out_put;
			}
		}

		rcu_read_lock();
		map = xa_load(&mock->maps,
			      (unsigned long)(iova + off) / MOCK_IO_PAGE_SIZE);
		if (map) {
			phys = map->paddr + (iova + off - map->iova);
			max_size = max(max_size, map->size);
			max_pgsize = max(max_pgsize, map->pgsize);
		}
		rcu_read_unlock();
		if (!map ||
		    phys != page_to_phys(page) + offset_in_page(uaddr)) {
			rc = -EINVAL;
			goto out_put;
		}
	}

	cmd->check_map.out_max_map_size = max_size;
	cmd->check_map.out_max_pgsize = max_pgsize;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put:
	if (page)
		put_page(page);
	iommufd_put_object(ucmd->ictx, obj);
	return rc;
}

/* FOLL_PIN adds GUP_PIN_COUNTING_BIAS to the refcount of a small page */
static int mock_check_page_pins(struct page *page, unsigned int refs)
{
	unsigned int count;

	/*
	 * The zero page is shared by everyone, its count means nothing.
	 * (Nor does the huge zero page's, which cannot be recognized here.)
	 */
	if (is_zero_pfn(page_to_pfn(page)))
		return 0;
	/* Minus the plain reference get_user_pages_fast() took for us */
	count = page_ref_count(page) - 1;
	return count / GUP_PIN_COUNTING_BIAS == refs ? 0 : -EINVAL;
}

/*
 * FOLL_PIN counts the pins of all pages of a large folio together, in its
 * _pincount; @nr_pages of them were in the range.  Exact when the whole
 * folio was, else the other pages may hold pins of their own.
 */
static int mock_check_folio_pins(struct folio *folio, unsigned long nr_pages,
				 unsigned int refs)
{
	u64 pins = (unsigned int)atomic_read(folio_pincount_ptr(folio));
	u64 expected = (u64)refs * nr_pages;

	if (nr_pages == folio_nr_pages(folio))
		return pins == expected ? 0 : -EINVAL;
	return pins >= expected ? 0 : -EINVAL;
}

static int iommufd_test_md_check_refs(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd)
{
	unsigned int refs = cmd->check_refs.refs;
	struct folio *run_folio = NULL;
	unsigned long run_pages = 0;
	unsigned long start, last, addr;
	struct folio *folio;
	struct page *page;
	int rc;

	if (cmd->check_refs.__reserved)
		return -EOPNOTSUPP;
	rc = iommufd_test_user_range(cmd->check_refs.uptr,
				     cmd->check_refs.length, &start, &last);
	if (rc)
		return rc;

	/*
	 * Consecutive pages of one large folio form a run, checked together
	 * when it ends; the first page's reference keeps the folio meanwhile.
	 */
	for (addr = start & PAGE_MASK;; addr += PAGE_SIZE) {
		if (fatal_signal_pending(current)) {
			rc = -EINTR;
			break;
		}
		cond_resched();
		rc = get_user_pages_fast(addr, 1, 0, &page);
		if (rc != 1) {
			rc = rc < 0 ? rc : -EFAULT;
			break;
		}
		rc = 0;
		folio = page_folio(page);

		if (run_folio && folio != run_folio) {
			rc = mock_check_folio_pins(run_folio, run_pages, refs);
			folio_put(run_folio);
			run_folio = NULL;
			if (rc) {
				put_page(page);
				break;
			}
		}

		if (folio == run_folio) {
			run_pages++;
			put_page(page);
		} else if (folio_test_large(folio)) {
			run_folio = folio;
			run_pages = 1;
		} else {
			rc = mock_check_page_pins(page, refs);
			put_page(page);
			if (rc)
				break;
		}

		if (addr == (last & PAGE_MASK))
			break;
	}

	if (run_folio) {
		if (!rc)
			rc = mock_check_folio_pins(run_folio, run_pages, refs);
		folio_put(run_folio);
	}
	return rc;
}

/*
 * The limit belongs to the iommufd it is set on: a test shrinking its pin
 * batches does not change how any other context pins.
 */
static int iommufd_test_memory_limit_set(struct iommufd_ucmd *ucmd,
					 struct iommu_test_cmd *cmd)
{
	if (cmd->memory_limit.__reserved)
		return -EOPNOTSUPP;
	WRITE_ONCE(ucmd->ictx->test_memory_limit, cmd->memory_limit.limit);
	return 0;
}

static int iommufd_test_ioas_metadata(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd)
{
	struct iommufd_ioas *ioas;
	int rc;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = iopt_get_metadata(&ioas->iopt, cmd);
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	if (rc)
		return rc;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

/* IOMMU_TEST_OP_HWPT_COHERENCY */
static int iommufd_test_hwpt_coherency(struct iommufd_ucmd *ucmd,
				       struct iommu_test_cmd *cmd)
{
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_object *obj;

	obj = iommufd_get_object(ucmd->ictx, cmd->id,
				 IOMMUFD_OBJ_HW_PAGETABLE);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	hwpt = container_of(obj, struct iommufd_hw_pagetable, obj);
	/* Constant once the object is published */
	cmd->hwpt_coherency.out_enforce = hwpt->enforce_cache_coherency;
	cmd->hwpt_coherency.__reserved = 0;
	iommufd_put_object(ucmd->ictx, obj);
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

/* IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN */
static int iommufd_test_mock_device_domain(struct iommufd_ucmd *ucmd,
					   struct iommu_test_cmd *cmd)
{
	struct iommu_domain *hwpt_domain = NULL, *domain;
	struct iommufd_object *hwpt_obj = NULL;
	struct selftest_obj *sobj;
	u32 kind;

	if (cmd->mock_device_domain.hwpt_id) {
		hwpt_obj = iommufd_get_object(ucmd->ictx,
					      cmd->mock_device_domain.hwpt_id,
					      IOMMUFD_OBJ_HW_PAGETABLE);
		if (IS_ERR(hwpt_obj))
			return PTR_ERR(hwpt_obj);
		hwpt_domain = container_of(hwpt_obj,
					   struct iommufd_hw_pagetable,
					   obj)->domain;
	}
	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_DEVICE);
	if (IS_ERR(sobj)) {
		if (hwpt_obj)
			iommufd_put_object(ucmd->ictx, hwpt_obj);
		return PTR_ERR(sobj);
	}

	/*
	 * The attach callbacks write mdev->domain under the group's mutex,
	 * which is private to the iommu core; the tests do not attach the
	 * device concurrently, a snapshot is enough.
	 */
	domain = READ_ONCE(sobj->mdev->domain);
	if (!domain)
		kind = MOCK_DEV_ON_NONE;
	else if (domain == &mock_blocking_domain)
		kind = MOCK_DEV_ON_BLOCKED;
	else if (domain == &mock_identity_domain)
		kind = MOCK_DEV_ON_IDENTITY;
	else if (domain == hwpt_domain)
		kind = MOCK_DEV_ON_HWPT;
	else
		kind = MOCK_DEV_ON_OTHER;

	iommufd_put_object(ucmd->ictx, &sobj->obj);
	if (hwpt_obj)
		iommufd_put_object(ucmd->ictx, hwpt_obj);
	cmd->mock_device_domain.out_kind = kind;
	return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
}

/* In-kernel accesses of the mock driver */

/*
 * Unpin @pin and forget it; it is freed unless IOMMU_TEST_OP_ACCESS_PIN is
 * still comparing its pages, which then frees it.  Under the mock driver's
 * lock.
 */
static void mock_access_unpin(struct selftest_obj *sobj,
			      struct selftest_pin *pin)
{
	lockdep_assert_held(&sobj->lock);

	iommufd_access_unpin_pages(sobj->access, pin->iova, pin->length);
	list_del(&pin->item);
	sobj->npins--;
	if (pin->checking)
		pin->unpinned = true;
	else
		selftest_pin_free(pin);
}

/*
 * The unmap callback of the mock driver: record the call and, unless it
 * plays a buggy driver, unpin every range it holds that intersects
 * [@iova, @iova + @length), including a pin whose pages ACCESS_PIN is
 * still comparing.  Runs without iommufd locks; the notification holds a
 * reference on the access, so the selftest object cannot be freed
 * meanwhile (its destroy waits in iommufd_access_destroy()).
 */
static void mock_access_unmap(void *data, unsigned long iova,
			      unsigned long length)
{
	struct selftest_obj *sobj = data;
	struct selftest_pin *pin, *tmp;
	unsigned long last = iova + length - 1;

	mutex_lock(&sobj->lock);
	if (!sobj->unmap_count) {
		sobj->unmap_first[0] = iova;
		sobj->unmap_first[1] = length;
	}
	/* The first callback after the count an ACCESS_UNMAPS reported */
	if (sobj->unmap_read && sobj->unmap_count == sobj->unmap_read) {
		sobj->unmap_next[0] = iova;
		sobj->unmap_next[1] = length;
	}
	sobj->unmap_last[0] = iova;
	sobj->unmap_last[1] = length;
	if (sobj->unmap_count != U32_MAX)
		sobj->unmap_count++;
	if (!(sobj->access_flags & MOCK_ACCESS_NO_UNPIN)) {
		list_for_each_entry_safe(pin, tmp, &sobj->pins, item) {
			if (pin->iova > last ||
			    pin->iova + pin->length - 1 < iova)
				continue;
			mock_access_unpin(sobj, pin);
		}
	}
	mutex_unlock(&sobj->lock);
}

static const struct iommufd_access_ops mock_access_ops = {
	.unmap = mock_access_unmap,
};

static const struct iommufd_access_ops mock_access_pin_ops = {
	.needs_pin_pages = 1,
	.unmap = mock_access_unmap,
};

/* IOMMU_TEST_OP_CREATE_ACCESS */
static int iommufd_test_create_access(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd)
{
	u32 flags = cmd->access_create.flags;
	struct selftest_obj *sobj;
	u32 access_id;
	int rc;

	if (cmd->access_create.__reserved ||
	    flags & ~(MOCK_ACCESS_NEEDS_PIN_PAGES | MOCK_ACCESS_NO_UNPIN))
		return -EOPNOTSUPP;

	sobj = iommufd_object_alloc(ucmd->ictx, sobj, IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);
	sobj->kind = SELFTEST_OBJ_ACCESS;
	mutex_init(&sobj->lock);
	mutex_init(&sobj->unmaps_mutex);
	INIT_LIST_HEAD(&sobj->pins);
	sobj->access_flags = flags;

	/* No reference on the file, like the mock devices (see the top) */
	sobj->access = __iommufd_access_create(ucmd->ictx,
					       (flags & MOCK_ACCESS_NEEDS_PIN_PAGES) ?
						       &mock_access_pin_ops :
						       &mock_access_ops,
					       sobj, &access_id, false);
	if (IS_ERR(sobj->access)) {
		rc = PTR_ERR(sobj->access);
		goto out_abort;
	}
	/*
	 * The buggy driver is a test of the kernel's survival, not a bug to
	 * WARN about: see iommufd_access_warn_kept_pins().  Before the
	 * attach, after which its callback may be asked to unpin.
	 */
	sobj->access->selftest_keeps_pins = flags & MOCK_ACCESS_NO_UNPIN;
	if (cmd->id) {
		rc = iommufd_access_attach(sobj->access, cmd->id);
		if (rc)
			goto out_destroy;
	}

	cmd->access_create.out_access_id = sobj->obj.id;
	cmd->access_create.out_access_obj_id = access_id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_destroy;
	iommufd_object_finalize(ucmd->ictx, &sobj->obj);
	return 0;

out_destroy:
	/* Nothing is pinned yet: detaches without a callback */
	iommufd_access_destroy(sobj->access);
out_abort:
	mutex_destroy(&sobj->unmaps_mutex);
	mutex_destroy(&sobj->lock);
	iommufd_object_abort(ucmd->ictx, &sobj->obj);
	return rc;
}

/*
 * IOMMU_TEST_OP_ACCESS_SET_IOAS.  Without the mock driver's lock: a detach
 * or replace calls its unmap callback when it still holds pins.
 */
static int iommufd_test_access_set_ioas(struct iommufd_ucmd *ucmd,
					struct iommu_test_cmd *cmd)
{
	struct selftest_obj *sobj;
	int rc;

	if (cmd->access_ioas.mode > MOCK_ACCESS_IOAS_DETACH)
		return -EOPNOTSUPP;
	if (cmd->access_ioas.mode == MOCK_ACCESS_IOAS_DETACH &&
	    cmd->access_ioas.ioas_id)
		return -EINVAL;

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_ACCESS);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);
	switch (cmd->access_ioas.mode) {
	case MOCK_ACCESS_IOAS_ATTACH:
		rc = iommufd_access_attach(sobj->access,
					   cmd->access_ioas.ioas_id);
		break;
	case MOCK_ACCESS_IOAS_REPLACE:
		rc = iommufd_access_replace(sobj->access,
					    cmd->access_ioas.ioas_id);
		break;
	default:
		iommufd_access_detach(sobj->access);
		rc = 0;
		break;
	}
	iommufd_put_object(ucmd->ictx, &sobj->obj);
	return rc;
}

/*
 * Check the range of an ACCESS_PIN or ACCESS_RW; its number of pages of
 * IOVA in *@npages
 */
static int iommufd_test_access_range(u64 iova, u64 length,
				     unsigned long *npages)
{
	u64 last;

	if (!length || length > MOCK_ACCESS_MAX_LENGTH)
		return -EINVAL;
	if (check_add_overflow(iova, length - 1, &last) || last > ULONG_MAX)
		return -EOVERFLOW;
	*npages = (last >> PAGE_SHIFT) - (iova >> PAGE_SHIFT) + 1;
	return 0;
}

/*
 * Compare the pinned pages with the pages of the user memory at @uptr,
 * which has the same offset in its page as the pinned IOVA.  Faults on user
 * memory: never under the mock driver's lock of @sobj (lockdep checks it).
 */
static int iommufd_test_check_pinned(struct selftest_obj *sobj,
				     struct page **pages,
				     unsigned long npages, unsigned long uptr)
{
	struct page *upage;
	unsigned long i;
	int rc = 0;

	lockdep_assert_not_held(&sobj->lock);

	for (i = 0; i != npages && !rc; i++) {
		if (fatal_signal_pending(current))
			return -EINTR;
		rc = get_user_pages_fast((uptr & PAGE_MASK) + i * PAGE_SIZE, 1,
					 0, &upage);
		if (rc != 1)
			return rc < 0 ? rc : -EFAULT;
		rc = upage == pages[i] ? 0 : -EINVAL;
		put_page(upage);
		cond_resched();
	}
	return rc;
}

/* IOMMU_TEST_OP_ACCESS_PIN */
static int iommufd_test_access_pin(struct iommufd_ucmd *ucmd,
				   struct iommu_test_cmd *cmd)
{
	u64 iova = cmd->access_pages.iova, length = cmd->access_pages.length;
	u64 uptr = cmd->access_pages.uptr;
	struct selftest_obj *sobj;
	struct selftest_pin *pin;
	unsigned long npages;
	int rc;

	if (cmd->access_pages.flags & ~MOCK_ACCESS_RW_WRITE)
		return -EOPNOTSUPP;
	rc = iommufd_test_access_range(iova, length, &npages);
	if (rc)
		return rc;
	if (uptr && (uptr > ULONG_MAX || (uptr ^ iova) & ~PAGE_MASK ||
		     uptr + npages * PAGE_SIZE - 1 < uptr))
		return -EINVAL;

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_ACCESS);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);

	pin = kzalloc(sizeof(*pin), GFP_KERNEL_ACCOUNT);
	if (!pin) {
		rc = -ENOMEM;
		goto out_put;
	}
	pin->iova = iova;
	pin->length = length;
	pin->pages = kvcalloc(npages, sizeof(*pin->pages), GFP_KERNEL_ACCOUNT);
	if (!pin->pages) {
		rc = -ENOMEM;
		goto out_free;
	}

	/*
	 * Pin and record under the lock, as a driver must, so that the unmap
	 * callback finds every pin.  The pages are compared without it: a
	 * fault on user memory may block, and an unmap waiting for the
	 * callback would block with it.  Meanwhile the callback may unpin the
	 * pin (the pages are then compared all the same), ACCESS_UNPIN does
	 * not see it.
	 */
	mutex_lock(&sobj->lock);
	rc = iommufd_access_pin_pages(sobj->access, iova, length, pin->pages,
				      (cmd->access_pages.flags &
				       MOCK_ACCESS_RW_WRITE) ?
					      IOMMUFD_ACCESS_RW_WRITE : 0);
	if (rc) {
		mutex_unlock(&sobj->lock);
		goto out_free;
	}
	list_add_tail(&pin->item, &sobj->pins);
	sobj->npins++;
	pin->checking = !!uptr;
	mutex_unlock(&sobj->lock);

	if (uptr) {
		rc = iommufd_test_check_pinned(sobj, pin->pages, npages, uptr);
		mutex_lock(&sobj->lock);
		pin->checking = false;
		if (pin->unpinned)
			/* The callback unpinned it meanwhile: ours to free */
			selftest_pin_free(pin);
		else if (rc)
			mock_access_unpin(sobj, pin);
		mutex_unlock(&sobj->lock);
		if (rc)
			goto out_put;
	}
	/*
	 * Pinned even if user space does not hear it: ACCESS_UNPIN undoes.
	 * From here on the pin is the callback's or ACCESS_UNPIN's to free.
	 */
	pin = NULL;
	cmd->access_pages.out_npages = npages;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_free:
	if (pin)
		selftest_pin_free(pin);
out_put:
	iommufd_put_object(ucmd->ictx, &sobj->obj);
	return rc;
}

/* IOMMU_TEST_OP_ACCESS_UNPIN: only what the mock driver pinned */
static int iommufd_test_access_unpin(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	struct selftest_obj *sobj;
	struct selftest_pin *pin;
	int rc = -ENOENT;

	if (cmd->access_pages.flags || cmd->access_pages.uptr)
		return -EOPNOTSUPP;

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_ACCESS);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);

	mutex_lock(&sobj->lock);
	list_for_each_entry(pin, &sobj->pins, item) {
		/* A pin ACCESS_PIN has not returned yet is not known yet */
		if (pin->checking || pin->iova != cmd->access_pages.iova ||
		    pin->length != cmd->access_pages.length)
			continue;
		mock_access_unpin(sobj, pin);
		rc = 0;
		break;
	}
	mutex_unlock(&sobj->lock);
	iommufd_put_object(ucmd->ictx, &sobj->obj);
	return rc;
}

/* IOMMU_TEST_OP_ACCESS_RW */
static int iommufd_test_access_rw(struct iommufd_ucmd *ucmd,
				  struct iommu_test_cmd *cmd)
{
	u64 iova = cmd->access_rw.iova, length = cmd->access_rw.length;
	void __user *ubuf = u64_to_user_ptr(cmd->access_rw.uptr);
	unsigned int flags = 0;
	struct selftest_obj *sobj;
	unsigned long npages;
	void *buf;
	int rc;

	if (cmd->access_rw.__reserved ||
	    cmd->access_rw.flags & ~(MOCK_ACCESS_RW_WRITE |
				     MOCK_ACCESS_RW_KTHREAD))
		return -EOPNOTSUPP;
	rc = iommufd_test_access_range(iova, length, &npages);
	if (rc)
		return rc;
	if (cmd->access_rw.flags & MOCK_ACCESS_RW_WRITE)
		flags |= IOMMUFD_ACCESS_RW_WRITE;
	if (cmd->access_rw.flags & MOCK_ACCESS_RW_KTHREAD)
		flags |= IOMMUFD_ACCESS_RW_KTHREAD;

	buf = kvzalloc(length, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	if ((flags & IOMMUFD_ACCESS_RW_WRITE) &&
	    copy_from_user(buf, ubuf, length)) {
		rc = -EFAULT;
		goto out_free;
	}

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_ACCESS);
	if (IS_ERR(sobj)) {
		rc = PTR_ERR(sobj);
		goto out_free;
	}
	rc = iommufd_access_rw(sobj->access, iova, buf, length, flags);
	iommufd_put_object(ucmd->ictx, &sobj->obj);

	if (!rc && !(flags & IOMMUFD_ACCESS_RW_WRITE) &&
	    copy_to_user(ubuf, buf, length))
		rc = -EFAULT;
out_free:
	kvfree(buf);
	return rc;
}

/*
 * IOMMU_TEST_OP_ACCESS_UNMAPS.  The record is reset only once user space
 * has it: the callbacks it reported are forgotten after the copy succeeded,
 * those that came meanwhile stay.  The copy to user space is made with
 * unmaps_mutex only, a mutex taken killable, so that a task waiting
 * behind a copy that user space stalls can be killed; never with the mock
 * driver's lock, which the callback needs.
 */
static int iommufd_test_access_unmaps(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd)
{
	struct selftest_obj *sobj;
	u32 count;
	int rc;

	sobj = iommufd_test_get_sobj(ucmd, cmd->id, SELFTEST_OBJ_ACCESS);
	if (IS_ERR(sobj))
		return PTR_ERR(sobj);

	memset(&cmd->access_unmaps, 0, sizeof(cmd->access_unmaps));
	rc = mutex_lock_killable(&sobj->unmaps_mutex);
	if (rc)
		goto out_put;
	mutex_lock(&sobj->lock);
	count = sobj->unmap_count;
	cmd->access_unmaps.out_count = count;
	cmd->access_unmaps.out_pins = sobj->npins;
	if (count) {
		cmd->access_unmaps.out_first.iova = sobj->unmap_first[0];
		cmd->access_unmaps.out_first.length = sobj->unmap_first[1];
		cmd->access_unmaps.out_last.iova = sobj->unmap_last[0];
		cmd->access_unmaps.out_last.length = sobj->unmap_last[1];
	}
	sobj->unmap_read = count;
	mutex_unlock(&sobj->lock);

	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));

	mutex_lock(&sobj->lock);
	if (!rc) {
		sobj->unmap_count -= count;
		/* after a read of 0, the callbacks since set unmap_first */
		if (count && sobj->unmap_count)
			memcpy(sobj->unmap_first, sobj->unmap_next,
			       sizeof(sobj->unmap_first));
	}
	sobj->unmap_read = 0;
	mutex_unlock(&sobj->lock);
	mutex_unlock(&sobj->unmaps_mutex);
out_put:
	iommufd_put_object(ucmd->ictx, &sobj->obj);
	return rc;
}

/**
 * iommufd_test() - ioctl(IOMMU_TEST_CMD)
 * @ucmd: the command; ucmd->cmd is a struct iommu_test_cmd
 *
 * Return: 0 or a negative errno, see iommufd_test.h; -EOPNOTSUPP for an
 * unknown operation or a reserved field that is not 0.
 */
int iommufd_test(struct iommufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	if (cmd->__reserved)
		return -EOPNOTSUPP;

	switch (cmd->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		return iommufd_test_add_reserved(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DOMAIN:
		cmd->mock_domain.__reserved = 0;
		return iommufd_test_mock_domain(ucmd, cmd->id, 0, 0,
						&cmd->mock_domain.out_stdev_id,
						&cmd->mock_domain.out_idev_id,
						&cmd->mock_domain.out_hwpt_id);
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		if (cmd->mock_domain_flags.__reserved)
			return -EOPNOTSUPP;
		return iommufd_test_mock_domain(ucmd, cmd->id,
						cmd->mock_domain_flags.dev_flags,
						cmd->mock_domain_flags.peer_stdev_id,
						&cmd->mock_domain_flags.out_stdev_id,
						&cmd->mock_domain_flags.out_idev_id,
						&cmd->mock_domain_flags.out_hwpt_id);
	case IOMMU_TEST_OP_MOCK_DEVICE_ATTACH:
		return iommufd_test_mock_attach(ucmd, cmd, true);
	case IOMMU_TEST_OP_MOCK_DEVICE_DETACH:
		return iommufd_test_mock_attach(ucmd, cmd, false);
	case IOMMU_TEST_OP_MOCK_DOMAIN_ALLOCS:
		cmd->domain_allocs.out_count = atomic64_read(&mock_domain_allocs);
		return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		return iommufd_test_md_check_map(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		return iommufd_test_md_check_refs(ucmd, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		return iommufd_test_memory_limit_set(ucmd, cmd);
	case IOMMU_TEST_OP_IOAS_METADATA:
		return iommufd_test_ioas_metadata(ucmd, cmd);
	case IOMMU_TEST_OP_HWPT_COHERENCY:
		return iommufd_test_hwpt_coherency(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DEVICE_DOMAIN:
		return iommufd_test_mock_device_domain(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DEVICE_REPLACE:
		return iommufd_test_mock_replace(ucmd, cmd);
	case IOMMU_TEST_OP_CREATE_ACCESS:
		return iommufd_test_create_access(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_SET_IOAS:
		return iommufd_test_access_set_ioas(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_PIN:
		return iommufd_test_access_pin(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_UNPIN:
		return iommufd_test_access_unpin(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_RW:
		return iommufd_test_access_rw(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_UNMAPS:
		return iommufd_test_access_unmaps(ucmd, cmd);
	default:
		return -EOPNOTSUPP;
	}
}

/**
 * iommufd_test_init() - Set up the mock IOMMU drivers and fault injection
 *
 * Return: 0 or a negative errno; nothing is left registered on failure.
 */
int __init iommufd_test_init(void)
{
	int kind, rc;

	/* Optional: fail-nth works without it */
	fail_iommufd_dentry =
		fault_create_debugfs_attr("fail_iommufd", NULL, &fail_iommufd);

	mock_root = root_device_register("iommufd_selftest");
	if (IS_ERR(mock_root)) {
		rc = PTR_ERR(mock_root);
		goto err_dbgfs;
	}

	for (kind = 0; kind != MOCK_KIND_NR; kind++) {
		rc = bus_register(&iommufd_mock_bus_type[kind]);
		if (rc)
			goto err_unwind;
		/* The sysfs device iommu_device_link() links mock devices to */
		rc = iommu_device_sysfs_add(&mock_iommu[kind], mock_root, NULL,
					    "%s", mock_iommu_names[kind]);
		if (rc) {
			bus_unregister(&iommufd_mock_bus_type[kind]);
			goto err_unwind;
		}
		mock_iommu[kind].ops = &mock_ops[kind];
	}
	return 0;

err_unwind:
	while (kind--) {
		iommu_device_sysfs_remove(&mock_iommu[kind]);
		bus_unregister(&iommufd_mock_bus_type[kind]);
	}
	root_device_unregister(mock_root);
err_dbgfs:
	debugfs_remove_recursive(fail_iommufd_dentry);
	return rc;
}

/**
 * iommufd_test_exit() - Undo iommufd_test_init()
 *
 * No mock device exists any more: they all belong to contexts, which hold
 * a reference on the module while they are open.
 */
void iommufd_test_exit(void)
{
	int kind;

	for (kind = MOCK_KIND_NR - 1; kind >= 0; kind--) {
		iommu_device_sysfs_remove(&mock_iommu[kind]);
		bus_unregister(&iommufd_mock_bus_type[kind]);
	}
	root_device_unregister(mock_root);
	debugfs_remove_recursive(fail_iommufd_dentry);
	/* mock_map_free_rcu() is module code */
	rcu_barrier();
}
