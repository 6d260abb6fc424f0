#!/usr/bin/env python3
"""The daemon's layers, checked at build time: a file may include only its
own layer and the layers below it (daemon/meson.build builds each layer as a
library of its own; this is what makes a wrong include fail the build).

    core < store < engine < os < fleet < rpc < daemon/ (main, break-glass)

usage: check_layers.py DAEMON_DIR STAMP
Writes STAMP (an empty header the layer libraries compile against) when
every include points downward; otherwise prints each upward include as
FILE:LINE and exits 1.
"""
import os
import re
import sys

ORDER = ["core", "store", "engine", "os", "fleet", "rpc"]
TOP = len(ORDER)  # daemon/*.cc: main and break-glass
INCLUDE = re.compile(r'^\s*#\s*include\s+"daemon/([a-z_]+)/[^"]+"')


def rank(layer):
    return ORDER.index(layer) if layer in ORDER else TOP


def main():
    root, stamp = sys.argv[1], sys.argv[2]
    errors = []
    for dirpath, _, files in os.walk(root):
        layer = os.path.relpath(dirpath, root).split(os.sep)[0]
        own = rank(layer) if layer != "." else TOP
        for name in sorted(files):
            if not name.endswith((".h", ".cc")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) in ORDER and rank(m.group(1)) > own:
                        errors.append("%s:%d: the %s layer includes daemon/%s/, a layer above it "
                                      "(order: %s)" % (os.path.relpath(path, os.path.dirname(root)), n,
                                                       layer, m.group(1), " < ".join(ORDER)))
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    with open(stamp, "w") as f:
        f.write("// Written by daemon/check_layers.py: every include points downward.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
