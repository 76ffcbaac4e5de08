#!/usr/bin/env bash
# test-docs.sh - docs/config-reference.md and man/sealmilter.yaml.5 must be exactly what
# the key tables generate, so the documentation cannot drift from the loader.
set -uo pipefail
: "${SRCDIR:?}" "${SEALCTL:?}"
fail=0
if ! "$SEALCTL" config-reference | diff -u "$SRCDIR/docs/config-reference.md" - ; then
	echo "docs/config-reference.md is stale: run 'sealctl config-reference > docs/config-reference.md'" >&2
	fail=$((fail + 1))
fi
if ! "$SEALCTL" config-reference --man | diff -u "$SRCDIR/man/sealmilter.yaml.5" - ; then
	echo "man/sealmilter.yaml.5 is stale: run 'sealctl config-reference --man > man/sealmilter.yaml.5'" >&2
	fail=$((fail + 1))
fi
echo "$((2 - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
