// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the DMA ownership state machine of IOMMU groups.
 *
 * This file is included at the end of iommu.c so that the tests can check
 * the internal state of a group (owner_kind, owner_cnt, domain) directly,
 * without test-only hooks in the core.
 *
 * A mock IOMMU driver serves a mock bus.  Only one IOMMU driver can be
 * registered for the real buses, so the mock is never passed to
 * iommu_device_register(): the mock bus carries the ops in its iommu_ops
 * and the mock devices are added to the IOMMU core with
 * iommu_probe_device(), exactly as the bus notifier does for real buses.
 * The mock driver records which domain each device is attached to, and
 * can be told to refuse an attach.  It behaves like 6.1's real drivers
 * (intel, arm-smmu-v3): a refused attach has already taken the device off
 * its old domain (translation blocked), unless the refusal comes from an
 * early check; re-attaching the old domain, even the one the device is
 * still on, is an attach like any other and can be refused too.  Like
 * 6.1's intel, arm-smmu-v3 and amd drivers it does not allocate
 * IOMMU_DOMAIN_BLOCKED domains, so the core uses an empty unmanaged domain
 * as the blocking domain; the suite runs a second time with BLOCKED
 * domains allowed, like apple-dart.
 *
 * Two device drivers on the mock bus exercise the real probe path: one
 * does kernel DMA (dma_configure() calls iommu_device_use_default_domain())
 * and one manages DMA itself (driver_managed_dma).
 */

#include <kunit/test.h>

#define MOCK_NR_DEVS	3
#define MOCK_NR_EXTRA	3

struct mock_dev {
	struct device dev;
	struct iommu_group *group;	/* what device_group() returns */
	struct iommu_domain *attached;	/* NULL: translation blocked */
	unsigned int nr_blocked;	/* attaches of the group's blocking domain */
	unsigned int nr_bad_detach;	/* detaches of a domain it is not on */
	/* Refuse attaching refuse[0] or refuse[1] with fail_attach */
	int fail_attach;
	struct iommu_domain *refuse[2];
	bool refuse_early;		/* before leaving the old domain */
	int refuse_left;		/* so many times; -1: always */
};

static struct mock_dev *to_mock_dev(struct device *dev)
{
	return container_of(dev, struct mock_dev, dev);
}

/* The mock IOMMU driver */

static struct iommu_device mock_iommu;

/* Legacy driver without default domains, for the groups probed while set */
static bool mock_no_default_domain;
/* Allocate IOMMU_DOMAIN_BLOCKED domains (apple-dart); not 6.1 x86 or arm64 */
static bool mock_blocked_type;

static struct iommu_domain *mock_domain_alloc(unsigned int type)
{
	if (type != IOMMU_DOMAIN_IDENTITY && type != IOMMU_DOMAIN_BLOCKED &&
	    type != IOMMU_DOMAIN_UNMANAGED)
		return NULL;
	if (type == IOMMU_DOMAIN_IDENTITY && mock_no_default_domain)
		return NULL;
	if (type == IOMMU_DOMAIN_BLOCKED && !mock_blocked_type)
		return NULL;
	return kzalloc(sizeof(struct iommu_domain), GFP_KERNEL);
}

static void mock_domain_free(struct iommu_domain *domain)
{
	kfree(domain);
}

static int mock_attach_dev(struct iommu_domain *domain, struct device *dev)
{
	struct mock_dev *mdev = to_mock_dev(dev);

	/*
	 * Refusals come first, even for the domain the device is on: 6.1
	 * intel does not short-circuit that case.
	 */
	if (mdev->fail_attach && mdev->refuse_left &&
	    (domain == mdev->refuse[0] || domain == mdev->refuse[1])) {
		if (mdev->refuse_left > 0)
			mdev->refuse_left--;
		/*
		 * 6.1's intel and arm-smmu-v3 take the device off its old
		 * domain before they prepare the new one, and fail there.
		 */
		if (!mdev->refuse_early)
			mdev->attached = NULL;
		return mdev->fail_attach;
	}
	if (domain == mdev->attached)
		return 0;
	/* By pointer: the blocking domain is unmanaged on most drivers */
	if (domain == mdev->group->blocking_domain)
		mdev->nr_blocked++;
	mdev->attached = domain;
	return 0;
}

/* 6.1's drivers still have detach_dev, used without default domains */
static void mock_detach_dev(struct iommu_domain *domain, struct device *dev)
{
	struct mock_dev *mdev = to_mock_dev(dev);

	if (mdev->attached != domain) {
		mdev->nr_bad_detach++;
		return;
	}
	mdev->attached = NULL;
}

static void mock_refuse(struct mock_dev *mdev, int err, bool early,
			struct iommu_domain *dom0, struct iommu_domain *dom1)
{
	mdev->fail_attach = err;
	mdev->refuse_early = early;
	mdev->refuse[0] = dom0;
	mdev->refuse[1] = dom1;
	mdev->refuse_left = -1;
}

static void mock_accept(struct mock_dev *mdev)
{
	mock_refuse(mdev, 0, false, NULL, NULL);
}

static struct iommu_device *mock_probe_device(struct device *dev)
{
	return &mock_iommu;
}

static struct iommu_group *mock_device_group(struct device *dev)
{
	return iommu_group_ref_get(to_mock_dev(dev)->group);
}

static int mock_def_domain_type(struct device *dev)
{
	/* An identity default domain needs no DMA API cookie */
	return IOMMU_DOMAIN_IDENTITY;
}

static const struct iommu_domain_ops mock_domain_ops = {
	.attach_dev = mock_attach_dev,
	.detach_dev = mock_detach_dev,
	.free = mock_domain_free,
};

static const struct iommu_ops mock_iommu_ops = {
	.domain_alloc = mock_domain_alloc,
	.probe_device = mock_probe_device,
	.device_group = mock_device_group,
	.def_domain_type = mock_def_domain_type,
	.default_domain_ops = &mock_domain_ops,
	.pgsize_bitmap = PAGE_SIZE,
	.owner = THIS_MODULE,
};

/* The mock bus and its device drivers */

struct mock_driver {
	struct device_driver drv;
	bool driver_managed_dma;
};

static int mock_bus_match(struct device *dev, struct device_driver *drv)
{
	/* Drivers are only bound explicitly, by the tests */
	return 0;
}

static int mock_bus_dma_configure(struct device *dev)
{
	struct mock_driver *mdrv = container_of(dev->driver, struct mock_driver,
						drv);

	if (mdrv->driver_managed_dma)
		return 0;
	return iommu_device_use_default_domain(dev);
}

static void mock_bus_dma_cleanup(struct device *dev)
{
	struct mock_driver *mdrv = container_of(dev->driver, struct mock_driver,
						drv);

	if (!mdrv->driver_managed_dma)
		iommu_device_unuse_default_domain(dev);
}

