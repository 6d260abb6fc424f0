#!/usr/bin/env python3
"""Checks one manual page the way a reader meets it.

usage: check_man.py PAGE

Fails (exit 1, each finding on stderr as PAGE:LINE or PAGE) when:
  * groff -ww -man warns about anything;
  * man --warnings warns about anything while formatting it for an
    80-column terminal;
  * an alternating-font macro (.BR, .RB, .IR, .RI, .BI, .IB) runs words
    together: its arguments are joined with no space, so an argument that
    ends in punctuation a space should follow (",", ";", ":", ".", ")")
    and a next one that starts with a letter or digit print as
    "admin_socket),andthemodulereads". Words go on the next text line.
"""
import os
import re
import shlex
import subprocess
import sys

ALTERNATING = re.compile(r"^\.(BR|RB|IR|RI|BI|IB)\s+(.*)$")


def run_together(page):
    found = []
    with open(page, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = ALTERNATING.match(line.rstrip("\n"))
            if not m:
                continue
            try:
                args = shlex.split(m.group(2).replace("\\", "\\\\"))
            except ValueError:
                found.append("%s:%d: unbalanced quotes: %s" % (page, n, line.strip()))
                continue
            for a, b in zip(args, args[1:]):
                if re.search(r"[,;:.)]$", a) and re.match(r"[A-Za-z0-9]", b):
                    found.append("%s:%d: %r and %r run together: %s" % (page, n, a, b, line.strip()))
    return found


def warnings(cmd, env=None):
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    out = r.stderr.strip()
    if r.returncode != 0 and not out:
        out = "exit status %d" % r.returncode
    return out


def main():
    page = sys.argv[1]
    problems = run_together(page)
    groff = warnings(["groff", "-ww", "-z", "-man", page])
    if groff:
        problems.append("%s: groff -ww:\n%s" % (page, groff))
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0", LC_ALL="C.UTF-8")
    man = warnings(["man", "--warnings", "-l", page], env)
    if man:
        problems.append("%s: man --warnings:\n%s" % (page, man))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
