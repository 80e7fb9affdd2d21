#!/usr/bin/env bash
# Steps 2-3 of train/reproduce_cpu.sh on data that already exists: the shipped model, then the
# ablations. Every step resumes, so re-running after an interruption continues.
set -euo pipefail
cd "$(dirname "$0")/.."
MESHVID=${MESHVID:-.venv/bin/meshvid}
DATA=${DATA:-data/cpu}
$MESHVID train --config train/cpu.yaml --set data.synthetic="$DATA"
for r in ablation_tcn ablation_tcn_sa ablation_direct ablation_concat ablation_dsd; do
  $MESHVID train --config "train/$r.yaml" --set data.synthetic="$DATA"
done
echo TRAIN_ALL_DONE
