#!/usr/bin/env bash
# Reproduces docs/results/regular.md (see scripts/suite_table.sh).
exec "$(dirname "$0")/suite_table.sh" regular "$@"
