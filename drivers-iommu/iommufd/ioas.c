// SPDX-License-Identifier: GPL-2.0-only
/*
 * The IOAS object: an I/O address space made of user memory, and the
 * ioctls that work on it.  The IOVA bookkeeping itself is io_pagetable.c's;
 * this file checks what user space passes in, turns it into iopt_* calls
 * and reports the result back.
 *
 * Common rules of the handlers below:
 *  - Unknown flags and non-zero reserved fields fail with EOPNOTSUPP before
 *    anything else is looked at; values that are merely out of range fail
 *    with EINVAL, and 64-bit values that do not fit the kernel's unsigned
 *    long, or whose sum wraps, with EOVERFLOW.
 *  - An IOAS is used only through a reference taken by iommufd_get_ioas(),
 *    which every path drops again.
 *  - The command structure is copied back to user space only when the
 *    operation succeeded, except for IOMMU_IOAS_IOVA_RANGES, whose EMSGSIZE
 *    answer carries data.  If that copy fails after something was created,
 *    the creation is undone so the caller, who got EFAULT, is left with
 *    nothing it cannot name.
 */
#include <linux/capability.h>
#include <linux/err.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/rbtree.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/iommufd.h>

#include "iommufd_private.h"

/*
 * IOMMU_IOAS_IOVA_RANGES first asks for at most this many ranges; more room
 * is allocated only once io_pagetable.c has reported that more exist.
 */
#define IOMMUFD_IOVA_RANGES_FIRST 256
/*
 * Bytes of user ranges IOMMU_IOAS_ALLOW_IOVAS reads at a time: the list
 * itself has no limit but the memory it takes, charged to the caller.
 */
#define IOMMUFD_ALLOW_IOVAS_PIECE PAGE_SIZE
/* Bound of every kvmalloc(), which refuses (and WARNs) above INT_MAX */
#define IOMMUFD_IOVA_RANGES_MAX (INT_MAX / sizeof(struct iommu_iova_range))

#define IOMMUFD_MAP_FLAGS                                                     \
	(IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |               \
	 IOMMU_IOAS_MAP_READABLE)

/**
 * iommufd_ioas_alloc() - allocate an empty IOAS
 * @ictx: context it will belong to
 *
 * The IOAS has a reserved ID but is not finalized: the caller publishes it
 * with iommufd_object_finalize() or frees it with
 * iommufd_object_abort_and_destroy().
 *
 * Return: the IOAS or an ERR_PTR().
 */
struct iommufd_ioas *iommufd_ioas_alloc(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas;

	ioas = iommufd_object_alloc(ictx, ioas, IOMMUFD_OBJ_IOAS);
	if (IS_ERR(ioas))
		return ioas;

	iopt_init_table(&ioas->iopt);
	INIT_LIST_HEAD(&ioas->hwpt_list);
	mutex_init(&ioas->mutex);
	return ioas;
}

/**
 * iommufd_ioas_destroy() - destroy operation of IOMMUFD_OBJ_IOAS
 * @obj: the IOAS's object header
 *
 * Unmaps, unpins and uncharges all the IOAS's memory.  Every HW_PAGETABLE
 * holds a reference on its IOAS, so when the object table lets an IOAS be
 * destroyed none is left and no domain is attached to its io_pagetable.
 */
void iommufd_ioas_destroy(struct iommufd_object *obj)
{
	struct iommufd_ioas *ioas = container_of(obj, struct iommufd_ioas, obj);

	WARN_ON(!list_empty(&ioas->hwpt_list));
	iopt_destroy_table(&ioas->iopt);
	mutex_destroy(&ioas->mutex);
}

/**
 * iommufd_ioas_alloc_ioctl() - IOMMU_IOAS_ALLOC
 * @ucmd: the command, a struct iommu_ioas_alloc
 *
 * The IOAS is published only after its ID has reached user space, so a
 * failed copy leaves nothing behind.
 *
 * Return: 0, -EOPNOTSUPP for non-zero flags, -ENOMEM, -EFAULT.
 */
int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_alloc *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->flags)
		return -EOPNOTSUPP;

	ioas = iommufd_ioas_alloc(ucmd->ictx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	cmd->out_ioas_id = ioas->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_destroy;
	iommufd_object_finalize(ucmd->ictx, &ioas->obj);
	return 0;

out_destroy:
	iommufd_object_abort_and_destroy(ucmd->ictx, &ioas->obj);
	return rc;
}

