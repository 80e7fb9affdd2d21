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
CROPS=${CROPS:-32768}          # single training crops (DSD); the issue-12 runs used the first 15872
SEQ_FRAMES=${SEQ_FRAMES:-6400} # training sequence frames (SATN), 16-frame sequences at 10 fps
HELD_FRAMES=${HELD_FRAMES:-640} # held-out sequence frames (evaluation only)
WORKERS=${WORKERS:-2}
# Motion capture for the skeleton-only rows (train/cpu.yaml data.motions; docs/motion.md says
# where the files come from). MOCAP_ARCHIVES: a folder with cmu_amc.tar.xz and cmu8.tar.xz (and
# cmu8_skeleton.json), extracted to data/mocap once; or extract/copy your own there.
MOCAP_ARCHIVES=${MOCAP_ARCHIVES:-../shared/mocap}
if [ ! -d data/mocap/data/CMU ] || [ ! -d data/mocap/cmu8 ]; then
  mkdir -p data/mocap
  for a in cmu_amc cmu8; do tar -xJf "$MOCAP_ARCHIVES/$a.tar.xz" -C data/mocap/; done
  cp "$MOCAP_ARCHIVES/cmu8_skeleton.json" data/mocap/
fi
# Bandai Namco (CC BY-NC 4.0) is optional: only the corpus table's "+ Bandai" row and the opt-in
# non-commercial weights use it; the default weights never do.
if [ ! -d data/mocap/dataset ] && [ -f "$MOCAP_ARCHIVES/bandai.tar.xz" ]; then
  tar -xJf "$MOCAP_ARCHIVES/bandai.tar.xz" -C data/mocap/
fi

# 1. Synthetic data (docs/synth.md) and the detector's keypoints on every render (eval and
# training feed the skeleton branch what inference feeds it). Held-out clips: dance_b,
# cartwheel, getup_faceup.
$MESHVID synth --kind crops --split train --frames "$CROPS" --seed 0 --workers "$WORKERS" --out "$DATA/train_crops"
$MESHVID synth --kind sequences --split train --frames "$SEQ_FRAMES" --seq-len 16 --fps 10 --seed 1 --workers "$WORKERS" --out "$DATA/train_seq"
$MESHVID synth --kind sequences --split heldout --frames "$HELD_FRAMES" --seq-len 16 --fps 10 --seed 2 --workers "$WORKERS" --out "$DATA/heldout_seq"
for d in train_crops train_seq heldout_seq; do $MESHVID synth detect "$DATA/$d"; done
# Held-out renders of each motion-capture corpus (issue 13; its held-out clips only): one
# evaluation set per corpus, data/heldout/<corpus>/heldout_seq.
for c in cmu:data/mocap/data/CMU cmu8:data/mocap/cmu8 bandai:data/mocap/dataset; do
  [ -d "${c#*:}" ] || continue
  $MESHVID synth --kind sequences --split heldout --only-motions --motions "${c#*:}" --frames 320 \
    --seq-len 16 --fps 10 --seed 3 --workers "$WORKERS" --out "data/heldout/${c%%:*}/heldout_seq"
  $MESHVID synth detect "data/heldout/${c%%:*}/heldout_seq"
done

# 2. The keypoint-noise model of YOLO11n-pose, measured on the training renders only.
$PY train/fit_keypoint_noise.py --data "$DATA/train_crops" "$DATA/train_seq" --out weights/keypoint_noise/yolo11n_pose.npz --plots docs/img

# 3. The shipped model: DSD (stage 1), features (2), SATN (3).
$MESHVID train --config train/cpu.yaml --set data.synthetic="$DATA"
# The issue-12 recipe (repaired fusion, detector keypoints, skeleton-only rows): trained and
# measured, not shipped yet (docs/training.md).
$MESHVID train --config train/cpu_dsd_fix.yaml --set data.synthetic="$DATA"

# 4. Ablations. Table 2 (fusions, single frame, the issue-12 recipe) at one budget on the crops
# + skeleton-only rows; the temporal ones reuse the shipped DSD.
for r in ablation_dsd ablation_concat ablation_skeleton ablation_direct; do
  $MESHVID train --config "train/$r.yaml" --set data.synthetic="$DATA/train_crops"
done
for r in ablation_tcn ablation_tcn_sa; do
  $MESHVID train --config "train/$r.yaml" --set data.synthetic="$DATA"
done

# 5. Ship + evaluate + model card, then the ablation tables.
$PY train/ship_cpu.py --run runs/cpu --out weights/dsd_satn_cpu --data "$DATA"
$PY train/ablations.py --runs runs --data "$DATA" --out docs

# 6. Issue 15: SATN retrained on skeleton sequences (+ the rendered training sequences) on top
# of the shipped DSD, which stays as it is; Table 5 (tcn / tcn+sa / satn) at one budget; the
# fixed filters tuned on the same validation clips; satn.safetensors replaced.
for r in satn_seq_tcn satn_seq_tcn_sa; do
  $PY train/train_satn_seq.py --config "train/$r.yaml" --set seqdata.rendered="$DATA/train_seq"