static struct bus_type mock_bus = {
	.name = "iommu-ownership-mock",
	.match = mock_bus_match,
	.dma_configure = mock_bus_dma_configure,
	.dma_cleanup = mock_bus_dma_cleanup,
	.iommu_ops = &mock_iommu_ops,
};

static int mock_drv_probe(struct device *dev)
{
	return 0;
}

static struct mock_driver mock_kdma_driver = {
	.drv = {
		.name = "mock_kdma",
		.bus = &mock_bus,
		.probe = mock_drv_probe,
		.suppress_bind_attrs = true,
	},
};

static struct mock_driver mock_managed_driver = {
	.drv = {
		.name = "mock_managed",
		.bus = &mock_bus,
		.probe = mock_drv_probe,
		.suppress_bind_attrs = true,
	},
	.driver_managed_dma = true,
};

static struct device *mock_root;

/*
 * Per-test fixture: one group of MOCK_NR_DEVS devices, two domains, and
 * room for devices added by a test (to the group or to a second group).
 */

struct mock_ctx {
	struct iommu_group *group;
	struct mock_dev *mdev[MOCK_NR_DEVS];
	struct device *dev[MOCK_NR_DEVS];
	struct iommu_domain *dom[2];
	struct iommu_group *group2;
	struct mock_dev *extra[MOCK_NR_EXTRA];
};

/* Owner cookies */
static int owner_a, owner_b;

static void mock_dev_release(struct device *dev)
{
	kfree(to_mock_dev(dev));
}

/* Add a device of @group to the mock bus; the IOMMU core is not told yet */
static struct mock_dev *mock_dev_add(struct kunit *test,
				     struct iommu_group *group, int i)
{
	struct mock_dev *mdev = kzalloc(sizeof(*mdev), GFP_KERNEL);
	int ret;

	if (!mdev)
		return NULL;
	mdev->group = group;
	device_initialize(&mdev->dev);
	mdev->dev.bus = &mock_bus;
	mdev->dev.parent = mock_root;
	mdev->dev.release = mock_dev_release;
	ret = dev_set_name(&mdev->dev, "mock%d.%d", iommu_group_id(group), i);
	if (!ret)
		ret = device_add(&mdev->dev);
	if (ret) {
		put_device(&mdev->dev);
		return NULL;
	}
	return mdev;
}

/*
 * The mock bus is not one of the buses the IOMMU core has a notifier on:
 * do what iommu_bus_notifier() does on BUS_NOTIFY_UNBOUND_DRIVER.
 */
static void mock_release_driver(struct device *dev)
{
	bool bound = !!dev->driver;

	device_release_driver(dev);
	if (bound)
		iommu_device_unbound(dev);
}

static void mock_dev_del(struct mock_dev *mdev)
{
	mock_release_driver(&mdev->dev);
	iommu_release_device(&mdev->dev);
	device_unregister(&mdev->dev);
}

/* Add extra device @i of @group and probe it; returns the probe's result */
static int mock_extra_add(struct kunit *test, struct iommu_group *group,
			  int i, int idx)
{
	struct mock_ctx *ctx = test->priv;
	struct mock_dev *mdev = mock_dev_add(test, group, idx);

	KUNIT_ASSERT_NOT_NULL(test, mdev);
	ctx->extra[i] = mdev;
	return iommu_probe_device(&mdev->dev);
}

static int mock_test_init(struct kunit *test)
{
	struct mock_ctx *ctx;
	int i, ret;

	/* Before the first claim allocates the group's blocking domain */
	mock_blocked_type = test->param_value &&
			    *(const bool *)test->param_value;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx);
	test->priv = ctx;

	ctx->group = iommu_group_alloc();
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx->group);

	for (i = 0; i < MOCK_NR_DEVS; i++) {
		struct mock_dev *mdev = mock_dev_add(test, ctx->group, i);

		KUNIT_ASSERT_NOT_NULL(test, mdev);
		ctx->mdev[i] = mdev;
		ctx->dev[i] = &mdev->dev;

		ret = iommu_probe_device(&mdev->dev);
		KUNIT_ASSERT_EQ(test, ret, 0);
	}

	for (i = 0; i < ARRAY_SIZE(ctx->dom); i++) {
		ctx->dom[i] = iommu_domain_alloc(&mock_bus);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx->dom[i]);
	}
	return 0;
}

static void mock_test_exit(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	int i;

	mock_no_default_domain = false;
	mock_blocked_type = false;
	if (!ctx)
		return;

	for (i = MOCK_NR_EXTRA - 1; i >= 0; i--)
		if (ctx->extra[i])
			mock_dev_del(ctx->extra[i]);
	for (i = MOCK_NR_DEVS - 1; i >= 0; i--)
		if (ctx->mdev[i])
			mock_dev_del(ctx->mdev[i]);
	if (ctx->group2)
		iommu_group_put(ctx->group2);
	if (ctx->group)
		iommu_group_put(ctx->group);
	for (i = 0; i < ARRAY_SIZE(ctx->dom); i++)
		if (ctx->dom[i])
			iommu_domain_free(ctx->dom[i]);
}

/* Helpers */

static int mock_bind(struct mock_ctx *ctx, int i, struct mock_driver *mdrv)
{
	return device_driver_attach(&mdrv->drv, ctx->dev[i]);
}

static void mock_unbind(struct mock_ctx *ctx, int i)
{
	mock_release_driver(ctx->dev[i]);
}

/* Check the group's ownership state and that no count went below zero */
static void expect_owner(struct kunit *test, struct mock_ctx *ctx,
			 enum iommu_owner_kind kind, unsigned int cnt)
{
	struct iommu_group *group = ctx->group;

	mutex_lock(&group->mutex);
	KUNIT_EXPECT_EQ(test, group->owner_kind, kind);
	KUNIT_EXPECT_EQ(test, group->owner_cnt, cnt);
	if (kind == IOMMU_OWNER_NONE || kind == IOMMU_OWNER_KERNEL)
		KUNIT_EXPECT_NULL(test, group->owner);
	else
		KUNIT_EXPECT_NOT_NULL(test, group->owner);
	if (kind != IOMMU_OWNER_DEVICE)
		KUNIT_EXPECT_EQ(test, group->shared_cnt, 0U);
	mutex_unlock(&group->mutex);
}

static void expect_shared(struct kunit *test, struct mock_ctx *ctx,
			  unsigned int cnt)
{
	mutex_lock(&ctx->group->mutex);
	KUNIT_EXPECT_EQ(test, ctx->group->shared_cnt, cnt);
	mutex_unlock(&ctx->group->mutex);
}

/* Check that the group and, per the mock driver, every device use @domain */
static void expect_attached(struct kunit *test, struct mock_ctx *ctx,
			    struct iommu_domain *domain)
{
	int i;

