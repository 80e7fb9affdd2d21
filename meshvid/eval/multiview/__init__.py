"""`meshvid eval --dataset multiview DIR`: the whole `infer` pipeline scored on real,
calibrated multi-camera footage with reference 3D joints (docs/eval-multiview.md).

Modules: calibration (TOML cameras, projection), reference (TRC / NPZ joints), dataset (the
folder), infer_cache (the pipeline per camera, cached), matching (reference people <-> tracks),
metrics (masked per-frame errors), score (one camera), report (tables, JSON, plots), run
(orchestration).
"""
