#!/usr/bin/env bash
# Rebuild the packaged weed, crop and crop-recogniser projects and their cross-validation
# figures (src/hortus/vision/packaged/MODEL_CARD.md).
#
# Needs the fetched photo sets built by ../shared/data/build (default ~/hortus-photos) and
# ../shared/data. Writes training folders (symlinks) and a scratch data directory under
# $BUILD (default ~/hortus-build), the grouped 5-fold CV results to docs/figures/cv/, and the
# trained projects to $BUILD/data/models/projects/ (copy them into
# src/hortus/vision/packaged/projects/ to ship them). Embeddings are cached, so a second run
# only refits. About 45 minutes on 2 cores the first time.
#
# Usage: tools/train_packaged.sh [train|package|cv|all]   (default all: train, package, cv)
set -euo pipefail
cd "$(dirname "$0")/.."
PHOTOS=${PHOTOS:-$HOME/hortus-photos}
BUILD=${BUILD:-$HOME/hortus-build}
SHARED=${SHARED:-../shared/data}
export HORTUS_DATA_DIR="$BUILD/data"
HORTUS=.venv/bin/hortus
CLASSES=src/hortus/vision/packaged/classes
FIGURES=docs/figures/cv
VIEWS=center,hflip,zoom,zoom_hflip  # the inference views; the eight-view default costs 2x
# blueberry and raspberry: PlantVillage has healthy leaves only, so the recogniser knows them
# but no problem model can be trained (a diagnosis needs two classes).
CROPS="apple blackgram cherry chilli citrus coffee corn grape pepper potato strawberry tomato"
what=${1:-all}

.venv/bin/python tools/training_folders.py --photos "$PHOTOS" --shared "$SHARED" --out "$BUILD/folders"
mkdir -p "$FIGURES"

if [ "$what" = train ] || [ "$what" = all ]; then
  echo "== train weeds"
  $HORTUS train "$BUILD/folders/weeds" --project weeds --task identify --classes "$CLASSES/weeds.csv" \
    --train-views "$VIEWS" --max-references 120 --organ leaf --no-media --threads 2 --inner-folds 5 \
    --keep 0.97
  echo "== train crops"
  $HORTUS train "$BUILD/folders/crops" --project crops --task crop --classes "$CLASSES/crops.csv" \
    --train-views "$VIEWS" --max-per-class 800 --max-references 50 --organ leaf --no-media --threads 2
  for crop in $CROPS; do
    echo "== train $crop"
    $HORTUS train "$BUILD/folders/$crop" --project "$crop" --task diagnose --classes "$CLASSES/$crop.csv" \
      --train-views "$VIEWS" --max-references 60 --organ leaf --no-media --threads 2
  done
fi

if [ "$what" = cv ] || [ "$what" = all ]; then
  # deepweeds is cross-validated as the weeds project (its nine classes, negative a reject class).
  for set in coffee blackgram citrus_leaves chilli plantvillage; do
    echo "== cv $set"
    $HORTUS eval "$BUILD/folders/sets/$set" --cv 5 --train-views "$VIEWS" --threads 2 \
      --json "$FIGURES/$set.json"
  done
  echo "== cv weeds (negative as a reject class)"
  $HORTUS eval "$BUILD/folders/weeds" --cv 5 --train-views "$VIEWS" --threads 2 \
    --json "$FIGURES/weeds.json"
  echo "== cv crops (the crop recogniser, other as a reject class)"
  $HORTUS eval "$BUILD/folders/crops" --cv 5 --train-views "$VIEWS" --threads 2 \
    --max-per-class 800 --json "$FIGURES/crops.json"
fi

if [ "$what" = package ] || [ "$what" = all ]; then
  # Copy each trained project's active version into the package (older versions left out).
  for dir in "$HORTUS_DATA_DIR"/models/projects/*/; do
    name=$(basename "$dir")
    version=$(cat "$dir/ACTIVE")
    dest=src/hortus/vision/packaged/projects/$name
    rm -rf "$dest" && mkdir -p "$dest"
    cp -r "$dir/$version" "$dest/" && cp "$dir/ACTIVE" "$dest/ACTIVE"
    echo "packaged $name $version"
  done
fi
