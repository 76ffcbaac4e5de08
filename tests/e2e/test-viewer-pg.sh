#!/usr/bin/env bash
# test-viewer-pg.sh - test-viewer.sh on a real PostgreSQL (started by the test on a free
# loopback port), with two sealview nodes sharing it: the passcode is asked for on one
# node and entered on the other.
VIEWER_BACKEND=postgresql exec bash "$(dirname "$0")/test-viewer.sh" "$@"
