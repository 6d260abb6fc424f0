#!/bin/sh
# meson install helper: install the default configuration unless one exists.
# $1 the shipped file, $2 its destination (DESTDIR is honoured).
set -eu
src=$1
dest="${DESTDIR:-}$2"
if [ -e "$dest" ]; then
    echo "Keeping the existing $dest (the shipped one is in share/doc/vigil)."
    exit 0
fi
mkdir -p "$(dirname "$dest")"
install -m 0644 "$src" "$dest"
echo "Installing $dest"
