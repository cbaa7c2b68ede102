#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh - base tree, series <-> work tree, test kernel and QEMU test harness
# for the iommu/iommufd/VFIO series on Linux 6.1 LTS.  Run "./build.sh help".
#
# Layout of build/ (git-ignored, disposable):
#   base/        pristine Debian linux-source-6.1 as one commit, tagged "base"
#   linux/       contributor work tree: base + the series as commits
#   test/linux/  the gate's own tree: fresh base + git am, one patch at a time
#   test/out/    O= directory of the gate's kernel (shared by bisect and tip)
#   test/run/    initramfs, QEMU logs and parsed results of the last run
#   ccache/      compiler cache (CCACHE_DIR)
#   cache/       baselines and per-tree "already verified" stamps

set -eo pipefail
shopt -s nullglob

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=$TOP/build
BASEDIR=$B/base
# A contributor may point these at another work tree and output directory
# (e.g. a git worktree of build/linux under build/wt/NAME/): kernel, check
# and demo then build and boot that tree.  The gate never uses them.
WORK=${LINUX_TREE:-$B/linux}
KOUT=${KOUT:-$B/out}
CHECKDIR=${CHECKDIR:-$B/check}
DEMODIR=${DEMODIR:-$B/demo}
TDIR=$B/test
CACHE=$B/cache
TESTFILES=$TOP/test
FRAGMENT=$TESTFILES/kernel.config
CP_IGNORE=$TESTFILES/checkpatch.ignore
JOBS=${JOBS:-$(nproc)}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-2400}
ARCH=x86_64
export ARCH
export CCACHE_DIR=${CCACHE_DIR:-$B/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_NOHASHDIR=1 CCACHE_BASEDIR=$B
# Deterministic identity and dates for the base commit: the same tarball
# gives the same base sha on every machine (it is the series' base-commit).
BASE_IDENT_NAME="Debian linux-source-6.1"
BASE_IDENT_EMAIL="debian-kernel@lists.debian.org"
BASE_DATE="2000-01-01T00:00:00Z"
# Overlay folders: kernel path prefix -> repo folder.  Order matters
# (include/uapi/linux before include/linux is not needed: distinct prefixes).
OVERLAYS="drivers/iommu/:drivers-iommu/ drivers/vfio/:drivers-vfio/ \
include/uapi/linux/:include-linux/uapi/ include/linux/:include-linux/ \
tools/testing/selftests/:tools-testing-selftests/ Documentation/:Documentation/"
APT_PACKAGES="linux-source-6.1 qemu-system-x86 sparse coccinelle b4 quilt flex \
bison bc libelf-dev libssl-dev cpio busybox-static ccache codespell python3-ply python3-git git \
git-email gcc make perl python3 rsync xz-utils kmod"

PY=/usr/bin/python3
[ -x $PY ] || PY=python3

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
elapsed() { local s=$(($(now) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

usage() {
	cat <<EOF
usage: ./build.sh [command]

  (none)   set up a fresh machine, build the work tree and the test kernel,
           boot it in QEMU and run a short demonstration
  setup    install the Debian packages the project needs (needs root)
  base     unpack the pinned linux-source-6.1 as build/base (tag "base")
  tree     build/linux = base + git am of every patch in series
           (refuses to discard uncommitted or unexported work there)
  export   write build/linux's base..HEAD back as patches/, series, the
           overlay folders and MAINTAINERS.fragment
  status   say whether build/linux holds work the repo lacks
  kernel   build the test kernel from build/linux (incremental)
  check    build build/linux's kernel and run the QEMU tests on it (fast
           contributor loop; no static checks, no bisect)
  demo     boot the kernel built by "kernel" and run the demonstration
  test     the gate: apply, checkpatch, bisect build with W=1 C=1, tip
           build, kselftests + KUnit in QEMU, guest log check; last line
           "N passed, N failed"
  help     this text

Environment: JOBS (default: nproc), QEMU_TIMEOUT (s, default 2400),
CCACHE_DIR (default build/ccache).
EOF
}

# ---------------------------------------------------------------------------
# setup and base

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (apt-get)"; }

cmd_setup() {
	local missing=() p
	for p in $APT_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	# The pinned base version must be installed, not merely some version.
	local want have
	want=$(cat "$TOP/BASE")
	have=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
	[ "$have" = "$want" ] || missing+=(linux-source-6.1)
	[ ${#missing[@]} = 0 ] && { say "setup: all packages present"; return 0; }
	need_root setup
	step "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	local pkgs=() v
	for p in "${missing[@]}"; do
		if [ "$p" = linux-source-6.1 ]; then
			if apt-cache madison linux-source-6.1 | awk '{print $3}' | grep -qx "$want"; then
				pkgs+=("linux-source-6.1=$want")
			else
				v=$(apt-cache madison linux-source-6.1 | awk '{print $3}' | sort -V | tail -n1)
				cat >&2 <<EOF

########################################################################
# WARNING: linux-source-6.1 $want (pinned in BASE) has left the archive.
# Using the newest 6.1 instead: $v.  The base commit, and so the
# series' base-commit, will differ; update BASE once the series is
# verified on it.
########################################################################

EOF
				pkgs+=("linux-source-6.1=$v")
			fi
		else
			pkgs+=("$p")
		fi
	done
	apt-get install -y -q --allow-downgrades "${pkgs[@]}"
}

# The base: the tarball as one commit.  Debian's top-level .gitignore ends
# with "/*" (ignore everything at the top level), so the commit is made with
# "git add -f" and work trees get a local, untracked-by-git fix of that rule
# (see fix_gitignore): it never reaches a commit, hence never a patch.
cmd_base() {
	local tarball=/usr/src/linux-source-6.1.tar.xz
	if [ -d "$BASEDIR/.git" ] && git -C "$BASEDIR" rev-parse -q --verify base >/dev/null; then
		return 0
	fi
	[ -f $tarball ] || die "$tarball missing: run ./build.sh setup"
	step "unpacking $tarball into build/base"
	local t0; t0=$(now)
	rm -rf "$BASEDIR" "$B/base.tmp"
	mkdir -p "$B/base.tmp"
	tar -C "$B/base.tmp" -xf $tarball
	mv "$B/base.tmp/linux-source-6.1" "$BASEDIR"
	rmdir "$B/base.tmp"
	(
		cd "$BASEDIR"
		git init -q -b base-branch
		git add -f -A .
		GIT_AUTHOR_NAME=$BASE_IDENT_NAME GIT_AUTHOR_EMAIL=$BASE_IDENT_EMAIL \
		GIT_COMMITTER_NAME=$BASE_IDENT_NAME GIT_COMMITTER_EMAIL=$BASE_IDENT_EMAIL \
		GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
			git commit -q --no-verify -m "Linux $(make -s kernelversion) (Debian linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1))"
		git tag base
	)
	local n
	n=$(git -C "$BASEDIR" ls-files | wc -l)
	say "base: $(git -C "$BASEDIR" rev-parse base) ($n files, $(elapsed "$t0"))"
	[ "$n" -gt 70000 ] || die "base commit holds only $n files: .gitignore quirk?"
}

base_sha() { git -C "$BASEDIR" rev-parse base; }

# Make git see new files in a work tree despite Debian's "/*" rule: drop the
# rule from the checked-out .gitignore and tell git to ignore that change.
fix_gitignore() {
	local d=$1
	git -C "$d" update-index --assume-unchanged .gitignore
	$PY - "$d/.gitignore" <<'EOF'
import sys
path = sys.argv[1]
lines = open(path).read().split("\n")
cut = [i for i, l in enumerate(lines) if l.startswith("# Debian packaging")]
if cut:
    lines = lines[:cut[0]]
    while lines and lines[-1] in ("#", ""):
        lines.pop()
    open(path, "w").write("\n".join(lines) + "\n")
EOF
}

# Fresh clone of the base (objects hard-linked, cheap).
new_tree() {
	local d=$1
	rm -rf "$d"
	git clone -q --no-checkout "$BASEDIR" "$d"
	git -C "$d" checkout -q -b series base
	git -C "$d" tag base base 2>/dev/null || true
	# git am needs a committer; a fresh machine may have no identity set
	if ! git -C "$d" config user.email >/dev/null; then
		git -C "$d" config user.name "build.sh"
		git -C "$d" config user.email "build.sh@localhost"
	fi
	fix_gitignore "$d"
}

# Patch files named by series, in order (quilt syntax: comments on own lines).
series_patches() {
	sed -e 's/[[:space:]]*#.*//' -e '/^[[:space:]]*$/d' "$TOP/series" 2>/dev/null |
		sed "s|^|$TOP/patches/|"
}

# ---------------------------------------------------------------------------
# tree / export / status

cover_file() { printf '%s' "$TOP/patches/0000-cover-letter.patch"; }

# The cover letter's text lives in build/linux as the branch description
# (b4's "branch-description" strategy); export writes it out, tree reads it
# back.  Format: first line = subject (without [PATCH ...]), blank, body.
cover_text_from_file() {
	local f; f=$(cover_file)
	[ -f "$f" ] || return 0
	$PY - "$f" <<'EOF'
import sys, re
txt = open(sys.argv[1]).read()
hdr, _, body = txt.partition("\n\n")
subj = ""
lines = hdr.split("\n")
for i, l in enumerate(lines):
    if l.startswith("Subject: "):
        subj = l[len("Subject: "):]
        for c in lines[i + 1:]:
            if c.startswith(" "):
                subj += c
            else:
                break
subj = re.sub(r"^\[[^]]*\]\s*", "", subj)
# body ends at the generated part: a line "---" followed by the shortlog
body = body.split("\n---\n", 1)[0].rstrip("\n")
print(subj + "\n\n" + body)
EOF
}

work_dirty() {
	git -C "$WORK" status --porcelain --untracked-files=normal 2>/dev/null | grep -v '^?? \.ccache' || true
}

cmd_tree() {
	cmd_base
	[ -z "${LINUX_TREE:-}" ] || die "tree only (re)builds build/linux: unset LINUX_TREE"
	if [ -d "$WORK/.git" ]; then
		local st
		st=$(status_report) || true
		if [ -n "$st" ]; then
			say "$st"
			die "build/linux holds work the repo lacks: export or commit it first (or move build/linux away)"
		fi
		step "rebuilding build/linux from series"
		git -C "$WORK" am --abort >/dev/null 2>&1 || true
		git -C "$WORK" rebase --abort >/dev/null 2>&1 || true
		git -C "$WORK" checkout -q -f -B series base
		fix_gitignore "$WORK"
		git -C "$WORK" clean -q -fd
	else
		step "creating build/linux"
		new_tree "$WORK"
	fi
	local p n=0
	for p in $(series_patches); do
		git -C "$WORK" am -q --keep-cr "$p" || die "git am failed on $(basename "$p")"
		n=$((n + 1))
	done
	local desc
	desc=$(cover_text_from_file)
	[ -n "$desc" ] && git -C "$WORK" config branch.series.description "$desc"
	git -C "$WORK" config format.useAutoBase false
	say "build/linux: base + $n patches, HEAD $(git -C "$WORK" rev-parse --short HEAD)"
}

# Write the series of $1 (a git dir at the series tip) into $2 (a dir that
# gets patches/, series, overlays and MAINTAINERS.fragment).
export_to() {
	local src=$1 dst=$2 base
	base=$(git -C "$src" rev-parse base)
	mkdir -p "$dst/patches"
	rm -f "$dst"/patches/[0-9][0-9][0-9][0-9]-*.patch
	local n
	n=$(git -C "$src" rev-list --count base..HEAD)
	if [ "$n" -gt 0 ]; then
		# Stable output: no "From <sha>", no [PATCH n/m], no version trailer,
		# fixed abbreviation length (auto-abbrev depends on object count).
		git -C "$src" -c core.abbrev=12 -c diff.noprefix=false -c format.signature= \
			format-patch -q --zero-commit --no-numbered --no-signature \
			--no-cover-letter --no-base -o "$dst/patches" base..HEAD
	fi
	{
		say "# Series for Linux 6.1 LTS (Debian linux-source-6.1 $(cat "$TOP/BASE"), base-commit $base)."
		say "# Apply with git am in this order, or: QUILT_PATCHES=patches QUILT_SERIES=series quilt push -a"
		say "# patches/0000-cover-letter.patch is the cover letter and is not part of the series."
		(cd "$dst/patches" && ls [0-9][0-9][0-9][0-9]-*.patch 2>/dev/null | grep -v '^0000-') || true
	} >"$dst/series"
	write_cover "$src" "$dst/patches/0000-cover-letter.patch" "$n"
	# Overlays: every file the series creates, as it is at the tip.
	local o kpre rdir
	for o in $OVERLAYS; do
		rdir=${o#*:}
		rm -rf "${dst:?}/${rdir%%/*}"
	done
	local f
	git -C "$src" diff --name-only --diff-filter=A base HEAD | while read -r f; do
		for o in $OVERLAYS; do
			kpre=${o%%:*}
			rdir=${o#*:}
			case $f in
			"$kpre"*)
				mkdir -p "$dst/$rdir$(dirname "${f#"$kpre"}")"
				git -C "$src" show "HEAD:$f" >"$dst/$rdir${f#"$kpre"}"
				break
				;;
			esac
		done
	done
	# MAINTAINERS.fragment: the lines the series adds to MAINTAINERS.
	git -C "$src" diff base HEAD -- MAINTAINERS | sed -n 's/^+\([^+]\|$\)/\1/p' >"$dst/MAINTAINERS.fragment"
	[ -s "$dst/MAINTAINERS.fragment" ] || rm -f "$dst/MAINTAINERS.fragment"
}

# b4-style cover letter from the branch description, shortlog and diffstat.
write_cover() {
	local src=$1 out=$2 n=$3 desc subj body base
	desc=$(git -C "$src" config branch.series.description 2>/dev/null || true)
	if [ -z "$desc" ]; then
		desc="iommu, vfio: iommufd and the VFIO device cdev for 6.1 LTS

EDITME: describe the series (git branch --edit-description in build/linux)."
	fi
	subj=$(printf '%s\n' "$desc" | head -n1)
	body=$(printf '%s\n' "$desc" | tail -n +3)
	base=$(git -C "$src" rev-parse base)
	{
		say "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001"
		say "From: $(git -C "$src" config user.name) <$(git -C "$src" config user.email)>"
		say "Subject: [PATCH 0/$n] $subj"
		say ""
		printf '%s\n' "$body"
		say ""
		say "---"
		if [ "$n" -gt 0 ]; then
			git -C "$src" shortlog --no-merges base..HEAD | sed 's/^[[:space:]]*$//'
			git -C "$src" diff --stat=72 --summary base HEAD
		fi
		say "---"
		say "base-commit: $base"
		say "change-id: 20261122-iommufd-6-1-lts"
		say ""
	} >"$out"
}

cmd_export() {
	[ -d "$WORK/.git" ] || die "no build/linux: run ./build.sh tree"
	local d
	d=$(work_dirty)
	[ -z "$d" ] || { say "$d"; die "build/linux has uncommitted changes: commit them first"; }
	export_to "$WORK" "$TOP"
	say "exported $(git -C "$WORK" rev-list --count base..HEAD) patches to patches/ and series"
	git -C "$TOP" status --short -- series patches MAINTAINERS.fragment \
		drivers-iommu drivers-vfio include-linux tools-testing-selftests Documentation | head -n 40
}

# Print what build/linux has that the repo lacks; empty output = in sync.
status_report() {
	[ -d "$WORK/.git" ] || return 0
	local d tmp r
	d=$(work_dirty)
	[ -n "$d" ] && printf 'build/linux has uncommitted changes:\n%s\n' "$d"
	git -C "$WORK" rev-parse -q --verify base >/dev/null || return 0
	tmp=$(mktemp -d)
	export_to "$WORK" "$tmp" 2>/dev/null
	r=$(diff -r -q "$tmp" "$TOP" 2>/dev/null | grep -v "^Only in $TOP" |
		sed -e "s|$tmp/||g" -e "s|$TOP/||g" || true)
	r+=$(diff -r -q "$tmp/patches" "$TOP/patches" 2>/dev/null | grep "^Only in $TOP" |
		sed -e "s|$TOP/||g" || true)
	rm -rf "$tmp"
	[ -n "$r" ] && printf 'build/linux has commits not exported (run ./build.sh export):\n%s\n' "$r"
	return 0
}

cmd_status() {
	if [ ! -d "$WORK/.git" ]; then
		say "no build/linux (./build.sh tree creates it)"
	else
		local r
		r=$(status_report)
		if [ -n "$r" ]; then
			say "$r"
		else
			say "build/linux: in sync with the repo (nothing unexported), HEAD $(git -C "$WORK" rev-parse --short HEAD), $(git -C "$WORK" rev-list --count base..HEAD) patches"
		fi
	fi
	local p
	p=$(git -C "$TOP" status --porcelain 2>/dev/null | grep -v '^?? build/' || true)
	[ -n "$p" ] && printf 'project repo has uncommitted changes:\n%s\n' "$p"
	return 0
}

# ---------------------------------------------------------------------------
# kernel build

kmake() {
	local src=$1 out=$2
	shift 2
	make -C "$src" O="$out" ARCH=$ARCH -j"$JOBS" CC="ccache gcc" HOSTCC="ccache gcc" \
		KBUILD_BUILD_TIMESTAMP="2000-01-01" KBUILD_BUILD_USER=ci KBUILD_BUILD_HOST=ci "$@"
}

# (Re)generate $out/.config: tinyconfig + the fragment.  Only when the
# fragment or any Kconfig file changed since the last time.
kconfig() {
	local src=$1 out=$2 key
	key=$( (cat "$FRAGMENT"; git -C "$src" ls-files -s -- '*Kconfig*' 'arch/x86/configs/*' 'kernel/configs/*') | sha1sum | cut -c1-16)
	if [ -f "$out/.config" ] && [ "$(cat "$out/.config.key" 2>/dev/null)" = "$key" ]; then
		return 0
	fi
	mkdir -p "$out"
	kmake "$src" "$out" -s tinyconfig >/dev/null 2>&1
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$FRAGMENT" >"$out/.config.merge.log" 2>&1
	kmake "$src" "$out" -s olddefconfig >/dev/null 2>&1
	# Every =y the fragment asks for must have survived (a symbol the tree
	# does not have yet is only reported).
	local sym missing=()
	while read -r sym; do
		grep -qx "$sym" "$out/.config" || missing+=("$sym")
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$FRAGMENT")
	if [ ${#missing[@]} -gt 0 ]; then
		printf 'kconfig: not set as requested (absent at this commit or unmet dependency): %s\n' "${missing[*]}" >"$out/.config.missing"
	else
		rm -f "$out/.config.missing"
	fi
	echo "$key" >"$out/.config.key"
}

build_kernel() {
	local src=$1 out=$2 log=$3
	kconfig "$src" "$out"
	kmake "$src" "$out" bzImage >"$log" 2>&1
}

cmd_kernel() {
	[ -e "$WORK/.git" ] || cmd_tree
	local t0; t0=$(now)
	step "building the test kernel from build/linux"
	build_kernel "$WORK" "$KOUT" "$KOUT.log" || { tail -n 40 "$KOUT.log"; die "kernel build failed (log: $KOUT.log)"; }
	[ -f "$KOUT/.config.missing" ] && cat "$KOUT/.config.missing"
	say "kernel: $KOUT/arch/x86/boot/bzImage ($(elapsed "$t0"))"
}

# ---------------------------------------------------------------------------
# kselftests, initramfs, QEMU

KSFT_TARGETS_ALL="vfio iommu"

ksft_targets() {
	local src=$1 t out=""
	for t in $KSFT_TARGETS_ALL; do
		[ -f "$src/tools/testing/selftests/$t/Makefile" ] && out+="$t "
	done
	printf '%s' "$out"
}

build_ksft() {
	local src=$1 out=$2 inst=$3 log=$4 targets
	targets=$(ksft_targets "$src")
	rm -rf "$inst"
	mkdir -p "$inst"
	{
		kmake "$src" "$out" headers
		if [ -n "$targets" ]; then
			make -C "$src/tools/testing/selftests" O="$out" TARGETS="$targets" \
				CC=gcc USERLDFLAGS=-static USERCFLAGS=-Werror \
				KSFT_INSTALL_PATH="$inst" -j"$JOBS" install
		fi
	} >"$log" 2>&1
	# the demo program shares the edu helpers of the vfio selftest
	if [ -f "$src/tools/testing/selftests/vfio/edu.h" ]; then
		gcc -O2 -Wall -Werror -static -isystem "$out/usr/include" \
			-I "$src/tools/testing/selftests/vfio" -o "$inst/edu-demo" \
			"$TESTFILES/edu-demo.c" >>"$log" 2>&1
	fi
}

# Build some selftest targets (-Werror) without installing them.
build_ksft_targets() {
	local src=$1 out=$2 targets=$3 log=$4 t
	{
		kmake "$src" "$out" headers
		for t in $targets; do
			[ -f "$src/tools/testing/selftests/$t/Makefile" ] || continue
			mkdir -p "$out/kselftest-bisect/$t"
			make -C "$src/tools/testing/selftests/$t" O="$out" CC=gcc \
				OUTPUT="$out/kselftest-bisect/$t" USERCFLAGS=-Werror \
				KHDR_INCLUDES="-isystem $out/usr/include" -j"$JOBS" all || return 1
		done
	} >"$log" 2>&1
}

make_initramfs() {
	local inst=$1 img=$2 root
	root=$(dirname "$img")/root
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,ksft}
	cp /bin/busybox "$root/bin/busybox"
	local a
	for a in sh mount umount mkdir cat echo ls grep sed awk sleep poweroff \
		readlink basename dirname head tail cut tr wc timeout printf test \
		find xargs env stat uname dmesg tee id chmod ln rm cp true false seq \
		sort uniq date hexdump od perl; do
		ln -sf busybox "$root/bin/$a"
	done
	rm -f "$root/bin/perl"
	cp "$TESTFILES/init" "$root/init"
	chmod 755 "$root/init"
	cp -a "$inst/." "$root/ksft/"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$img"
}

# QEMU machine: q35 + intel-iommu; edu alone (00:03.0); e1000e with its
# kernel driver (00:04.0); a pcie-pci-bridge (00:05.0) with two edu and an
# e1000 behind it: one multi-device IOMMU group with a kernel-bound member.
run_qemu() {
	local kernel=$1 initrd=$2 rdir=$3 mode=$4 rc
	rm -f "$rdir/console.log" "$rdir/results.log"
	set +e
	timeout --kill-after=10 "$QEMU_TIMEOUT" qemu-system-x86_64 \
		-M q35 -accel tcg -cpu max -m 1G -smp 2 -nodefaults -display none \
		-no-reboot -device intel-iommu,intremap=on,caching-mode=on \
		-device edu,addr=0x3 \
		-device e1000e,addr=0x4 \
		-device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0x5 \
		-device edu,bus=br0,addr=0x1 -device edu,bus=br0,addr=0x2 \
		-device e1000,bus=br0,addr=0x3 \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 intel_iommu=on iommu.strict=1 panic=-1 oops=panic loglevel=7 harness=$mode" \
		-serial "file:$rdir/console.log" -serial "file:$rdir/results.log" \
		>"$rdir/qemu.log" 2>&1
	rc=$?
	set -e
	echo "$rc" >"$rdir/qemu.rc"
	return 0
}

# Explain how QEMU ended; non-zero if it was not a clean power-off.
qemu_verdict() {
	local rdir=$1 rc
	rc=$(cat "$rdir/qemu.rc")
	case $rc in
	0) return 0 ;;
	124 | 137) say "QEMU CRASH: hard timeout (${QEMU_TIMEOUT}s) reached, guest killed" ;;
	134) say "QEMU CRASH: QEMU aborted (exit 134) - the edu device aborts on an out-of-range DMA:" ;;
	*) say "QEMU CRASH: QEMU exited with status $rc" ;;
	esac
	grep -v '^qemu-system-x86_64: warning: nic' "$rdir/qemu.log" | tail -n 15 | sed 's/^/  qemu: /'
	return 1
}

cmd_demo() {
	local kernel=$KOUT/arch/x86/boot/bzImage rdir=$DEMODIR
	[ -f "$kernel" ] || cmd_kernel
	mkdir -p "$rdir"
	step "building kselftests and the initramfs"
	build_ksft "$WORK" "$KOUT" "$rdir/ksft" "$rdir/ksft.log" || { tail -n 30 "$rdir/ksft.log"; die "kselftest build failed"; }
	make_initramfs "$rdir/ksft" "$rdir/initramfs.cpio"
	step "booting in QEMU (TCG) for the demonstration"
	local t0; t0=$(now)
	run_qemu "$kernel" "$rdir/initramfs.cpio" "$rdir" demo
	cat "$rdir/results.log"
	qemu_verdict "$rdir" || die "the demonstration did not complete (console: build/demo/console.log)"
	grep -q '^DEMO-DONE' "$rdir/results.log" || die "the demonstration did not complete (console: build/demo/console.log)"
	say "(demo: $(elapsed "$t0"); guest console log: build/demo/console.log)"
}

cmd_check() {
	cmd_kernel
	local rdir=$CHECKDIR
	mkdir -p "$rdir"
	build_ksft "$WORK" "$KOUT" "$rdir/ksft" "$rdir/ksft.log" || { tail -n 30 "$rdir/ksft.log"; die "kselftest build failed"; }
	make_initramfs "$rdir/ksft" "$rdir/initramfs.cpio"
	step "QEMU: kselftests + KUnit"
	local t0; t0=$(now)
	run_qemu "$KOUT/arch/x86/boot/bzImage" "$rdir/initramfs.cpio" "$rdir" test
	local ok=0
	qemu_verdict "$rdir" || ok=1
	$PY "$TESTFILES/results.py" "$rdir" || ok=1
	say "(QEMU: $(elapsed "$t0"))"
	return $ok
}

# ---------------------------------------------------------------------------
# the gate

declare -a R_NAME R_RES
record() { R_NAME+=("$1"); R_RES+=("$2"); }
gate_fail=0

# Warnings of "make W=1 C=2 <dirs>" as "file: message" keys (no line numbers).
collect_warnings() {
	local src=$1 out=$2 log=$3
	shift 3
	[ $# -gt 0 ] || { : >"$log.keys"; return 0; }
	kmake "$src" "$out" W=1 C=2 "$@" >"$log" 2>&1 || return 1
	grep -E '^[^ :]+:[0-9]+(:[0-9]+)?: (warning|error): ' "$log" |
		sed -E -e "s|^$src/||" -e "s|^$(realpath "$src")/||" \
			-e 's/^([^:]+):[0-9]+(:[0-9]+)?: /\1: /' |
		LC_ALL=C sort >"$log.keys" || true
}

# Directories to check with W=1 C=2 for a list of changed files: the kbuild
# directory of each changed .c/.h (headers under include/ map to the
# series' own directories, which is where they are used).
check_dirs() {
	local src=$1 f d
	shift
	for f in "$@"; do
		case $f in
		include/linux/iommufd.h | include/uapi/linux/iommufd.h)
			printf '%s\n' drivers/iommu/iommufd/ ;;
		include/* | */include/*) printf '%s\n' drivers/iommu/ drivers/vfio/ ;;
		*.c | *.h | */Makefile | */Kconfig)
			d=$(dirname "$f")
			while [ "$d" != . ] && [ ! -f "$src/$d/Makefile" ]; do d=$(dirname "$d"); done
			case $d in
			. | tools/* | Documentation/* | scripts/*) ;;
			*) printf '%s/\n' "$d" ;;
			esac
			;;
		esac
	done | LC_ALL=C sort -u |
		# make descends: drop directories below one already listed
		awk '{ for (i = 1; i <= n; i++) if (index($0, d[i]) == 1) next; d[++n] = $0; print }'
}

checkpatch_ignore() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$CP_IGNORE" | awk '{print $1}' | paste -sd, -
}

codespell_file() {
	local f
	for f in /usr/lib/python3/dist-packages/codespell_lib/data/dictionary.txt \
		/usr/share/codespell/dictionary.txt; do
		[ -f "$f" ] && { printf '%s' "$f"; return; }
	done
}

gate_apply_and_bisect() {
	local src=$TDIR/linux out=$TDIR/out logs=$TDIR/logs
	mkdir -p "$logs" "$CACHE"
	rm -f "$logs"/*
	step "(a) series applies with git am on a fresh base"
	if [ -d "$src/.git" ]; then
		git -C "$src" am --abort >/dev/null 2>&1 || true
		git -C "$src" checkout -q -f -B series base
		git -C "$src" clean -q -fdx
	else
		new_tree "$src"
	fi
	local patches=() p
	mapfile -t patches < <(series_patches)
	for p in "${patches[@]}"; do
		[ -f "$p" ] || { record "apply: $(basename "$p")" FAIL; say "FAIL: series names a missing patch $(basename "$p")"; return 2; }
	done
	# Directories the whole series touches, and their warnings at the base.
	local all_files=() dirs=()
	mapfile -t all_files < <(cat "${patches[@]}" /dev/null | sed -n 's|^diff --git a/\([^ ]*\) b/.*|\1|p' | sort -u)
	mapfile -t dirs < <(check_dirs "$src" "${all_files[@]}")
	local cfgkey bkey t0
	t0=$(now)
	kconfig "$src" "$out"
	cfgkey=$(cat "$out/.config.key")
	bkey=$(printf '%s %s %s' "$(base_sha)" "$cfgkey" "${dirs[*]}" | sha1sum | cut -c1-16)
	if [ ! -f "$CACHE/baseline-$bkey.keys" ]; then
		say "    baseline warnings of W=1 C=2 at the base in: ${dirs[*]:-(none)}"
		local edirs=() d
		for d in "${dirs[@]}"; do [ -d "$src/$d" ] && edirs+=("$d"); done
		collect_warnings "$src" "$out" "$logs/baseline.log" "${edirs[@]}" || { tail -n 30 "$logs/baseline.log"; die "the base does not build"; }
		cp "$logs/baseline.log.keys" "$CACHE/baseline-$bkey.keys"
	fi
	say "    base: $(wc -l <"$CACHE/baseline-$bkey.keys") pre-existing W=1/sparse warnings in the checked directories"

	step "(c) every patch builds on its own, no new W=1 / sparse warnings"
	local i=0 name tree stamp files cdirs new ok=1
	for p in "${patches[@]}"; do
		i=$((i + 1))
		name=$(basename "$p")
		if ! git -C "$src" am -q --keep-cr "$p" >"$logs/am-$i.log" 2>&1; then
			record "apply: $name" FAIL
			say "FAIL apply: $name does not apply:"
			sed 's/^/    /' "$logs/am-$i.log" | head -n 20
			return 2
		fi
		tree=$(git -C "$src" rev-parse HEAD^{tree})
		stamp=$CACHE/bisect-ok-$(printf '%s %s' "$tree" "$cfgkey" | sha1sum | cut -c1-16)
		if [ -f "$stamp" ]; then
			record "bisect: $name" PASS
			say "  ok   $name (verified before: same tree and config)"
			continue
		fi
		local t1; t1=$(now)
		kconfig "$src" "$out"
		if ! kmake "$src" "$out" bzImage >"$logs/build-$i.log" 2>&1; then
			record "bisect: $name" FAIL
			say "FAIL bisect: $name does not build:"
			grep -E 'error|Error' "$logs/build-$i.log" | head -n 20 | sed 's/^/    /'
			ok=0
			continue
		fi
		mapfile -t files < <(git -C "$src" diff --name-only HEAD~1 HEAD)
		mapfile -t cdirs < <(check_dirs "$src" "${files[@]}")
		local kt
		kt=$(printf '%s\n' "${files[@]}" | sed -n 's|^tools/testing/selftests/\([^/]*\)/.*|\1|p' | sort -u | paste -sd' ' -)
		if [ -n "$kt" ] && ! build_ksft_targets "$src" "$out" "$kt" "$logs/ksft-$i.log"; then
			record "bisect: $name" FAIL
			say "FAIL bisect: $name: selftests ($kt) do not build with -Werror:"
			grep -E 'error|warning' "$logs/ksft-$i.log" | head -n 20 | sed 's/^/    /'
			ok=0
			continue
		fi
		if ! collect_warnings "$src" "$out" "$logs/w1-$i.log" "${cdirs[@]}"; then
			record "bisect: $name" FAIL
			say "FAIL bisect: $name: W=1 C=2 build of ${cdirs[*]} failed:"
			grep -E 'error' "$logs/w1-$i.log" | head -n 20 | sed 's/^/    /'
			ok=0
			continue
		fi
		new=$(LC_ALL=C comm -13 "$CACHE/baseline-$bkey.keys" "$logs/w1-$i.log.keys")
		if [ -n "$new" ]; then
			record "bisect: $name" FAIL
			say "FAIL bisect: $name adds W=1/sparse/kernel-doc warnings:"
			grep -F -f <(printf '%s\n' "$new" | sed 's/^[^:]*: //') "$logs/w1-$i.log" | sort -u | head -n 30 | sed 's/^/    /'
			ok=0
			continue
		fi
		touch "$stamp"
		record "bisect: $name" PASS
		say "  ok   $name ($(elapsed "$t1"); W=1 C=2: ${cdirs[*]:-no kernel dirs}${kt:+; selftests: $kt})"
	done
	say "    bisect: $(elapsed "$t0")"
	[ $ok = 1 ]
}

gate_static() {
	local src=$TDIR/linux logs=$TDIR/logs
	step "(a) overlays and MAINTAINERS.fragment equal what export writes"
	local tmp r
	tmp=$(mktemp -d)
	export_to "$src" "$tmp"
	# Compare generated files only; the patches themselves were just applied.
	r=""
	local d
	for d in drivers-iommu drivers-vfio include-linux tools-testing-selftests Documentation; do
		if [ -d "$tmp/$d" ] || [ -d "$TOP/$d" ]; then
			r+=$(diff -r "$tmp/$d" "$TOP/$d" 2>&1 | head -n 20 || true)
		fi
	done
	r+=$(diff "$tmp/MAINTAINERS.fragment" "$TOP/MAINTAINERS.fragment" 2>&1 | head -n 20 || true)
	rm -rf "$tmp"
	if [ -n "$r" ]; then
		record "static: overlays and MAINTAINERS.fragment match the series" FAIL
		say "FAIL: overlay folders / MAINTAINERS.fragment differ from the series (run ./build.sh export):"
		printf '%s\n' "$r" | sed 's/^/    /'
	else
		record "static: overlays and MAINTAINERS.fragment match the series" PASS
		say "  ok   overlays and MAINTAINERS.fragment"
	fi

	step "(b) checkpatch.pl --strict on every patch"
	local ign cs p name out
	ign=$(checkpatch_ignore)
	cs=$(codespell_file)
	local key
	for p in $(series_patches); do
		name=$(basename "$p")
		# a patch that passed before with the same checker and ignore list
		key=$CACHE/checkpatch-ok-$( (cat "$p" "$CP_IGNORE" "$src/scripts/checkpatch.pl") | sha1sum | cut -c1-16)
		if [ -f "$key" ]; then
			record "checkpatch: $name" PASS
			say "  ok   $name (checked before: same patch)"
			continue
		fi
		out=$(cd "$src" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --show-types --no-summary \
			${cs:+--codespell --codespellfile "$cs"} ${ign:+--ignore "$ign"} "$p" 2>&1) || true
		if printf '%s' "$out" | grep -qE '^(ERROR|WARNING|CHECK):|^Traceback'; then
			record "checkpatch: $name" FAIL
			say "FAIL checkpatch: $name"
			printf '%s\n' "$out" | sed 's/^/    /' | head -n 40
		else
			touch "$key"
			record "checkpatch: $name" PASS
			say "  ok   $name"
		fi
	done
}

gate_qemu() {
	local src=$TDIR/linux out=$TDIR/out rdir=$TDIR/run logs=$TDIR/logs
	step "(d) tip kernel build (config: tinyconfig + test/kernel.config)"
	local t0; t0=$(now)
	if ! build_kernel "$src" "$out" "$logs/tip.log"; then
		record "build: tip kernel" FAIL
		grep -E 'error' "$logs/tip.log" | head -n 20
		return 1
	fi
	record "build: tip kernel" PASS
	[ -f "$out/.config.missing" ] && sed 's/^/    /' "$out/.config.missing"
	say "  ok   bzImage ($(elapsed "$t0"))"

	step "(e) kselftests (static, tree uapi headers) + initramfs"
	t0=$(now)
	rm -rf "$rdir"
	mkdir -p "$rdir"
	if ! build_ksft "$src" "$out" "$rdir/ksft" "$logs/ksft.log"; then
		record "build: kselftests" FAIL
		grep -E 'error|warning' "$logs/ksft.log" | head -n 20
		return 1
	fi
	record "build: kselftests" PASS
	make_initramfs "$rdir/ksft" "$rdir/initramfs.cpio"
	say "  ok   targets: $(ksft_targets "$src") ($(elapsed "$t0"))"

	step "(f) QEMU 7.2 TCG: q35 + intel-iommu, edu, edu+edu+e1000 behind a pcie-pci-bridge, e1000e"
	t0=$(now)
	run_qemu "$out/arch/x86/boot/bzImage" "$rdir/initramfs.cpio" "$rdir" test
	say "    QEMU ran $(elapsed "$t0") (logs: build/test/run/console.log, results.log)"
	if qemu_verdict "$rdir"; then
		record "qemu: clean power-off" PASS
	else
		record "qemu: clean power-off" FAIL
	fi

	step "(g) results"
	$PY "$TESTFILES/results.py" "$rdir" --records "$rdir/records.txt" || true
	if grep -q '^BENCH ' "$rdir/results.log"; then
		say "  benchmark (not a test):"
		sed -n 's/^BENCH /    /p' "$rdir/results.log"
	fi
	local n r
	while IFS=$'\t' read -r r n; do record "$n" "$r"; done <"$rdir/records.txt"
}

cmd_test() {
	local T0; T0=$(now)
	cmd_setup
	cmd_base
	[ -f "$TOP/series" ] || die "no series file"
	mkdir -p "$TDIR"
	local stage_ok=1 rc=0
	gate_apply_and_bisect || rc=$?
	[ $rc = 0 ] || stage_ok=0
	# A patch that does not apply stops the gate; a patch that does not
	# build does not: the tip may still build and the tests still tell.
	if [ $rc != 2 ]; then
		gate_static
		gate_qemu || true
	fi
	step "summary ($(elapsed "$T0"))"
	local i pass=0 fail=0 skip=0 suite
	declare -A SP SF SS
	for i in "${!R_NAME[@]}"; do
		suite=${R_NAME[$i]%%:*}
		case ${R_RES[$i]} in
		PASS) pass=$((pass + 1)); SP[$suite]=$((${SP[$suite]:-0} + 1)) ;;
		SKIP) skip=$((skip + 1)); SS[$suite]=$((${SS[$suite]:-0} + 1)) ;;
		*) fail=$((fail + 1)); SF[$suite]=$((${SF[$suite]:-0} + 1)); say "  FAILED: ${R_NAME[$i]}" ;;
		esac
	done
	while IFS= read -r suite; do
		printf '  %-44s %4d passed, %d failed, %d skipped\n' "$suite" \
			"${SP[$suite]:-0}" "${SF[$suite]:-0}" "${SS[$suite]:-0}"
	done < <(printf '%s\n' "${R_NAME[@]%%:*}" | awk '!seen[$0]++')
	[ $stage_ok = 1 ] || [ $fail -gt 0 ] || fail=1
	say "$pass passed, $fail failed, $skip skipped"
	[ $fail = 0 ]
}

cmd_all() {
	local t0; t0=$(now)
	cmd_setup
	cmd_base
	[ -d "$WORK/.git" ] || cmd_tree
	cmd_kernel
	cmd_demo
	say "done in $(elapsed "$t0")"
}

case ${1:-} in
"") cmd_all ;;
setup) cmd_setup ;;
base) cmd_base ;;
tree) cmd_tree ;;
export) cmd_export ;;
status) cmd_status ;;
kernel) cmd_kernel ;;
check) cmd_check ;;
demo) cmd_demo ;;
test) cmd_test ;;
help | -h | --help) usage ;;
*) usage >&2; exit 2 ;;
esac
