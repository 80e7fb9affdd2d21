"""Blender side of the FBX / GLB / .blend export: runs in its own process, numpy + bpy only.

Usage: python blender_worker.py JOB_DIR   (JOB_DIR holds job.json and arrays.npz)

This file deliberately imports nothing from meshvid, so it runs under any Python that has
`bpy` (the meshvid environment by default, or MESHVID_BPY_PYTHON). meshvid/export/blender.py
writes the job, starts this process, reads its progress lines (prefixed "@@meshvid ") and
moves the files it wrote into place. It never writes a final output path itself.

Exit codes: 0 ok, 3 bpy missing, 1 anything else (traceback on stderr).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

EXIT_NO_BPY = 3
# Scale of a person outside their track: not 0, which makes bone matrices singular (readers
# invert them), but small enough that a 2 m body is 0.2 micrometres.
VANISHED = 1e-7
_CONSTANT = 0  # bpy's enum values of keyframe interpolation 'CONSTANT' and 'LINEAR'
_LINEAR = 1


def say(**msg) -> None:
    print("@@meshvid " + json.dumps(msg), flush=True)


def quat_from_matrix(m):
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions w, x, y, z (Shepperd)."""
    import numpy as np

    m = np.asarray(m, dtype=np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                  m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                  1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                  m[..., 1, 2] + m[..., 2, 1], 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
    ], -2)  # (..., 4 candidates, 4); candidate k is 4*q*q_k, best conditioned has max |q_k|
    diag = np.stack([tr, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def continuous_quats(q):
    """(T, ..., 4): flip signs along T so consecutive keys are on the same hemisphere."""
    import numpy as np

    q = q.copy()
    q[0] *= np.where(q[0, ..., :1] < 0, -1.0, 1.0)
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1, keepdims=True) < 0
        q[t] = np.where(flip, -q[t], q[t])
    return q


def bone_basis(rest_local, joint_rot, joint_pos, parents):
    """Pose-bone channels from world joint transforms.

    rest_local (J, 4, 4): each bone's rest matrix in armature space (Bone.matrix_local, which
    includes the bone's own orientation and roll); joint_rot (T, J, 3, 3): world rotation of
    each joint's skinning transform (rest -> posed); joint_pos (T, J, 3): posed joint positions.
    A bone's posed matrix is M_j = [joint_rot_j @ R_rest_j | joint_pos_j] (it carries the bone's
    rest orientation along with the skinning rotation). Blender composes
    M_j = M_parent @ (B_parent^-1 @ B_j) @ basis_j, so basis_j = (B_p^-1 B_j)^-1 M_p^-1 M_j
    and, for the root, basis = B_root^-1 M_root. Returns quaternions (T, J, 4) and each bone's
    location (T, J, 3) in its rest frame (constant zero except for bones with root motion).
    """
    import numpy as np

    t, j = joint_rot.shape[:2]
    posed = np.zeros((t, j, 4, 4))
    posed[..., :3, :3] = joint_rot @ rest_local[:, :3, :3]
    posed[..., :3, 3] = joint_pos
    posed[..., 3, 3] = 1.0
    inv_rest = np.linalg.inv(rest_local)
    inv_posed = np.linalg.inv(posed)
    basis = np.empty_like(posed)
    for k, p in enumerate(parents):
        if p < 0:
            basis[:, k] = inv_rest[k] @ posed[:, k]
        else:
            rel_rest = inv_rest[p] @ rest_local[k]
            basis[:, k] = np.linalg.inv(rel_rest) @ inv_posed[:, p] @ posed[:, k]
    quats = continuous_quats(quat_from_matrix(basis[..., :3, :3]))
    return quats, basis[..., :3, 3]


def _keyframes(action, data_path, group, frames, values, interpolation=_LINEAR) -> None:
    """One F-curve per component, filled in one foreach_set each (fast), linear interpolation."""
    import numpy as np

    for i in range(values.shape[1]):
        fc = action.fcurves.new(data_path, index=i, action_group=group)
        fc.keyframe_points.add(len(frames))
        co = np.stack([frames, values[:, i]], -1).astype(np.float32).ravel()
        fc.keyframe_points.foreach_set("co", co)
        fc.keyframe_points.foreach_set("interpolation",
                                       np.full(len(frames), interpolation, np.int32))
        fc.update()


def build_person(bpy, arrays, key, spec, parents, located, object_matrix, frame_range) -> None:
    import numpy as np
    from mathutils import Matrix

    name = spec["name"]
    names = [str(n) for n in arrays[f"{key}_bone_names"]]
    rest_joints = arrays[f"{key}_rest_joints"]
    tails = arrays[f"{key}_bone_tails"]

    arm_data = bpy.data.armatures.new(name)
    arm_data.display_type = "STICK"
    arm = bpy.data.objects.new(name, arm_data)
    bpy.context.scene.collection.objects.link(arm)
    arm.matrix_world = Matrix(object_matrix)  # identity, or +90 deg X for Y-up data
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    edit = []
    for j, bone_name in enumerate(names):
        eb = arm_data.edit_bones.new(bone_name)
        eb.head = rest_joints[j].tolist()
        eb.tail = tails[j].tolist()
        eb.use_connect = False
        edit.append(eb)
    for j, p in enumerate(parents):
        if p >= 0:
            edit[j].parent = edit[p]
    bpy.ops.object.mode_set(mode="OBJECT")
    rest_local = np.array([np.array(arm_data.bones[n].matrix_local) for n in names])

    # Skinned mesh, bound in the rest pose.
    verts = arrays[f"{key}_rest_vertices"].astype(np.float64)
    faces = arrays[f"{key}_faces"].astype(np.int64)
    mesh = bpy.data.meshes.new(name + "_mesh")
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    mesh.update()
    mesh.shade_smooth()
    mat = bpy.data.materials.new(name + "_material")
    mat.diffuse_color = (*spec["color"], 1.0)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*spec["color"], 1.0)
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(name + "_mesh", mesh)
    bpy.context.scene.collection.objects.link(obj)
    weights = arrays[f"{key}_weights"]
    for j, bone_name in enumerate(names):
        vg = obj.vertex_groups.new(name=bone_name)
        col = weights[:, j]
        idx = np.nonzero(col > 1e-4)[0]
        if idx.size == 0:
            continue
        # One call per distinct weight value: rigid regions (weight 1) go in one call.
        values, inverse = np.unique(col[idx], return_inverse=True)
        for u, value in enumerate(values):
            vg.add(idx[inverse == u].tolist(), float(value), "REPLACE")
    obj.parent = arm
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm

    # Animation: pose-bone quaternions for every bone, location on the bones with root motion
    # (the top bone; the pelvis under a floor-level root bone), visibility on the top bone.
    frames = arrays[f"{key}_frame_ids"].astype(np.float64)
    quats, locs = bone_basis(rest_local, arrays[f"{key}_joint_rot"],
                             arrays[f"{key}_joint_pos"], parents)
    action = bpy.data.actions.new(name)
    for j, bone_name in enumerate(names):
        arm.pose.bones[bone_name].rotation_mode = "QUATERNION"
        path = f'pose.bones["{bone_name}"]'
        _keyframes(action, path + ".rotation_quaternion", bone_name, frames, quats[:, j])
        if j in located:
            _keyframes(action, path + ".location", bone_name, frames, locs[:, j])
    top = names[parents.index(-1)]
    visibility_keys(action, f'pose.bones["{top}"].scale', top, frames, frame_range)
    arm.animation_data_create()
    arm.animation_data.action = action
    if getattr(arm.animation_data, "action_slot", None) is None and len(action.slots):
        arm.animation_data.action_slot = action.slots[0]


