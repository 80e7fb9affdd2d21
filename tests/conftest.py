"""Suite-wide rules and helpers.

Skips are failures: `scripts/setup.sh` installs every dependency the tests use (bpy, anny,
openvino, Mesa EGL), so a skipped test in that install (what CI runs) hides a broken feature.
On a partial developer install, `MESHVID_ALLOW_SKIPS=1` turns them back into skips.

`meshvid_cli`: runs the real `meshvid` entry point (meshvid.cli.main.run, which turns expected
failures into one line) in-process, so error-path tests see exactly what a user sees.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest

ALLOW_SKIPS = os.environ.get("MESHVID_ALLOW_SKIPS", "") not in ("", "0")


def _skip_to_failure(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"skipped ({reason}), and a skip is a failure in the full install "
                       "(scripts/setup.sh); set MESHVID_ALLOW_SKIPS=1 on a partial install")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not ALLOW_SKIPS and not hasattr(report, "wasxfail"):
        _skip_to_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not ALLOW_SKIPS:  # a module-level importorskip
        _skip_to_failure(report)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def meshvid_cli(capsys, monkeypatch):
    """`meshvid_cli("eval", "--weights", ...)` -> CliResult(exit code, stdout, stderr).

    An unexpected exception (a bug: the user would see a traceback) propagates and fails the
    test; an expected one comes back as the one line `run()` prints and its exit code."""
    from meshvid.cli.main import run

    def call(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["meshvid", *map(str, args)])
        code = 0
        try:
            run()
        except SystemExit as ex:
            code = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return call


def assert_one_line_error(res: CliResult, *fragments: str) -> None:
    """Non-zero exit, no traceback, one line on stderr containing every fragment."""
    assert res.code != 0, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def keypoint_net_folder(out, name: str):
    """A weights folder: the shipped DSD-SATN plus a keypoints-only network (random heads)
    saved as `name` (orient.safetensors or body.safetensors)."""
    import shutil

    import torch

    from meshvid.model import build_model
    from meshvid.model.config import cpu_config
    from meshvid.paths import weights_dir
    from meshvid.train.export import write_dsd

    for file in ("dsd.safetensors", "satn.safetensors", "config.yaml"):
        shutil.copy(weights_dir() / "dsd_satn_cpu" / file, out / file)
    cfg = cpu_config()
    cfg.dsd.variant = "skeleton"
    cfg.satn = None
    torch.manual_seed(0)
    write_dsd(build_model(cfg, load_backbone_weights=True).eval(), out / name)
    return out


def refuses_image_network_as(folder, tmp_path, name: str) -> None:
    """A folder whose keypoints-only slot `name` holds the image DSD is refused in one line."""
    import shutil

    from meshvid.errors import MissingAssetError
    from meshvid.pipeline.regressor import MeshRegressor

    for file in ("dsd.safetensors", "satn.safetensors", "config.yaml"):
        shutil.copy(folder / file, tmp_path / file)
    shutil.copy(folder / "dsd.safetensors", tmp_path / name)
    with pytest.raises(MissingAssetError, match="not a keypoints-only network"):
        MeshRegressor(tmp_path)


def keypoint_batch(n: int = 3, seed: int = 2):
    """Random crops (n, 224, 224, 3) uint8, crop-normalised keypoints (n, 17, 2) and
    confidences (n, 17): what MeshRegressor.single_frame takes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 255, (n, 224, 224, 3), dtype=np.uint8)
    kp = rng.uniform(-0.6, 0.6, (n, 17, 2)).astype(np.float32)
    return crops, kp, np.full((n, 17), 0.9, np.float32)
