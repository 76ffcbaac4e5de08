#!/usr/bin/env bash
# test-threats-pg.sh - test-threats.sh with sealview's store on a real PostgreSQL (started by
# the test on a free loopback port): the stolen-database checks then scan a pg_dump and the
# server's own data files.
THREATS_BACKEND=postgresql exec bash "$(dirname "$0")/test-threats.sh" "$@"