	KUNIT_EXPECT_NOT_NULL(test, domain);
	mutex_lock(&ctx->group->mutex);
	KUNIT_EXPECT_PTR_EQ(test, ctx->group->domain, domain);
	mutex_unlock(&ctx->group->mutex);
	for (i = 0; i < MOCK_NR_DEVS; i++) {
		KUNIT_EXPECT_PTR_EQ(test, ctx->mdev[i]->attached, domain);
		KUNIT_EXPECT_EQ(test, ctx->mdev[i]->nr_bad_detach, 0U);
	}
}

static void expect_default(struct kunit *test, struct mock_ctx *ctx)
{
	expect_attached(test, ctx, ctx->group->default_domain);
}

static void expect_blocked(struct kunit *test, struct mock_ctx *ctx)
{
	expect_attached(test, ctx, ctx->group->blocking_domain);
}

/* Allocate the group's blocking domain, which the first claim does */
static struct iommu_domain *get_blocking(struct kunit *test,
					 struct mock_ctx *ctx)
{
	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	iommu_group_release_dma_owner(ctx->group);
	KUNIT_EXPECT_NOT_NULL(test, ctx->group->blocking_domain);
	return ctx->group->blocking_domain;
}

/* Expect the conflict report for a request of device @asker (-1: group) */
static __printf(7, 8) void expect_report(struct kunit *test, struct mock_ctx *ctx,
			  int asker, enum iommu_dma_request req,
			  struct device *refused, int err, const char *fmt, ...)
{
	char *buf = kunit_kzalloc(test, 256, GFP_KERNEL);
	char *want;
	va_list ap;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	va_start(ap, fmt);
	want = kvasprintf(GFP_KERNEL, fmt, ap);
	va_end(ap);
	KUNIT_ASSERT_NOT_NULL(test, want);

	mutex_lock(&ctx->group->mutex);
	__iommu_dma_conflict_str(ctx->group, asker < 0 ? NULL : ctx->dev[asker],
				 req, refused, err, buf, 256);
	mutex_unlock(&ctx->group->mutex);
	KUNIT_EXPECT_STREQ(test, buf, want);
	kfree(want);
}

static void expect_dma_owner(struct kunit *test, struct mock_ctx *ctx,
			     const char *str)
{
	char *buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_EXPECT_EQ(test, iommu_group_show_dma_owner(ctx->group, buf),
			(ssize_t)strlen(str));
	KUNIT_EXPECT_STREQ(test, buf, str);
}

/* Expect iommu_group_dma_conflict() to name device @i (-1: none) */
static void expect_conflict(struct kunit *test, struct mock_ctx *ctx,
			    int asker, void *owner, int i)
{
	struct device *conflict = iommu_group_dma_conflict(ctx->dev[asker],
							   owner);

	if (i < 0)
		KUNIT_EXPECT_NULL(test, conflict);
	else
		KUNIT_EXPECT_PTR_EQ(test, conflict, ctx->dev[i]);
	put_device(conflict);
}

/* Tests */

static void test_initial_state(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	KUNIT_EXPECT_EQ(test, ctx->group->default_domain->type,
			IOMMU_DOMAIN_IDENTITY);
	expect_default(test, ctx);
	expect_dma_owner(test, ctx, "none\n");
	KUNIT_EXPECT_FALSE(test, iommu_group_dma_owner_claimed(ctx->group));
	expect_conflict(test, ctx, 0, &owner_a, -1);
}

static void test_kernel_dma(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_kdma_driver), 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	expect_dma_owner(test, ctx, "kernel 1\n");
	/* The driver's name is kept for conflict reports */
	mutex_lock(&ctx->group->mutex);
	KUNIT_EXPECT_STREQ(test,
			   __iommu_group_find_device(ctx->group,
						     ctx->dev[0])->driver_name,
			   "mock_kdma");
	mutex_unlock(&ctx->group->mutex);
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 2, &mock_kdma_driver), 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 2);
	expect_dma_owner(test, ctx, "kernel 2\n");
	KUNIT_EXPECT_TRUE(test, iommu_group_dma_owner_claimed(ctx->group));
	expect_default(test, ctx);

	/* A driver managing DMA itself does not count */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 1, &mock_managed_driver), 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 2);

	/* Unbind in another order than bind */
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	/* ... and dropped when the device stops using kernel DMA */
	mutex_lock(&ctx->group->mutex);
	KUNIT_EXPECT_NULL(test,
			  __iommu_group_find_device(ctx->group,
						    ctx->dev[0])->driver_name);
	mutex_unlock(&ctx->group->mutex);
	mock_unbind(ctx, 1);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	mock_unbind(ctx, 2);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_dma_owner(test, ctx, "none\n");
	expect_default(test, ctx);
}

static void test_device_claim_same_owner(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	int i;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	KUNIT_EXPECT_PTR_EQ(test, ctx->group->owner, (void *)&owner_a);
	/* The whole group is blocked, not only the claimed device */
	expect_blocked(test, ctx);
	expect_dma_owner(test, ctx, "user 1\n");

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[2],
							   &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 3);
	expect_dma_owner(test, ctx, "user 3\n");
	/* Later claims do not attach the blocking domain again */
	for (i = 0; i < MOCK_NR_DEVS; i++)
		KUNIT_EXPECT_EQ(test, ctx->mdev[i]->nr_blocked, 1U);
	expect_conflict(test, ctx, 0, &owner_a, -1);

	/* Release in an order different from the claims */
	iommu_device_release_dma_owner(ctx->dev[1]);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);
	expect_blocked(test, ctx);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	expect_blocked(test, ctx);
	iommu_device_release_dma_owner(ctx->dev[2]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
	expect_dma_owner(test, ctx, "none\n");

	/* The group can be used by the kernel again */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_kdma_driver), 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
}

static void test_device_claim_errors(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	int i;

	/* -EINVAL: no owner cookie */
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0], NULL),
			-EINVAL);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);

	/* -EPERM: a different owner, for the same or another device */
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_b), -EPERM);
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_b), -EPERM);
	expect_conflict(test, ctx, 1, &owner_b, 0);
	expect_conflict(test, ctx, 1, NULL, 0);

	/* The same owner claiming the same device again is counted */
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);
	expect_dma_owner(test, ctx, "user 2\n");
	expect_blocked(test, ctx);
	for (i = 0; i < MOCK_NR_DEVS; i++)
		KUNIT_EXPECT_EQ(test, ctx->mdev[i]->nr_blocked, 1U);

	/* Each claim needs its own release */
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	expect_blocked(test, ctx);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

