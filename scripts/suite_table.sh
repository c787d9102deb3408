#!/usr/bin/env bash
# Trains every preset of one suite under configs/<suite>/ (or those named after the suite, e.g.
# `scripts/suite_table.sh zoo parity_check_gla`), evaluates each, and renders the table and plots
# with `seqlab report`. Runs go to runs/<suite>/<preset>; finished runs (with an eval.json) are
# kept, so the script can be interrupted and restarted.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=${1:?usage: scripts/suite_table.sh SUITE [PRESET...]}
shift
BIN=${BIN:-build/seqlab}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-runs/$SUITE}
if [ $# -gt 0 ]; then presets=("$@"); else
  presets=(); for f in configs/"$SUITE"/*.yaml; do presets+=("$(basename "$f" .yaml)"); done
fi
runs=()
for p in "${presets[@]}"; do
  dir="$OUT/$p"
  if [ ! -f "$dir/eval.json" ]; then
    echo "== $p"
    "$BIN" train "$SUITE/$p" --out "$dir" --force --quiet --threads "$THREADS" | tail -n 2
  fi
  runs+=("$dir")
done
"$BIN" report "${runs[@]}" --out "$OUT/report"
