#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Results of the gate, judged against test/expected-results.

  results.py qemu RDIR [--run NAME]   parse one QEMU run of the test kernel
                                      (NAME: its "run" section of the
                                      manifest, default "test")
  results.py install DIR              check the kselftests packed in the initramfs
  results.py config DOTCONFIG LABEL FRAGMENT...
                                      every option of the fragments is in .config
                                      ("# CONFIG_X is not set": X is off)
  results.py mails DIR BASE N         the mails "./build.sh mails" made in DIR
  results.py summary RECORDS [--patches N] [--times FILE]
                                      the gate's summary and final line

Common options: --manifest FILE (default: expected-results next to this
script), --records FILE (append "RESULT<TAB>CLASS<TAB>NAME<TAB>NOTE" lines,
RESULT = PASS|FAIL|SKIP, CLASS = test|check).

A QEMU run directory holds:
  results.log  (guest ttyS1): HARNESS-BEGIN/END, KSFT-BEGIN/END around
               run_kselftest.sh (KTAP, one "# " per nesting level),
               HOSTILE-BEGIN/END around the pieces test/init runs itself
               (fuzzer, trinity, memory pressure), in the same format, the
               kmemleak report between KMEMLEAK-BEGIN/END
  console.log  (guest ttyS0): the kernel log, with KUnit's KTAP

Exit status: 0 if nothing failed, 1 if something failed, 2 on a usage or
manifest error.  A crash (any other outcome) leaves no "#END" line in the
records file, which build.sh reports as a failure of its own.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Kernel log lines that fail the run whatever the tests said.
SPLATS = [
    (r"WARNING: ", "WARN"),
    (r"\bBUG: soft lockup", "soft lockup"),
    (r"\bBUG: ", "BUG"),
    (r"BUG kmalloc|BUG [a-z_-]+ \(", "slab corruption"),
    (r"KASAN: ", "KASAN report"),
    (r"UBSAN: ", "UBSAN report"),
    (r"possible circular locking dependency|possible recursive locking|"
     r"inconsistent lock state|suspicious RCU usage|"
     r"lock held when returning to user space|"
     r"DEBUG_LOCKS_WARN_ON|INFO: lockdep is turned off",
     "lockdep splat"),
    (r"INFO: task .* blocked for more than", "hung task"),
    (r"rcu: INFO: .* detected stalls", "RCU stall"),
    (r"Call Trace:", "Call Trace"),
    (r"Kernel panic|general protection fault|Oops:", "Oops/panic"),
    (r"kmemleak: .*suspected memory leaks", "kmemleak"),
]

TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RESULT = re.compile(r"^(not ok|ok) (\d+)(?: (.*))?$")


class ManifestError(Exception):
    pass


# ---------------------------------------------------------------------------
# the manifest

class Suite:
    def __init__(self, kind, name, minimum, run, line):
        self.kind = kind            # kunit, kselftest, installed, check
        self.name = name
        self.min = minimum          # int, or "per-patch" for checks
        self.run = run
        self.line = line
        self.skips = {}             # test name -> reason

    @property
    def key(self):
        return f"{self.kind} {self.name}"


