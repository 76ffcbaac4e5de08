#!/usr/bin/env bash
# test-split-sendmail.sh - test-split.sh behind a real Sendmail.
SPLIT_MTA=sendmail exec bash "$(dirname "$0")/test-split.sh" "$@"
