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
#   test/out-bisect/ O= directory of the bisect: every patch, W=1 C=1,
#                test/kernel.config
#   test/out/    O= directory of the tip's test kernel: a copy of
#                test/out-bisect (its bzImage)
#   test/out-noc/ O= directory of the second test kernel (VFIO_CONTAINER=n):
#                a copy of test/out with that option changed
#   test/out-mod/ O= directory of the modular configuration (tip only)
#   test/run/    initramfs, QEMU logs and parsed results of the last run
#                (run/nocontainer/: the second kernel's boot)
#   test/mails/  the mails b4 produces for the series (gate check)
#   warm/        "./build.sh" only: the base and the series' Kconfig-changing
#                commits, built to fill ccache for the gate's bisect
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
KOUT_USER=${KOUT:-}
KOUT=${KOUT:-$B/out}
CHECKDIR=${CHECKDIR:-$B/check}
DEMODIR=${DEMODIR:-$B/demo}
FUZZDIR=${FUZZDIR:-$B/fuzz}
TDIR=$B/test
CACHE=$B/cache
TESTFILES=$TOP/test
FRAGMENT=$TESTFILES/kernel.config
MOD_FRAGMENT=$TESTFILES/kernel-modules.config
NOC_FRAGMENT=$TESTFILES/kernel-nocontainer.config
KASAN_FRAGMENT=$TESTFILES/kernel-kasan.config
MANIFEST=$TESTFILES/expected-results
CP_IGNORE=$TESTFILES/checkpatch.ignore
# one job more than cores: a job is often waiting on I/O or on make itself
JOBS=${JOBS:-$(($(nproc) + 1))}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-3600}
ARCH=x86_64
export ARCH
export CCACHE_DIR=${CCACHE_DIR:-$B/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_NOHASHDIR=1 CCACHE_BASEDIR=${CCACHE_BASEDIR:-$B}
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
# python3-ply and python3-git: checkpatch's SPDX license check
# (scripts/spdxcheck.py) needs them, and is silently skipped without them.
# trinity and stress-ng run in the guest (test/init), with their libraries.
APT_PACKAGES="linux-source-6.1 qemu-system-x86 sparse coccinelle b4 quilt flex \
bison bc libelf-dev libssl-dev cpio busybox-static ccache codespell git \
git-email gcc make perl python3 python3-ply python3-git rsync xz-utils kmod \
trinity stress-ng"

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
           boot it in QEMU and run a short demonstration, then build the
           gate's modular configuration (build/out-modules) so that a
           first "test" reuses it, then "warm"
  warm     fill ccache for the gate's bisect: build the kernel of the base
           and of each patch of the series that changes a Kconfig file
           (build/warm/; the bisect's two near-complete builds)
  setup    install the Debian packages the project needs (needs root)
  base     unpack the pinned linux-source-6.1 as build/base (tag "base")
  tree     build/linux = base + git am of every patch in series
           (refuses to discard uncommitted or unexported work there)
  export   write build/linux's base..HEAD back as patches/, series, the
           overlay folders and MAINTAINERS.fragment
  status   say whether build/linux holds work the repo lacks
  kernel   build the test kernel from build/linux (incremental)
  check    build build/linux's kernel and run the QEMU tests on it (fast
           contributor loop; no static checks, no bisect), then the second
           kernel (VFIO_CONTAINER=n, in KOUT-nocontainer) and its boot
           (CHECK_RUNS="test nocontainer" by default; CHECK_RUNS=test leaves
           the second kernel out, CHECK_RUNS=nocontainer boots only it, with
           the initramfs of an earlier check)
  demo     boot the kernel built by "kernel" and run the demonstration
  fuzz [SECONDS] [SEED]
           soak outside the gate: build the test kernel with KASAN
           (test/kernel-kasan.config, build/out-kasan; KASAN=0: without,
           build/out) and boot it with harness=fuzz: the race tests, iommufd_fuzz for SECONDS (default
           3600; SEED default: the time), trinity and the memory-pressure
           run for a tenth of it each; judged by the manifest's "run fuzz"
           section, logs in build/fuzz/ (FUZZ_APPEND: more kernel
           parameters, e.g. fuzz_vfio=none)
  mails    the mails of the series with b4 0.12, offline, from build/linux:
           build/mails/patches (b4 prep -p) and build/mails/eml (b4 send
           -o: the final mails, To/Cc from get_maintainer.pl; nothing sent)
  test     the gate: apply, checkpatch, every patch builds (W=1, sparse),
           tip kernel, modular build, kselftests + KUnit in QEMU, guest
           log, b4 mails, all judged against test/expected-results; last
           line "N passed, N failed, N skipped"
  help     this text

Environment: KASAN=1 (kernel, check, demo: the test kernel with KASAN, in
build/out-kasan unless KOUT is set), JOBS (default: nproc + 1), QEMU_TIMEOUT (s, default 3600), CCACHE_BASEDIR
(default build/; a worktree of another checkout shares its ccache with
CCACHE_DIR=<that>/build/ccache CCACHE_BASEDIR=<that>/build),
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
	subj=$(printf '%s\n' "$desc" | sed -n '1,1p')
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
	[ -e "$WORK/.git" ] || die "no build/linux: run ./build.sh tree"
	local d
	d=$(work_dirty)
	[ -z "$d" ] || { say "$d"; die "build/linux has uncommitted changes: commit them first"; }
	export_to "$WORK" "$TOP"
	say "exported $(git -C "$WORK" rev-list --count base..HEAD) patches to patches/ and series"
	git -C "$TOP" status --short -- series patches MAINTAINERS.fragment \
		drivers-iommu drivers-vfio include-linux tools-testing-selftests Documentation | sed -n '1,40p'
}