/**
 * iommufd_ioas_iova_ranges() - IOMMU_IOAS_IOVA_RANGES
 * @ucmd: the command, a struct iommu_ioas_iova_ranges
 *
 * Copies as many usable ranges as the user's array holds, then the header
 * with the total number of ranges and the IOVA alignment.  When the array
 * was too small the header is still written and the call fails with
 * -EMSGSIZE.  The kernel buffer never exceeds the number of ranges that
 * actually exist, whatever num_iovas says.
 *
 * Return: 0, -EOPNOTSUPP (reserved field), -ENOENT (no such IOAS),
 * -ENOMEM, -EFAULT, -EMSGSIZE.
 */
int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_iova_ranges *cmd = ucmd->cmd;
	struct iommu_iova_range *ranges;
	struct iommufd_ioas *ioas;
	unsigned int want, total;
	u32 room = cmd->num_iovas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	want = min_t(u32, room, IOMMUFD_IOVA_RANGES_FIRST);
	for (;;) {
		/* At least one entry, so ranges is always a real buffer */
		ranges = kvcalloc(max(want, 1U), sizeof(*ranges),
				  GFP_KERNEL_ACCOUNT);
		if (!ranges) {
			rc = -ENOMEM;
			goto out_put;
		}
		rc = iopt_get_usable_ranges(&ioas->iopt, ranges, want, &total);
		if (rc)
			goto out_free;
		/*
		 * Done when everything fit or the user has no room for more.
		 * Otherwise there are more ranges than the first guess and
		 * the user has room for them: size the buffer on the real
		 * count and ask again (it may have changed meanwhile).
		 */
		if (total <= want || want == room)
			break;
		want = min_t(u32, room, total);
		kvfree(ranges);
		if (want > IOMMUFD_IOVA_RANGES_MAX) {
			rc = -ENOMEM;
			goto out_put;
		}
	}

	if (copy_to_user(u64_to_user_ptr(cmd->allowed_iovas), ranges,
			 sizeof(*ranges) * min(total, want))) {
		rc = -EFAULT;
		goto out_free;
	}

	down_read(&ioas->iopt.domains_rwsem);
	cmd->out_iova_alignment = ioas->iopt.iova_alignment;
	up_read(&ioas->iopt.domains_rwsem);

	cmd->num_iovas = total;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (!rc && total > room)
		rc = -EMSGSIZE;

out_free:
	kvfree(ranges);
out_put:
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

/*
 * Read the @num ranges at @uptr into @allowed, IOMMUFD_ALLOW_IOVAS_PIECE
 * bytes at a time, checking each range (start < last, no overlap, within
 * unsigned long) as it is added.
 */
static int iommufd_read_iova_ranges(struct rb_root_cached *allowed,
				    void __user *uptr, u32 num)
{
	const size_t per_piece = IOMMUFD_ALLOW_IOVAS_PIECE /
				 sizeof(struct iommu_iova_range);
	struct iommu_iova_range *piece;
	u32 done = 0;
	int rc = 0;

	piece = kmalloc(IOMMUFD_ALLOW_IOVAS_PIECE, GFP_KERNEL);
	if (!piece)
		return -ENOMEM;
	while (done != num) {
		size_t n = min_t(size_t, per_piece, num - done);
		size_t i;

		if (fatal_signal_pending(current)) {
			rc = -EINTR;
			break;
		}
		if (copy_from_user(piece, uptr + done * sizeof(*piece),
				   n * sizeof(*piece))) {
			rc = -EFAULT;
			break;
		}
		for (i = 0; i != n && !rc; i++)
			rc = iopt_allowed_insert(allowed, piece[i].start,
						 piece[i].last);
		if (rc)
			break;
		done += n;
		cond_resched();
	}
	kfree(piece);
	return rc;
}

/**
 * iommufd_ioas_allow_iovas() - IOMMU_IOAS_ALLOW_IOVAS
 * @ucmd: the command, a struct iommu_ioas_allow_iovas
 *
 * Replaces the IOAS's allowed list; num_iovas == 0 clears it.  The list is
 * read in bounded pieces and checked (each range ordered, no two
 * overlapping) before the IOAS is touched; io_pagetable.c checks it against
 * the reserved IOVA and installs it atomically.  There is no limit on
 * num_iovas but the memory the list takes, which is charged to the caller.
 *
 * Return: 0, -EOPNOTSUPP (reserved field), -EINVAL (start >= last,
 * overlapping ranges), -EOVERFLOW (a range beyond ULONG_MAX), -ENOENT (no
 * such IOAS), -ENOMEM, -EFAULT, -EINTR (fatal signal while reading a long
 * list), -EADDRINUSE (a range overlaps reserved IOVA).
 */
