#!/usr/bin/env bash
# test-docs.sh - docs/config-reference.md must be exactly what the key tables
# generate, so the documentation cannot drift from the loader.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
if "$SEALCTL" config-reference | diff -u "$SRCDIR/docs/config-reference.md" - ; then
	echo "1 passed, 0 failed"
else
	echo "docs/config-reference.md is stale: run 'sealctl config-reference > docs/config-reference.md'" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