# Print what build/linux has that the repo lacks; empty output = in sync.
status_report() {
	[ -e "$WORK/.git" ] || return 0
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
	if [ ! -e "$WORK/.git" ]; then
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

# The mails of the series with b4 0.12, offline.  In a sparse clone of $src
# at its HEAD (b4 needs a work tree; get_maintainer.pl only MAINTAINERS and
# the few top-level files and directories by which it recognises a kernel
# tree):
#  - "b4 prep -e base" with b4's default cover strategy ("commit": an empty
#    cover commit after base).  Not "branch-description": with it, 0.12
#    writes "base-commit: <base>~1";
#  - the cover letter's text: the series' description (b4 would otherwise
#    keep its EDITME template, and "send" refuses to run with it);
#  - "prep -c": To/Cc from scripts/get_maintainer.pl;
#  - "prep -p" (patches/) and "send -o" (eml/: the final mails).  In a
#    kernel tree without sendemail.smtpserver, send would pick kernel.org's
#    web endpoint, which refuses --no-sign even with -o: the SMTP path is
#    selected for this command only (nothing is sent with -o).
make_mails() {
	local src=$1 dst=$2 desc=$3 tree log
	tree=$dst/linux
	log=$dst/b4.log
	rm -rf "$dst"
	mkdir -p "$dst"
	printf '%s\n' "$desc" >"$dst/cover.txt"
	{
		git clone -q --shared --no-checkout "$src" "$tree" &&
		git -C "$tree" sparse-checkout set --no-cone /COPYING /CREDITS /Kbuild /Kconfig \
			/MAINTAINERS /Makefile /README /.mailmap /.get_maintainer.ignore \
			/scripts/get_maintainer.pl /Documentation/Makefile /arch/Kconfig \
			/include/linux/kernel.h /drivers/Makefile /fs/Makefile /init/Makefile \
			/ipc/Makefile /kernel/Makefile /lib/Makefile &&
		git -C "$tree" checkout -q -B series "$(git -C "$src" rev-parse HEAD)" &&
		git -C "$tree" tag -f base "$(git -C "$src" rev-parse base)" >/dev/null &&
		git -C "$tree" config user.name "$(git -C "$src" config user.name || echo build.sh)" &&
		git -C "$tree" config user.email "$(git -C "$src" config user.email || echo build.sh@localhost)" &&
		git -C "$tree" config core.editor "cp $dst/cover.txt" &&
		(
			cd "$tree" &&
			b4 --offline-mode prep -e base &&
			b4 --offline-mode prep --edit-cover &&
			b4 --offline-mode prep -c &&
			b4 --offline-mode prep -p "$dst/patches" &&
			GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=sendemail.smtpserver GIT_CONFIG_VALUE_0=localhost \
				b4 --offline-mode send -o "$dst/eml" --no-sign
		)
	} >"$log" 2>&1
}

cmd_mails() {
	[ -e "$WORK/.git" ] || die "no build/linux: run ./build.sh tree"
	local desc dst=$B/mails
	desc=$(git -C "$WORK" config branch.series.description 2>/dev/null || true)
	[ -n "$desc" ] || desc=$(cover_text_from_file)
	[ -n "$desc" ] || die "no cover letter: git branch --edit-description in build/linux"
	step "b4 0.12, offline: the mails of build/linux's base..HEAD"
	make_mails "$WORK" "$dst" "$desc" || { tail -n 20 "$dst/b4.log"; die "b4 failed (log: build/mails/b4.log)"; }
	$PY "$TESTFILES/results.py" mails "$dst" "$(git -C "$WORK" rev-parse base)" \
		"$(git -C "$WORK" rev-list --count base..HEAD)" --records /dev/null ||
		die "the mails are not right (build/mails/eml)"
	say "build/mails/patches: b4 prep -p; build/mails/eml: the mails (b4 send -o), To/Cc from get_maintainer.pl"
	say "to send them for real: cd build/mails/linux, configure git send-email (sendemail.*) and b4 send"
}

# ---------------------------------------------------------------------------
# kernel build

kmake() {
	local src=$1 out=$2
	shift 2
	make -C "$src" O="$out" ARCH=$ARCH -j"$JOBS" CC="ccache gcc" HOSTCC="ccache gcc" \
		KBUILD_BUILD_TIMESTAMP="2000-01-01" KBUILD_BUILD_USER=ci KBUILD_BUILD_HOST=ci "$@"
}

# (Re)generate $out/.config: tinyconfig + a fragment (default: the test
# kernel's).  Only when the fragment or any Kconfig file changed since the
# last time.  Options that did not survive are listed in .config.missing:
# only reported during the bisect (a commit may predate a symbol), required
# at the tip (results.py config).
kconfig() {
	local src=$1 out=$2 frag=${3:-$FRAGMENT} key
	# the fragment's settings (not its comments) and every Kconfig file
	key=$( (awk '/^CONFIG_/ || /^# CONFIG_[A-Za-z0-9_]+ is not set/' "$frag"
		git -C "$src" ls-files -s -- '*Kconfig*' 'arch/x86/configs/*' 'kernel/configs/*') | sha1sum | cut -c1-16)
	if [ -f "$out/.config" ] && [ "$(cat "$out/.config.key" 2>/dev/null)" = "$key" ]; then
		return 0
	fi
	mkdir -p "$out"
	rm -f "$out/.config.key"
	kmake "$src" "$out" -s tinyconfig >"$out/.config.merge.log" 2>&1 &&
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$frag" >>"$out/.config.merge.log" 2>&1 &&
	kmake "$src" "$out" -s olddefconfig >>"$out/.config.merge.log" 2>&1 || {
		echo "kconfig: tinyconfig + ${frag#"$TOP"/} failed (${out#"$TOP"/}/.config.merge.log)" >&2
		return 1
	}
	local sym missing=()
	while read -r sym; do
		grep -qx "$sym" "$out/.config" || missing+=("$sym")
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$frag")
	# an option the fragment turns off that something selects
	while read -r sym; do
		if grep -q "^$sym=" "$out/.config"; then
			missing+=("# $sym is not set")
		fi
	done < <(sed -nE 's/^# (CONFIG_[A-Za-z0-9_]+) is not set.*/\1/p' "$frag")
	if [ ${#missing[@]} -gt 0 ]; then
		printf 'kconfig: not set as requested (absent at this commit or unmet dependency): %s\n' "${missing[*]}" >"$out/.config.missing"
	else
		rm -f "$out/.config.missing"
	fi
	echo "$key" >"$out/.config.key"
}

build_kernel() {
	local src=$1 out=$2 log=$3 frag=${4:-$FRAGMENT}
	kconfig "$src" "$out" "$frag" 2>"$log" || return 1
	kmake "$src" "$out" bzImage >"$log" 2>&1
}

# A configuration derived from test/kernel.config: the fragment $2 on top,
# its options replacing the same options of kernel.config, written to
# $1/$3.config.  Same file content, same file: kconfig's key only changes
# with the settings.
#   nocontainer: the second test kernel (VFIO_CONTAINER=n,
#     IOMMUFD_VFIO_CONTAINER=y).  Same sources as the first kernel and
#     ccache: only what the two options change is compiled again.
#   kasan: test/kernel-kasan.config (KASAN=1, the soak).
# $4: the fragment to start from instead of test/kernel.config.
derived_fragment() {
	local out=$1 over=$2 name=$3 base=${4:-$FRAGMENT} syms
	mkdir -p "$out"
	syms=$(sed -nE 's/^(# )?(CONFIG_[A-Za-z0-9_]+)[= ].*/\2/p' "$over" | paste -sd'|' -)
	{
		grep -vE "^(# )?($syms)[= ]" "$base"
		cat "$over"
	} >"$out/$name.config.new"
	if cmp -s "$out/$name.config.new" "$out/$name.config"; then
		rm -f "$out/$name.config.new"
	else
		mv "$out/$name.config.new" "$out/$name.config"
	fi
	printf '%s' "$out/$name.config"
}

# The first kernel's fragment for KOUT-like directory $1: test/kernel.config,
# or with KASAN=1 test/kernel-kasan.config on top
test_fragment() {
	if [ "${KASAN:-0}" = 1 ]; then
		derived_fragment "$1" "$KASAN_FRAGMENT" kasan
	else
		printf '%s' "$FRAGMENT"
	fi
}
noc_fragment() { derived_fragment "$1" "$NOC_FRAGMENT" nocontainer "$(test_fragment "$1")"; }

cmd_kernel() {
	[ -e "$WORK/.git" ] || cmd_tree
	local t0; t0=$(now)
	local frag
	frag=$(test_fragment "$KOUT")
	step "building the test kernel from build/linux (${frag#"$TOP"/})"
	build_kernel "$WORK" "$KOUT" "$KOUT.log" "$frag" || { tail -n 40 "$KOUT.log"; die "kernel build failed (log: $KOUT.log)"; }
	[ -f "$KOUT/.config.missing" ] && cat "$KOUT/.config.missing"
	say "kernel: $KOUT/arch/x86/boot/bzImage ($(elapsed "$t0"))"
}

# The gate's modular configuration, built from build/linux beside KOUT
# (KOUT-modules): the same relative layout as the gate's test/linux and
# test/out-mod, so that the gate's build of an unchanged tree is ccache
# hits.  (The gate's two test kernels come from its bisect's output
# directory, built with W=1: nothing here fills ccache for them.)  Part of
# "./build.sh", not needed by anything else.
cmd_variants() {
	local t0 mout=$KOUT-modules; t0=$(now)
	step "building the modular configuration from build/linux"
	{ kconfig "$WORK" "$mout" "$MOD_FRAGMENT" 2>"$mout.log" &&
		kmake "$WORK" "$mout" vmlinux modules >"$mout.log" 2>&1; } ||
		{ tail -n 40 "$mout.log"; die "modular build failed (log: $mout.log)"; }
	say "variants: $mout ($(elapsed "$t0"))"
}

# The gate's bisect builds the kernel of every patch in test/linux, with W=1,
# in test/out-bisect (test/kernel.config).  Two of those builds
# compile nearly every file: the base's (its output directory starts empty)
# and the one that adds CONFIG_IOMMUFD (the base's include/linux/sched/user.h
# tests it, so every file including it depends on the option).  Here the
# same trees are built with the same configuration and flags, where the
# configuration changes: the base, then each patch that changes a Kconfig
# file, in build/warm/{linux,out-bisect} - laid out like
# test/{linux,out-bisect}, so that the gate's compiles of those trees are
# ccache direct hits (sparse is not cached: the gate runs it).  Nothing else
# reads build/warm; a failure here is only reported: the gate judges.
cmd_warm() {
	local src=$B/warm/linux out=$B/warm/out-bisect log=$B/warm.log t0 p key n=0
	t0=$(now)
	step "filling ccache for the gate's bisect: the base and each patch that changes Kconfig"
	rm -rf "$B/warm/out"
	[ -d "$src/.git" ] || new_tree "$src"
	git -C "$src" am --abort >/dev/null 2>&1 || true
	git -C "$src" checkout -q -f -B series base
	git -C "$src" clean -q -fdx
	: >"$log"
	if ! kconfig "$src" "$out" "$FRAGMENT" 2>>"$log" ||
	   ! kmake "$src" "$out" W=1 vmlinux >>"$log" 2>&1; then
		say "warm: the base does not build (log: $log)"
		return 0
	fi
	for p in $(series_patches); do
		if ! git -C "$src" am -q --keep-cr "$p" >>"$log" 2>&1; then
			say "warm: $(basename "$p") does not apply (log: $log)"
			return 0
		fi
		key=$(cat "$out/.config.key")
		if ! kconfig "$src" "$out" "$FRAGMENT" 2>>"$log"; then
			say "warm: $(basename "$p"): kconfig failed (log: $log)"
			return 0
		fi
		[ "$(cat "$out/.config.key")" != "$key" ] || continue
		n=$((n + 1))
		if ! kmake "$src" "$out" W=1 vmlinux >>"$log" 2>&1; then
			say "warm: $(basename "$p") does not build (log: $log)"
			return 0
		fi
	done
	say "warm: the base and $n patches built ($(elapsed "$t0"))"
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

# What a selftest build reads that make does not track: lib.mk knows each
# program's .c file and LOCAL_HDRS only, so a change to a Makefile (flags,
# libraries), to a header outside LOCAL_HDRS or to the uapi headers would
# leave an earlier binary in place.  ksft_fresh DIR SRC empties DIR when
# those inputs changed since DIR was built, and records them.
ksft_inputs() {
	(cd "$1" && git ls-files -z -- include/uapi arch/x86/include/uapi \
		tools/testing/selftests ':!:*.c' | xargs -0 sha1sum 2>&1 || true) |
		sha1sum | cut -c1-16
}
ksft_fresh() {
	local dir=$1 key
	key=$(ksft_inputs "$2")
	[ "$(cat "$dir/.inputs" 2>/dev/null)" = "$key" ] || rm -rf "$dir"
	mkdir -p "$dir"
	echo "$key" >"$dir/.inputs"
}

# Build the kselftests statically against the tree's uapi headers and
# install them in $inst.  6.1's selftests Makefile fails only when every
# target fails, so each target is built on its own first: the targets that
# fail are named in the log ("KSFT-TARGET-FAILED t") and the status is
# non-zero; the install then packs what did build, so that the other
# programs still run (the manifest check names the missing ones).
build_ksft() {
	local src=$1 out=$2 inst=$3 log=$4 targets t rc=0
	targets=$(ksft_targets "$src")
	rm -rf "$inst"
	mkdir -p "$inst"
	{
		kmake "$src" "$out" headers || rc=1
		for t in $targets; do
			ksft_fresh "$out/kselftest/$t" "$src"
			make -C "$src/tools/testing/selftests" O="$out" TARGETS="$t" \
				CC=gcc USERLDFLAGS=-static USERCFLAGS=-Werror -j"$JOBS" all ||
				{ echo "KSFT-TARGET-FAILED $t"; rc=1; }
		done
		if [ -n "$targets" ]; then
			make -C "$src/tools/testing/selftests" O="$out" TARGETS="$targets" \
				CC=gcc USERLDFLAGS=-static USERCFLAGS=-Werror \
				KSFT_INSTALL_PATH="$inst" -j"$JOBS" install || rc=1
		fi
	} >"$log" 2>&1
	# the demo program shares the edu helpers of the vfio selftest
	if [ -f "$src/tools/testing/selftests/vfio/edu.h" ]; then
		gcc -O2 -Wall -Werror -static -isystem "$out/usr/include" \
			-I "$src/tools/testing/selftests/vfio" -o "$inst/edu-demo" \
			"$TESTFILES/edu-demo.c" >>"$log" 2>&1 || rc=1
	fi
	# what it was built from, so that the gate can reuse the demo's build
	[ $rc != 0 ] || printf '%s %s\n' "$(git -C "$src" rev-parse HEAD^{tree})" "$(tool_key)" >"$inst/.built-from"
	return $rc
}

# Build some selftest targets (-Werror) without installing them.
build_ksft_targets() {
	local src=$1 out=$2 targets=$3 log=$4 t
	{
		kmake "$src" "$out" headers
		for t in $targets; do
			[ -f "$src/tools/testing/selftests/$t/Makefile" ] || continue
			ksft_fresh "$out/kselftest-bisect/$t" "$src"
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
		sort uniq date hexdump od perl mknod cmp diff kill; do
		ln -sf busybox "$root/bin/$a"
	done
	rm -f "$root/bin/perl"
	# Debian's trinity and stress-ng (test/init's hostile run) and the
	# shared libraries they load, loader included
	local prog lib
	for prog in /usr/bin/trinity /usr/bin/stress-ng; do
		[ -x "$prog" ] || continue
		mkdir -p "$root/usr/bin"
		cp "$prog" "$root/usr/bin/"
		for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
	cp "$TESTFILES/init" "$root/init"
	chmod 755 "$root/init"
	# runner.sh applies the "settings" timeouts only with a /usr/bin/timeout
	mkdir -p "$root/usr/bin"
	gcc -O2 -Wall -Werror -static -o "$root/usr/bin/timeout" "$TESTFILES/timeout.c" ||
		return 1
	cp -a "$inst/." "$root/ksft/"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$img"
}

# QEMU machine: q35 + intel-iommu; edu alone (00:03.0); e1000e with its
# kernel driver (00:04.0); a pcie-pci-bridge (00:05.0) with two edu and an
# e1000 behind it: one multi-device IOMMU group with a kernel-bound member.
# no_timer_check: on a loaded host, TCG can miss the few jiffies 6.1's
# check_timer() waits for, and with interrupt remapping on that check
# panics ("timer doesn't work through Interrupt-remapped IO-APIC") before
# anything of the series ran.
run_qemu() {
	local kernel=$1 initrd=$2 rdir=$3 mode=$4 extra=${5:-} rc
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
		-device pvpanic -action panic=exit-failure \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 intel_iommu=on iommu.strict=1 panic=-1 oops=panic watchdog_thresh=30 no_timer_check loglevel=7 harness=$mode${extra:+ $extra}" \
		-serial "file:$rdir/console.log" -serial "file:$rdir/results.log" \
		>"$rdir/qemu.log" 2>&1
	rc=$?
	set -e
	echo "$rc" >"$rdir/qemu.rc"
	return 0
}

# Explain how QEMU ended; non-zero if it was not a clean power-off.  The
# guest's pvpanic device makes a kernel panic QEMU's exit status 1
# (-action panic=exit-failure), so a panic fails even if the log is cut.
qemu_verdict() {
	local rdir=$1 rc
	rc=$(cat "$rdir/qemu.rc")
	case $rc in
	0) return 0 ;;
	124 | 137) say "QEMU CRASH: hard timeout (${QEMU_TIMEOUT}s) reached, guest killed" ;;
	134) say "QEMU CRASH: QEMU aborted (exit 134) - the edu device aborts on an out-of-range DMA:" ;;
	1)
		if grep -q 'Kernel panic' "$rdir/console.log" 2>/dev/null; then
			say "QEMU CRASH: the guest kernel panicked: $(grep -m1 -o 'Kernel panic.*' "$rdir/console.log" | tr -d '\r')"
		else
			say "QEMU CRASH: QEMU exited with status 1 (guest panic reported by pvpanic, or a QEMU error)"
		fi
		;;
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

# The soak of the hostile run (issue 11): the kernel of "kernel" and the
# gate's initramfs, harness=fuzz: the race tests, iommufd_fuzz for SECS,
# trinity and the memory-pressure run, kmemleak; judged like a gate boot
# against the manifest's "run fuzz" section.
cmd_fuzz() {
	local secs=${1:-3600} seed=${2:-$(date +%s)} rdir=$FUZZDIR t0 v rc=0
	case $secs$seed in *[!0-9]*) die "usage: ./build.sh fuzz [seconds] [seed]" ;; esac
	cmd_kernel
	mkdir -p "$rdir"
	: >"$rdir/records.tsv"
	build_ksft "$WORK" "$KOUT" "$rdir/ksft" "$rdir/ksft.log" || { tail -n 30 "$rdir/ksft.log"; die "kselftest build failed"; }
	make_initramfs "$rdir/ksft" "$rdir/initramfs.cpio" || die "initramfs failed"
	step "QEMU: harness=fuzz, iommufd_fuzz for $secs s, seed $seed"
	t0=$(now)
	QEMU_TIMEOUT=$((secs * 13 / 10 + 1800)) run_qemu "$KOUT/arch/x86/boot/bzImage" \
		"$rdir/initramfs.cpio" "$rdir" fuzz \
		"fuzz_seconds=$secs fuzz_seed=$seed kunit.enable=0 ${FUZZ_APPEND:-}"
	if v=$(qemu_verdict "$rdir"); then
		printf 'PASS\tcheck\tqemu: [fuzz] clean power-off\t\n' >>"$rdir/records.tsv"
	else
		printf '%s\n' "$v"
		printf 'FAIL\tcheck\tqemu: [fuzz] clean power-off\t%s\n' "$(printf '%s' "$v" | sed -n '1,1p')" >>"$rdir/records.tsv"
	fi
	$PY "$TESTFILES/results.py" qemu "$rdir" --run fuzz --records "$rdir/records.tsv" || true
	say "(QEMU: $(elapsed "$t0"); logs: ${rdir#"$TOP"/}/console.log, results.log)"
	grep -h 'FUZZ-STATS\|PINWATCH' "$rdir/results.log" | sed 's/^[# ]*/  /' || true
	step "summary (test/expected-results, run fuzz)"
	$PY "$TESTFILES/results.py" summary "$rdir/records.tsv" || rc=1
	return $rc
}

# The contributor loop: build/linux's kernel in QEMU, judged against
# test/expected-results like the gate's run (no static checks, no bisect).
cmd_check() {
	local runs=${CHECK_RUNS:-test nocontainer} rdir=$CHECKDIR rec t cfgs=() v t0
	mkdir -p "$rdir"
	rec=$rdir/records.tsv
	: >"$rec"
	case " $runs " in
	*" test "*)
		cmd_kernel
		build_ksft "$WORK" "$KOUT" "$rdir/ksft" "$rdir/ksft.log" || { tail -n 30 "$rdir/ksft.log"; die "kselftest build failed"; }
		make_initramfs "$rdir/ksft" "$rdir/initramfs.cpio" || die "initramfs failed"
		for t in $(ksft_targets "$WORK"); do
			[ -f "$WORK/tools/testing/selftests/$t/config" ] && cfgs+=("$WORK/tools/testing/selftests/$t/config")
		done
		$PY "$TESTFILES/results.py" config "$KOUT/.config" "test kernel" "$FRAGMENT" "${cfgs[@]}" --records "$rec" || true
		$PY "$TESTFILES/results.py" install "$rdir/ksft" --records "$rec" || true
		step "QEMU: kselftests + KUnit"
		t0=$(now)
		run_qemu "$KOUT/arch/x86/boot/bzImage" "$rdir/initramfs.cpio" "$rdir" test vfio_dev_vfio=legacy
		if v=$(qemu_verdict "$rdir"); then
			printf 'PASS\tcheck\tqemu: clean power-off\t\n' >>"$rec"
		else
			printf '%s\n' "$v"
			printf 'FAIL\tcheck\tqemu: clean power-off\t%s\n' "$(printf '%s' "$v" | sed -n '1,1p')" >>"$rec"
		fi
		$PY "$TESTFILES/results.py" qemu "$rdir" --records "$rec" || true
		say "(QEMU: $(elapsed "$t0"))"
		;;
	esac
	case " $runs " in
	*" nocontainer "*)
		local nout=$KOUT-nocontainer nrdir=$rdir/nocontainer frag
		[ -f "$rdir/initramfs.cpio" ] || die "no initramfs in $rdir: run a check with CHECK_RUNS=test first"
		step "the second kernel (test/kernel-nocontainer.config) in $nout"
		t0=$(now)
		frag=$(noc_fragment "$nout")
		mkdir -p "$nrdir"
		if build_kernel "$WORK" "$nout" "$nout.log" "$frag"; then
			$PY "$TESTFILES/results.py" config "$nout/.config" "nocontainer kernel" "$NOC_FRAGMENT" --records "$rec" || true
			say "(kernel: $(elapsed "$t0"))"
			step "QEMU: harness=nocontainer"
			t0=$(now)
			run_qemu "$nout/arch/x86/boot/bzImage" "$rdir/initramfs.cpio" "$nrdir" nocontainer \
				"vfio_dev_vfio=iommufd kunit.enable=0"
			if v=$(qemu_verdict "$nrdir"); then
				printf 'PASS\tcheck\tqemu: [nocontainer] clean power-off\t\n' >>"$rec"
			else
				printf '%s\n' "$v"
				printf 'FAIL\tcheck\tqemu: [nocontainer] clean power-off\t%s\n' "$(printf '%s' "$v" | sed -n '1,1p')" >>"$rec"
			fi
			$PY "$TESTFILES/results.py" qemu "$nrdir" --run nocontainer --records "$rec" || true
			say "(QEMU nocontainer: $(elapsed "$t0"))"
		else
			tail -n 40 "$nout.log"
			printf 'FAIL\tcheck\tbuild: nocontainer kernel\tlog: %s\n' "$nout.log" >>"$rec"
		fi
		;;
	esac
	step "summary (test/expected-results)"
	$PY "$TESTFILES/results.py" summary "$rec"
}

