"""Moved to meshvid/scene/floor.py (the scene's room: camera motion, gravity, floor, world);
this module re-exports it for existing imports."""

from meshvid.scene.floor import (LEVEL_UP, SKIN_CHUNK, estimate_floor, rest_shape,  # noqa: F401
                                 with_floor)