static void test_device_claim_vs_kernel(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	/* A kernel DMA API driver in the group: -EPERM, as upstream */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 1, &mock_kdma_driver), 0);
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), -EPERM);
	/* Also for the device that is bound itself */
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), -EPERM);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	expect_default(test, ctx);
	expect_conflict(test, ctx, 0, &owner_a, 1);
	mock_unbind(ctx, 1);
	expect_conflict(test, ctx, 0, &owner_a, -1);

	/* A claimed group refuses kernel DMA API drivers */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_EXPECT_EQ(test, mock_bind(ctx, 1, &mock_kdma_driver), -EBUSY);
	KUNIT_EXPECT_NULL(test, ctx->dev[1]->driver);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	expect_blocked(test, ctx);
	expect_conflict(test, ctx, 1, NULL, 0);

	/* ... but not drivers that manage DMA themselves (vfio-pci) */
	KUNIT_EXPECT_EQ(test, mock_bind(ctx, 1, &mock_managed_driver), 0);
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);
	iommu_device_release_dma_owner(ctx->dev[1]);
	mock_unbind(ctx, 1);

	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/*
 * The IOMMU driver refuses the blocking domain for device k of the group
 * (6.1 intel refuses RMRR-locked devices with -EPERM before it touches the
 * device; other refusals come after the device left its domain).  Taking
 * ownership must put the devices back on the default domain and leave the
 * group unowned.
 */
static void test_claim_unwind(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct iommu_domain *blocking = get_blocking(test, ctx);
	int k, early;

	for (early = 0; early <= 1; early++) {
		for (k = 0; k < MOCK_NR_DEVS; k++) {
			int err = early ? -EPERM : -ENOSPC;

			mock_refuse(ctx->mdev[k], err, early, blocking, NULL);
			KUNIT_EXPECT_EQ(test,
					iommu_device_claim_dma_owner(ctx->dev[0],
								     &owner_a),
					err);
			expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
			expect_default(test, ctx);
			KUNIT_EXPECT_EQ(test,
					iommu_group_claim_dma_owner(ctx->group,
								    &owner_a),
					err);
			expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
			expect_default(test, ctx);
			expect_dma_owner(test, ctx, "none\n");
			mock_accept(ctx->mdev[k]);
		}
	}

	/* Kernel DMA API drivers can use the group afterwards */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 2, &mock_kdma_driver), 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	mock_unbind(ctx, 2);

	/*
	 * Device 1 refuses the blocking domain, after it left the default
	 * domain (late) or before (early: it is still on it, and 6.1 intel
	 * re-attaches it anyway), and then refuses the default domain too:
	 * the group ends up on the blocking domain, unowned.
	 */
	for (early = 0; early <= 1; early++) {
		mock_refuse(ctx->mdev[1], -ENOMEM, early, blocking,
			    ctx->group->default_domain);
		ctx->mdev[1]->refuse_left = 2;
		KUNIT_EXPECT_EQ(test,
				iommu_device_claim_dma_owner(ctx->dev[2],
							     &owner_a),
				-ENOMEM);
		KUNIT_EXPECT_EQ(test, ctx->mdev[1]->refuse_left, 0);
		mock_accept(ctx->mdev[1]);
		expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
		expect_blocked(test, ctx);
		expect_dma_owner(test, ctx, "none\n");

		/*
		 * A kernel DMA API driver must not map into a default domain
		 * no device is on: the default domain is attached again
		 * first, and if the IOMMU driver refuses, so is the driver.
		 */
		mock_refuse(ctx->mdev[0], -ENOMEM, false,
			    ctx->group->default_domain, NULL);
		ctx->mdev[0]->refuse_left = 1;
		KUNIT_EXPECT_EQ(test, mock_bind(ctx, 2, &mock_kdma_driver),
				-EBUSY);
		mock_accept(ctx->mdev[0]);
		KUNIT_EXPECT_NULL(test, ctx->dev[2]->driver);
		expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
		expect_blocked(test, ctx);

		if (!early) {
			/* A claim works on the group as it is */
			KUNIT_ASSERT_EQ(test,
					iommu_device_claim_dma_owner(ctx->dev[2],
								     &owner_a),
					0);
			expect_blocked(test, ctx);
			iommu_device_release_dma_owner(ctx->dev[2]);
		} else {
			KUNIT_ASSERT_EQ(test,
					mock_bind(ctx, 2, &mock_kdma_driver),
					0);
			expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
			expect_default(test, ctx);
			mock_unbind(ctx, 2);
		}
		expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
		expect_default(test, ctx);
	}
}

/*
 * A legacy driver without default domains: the group is on no domain, and
 * the unwind must detach the devices that reached the blocking domain, and
 * only those.
 */
static void test_claim_unwind_no_domain(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct mock_dev *m0, *m1;
	struct iommu_group *group;

	group = iommu_group_alloc();
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	ctx->group2 = group;
	mock_no_default_domain = true;
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, group, 0, 0), 0);
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, group, 1, 1), 0);
	mock_no_default_domain = false;
	m0 = ctx->extra[0];
	m1 = ctx->extra[1];
	KUNIT_ASSERT_NULL(test, group->default_domain);
	KUNIT_ASSERT_NULL(test, group->domain);

	/* Claim once to allocate the blocking domain */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(&m0->dev, &owner_a),
			0);
	KUNIT_EXPECT_PTR_EQ(test, m0->attached, group->blocking_domain);
	KUNIT_EXPECT_PTR_EQ(test, m1->attached, group->blocking_domain);
	iommu_device_release_dma_owner(&m0->dev);
	KUNIT_EXPECT_NULL(test, group->domain);
	KUNIT_EXPECT_NULL(test, m0->attached);
	KUNIT_EXPECT_NULL(test, m1->attached);

	mock_refuse(m1, -ENOSPC, false, group->blocking_domain, NULL);
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(&m0->dev, &owner_a),
			-ENOSPC);
	mock_accept(m1);
	KUNIT_EXPECT_EQ(test, group->owner_kind, IOMMU_OWNER_NONE);
	KUNIT_EXPECT_NULL(test, group->domain);
	KUNIT_EXPECT_NULL(test, m0->attached);
	KUNIT_EXPECT_NULL(test, m1->attached);
	/* The refused device was never on the blocking domain */
	KUNIT_EXPECT_EQ(test, m0->nr_bad_detach, 0U);
	KUNIT_EXPECT_EQ(test, m1->nr_bad_detach, 0U);
}

static void test_claim_vs_kernel_domain(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	/* A kernel user attached a domain without owning the group: -EBUSY */
	KUNIT_ASSERT_EQ(test, iommu_attach_group(ctx->dom[0], ctx->group), 0);
	expect_attached(test, ctx, ctx->dom[0]);
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), -EBUSY);
	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), -EBUSY);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_attached(test, ctx, ctx->dom[0]);
	iommu_detach_group(ctx->dom[0], ctx->group);
	expect_default(test, ctx);
}

