"""Human3.6M through the widely used preprocessed annotation files (SPIN/HMR style npz, see
spin_npz.py), e.g. h36m_train.npz, h36m_valid_protocol1.npz, h36m_valid_protocol2.npz, with
the frames extracted under ROOT/images/. The paper's protocol: train on S1, S5, S6, S7, S8,
test on S9 and S11 (section 4.1); 3D joints are LSP-14 (the first 14 of SPIN's 24)."""

from __future__ import annotations

from pathlib import Path

from meshvid.data.records import PoseSample
from meshvid.data.spin_npz import npz_samples
from meshvid.errors import InputError

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")


def load_h36m(annotation: str | Path, image_root: str | Path | None = None,
              subjects: tuple[str, ...] | None = None,
              keypoints_set: str = "lsp14") -> list[PoseSample]:
    """Samples of a Human3.6M annotation npz, optionally only some subjects."""
    annotation = Path(annotation)
    if not annotation.is_file():
        raise InputError(f"Human3.6M annotation file not found: {annotation}")
    samples = npz_samples(annotation, image_root or annotation.parent, "h36m", keypoints_set)
    if subjects is not None:
        samples = [s for s in samples if s.subject in subjects]
    if not any(s.has_3d for s in samples):
        raise InputError(f"{annotation} has no 3D joints ('S'); it is not a Human3.6M file")
    return samples