# ---------------------------------------------------------------------------
# the gate
#
# Every stage appends "RESULT<TAB>CLASS<TAB>NAME<TAB>NOTE" lines to
# $GATE_REC (gate checks; results.py adds the KUnit and kselftest cases as
# class "test") and its duration to $GATE_TIMES.  "results.py summary"
# judges them against test/expected-results and prints the last line.
# A result taken from build/cache/ says "cached" in its note.

GATE_REC=$TDIR/records.tsv
GATE_TIMES=$TDIR/times.tsv
record() {
	printf '%s\tcheck\t%s\t%s\n' "$2" "$1" "$(printf '%s' "${3:-}" | tr '\t\n' '  ')" >>"$GATE_REC"
}
stage_t0=0
stage_begin() { stage_t0=$(now); }
stage_end() { printf '%s\t%d\n' "$1" $(($(now) - stage_t0)) >>"$GATE_TIMES"; }

# results.py SUBCOMMAND ARGS...: its records join the gate's.  A crash of
# results.py (no "#END" line) fails the gate instead of hiding its verdict.
results_py() {
	local what=$1 tmp rc=0
	shift
	tmp=$(mktemp)
	$PY "$TESTFILES/results.py" "$@" --manifest "$MANIFEST" --records "$tmp" || rc=$?
	if [ "$(tail -n1 "$tmp" 2>/dev/null)" != "#END" ]; then
		record "$what: results.py $1" FAIL "results.py crashed (exit $rc): no verdict"
		say "FAIL $what: results.py $1 crashed (exit $rc)"
	fi
	grep -v '^#END$' "$tmp" >>"$GATE_REC" || true
	rm -f "$tmp"
	[ $rc = 0 ]
}

