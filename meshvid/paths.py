"""Where meshvid finds its shipped artifacts and keeps its caches (one owner for these paths)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def weights_dir() -> Path:
    """Shipped weights: $MESHVID_WEIGHTS_DIR, else the repository's weights/ folder."""
    return Path(os.environ.get("MESHVID_WEIGHTS_DIR", REPO_ROOT / "weights"))


def cache_dir() -> Path:
    """Derived, re-creatable files (e.g. exported detector models): $MESHVID_CACHE_DIR or
    ~/.cache/meshvid."""
    path = Path(os.environ.get("MESHVID_CACHE_DIR", Path.home() / ".cache" / "meshvid"))
    path.mkdir(parents=True, exist_ok=True)
    return path