static void test_group_claim(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group, NULL),
			-EINVAL);
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_GROUP, 1);
	expect_blocked(test, ctx);
	expect_dma_owner(test, ctx, "user 1\n");
	KUNIT_EXPECT_TRUE(test, iommu_group_dma_owner_claimed(ctx->group));

	/* Exclusive: a second group claim */
	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), -EPERM);
	/* Device claims never mix with a group claim, whatever the owner */
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), -EPERM);
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_b), -EPERM);
	/* Kernel DMA API drivers are refused */
	KUNIT_EXPECT_EQ(test, mock_bind(ctx, 0, &mock_kdma_driver), -EBUSY);
	/* No device to name for a group claim */
	expect_conflict(test, ctx, 0, &owner_b, -1);
	expect_owner(test, ctx, IOMMU_OWNER_GROUP, 1);

	/* type1 style: attach and detach a domain while claimed */
	KUNIT_ASSERT_EQ(test, iommu_attach_group(ctx->dom[0], ctx->group), 0);
	expect_attached(test, ctx, ctx->dom[0]);
	iommu_detach_group(ctx->dom[0], ctx->group);
	expect_blocked(test, ctx);

	iommu_group_release_dma_owner(ctx->group);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
	expect_dma_owner(test, ctx, "none\n");
}

static void test_group_claim_vs_device_claim(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	/* The group claim cannot take over (and later zero) device claims */
	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), -EPERM);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);
	iommu_device_release_dma_owner(ctx->dev[0]);
	iommu_device_release_dma_owner(ctx->dev[1]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);

	/* Group claim, release, then device claims work again */
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_b), 0);
	iommu_group_release_dma_owner(ctx->group);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[2],
							   &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	iommu_device_release_dma_owner(ctx->dev[2]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

static void test_group_claim_vs_kernel(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 2, &mock_kdma_driver), 0);
	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), -EPERM);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	expect_default(test, ctx);
	mock_unbind(ctx, 2);

	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	iommu_group_release_dma_owner(ctx->group);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

static void test_shared_attach(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	KUNIT_EXPECT_NULL(test, iommu_device_shared_domain(ctx->dev[0],
							   &owner_a));
	KUNIT_EXPECT_PTR_EQ(test, iommu_device_shared_domain(ctx->dev[0],
							     &owner_b),
			    ERR_PTR(-EPERM));
	KUNIT_EXPECT_PTR_EQ(test, iommu_device_shared_domain(ctx->dev[2],
							     &owner_a),
			    ERR_PTR(-EPERM));

	/* The first attach moves the whole group, unclaimed device 2 too */
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_shared(test, ctx, 1);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);
	expect_dma_owner(test, ctx, "user 2\n");
	KUNIT_EXPECT_PTR_EQ(test, iommu_device_shared_domain(ctx->dev[1],
							     &owner_a),
			    ctx->dom[0]);

	/* The same domain joins */
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[1], &owner_a), 0);
	expect_shared(test, ctx, 2);

	/* The same device twice, or another domain: -EBUSY */
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[1], &owner_a), -EBUSY);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[2],
							   &owner_a), 0);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[1],
							 ctx->dev[2], &owner_a), -EBUSY);
	/* Group-wide changes cannot take the group away either */
	KUNIT_EXPECT_EQ(test, iommu_attach_group(ctx->dom[1], ctx->group),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_b),
			-EPERM);
	/* Nor other owners, group claims or kernel DMA API drivers */
	KUNIT_EXPECT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[2],
							   &owner_b), -EPERM);
	KUNIT_EXPECT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), -EPERM);
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 2, &mock_kdma_driver), -EBUSY);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_shared(test, ctx, 2);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 3);

	/* Detach in the order of attach; the last one blocks the group */
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	expect_shared(test, ctx, 1);
	expect_attached(test, ctx, ctx->dom[0]);
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[1], &owner_a);
	expect_shared(test, ctx, 0);
	expect_blocked(test, ctx);
	KUNIT_EXPECT_NULL(test, iommu_device_shared_domain(ctx->dev[1],
							   &owner_a));

	/* Another domain can be attached now */
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[1],
							 ctx->dev[2], &owner_a), 0);
	expect_attached(test, ctx, ctx->dom[1]);
	iommu_detach_device_shared(ctx->dom[1], ctx->dev[2], &owner_a);
	expect_blocked(test, ctx);

	iommu_device_release_dma_owner(ctx->dev[2]);
	iommu_device_release_dma_owner(ctx->dev[0]);
	iommu_device_release_dma_owner(ctx->dev[1]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

static void test_shared_attach_errors(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct iommu_domain *blocking = get_blocking(test, ctx);

	/* Like the IOMMU drivers, the blocking domain is unmanaged by default */
	KUNIT_EXPECT_EQ(test, blocking->type,
			mock_blocked_type ? IOMMU_DOMAIN_BLOCKED :
					    IOMMU_DOMAIN_UNMANAGED);

	/* -EINVAL: no domain, a non-unmanaged domain, the blocking domain */
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(NULL, ctx->dev[0], &owner_a),
			-EINVAL);
	KUNIT_EXPECT_EQ(test,
			iommu_attach_device_shared(ctx->group->default_domain,
						   ctx->dev[0], &owner_a), -EINVAL);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(blocking, ctx->dev[0], &owner_a),
			-EINVAL);

	/* -EPERM: the device is not claimed */
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), -EPERM);
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), -EPERM);
	iommu_group_release_dma_owner(ctx->group);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[1], &owner_a), -EPERM);
	/* -EPERM: claimed, but by another owner (or no owner given) */
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_b), -EPERM);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], NULL), -EPERM);
	expect_shared(test, ctx, 0);
	expect_blocked(test, ctx);

	/*
	 * A driver refusal leaves the group as it was, whether the driver
	 * refused before or after it took the device off its domain.
	 */
	mock_refuse(ctx->mdev[2], -EIO, false, ctx->dom[0], NULL);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), -EIO);
	expect_shared(test, ctx, 0);
	expect_blocked(test, ctx);
	mock_refuse(ctx->mdev[1], -ENXIO, true, ctx->dom[0], NULL);
	mock_accept(ctx->mdev[2]);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), -ENXIO);
	mock_accept(ctx->mdev[1]);
	expect_shared(test, ctx, 0);
	expect_blocked(test, ctx);

	/* And the group still works */
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	expect_attached(test, ctx, ctx->dom[0]);
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/*
 * A device added to a group that user space owns goes where the rest of
 * the group is: the blocking domain, or the domain the owner attached.
 */
static void test_hot_add(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct iommu_domain *blocking;

	/* Unowned: the default domain */
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, 0, 3), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached,
			    ctx->group->default_domain);

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	blocking = ctx->group->blocking_domain;
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, 1, 4), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[1]->attached, blocking);
	KUNIT_EXPECT_PTR_EQ(test, ctx->group->domain, blocking);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);

	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached, ctx->dom[0]);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[1]->attached, ctx->dom[0]);
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, 2, 5), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[2]->attached, ctx->dom[0]);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_shared(test, ctx, 1);

	/* The last detach and release take the new devices along */
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[2]->attached, blocking);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_default(test, ctx);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached,
			    ctx->group->default_domain);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[1]->attached,
			    ctx->group->default_domain);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[2]->attached,
			    ctx->group->default_domain);
}