# What a cached verdict depends on besides its own inputs: this script,
# the compiler, sparse, checkpatch's helpers.
tool_key() {
	{
		cat "$TOP/build.sh"
		gcc --version
		sparse --version 2>&1
		codespell --version 2>&1
		perl -e 'print "$^V\n"'
		dpkg-query -W -f='${Package} ${Version}\n' python3-ply python3-git b4 2>/dev/null
	} 2>&1 | sha1sum | cut -c1-16 || true
}

# The per-patch build: vmlinux with W=1 C=1 in test/out-bisect, and the
# W=1 / sparse / kernel-doc warnings of the series' directories.  One build
# per patch: the bisect's kernel is only ever built with W=1, so nothing is
# compiled twice.  C=1: sparse runs on what make recompiles, i.e. every file
# whose source or headers changed since it was last built.  A file not
# recompiled has the inputs it had when it was last checked, so its warnings
# are the ones recorded then: each object's warning keys are kept in
# .warnings/ next to its object (make's output is grouped per target,
# -Otarget), replaced when it is rebuilt, and the union over the directories
# is what is compared with the base.  An object of those directories whose
# record is missing or older than the object (an interrupted run, or one
# whose tools differed: the baseline drops the records) is removed and
# rebuilt.
# Sparse itself runs only on the sources of those directories (CHECK is a
# filter in front of it): a patch that changes a widely included header
# recompiles most of the kernel, and sparse on all of it took longer than
# the compile.
# Usage: w1_check SRC OUT LOG DIR...
w1_check() {
	local src=$1 out=$2 log=$3 stale chk=$TDIR/sparse-in-dirs
	shift 3
	cat >"$chk.tmp" <<'EOS'
#!/bin/sh
# sparse on the sources under $SPARSE_DIRS (relative to $SPARSE_SRC) only
for f; do :; done
for d in $SPARSE_DIRS; do
	case $f in "$SPARSE_SRC/$d"*) exec sparse "$@" ;; esac
done
exit 0
EOS
	chmod +x "$chk.tmp"
	mv "$chk.tmp" "$chk"
	export SPARSE_SRC=$src SPARSE_DIRS="$*"
	kmake "$src" "$out" -Otarget W=1 C=1 CHECK="$chk" vmlinux >"$log" 2>&1 || return 1
	stale=$($PY - record "$src" "$out" "$log" "$@" <<<"$W1_PY") || return 1
	if [ -n "$stale" ]; then
		# shellcheck disable=SC2086
		(cd "$out" && rm -f $stale)
		kmake "$src" "$out" -Otarget W=1 C=1 CHECK="$chk" vmlinux >>"$log" 2>&1 || return 1
		stale=$($PY - record "$src" "$out" "$log" "$@" <<<"$W1_PY") || return 1
		if [ -n "$stale" ]; then
			echo "error: no warnings record for $stale after rebuilding it" >>"$log"
			return 1
		fi
	fi
	# (the caller runs with set -e off: a crash here must fail the check)
	$PY - union "$src" "$out" "$log" "$@" <<<"$W1_PY" >"$log.keys.tmp" || return 1
	LC_ALL=C sort "$log.keys.tmp" >"$log.keys" || return 1
	rm -f "$log.keys.tmp"
}

W1_PY=$(cat <<'EOF'
import os, re, sys
mode, src, out, log = sys.argv[1:5]
dirs = [d.rstrip("/") + "/" for d in sys.argv[5:]]
store = os.path.join(out, ".warnings")
rsrc = os.path.realpath(src)
WARN = re.compile(r"^([^ :]+):[0-9]+(?::[0-9]+)?: (warning|error): (.*)$")
HDR = re.compile(r"^  ([A-Z][A-Z0-9_]*(?: \[M\])?)\s+(\S+)$")

def key(line):
    m = WARN.match(line)
    if not m:
        return None
    f = m.group(1)
    for p in (src + "/", rsrc + "/"):
        if f.startswith(p):
            f = f[len(p):]
    return f"{f}: {m.group(2)}: {m.group(3)}"

def rec_path(obj):
    return os.path.join(store, obj + ".keys")

if mode == "record":
    cur, blocks = None, {}
    for line in open(log, errors="replace"):
        line = line.rstrip("\n")
        m = HDR.match(line)
        if m:
            obj = m.group(2)
            if m.group(1) == "CC" and obj.endswith(".o") and \
                    any(obj.startswith(d) for d in dirs):
                cur = obj
                blocks[cur] = []
            elif m.group(1) != "CHECK":
                cur = None
            continue
        if cur is not None:
            k = key(line)
            if k:
                blocks[cur].append(k)
    for obj, keys in blocks.items():
        path = os.path.join(out, obj)
        if not os.path.exists(path):
            continue
        os.makedirs(os.path.dirname(rec_path(obj)), exist_ok=True)
        with open(rec_path(obj), "w") as f:
            f.write(f"{os.stat(path).st_mtime_ns}\n")
            f.writelines(k + "\n" for k in sorted(keys))
    # objects of the directories without an up-to-date record
    stale = []
    for d in dirs:
        for root, _, files in os.walk(os.path.join(out, d)):
            for n in files:
                if not n.endswith(".o") or n.endswith(".mod.o"):
                    continue
                obj = os.path.relpath(os.path.join(root, n), out)
                base = obj[:-2]
                if not any(os.path.exists(os.path.join(src, base + e)) for e in (".c", ".S")):
                    continue
                try:
                    first = open(rec_path(obj)).readline().strip()
                except OSError:
                    first = ""
                if first != str(os.stat(os.path.join(out, obj)).st_mtime_ns):
                    stale.append(obj)
    print(" ".join(stale))
else:
    # a multiset: a second identical warning in a file is a new warning
    keys = []
    for d in dirs:
        for root, _, files in os.walk(os.path.join(store, d)):
            for n in files:
                obj = os.path.relpath(os.path.join(root, n), store)[:-len(".keys")]
                base = obj[:-2]
                if not os.path.exists(os.path.join(out, obj)):
                    continue
                if not any(os.path.exists(os.path.join(src, base + e)) for e in (".c", ".S")):
                    continue
                keys.extend(l.rstrip("\n") for l in list(open(os.path.join(root, n)))[1:])
    for k in sorted(keys):
        print(k)
EOF
)

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

