#!/usr/bin/env bash
# Frozen Lite0 against a tuned backbone, on photos the tuned backbone never saw (issue 20).
#
# Each set's evaluation side of the tuning run's fixed split (docs/figures/backbone-split.json:
# whole groups, held out of the backbone's training) is cross-validated, 5 folds grouped by
# groups.csv, with the packaged heads' recipe (logistic head, the four inference views), once on
# each backbone: the same photos, the same folds. Large sets are capped per class (whole groups,
# seeded) to keep the run under half an hour. Results: docs/figures/backbone-cv/<which>/<set>.json;
# tools/backbone_table.py prints the comparison.
#
# Usage: tools/backbone_compare.sh RUN_DIR [lite0|tuned|both]   (default both)
#   RUN_DIR: the run folder of `hortus backbone tune` (its split, and its export in
#   RUN_DIR/efficientnet-lite0-plants for the tuned side).
#   TEST_VIEWS=center: heads calibrated on and served with the centre view alone (one forward
#   pass a photo instead of four; results in <which>-center/). The embeddings are cached, so
#   this run after the four-view one only refits the heads.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: tools/backbone_compare.sh RUN_DIR [lite0|tuned|both]}
which=${2:-both}
BUILD=${BUILD:-$HOME/hortus-build/backbone-compare}
FIGURES=docs/figures/backbone-cv
VIEWS=center,hflip,zoom,zoom_hflip
TEST_VIEWS=${TEST_VIEWS:-}
SETS="oxford17 flowers5 ibean deepweeds plantvillage coffee blackgram citrus_leaves chilli"
declare -A CAP=([deepweeds]=200 [plantvillage]=60 [flowers5]=100)
mkdir -p "$BUILD"
[ -d "$BUILD/splits" ] || .venv/bin/hortus backbone split "$run" --into "$BUILD/splits"
export HORTUS_DATA_DIR="$BUILD/data" HORTUS_ENVIRONMENT=production
sides="lite0 tuned"
[ "$which" = both ] || sides=$which
for side in $sides; do
  if [ "$side" = tuned ]; then
    export HORTUS_BACKBONE="$(cd "$run/efficientnet-lite0-plants" && pwd)"
  else
    unset HORTUS_BACKBONE
  fi
  out=$FIGURES/$side
  views=()
  if [ -n "$TEST_VIEWS" ]; then
    out=$FIGURES/$side-${TEST_VIEWS//,/-}
    views=(--test-views "$TEST_VIEWS")
  fi
  mkdir -p "$out"
  for set in $SETS; do
    echo "== $side $set"
    cap=()
    [ -n "${CAP[$set]:-}" ] && cap=(--max-per-class "${CAP[$set]}")
    .venv/bin/hortus eval "$BUILD/splits/$set/eval" --cv 5 --train-views "$VIEWS" \
      --threads 2 "${cap[@]}" "${views[@]}" --json "$out/$set.json" \
      --confusion "$BUILD/confusion-$(basename "$out")-$set.png"
  done
done