/* A device the IOMMU driver refuses cannot join a claimed group */
static void test_hot_add_refused(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct mock_dev *mdev;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);

	mdev = mock_dev_add(test, ctx->group, 3);
	KUNIT_ASSERT_NOT_NULL(test, mdev);
	ctx->extra[0] = mdev;
	mock_refuse(mdev, -EIO, false, ctx->dom[0], NULL);
	KUNIT_EXPECT_EQ(test, iommu_probe_device(&mdev->dev), -EIO);
	KUNIT_EXPECT_NULL(test, mdev->dev.iommu_group);
	KUNIT_EXPECT_NULL(test, mdev->attached);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_shared(test, ctx, 1);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);

	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_default(test, ctx);
}

/*
 * A device added to a group that nobody owns, or that kernel DMA API
 * drivers use, joins the domain the group is on: a kernel user's own
 * domain (iommu_attach_group()) included, not the default domain.
 */
static void test_hot_add_kernel_domain(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, iommu_attach_group(ctx->dom[0], ctx->group), 0);
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, 0, 3), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached, ctx->dom[0]);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	iommu_detach_group(ctx->dom[0], ctx->group);
	expect_default(test, ctx);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached,
			    ctx->group->default_domain);

	/* The same with a kernel DMA API driver bound in the group */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_kdma_driver), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_group(ctx->dom[1], ctx->group), 0);
	KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, 1, 4), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[1]->attached, ctx->dom[1]);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	iommu_detach_group(ctx->dom[1], ctx->group);
	expect_default(test, ctx);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[1]->attached,
			    ctx->group->default_domain);
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
}

/*
 * VFIO type1's iommu_attach_group() on a claimed group: device 2 refuses
 * the new domain after it left the blocking domain, and device 1 then
 * refuses to go back to the blocking domain.  The group must end on the
 * blocking domain, never on a NULL domain, and a device added later must
 * be put there too.
 */
static void test_attach_group_unwind(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct iommu_domain *blocking;

	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	blocking = ctx->group->blocking_domain;
	mock_refuse(ctx->mdev[2], -EIO, false, ctx->dom[0], NULL);
	mock_refuse(ctx->mdev[1], -ENOMEM, false, blocking, NULL);
	ctx->mdev[1]->refuse_left = 1;
	KUNIT_EXPECT_EQ(test, iommu_attach_group(ctx->dom[0], ctx->group),
			-EIO);
	KUNIT_EXPECT_EQ(test, ctx->mdev[1]->refuse_left, 0);
	mock_accept(ctx->mdev[1]);
	mock_accept(ctx->mdev[2]);
	KUNIT_EXPECT_NOT_NULL(test, ctx->group->domain);
	expect_blocked(test, ctx);
	expect_owner(test, ctx, IOMMU_OWNER_GROUP, 1);

	KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, 0, 3), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached, blocking);

	/* The owner can attach again */
	KUNIT_ASSERT_EQ(test, iommu_attach_group(ctx->dom[0], ctx->group), 0);
	expect_attached(test, ctx, ctx->dom[0]);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[0]->attached, ctx->dom[0]);
	iommu_detach_group(ctx->dom[0], ctx->group);
	expect_blocked(test, ctx);
	iommu_group_release_dma_owner(ctx->group);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/* The iommufd flow: replace the domain of shared attachments */
static void test_replace_shared(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	int i;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[1], &owner_a), 0);
	expect_attached(test, ctx, ctx->dom[0]);

	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_a),
			0);
	expect_attached(test, ctx, ctx->dom[1]);
	expect_shared(test, ctx, 2);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);
	KUNIT_EXPECT_PTR_EQ(test, iommu_device_shared_domain(ctx->dev[0],
							     &owner_a),
			    ctx->dom[1]);
	/* Not through the blocking domain */
	for (i = 0; i < MOCK_NR_DEVS; i++)
		KUNIT_EXPECT_EQ(test, ctx->mdev[i]->nr_blocked, 1U);
	/* Replacing with the current domain is a no-op */
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_a),
			0);
	expect_attached(test, ctx, ctx->dom[1]);

	/* Another claimed device joins with the new domain, not the old one */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[2],
							   &owner_a), 0);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[2], &owner_a),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[1],
							 ctx->dev[2], &owner_a),
			0);
	expect_shared(test, ctx, 3);
	iommu_detach_device_shared(ctx->dom[1], ctx->dev[2], &owner_a);
	iommu_device_release_dma_owner(ctx->dev[2]);

	/* The attachments are detached from the new domain */
	iommu_detach_device_shared(ctx->dom[1], ctx->dev[0], &owner_a);
	expect_attached(test, ctx, ctx->dom[1]);
	expect_shared(test, ctx, 1);
	iommu_detach_device_shared(ctx->dom[1], ctx->dev[1], &owner_a);
	expect_shared(test, ctx, 0);
	expect_blocked(test, ctx);
	for (i = 0; i < MOCK_NR_DEVS; i++)
		KUNIT_EXPECT_EQ(test, ctx->mdev[i]->nr_blocked, 2U);

	iommu_device_release_dma_owner(ctx->dev[0]);
	iommu_device_release_dma_owner(ctx->dev[1]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/* A group claimed as a whole: any unmanaged domain or the blocking one */
static void test_replace_group_claim(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct iommu_domain *blocking;
	int i;

	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_b), 0);
	blocking = ctx->group->blocking_domain;
	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_b),
			0);
	expect_attached(test, ctx, ctx->dom[0]);
	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_b),
			0);
	expect_attached(test, ctx, ctx->dom[1]);
	for (i = 0; i < MOCK_NR_DEVS; i++)
		KUNIT_EXPECT_EQ(test, ctx->mdev[i]->nr_blocked, 1U);
	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group, blocking,
							 &owner_b), 0);
	expect_blocked(test, ctx);

	/* Releasing from an unmanaged domain restores the default domain */
	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_b),
			0);
	iommu_group_release_dma_owner(ctx->group);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

static void test_replace_errors(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct iommu_domain *blocking;

	/* -EPERM: not owned, or owned by the kernel */
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_a),
			-EPERM);
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_kdma_driver), 0);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_a),
			-EPERM);
	mock_unbind(ctx, 0);
	expect_default(test, ctx);

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	blocking = ctx->group->blocking_domain;
	/* -EINVAL: no domain, no owner, the (identity) default domain */
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group, NULL,
							 &owner_a), -EINVAL);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], NULL),
			-EINVAL);
	KUNIT_EXPECT_EQ(test,
			iommu_group_replace_domain(ctx->group,
						   ctx->group->default_domain,
						   &owner_a), -EINVAL);
	/* -EINVAL: device claims with no shared attachment to replace */
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_a),
			-EINVAL);
	expect_blocked(test, ctx);

	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	/* -EPERM: another owner */
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_b),
			-EPERM);
	/* -EINVAL: the blocking domain, for shared attachments */
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group, blocking,
							 &owner_a), -EINVAL);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_shared(test, ctx, 1);
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	expect_blocked(test, ctx);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);

	/* -EPERM: a group claim by another owner */
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_b), 0);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_a),
			-EPERM);
	expect_blocked(test, ctx);
	iommu_group_release_dma_owner(ctx->group);
	expect_default(test, ctx);
}