int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_allow_iovas *cmd = ucmd->cmd;
	struct rb_root_cached allowed = RB_ROOT_CACHED;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;

	rc = iommufd_read_iova_ranges(&allowed,
				      u64_to_user_ptr(cmd->allowed_iovas),
				      cmd->num_iovas);
	if (rc)
		goto out_free;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas)) {
		rc = PTR_ERR(ioas);
		goto out_free;
	}
	rc = iopt_set_allow_iova(&ioas->iopt, &allowed);
	iommufd_put_object(ucmd->ictx, &ioas->obj);

out_free:
	/* The rejected new list, or the old one that was replaced */
	iopt_free_allowed(&allowed);
	return rc;
}

/*
 * Checks shared by IOMMU_IOAS_MAP and IOMMU_IOAS_COPY.  User space has no
 * cache maintenance ioctls, so every mapping is requested cache coherent
 * (IOMMU_CACHE).
 */
static int iommufd_map_flags_to_prot(u32 flags, u64 length)
{
	int prot = IOMMU_CACHE;

	if (flags & ~IOMMUFD_MAP_FLAGS)
		return -EOPNOTSUPP;
	if (!(flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)))
		return -EINVAL;
	if (!length)
		return -EINVAL;
	if (length >= ULONG_MAX)
		return -EOVERFLOW;

	if (flags & IOMMU_IOAS_MAP_READABLE)
		prot |= IOMMU_READ;
	if (flags & IOMMU_IOAS_MAP_WRITEABLE)
		prot |= IOMMU_WRITE;
	return prot;
}

/*
 * -EOVERFLOW unless [@start, @start + @length - 1] fits in an unsigned long;
 * @length is not 0 and below ULONG_MAX.
 */
static int iommufd_check_range(u64 start, u64 length)
{
	if (start >= ULONG_MAX || length - 1 > ULONG_MAX - start)
		return -EOVERFLOW;
	return 0;
}

/*
 * The destination IOVA of IOMMU_IOAS_MAP and IOMMU_IOAS_COPY: a fixed range
 * must fit in an unsigned long; an IOVA the kernel chooses (IOPT_ALLOC_IOVA
 * is added to @iopt_flags) is ignored, but like every 64-bit IOVA it must
 * be below ULONG_MAX.
 */
static int iommufd_check_dst_iova(u32 map_flags, u64 iova, u64 length,
				  unsigned int *iopt_flags)
{
	if (iova >= ULONG_MAX)
		return -EOVERFLOW;
	if (map_flags & IOMMU_IOAS_MAP_FIXED_IOVA)
		return iommufd_check_range(iova, length);
	*iopt_flags |= IOPT_ALLOC_IOVA;
	return 0;
}

/**
 * iommufd_ioas_map() - IOMMU_IOAS_MAP
 * @ucmd: the command, a struct iommu_ioas_map
 *
 * Without IOMMU_IOAS_MAP_FIXED_IOVA the input iova is ignored except that,
 * as for every 64-bit IOVA, a value of ULONG_MAX or more is refused.  If
 * the chosen IOVA cannot be copied back, the new mapping is removed again.
 *
 * Return: 0, -EOPNOTSUPP (unknown flags, reserved field), -EINVAL (no
 * access flag, length 0, and io_pagetable.c's alignment and reserved IOVA
 * checks), -EOVERFLOW, -ENOENT (no such IOAS), -EEXIST, -ENOSPC, -ENOMEM,
 * -EFAULT, or a pinning error.
 */
