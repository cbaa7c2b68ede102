#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Parse one QEMU run of the test kernel.

  results.log  (guest ttyS1): run_kselftest.sh output (KTAP, one "# " level
               per nesting), kmemleak reports, HARNESS-BEGIN/END markers
  console.log  (guest ttyS0): the kernel log, with the KUnit KTAP output

Prints a per-suite summary and every failure; with --records FILE writes
one "PASS|FAIL|SKIP<TAB>suite: test" line per test for build.sh.
Exit status 1 if anything failed.
"""
import re
import sys

# Kernel log lines that fail the run whatever the tests said.
SPLATS = [
    (r"WARNING: ", "WARN"),
    (r"\bBUG: ", "BUG"),
    (r"BUG kmalloc|BUG [a-z_-]+ \(", "slab corruption"),
    (r"KASAN: ", "KASAN report"),
    (r"UBSAN: ", "UBSAN report"),
    (r"possible circular locking dependency|possible recursive locking|"
     r"inconsistent lock state|suspicious RCU usage|"
     r"lock held when returning to user space|"
     r"DEBUG_LOCKS_WARN_ON|INFO: lockdep is turned off",
     "lockdep splat"),
    (r"Call Trace:", "Call Trace"),
    (r"Kernel panic|general protection fault|Oops:", "Oops/panic"),
    (r"rcu: INFO: .* detected stalls|INFO: task .* blocked for more than",
     "stall"),
    (r"kmemleak: .*suspected memory leaks", "kmemleak"),
]

TS = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def strip_ts(line):
    return TS.sub("", line.rstrip("\r\n"))


def parse_kselftest(lines, records, problems):
    """run_kselftest.sh: top-level 'ok N selftests: dir: prog', the program's
    own KTAP one level down ('# ok N name')."""
    seen_top = 0
    cur = None          # current program
    sub = []            # (result, name) of its test cases
    for line in lines:
        m = re.match(r"^# selftests: (\S+): (\S+)$", line)
        if m:
            cur, sub = f"{m.group(1)}/{m.group(2)}", []
            continue
        m = re.match(r"^# (not ok|ok) (\d+) (.*)$", line)
        if m and cur:
            res, rest = m.group(1), m.group(3)
            name = rest
            skip = False
            if "# SKIP" in rest:
                skip = True
                name = rest.split("# SKIP")[0].strip() or \
                    f"case {m.group(2)} ({rest.split('# SKIP', 1)[1].strip()})"
            sub.append(("SKIP" if skip and res == "ok" else
                        "PASS" if res == "ok" else "FAIL", name))
            continue
        m = re.match(r"^(not ok|ok) (\d+) selftests: (\S+): (\S+)(.*)$", line)
        if m:
            seen_top += 1
            prog = f"{m.group(3)}/{m.group(4)}"
            tail = m.group(5)
            cases = sub if cur == prog else []
            for res, name in cases:
                records.append((res, f"kselftest {prog}: {name}"))
            if m.group(1) == "not ok" and "# SKIP" not in tail:
                failed_cases = [n for r, n in cases if r == "FAIL"]
                if not failed_cases:
                    # crashed, timed out or failed outside any test case
                    records.append(("FAIL", f"kselftest {prog}: program"
                                    f" {tail.strip() or 'failed'}"))
            elif "# SKIP" in tail and not cases:
                records.append(("SKIP", f"kselftest {prog}: (skipped)"))
            cur, sub = None, []
    return seen_top


def parse_kunit(lines, records):
    """KUnit KTAP on the kernel console: suites at indent 4 ('    ok N case'),
    parameterised cases one level deeper (counted through their parent)."""
    suite = None
    n = 0
    for line in lines:
        m = re.match(r"^    # Subtest: (\S+)", line)
        if m:
            suite = m.group(1)
            continue
        m = re.match(r"^    (not ok|ok) (\d+) (\S+)(.*)$", line)
        if m and suite:
            res = "PASS" if m.group(1) == "ok" else "FAIL"
            if "# SKIP" in m.group(4):
                res = "SKIP"
            records.append((res, f"kunit {suite}: {m.group(3)}"))
            n += 1
            continue
        m = re.match(r"^(not ok|ok) (\d+) (\S+)(.*)$", line)
        if m and suite == m.group(3):
            if m.group(1) == "not ok" and "# SKIP" not in m.group(4):
                if not any(r == "FAIL" and s.startswith(f"kunit {suite}:")
                           for r, s in records):
                    records.append(("FAIL", f"kunit {suite}: (suite)"))
            suite = None
    return n


def main():
    rdir = sys.argv[1]
    rec_file = None
    if "--records" in sys.argv:
        rec_file = sys.argv[sys.argv.index("--records") + 1]
    try:
        res = [l.rstrip("\r\n") for l in open(f"{rdir}/results.log",
                                             errors="replace")]
    except OSError:
        res = []
    try:
        con = [strip_ts(l) for l in open(f"{rdir}/console.log",
                                        errors="replace")]
    except OSError:
        con = []

    records = []
    problems = []

    parse_kunit(con, records)
    parse_kselftest(res, records, problems)

    # kmemleak reports the init script printed
    in_km = None
    leaks = {}
    for line in res:
        if line.startswith("KMEMLEAK-BEGIN"):
            in_km = line.split(None, 1)[1]
            leaks[in_km] = []
        elif line.startswith("KMEMLEAK-END"):
            in_km = None
        elif in_km is not None:
            leaks[in_km].append(line)
    for phase, body in leaks.items():
        n = sum(1 for l in body if l.startswith("unreferenced object"))
        records.append(("FAIL" if n else "PASS", f"guest log: kmemleak after {phase}"))
        if n:
            problems.append(f"kmemleak: {n} unreferenced objects after {phase}:")
            problems.extend("  " + l for l in body[:60])

    # the guest must have got to the end
    done = "HARNESS-END" in res
    records.append(("PASS" if done else "FAIL", "guest log: harness ran to the end"))
    if not done:
        problems.append("the guest did not reach HARNESS-END (crash, panic or timeout); "
                        "last kernel lines:")
        problems.extend("  " + l for l in con[-25:])

    # splats in the kernel log
    hits = []
    for i, line in enumerate(con):
        for pat, what in SPLATS:
            if re.search(pat, line):
                hits.append((i, what))
                break
    records.append(("FAIL" if hits else "PASS", "guest log: no WARN/BUG/KASAN/lockdep/Call Trace"))
    shown = set()
    for i, what in hits:
        if any(abs(i - j) < 40 for j in shown):
            continue
        shown.add(i)
        problems.append(f"guest kernel log: {what} at console.log line {i + 1}:")
        problems.extend("  " + l for l in con[max(0, i - 3):i + 35])
        if len(shown) >= 3:
            problems.append(f"  ... {len(hits)} matching lines in all")
            break

    # summary
    suites = {}
    for r, name in records:
        s = name.split(":")[0]
        d = suites.setdefault(s, {"PASS": 0, "FAIL": 0, "SKIP": 0})
        d[r] += 1
    for s, d in suites.items():
        print(f"  {s:<40} {d['PASS']:4d} passed, {d['FAIL']} failed, {d['SKIP']} skipped")
    for r, name in records:
        if r == "FAIL":
            print(f"  FAIL {name}")
    for p in problems:
        print(p)
    if rec_file:
        with open(rec_file, "w") as f:
            for r, name in records:
                f.write(f"{r}\t{name}\n")
    return 1 if any(r == "FAIL" for r, _ in records) else 0


if __name__ == "__main__":
    sys.exit(main())