static void test_replace_failure(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	int i, early;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);

	/*
	 * Each device in turn refuses the new domain, before or after it
	 * left the old one: the old domain is attached to every device again.
	 */
	for (early = 0; early <= 1; early++) {
		for (i = 0; i < MOCK_NR_DEVS; i++) {
			mock_refuse(ctx->mdev[i], -EIO, early, ctx->dom[1],
				    NULL);
			KUNIT_EXPECT_EQ(test,
					iommu_group_replace_domain(ctx->group,
								   ctx->dom[1],
								   &owner_a),
					-EIO);
			mock_accept(ctx->mdev[i]);
			expect_attached(test, ctx, ctx->dom[0]);
			expect_shared(test, ctx, 1);
			expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
		}
	}
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_default(test, ctx);

	/* A group claim switching away from the blocking domain */
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	mock_refuse(ctx->mdev[1], -ENOSPC, false, ctx->dom[1], NULL);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_a),
			-ENOSPC);
	mock_accept(ctx->mdev[1]);
	expect_blocked(test, ctx);

	/* The group still works */
	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_a),
			0);
	expect_attached(test, ctx, ctx->dom[1]);
	iommu_group_release_dma_owner(ctx->group);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/*
 * A re-attach of the old domain can allocate in a 6.1 driver and fail:
 * the group must end up on the blocking domain, not half switched, and the
 * owner's shared attachments must stay usable.
 */
static void test_replace_reattach_failure(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[1], &owner_a), 0);

	/* Device 2 refuses the new domain and then its old one */
	mock_refuse(ctx->mdev[2], -EIO, false, ctx->dom[1], ctx->dom[0]);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_a),
			-EIO);
	mock_accept(ctx->mdev[2]);
	expect_blocked(test, ctx);
	/* The attachments stay counted */
	expect_shared(test, ctx, 2);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 2);

	/* No device can join the lost domain; the owner replaces again */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[2],
							   &owner_a), 0);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[2], &owner_a),
			-EBUSY);
	KUNIT_ASSERT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_a),
			0);
	expect_attached(test, ctx, ctx->dom[0]);

	/* Device 2 refuses the new domain early, device 0 the old one */
	mock_refuse(ctx->mdev[2], -EIO, true, ctx->dom[1], NULL);
	mock_refuse(ctx->mdev[0], -ENOMEM, false, ctx->dom[0], NULL);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[1], &owner_a),
			-EIO);
	mock_accept(ctx->mdev[2]);
	mock_accept(ctx->mdev[0]);
	expect_blocked(test, ctx);

	/* The owner detaches with the domain it had attached */
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	expect_shared(test, ctx, 1);
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[1], &owner_a);
	expect_shared(test, ctx, 0);
	expect_blocked(test, ctx);

	iommu_device_release_dma_owner(ctx->dev[2]);
	iommu_device_release_dma_owner(ctx->dev[1]);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/*
 * Attach and detach check the owner: a claim the core dropped when the
 * driver unbound must not let its former owner move the group of the
 * device's next owner.
 */
static void test_shared_attach_stale_owner(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	/* owner_a claims dev 0 through its bound driver, then it unbinds */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_managed_driver), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);

	/* owner_b claims it; owner_a's stale attach and detach are refused */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_b), 0);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a),
			-EPERM);
	expect_blocked(test, ctx);
	expect_shared(test, ctx, 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[1],
							 ctx->dev[0], &owner_b), 0);
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	iommu_detach_device_shared(ctx->dom[1], ctx->dev[0], &owner_a);
	expect_attached(test, ctx, ctx->dom[1]);
	expect_shared(test, ctx, 1);
	KUNIT_EXPECT_EQ(test, iommu_group_replace_domain(ctx->group,
							 ctx->dom[0], &owner_a),
			-EPERM);
	iommu_detach_device_shared(ctx->dom[1], ctx->dev[0], &owner_b);
	expect_blocked(test, ctx);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/*
 * The driver of a claimed, shared-attached device unbinds without letting
 * go (the mock bus calls iommu_device_unbound() as the bus notifier does).
 * Only claims taken while the driver was bound are dropped.
 */
static void test_unbound_drops_claims(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;

	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_managed_driver), 0);
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 1, &mock_managed_driver), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[1],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[1], &owner_a), 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 3);

	/* Both claims of dev 0 and its attachment go; dev 1 keeps the group */
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	expect_shared(test, ctx, 1);
	expect_attached(test, ctx, ctx->dom[0]);
	expect_dma_owner(test, ctx, "user 1\n");

	/* The last one gives the group back to the kernel */
	mock_unbind(ctx, 1);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_shared(test, ctx, 0);
	expect_default(test, ctx);
	expect_dma_owner(test, ctx, "none\n");

	/* A claim taken while no driver was bound is not tied to one */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_managed_driver), 0);
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	expect_blocked(test, ctx);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/*
 * Removing a device takes what it contributed off the group's counts.  The
 * driver core unbinds first, so a kernel DMA API driver and a claim taken
 * by the bound driver are gone before the IOMMU core sees the removal.
 * (Removing a device that is still claimed otherwise warns, as upstream
 * does; a test cannot provoke a WARN.)
 */
