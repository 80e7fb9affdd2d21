"""FBX reader (any humanoid rig), through the `ufbx` PyPI bindings (MIT; FBX 6.x ASCII and
7.x binary, with animation evaluation: pre/post rotations, pivots, rotation orders and
inherit modes as the FBX SDK defines them).

What it reads: the skeleton (nodes whose attribute is a bone / FBX "LimbNode"; a file without
bones: its null / empty nodes), each node's world position at every frame of the first
animation stack, sampled at the file's frame rate. ufbx converts the scene to metres and y up
from the axes and unit the file declares, so the Capture has unit "m (declared)" and up "+y".
A file with several skeletons (meshvid's own multi-person exports: `person_<id>:` bones) reads
its first skeleton with at least 9 joints (`index` picks another); `skeletons(path)` counts them.
Leading and trailing frames where the skeleton is shrunk to a point (our exports hide a person
outside their track that way) are dropped (info["hidden_frames"]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meshvid.errors import InputError, MissingDependencyError
from meshvid.motion.capture import Capture

DEFAULT_FPS = 30.0  # a file whose time mode gives no rate
MIN_JOINTS = 9


def _ufbx():
    try:
        import ufbx  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("reading FBX needs the ufbx package (pip install ufbx; "
                                     "it is in requirements.lock)") from None
    return ufbx


def _load(path: Path):
    ufbx = _ufbx()
    axes = ufbx.CoordinateAxes(right=ufbx.CoordinateAxis.POSITIVE_X, up=ufbx.CoordinateAxis.POSITIVE_Y,
                               front=ufbx.CoordinateAxis.POSITIVE_Z)
    try:
        return ufbx.load_file(str(path), ignore_geometry=True, ignore_embedded=True,
                              target_axes=axes, target_unit_meters=1.0)
    except ufbx.UfbxError as err:
        raise InputError(f"{path}: not a readable FBX file ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def _node_table(scene) -> tuple[list, list[int], list[str], list[int]]:
    """(node wrappers, attribute kinds, names, parent index) of every node, read once.

    ufbx 0.0.5's list items must be materialised once and kept while the scene lives: a
    second wrapper of the same node, made after the first was freed, crashes the interpreter."""
    nodes = list(scene.nodes)
    ids = [n.element_id for n in nodes]
    index = {e: i for i, e in enumerate(ids)}
    kinds, names, parents = [], [], []
    for n in nodes:
        kinds.append(int(n.attrib_type))
        names.append(str(n.name))
        parent = n.parent
        parents.append(index.get(parent.element_id, -1) if parent is not None else -1)
    return nodes, kinds, names, parents


def _skeletons(kinds: list[int], parents: list[int]) -> list[list[int]]:
    """Node indices of each skeleton (a bone whose parent is not a bone starts one), parents
    before children; null / empty nodes stand in where a file has no bones."""
    ufbx = _ufbx()
    bone = int(ufbx.ElementType.BONE)
    wanted = bone if bone in kinds else int(ufbx.ElementType.EMPTY)
    member = [k == wanted for k in kinds]
    groups: dict[int, list[int]] = {}
    top = [-1] * len(kinds)
    for i, p in enumerate(parents):  # ufbx lists parents before children
        if not member[i]:
            continue
        top[i] = top[p] if p >= 0 and member[p] else i
        groups.setdefault(top[i], []).append(i)
    return list(groups.values())


def skeletons(path: str | Path) -> int:
    """How many skeletons of at least MIN_JOINTS joints an FBX file holds."""
    scene = _load(Path(path))
    _, kinds, _, parents = _node_table(scene)
    return sum(len(g) >= MIN_JOINTS for g in _skeletons(kinds, parents))


def read_fbx(path: str | Path, index: int = 0) -> Capture:
    """Read one skeleton's motion from an FBX file.

    Args:
        path: the .fbx file (binary or ASCII, FBX 6.x / 7.x).
        index: which skeleton of at least MIN_JOINTS joints (0: the first).
    Returns:
        A Capture: positions (T, J, 3) of the skeleton's joints in metres, y up, at the file's
        frame rate; family "fbx" (the mapping layer names the convention); info: skeletons,
        anim_stack.
    Raises:
        InputError: unreadable file, no skeleton, no animation frames.
        MissingDependencyError: ufbx is not installed.
    """
    ufbx = _ufbx()
    path = Path(path)
    scene = _load(path)
    nodes, kinds, all_names, all_parents = _node_table(scene)
    groups = [g for g in _skeletons(kinds, all_parents) if len(g) >= MIN_JOINTS]
    if not groups:
        raise InputError(f"{path}: no skeleton in the FBX file (no bone hierarchy of {MIN_JOINTS}+ joints)")
    if index >= len(groups):
        raise InputError(f"{path}: skeleton {index} asked for, the file has {len(groups)}")
    group = groups[index]
    at = {i: k for k, i in enumerate(group)}
    names = [all_names[i] or f"node{i}" for i in group]
    parents = [at.get(all_parents[i], -1) for i in group]
    seen: set[str] = set()
    for k, n in enumerate(names):  # names must be unique in a Capture
        if n in seen:
            names[k] = f"{n}#{k}"
        seen.add(names[k])
    settings = scene.settings
    fps = float(settings.frames_per_second) or DEFAULT_FPS
    anim = scene.anim
    stacks = list(scene.anim_stacks)
    stack_name = str(stacks[0].name) if stacks else ""
    if stacks:
        anim = stacks[0].anim
    t0, t1 = float(anim.time_begin), float(anim.time_end)
    n_frames = int(round((t1 - t0) * fps)) + 1
    if n_frames < 2:
        raise InputError(f"{path}: no animation in the FBX file (fewer than 2 frames)")
    positions = np.zeros((n_frames, len(group), 3))
    for f in range(n_frames):
        state = ufbx.evaluate_scene(scene, anim, t0 + f / fps)
        state_nodes = list(state.nodes)  # one wrapper per node, alive while read (see _node_table)
        for k, i in enumerate(group):
            positions[f, k] = state_nodes[i].node_to_world.c3
        del state_nodes, state
    del nodes
    # Frames where the skeleton is shrunk to a point are not motion: meshvid's exports key a
    # person's top bone to scale 1e-7 outside their track (docs/export.md, "Visibility").
    extent = np.ptp(positions, axis=1).max(-1)  # (T,)
    shown = np.nonzero(extent > 0.01 * max(float(np.median(extent)), 1e-12))[0]
    if len(shown) < 2:
        raise InputError(f"{path}: the skeleton is hidden (scaled to a point) in all but {len(shown)} frame(s)")
    hidden = n_frames - (shown[-1] + 1 - shown[0])
    positions = positions[shown[0]:shown[-1] + 1]
    return Capture(name=path.stem, path=path, family="fbx", fps=fps, joints=tuple(names),
                   parents=tuple(parents), positions=positions, unit=1.0, unit_name="m (declared)",
                   info={"skeletons": len(groups), "anim_stack": stack_name, "hidden_frames": int(hidden)},
                   up="+y")