# First error lines of a build log, for a FAIL note.
first_errors() {
	grep -E '(error:|undefined reference|multiple definition|ERROR: modpost|fixdep: error|^kconfig: )' "$1" |
		grep -v '^make\(\[[0-9]*\]\)\?: \*\*\*' | sed -n "1,${2:-3}p" |
		sed -E "s|$TDIR/linux/||g" | tr '\n' ' ' || true
}

# git am rewrites every file of the series, so a run with nothing new would
# still recompile them all and relink the kernels.  After an output
# directory has been built from the tip (test/out by the tip build,
# test/out-bisect by a bisect that built every patch), the series' files are
# listed with their blob and mtime in a record of that directory
# (built-files, built-files-bisect).  In the next run, before that directory
# is built again, the files that have the same content again get that mtime
# back: make rebuilds only what changed since.  The bisect's record is used
# once: its directory then moves through the patches.
record_built_files() {
	local src=$1 rec=$2 f
	git -C "$src" diff --name-only base HEAD | while read -r f; do
		[ -f "$src/$f" ] || continue
		printf '%s %s %s\n' "$(git -C "$src" rev-parse "HEAD:$f")" "$(stat -c %Y "$src/$f")" "$f"
	done >"$rec.tmp"
	mv "$rec.tmp" "$rec"
}

restore_mtimes() {
	local src=$1 rec=$2 blob t f n=0
	[ -f "$rec" ] || return 0
	while read -r blob t f; do
		[ "$(git -C "$src" rev-parse -q --verify "HEAD:$f" 2>/dev/null)" = "$blob" ] || continue
		touch -m -d "@$t" "$src/$f"
		n=$((n + 1))
	done <"$rec"
	say "    $n files of the series unchanged since $(basename "$rec") was written keep their mtime"
}

