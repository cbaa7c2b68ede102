// SPDX-License-Identifier: GPL-2.0-only
/*
 * In-kernel accesses: the ACCESS object and the kernel API of drivers that
 * do the DMA of an emulated device themselves (VFIO's mdev drivers), on
 * the memory user space mapped in an IOAS.
 *
 * A driver creates an access in a context, attaches it to an IOAS, and
 * then either copies to and from IOVA (iommufd_access_rw()) or pins the
 * pages behind a range of IOVA (iommufd_access_pin_pages()) to use them
 * later.  The memory of an IOAS is pinned when it is mapped (pages.c), so
 * neither copies nor pins pin or charge anything again: a pin takes a
 * reference on the pinned memory of the areas it covers, which keeps that
 * memory pinned until the driver unpins, whatever user space unmaps
 * meanwhile.
 *
 * User space still owns the IOVA: an unmap of a range that a driver has
 * pinned first asks the driver to unpin.  iommufd_access_notify_unmap()
 * calls the driver's unmap op for each pinned range, clipped to the
 * unmapped range, without any iommufd lock held, and the unmap retries once
 * the driver returned.  A driver that does not unpin makes the unmap fail
 * with EDEADLOCK after a few rounds (io_pagetable.c), a replace fails with
 * EBUSY and a detach orphans its pins; the kernel is safe in each case,
 * since the pin holds its own reference on the memory, but that is a
 * driver bug and WARNs once (iommufd_access_warn_kept_pins(), which spares
 * only the selftest's mock driver that plays it on purpose).
 *
 * Lifetime: the driver holds a reference on the ACCESS object from
 * iommufd_access_create() to iommufd_access_destroy(), so user space can
 * not destroy it; an attached access holds a reference on its IOAS, which
 * user space can then not destroy either (EBUSY), as for a HW_PAGETABLE.
 * Destroy marks the access dying, so that no notification calls the driver
 * any more, and waits for the calls in progress to return.
 *
 * Locking, outermost first: access->ioas_lock -> iopt->domains_rwsem ->
 * iopt->iova_rwsem -> access->pin_lock.  The driver's ops->unmap is never
 * called with any of them held, so its unpin (which takes pin_lock only)
 * and even a pin or rw from inside the callback are fine.
 */
#include <linux/err.h>
#include <linux/file.h>
#include <linux/interval_tree.h>
#include <linux/iommufd.h>
#include <linux/lockdep.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "iommufd_private.h"
#include "io_pagetable.h"

static struct iommufd_access_pin *to_access_pin(struct interval_tree_node *node)
{
	return container_of(node, struct iommufd_access_pin, node);
}

/**
 * __iommufd_access_create() - Create an access, optionally pinning the context
 * @ictx: iommufd context
 * @ops: the driver's operations, which must outlive the access
 * @data: the driver's cookie for @ops
 * @id: returns the ID of the new ACCESS object
 * @hold_ctx: take a reference on @ictx->file until the access is destroyed
 *
 * See iommufd_access_create().  Without @hold_ctx the caller guarantees
 * that the access is destroyed before @ictx is released: the selftest
 * creates its accesses this way, from objects of the same context that the
 * release of the file destroys.
 *
 * Return: the access, or an ERR_PTR (see iommufd_access_create()).
 */
struct iommufd_access *__iommufd_access_create(struct iommufd_ctx *ictx,
					       const struct iommufd_access_ops *ops,
					       void *data, u32 *id,
					       bool hold_ctx)
{
	struct iommufd_access *access;

	if (!ops || !ops->unmap)
		return ERR_PTR(-EINVAL);
	if (iommufd_should_fail())
		return ERR_PTR(-ENOMEM);

	access = iommufd_object_alloc(ictx, access, IOMMUFD_OBJ_ACCESS);
	if (IS_ERR(access))
		return access;
	access->ictx = ictx;
	access->ops = ops;
	access->data = data;
	mutex_init(&access->ioas_lock);
	mutex_init(&access->pin_lock);
	access->pins = RB_ROOT_CACHED;
	init_waitqueue_head(&access->destroy_wait);
	access->holds_ctx = hold_ctx;
	if (hold_ctx)
		get_file(ictx->file);

	/* The driver's reference: user space can never destroy the access */
	iommufd_ref_object(&access->obj);
	*id = access->obj.id;
	iommufd_object_finalize(ictx, &access->obj);
	return access;
}

