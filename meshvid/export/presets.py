"""Axis and unit presets for the tools people drop our files into.

The exporters first build one canonical scene: Blender's world (right-handed, Z up, metres;
characters facing the camera face -Y, the video camera looks along +Y). A preset then says how
each file format stores that scene:

| preset  | FBX axes (up, forward)   | FBX units                     | BVH                 |
|---------|--------------------------|-------------------------------|---------------------|
| blender | Z up, Blender's own axes | metres (UnitScaleFactor 100)  | Y up, metres        |
| unity   | Y up, -Z forward         | metres (UnitScaleFactor 100)  | Y up, metres        |
| unreal  | Z up, Blender's own axes | centimetres (UnitScaleFactor 1)| Y up, centimetres  |

Why these: Unity reads an FBX's declared axis system and converts it to its own Y-up frame;
a file that is already Y-up with the character facing +Z (Blender's -Z "forward" setting)
needs no rotation there (the rig's data are stored Y up so root nodes carry no -90 deg X
rotation either), and "FBX Units Scale" gives UnitScaleFactor 100 (1 unit = 1 m) so
Unity shows scale 1 instead of 100. Unreal works in centimetres, Z up: we build the scene in
centimetres (Blender unit scale 0.01, every length x100), which makes the file's unit the
centimetre with object scale 1, the setting Unreal imports without rescaling the skeleton;
its axes stay Blender's (Z up, characters facing -Y), which is the right-handed frame Unreal's
importer converts to before mirroring Y, so root nodes need no extra rotation.
BVH files carry no axis or unit metadata and nearly every reader assumes Y up (Blender's BVH
importer does too), so BVH is always Y up with the character facing +Z; only its unit follows
the preset. glTF/GLB is Y-up metres by specification, so presets do not change GLB files.

Plain data (no bpy, no torch): the Blender worker receives these values in its job file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from meshvid.errors import InputError


@dataclass(frozen=True)
class ExportPreset:
    name: str
    length_scale: float  # scene units per metre (100 for centimetres)
    unit_scale_length: float  # Blender's scene.unit_settings.scale_length (metres per unit)
    fbx_axis_up: str
    fbx_axis_forward: str
    fbx_apply_scale_options: str
    description: str
    # "Y": armatures and meshes hold Y-up data inside objects rotated +90 deg about X, so that
    # after the FBX exporter's Z-up -> Y-up conversion their root nodes carry no rotation
    # (Unity otherwise shows the well-known -90 deg X on every imported Blender object).
    object_data_up: str = "Z"

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ExportPreset] = {
    "blender": ExportPreset(
        name="blender", length_scale=1.0, unit_scale_length=1.0,
        fbx_axis_up="Z", fbx_axis_forward="Y", fbx_apply_scale_options="FBX_SCALE_UNITS",
        description="Z up, metres: Blender's own axes, imports with no rotation or scale",
    ),
    "unity": ExportPreset(
        name="unity", length_scale=1.0, unit_scale_length=1.0,
        fbx_axis_up="Y", fbx_axis_forward="-Z", fbx_apply_scale_options="FBX_SCALE_UNITS",
        description="Y up, metres, characters face +Z: Unity's frame, scale 1 on import",
        object_data_up="Y",
    ),
    "unreal": ExportPreset(
        name="unreal", length_scale=100.0, unit_scale_length=0.01,
        fbx_axis_up="Z", fbx_axis_forward="Y", fbx_apply_scale_options="FBX_SCALE_UNITS",
        description="Z up, centimetres: Unreal's units, skeleton at scale 1 on import",
    ),
}


def get_preset(name: str) -> ExportPreset:
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise InputError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}"
        ) from None
