#!/usr/bin/env bash
# build.sh DIR [configure options...] - configure and build sealmilter in DIR (out of tree).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] || [ "$top/Makefile.am" -nt "$top/Makefile.in" ]; then
	(cd "$top" && autoreconf -fi >/dev/null)
fi
mkdir -p "$dir"
cd "$dir"
"$top/configure" -q "$@"
make -j"$(nproc)" >/dev/null