/**
 * iommufd_access_create() - Create an in-kernel access
 * @ictx: iommufd context
 * @ops: the driver's operations, which must outlive the access; @ops->unmap
 *       is required
 * @data: the driver's cookie for @ops
 * @id: returns the ID of the new ACCESS object
 *
 * The access holds a reference on the context until
 * iommufd_access_destroy().  It can do nothing until it is attached to an
 * IOAS with iommufd_access_attach().  User space cannot destroy the
 * ACCESS object (IOMMU_DESTROY gives EBUSY).
 *
 * Return: the access, or an ERR_PTR: -EINVAL (no @ops->unmap), -ENOMEM,
 * -EBUSY (no free object ID).
 */
struct iommufd_access *
iommufd_access_create(struct iommufd_ctx *ictx,
		      const struct iommufd_access_ops *ops, void *data, u32 *id)
{
	return __iommufd_access_create(ictx, ops, data, id, true);
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_create, IOMMUFD);

/*
 * Drop every pin of @access, for a driver that did not unpin before the
 * access went away.  Never fails, never allocates.
 */
static void iommufd_access_drop_pins(struct iommufd_access *access)
{
	struct interval_tree_node *node;
	struct iommufd_access_pin *pin;
	unsigned int i;

	mutex_lock(&access->pin_lock);
	while ((node = interval_tree_iter_first(&access->pins, 0, ULONG_MAX))) {
		pin = to_access_pin(node);
		interval_tree_remove(node, &access->pins);
		mutex_unlock(&access->pin_lock);
		for (i = 0; i != pin->npages_objs; i++)
			iopt_put_pages(pin->pages[i]);
		kvfree(pin);
		mutex_lock(&access->pin_lock);
	}
	mutex_unlock(&access->pin_lock);
}

/**
 * iommufd_access_destroy_object() - Destroy op of IOMMUFD_OBJ_ACCESS
 * @obj: the object, already removed from the table
 *
 * The access is detached already (iommufd_access_destroy(); the release
 * of the context cannot reach an access the driver still holds).  Pins the
 * driver did not undo are dropped.  Never fails.
 */
void iommufd_access_destroy_object(struct iommufd_object *obj)
{
	struct iommufd_access *access =
		container_of(obj, struct iommufd_access, obj);

	WARN_ON(access->ioas);
	iommufd_access_drop_pins(access);
	mutex_destroy(&access->pin_lock);
	mutex_destroy(&access->ioas_lock);
}

/**
 * iommufd_access_destroy() - Undo iommufd_access_create()
 * @access: the access
 *
 * Detaches the access if it is attached (see iommufd_access_detach()),
 * stops the unmap notifications from calling the driver's unmap op and
 * waits, without a timeout, until the calls already running on other CPUs
 * have returned, destroys the ACCESS object and drops the reference on the
 * context.  Pins the driver did not undo are dropped.  Once it returns the
 * driver's unmap op is never called again for @access, and @access must
 * not be used.  Never fails and never allocates; may sleep.
 */
void iommufd_access_destroy(struct iommufd_access *access)
{
	struct iommufd_ctx *ictx = access->ictx;
	bool holds_ctx = access->holds_ctx;

	iommufd_access_detach(access);

	mutex_lock(&access->pin_lock);
	access->dying = true;
	mutex_unlock(&access->pin_lock);
	/* The notifications wake us when their last call returns */
	wait_event(access->destroy_wait, !READ_ONCE(access->ncallbacks));

	/*
	 * Consumes the driver's reference.  Notifications in flight still
	 * hold theirs, but call the driver no more.
	 */
	iommufd_object_destroy_user(ictx, &access->obj);
	/* Last: this may free @ictx */
	if (holds_ctx)
		fput(ictx->file);
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_destroy, IOMMUFD);