int iommufd_ioas_map(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map *cmd = ucmd->cmd;
	unsigned int flags = 0;
	struct iommufd_ioas *ioas;
	unsigned long unmapped;
	unsigned long iova;
	int prot;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	prot = iommufd_map_flags_to_prot(cmd->flags, cmd->length);
	if (prot < 0)
		return prot;
	rc = iommufd_check_dst_iova(cmd->flags, cmd->iova, cmd->length, &flags);
	if (rc)
		return rc;
	/* u64_to_user_ptr() would silently truncate on 32-bit kernels */
	rc = iommufd_check_range(cmd->user_va, cmd->length);
	if (rc)
		return rc;

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	iova = cmd->iova;
	rc = iopt_map_user_pages(ucmd->ictx, &ioas->iopt, &iova,
				 u64_to_user_ptr(cmd->user_va), cmd->length,
				 prot, flags);
	if (rc)
		goto out_put;

	cmd->iova = iova;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		/*
		 * Undo the mapping the caller cannot know about.  Should a
		 * racing thread of the caller have replaced it already, it
		 * only hurts itself.
		 */
		iopt_unmap_iova(&ioas->iopt, iova, cmd->length, &unmapped);

out_put:
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

/**
 * iommufd_ioas_copy() - IOMMU_IOAS_COPY
 * @ucmd: the command, a struct iommu_ioas_copy
 *
 * The source and destination IOAS may be the same.  Flags follow
 * IOMMU_IOAS_MAP; if the destination IOVA cannot be copied back, the new
 * mapping is removed again.
 *
 * Return: 0, -EOPNOTSUPP (unknown flags), -EINVAL, -EOVERFLOW, -ENOENT (no
 * such IOAS, or the source range is not fully mapped), -EPERM (write
 * access to read-only memory), -EEXIST, -ENOSPC, -ENOMEM, -EFAULT.
 */
int iommufd_ioas_copy(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_copy *cmd = ucmd->cmd;
	struct iommufd_ioas *src_ioas;
	struct iommufd_ioas *dst_ioas;
	unsigned int flags = 0;
	unsigned long unmapped;
	unsigned long iova;
	int prot;
	int rc;

	prot = iommufd_map_flags_to_prot(cmd->flags, cmd->length);
	if (prot < 0)
		return prot;
	rc = iommufd_check_dst_iova(cmd->flags, cmd->dst_iova, cmd->length,
				    &flags);
	if (rc)
		return rc;
	rc = iommufd_check_range(cmd->src_iova, cmd->length);
	if (rc)
		return rc;

	src_ioas = iommufd_get_ioas(ucmd->ictx, cmd->src_ioas_id);
	if (IS_ERR(src_ioas))
		return PTR_ERR(src_ioas);
	dst_ioas = iommufd_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
	if (IS_ERR(dst_ioas)) {
		rc = PTR_ERR(dst_ioas);
		goto out_put_src;
	}

	iova = cmd->dst_iova;
	rc = iopt_copy_iova(&src_ioas->iopt, cmd->src_iova, &dst_ioas->iopt,
			    &iova, cmd->length, prot, flags);
	if (rc)
		goto out_put_dst;

	cmd->dst_iova = iova;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		/* As in iommufd_ioas_map() */
		iopt_unmap_iova(&dst_ioas->iopt, iova, cmd->length, &unmapped);

out_put_dst:
	iommufd_put_object(ucmd->ictx, &dst_ioas->obj);
out_put_src:
	iommufd_put_object(ucmd->ictx, &src_ioas->obj);
	return rc;
}

/**
 * iommufd_ioas_unmap() - IOMMU_IOAS_UNMAP
 * @ucmd: the command, a struct iommu_ioas_unmap
 *
 * iova == 0 with length == U64_MAX removes every mapping and succeeds on
 * an empty IOAS.  Any other length of 0 is refused with -EINVAL, like an
 * IOMMU_IOAS_MAP of length 0.  The number of bytes removed is written back
 * only on success.  The range is checked before anything is removed, so a
 * failed unmap removed nothing.
 *
 * Two concurrent unmaps of the same mapping never see it half removed: the
 * IOVA lock makes one of them remove it and the other find nothing there
 * (-ENOENT).
 *
 * Memory an in-kernel access pinned in the range is given back first: the
 * drivers are asked to unpin it, and the unmap only removes anything once
 * they did.  A driver that does not unpin makes the unmap fail with
 * -EDEADLOCK (and remove nothing); see iommufd_access_notify_unmap().
 *
 * Return: 0, -EINVAL, -EOVERFLOW, -ENOENT (no such IOAS, a mapping would be
 * cut or there is none in the range), -EDEADLOCK, -EFAULT.
 */
int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_unmap *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	unsigned long unmapped = 0;
	bool all = cmd->iova == 0 && cmd->length == U64_MAX;
	int rc;

	if (!all) {
		if (!cmd->length)
			return -EINVAL;
		if (cmd->length >= ULONG_MAX)
			return -EOVERFLOW;
		rc = iommufd_check_range(cmd->iova, cmd->length);
		if (rc)
			return rc;
	}

	ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (all)
		rc = iopt_unmap_all(&ioas->iopt, &unmapped);
	else
		rc = iopt_unmap_iova(&ioas->iopt, cmd->iova, cmd->length,
				     &unmapped);
	if (rc)
		goto out_put;

	cmd->length = unmapped;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));