static void test_remove_device(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	struct mock_dev *mdev;
	int i;

	for (i = 0; i < MOCK_NR_EXTRA; i++)
		KUNIT_ASSERT_EQ(test, mock_extra_add(test, ctx->group, i, 3 + i),
				0);

	/* A kernel DMA API driver */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 0, &mock_kdma_driver), 0);
	KUNIT_ASSERT_EQ(test, device_driver_attach(&mock_kdma_driver.drv,
						   &ctx->extra[0]->dev), 0);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 2);
	mdev = ctx->extra[0];
	ctx->extra[0] = NULL;
	mock_dev_del(mdev);
	expect_owner(test, ctx, IOMMU_OWNER_KERNEL, 1);
	expect_dma_owner(test, ctx, "kernel 1\n");
	mock_unbind(ctx, 0);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);

	/* A device claimed through its driver and attached */
	KUNIT_ASSERT_EQ(test, device_driver_attach(&mock_managed_driver.drv,
						   &ctx->extra[1]->dev), 0);
	KUNIT_ASSERT_EQ(test,
			iommu_device_claim_dma_owner(&ctx->extra[1]->dev,
						     &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 &ctx->extra[1]->dev,
							 &owner_a), 0);
	KUNIT_ASSERT_EQ(test, iommu_attach_device_shared(ctx->dom[0],
							 ctx->dev[0], &owner_a), 0);
	expect_shared(test, ctx, 2);
	mdev = ctx->extra[1];
	ctx->extra[1] = NULL;
	mock_dev_del(mdev);
	expect_owner(test, ctx, IOMMU_OWNER_DEVICE, 1);
	expect_shared(test, ctx, 1);
	expect_attached(test, ctx, ctx->dom[0]);
	iommu_detach_device_shared(ctx->dom[0], ctx->dev[0], &owner_a);
	iommu_device_release_dma_owner(ctx->dev[0]);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);

	/* A device of a group claimed as a whole */
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	KUNIT_EXPECT_PTR_EQ(test, ctx->extra[2]->attached,
			    ctx->group->blocking_domain);
	mdev = ctx->extra[2];
	ctx->extra[2] = NULL;
	mock_dev_del(mdev);
	expect_owner(test, ctx, IOMMU_OWNER_GROUP, 1);
	expect_blocked(test, ctx);
	iommu_group_release_dma_owner(ctx->group);
	expect_owner(test, ctx, IOMMU_OWNER_NONE, 0);
	expect_default(test, ctx);
}

/* The report names the real cause of a refused DMA ownership request */
static void test_conflict_report(struct kunit *test)
{
	struct mock_ctx *ctx = test->priv;
	int id = iommu_group_id(ctx->group);

	/* A kernel DMA API driver holds the group */
	KUNIT_ASSERT_EQ(test, mock_bind(ctx, 1, &mock_kdma_driver), 0);
	expect_report(test, ctx, 0, IOMMU_DMA_REQ_USER, NULL, -EPERM,
		      "iommu group %d: cannot claim mock%d.0 for user DMA: mock%d.1 is bound to mock_kdma (kernel DMA)",
		      id, id, id);
	/* The IOMMU driver refused a device: that is the cause given */
	expect_report(test, ctx, 0, IOMMU_DMA_REQ_USER, ctx->dev[2], -EPERM,
		      "iommu group %d: cannot claim mock%d.0 for user DMA: the IOMMU driver refused to block DMA of mock%d.2 (error -1)",
		      id, id, id);
	mock_unbind(ctx, 1);

	/* User space holds the group */
	KUNIT_ASSERT_EQ(test, iommu_device_claim_dma_owner(ctx->dev[0],
							   &owner_a), 0);
	expect_report(test, ctx, 1, IOMMU_DMA_REQ_KERNEL, NULL, -EBUSY,
		      "iommu group %d: cannot use kernel DMA for mock%d.1: group is owned by user space (mock%d.0 claimed)",
		      id, id, id);
	iommu_device_release_dma_owner(ctx->dev[0]);
	KUNIT_ASSERT_EQ(test, iommu_group_claim_dma_owner(ctx->group,
							  &owner_a), 0);
	expect_report(test, ctx, -1, IOMMU_DMA_REQ_USER, NULL, -EPERM,
		      "iommu group %d: cannot claim the group for user DMA: group is owned by user space (whole group claimed)",
		      id);
	iommu_group_release_dma_owner(ctx->group);

	/* A kernel driver attached a domain of its own */
	KUNIT_ASSERT_EQ(test, iommu_attach_group(ctx->dom[0], ctx->group), 0);
	expect_report(test, ctx, 2, IOMMU_DMA_REQ_USER, NULL, -EBUSY,
		      "iommu group %d: cannot claim mock%d.2 for user DMA: a kernel driver attached a domain of its own to the group",
		      id, id);
	iommu_detach_group(ctx->dom[0], ctx->group);
	expect_default(test, ctx);
}

/*
 * Every case runs twice: with an unmanaged blocking domain, as on 6.1's
 * intel, arm-smmu-v3 and amd drivers, and with an IOMMU_DOMAIN_BLOCKED one.
 */
static const bool mock_modes[] = { false, true };

static void mock_mode_desc(const bool *blocked_type, char *desc)
{
	strscpy(desc, *blocked_type ? "blocked-type" : "unmanaged-blocking",
		KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(mock_mode, mock_modes, mock_mode_desc);

static struct kunit_case iommu_ownership_test_cases[] = {
	KUNIT_CASE_PARAM(test_initial_state, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_kernel_dma, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_device_claim_same_owner, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_device_claim_errors, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_device_claim_vs_kernel, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_claim_vs_kernel_domain, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_group_claim, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_group_claim_vs_device_claim, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_group_claim_vs_kernel, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_claim_unwind, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_claim_unwind_no_domain, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_shared_attach, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_shared_attach_errors, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_shared_attach_stale_owner, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_hot_add, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_hot_add_refused, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_hot_add_kernel_domain, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_attach_group_unwind, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_replace_shared, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_replace_group_claim, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_replace_failure, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_replace_reattach_failure, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_replace_errors, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_unbound_drops_claims, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_remove_device, mock_mode_gen_params),
	KUNIT_CASE_PARAM(test_conflict_report, mock_mode_gen_params),
	{}
};

static int iommu_ownership_suite_init(struct kunit_suite *suite)
{
	int ret;

	mock_root = root_device_register("iommu_ownership_kunit");
	if (IS_ERR(mock_root))
		return PTR_ERR(mock_root);

	ret = bus_register(&mock_bus);
	if (ret)
		goto err_root;

	ret = driver_register(&mock_kdma_driver.drv);
	if (ret)
		goto err_bus;

	ret = driver_register(&mock_managed_driver.drv);
	if (ret)
		goto err_kdma;

	/* Gives the mock IOMMU the sysfs device that iommu_device_link() uses */
	ret = iommu_device_sysfs_add(&mock_iommu, mock_root, NULL,
				     "iommu-ownership-mock");
	if (ret)
		goto err_managed;
	mock_iommu.ops = &mock_iommu_ops;
	return 0;

err_managed:
	driver_unregister(&mock_managed_driver.drv);
err_kdma:
	driver_unregister(&mock_kdma_driver.drv);
err_bus:
	bus_unregister(&mock_bus);
err_root:
	root_device_unregister(mock_root);
	return ret;
}

static void iommu_ownership_suite_exit(struct kunit_suite *suite)
{
	iommu_device_sysfs_remove(&mock_iommu);
	driver_unregister(&mock_managed_driver.drv);
	driver_unregister(&mock_kdma_driver.drv);
	bus_unregister(&mock_bus);
	root_device_unregister(mock_root);
}

static struct kunit_suite iommu_ownership_test_suite = {
	.name = "iommu-dma-ownership",
	.suite_init = iommu_ownership_suite_init,
	.suite_exit = iommu_ownership_suite_exit,
	.init = mock_test_init,
	.exit = mock_test_exit,
	.test_cases = iommu_ownership_test_cases,
};

kunit_test_suite(iommu_ownership_test_suite);
