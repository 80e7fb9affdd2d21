#!/usr/bin/env bash
# Regenerate weights/dsd_satn_cpu/ and docs/ablations.md end to end on a CPU machine:
# synthetic data -> DSD + SATN (train/cpu.yaml) -> ablations -> shipped weights + model card.
# Every step resumes: re-running after an interruption continues where it stopped.
# Time on the 2-core development machine: see weights/dsd_satn_cpu/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "$0")/.."
MESHVID=${MESHVID:-.venv/bin/meshvid}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/cpu}
CROPS=${CROPS:-32768}          # single training crops (DSD)
SEQ_FRAMES=${SEQ_FRAMES:-6400} # training sequence frames (SATN), 16-frame sequences at 10 fps
HELD_FRAMES=${HELD_FRAMES:-640} # held-out sequence frames (evaluation only)
WORKERS=${WORKERS:-2}

# 1. Synthetic data (docs/synth.md). Held-out clips: dance_b, cartwheel, getup_faceup.
$MESHVID synth --kind crops --split train --frames "$CROPS" --seed 0 --workers "$WORKERS" --out "$DATA/train_crops"
$MESHVID synth --kind sequences --split train --frames "$SEQ_FRAMES" --seq-len 16 --fps 10 --seed 1 --workers "$WORKERS" --out "$DATA/train_seq"
$MESHVID synth --kind sequences --split heldout --frames "$HELD_FRAMES" --seq-len 16 --fps 10 --seed 2 --workers "$WORKERS" --out "$DATA/heldout_seq"

# 2. The shipped model: DSD (stage 1), features (2), SATN (3).
$MESHVID train --config train/cpu.yaml --set data.synthetic="$DATA"

# 3. Ablations (they reuse the cached backbone features; the temporal ones reuse the DSD).
for r in ablation_tcn ablation_tcn_sa ablation_direct ablation_concat ablation_dsd; do
  $MESHVID train --config "train/$r.yaml" --set data.synthetic="$DATA"
done

# 4. Ship + evaluate + model card, then the ablation tables.
$PY train/ship_cpu.py --run runs/cpu --out weights/dsd_satn_cpu --data "$DATA"
$PY train/regression_bounds.py --weights weights/dsd_satn_cpu  # regression.json + card section
$PY train/ablations.py --runs runs --data "$DATA" --out docs