gate_apply_and_bisect() {
	local src=$TDIR/linux out=$TDIR/out-bisect logs=$TDIR/logs frag
	mkdir -p "$logs" "$CACHE"
	rm -f "$logs"/*
	rm -rf "$TDIR/out-w1"
	step "(a) series applies with git am on a fresh base"
	stage_begin
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
		[ -f "$p" ] || { record "apply: $(basename "$p")" FAIL "series names a missing patch"; say "FAIL: series names a missing patch $(basename "$p")"; return 2; }
	done
	# Directories the whole series touches: every patch's warnings there
	# are compared with the base's
	local all_files=() dirs=()
	mapfile -t all_files < <(cat "${patches[@]}" /dev/null | sed -n 's|^diff --git a/\([^ ]*\) b/.*|\1|p' | sort -u)
	mapfile -t dirs < <(check_dirs "$src" "${all_files[@]}")
	local edirs=() d
	for d in "${dirs[@]}"; do [ -d "$src/$d" ] && edirs+=("$d"); done
	local cfgkey bkey
	kconfig "$src" "$out" "$FRAGMENT" || die "the base's configuration failed (tinyconfig + test/kernel.config)"
	cfgkey=$(cat "$out/.config.key")
	bkey=$(printf '%s %s %s %s' "$(base_sha)" "$cfgkey" "${dirs[*]}" "$TOOLKEY" | sha1sum | cut -c1-16)
	if [ ! -f "$CACHE/baseline-$bkey.keys" ]; then
		# the base's kernel, W=1 C=1 (sparse on those directories
		# only); objects of those directories built before without a
		# record of this run's tools are compiled again (w1_check)
		say "    baseline: the base's kernel (W=1), W=1 C=1 warnings in: ${dirs[*]:-(none)}"
		rm -f "$TDIR/built-files-bisect"
		for d in "${edirs[@]}"; do rm -rf "${out:?}/.warnings/$d"; done
		if ! w1_check "$src" "$out" "$logs/baseline.log" "${edirs[@]}"; then
			tail -n 30 "$logs/baseline.log"
			die "the base does not build"
		fi
		cp "$logs/baseline.log.keys" "$CACHE/baseline-$bkey.keys.tmp"
		mv "$CACHE/baseline-$bkey.keys.tmp" "$CACHE/baseline-$bkey.keys"
	fi
	say "    base: $(wc -l <"$CACHE/baseline-$bkey.keys") pre-existing W=1/sparse warnings in the checked directories"
	stage_end "apply, baseline"

	step "(c) every patch builds on its own (W=1 C=1, test/kernel.config), no new W=1 / sparse / kernel-doc warnings"
	stage_begin
	local i=0 name tree stamp files new ok=1 note built=0 prev_ok=0 kfiles
	for p in "${patches[@]}"; do
		i=$((i + 1))
		name=$(basename "$p")
		if ! git -C "$src" am -q --keep-cr "$p" >"$logs/am-$i.log" 2>&1; then
			record "apply: series applies with git am" FAIL "$name does not apply"
			say "FAIL apply: $name does not apply:"
			sed 's/^/    /' "$logs/am-$i.log" | sed -n '1,20p'
			return 2
		fi
		tree=$(git -C "$src" rev-parse HEAD^{tree})
		stamp=$CACHE/bisect-ok-$(printf '%s %s %s' "$tree" "$cfgkey" "$TOOLKEY" | sha1sum | cut -c1-16)
		if [ -f "$stamp" ]; then
			record "bisect: $name" PASS "cached: same tree, config and tools"
			say "  ok   $name (cached: verified before with the same tree, config and tools)"
			prev_ok=1
			continue
		fi
		local t1 kernel=built
		t1=$(now)
		mapfile -t files < <(git -C "$src" diff --name-only HEAD~1 HEAD)
		# Files the kernel build never reads: a patch that changes only
		# those builds the kernel its parent built, verified just before
		kfiles=$(printf '%s\n' "${files[@]}" |
			awk '/Kconfig/ || !/^(Documentation\/|tools\/testing\/selftests\/|MAINTAINERS$)/')
		if [ $prev_ok = 1 ] && [ -z "$kfiles" ]; then
			kernel="same kernel as its parent"
		else
			if [ $built = 0 ]; then
				# test/out-bisect still holds the last tip: files
				# with the content they had then get their mtime back
				restore_mtimes "$src" "$TDIR/built-files-bisect"
				rm -f "$TDIR/built-files-bisect"
				built=1
			fi
			# vmlinux, not bzImage: compressing it checks nothing
			# a patch can break; the tip builds the bzImage it boots
			if ! kconfig "$src" "$out" "$FRAGMENT" 2>"$logs/build-$i.log" ||
			   ! w1_check "$src" "$out" "$logs/build-$i.log" "${edirs[@]}"; then
				note=$(first_errors "$logs/build-$i.log")
				record "bisect: $name" FAIL "does not build (W=1 C=1): $note"
				say "FAIL bisect: $name does not build:"
				grep -E 'error|Error' "$logs/build-$i.log" | sed -n '1,20p' | sed 's/^/    /'
				ok=0
				prev_ok=0
				continue
			fi
			new=$(LC_ALL=C comm -13 "$CACHE/baseline-$bkey.keys" "$logs/build-$i.log.keys")
			if [ -n "$new" ]; then
				record "bisect: $name" FAIL "adds W=1/sparse/kernel-doc warnings: $(printf '%s\n' "$new" | sed -n '1,3p' | tr '\n' ' ')"
				say "FAIL bisect: $name adds W=1/sparse/kernel-doc warnings:"
				printf '%s\n' "$new" | sed -n '1,30p' | sed 's/^/    /'
				ok=0
				prev_ok=0
				continue
			fi
		fi
		prev_ok=0
		local kt
		kt=$(printf '%s\n' "${files[@]}" | sed -n 's|^tools/testing/selftests/\([^/]*\)/.*|\1|p' | sort -u | paste -sd' ' -)
		if [ -n "$kt" ] && ! build_ksft_targets "$src" "$out" "$kt" "$logs/ksft-$i.log"; then
			note=$(grep -E 'error|warning' "$logs/ksft-$i.log" | sed -n '1,2p' | tr '\n' ' ' || true)
			record "bisect: $name" FAIL "selftests ($kt) do not build with -Werror: $note"
			say "FAIL bisect: $name: selftests ($kt) do not build with -Werror:"
			grep -E 'error|warning' "$logs/ksft-$i.log" | sed -n '1,20p' | sed 's/^/    /'
			ok=0
			continue
		fi
		touch "$stamp"
		prev_ok=1
		record "bisect: $name" PASS
		say "  ok   $name ($(elapsed "$t1"); kernel: $kernel${kt:+; selftests: $kt})"
	done
	record "apply: series applies with git am" PASS "${#patches[@]} patches"
	# test/out-bisect now holds the tip (or is as the last run left it)
	[ $ok = 0 ] || [ $built = 0 ] || record_built_files "$src" "$TDIR/built-files-bisect"
	BISECT_BUILT=$built
	stage_end "bisect"
	[ $ok = 1 ]
}

# checkpatch.pl on every patch not in the cache, $1 at a time, in the base
# tree (the series changes nothing checkpatch reads there; the base tree
# does not move while the bisect applies patches).  Results land in
# $TDIR/checkpatch/NAME.{key,out,err,rc}; gate_static judges them in series
# order.  A patch already done (its .rc exists) is skipped.
checkpatch_pool() {
	local jobs=$1 cpd=$TDIR/checkpatch p name key ign cs n=0
	ign=$(checkpatch_ignore)
	cs=$(codespell_file)
	mkdir -p "$cpd"
	for p in $(series_patches); do
		name=$(basename "$p")
		key=$CACHE/checkpatch-ok-$( (cat "$p" "$CP_IGNORE" "$BASEDIR/scripts/checkpatch.pl" \
			"$BASEDIR/scripts/spelling.txt" "$BASEDIR/scripts/spdxcheck.py"; echo "$TOOLKEY") |
			sha1sum | cut -c1-16)
		echo "$key" >"$cpd/$name.key"
		[ -f "$key" ] || [ -f "$cpd/$name.rc" ] && continue
		if [ $n -ge "$jobs" ]; then
			wait -n || true
			n=$((n - 1))
		fi
		# /usr/bin first: scripts/spdxcheck.py needs the python3 that has
		# python3-ply and python3-git (not a python3 of a virtualenv)
		(
			rc=0
			cd "$BASEDIR" && PATH=/usr/bin:/bin:$PATH perl scripts/checkpatch.pl --strict --show-types --no-summary \
				${cs:+--codespell --codespellfile "$cs"} ${ign:+--ignore "$ign"} "$p" \
				>"$cpd/$name.out" 2>"$cpd/$name.err" || rc=$?
			echo "$rc" >"$cpd/$name.rc.tmp" && mv "$cpd/$name.rc.tmp" "$cpd/$name.rc"
		) &
		n=$((n + 1))
	done
	wait
}

# One checkpatch at a time, niced, in the background while the bisect
# builds: its links and sparse runs leave a core idle most of the time.
checkpatch_start() {
	rm -rf "$TDIR/checkpatch"
	mkdir -p "$TDIR/checkpatch"
	(
		renice -n 10 -p $BASHPID >/dev/null 2>&1 || true
		checkpatch_pool 1
	) </dev/null &
	CP_PID=$!
}

gate_static() {
	local src=$TDIR/linux
	step "(a) overlays and MAINTAINERS.fragment equal what export writes"
	stage_begin
	local tmp r
	tmp=$(mktemp -d)
	export_to "$src" "$tmp"
	# Compare generated files only; the patches themselves were just applied.
	r=""
	local d
	for d in drivers-iommu drivers-vfio include-linux tools-testing-selftests Documentation; do
		if [ -d "$tmp/$d" ] || [ -d "$TOP/$d" ]; then
			r+=$(diff -r "$tmp/$d" "$TOP/$d" 2>&1 | sed -n '1,20p' || true)
		fi
	done
	r+=$(diff "$tmp/MAINTAINERS.fragment" "$TOP/MAINTAINERS.fragment" 2>&1 | sed -n '1,20p' || true)
	rm -rf "$tmp"
	if [ -n "$r" ]; then
		record "static: overlays and MAINTAINERS.fragment match the series" FAIL "they differ from the series: run ./build.sh export"
		say "FAIL: overlay folders / MAINTAINERS.fragment differ from the series (run ./build.sh export):"
		printf '%s\n' "$r" | sed 's/^/    /'
	else
		record "static: overlays and MAINTAINERS.fragment match the series" PASS
		say "  ok   overlays and MAINTAINERS.fragment"
	fi

	step "(b) checkpatch.pl --strict on every patch"
	local p name out rc err key cpd=$TDIR/checkpatch
	# started beside the bisect (checkpatch_start); what it left to do
	# (it stopped early, or never ran) is done now
	[ -z "${CP_PID:-}" ] || wait "$CP_PID" || true
	CP_PID=
	checkpatch_pool "$JOBS"
	for p in $(series_patches); do
		name=$(basename "$p")
		key=$(cat "$cpd/$name.key")
		if [ -f "$key" ]; then
			record "checkpatch: $name" PASS "cached: same patch, checker, ignore list and tools"
			say "  ok   $name (cached: same patch, checker, ignore list and tools)"
			continue
		fi
		out=$(cat "$cpd/$name.out" 2>/dev/null || true)
		rc=$(cat "$cpd/$name.rc" 2>/dev/null || echo "none")
		err=$(grep -v '^perl: warning:\|^[[:space:]]*LC_\|^[[:space:]]*LANG\|are supported and installed on your system' "$cpd/$name.err" 2>/dev/null || true)
		if grep -qE '^(ERROR|WARNING|CHECK):' <<<"$out"; then
			record "checkpatch: $name" FAIL "$(printf '%s' "$out" | grep -oE '^(ERROR|WARNING|CHECK):[A-Z_]+' | sort | uniq -c | tr '\n' ' ')"
			say "FAIL checkpatch: $name"
			printf '%s\n' "$out" | sed 's/^/    /' | sed -n '1,40p'
		elif [ "$rc" != 0 ] || [ -n "$err" ]; then
			# no report, but checkpatch or one of its helpers failed
			record "checkpatch: $name" FAIL "checkpatch.pl itself failed (exit $rc): $(printf '%s' "$err" | tail -n 2 | tr '\n' ' ')"
			say "FAIL checkpatch: $name: checkpatch.pl itself failed (exit $rc):"
			printf '%s\n' "$err" | tail -n 15 | sed 's/^/    /'
		else
			touch "$key"
			record "checkpatch: $name" PASS
			say "  ok   $name"
		fi
	done
	stage_end "checkpatch, static"
}

# The b4 check: "./build.sh mails" run on the gate's tree, then the mails
# looked at (one per patch plus the cover, subjects in series order, the
# cover letter's text and no b4 template left, base-commit, To:).
gate_mails() {
	local src=$TDIR/linux dst=$TDIR/mails key desc n
	step "(h) b4 0.12 makes the mails (prep -e, cover letter, prep -c, prep -p, send -o)"
	stage_begin
	desc=$(cover_text_from_file)
	n=$(series_patches | wc -l)
	key=$CACHE/mails-ok-$( (git -C "$src" rev-parse HEAD^{tree} base; printf '%s\n' "$desc" "$TOOLKEY") | sha1sum | cut -c1-16)
	if [ -f "$key" ]; then
		record "mails: b4 prep -p and send -o write the series' $((n + 1)) mails" PASS "cached: same tree, cover letter and tools"
		say "  ok   mails (cached: same tree, cover letter and tools)"
	elif [ -z "$desc" ]; then
		record "mails: b4 prep -p and send -o write the series' $((n + 1)) mails" FAIL "no cover letter (patches/0000-cover-letter.patch)"
	elif ! make_mails "$src" "$dst" "$desc"; then
		record "mails: b4 prep -p and send -o write the series' $((n + 1)) mails" FAIL "b4 failed: $(tail -n 2 "$dst/b4.log" | tr '\n' ' ')"
		say "FAIL mails: b4 failed (build/test/mails/b4.log):"
		tail -n 15 "$dst/b4.log" 2>/dev/null | sed 's/^/    /'
	elif results_py mails mails "$dst" "$(base_sha)" "$n"; then
		touch "$key"
		say "  ok   $(ls "$dst/eml" | wc -l) mails in build/test/mails/eml"
	fi
	stage_end "b4 mails"
}

# seed_outdir FROM TO: TO becomes a copy of the output directory FROM (its
# objects with their mtimes, its .config), unless TO is already a copy of
# FROM's current build (FROM/.built-id, written after each build of FROM).
# What TO's configuration changes is then all make compiles there: the
# tip's kernel is the bisect's last build (same configuration: only the
# bzImage is new), the second kernel is the tip's with VFIO_CONTAINER off.
# Every gate build uses W=1: kbuild compiles an object again when its
# command line changed.  The selftests' output directories stay where they
# are.
seed_outdir() {
	local from=$1 to=$2 id
	id=$(cat "$from/.built-id" 2>/dev/null || true)
	if [ -n "$id" ] && [ -f "$to/.config" ] && [ "$(cat "$to/.seeded-from" 2>/dev/null)" = "$id" ]; then
		return 0
	fi
	[ -d "$from" ] || return 0
	rm -f "$to/.seeded-from" "$to/.built-id"
	mkdir -p "$to"
	rsync -a --delete --exclude=/.warnings --exclude=/.seeded-from --exclude=/.built-id \
		--exclude=/kselftest/ --exclude=/kselftest-bisect/ "$from/" "$to/" || return 1
	# objtool's build (tools/) names its output directory in its command
	# files, absolute and relative to the source: in a copy they would
	# differ, objtool would be built again, and every object depends on
	# it.  The copy's command files name the copy (FROM and TO are both
	# in build/test).
	local fb tb
	fb=$(basename "$from")
	tb=$(basename "$to")
	if [ -d "$to/tools" ]; then
		find "$to/tools" \( -name '.*.cmd' -o -name '.*.d' \) -print0 |
			xargs -0 -r sed -i -e "s|$TDIR/$fb/|$TDIR/$tb/|g" -e "s|\.\./$fb/|../$tb/|g" || return 1
	fi
	printf '%s\n' "$id" >"$to/.seeded-from"
	say "    ${to#"$TOP"/}: a copy of ${from#"$TOP"/}"
}

gate_tip() {
	local src=$TDIR/linux out=$TDIR/out logs=$TDIR/logs
	step "(d) tip kernel build (config: tinyconfig + test/kernel.config; from the bisect's last build)"
	stage_begin
	rm -f "$out/.built-id"
	local seeded=1
	if [ "$BISECT_BUILT" = 1 ] || [ ! -f "$out/.config" ]; then
		# the bisect's output directory holds the tip (or the last
		# patch it built: make takes it from there), this run's
		# sources with its objects
		printf 'bisect %s\n' "$(now)" >"$TDIR/out-bisect/.built-id"
		seed_outdir "$TDIR/out-bisect" "$out" || seeded=0
	else
		restore_mtimes "$src" "$TDIR/built-files"
	fi
	# test/out no longer is what the record describes (a copy, or a build
	# that may stop half way): written again after the build
	rm -f "$TDIR/built-files"
	if [ $seeded = 0 ] || ! kconfig "$src" "$out" "$FRAGMENT" 2>"$logs/tip.log" ||
	   ! kmake "$src" "$out" W=1 bzImage >>"$logs/tip.log" 2>&1; then
		record "build: tip kernel" FAIL "does not build: $(first_errors "$logs/tip.log")"
		grep -E 'error' "$logs/tip.log" | sed -n '1,20p'
		stage_end "tip kernel"
		return 1
	fi
	# what test/out holds: the tree, the configuration and the copy of
	# the bisect's directory it started from
	printf 'tip %s %s %s\n' "$(git -C "$src" rev-parse HEAD^{tree})" "$(cat "$out/.config.key")" \
		"$(cat "$out/.seeded-from" 2>/dev/null)" >"$out/.built-id"
	record "build: tip kernel" PASS
	record_built_files "$src" "$TDIR/built-files"
	say "  ok   bzImage ($(grep -cE '^  CC ' "$logs/tip.log" || true) files compiled)"
	# every option asked for, and every option the selftests ask for
	local t cfgs=()
	for t in $(ksft_targets "$src"); do
		[ -f "$src/tools/testing/selftests/$t/config" ] && cfgs+=("$src/tools/testing/selftests/$t/config")
	done
	results_py config config "$out/.config" "test kernel" "$FRAGMENT" "${cfgs[@]}" || true
	stage_end "tip kernel"
}

# The modular configuration, compile-only: vmlinux and modules at the tip.
gate_modules() {
	local src=$TDIR/linux out=$TDIR/out-mod log=$TDIR/logs/modules.log
	local name="build: modular configuration (test/kernel-modules.config): vmlinux and modules"
	step "(d') modular configuration at the tip: tinyconfig + test/kernel-modules.config, vmlinux + modules"
	stage_begin
	: >"$log"
	kconfig "$src" "$out" "$MOD_FRAGMENT" 2>>"$log" &&
		results_py config config "$out/.config" "modular kernel" "$MOD_FRAGMENT" || true
	if [ -f "$out/.config.key" ] && kmake "$src" "$out" vmlinux modules >>"$log" 2>&1; then
		record "$name" PASS
		say "  ok   vmlinux and $(find "$out" -name '*.ko' | wc -l) modules"
	else
		local what und mp
		und=$(grep -oE "undefined reference to \`[^']+'" "$log" | sed -E "s/.*\`([^']+)'/\1/" | sort -u | sed -n '1,8p' | paste -sd' ' - || true)
		mp=$(grep -oE 'ERROR: modpost: "[^"]+" \[[^]]+\] undefined' "$log" | sed -E 's/ERROR: modpost: "([^"]+)" \[([^]]+)\].*/\1 (\2)/' | sort -u | sed -n '1,8p' | paste -sd',' - || true)
		if [ -n "$und" ]; then
			what="vmlinux does not link: undefined reference to $und (in $(grep -oE '[^ :]+\.o: in function' "$log" | sed 's/: in function//' | sort -u | sed "s|$TDIR/linux/||" | paste -sd' ' - || true))"
		elif [ -n "$mp" ]; then
			what="modpost: undefined symbols: $mp"
		else
			what="does not build: $(first_errors "$log")"
		fi
		record "$name" FAIL "$what"
		say "FAIL $name: $what"
		grep -E 'error|undefined|ERROR' "$log" | sed -n '1,20p' | sed 's/^/    /'
	fi
	stage_end "modular config"
}