out_put:
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

/**
 * iommufd_option_rlimit_mode() - IOMMU_OPTION_RLIMIT_MODE
 * @cmd: the command; val64 is set on IOMMU_OPTION_OP_GET
 * @ictx: context the option applies to
 *
 * GET reports 1 for mm (VFIO type1 style) accounting and 0 for per-user
 * accounting (a task with CAP_IPC_LOCK is never charged in either).
 * SET 0 selects per-user accounting, SET 1 mm accounting;
 * it needs CAP_SYS_RESOURCE and a context without any object, even one
 * still being created, so no mapping can ever have been charged under the
 * old mode.
 *
 * Return: 0, -EOPNOTSUPP (object_id not 0, unknown op), -EPERM (without
 * CAP_SYS_RESOURCE, checked before the value), -EINVAL (val64 > 1), -EBUSY.
 */
int iommufd_option_rlimit_mode(struct iommu_option *cmd,
			       struct iommufd_ctx *ictx)
{
	int rc = 0;

	if (cmd->object_id)
		return -EOPNOTSUPP;

	switch (cmd->op) {
	case IOMMU_OPTION_OP_GET:
		cmd->val64 = READ_ONCE(ictx->account_mode) ==
			     IOPT_PAGES_ACCOUNT_MM;
		return 0;
	case IOMMU_OPTION_OP_SET:
		/* Privilege first: an unprivileged caller learns nothing */
		if (!capable(CAP_SYS_RESOURCE))
			return -EPERM;
		if (cmd->val64 > 1)
			return -EINVAL;

		xa_lock(&ictx->objects);
		if (!xa_empty(&ictx->objects))
			rc = -EBUSY;
		else
			WRITE_ONCE(ictx->account_mode,
				   cmd->val64 ? IOPT_PAGES_ACCOUNT_MM :
						IOPT_PAGES_ACCOUNT_USER);
		xa_unlock(&ictx->objects);
		return rc;
	default:
		return -EOPNOTSUPP;
	}
}

/* IOMMU_OPTION_HUGE_PAGES, on the IOAS named by object_id */
static int iommufd_option_huge_pages(struct iommu_option *cmd,
				     struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas;
	int rc = 0;

	if (cmd->op == IOMMU_OPTION_OP_SET && cmd->val64 > 1)
		return -EINVAL;

	ioas = iommufd_get_ioas(ictx, cmd->object_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (cmd->op == IOMMU_OPTION_OP_GET) {
		down_read(&ioas->iopt.iova_rwsem);
		cmd->val64 = !ioas->iopt.disable_large_pages;
		up_read(&ioas->iopt.iova_rwsem);
	} else {
		rc = iopt_set_large_pages(&ioas->iopt, cmd->val64);
	}

	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/**
 * iommufd_ioas_option() - IOMMU_OPTION
 * @ucmd: the command, a struct iommu_option
 *
 * Dispatches on option_id; val64 is copied back for a successful GET.
 *
 * Return: 0, -EOPNOTSUPP (reserved field, unknown op or option), or the
 * option's error: see iommufd_option_rlimit_mode(); for
 * IOMMU_OPTION_HUGE_PAGES -EINVAL (val64 > 1, or io_pagetable.c refuses
 * the change) and -ENOENT (object_id is not an IOAS).
 */
int iommufd_ioas_option(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	int rc;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->op != IOMMU_OPTION_OP_SET && cmd->op != IOMMU_OPTION_OP_GET)
		return -EOPNOTSUPP;

	switch (cmd->option_id) {
	case IOMMU_OPTION_RLIMIT_MODE:
		rc = iommufd_option_rlimit_mode(cmd, ucmd->ictx);
		break;
	case IOMMU_OPTION_HUGE_PAGES:
		rc = iommufd_option_huge_pages(cmd, ucmd->ictx);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rc)
		return rc;
	if (cmd->op == IOMMU_OPTION_OP_GET)
		return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	return 0;
}
