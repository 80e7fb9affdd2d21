"""FBX reader (any humanoid rig), through the `ufbx` PyPI bindings (MIT; FBX 6.x ASCII and
7.x binary, with animation evaluation: pre/post rotations, pivots, rotation orders and
inherit modes as the FBX SDK defines them).

What it reads: the skeleton (nodes whose attribute is a bone / FBX "LimbNode"; a file without
bones: its null / empty nodes), each node's world position at every frame of the first
animation stack, sampled at the file's frame rate. ufbx converts the scene to metres and y up
from the axes and unit the file declares, so the Capture has unit "m (declared)" and up "+y".
A file with several skeletons (meshvid's own multi-person exports: `person_<id>:` bones):
`read_fbx` reads its first skeleton with at least 9 joints (`index` picks another),
`read_fbx_all` every one (what the corpora and `meshvid motion info` read), named after the
root bone's namespace; `skeletons(path)` counts them.
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
        skeleton (its name, e.g. "person_3"), skeleton_index, anim_stack, hidden_frames.
    Raises:
        InputError: unreadable file, no skeleton, no animation frames.
        MissingDependencyError: ufbx is not installed.
    """
    return _read(Path(path), index)[0]


def read_fbx_all(path: str | Path) -> list[Capture]:
    """Every skeleton of an FBX file (our multi-person exports: one per person), each a
    Capture as `read_fbx` makes it, from one evaluation of the scene per frame. With several
    skeletons a capture's name is "<file stem>#<skeleton name>" (e.g. "toy#person_3").

    Raises:
        InputError: unreadable file, no skeleton, no animation frames, or every skeleton hidden.
    """
    return _read(Path(path), None)


def skeleton_name(names: list[str], k: int) -> str:
    """A skeleton's name: the namespace of its root bone ("person_3:pelvis" -> "person_3", as
    our exports write it; FBX and Maya separate namespaces with ':'), else "skeleton<k>"."""
    root = names[0] if names else ""
    return root.rsplit(":", 1)[0] if ":" in root else f"skeleton{k}"


def _read(path: Path, index: int | None) -> list[Capture]:
    """The captures of skeleton `index` (None: all of them, the hidden ones left out)."""
    groups, names_of, parents_of, positions, fps, stack_name = _evaluate(path, index)
    wanted = list(range(len(groups))) if index is None else [index]
    out, first, errors = [], 0, []
    for k in wanted:
        group = groups[k]
        names = [names_of[i] or f"node{i}" for i in group]
        label = skeleton_name(names, k)
        block = positions[:, first:first + len(group)]
        first += len(group)
        try:
            pos, hidden = _shown(block, path, label if len(groups) > 1 else "")
        except InputError as err:
            errors.append(str(err))
            continue
        at = {i: j for j, i in enumerate(group)}
        parents = [at.get(parents_of[i], -1) for i in group]
        seen: set[str] = set()
        for j, n in enumerate(names):  # names must be unique in a Capture
            if n in seen:
                names[j] = f"{n}#{j}"
            seen.add(names[j])
        out.append(Capture(name=path.stem if len(groups) == 1 else f"{path.stem}#{label}", path=path,
                           family="fbx", fps=fps, joints=tuple(names), parents=tuple(parents), positions=pos,
                           unit=1.0, unit_name="m (declared)",
                           info={"skeletons": len(groups), "skeleton": label, "skeleton_index": k,
                                 "anim_stack": stack_name, "hidden_frames": hidden}, up="+y"))
    if not out:
        raise InputError(errors[0] if len(errors) == 1 else f"{path}: every skeleton is hidden: " + "; ".join(errors))
    return out


def _evaluate(path: Path, index: int | None) -> tuple[list[list[int]], list[str], list[int], np.ndarray, float, str]:
    """Load the scene and evaluate skeleton `index` (None: every one) at every frame of the
    first animation stack. Returns (skeletons: node indices each, node names, node parents,
    positions (T, joints of the skeletons evaluated, in order, 3), fps, stack name).

    Only plain Python values leave: ufbx's wrappers are dropped here, derived ones before the
    scene (freeing the scene while a wrapper of it lives crashes the interpreter at the
    wrapper's release)."""
    ufbx = _ufbx()
    scene = _load(path)
    nodes, kinds, all_names, all_parents = _node_table(scene)
    groups = [g for g in _skeletons(kinds, all_parents) if len(g) >= MIN_JOINTS]
    if not groups:
        raise InputError(f"{path}: no skeleton in the FBX file (no bone hierarchy of {MIN_JOINTS}+ joints)")
    if index is not None and index >= len(groups):
        raise InputError(f"{path}: skeleton {index} asked for, the file has {len(groups)}")
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
    members = [i for k in (range(len(groups)) if index is None else [index]) for i in groups[k]]
    positions = np.zeros((n_frames, len(members), 3))
    for f in range(n_frames):
        state = ufbx.evaluate_scene(scene, anim, t0 + f / fps)
        state_nodes = list(state.nodes)  # one wrapper per node, alive while read (see _node_table)
        for k, i in enumerate(members):
            positions[f, k] = state_nodes[i].node_to_world.c3
        del state_nodes, state
    del anim, stacks, settings, nodes
    del scene
    return groups, all_names, all_parents, positions, fps, stack_name


def _shown(positions: np.ndarray, path: Path, label: str) -> tuple[np.ndarray, int]:
    """A skeleton's frames without the leading and trailing ones where it is shrunk to a point:
    meshvid's exports key a person's top bone to scale 1e-7 outside their track
    (docs/export.md, "Visibility"). Returns (positions, frames dropped)."""
    extent = np.ptp(positions, axis=1).max(-1)  # (T,)
    shown = np.nonzero(extent > 0.01 * max(float(np.median(extent)), 1e-12))[0]
    if len(shown) < 2:
        where = f"{path}" + (f" ({label})" if label else "")
        raise InputError(f"{where}: the skeleton is hidden (scaled to a point) in all but {len(shown)} frame(s)")
    hidden = len(positions) - (shown[-1] + 1 - shown[0])
    return positions[shown[0]:shown[-1] + 1], int(hidden)