gate_ksft() {
	local src=$TDIR/linux out=$TDIR/out rdir=$TDIR/run logs=$TDIR/logs
	step "(e) kselftests (static, tree uapi headers) + initramfs"
	stage_begin
	rm -rf "$rdir"
	mkdir -p "$rdir"
	local demo=$B/demo/ksft
	if [ "$(cat "$demo/.built-from" 2>/dev/null)" = "$(git -C "$src" rev-parse HEAD^{tree}) $TOOLKEY" ]; then
		# "./build.sh" built them from the same tree with the same tools
		cp -a "$demo" "$rdir/ksft"
		record "build: kselftests (static, -Werror, every target)" PASS "cached: reused build/demo/ksft, same tree and tools"
		say "  ok   kselftests reused from build/demo/ksft (same tree and tools)"
	elif ! build_ksft "$src" "$out" "$rdir/ksft" "$logs/ksft.log"; then
		local failed
		failed=$(sed -n 's/^KSFT-TARGET-FAILED //p' "$logs/ksft.log" | paste -sd' ' -)
		record "build: kselftests (static, -Werror, every target)" FAIL \
			"${failed:+target(s) $failed: }$(grep -E '(error|warning):|cannot find|undefined reference' "$logs/ksft.log" | grep -v '^make' | sort -u | sed -n '1,3p' | tr '\n' ' ')"
		say "FAIL build: kselftests${failed:+: target(s) $failed do not build}:"
		grep -E '(error|warning):|cannot find|undefined reference|Error [0-9]' "$logs/ksft.log" | sed -n '1,20p' | sed 's/^/    /'
	else
		record "build: kselftests (static, -Werror, every target)" PASS
	fi
	# every program the manifest expects, installed, static, listed
	results_py initramfs install "$rdir/ksft" || true
	if make_initramfs "$rdir/ksft" "$rdir/initramfs.cpio"; then
		say "  ok   targets: $(ksft_targets "$src")"
	else
		record "initramfs: packed" FAIL "make_initramfs failed"
	fi
	stage_end "kselftests"
}

# qemu_key KERNEL ROOT: what a QEMU run of the gate depends on: the kernel
# image, the content of the initramfs tree (not the cpio, whose mtimes
# change), build.sh (QEMU's command line), the tools and QEMU itself.
qemu_key() {
	{
		sha1sum <"$1"
		(cd "$2" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha1sum)
		(cd "$2" && find . -type l -printf '%p -> %l\n' | LC_ALL=C sort)
		printf '%s\n' "$TOOLKEY" "$QEMU_TIMEOUT"
		qemu-system-x86_64 --version
	} 2>&1 | sha1sum | cut -c1-16
}