def visibility_keys(action, data_path, group, frames, frame_range) -> None:
    """Top bone scale VANISHED outside the person's track (frames[0] .. frames[-1]) within
    the scene range, 1 inside, constant interpolation: the person (every bone and the skinned
    mesh) shrinks to a point where not tracked, in every reader that plays bone transforms
    (FBX, glTF, Blender). A bone and not the armature object, so the objects' own transforms,
    the bind pose and the rest pose stay untouched whatever the current frame."""
    import numpy as np

    start, end = frame_range
    first, last = float(frames[0]), float(frames[-1])
    keys = []
    if first > start:
        keys += [(start, 0.0)]
    if keys or last < end:
        keys += [(first, 1.0)]
    if last < end:
        keys += [(last + 1.0, 0.0)]
    if not keys:
        return  # tracked over the whole range: no scale animation at all
    times = np.array([k[0] for k in keys])
    values = np.array([[k[1] if k[1] else VANISHED] * 3 for k in keys])
    _keyframes(action, data_path, group, times, values, interpolation=_CONSTANT)


def build_camera(bpy, spec, arrays=None) -> None:
    import numpy as np
    from mathutils import Matrix

    width, height = spec["image_size"]
    cam_data = bpy.data.cameras.new("video_camera")
    cam_data.sensor_fit = "AUTO"  # sensor_width spans the longer image side
    cam_data.sensor_width = 36.0
    cam_data.lens = spec["focal_px"] * 36.0 / max(width, height)
    cam_data.clip_start = 0.01 * spec["length_scale"]
    cam_data.clip_end = 1000.0 * spec["length_scale"]
    cam = bpy.data.objects.new("video_camera", cam_data)
    bpy.context.scene.collection.objects.link(cam)
    m = np.eye(4)
    m[:3, :3] = np.array(spec["rotation"])
    m[:3, 3] = np.array(spec["position"])
    cam.matrix_world = Matrix(m.tolist())
    scene = bpy.context.scene
    scene.camera = cam
    scene.render.resolution_x = int(width)
    scene.render.resolution_y = int(height)
    if arrays is not None and spec.get("animated") and "camera_rotations" in arrays:
        animate_camera(bpy, cam, arrays["camera_rotations"], arrays["camera_positions"],
                       scene.frame_start)