done
$PY train/train_satn_seq.py --config train/satn_seq.yaml --set seqdata.rendered="$DATA/train_seq" \
  --ship weights/dsd_satn_cpu
# The DSD without what it never uses (the wheel's backbone, the detail units that never
# activate): the same outputs, 43 -> 10 MB (issue 12; the model card has the check).
$PY train/compact_dsd.py --weights weights/dsd_satn_cpu --data "$DATA"
$PY train/tune_smoothers.py --config train/satn_seq.yaml --out runs/satn_seq/smoothers.json
$PY train/satn_seq_report.py --runs runs --data "$DATA" --docs docs
$MESHVID eval --dataset synthetic --data "$DATA" --weights weights/dsd_satn_cpu \
  $(python3 -c "import json; b=json.load(open('runs/satn_seq/smoothers.json'))['best']; print(' '.join('--smooth ' + v for v in b.values()))") \
  --out weights/dsd_satn_cpu/eval
$PY train/regression_bounds.py --weights weights/dsd_satn_cpu  # regression.json + card section

# 7. Issue 13: the corpus table. One repaired-DSD run per motion mix of the skeleton-only rows,
# at one budget, each scored on every corpus's held-out renders (docs/training.md, "Corpus
# table"); the lifter probe measures a mix in minutes before a DSD run is paid for. The Bandai
# rows run only when its archive was extracted (CC BY-NC 4.0).
for r in corpus_dm corpus_cmu corpus_dm_joints; do
  $MESHVID train --config "train/$r.yaml" --set data.synthetic="$DATA"
done
MIXES=("deepmimic=0.9,anny-walkcycle=0.1" "deepmimic=1,anny-walkcycle=0.1,cmu=1,cmu8=1")
$PY train/lift_probe.py --mix "${MIXES[0]}" --out runs/probe/deepmimic.json
$PY train/lift_probe.py --mix "${MIXES[1]}" --motions data/mocap/data/CMU --motions data/mocap/cmu8 --out runs/probe/cmu.json
REPORT=(--weights shipped=weights/dsd_satn_cpu --weights corpus_dm=runs/corpus_dm/dsd.safetensors
        --weights corpus_cmu=runs/corpus_cmu/dsd.safetensors --weights corpus_dm_joints=runs/corpus_dm_joints/dsd.safetensors)
if [ -d data/mocap/dataset ]; then
  $MESHVID train --config train/corpus_bandai.yaml --set data.synthetic="$DATA"
  $PY train/lift_probe.py --mix "${MIXES[1]},bandai=1" --motions data/mocap/data/CMU --motions data/mocap/cmu8 \
    --motions data/mocap/dataset --out runs/probe/bandai.json
  REPORT+=(--weights corpus_bandai=runs/corpus_bandai/dsd.safetensors)
fi
$PY train/corpus_report.py "${REPORT[@]}" --out runs/corpus_report

# 8. Issue 24: the root-orientation network (orient.safetensors): a keypoints-only network
# trained on 65,536 rows of the CMU library (training subjects; half the cameras raised to look
# down 15-40 degrees), detector keypoints simulated as Gaussian jitter (sigma 0.02 crop units),
# 6 epochs (~3 min; the rows ~8-12 min, cached in runs/_cache). The library is extracted from
# ../shared/mocap/cmu_fbxlib_*.tar.xz into data/mocap/cmu_fbxlib (docs/motion.md).
$PY train/train_dsd_cmu.py --config train/cmu_skeleton.yaml --set dsd.epochs=6 \
  --set "dsd.lr_decay_epochs=[5]" --set data.keypoint_noise.kind=gaussian \
  --set data.keypoint_noise.sigma=0.02 --rows 65536 --raised-p 0.5 --out runs/cmu_skel_g02
$PY train/ship_orientation.py runs/cmu_skel_g02/dsd.safetensors weights/dsd_satn_cpu

# 9. Issues 24/28: the articulation network (body.safetensors): a keypoints-only network trained
# on 524,288 rows of the CMU library (8 cached blocks of 65,536, seeds 24-31; half the cameras
# raised, as in step 8) plus 65,536 skeleton rows of the synth library (the motions the shipped
# DSD was rendered from; the synth's own cameras), the same Gaussian jitter, 6 epochs (~19 min;
# rows ~2-7 min a block with 2 workers + ~12 min, cached); its joints 1..23 are averaged with
# the DSD-SATN's by `meshvid infer` (docs/model.md, "Articulation network").
$PY train/train_dsd_cmu.py --config train/cmu_skeleton.yaml --set dsd.epochs=6 \
  --set "dsd.lr_decay_epochs=[5]" --set data.keypoint_noise.kind=gaussian \
  --set data.keypoint_noise.sigma=0.02 --rows 524288 --builtin-rows 65536 --raised-p 0.5 \
  --library cmu+builtin --out runs/mix524k
$PY train/ship_orientation.py runs/mix524k/dsd.safetensors weights/dsd_satn_cpu --role body