# qemu_boot NAME KERNEL RDIR MODE EXTRA: one boot of the gate, or the logs
# of a passing boot with the same inputs (build/cache/qemu-KEY).  Writes
# RDIR/verdict ("PASS", "PASS cached: ..." or "FAIL reason") and RDIR/qkey;
# records nothing, so that two boots can run at once: qemu_judge does.
qemu_boot() {
	local name=$1 kernel=$2 rdir=$3 mode=$4 extra=$5 t0 qkey qcache v
	t0=$(now)
	rm -f "$rdir/verdict" "$rdir/qkey" "$rdir/console.log" "$rdir/results.log"
	qkey=$(printf '%s %s\n' "$(qemu_key "$kernel" "$TDIR/run/ksft")" "$mode $extra" | sha1sum | cut -c1-16)
	qcache=$CACHE/qemu-$qkey
	if [ -z "${GATE_RERUN:-}" ] && [ -f "$qcache/console.log" ] &&
	   [ -f "$qcache/results.log" ]; then
		# A boot that passed with exactly these inputs: its logs are
		# judged again, against today's manifest.
		cp "$qcache/console.log" "$qcache/results.log" "$rdir/"
		say "  cached: $name not booted: same kernel, initramfs, build.sh and QEMU as the passing run of $(cat "$qcache/date" 2>/dev/null) (GATE_RERUN=1 boots anyway)"
		printf 'PASS cached: run of %s\n' "$(cat "$qcache/date" 2>/dev/null)" >"$rdir/verdict"
		return 0
	fi
	run_qemu "$kernel" "$TDIR/run/initramfs.cpio" "$rdir" "$mode" "$extra"
	say "    $name: QEMU ran $(elapsed "$t0") (logs: ${rdir#"$TOP"/})"
	if v=$(qemu_verdict "$rdir"); then
		echo PASS >"$rdir/verdict"
		echo "$qkey" >"$rdir/qkey"
	else
		printf 'FAIL %s\n' "$(printf '%s' "$v" | sed -n '1,1p')" >"$rdir/verdict"
		printf '%s\n' "$v" >"$rdir/verdict.long"
	fi
}

# qemu_judge LABEL RDIR RUN: the records of a boot, from its verdict and
# its logs (results.py, against the manifest's "run RUN" section); the logs
# of a passing, uncached boot are kept for a later gate on the same inputs.
qemu_judge() {
	local label=$1 rdir=$2 run=$3 v nfail qkey
	v=$(cat "$rdir/verdict" 2>/dev/null || echo "FAIL not run")
	case $v in
	"PASS cached: "*) record "$label" PASS "${v#PASS }" ;;
	PASS) record "$label" PASS ;;
	*) record "$label" FAIL "${v#FAIL }"; cat "$rdir/verdict.long" 2>/dev/null || true ;;
	esac
	nfail=$(grep -c '^FAIL' "$GATE_REC" || true)
	results_py "guest log" qemu "$rdir" --run "$run" || true
	qkey=$(cat "$rdir/qkey" 2>/dev/null || true)
	if [ -n "$qkey" ] && [ "$(grep -c '^FAIL' "$GATE_REC" || true)" = "$nfail" ]; then
		mkdir -p "$CACHE/qemu-$qkey"
		cp "$rdir/console.log" "$rdir/results.log" "$CACHE/qemu-$qkey/"
		date -u '+%Y-%m-%d %H:%M UTC' >"$CACHE/qemu-$qkey/date"
	fi
}

# The second kernel, VFIO_CONTAINER=n (/dev/vfio/vfio is iommufd's), booted
# with the same initramfs and harness=nocontainer: only vfio_edu_test runs
# (the "run nocontainer" section of the manifest), KUnit is off (it ran in
# the first boot on the same code).  Built before the boots, so that both
# boots can run at once (TCG uses one host core per boot).
gate_nocontainer_kernel() {
	local src=$TDIR/linux out=$TDIR/out-noc logs=$TDIR/logs frag
	step "(d'') second test kernel: test/kernel.config + test/kernel-nocontainer.config (from the tip's build)"
	stage_begin
	: >"$logs/nocontainer.log"
	if ! seed_outdir "$TDIR/out" "$out" 2>>"$logs/nocontainer.log"; then
		echo "error: rsync of test/out to test/out-noc failed" >>"$logs/nocontainer.log"
	fi
	rm -f "$out/arch/x86/boot/bzImage"
	frag=$(noc_fragment "$out")
	if [ ! -f "$out/.seeded-from" ] || ! kconfig "$src" "$out" "$frag" 2>>"$logs/nocontainer.log" ||
	   ! kmake "$src" "$out" W=1 bzImage >>"$logs/nocontainer.log" 2>&1; then
		record "build: nocontainer kernel" FAIL "does not build: $(first_errors "$logs/nocontainer.log")"
		grep -E 'error' "$logs/nocontainer.log" | sed -n '1,20p'
		rm -f "$out/arch/x86/boot/bzImage"
	else
		record "build: nocontainer kernel" PASS
		say "  ok   bzImage ($(grep -cE '^  CC ' "$logs/nocontainer.log" || true) files compiled)"
		results_py config config "$out/.config" "nocontainer kernel" "$NOC_FRAGMENT" || true
	fi
	stage_end "nocontainer kernel"
}

gate_qemu() {
	local out=$TDIR/out nout=$TDIR/out-noc rdir=$TDIR/run nrdir=$TDIR/run/nocontainer pid=""
	step "(f) QEMU 7.2 TCG: q35 + intel-iommu, edu, edu+edu+e1000 behind a pcie-pci-bridge, e1000e; two kernels at once"
	stage_begin
	rm -rf "$nrdir"
	mkdir -p "$nrdir"
	rm -f "$rdir/verdict" "$rdir/verdict.long" "$rdir/qkey"
	if [ ! -f "$rdir/initramfs.cpio" ]; then
		echo "FAIL not run: no initramfs" | tee "$rdir/verdict" >"$nrdir/verdict"
	else
		if [ -f "$out/arch/x86/boot/bzImage" ]; then
			qemu_boot "test kernel" "$out/arch/x86/boot/bzImage" "$rdir" test vfio_dev_vfio=legacy &
			pid=$!
		else
			echo "FAIL not run: no kernel" >"$rdir/verdict"
		fi
		if [ -f "$nout/arch/x86/boot/bzImage" ]; then
			qemu_boot "nocontainer kernel" "$nout/arch/x86/boot/bzImage" "$nrdir" nocontainer \
				"vfio_dev_vfio=iommufd kunit.enable=0"
		else
			echo "FAIL not run: the nocontainer kernel did not build" >"$nrdir/verdict"
		fi
	fi
	# The nocontainer boot is the shorter one: the core it leaves makes
	# the mails and the modular configuration, below the test boot's
	# priority (a subshell: their stage times are their own)
	(
		renice -n 10 "$BASHPID" >/dev/null 2>&1 || true
		gate_mails
		gate_modules
	)
	[ -z "$pid" ] || wait "$pid" || true
	stage_end "QEMU (b4 mails, modular config beside it)"

	step "(g) results (judged against test/expected-results)"
	qemu_judge "qemu: clean power-off" "$rdir" test
	qemu_judge "qemu: [nocontainer] clean power-off" "$nrdir" nocontainer
	if grep -qs '^BENCH ' "$rdir/results.log"; then
		say "  benchmark (not a test):"
		sed -n 's/^BENCH /    /p' "$rdir/results.log"
	fi
}

cmd_test() {
	local T0; T0=$(now)
	cmd_setup
	cmd_base
	[ -f "$TOP/series" ] || die "no series file"
	mkdir -p "$TDIR" "$CACHE"
	: >"$GATE_REC"
	: >"$GATE_TIMES"
	TOOLKEY=$(tool_key)
	BISECT_BUILT=0
	local rc=0
	checkpatch_start
	gate_apply_and_bisect || rc=$?
	# A patch that does not apply stops the gate; a patch that does not
	# build does not: the tip may still build and the tests still tell.
	if [ $rc != 2 ]; then
		gate_static
		gate_tip || true
		gate_ksft
		gate_nocontainer_kernel
		gate_qemu || true
	else
		kill "$CP_PID" 2>/dev/null || true
	fi
	printf 'total\t%d\n' $(($(now) - T0)) >>"$GATE_TIMES"
	step "summary ($(elapsed "$T0"))"
	local src
	src=$(
		$PY "$TESTFILES/results.py" summary "$GATE_REC" --manifest "$MANIFEST" \
			--patches "$(series_patches | wc -l)" --times "$GATE_TIMES"
	) && rc=0 || rc=$?
	[ -z "$src" ] || printf '%s\n' "$src"
	if [ $rc -gt 1 ] || [ -z "$src" ]; then
		# the summary itself crashed: count by hand and fail
		say "FAIL summary: results.py summary crashed (exit $rc)"
		local p f s
		p=$(grep -c '^PASS' "$GATE_REC" || true)
		f=$(grep -c '^FAIL' "$GATE_REC" || true)
		s=$(grep -c '^SKIP' "$GATE_REC" || true)
		say "$p passed, $((f + 1)) failed, $s skipped"
		return 1
	fi
	[ $rc = 0 ]
}

cmd_all() {
	local t0; t0=$(now)
	cmd_setup
	cmd_base
	[ -e "$WORK/.git" ] || cmd_tree
	cmd_kernel
	cmd_demo
	cmd_variants
	cmd_warm
	say "done in $(elapsed "$t0")"
}

# KASAN (test/kernel-kasan.config) is the soak's: "fuzz" builds with it
# unless KASAN=0, kernel, check and demo with KASAN=1; its kernel has its
# own output directory (build/out-kasan) unless KOUT is set.
[ "${1:-}" = fuzz ] && : "${KASAN:=1}"
[ "${KASAN:-0}" = 1 ] && [ -z "$KOUT_USER" ] && KOUT=$B/out-kasan

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
fuzz) shift; cmd_fuzz "$@" ;;
mails) cmd_mails ;;
warm) cmd_warm ;;
test) cmd_test ;;
help | -h | --help) usage ;;
*) usage >&2; exit 2 ;;
esac