def animate_camera(bpy, cam, rotations, positions, frame_start) -> None:
    """Key the camera object on every frame: (N, 3, 3) Blender camera axes in the world and
    (N, 3) positions for frames frame_start .. frame_start + N - 1 (a moving video camera)."""
    import numpy as np
    from mathutils import Matrix

    quats = np.empty((len(rotations), 4))
    prev = None
    for i, rot in enumerate(rotations):
        q = Matrix(np.asarray(rot).tolist()).to_quaternion()
        if prev is not None:
            q.make_compatible(prev)  # no sign flips between keys
        quats[i] = (q.w, q.x, q.y, q.z)
        prev = q
    cam.rotation_mode = "QUATERNION"
    frames = frame_start + np.arange(len(rotations), dtype=np.float64)
    action = bpy.data.actions.new("video_camera")
    _keyframes(action, "rotation_quaternion", "video_camera", frames, quats)
    _keyframes(action, "location", "video_camera", frames, np.asarray(positions, np.float64))
    cam.animation_data_create()
    cam.animation_data.action = action
    if getattr(cam.animation_data, "action_slot", None) is None and len(action.slots):
        cam.animation_data.action_slot = action.slots[0]


def rescale_glb_times(path, end_seconds) -> None:
    """Rescale every animation time in a GLB so the last key is at `end_seconds`, in place.

    Blender 4.5's glTF exporter converts frames to seconds as frame / (fps * fps_base)
    (io_scene_gltf2/blender/exp/animation/keyframes.py) instead of frame / (fps / fps_base),
    so at 30000/1001 fps every time is 0.2% early (frame 1000 at 33.30 s instead of 33.37 s).
    The keys are still at the right frames, proportional to time, so one scale factor fixes
    them; it is derived from the known last frame rather than from the exporter's formula.
    GLB = 12-byte header, a JSON chunk, a BIN chunk.
    """
    import struct

    import numpy as np

    data = bytearray(Path(path).read_bytes())
    magic, version, _ = struct.unpack_from("<4sII", data, 0)
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    if magic != b"glTF" or json_type != b"JSON":
        raise RuntimeError(f"{path} is not a GLB file")
    gltf = json.loads(bytes(data[20:20 + json_len]))
    bin_at = 20 + json_len
    bin_len, bin_type = struct.unpack_from("<I4s", data, bin_at)
    binary = bytearray(data[bin_at + 8:bin_at + 8 + bin_len])
    inputs = sorted({s["input"] for a in gltf.get("animations", []) for s in a["samplers"]})
    written_end = max((gltf["accessors"][i]["max"][0] for i in inputs), default=0.0)
    if written_end <= 0.0:
        return  # a single frame at t = 0: nothing to scale
    factor = end_seconds / written_end
    for index in inputs:
        acc = gltf["accessors"][index]
        view = gltf["bufferViews"][acc["bufferView"]]
        if acc["componentType"] != 5126 or acc["type"] != "SCALAR" or view.get("byteStride"):
            raise RuntimeError("unexpected layout of glTF animation times")
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        times = np.frombuffer(binary, np.float32, acc["count"], start) * np.float32(factor)
        binary[start:start + 4 * acc["count"]] = times.astype(np.float32).tobytes()
        acc["min"], acc["max"] = [float(times.min())], [float(times.max())]
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<I4s", len(text), b"JSON") + text
    body += struct.pack("<I4s", len(binary), bin_type) + bytes(binary)
    Path(path).write_bytes(struct.pack("<4sII", magic, version, 12 + len(body)) + body)


