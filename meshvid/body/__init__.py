"""Body models behind one interface (meshvid.body.base.BodyModel).

`load_body_model("anny24")` (default; free, shipped in weights/anny24/) or
`load_body_model("smpl", smpl_dir=...)` (the user's licensed SMPL files, or $MESHVID_SMPL_DIR).
"""

from __future__ import annotations

import threading
from pathlib import Path

from meshvid.body.base import BodyModel, BodyOutput

BODY_MODELS: tuple[str, ...] = ("anny24", "smpl")

_CACHE: dict[tuple, BodyModel] = {}
_LOCK = threading.Lock()


def load_body_model(
    name: str = "anny24", smpl_dir: str | Path | None = None, device: str = "cpu", gender: str = "neutral"
) -> BodyModel:
    """Load a body model (cached per name/device/dir: many stages load the same one).

    The returned module is shared: don't modify its buffers in place.
    """
    from meshvid.errors import InputError

    if name not in BODY_MODELS:
        raise InputError(f"unknown body model {name!r}; choose one of: {', '.join(BODY_MODELS)}")
    key = (name, str(device), str(smpl_dir) if smpl_dir is not None else None, gender if name == "smpl" else None)
    with _LOCK:
        model = _CACHE.get(key)
        if model is None:
            if name == "anny24":
                from meshvid.body.anny24 import Anny24Body

                model = Anny24Body()
            else:
                from meshvid.body.smpl import SmplBody

                model = SmplBody(smpl_dir=smpl_dir, gender=gender)
            model = model.to(device).eval()
            _CACHE[key] = model
    return model


__all__ = ["BODY_MODELS", "BodyModel", "BodyOutput", "load_body_model"]
