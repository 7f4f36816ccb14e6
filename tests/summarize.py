#!/usr/bin/env python3
"""Counts every check of a meson test run: TAP subtests one by one, other tests as one each.

usage: summarize.py build/meson-logs/testlog.json   ->   "N passed, N failed, N skipped"
"""
import json
import re
import sys

TAP_LINE = re.compile(r"^(ok|not ok)\b(.*)$")


def count(entry):
    passed = failed = skipped = 0
    for line in (entry.get("stdout") or "").splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        if m.group(1) == "not ok":
            failed += 1
        elif "# SKIP" in m.group(2).upper():
            skipped += 1
        else:
            passed += 1
    result = entry.get("result", "")
    if passed + failed + skipped == 0:
        if result == "OK":
            passed = 1
        elif result == "SKIP":
            skipped = 1
        else:
            failed = 1
    elif result not in ("OK", "SKIP", "EXPECTEDFAIL") and failed == 0:
        failed = 1  # crashed, timed out or bailed out after its last "ok"
    return passed, failed, skipped


def main():
    totals = [0, 0, 0]
    with open(sys.argv[1]) as f:
        for line in f:
            if line.strip():
                for i, n in enumerate(count(json.loads(line))):
                    totals[i] += n
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