/*
 * The first pin of @access, in (start, gen) order, made in @iopt, that
 * intersects [@start, @last], comes after the cursor (@cur_start,
 * @cur_gen) and existed when the notification began (gen <= @gen_max).
 * The interval tree walks its nodes by start, and those with the same
 * start in the order they were inserted, which is the order of their
 * generations.  Nodes that begin before @cur_start are visited only when
 * they overlap it.
 */
static struct iommufd_access_pin *
iommufd_access_next_pin(struct iommufd_access *access,
			struct io_pagetable *iopt, unsigned long start,
			unsigned long last, unsigned long cur_start,
			u64 cur_gen, u64 gen_max)
{
	unsigned long from = max(start, cur_start);
	struct interval_tree_node *node;

	lockdep_assert_held(&access->pin_lock);

	for (node = interval_tree_iter_first(&access->pins, from, last); node;
	     node = interval_tree_iter_next(node, from, last)) {
		struct iommufd_access_pin *pin = to_access_pin(node);

		if (node->start < cur_start ||
		    (node->start == cur_start && pin->gen <= cur_gen))
			continue;
		if (pin->gen <= gen_max && pin->iopt == iopt)
			return pin;
	}
	return NULL;
}

/*
 * One round of notification of @access: call ops->unmap once for each pin
 * made in @iopt that intersects [@start, @last], clipped to it, with no
 * lock held.  Only the pins that exist on entry are reported, each at most
 * once: the walk goes forward from a local cursor, so neither a driver
 * that keeps its pins nor one that pins again (nor another notification)
 * can make it loop; it makes at most one call per pin it found on entry.
 * Nothing is called once the access is dying; the calls are counted in
 * @access->ncallbacks for iommufd_access_destroy() to wait for.
 */
static void iommufd_access_notify_pins(struct iommufd_access *access,
				       struct io_pagetable *iopt,
				       unsigned long start, unsigned long last)
{
	struct iommufd_access_pin *pin;
	unsigned long cur_start = 0;
	unsigned long ustart, ulast;
	u64 cur_gen = 0, gen_max;

	/* The driver's unpin, pin or rw from the callback take it */
	lockdep_assert_not_held(&access->ioas_lock);

	mutex_lock(&access->pin_lock);
	/* Generations start at 1: the cursor (0, 0) is before every pin */
	gen_max = access->pin_gen;
	while (!access->dying &&
	       (pin = iommufd_access_next_pin(access, iopt, start, last,
					      cur_start, cur_gen, gen_max))) {
		cur_start = pin->node.start;
		cur_gen = pin->gen;
		/* Never the union of the pins: clip each pin on its own */
		ustart = max(start, pin->node.start);
		ulast = min(last, pin->node.last);
		WRITE_ONCE(access->ncallbacks, access->ncallbacks + 1);
		mutex_unlock(&access->pin_lock);

		access->ops->unmap(access->data, ustart, ulast - ustart + 1);
		cond_resched();

		mutex_lock(&access->pin_lock);
		WRITE_ONCE(access->ncallbacks, access->ncallbacks - 1);
		if (access->dying && !access->ncallbacks)
			wake_up(&access->destroy_wait);
	}
	mutex_unlock(&access->pin_lock);
}

/**
 * iommufd_access_notify_unmap() - Ask accesses to unpin a range
 * @iopt: the io_pagetable being unmapped
 * @start: first IOVA being unmapped
 * @last: last IOVA being unmapped (inclusive)
 *
 * Calls the unmap op of every access attached to @iopt once for each of
 * its pins in @iopt that intersects [@start, @last], clipped to it.  The
 * caller holds no lock of @iopt.  Each access is held by a reference
 * while it is notified, which keeps its memory; iommufd_access_destroy()
 * waits for the calls of its driver.  The access list is walked by index,
 * which stays valid across the unlocked calls even if accesses come and
 * go.
 */