def read_manifest(path):
    suites = []
    run = "test"
    last = None
    try:
        lines = open(path).read().split("\n")
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e}")
    for n, raw in enumerate(lines, 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        words = line.split()
        where = f"{os.path.basename(path)}:{n}"
        if words[0] == "run" and len(words) == 2:
            run = words[1]
            last = None
        elif words[0] in ("kunit", "kselftest", "harness") and len(words) == 3:
            if not words[2].isdigit():
                raise ManifestError(f"{where}: minimum must be a number: {raw}")
            if words[0] != "kunit" and words[1].count("/") != 1:
                raise ManifestError(f"{where}: {words[0]} names are DIR/PROG: {raw}")
            last = Suite(words[0], words[1], int(words[2]), run, n)
            suites.append(last)
        elif words[0] == "installed" and len(words) == 2:
            last = Suite("installed", words[1], 0, run, n)
            suites.append(last)
        elif words[0] == "check" and len(words) == 3:
            if not (words[2].isdigit() or words[2] == "per-patch"):
                raise ManifestError(f"{where}: check minimum: a number or per-patch: {raw}")
            m = int(words[2]) if words[2].isdigit() else words[2]
            last = Suite("check", words[1].replace("_", " "), m, run, n)
            suites.append(last)
        elif words[0] == "skip" and len(words) >= 3:
            if not last or last.kind not in ("kunit", "kselftest", "harness"):
                raise ManifestError(f"{where}: skip outside a kunit/kselftest/harness entry")
            # "skip TEST  reason ..." (the reason is everything after TEST)
            test = words[1]
            reason = line.split(None, 2)[2].strip()
            if not reason:
                raise ManifestError(f"{where}: a skip needs its reason")
            last.skips[test] = reason
        else:
            raise ManifestError(f"{where}: cannot parse: {raw}")
    keys = [s.key + "@" + s.run for s in suites]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ManifestError(f"{os.path.basename(path)}: listed twice: {', '.join(sorted(dup))}")
    return suites


# ---------------------------------------------------------------------------
# records

class Records:
    def __init__(self):
        self.items = []

    def add(self, result, cls, name, note=""):
        note = " ".join(str(note).split())
        self.items.append((result, cls, name, note))

    def failed(self):
        return any(r == "FAIL" for r, _, _, _ in self.items)

    def write(self, path):
        if not path:
            return
        with open(path, "a") as f:
            for r, c, n, note in self.items:
                f.write(f"{r}\t{c}\t{n}\t{note}\n")


def fail_line(name, note):
    return f"FAIL {name}" + (f": {note}" if note else "")


# ---------------------------------------------------------------------------
# KTAP

def split_result(rest):
    """'name # SKIP reason' -> (name, directive, reason)"""
    rest = rest or ""
    m = re.match(r"^(.*?)\s*#\s*(SKIP|TODO|TIMEOUT|XFAIL|ERROR)\b\s*(.*)$", rest, re.I)
    if m:
        return m.group(1).strip(), m.group(2).upper(), m.group(3).strip()
    m = re.match(r"^(.*?)\s*#\s*(.*)$", rest)
    if m:
        return m.group(1).strip(), "", m.group(2).strip()
    return rest.strip(), "", ""


class Prog:
    """One kselftest program as run_kselftest.sh ran it."""

    def __init__(self, name):
        self.name = name
        self.plan = None
        self.plan_skip = None
        self.cases = []         # (result, name, note, diagnostics)
        self.top = None         # (ok, directive, reason) of the runner's line
        self.last_run = None
        self.diag = []
        self.output = []


def parse_program_line(p, line):
    """A line of the program's own output (the runner's '# ' removed)."""
    p.output.append(line)
    if p.plan is None and p.plan_skip is None:
        m = re.match(r"^1\.\.(\d+)\s*(?:#\s*SKIP\s*(.*))?$", line)
        if m:
            p.plan = int(m.group(1))
            if m.group(2) is not None:
                p.plan_skip = m.group(2).strip() or "skipped"
            return
    m = re.match(r"^#\s+RUN\s+(\S+) \.\.\.", line)
    if m:
        p.last_run = m.group(1)
        p.diag = []
        return
    m = RESULT.match(line)
    if m:
        name, directive, reason = split_result(m.group(3))
        if directive == "SKIP":
            # 6.1's harness prints "ok N # SKIP reason": name from RUN
            if not name:
                name = p.last_run or f"case {m.group(2)}"
            res = "SKIP" if m.group(1) == "ok" else "FAIL"
        else:
            res = "PASS" if m.group(1) == "ok" else "FAIL"
        p.cases.append((res, name, reason if directive else "", p.diag[-12:]))
        p.diag = []
        p.last_run = None
        return
    if line.startswith("#"):
        p.diag.append(line)


def parse_kselftest(res, begin="KSFT-BEGIN", end="KSFT-END"):
    """run_kselftest.sh output between KSFT-BEGIN and KSFT-END, or what
    test/init runs itself, in the same format, between other markers."""
    info = {"begin": False, "end": False, "end_rc": None, "plans": [], "tops": 0,
            "progs": {}, "order": [], "noise": []}
    inside = False
    cur = None
    for line in res:
        if line.startswith(begin):
            info["begin"] = True
            inside = True
            continue
        if line.startswith(end):
            info["end"] = True
            m = re.search(r"rc=(\d+)", line)
            info["end_rc"] = int(m.group(1)) if m else None
            inside = False
            continue
        if not inside:
            continue
        m = re.match(r"^1\.\.(\d+)$", line)
        if m:
            info["plans"].append(int(m.group(1)))
            continue
        m = re.match(r"^# selftests: (\S+): (\S+)$", line)
        if m:
            name = f"{m.group(1)}/{m.group(2)}"
            cur = Prog(name)
            info["progs"][name] = cur
            info["order"].append(name)
            continue
        m = re.match(r"^(not ok|ok) (\d+) selftests: (\S+): (\S+)(.*)$", line)
        if m:
            info["tops"] += 1
            name = f"{m.group(3)}/{m.group(4)}"
            p = info["progs"].get(name)
            if p is None:
                p = Prog(name)
                info["progs"][name] = p
                info["order"].append(name)
            _, directive, reason = split_result(m.group(5))
            p.top = (m.group(1) == "ok", directive, reason)
            cur = None
            continue
        if cur is not None and (line.startswith("# ") or line == "#"):
            parse_program_line(cur, line[2:])
            continue
        if line.startswith("TAP version"):
            continue
        info["noise"].append(line)
    return info


class KSuite:
    def __init__(self, name):
        self.name = name
        self.started = False
        self.plan = None
        self.cases = []
        self.top = None
        self.init_err = None
        self.diag = []


def parse_kunit(con):
    """KUnit's KTAP on the kernel console: suites at indent 4."""
    suites = {}
    order = []
    top_plan = None
    cur = None
    pending_init = {}

    def get(name):
        if name not in suites:
            suites[name] = KSuite(name)
            order.append(name)
        return suites[name]

    for line in con:
        m = re.match(r"^    # Subtest: (\S+)", line)
        if m:
            cur = get(m.group(1))
            cur.started = True
            continue
        m = re.match(r"^\s*# (\S+): .*failed to initialize \((-?\d+)\)", line)
        if m:
            pending_init[m.group(1)] = int(m.group(2))
            continue
        if cur is not None:
            m = re.match(r"^    1\.\.(\d+)$", line)
            if m and cur.plan is None:
                cur.plan = int(m.group(1))
                continue
            m = re.match(r"^    (not ok|ok) (\d+) (.*)$", line)
            if m:
                name, directive, reason = split_result(m.group(3))
                res = "SKIP" if directive == "SKIP" else \
                    "PASS" if m.group(1) == "ok" else "FAIL"
                cur.cases.append((res, name, reason, cur.diag[-12:]))
                cur.diag = []
                continue
            if re.match(r"^\s{4,}#", line):
                cur.diag.append(line.strip())
        m = re.match(r"^1\.\.(\d+)$", line)
        if m and top_plan is None:
            top_plan = int(m.group(1))
            continue
        m = re.match(r"^(not ok|ok) (\d+) (\S+)(.*)$", line)
        if m:
            s = get(m.group(3))
            _, directive, reason = split_result(m.group(4))
            s.top = (m.group(1) == "ok", directive, reason)
            if m.group(3) in pending_init:
                s.init_err = pending_init.pop(m.group(3))
            cur = None
    return suites, order, top_plan


def judge_cases(rec, suite, label, cases, failures):
    """Case records; unlisted SKIPs fail.  Returns (n results, skipped)."""
    skipped = set()
    for res, name, reason, diag in cases:
        note = reason
        if res == "SKIP":
            skipped.add(name)
            if suite is None or name not in suite.skips:
                res = "FAIL"
                note = f"unexpected SKIP ({reason or 'no reason given'}): " \
                       f"not allowed by test/expected-results"
            else:
                note = f"allowed: {suite.skips[name]}"
        if res == "FAIL" and not note:
            # the test's own words: its first diagnostics
            said = [d.lstrip("# ").strip() for d in diag
                    if not re.match(r"^#\s+(RUN|OK|FAIL|SKIP)\s", d)]
            note = " | ".join(l for l in said if l)[:300]
        rec.add(res, "test", f"{label}: {name}", note)
        if res == "FAIL":
            failures.append((f"{label}: {name}", note, diag))
    return len(cases), skipped


def judge_programs(rec, info, listed, kind, failures):
    """The records of each program of a parsed run (parse_kselftest()),
    judged against the manifest's entries of that kind."""
    for name in info["order"]:
        p = info["progs"][name]
        label = f"{kind} {name}"
        m = listed.get(name)
        n, skipped = judge_cases(rec, m, label, p.cases, failures)
        problems = []
        if m is None:
            problems.append("ran, but is not listed in test/expected-results")
        if p.top is None:
            problems.append("no result line from the runner (runner killed?)")
        else:
            ok, directive, reason = p.top
            if directive == "TIMEOUT":
                where = f" while running {p.last_run}" if p.last_run else ""
                problems.append(f"killed by its timeout ({reason}){where}")
            elif not ok and not any(c[0] == "FAIL" for c in p.cases):
                problems.append(f"program failed outside its test cases ({reason or 'not ok'})")
        if p.plan_skip is not None:
            problems.append(f"the whole program skipped: {p.plan_skip}")
        elif p.plan is None:
            problems.append("printed no TAP plan")
        elif p.plan != n:
            problems.append(f"plan 1..{p.plan} not met: {n} results")
        if m is not None:
            problems += check_min(m, n, skipped)
        manifest_record(rec, f"manifest: {label}", problems, n, failures,
                        detail=p.output[-15:] if problems else [])
    for name, m in listed.items():
        if name not in info["progs"]:
            manifest_record(rec, f"manifest: {kind} {name}",
                            ["absent from the run (not installed, or the runner stopped "
                             "before it)"], 0, failures)


def cmd_qemu(args, manifest, rec):
    rdir = args.pop(0)
    run = "test"
    if "--run" in args:
        run = args[args.index("--run") + 1]
    res = read_lines(os.path.join(rdir, "results.log"))
    con = [TS.sub("", l) for l in read_lines(os.path.join(rdir, "console.log"))]
    want = [s for s in manifest if s.run == run]
    failures = []   # (name, note, detail lines)
    first = len(rec.items)

    # -- KUnit
    ksuites, korder, ktop_plan = parse_kunit(con)
    listed = {s.name: s for s in want if s.kind == "kunit"}
    for name in korder:
        s = ksuites[name]
        label = f"kunit {name}"
        n, skipped = judge_cases(rec, listed.get(name), label, s.cases, failures)
        problems = []
        m = listed.get(name)
        if m is None:
            problems.append("ran, but is not listed in test/expected-results")
        if s.init_err is not None:
            problems.append(f"suite_init failed ({s.init_err}): no test ran")
        elif not s.started:
            problems.append("never started (no '# Subtest:' line)")
        if s.plan is not None and s.plan != n:
            problems.append(f"plan 1..{s.plan} not met: {n} results")
        if s.top is None:
            problems.append("no final result line (crashed?)")
        elif not s.top[0] and not any(c[0] == "FAIL" for c in s.cases):
            problems.append("suite result 'not ok' without a failed case")
        if m is not None:
            problems += check_min(m, n, skipped)
        manifest_record(rec, f"manifest: {label}", problems, n, failures)
    for name, m in listed.items():
        if name not in ksuites:
            manifest_record(rec, f"manifest: kunit {name}",
                            ["did not run: no '# Subtest:' and no result line "
                             "(option off, or the suite was removed?)"], 0, failures)
    if ktop_plan is not None and ktop_plan != len([n for n in korder if ksuites[n].top]):
        rec.add("FAIL", "check", "guest log: KUnit plan",
                f"1..{ktop_plan} suites announced, "
                f"{len([n for n in korder if ksuites[n].top])} reported")
        failures.append(("guest log: KUnit plan", rec.items[-1][3], []))

    # -- kselftests
    info = parse_kselftest(res)
    listed = {s.name: s for s in want if s.kind == "kselftest"}
    runner_problems = []
    if not info["begin"]:
        runner_problems.append("the guest never started run_kselftest.sh (no KSFT-BEGIN)")
    elif not info["plans"]:
        runner_problems.append("run_kselftest.sh printed no plan: it did not start "
                               f"(exit status {info['end_rc']})")
    elif info["end_rc"] is None:
        runner_problems.append("run_kselftest.sh did not finish (no KSFT-END)")
    elif info["end_rc"] != 0:
        runner_problems.append(f"run_kselftest.sh exited {info['end_rc']}")
    if info["plans"] and sum(info["plans"]) != info["tops"]:
        runner_problems.append(f"runner plans announce {sum(info['plans'])} programs, "
                               f"{info['tops']} reported")
    manifest_record(rec, "guest log: run_kselftest.sh ran every program", runner_problems,
                    None, failures, detail=info["noise"][-10:])
    judge_programs(rec, info, listed, "kselftest", failures)

    # -- what test/init runs itself: the fuzzer, trinity, memory pressure
    hinfo = parse_kselftest(res, "HOSTILE-BEGIN", "HOSTILE-END")
    hlisted = {s.name: s for s in want if s.kind == "harness"}
    if hlisted or hinfo["begin"]:
        problems = []
        if not hinfo["begin"]:
            problems.append("the guest never started the hostile run (no HOSTILE-BEGIN)")
        elif not hinfo["end"]:
            problems.append("the hostile run did not finish (no HOSTILE-END)")
        if hinfo["plans"] and sum(hinfo["plans"]) != hinfo["tops"]:
            problems.append(f"the hostile run announced {sum(hinfo['plans'])} pieces, "
                            f"{hinfo['tops']} reported")
        manifest_record(rec, "guest log: the hostile run reported every piece", problems,
                        None, failures, detail=hinfo["noise"][-10:])
        judge_programs(rec, hinfo, hlisted, "harness", failures)

    # -- guest log checks
    in_km, leaks, scans = None, [], 0
    for line in res:
        if line.startswith("KMEMLEAK-BEGIN"):
            in_km = True
            m = re.search(r"scans=(\d+)", line)
            scans = int(m.group(1)) if m else 0
        elif line.startswith("KMEMLEAK-END"):
            in_km = None
        elif in_km:
            leaks.append(line)
    n = sum(1 for l in leaks if l.startswith("unreferenced object"))
    origins = leak_origins(leaks)
    problems = []
    if not any(l.startswith("KMEMLEAK-BEGIN") for l in res):
        problems.append("no kmemleak report (kmemleak off or the run stopped before it)")
    elif scans < 2:
        problems.append(f"only {scans} kmemleak scan(s): a leak needs two to be reported")
    if n:
        problems.append(f"{n} unreferenced object(s), allocated in: " +
                        ", ".join(f"{f} ({c}x)" for f, c in origins[:5]))
    manifest_record(rec, "guest log: kmemleak (2 scans after the tests)", problems, None,
                    failures, detail=leaks[:80])

    done = any(l.startswith("HARNESS-END") for l in res)
    manifest_record(rec, "guest log: harness ran to the end",
                    [] if done else ["no HARNESS-END (crash, panic or timeout)"], None,
                    failures, detail=["last kernel lines:"] + con[-25:])

    hits = []
    for i, line in enumerate(con):
        for pat, what in SPLATS:
            if re.search(pat, line):
                hits.append((i, what))
                break
    detail = []
    shown = []
    for i, what in hits:
        if any(abs(i - j) < 40 for j in shown):
            continue
        shown.append(i)
        detail.append(f"{what} at console.log line {i + 1}:")
        detail += ["  " + l for l in con[max(0, i - 3):i + 35]]
        if len(shown) >= 3:
            detail.append(f"... {len(hits)} matching lines in all")
            break
    whats = sorted({w for _, w in hits})
    manifest_record(rec, "guest log: no WARN/BUG/KASAN/lockdep/hung task/panic",
                    [", ".join(whats) + f"; first at console.log line {hits[0][0] + 1}: "
                     + con[hits[0][0]].strip()[:160]]
                    if hits else [], None, failures, detail=detail)

    if run != "test":
        # another boot: its records name it, in the same groups for the
        # gate checks ("guest log: [RUN] ...") and in groups of their own
        # for the test cases ("kselftest DIR/PROG [RUN]: case")
        names = {}
        for i in range(first, len(rec.items)):
            r, c, n, note = rec.items[i]
            g, rest = (n.split(": ", 1) + [""])[:2]
            new = f"{g} [{run}]: {rest}" if c == "test" else f"{g}: [{run}] {rest}"
            names[n] = new
            rec.items[i] = (r, c, new, note)
        failures = [(names.get(n, n), note, d) for n, note, d in failures]
    print_failures(failures)
    return 1 if rec.failed() else 0


def leak_origins(lines):
    """The first backtrace frame of each leaked object that is not the
    allocator itself, with counts, most frequent first."""
    alloc = re.compile(r"^(__?kmalloc|kmalloc|kmem_cache_alloc|__kmem_cache|slab_|kzalloc|"
                       r"kmemdup|kstrdup|krealloc|__alloc_pages|alloc_pages|kvmalloc|"
                       r"kvzalloc|__kvmalloc|vmalloc|__vmalloc|kmemleak_)")
    counts, order, want = {}, [], False
    for l in lines:
        if l.startswith("unreferenced object"):
            want = True
            continue
        m = re.match(r"^\s+\[<[0-9a-f]+>\] (\S+?)(\+0x[0-9a-f]+/0x[0-9a-f]+)?$", l)
        if m and want and not alloc.match(m.group(1)):
            want = False
            f = m.group(1)
            if f not in counts:
                order.append(f)
            counts[f] = counts.get(f, 0) + 1
    return sorted(((f, counts[f]) for f in order), key=lambda x: -x[1])


def check_min(m, n, skipped):
    problems = []
    if n < m.min:
        problems.append(f"{n} results, expected at least {m.min}")
    return problems


def manifest_record(rec, name, problems, n, failures, detail=()):
    if problems:
        note = "; ".join(problems)
        rec.add("FAIL", "check", name, note)
        failures.append((name, note, list(detail)))
    else:
        rec.add("PASS", "check", name, f"{n} results" if n is not None else "")


def print_failures(failures):
    for name, note, detail in failures:
        print(fail_line(name, note))
        for l in detail:
            print("    " + l)


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\r\n") for l in f]
    except OSError:
        return []


# ---------------------------------------------------------------------------
# the initramfs

def elf_interp(path):
    """True if the ELF file asks for a dynamic loader (PT_INTERP)."""
    import struct
    with open(path, "rb") as f:
        h = f.read(64)
        if h[:4] != b"\x7fELF":
            return None
        is64 = h[4] == 2
        end = "<" if h[5] == 1 else ">"
        if is64:
            phoff, = struct.unpack_from(end + "Q", h, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", h, 54)
        else:
            phoff, = struct.unpack_from(end + "I", h, 28)
            phentsize, phnum = struct.unpack_from(end + "HH", h, 42)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ptype, = struct.unpack(end + "I", f.read(4))
            if ptype == 3:
                return True
    return False


def cmd_install(args, manifest, rec):
    inst = args.pop(0)
    failures = []
    try:
        listed = [l.strip() for l in open(os.path.join(inst, "kselftest-list.txt"))
                  if l.strip()]
    except OSError:
        listed = None
    runner = os.path.join(inst, "run_kselftest.sh")
    manifest_record(rec, "initramfs: run_kselftest.sh and kselftest-list.txt",
                    [] if listed is not None and os.access(runner, os.X_OK)
                    else ["kselftest install incomplete (no runner or no list)"],
                    None, failures)
    listed = listed or []
    want = {s.name for s in manifest if s.kind == "kselftest"}
    seen = set()
    for s in manifest:
        # one initramfs serves every run: each program is checked once
        if s.kind not in ("kselftest", "installed") or s.name in seen:
            continue
        seen.add(s.name)
        path = os.path.join(inst, s.name)
        problems = []
        if not os.path.isfile(path):
            problems.append(f"not in the initramfs (did {s.name.split('/')[0]}/ build it?)")
        else:
            if not os.access(path, os.X_OK):
                problems.append("not executable")
            interp = elf_interp(path)
            if interp:
                problems.append("dynamically linked: it cannot run in the initramfs "
                                "(the target ignores USERLDFLAGS=-static?)")
            if s.kind == "kselftest" and s.name.replace("/", ":", 1) not in listed:
                problems.append("not in kselftest-list.txt: run_kselftest.sh will not run it")
        manifest_record(rec, f"initramfs: {s.name}", problems, None, failures)
    for entry in listed:
        name = entry.replace(":", "/", 1)
        if name not in want:
            manifest_record(rec, f"initramfs: {name}",
                            ["installed and run, but not listed in test/expected-results"],
                            None, failures)
    print_failures(failures)
    return 1 if rec.failed() else 0


# ---------------------------------------------------------------------------
# kernel configuration

def cmd_config(args, manifest, rec):
    dotconfig, label = args.pop(0), args.pop(0)
    have = {}
    for l in read_lines(dotconfig):
        m = re.match(r"^(CONFIG_\w+)=(.*)$", l)
        if m:
            have[m.group(1)] = m.group(2)
        m = re.match(r"^# (CONFIG_\w+) is not set$", l)
        if m:
            have[m.group(1)] = "n"
    failures = []
    for frag in args:
        missing = []
        for l in read_lines(frag):
            m = re.match(r"^(CONFIG_\w+)=(.*)$", l.strip())
            want = m and (m.group(1), m.group(2))
            m = re.match(r"^# (CONFIG_\w+) is not set$", l.strip())
            want = want or (m and (m.group(1), "n"))
            if want and have.get(want[0], "n") != want[1]:
                missing.append(f"{want[0]}={want[1]} (have "
                               f"{have.get(want[0], 'no such symbol')})")
        manifest_record(rec, f"config: {label}: {frag_label(frag)}",
                        [f"not in the final .config: {', '.join(missing)}"] if missing else [],
                        None, failures)
    print_failures(failures)
    return 1 if rec.failed() else 0


def frag_label(path):
    p = os.path.abspath(path)
    m = re.search(r"(tools/testing/selftests/.*|test/[^/]+)$", p)
    return m.group(1) if m else os.path.basename(p)


# ---------------------------------------------------------------------------
# the mails b4 made (make_mails in build.sh)

def cmd_mails(args, manifest, rec):
    import email
    import email.policy
    import subprocess
    d, base, n = args[0], args[1], int(args[2])
    problems = []
    pfiles = sorted(f for f in os.listdir(os.path.join(d, "patches"))
                    if f.endswith(".patch")) if os.path.isdir(os.path.join(d, "patches")) else []
    efiles = sorted(f for f in os.listdir(os.path.join(d, "eml"))
                    if f.endswith(".eml")) if os.path.isdir(os.path.join(d, "eml")) else []
    if len(pfiles) != n + 1:
        problems.append(f"b4 prep -p wrote {len(pfiles)} files, expected {n + 1}")
    if len(efiles) != n + 1:
        problems.append(f"b4 send -o wrote {len(efiles)} mails, expected {n + 1}")
    # the series' subjects, in order (after b4's cover commit)
    try:
        subjects = subprocess.run(["git", "-C", os.path.join(d, "linux"), "log", "--reverse",
                                   "--format=%s", "base..HEAD"], capture_output=True,
                                  text=True, check=True).stdout.splitlines()[1:]
    except (OSError, subprocess.CalledProcessError) as e:
        subjects = []
        problems.append(f"cannot read the series' subjects: {e}")
    try:
        desc = open(os.path.join(d, "cover.txt")).read().split("\n")
    except OSError:
        desc = [""]
    width = len(str(n))
    for i, f in enumerate(efiles):
        with open(os.path.join(d, "eml", f), "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=email.policy.default)
        subj = " ".join(str(msg["Subject"] or "").split())
        if not str(msg["To"] or "").strip():
            problems.append(f"{f}: no To: (b4 prep -c / get_maintainer.pl)")
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body else ""
        if i == 0:
            want = f"[PATCH {0:0{width}d}/{n}] {' '.join(desc[0].split())}"
            if subj != want:
                problems.append(f"cover subject '{subj}', expected '{want}'")
            if "EDITME" in text:
                problems.append("the cover letter is still b4's EDITME template")
            first = next((l for l in desc[1:] if l.strip()), "")
            if first and first.strip() not in text:
                problems.append("the cover letter does not hold the series' description")
            if f"base-commit: {base}" not in text:
                m = re.search(r"base-commit: (\S+)", text)
                problems.append(f"cover has base-commit: {m.group(1) if m else 'none'}, "
                                f"expected {base}")
        else:
            want = (f"[PATCH {i:0{width}d}/{n}] {' '.join(subjects[i - 1].split())}"
                    if i - 1 < len(subjects) else None)
            if subj != want:
                problems.append(f"{f}: subject '{subj}', expected '{want}'")
    failures = []
    manifest_record(rec, f"mails: b4 prep -p and send -o write the series' {n + 1} mails",
                    problems[:6], None, failures)
    print_failures(failures)
    return 1 if rec.failed() else 0


# ---------------------------------------------------------------------------
# summary

def cmd_summary(args, manifest, rec):
    path = args.pop(0)
    patches = None
    times = None
    if "--patches" in args:
        patches = int(args[args.index("--patches") + 1])
    if "--times" in args:
        times = args[args.index("--times") + 1]
    items = []
    for l in read_lines(path):
        if l.startswith("#") or not l:
            continue
        r, c, n, note = (l.split("\t") + ["", "", "", ""])[:4]
        items.append((r, c, n, note))

    # gate checks the manifest expects (so a stage that silently recorded
    # nothing fails)
    for s in manifest:
        if s.kind != "check" or patches is None:
            continue
        want = patches if s.min == "per-patch" else s.min
        got = sum(1 for _, c, n, _ in items if c == "check" and group(n) == s.name)
        if got < want:
            items.append(("FAIL", "check", f"manifest: check {s.name}",
                          f"{got} results, expected at least {want}"))
        else:
            items.append(("PASS", "check", f"manifest: check {s.name}", f"{got} results"))

    groups = {}
    order = []
    for r, c, n, note in items:
        g = group(n)
        if g not in groups:
            groups[g] = {"PASS": 0, "FAIL": 0, "SKIP": 0, "cached": 0, "cls": c}
            order.append(g)
        groups[g][r] = groups[g].get(r, 0) + 1
        if note.startswith("cached"):
            groups[g]["cached"] += 1
    for cls in ("test", "check"):
        for g in order:
            d = groups[g]
            if d["cls"] != cls:
                continue
            cached = f" ({d['cached']} cached)" if d["cached"] else ""
            print(f"  {g:<52} {d['PASS']:4d} passed, {d['FAIL']} failed, "
                  f"{d['SKIP']} skipped{cached}")
    fails = [(n, note) for r, c, n, note in items if r == "FAIL"]
    for n, note in fails:
        print("  FAILED: " + n + (f": {note}" if note else ""))

    def count(cls):
        sel = [(r, note) for r, c, _, note in items if c == cls]
        cached = sum(1 for _, note in sel if "cached" in note.split())
        return (sum(1 for r, _ in sel if r == "PASS"), sum(1 for r, _ in sel if r == "FAIL"),
                sum(1 for r, _ in sel if r == "SKIP"), cached)

    tp, tf, ts, _ = count("test")
    cp, cf, cs, cc = count("check")
    print(f"tests  (KUnit and kselftest cases):                  "
          f"{tp} passed, {tf} failed, {ts} skipped")
    print(f"checks (checkpatch, bisect, builds, config, guest log, manifest): "
          f"{cp} passed, {cf} failed, {cs} skipped"
          + (f" ({cc} of them cached from earlier runs)" if cc else ""))
    if times:
        st = [l.split("\t") for l in read_lines(times) if "\t" in l]
        print("stage times: " + ", ".join(f"{s} {fmt_secs(int(t))}" for s, t in st))
    p, f, s = tp + cp, tf + cf, ts + cs
    print(f"{p} passed, {f} failed, {s} skipped")
    return 1 if f else 0


def group(name):
    return name.split(":", 1)[0]


def fmt_secs(s):
    return f"{s // 60}m{s % 60:02d}s"


def main(argv):
    args = argv[1:]
    opts = {}
    for o in ("--manifest", "--records"):
        if o in args:
            i = args.index(o)
            opts[o] = args[i + 1]
            del args[i:i + 2]
    if not args or args[0] not in ("qemu", "install", "config", "mails", "summary"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    cmd = args.pop(0)
    try:
        manifest = read_manifest(opts.get("--manifest",
                                          os.path.join(HERE, "expected-results")))
    except ManifestError as e:
        print(f"FAIL manifest: {e}")
        if opts.get("--records"):
            with open(opts["--records"], "a") as f:
                f.write(f"FAIL\tcheck\tmanifest: test/expected-results\t{e}\n#END\n")
        return 2
    rec = Records()
    rc = {"qemu": cmd_qemu, "install": cmd_install, "config": cmd_config,
          "mails": cmd_mails, "summary": cmd_summary}[cmd](args, manifest, rec)
    rec.write(opts.get("--records"))
    if opts.get("--records"):
        with open(opts["--records"], "a") as f:
            f.write("#END\n")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
