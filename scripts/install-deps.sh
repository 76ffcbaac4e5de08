#!/usr/bin/env bash
# install-deps.sh - install whatever sealmilter needs that is missing, on Debian 12.
# Build: compiler, autotools, the libraries. Tests: Check, Postfix, aiosmtpd, what
# the unpacked Sendmail needs (m4, libwrap0, liblockfile1), and SoftHSM2 with OpenSSL's
# pkcs11 engine for keys in a token; dnsmasq (a real DNS server for DKIM keys),
# python3-dkim and OpenDKIM (independent DKIM signers and verifiers); libmicrohttpd, libcurl, SQLite
# and libpq for sealview; PostgreSQL, Chromium (with playwright-core from npm), curl, sqlite3 and wrk
# for its tests and benchmark; clang and libFuzzer for the fuzz targets, cppcheck and
# clang-tidy for the static analysis (scripts/static.sh); dpkg-dev, debhelper, lintian, git and
# man-db to build, check and install the Debian packages (tests/e2e/test-package.sh); nginx for
# the contrib reverse proxy's test; python3-prometheus-client (an independent parser of the
# metrics text). Idempotent: it asks apt only
# when a package is missing. Run as root (or with sudo available).
set -euo pipefail

PKGS=(
	build-essential autoconf automake libtool pkg-config
	libmilter-dev libssl-dev libgmime-3.0-dev libyaml-dev libpcre2-dev libunbound-dev libpsl-dev publicsuffix check
	libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev
	postfix python3 python3-aiosmtpd m4 libwrap0 liblockfile1
	softhsm2 libengine-pkcs11-openssl opensc
	dnsmasq-base python3-dkim python3-nacl opendkim opendkim-tools gpgsm python3-prometheus-client
	iproute2 procps util-linux openssl curl sqlite3 postgresql chromium wrk
	clang libclang-rt-14-dev systemd nginx-light
	dpkg-dev debhelper lintian git man-db
	cppcheck clang-tidy-14
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the browser tests: any node and npm on PATH will do (Debian's, or another).
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: every package is installed"
else
	if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
		echo "install-deps: run as root (missing: ${missing[*]})" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	# Postfix asks how to configure itself; the tests run private instances, so: none.
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	$SUDO apt-get update -qq
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	# nginx is only for tests/cli/test-contrib.sh, which runs a private one: the package's own
	# server, started on port 80 by its install, is not wanted.
	case " ${missing[*]} " in *" nginx-light "*) $SUDO service nginx stop >/dev/null 2>&1 || true ;; esac
fi
# playwright-core drives Debian's Chromium in the viewer tests; the version is pinned in
# tests/browser/package-lock.json, and it downloads no browser.
top=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$top/tests/browser/node_modules/playwright-core/package.json" ]; then
	echo "install-deps: npm ci in tests/browser (playwright-core)"
	(cd "$top/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