void iommufd_access_notify_unmap(struct io_pagetable *iopt,
				 unsigned long start, unsigned long last)
{
	struct iommufd_access *access;
	unsigned long index = 0;

	/* No callback runs with an iommufd lock the driver may need */
	lockdep_assert_not_held(&iopt->domains_rwsem);
	lockdep_assert_not_held(&iopt->iova_rwsem);

	xa_lock(&iopt->access_list);
	xa_for_each(&iopt->access_list, index, access) {
		if (!refcount_inc_not_zero(&access->obj.users))
			continue;
		xa_unlock(&iopt->access_list);

		iommufd_access_notify_pins(access, iopt, start, last);
		iommufd_put_object(access->ictx, &access->obj);

		xa_lock(&iopt->access_list);
	}
	xa_unlock(&iopt->access_list);
}

/* Does @access hold a pin made in @iopt?  Under pin_lock. */
static bool iommufd_access_has_pins(struct iommufd_access *access,
				    struct io_pagetable *iopt)
{
	struct interval_tree_node *node;

	lockdep_assert_held(&access->pin_lock);

	for (node = interval_tree_iter_first(&access->pins, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX))
		if (to_access_pin(node)->iopt == iopt)
			return true;
	return false;
}

enum iommufd_access_change {
	IOMMUFD_ACCESS_ATTACH,
	IOMMUFD_ACCESS_REPLACE,
	IOMMUFD_ACCESS_DETACH,
};

/*
 * Orphan the pins of @access in @iopt: they keep their memory pinned until
 * the driver unpins them, but no unmap of @iopt sees them any more
 */
static void iommufd_access_orphan_pins(struct iommufd_access *access,
				       struct io_pagetable *iopt)
{
	struct interval_tree_node *node;

	mutex_lock(&access->pin_lock);
	for (node = interval_tree_iter_first(&access->pins, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX))
		if (to_access_pin(node)->iopt == iopt)
			to_access_pin(node)->iopt = NULL;
	mutex_unlock(&access->pin_lock);
}

/*
 * Move @access from its IOAS to @new_ioas (NULL for a detach).
 *
 * The access joins @new_ioas first, so that nothing is disturbed if that
 * fails.  Then the pins in the old IOAS are given back: the driver is asked
 * to unpin them without ioas_lock, which its unpin must not wait for, and
 * whether any is left is checked again under ioas_lock, which every pin
 * takes.  Meanwhile @access->leaving makes new pins fail with -EBUSY, so
 * that a driver pinning again from its callback cannot keep pins in the
 * IOAS it is leaving.  A detach orphans those the driver keeps (a driver
 * bug); a replace undoes the join and fails with -EBUSY.
 */
static int iommufd_access_change_ioas(struct iommufd_access *access,
				      struct iommufd_ioas *new_ioas,
				      enum iommufd_access_change change)
{
	struct iommufd_ioas *cur_ioas;
	unsigned int round = 0;
	bool leaving = false;
	bool pinned = false;
	u32 new_id = 0;
	int rc;

	mutex_lock(&access->ioas_lock);
again:
	cur_ioas = access->ioas;
	if ((change == IOMMUFD_ACCESS_ATTACH && cur_ioas) ||
	    (change == IOMMUFD_ACCESS_REPLACE && !cur_ioas)) {
		rc = -EINVAL;
		goto out_unlock;
	}
	if (cur_ioas == new_ioas) {
		rc = 0;
		goto out_unlock;
	}

	if (new_ioas) {
		rc = iopt_add_access(&new_ioas->iopt, access, &new_id);
		if (rc)
			goto out_unlock;
	}

