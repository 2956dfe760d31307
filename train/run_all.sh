#!/usr/bin/env bash
# Reproduce the shipped pipelines (checkpoints/latentmapper-{car,airplane}) from nothing, on a CPU.
#
#   bash train/run_all.sh                   # both categories, CPU presets, about 3.5 h on a 2-core machine
#   CATEGORIES=car bash train/run_all.sh    # one category (the shared encoders still see both datasets)
#   PRESET=gpu bash train/run_all.sh        # paper-scale presets on a GPU
#
# Stages (each resumable: rerun the same command after an interruption):
#   1. datasets: data/<category>, NUM_SHAPES procedural shapes each (python -m latentmapper.data build)
#   2. two lanes at once, one core each:
#        lane A: per category, DIT auto-decoder with DIF-Net's correction (85-minute cap, which
#                stops it near epoch 155 of 240), then DIT codes fitted to validation shapes (4 min)
#        lane B: encoders (small CLIP + MAE ViT) on all categories' renders, then per category
#                codebook + features (the 9 views, 2 zoomed / rotated copies of each, 27 renders
#                between the training views; about 35 min), then the autoencoder
#
# The time above is the sum of the stages as measured one by one (lane A about 3 h); the
# script has not yet been timed end to end with these presets (issue 17, item 4).
#   3. per category: mapper (early stopping on held-out training shapes), then the pipeline is
#      assembled in fp16 into OUT/latentmapper-<category>, with the renders' framing statistics
#      (photo mode's framing component) added
#   4. the photo-mode matting U-Net on all categories' photo-like renders (25 min), its fp16
#      weights copied into OUT/photo-matting
#   5. with car among the categories: the CycleGAN translator on the car stand-in photo domain
#      (20 min), added in fp16 to OUT/latentmapper-car
# Logs go to RUNS/logs/; the wall time of each stage is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

CATEGORIES=${CATEGORIES:-"car airplane"}
NUM_SHAPES=${NUM_SHAPES:-600}
PRESET=${PRESET:-cpu}
RUNS=${RUNS:-runs/ship}
DATA=${DATA:-data}
OUT=${OUT:-checkpoints}
VAL_SHAPES=${VAL_SHAPES:-32}      # validation shapes whose DIT codes are fitted for early stopping
FIT_STEPS=${FIT_STEPS:-200}
FIT_SAMPLES=${FIT_SAMPLES:-1024}
PY=${PYTHON:-python}
LOGS="$RUNS/logs"
mkdir -p "$LOGS"

stage() {  # stage NAME COMMAND...: run with its output in LOGS/NAME.log and print how long it took
  local name=$1; shift
  local began=$SECONDS
  echo "[$(date +%H:%M:%S)] $name: started"
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    echo "[$(date +%H:%M:%S)] $name: FAILED, see $LOGS/$name.log" >&2
    tail -n 20 "$LOGS/$name.log" >&2
    return 1
  fi
  echo "[$(date +%H:%M:%S)] $name: done in $((SECONDS - began)) s"
}

datasets=()
for c in $CATEGORIES; do datasets+=("$DATA/$c"); done
# The encoders are shared: they learn from every category's renders, as a real CLIP / DINO would.
encoder_data=()
for c in car airplane; do encoder_data+=("$DATA/$c"); done

began=$SECONDS
for c in car airplane; do
  if [ ! -f "$DATA/$c/dataset_dict.json" ]; then
    stage "data-$c" $PY -m latentmapper.data build --category "$c" --num-shapes "$NUM_SHAPES" --out "$DATA/$c"
  fi
done

# Airplanes draw a quarter of each DIT batch from beyond the SDF clamp: their thin wings leave few
# far samples in the data, and without them the decoder runs wings on to the grid bounds
# (Chamfer x1e3 of 8 training shapes from their codes: 28.1 without, 12.8 with).
far_fraction() { if [ "$1" = airplane ]; then echo 0.25; else echo 0.0; fi; }
# Airplanes are also rendered from 54 cameras between the training views instead of the preset's 27:
# on the 60 validation airplanes 54 views took the unseen views from 1.21-1.26 to 0.94-1.05 for
# 0.02-0.03 on the 9 views (README: Views between the training views, again). Both mappers are the
# seed-1 runs, the ones shipped (README: A linear read of the renders, and where the mapper's fit stops).
novel_views() { if [ "$1" = airplane ]; then echo 54; else echo 27; fi; }
MAPPER_SEED=1

