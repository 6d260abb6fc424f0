#!/usr/bin/env python3
"""Every vigilctl subcommand that vigilctl(8)'s SYNOPSIS shows with --json
accepts --json.

usage: check_synopsis.py VIGILCTL_8 VIGILCTL

Reads the SYNOPSIS: each entry starts at ".B vigilctl"; its subcommand is
the bold words after "[OPTIONS]" (".RB { a | b }" names alternatives, each
checked). For each entry that shows "--json", `vigilctl SUBCOMMAND --help`
must list --json. Exits 1 naming each one that does not.
"""
import re
import subprocess
import sys


def entries(page):
    with open(page, encoding="utf-8") as f:
        text = f.read()
    synopsis = text[text.index(".SH SYNOPSIS"):text.index(".SH DESCRIPTION")]
    blocks = synopsis.split(".B vigilctl\n")[1:]
    for block in blocks:
        words = [[]]
        for line in block.splitlines()[1:]:  # after .RI [ OPTIONS ]
            if line.startswith(".B ") and not line.startswith(".B \\-"):
                for alt in words:
                    alt.extend(line[3:].replace("\\-", "-").split())
            elif line.startswith(".RB {"):
                names = [w for w in re.findall(r"[a-z\\-]+", line[5:]) if w]
                names = [n.replace("\\-", "-") for n in names]
                words = [alt + [n] for alt in words for n in names]
            else:
                break
        # An option on the subcommand's own line (".B token issue \\-\\-owner") is not a word of it.
        yield [[w for w in alt if not w.startswith("-")] for alt in words], "\\-\\-json" in block


def main():
    page, vigilctl = sys.argv[1], sys.argv[2]
    bad, checked = [], 0
    for alternatives, shows_json in entries(page):
        if not shows_json:
            continue
        for words in alternatives:
            checked += 1
            p = subprocess.run([vigilctl] + words + ["--help"], capture_output=True, text=True)
            if p.returncode != 0 or "--json" not in p.stdout:
                bad.append("vigilctl %s: the SYNOPSIS shows --json, --help does not" % " ".join(words))
    for b in bad:
        print(b, file=sys.stderr)
    print("%d subcommands shown with --json, %d without it in --help" % (checked, len(bad)))
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