	while (cur_ioas) {
		mutex_lock(&access->pin_lock);
		pinned = iommufd_access_has_pins(access, &cur_ioas->iopt);
		mutex_unlock(&access->pin_lock);
		if (!pinned || round == IOMMUFD_ACCESS_NOTIFY_ROUNDS)
			break;
		round++;
		if (!leaving) {
			/* Until every exit: no new pin while the driver unpins */
			access->leaving++;
			leaving = true;
		}
		mutex_unlock(&access->ioas_lock);
		iommufd_access_notify_pins(access, &cur_ioas->iopt, 0,
					   ULONG_MAX);
		mutex_lock(&access->ioas_lock);
		if (access->ioas != cur_ioas) {
			/* A concurrent attach, replace or detach won */
			if (new_ioas)
				iopt_remove_access(&new_ioas->iopt, access,
						   new_id);
			rc = -EBUSY;
			if (change != IOMMUFD_ACCESS_DETACH)
				goto out_unlock;
			/* A detach never fails: detach from where it is now */
			round = 0;
			goto again;
		}
	}
	if (pinned) {
		/* A driver bug; the pins keep their memory, nothing breaks */
		if (change != IOMMUFD_ACCESS_DETACH) {
			WARN_ONCE(iommufd_access_warn_kept_pins(access),
				  "iommufd: in-kernel access %u of %ps kept pages pinned across a replace of its IOAS\n",
				  access->obj.id, access->ops->unmap);
			iopt_remove_access(&new_ioas->iopt, access, new_id);
			rc = -EBUSY;
			goto out_unlock;
		}
		WARN_ONCE(iommufd_access_warn_kept_pins(access),
			  "iommufd: in-kernel access %u of %ps kept pages pinned across the detach of its IOAS\n",
			  access->obj.id, access->ops->unmap);
		iommufd_access_orphan_pins(access, &cur_ioas->iopt);
	}

	if (new_ioas)
		iommufd_ref_object(&new_ioas->obj);
	/* The old index, before it is overwritten (upstream's replace bug) */
	if (cur_ioas)
		iopt_remove_access(&cur_ioas->iopt, access,
				   access->iopt_access_list_id);
	access->ioas = new_ioas;
	access->iopt_access_list_id = new_id;
	if (leaving)
		access->leaving--;
	mutex_unlock(&access->ioas_lock);

	if (cur_ioas)
		iommufd_put_object(access->ictx, &cur_ioas->obj);
	return 0;

out_unlock:
	if (leaving)
		access->leaving--;
	mutex_unlock(&access->ioas_lock);
	return rc;
}

/* Look up IOAS @ioas_id of @access's context and move @access to it */
static int iommufd_access_set_ioas(struct iommufd_access *access, u32 ioas_id,
				   enum iommufd_access_change change)
{
	struct iommufd_ioas *ioas;
	int rc;

