"""BVH writer (numpy, no Blender needed).

BVH's joint frames are the rest pose's world-aligned axes and its channels rotate each joint
relative to its parent in those axes, which is exactly the SMPL pose convention, so the local
rotations below are exact (no bone-roll conversion as for Blender bones).

A BVH file holds one skeleton, so each person gets a file of their own:
`<stem>_person_<track id>.bvh`. Axes: Y up, the character's front +Z (the de-facto BVH frame
that Blender, MotionBuilder and most retargeting tools assume); units follow the preset
(metres, or centimetres for Unreal). BVH has no field for a start frame, so every file starts
at source frame 0 (row i = frame i, for any subset of people) and runs to the last frame of
the exported people: files line up with the video and with each other. Before a person
appears and after they leave their first/last pose is held (BVH cannot hide a skeleton), and
frames missing inside a track are interpolated (slerp for rotations, linear for positions).
Channels: joints with root motion (the root; the pelvis under a `--root-bone` root)
`Xposition Yposition Zposition Zrotation Xrotation Yrotation` with OFFSET 0 (the channels are
the whole translation relative to the parent), other joints the three rotations, i.e. local
rotation = Rz @ Rx @ Ry (degrees).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from meshvid.export.atomic import atomic_output
from meshvid.export.rig import (RigPerson, RigScene, local_rotations, local_translations,
                                resample_to_range)

# Export world (Z up, front -Y) -> BVH (Y up, front +Z): (x, y, z) -> (x, z, -y).
WORLD_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
BVH_FIRST_FRAME = 0  # row i of every BVH is source frame i, whichever people are exported
EULER_ORDER = "ZXY"  # intrinsic: R = Rz(a) @ Rx(b) @ Ry(c), matching the channel order


def continuous_euler(rotmats: np.ndarray, order: str = EULER_ORDER) -> np.ndarray:
    """(N, 3, 3) -> (N, 3) intrinsic Euler angles in radians without 2*pi jumps or flips.

    Each rotation has two Euler triples (a, b, c) and (a + pi, pi - b, c + pi) (for the middle
    axis), plus 2*pi multiples; per frame we pick the one nearest the previous frame so
    interpolating readers do not spin a limb the long way round.
    """
    angles = Rotation.from_matrix(rotmats).as_euler(order)
    out = np.empty_like(angles)
    prev = None
    for i, (a, b, c) in enumerate(angles):
        candidates = np.array([[a, b, c], [a + np.pi, np.pi - b, c + np.pi]])
        if prev is not None:
            candidates = prev + (candidates - prev + np.pi) % (2 * np.pi) - np.pi
            best = candidates[np.argmin(np.abs(candidates - prev).sum(axis=1))]
        else:
            best = candidates[0]
        out[i] = best
        prev = best
    return out


def bvh_text(person: RigPerson, scene: RigScene) -> str:
    """The whole BVH file for one person: rows for source frames 0 .. scene.frame_end."""
    parents = scene.parents
    names = scene.joint_names  # one person per file: the rig's plain names
    located = scene.located
    slot = {j: k for k, j in enumerate(located)}
    rest = person.rest_joints @ WORLD_TO_BVH.T
    # Joint rotations in BVH axes, then relative to the parent, then resampled per frame.
    glob = WORLD_TO_BVH @ person.joint_rot @ WORLD_TO_BVH.T
    pos = person.joint_pos @ WORLD_TO_BVH.T
    local, local_pos = resample_to_range(
        person.frame_ids, local_rotations(glob, parents),
        local_translations(glob, pos, parents, located), BVH_FIRST_FRAME, scene.frame_end)
    euler = np.degrees(np.stack([continuous_euler(local[:, j]) for j in range(len(parents))], 1))

    children: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    tails = person.bone_tails @ WORLD_TO_BVH.T
    lines = ["HIERARCHY"]
    order: list[int] = []

    def write(j: int, depth: int) -> None:
        pad = "\t" * depth
        p = parents[j]
        # A joint with position channels has OFFSET 0: its channels hold its whole
        # translation, so readers that add OFFSET and readers that replace it agree.
        offset = np.zeros(3) if j in slot else rest[j] - rest[p]
        lines.append(f"{pad}{'ROOT' if p < 0 else 'JOINT'} {names[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        if j in slot:
            lines.append(f"{pad}\tCHANNELS 6 Xposition Yposition Zposition "
                         "Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}\tCHANNELS 3 Zrotation Xrotation Yrotation")
        order.append(j)
        if children[j]:
            for c in children[j]:
                write(c, depth + 1)
        else:
            end = tails[j] - rest[j]
            lines.append(f"{pad}\tEnd Site")
            lines.append(f"{pad}\t{{")
            lines.append(f"{pad}\t\tOFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}")
            lines.append(f"{pad}\t}}")
        lines.append(f"{pad}}}")

    write(0, 0)
    n = local.shape[0]
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {1.0 / scene.fps:.8f}"]
    # Euler angles stored (a, b, c) for intrinsic Z, X, Y: exactly the channel order.
    columns = []
    for j in order:
        if j in slot:
            columns.append(local_pos[:, slot[j]])
        columns.append(euler[:, j])
    table = np.concatenate(columns, axis=1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in table]
    return "\n".join(lines) + "\n"


def bvh_paths(out_stem: Path, scene: RigScene) -> list[Path]:
    return [out_stem.with_name(f"{out_stem.name}_{p.name}.bvh") for p in scene.persons]


def write_bvh(scene: RigScene, out_stem: str | os.PathLike) -> list[Path]:
    """One BVH per person, `<out_stem>_person_<id>.bvh`, each written atomically."""
    paths = bvh_paths(Path(out_stem), scene)
    for person, path in zip(scene.persons, paths):
        text = bvh_text(person, scene)
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return paths
