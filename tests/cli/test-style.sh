#!/usr/bin/env bash
# test-style.sh - source hygiene, checked on every build (after curl's checksrc):
# no banned string functions (strcpy, strcat, sprintf, vsprintf, gets, atoi, atol),
# no assert() in tests (it vanishes under NDEBUG: use ck_assert), no libmilter
# outside milter/, and every .c file opens with a comment saying what it does.
set -uo pipefail
: "${SRCDIR:?}"
. "$SRCDIR/tests/cli/lib.sh"
cd "$SRCDIR"
mapfile -t files < <(find common rules mime engine milter cli seal dkim dns viewer web bench tests fuzz -name '*.[ch]' | sort)

# A name preceded by a letter or _ is another function (snprintf, asprintf, fgets).
hits=$(grep -nE '(^|[^A-Za-z0-9_])(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol)[[:space:]]*\(' "${files[@]}" || true)
if [ -z "$hits" ]; then t_ok "no banned string functions"; else t_fail "no banned string functions" "$hits"; fi

hits=$(grep -nE '(^|[^_a-z])assert\s*\(' tests/unit/*.c fuzz/*.c || true)
if [ -z "$hits" ]; then t_ok "no assert() in tests"; else t_fail "no assert() in tests" "$hits"; fi

hits=$(grep -lE '#include <libmilter/' "${files[@]}" | grep -v '^milter/' || true)
if [ -z "$hits" ]; then t_ok "only milter/ includes libmilter"; else t_fail "only milter/ includes libmilter" "$hits"; fi

missing=""
for f in "${files[@]}"; do
	case "$f" in *.c) head -n 3 "$f" | grep -qE '^\s*(/\*|//)' || missing="$missing $f" ;; esac
done
if [ -z "$missing" ]; then t_ok "every .c file opens with a comment"; else t_fail "every .c file opens with a comment" "$missing"; fi
t_done
