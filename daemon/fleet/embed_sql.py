#!/usr/bin/env python3
"""Compiles the fleet's SQL migrations into vigild (daemon/fleet/schema.h).

usage: embed_sql.py OUTPUT.cc NNN_name.sql...
Each file's number is its schema version; the files must be numbered 1, 2,
3... in order, so a gap or a duplicate fails the build.
"""
import os
import re
import sys


def main():
    out, files = sys.argv[1], sys.argv[2:]
    rows = []
    for n, path in enumerate(files, 1):
        name = os.path.basename(path)
        m = re.match(r"^(\d{3})_[a-z0-9_]+\.sql$", name)
        if not m or int(m.group(1)) != n:
            print("%s: expected the migration numbered %03d" % (path, n), file=sys.stderr)
            return 1
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if ")vigilsql\"" in text:
            print("%s: contains the raw string's delimiter" % path, file=sys.stderr)
            return 1
        rows.append('  {%d, "%s", R"vigilsql(%s)vigilsql"},' % (n, name, text))
    with open(out, "w", encoding="utf-8") as f:
        f.write("// Written by daemon/fleet/embed_sql.py from daemon/fleet/sql/*.sql.\n")
        f.write('#include "daemon/fleet/schema.h"\n\nnamespace vigil::fleet {\n')
        f.write("const std::vector<Migration>& migrations() {\n")
        f.write("  static const std::vector<Migration> all = {\n%s\n  };\n  return all;\n}\n" % "\n".join(rows))
        f.write("}  // namespace vigil::fleet\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