lane_dit() {
  for c in $CATEGORIES; do
    stage "dit-$c" $PY train/train_dit.py --dataset "$DATA/$c" --preset "$PRESET" --output "$RUNS/$c/dit" \
      --resume --set training.cpu_workers=1 --set "training.far_fraction=$(far_fraction "$c")"
    stage "fit-validation-$c" $PY train/fit_split_latents.py --dit "$RUNS/$c/dit" --dataset "$DATA/$c" \
      --split validation --limit "$VAL_SHAPES" --steps "$FIT_STEPS" --samples "$FIT_SAMPLES" \
      --output "$RUNS/$c/validation_latents.safetensors"
  done
}

lane_features() {
  stage encoders $PY train/train_encoders.py --dataset "${encoder_data[@]}" --preset "$PRESET" \
    --output "$RUNS/encoders" --resume
  for c in $CATEGORIES; do
    stage "features-$c" $PY train/precompute_features.py --dataset "$DATA/$c" --encoders "$RUNS/encoders" \
      --preset "$PRESET" --set "novel_views.per_shape=$(novel_views "$c")" --output "$RUNS/$c/features" --resume
    stage "autoencoder-$c" $PY train/train_autoencoder.py --features "$RUNS/$c/features" --preset "$PRESET" \
      --output "$RUNS/$c/autoencoder" --resume
  done
}

lane_dit & dit_pid=$!
lane_features & features_pid=$!
status=0
wait "$dit_pid" || status=1
wait "$features_pid" || status=1
[ "$status" -eq 0 ] || { echo "a training lane failed; fix it and rerun: finished stages are kept" >&2; exit 1; }

for c in $CATEGORIES; do
  # both stages: the L1 fit, then the shape-space refinement (sdf_refinement), chosen on the validation
  # shapes of both categories (README: Scoring the mapper by the shape it makes)
  stage "mapper-$c" $PY train/train_mapper.py --features "$RUNS/$c/features" \
    --autoencoder "$RUNS/$c/autoencoder" --latents "$RUNS/$c/dit/latents.safetensors" \
    --val-latents "$RUNS/$c/validation_latents.safetensors" --dit "$RUNS/$c/dit" --dataset "$DATA/$c" \
    --preset "$PRESET" --set "seed=$MAPPER_SEED" --output "$RUNS/$c/mapper" --resume
  stage "assemble-$c" $PY train/assemble_pipeline.py --category "$c" --encoders "$RUNS/encoders" \
    --features "$RUNS/$c/features" --autoencoder "$RUNS/$c/autoencoder" --mapper "$RUNS/$c/mapper" \
    --dit "$RUNS/$c/dit" --fp16 --output "$OUT/latentmapper-$c"
  stage "framing-$c" $PY -m latentmapper.photo fit-framing --dataset "$DATA/$c" --out "$RUNS/framing"
  stage "photo-components-$c" $PY train/add_photo_components.py --pipeline "$OUT/latentmapper-$c" \
    --framing "$RUNS/framing/$c"
done
stage photo-matting $PY train/train_matting.py --dataset "${encoder_data[@]}" --preset "$PRESET" \
  --output "$RUNS/matting" --resume --fp16
mkdir -p "$OUT/photo-matting" && cp "$RUNS/matting/matting/"* "$OUT/photo-matting/"
if [[ " $CATEGORIES " == *" car "* ]]; then
  stage stand-in-car $PY -m latentmapper.photo stand-in --out "$RUNS/cyclegan/data" --dataset "$DATA/car" \
    --views-per-shape 2 --framing "$OUT/latentmapper-car/framing" --remover "$OUT/photo-matting"
  stage cyclegan-car $PY train/train_cyclegan.py --photos "$RUNS/cyclegan/data/photos_prepared" \
    --renders "$RUNS/cyclegan/data/renders" --preset "$PRESET" --output "$RUNS/cyclegan" --resume
  stage translator-car $PY train/add_photo_components.py --pipeline "$OUT/latentmapper-car" \
    --translator "$RUNS/cyclegan/translator" --fp16
fi
echo "all stages done in $(( (SECONDS - began) / 60 )) min $(( (SECONDS - began) % 60 )) s"