def export(bpy, out) -> None:
    fmt, path = out["format"], out["path"]
    opts = dict(out.get("options", {}))
    if fmt == "fbx":
        if "object_types" in opts:
            opts["object_types"] = set(opts["object_types"])
        result = bpy.ops.export_scene.fbx(filepath=path, **opts)
    elif fmt == "glb":
        # A skinned mesh must be a root node in glTF (the validator's NODE_SKINNED_MESH_NON_ROOT:
        # parent transforms do not apply to it); the Armature modifier alone binds it.
        parented = [(o, o.parent, o.matrix_basis.copy(), o.matrix_parent_inverse.copy())
                    for o in bpy.context.scene.objects
                    if o.type == "MESH" and o.parent is not None]
        for obj, _, _, _ in parented:
            world = obj.matrix_world.copy()
            obj.parent = None
            obj.matrix_basis = world
        try:
            result = bpy.ops.export_scene.gltf(filepath=path, export_format="GLB", **opts)
        finally:
            for obj, parent, basis, parent_inverse in parented:
                obj.parent = parent
                obj.matrix_parent_inverse = parent_inverse
                obj.matrix_basis = basis
        render = bpy.context.scene.render
        if "FINISHED" in result and abs(render.fps_base - 1.0) > 1e-9:
            real_fps = render.fps / render.fps_base
            rescale_glb_times(path, bpy.context.scene.frame_end / real_fps)
    elif fmt == "blend":
        result = bpy.ops.wm.save_as_mainfile(filepath=path, compress=True, copy=True)
    else:
        raise ValueError(f"unknown format {fmt}")
    if "FINISHED" not in result or not Path(path).is_file():
        raise RuntimeError(f"Blender's {fmt} exporter did not write {path}: {result}")


def run(job_dir: Path) -> None:
    t0 = time.perf_counter()
    try:
        import bpy
    except ImportError as err:
        print(f"bpy is not importable in {sys.executable}: {err}", file=sys.stderr)
        sys.exit(EXIT_NO_BPY)
    import numpy as np

    job = json.loads((job_dir / "job.json").read_text())
    with np.load(job_dir / "arrays.npz", allow_pickle=False) as data:
        arrays = dict(data)
    say(stage="import", seconds=round(time.perf_counter() - t0, 3))

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.unit_settings.system = "METRIC"
    scene.unit_settings.scale_length = job["unit_scale_length"]
    fps = float(job["fps"])
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps
    scene.frame_start = int(job["frame_start"])
    scene.frame_end = int(job["frame_end"])
    parents = [int(p) for p in arrays["parents"]]
    located = {int(j) for j in arrays["located"]}
    for i, spec in enumerate(job["persons"]):
        build_person(bpy, arrays, f"p{i}", spec, parents, located, job["object_matrix"],
                     (scene.frame_start, scene.frame_end))
    if job.get("camera"):
        build_camera(bpy, job["camera"], arrays)
    scene.frame_set(scene.frame_start)
    say(stage="scene", seconds=round(time.perf_counter() - t0, 3))

    for out in job["outputs"]:
        t1 = time.perf_counter()
        export(bpy, out)
        say(stage="wrote", format=out["format"], path=out["path"],
            seconds=round(time.perf_counter() - t1, 3))


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: blender_worker.py JOB_DIR", file=sys.stderr)
        sys.exit(2)
    try:
        run(Path(sys.argv[1]))
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