	ioas = iommufd_get_ioas(access->ictx, ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	rc = iommufd_access_change_ioas(access, ioas, change);
	iommufd_put_object(access->ictx, &ioas->obj);
	return rc;
}

/**
 * iommufd_access_attach() - Attach an access to an IOAS
 * @access: the access, not attached
 * @ioas_id: ID of an IOAS of the access's context
 *
 * The access holds a reference on the IOAS until it is detached.  If the
 * access pins pages (&iommufd_access_ops.needs_pin_pages), the IOAS keeps
 * every mapping PAGE_SIZE aligned from now on.
 *
 * Return: 0, -EINVAL (already attached), -ENOENT (no such IOAS),
 * -EADDRINUSE (a mapping of the IOAS is not PAGE_SIZE aligned, for an
 * access that pins pages), -ENOMEM, -EBUSY (no free index in the IOAS's
 * access list).
 */
int iommufd_access_attach(struct iommufd_access *access, u32 ioas_id)
{
	return iommufd_access_set_ioas(access, ioas_id, IOMMUFD_ACCESS_ATTACH);
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_attach, IOMMUFD);

/**
 * iommufd_access_replace() - Move an attached access to another IOAS
 * @access: the access, attached
 * @ioas_id: ID of an IOAS of the access's context
 *
 * Replacing by the IOAS the access is attached to does nothing.  Once the
 * access could join the new IOAS, the pins it holds in the old one are
 * given back: the driver's unmap op is called for each of them (whole),
 * and the driver must unpin them.  If it does not, a driver bug that
 * WARNs once, the access stays on the old IOAS and -EBUSY is returned.  On
 * failure the access is attached as before.
 *
 * Return: 0, -EINVAL (not attached), -ENOENT (no such IOAS), -EBUSY
 * (pins left in the old IOAS, a concurrent attach, replace or detach
 * won, or no free index in the new IOAS's access list), -EADDRINUSE,
 * -ENOMEM (see iommufd_access_attach()).
 */
int iommufd_access_replace(struct iommufd_access *access, u32 ioas_id)
{
	return iommufd_access_set_ioas(access, ioas_id, IOMMUFD_ACCESS_REPLACE);
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_replace, IOMMUFD);

/**
 * iommufd_access_detach() - Detach an access from its IOAS
 * @access: the access
 *
 * Does nothing if the access is not attached.  The driver should have
 * unpinned everything; if it has not, its unmap op is called for each pin
 * left (whole) and it must unpin them.  Pins it still keeps after that
 * (a driver bug, WARNed once) keep their memory pinned until they are
 * unpinned or the access is destroyed, but are no longer seen by the IOAS.
 * Never fails.
 */
void iommufd_access_detach(struct iommufd_access *access)
{
	iommufd_access_change_ioas(access, NULL, IOMMUFD_ACCESS_DETACH);
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_detach, IOMMUFD);

/*
 * [@iova, *@last] = [@iova, @iova + @length - 1]; -EINVAL for length 0,
 * -EOVERFLOW when it wraps
 */
static int iommufd_access_range(unsigned long iova, unsigned long length,
				unsigned long *last)
{
	if (!length)
		return -EINVAL;
	if (check_add_overflow(iova, length - 1, last))
		return -EOVERFLOW;
	return 0;
}

/**
 * iommufd_access_pin_pages() - Return the pages behind a range of IOVA
 * @access: an attached access with &iommufd_access_ops.needs_pin_pages
 * @iova: first IOVA, any alignment
 * @length: number of bytes
 * @out_pages: filled with one struct page per page of IOVA holding a byte
 *             of [@iova, @iova + @length)
 * @flags: IOMMUFD_ACCESS_RW_WRITE if the driver will write to the pages
 *
 * The pages are the ones IOMMU_IOAS_MAP pinned: they stay pinned, and are
 * charged once, until iommufd_access_unpin_pages() of exactly the same
 * range, which the driver must do at the latest when its unmap op asks
 * for it.  The range may cross several mappings.
 *
 * Return: 0, -EINVAL (length 0, not attached, the access does not pin
 * pages, unknown flags), -EOVERFLOW (the range wraps), -ENOENT (a byte of
 * the range is not mapped), -EPERM (IOMMUFD_ACCESS_RW_WRITE on a mapping
 * that is not writable), -EBUSY (an unmap of the range is waiting for the
 * drivers to unpin, or a replace or detach of the access is asking the
 * driver to unpin what it holds in its IOAS: pin again after it returned),
 * -ENOMEM.
 */
int iommufd_access_pin_pages(struct iommufd_access *access, unsigned long iova,
			     unsigned long length, struct page **out_pages,
			     unsigned int flags)
{
	unsigned long last;
	int rc;

	if (!access->ops->needs_pin_pages ||
	    (flags & ~(IOMMUFD_ACCESS_RW_WRITE | IOMMUFD_ACCESS_RW_KTHREAD)))
		return -EINVAL;
	rc = iommufd_access_range(iova, length, &last);
	if (rc)
		return rc;

	mutex_lock(&access->ioas_lock);
	if (!access->ioas)
		rc = -EINVAL;
	else if (access->leaving)
		rc = -EBUSY;
	else
		rc = iopt_access_pin_pages(&access->ioas->iopt, access, iova,
					   last, out_pages,
					   flags & IOMMUFD_ACCESS_RW_WRITE);
	mutex_unlock(&access->ioas_lock);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_pin_pages, IOMMUFD);

/**
 * iommufd_access_unpin_pages() - Undo iommufd_access_pin_pages()
 * @access: the access
 * @iova: the @iova given to iommufd_access_pin_pages()
 * @length: the @length given to iommufd_access_pin_pages()
 *
 * Drops one pin of exactly that range, which may have been made in an
 * IOAS the access has left since.  Never fails.  A range that is not
 * pinned (or not exactly as it was pinned) is a bug of the driver, which
 * alone decides what it unpins: it WARNs once and is otherwise ignored,
 * nothing is unpinned.  A driver that lets user space name the range to
 * unpin must check it against what it pinned first, as the selftest's
 * mock driver does.  May sleep: the memory is unpinned if user space
 * unmapped it meanwhile.
 */
void iommufd_access_unpin_pages(struct iommufd_access *access,
				unsigned long iova, unsigned long length)
{
	struct iommufd_access_pin *pin = NULL;
	struct interval_tree_node *node;
	unsigned long last;
	unsigned int i;

	if (!iommufd_access_range(iova, length, &last)) {
		mutex_lock(&access->pin_lock);
		for (node = interval_tree_iter_first(&access->pins, iova, iova);
		     node; node = interval_tree_iter_next(node, iova, iova)) {
			if (node->start == iova && node->last == last) {
				pin = to_access_pin(node);
				interval_tree_remove(node, &access->pins);
				break;
			}
		}
		mutex_unlock(&access->pin_lock);
	}
	/* A driver bug: user space never chooses what a driver unpins */
	if (WARN_ONCE(!pin,
		      "iommufd: the in-kernel access of %ps unpinned IOVA it had not pinned (0x%lx, length 0x%lx)\n",
		      access->ops->unmap, iova, length))
		return;
	for (i = 0; i != pin->npages_objs; i++)
		iopt_put_pages(pin->pages[i]);
	kvfree(pin);
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_unpin_pages, IOMMUFD);

/**
 * iommufd_access_rw() - Copy to or from IOVA
 * @access: an attached access
 * @iova: first IOVA, any alignment
 * @data: kernel buffer
 * @len: number of bytes
 * @flags: IOMMUFD_ACCESS_RW_WRITE to copy @data to the IOVA, else the IOVA
 *         is read into @data; IOMMUFD_ACCESS_RW_KTHREAD is accepted
 *
 * The copy goes through the memory IOMMU_IOAS_MAP pinned, mapped with
 * kmap_local_page(): it pins nothing and needs no mm, so it works from a
 * kthread whether or not IOMMUFD_ACCESS_RW_KTHREAD is given.  The range may
 * cross several mappings; it is checked as a whole first, so on error
 * nothing was copied.
 *
 * Return: 0, -EINVAL (length 0, not attached, unknown flags), -EOVERFLOW
 * (the range wraps), -ENOENT (a byte of the range is not mapped), -EPERM
 * (a write to a mapping that is not writable).
 */
int iommufd_access_rw(struct iommufd_access *access, unsigned long iova,
		      void *data, size_t len, unsigned int flags)
{
	unsigned long last;
	int rc;

	if (flags & ~(IOMMUFD_ACCESS_RW_WRITE | IOMMUFD_ACCESS_RW_KTHREAD))
		return -EINVAL;
	rc = iommufd_access_range(iova, len, &last);
	if (rc)
		return rc;

	mutex_lock(&access->ioas_lock);
	if (!access->ioas)
		rc = -EINVAL;
	else
		rc = iopt_access_rw(&access->ioas->iopt, iova, last, data,
				    flags & IOMMUFD_ACCESS_RW_WRITE);
	mutex_unlock(&access->ioas_lock);
	return rc;
}
EXPORT_SYMBOL_NS_GPL(iommufd_access_rw, IOMMUFD);
