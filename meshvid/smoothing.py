"""Temporal smoothing of saved motion (`meshvid smooth`): One Euro and Savitzky-Golay filters
done on the rotation manifold for joint rotations and in R^3 for translations.

Why not filter the axis-angle numbers: an axis-angle vector is not a linear space. Near a
half turn the same rotation flips between (pi - e) * n and -(pi - e) * n, so averaging the
numbers blends two opposite vectors into garbage, and even away from pi, averaging the
components is not averaging the rotations. Here every filter works on *increments*: relative
rotations `log(q_ref^-1 q_t)` between a reference rotation and the samples, which are small
3-vectors in the reference's tangent space where linear filtering is valid, then maps back
with `q_ref exp(.)`. Quaternions are kept unit and sign-consistent throughout.

* One Euro (Casiez et al., CHI 2012): an adaptive low-pass whose cutoff rises with speed, so
  slow motion is smoothed hard (jitter removed) and fast motion lags little. On SO(3) the
  update x_hat <- x_hat * exp(alpha * log(x_hat^-1 x)) is a slerp by alpha towards the sample,
  and the speed is the filtered angular velocity. Causal, like the original.
* Savitzky-Golay: a least-squares polynomial (degree `order`) over a centred window, evaluated
  at the centre. On SO(3) the neighbours are expressed as tangent vectors at the centre
  rotation, fitted, and the fitted offset applied; this is iterated twice so the tangent point
  is the smoothed rotation itself. Non-causal (no lag). The fit uses the real timestamps, so
  missing frames inside a window are handled exactly; near the ends of a segment the window is
  one-sided (the polynomial fit still holds).

Tracks are filtered independently; a jump of more than `max_gap` frames in a track's frame ids
splits it into segments filtered separately (a person who left and came back must not be
blended across the absence). dt comes from the timestamps (VFR-safe).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from meshvid.errors import InputError
from meshvid.export.motion import MotionResult, PersonMotion

METHODS = ("oneeuro", "savgol")


# --- unit quaternions (w, x, y, z), numpy, batched over leading axes -------------------------

def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], -1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_exp(v: np.ndarray) -> np.ndarray:
    """Rotation vector (..., 3) -> unit quaternion (..., 4)."""
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle, with its limit 1/2 at 0 (np.sinc(x) = sin(pi x)/(pi x)).
    k = 0.5 * np.sinc(half / np.pi)
    return np.concatenate([np.cos(half), k * v], -1)


def quat_log(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (..., 4) -> rotation vector (..., 3) of angle <= pi (shortest way)."""
    q = np.where(q[..., :1] < 0, -q, q)
    w = np.clip(q[..., :1], -1.0, 1.0)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    scale = np.where(s > 1e-12, angle / np.maximum(s, 1e-12), 2.0 / np.maximum(w, 1e-12))
    return v * scale


def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    return quat_exp(np.asarray(aa, dtype=np.float64))


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    return quat_log(q / np.linalg.norm(q, axis=-1, keepdims=True))


def sign_continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternions along axis 0 so neighbours lie in the same hemisphere."""
    q = q.copy()
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1, keepdims=True) < 0
        q[t] = np.where(flip, -q[t], q[t])
    return q


# --- parameters --------------------------------------------------------------------------------

@dataclass(frozen=True)
class OneEuroParams:
    """Cutoffs in Hz; beta in Hz per (rad/s) for rotations and per (m/s) for translations."""

    # Defaults picked on a noisy synthetic walk (0.05 rad joint noise, 1-5 cm translation
    # noise, 30 fps; docs/export.md): they cut the angular jitter ~5x while lowering the error.
    min_cutoff: float = 1.0
    beta: float = 1.0
    d_cutoff: float = 1.0
    transl_min_cutoff: float = 1.0
    transl_beta: float = 3.0

    def validate(self) -> None:
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"One Euro {name} must be a finite number >= 0, got {value}")
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.transl_min_cutoff <= 0:
            raise InputError("One Euro cutoffs must be > 0 Hz")


@dataclass(frozen=True)
class SavGolParams:
    """`window` frames (odd, centred), polynomial `order` < window."""

    window: int = 9
    order: int = 2

    def validate(self) -> None:
        if self.window < 3 or self.window % 2 == 0:
            raise InputError(f"Savitzky-Golay window must be an odd number >= 3, got {self.window}")
        if not 0 <= self.order < self.window:
            raise InputError(
                f"Savitzky-Golay order must be in [0, window), got {self.order} for window "
                f"{self.window}"
            )


# --- filters on one segment ---------------------------------------------------------------------

def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def one_euro_rotations(q: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float,
                       d_cutoff: float) -> np.ndarray:
    """q (T, J, 4) unit quaternions, times (T,) seconds -> filtered (T, J, 4)."""
    out = np.empty_like(q)
    q_hat = q[0]
    rate_hat = np.zeros(q.shape[1:-1] + (3,))
    out[0] = q_hat
    for t in range(1, len(q)):
        dt = max(float(times[t] - times[t - 1]), 1e-6)
        delta = quat_log(quat_mul(quat_conj(q_hat), q[t]))  # increment from the filtered state
        rate_hat = rate_hat + _alpha(d_cutoff, dt) * (delta / dt - rate_hat)
        cutoff = min_cutoff + beta * np.linalg.norm(rate_hat, axis=-1, keepdims=True)
        q_hat = quat_mul(q_hat, quat_exp(_alpha(cutoff, dt) * delta))
        q_hat /= np.linalg.norm(q_hat, axis=-1, keepdims=True)
        out[t] = q_hat
    return out


def one_euro_vectors(x: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float,
                     d_cutoff: float) -> np.ndarray:
    """x (T, ..., D) -> filtered; the speed driving the cutoff is the norm over the last axis."""
    out = np.empty_like(x, dtype=np.float64)
    x_hat = x[0].astype(np.float64)
    rate_hat = np.zeros_like(x_hat)
    out[0] = x_hat
    for t in range(1, len(x)):
        dt = max(float(times[t] - times[t - 1]), 1e-6)
        delta = x[t] - x_hat
        rate_hat = rate_hat + _alpha(d_cutoff, dt) * (delta / dt - rate_hat)
        cutoff = min_cutoff + beta * np.linalg.norm(rate_hat, axis=-1, keepdims=True)
        x_hat = x_hat + _alpha(cutoff, dt) * delta
        out[t] = x_hat
    return out


def _savgol_weights(times: np.ndarray, frame_ids: np.ndarray, t: int, half: int,
                    order: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the window around sample t and the weights giving the fit's value at t."""
    idx = np.nonzero(np.abs(frame_ids - frame_ids[t]) <= half)[0]
    deg = min(order, len(idx) - 1)
    dt = times[idx] - times[t]
    scale = max(np.abs(dt).max(), 1e-9)
    vander = np.vander(dt / scale, deg + 1, increasing=True)  # (K, deg+1), column 0 = 1
    weights = np.linalg.pinv(vander)[0]  # value of the fitted polynomial at dt = 0
    return idx, weights


def savgol_centre_kernel(window: int, order: int) -> np.ndarray:
    """Weights (window,) whose dot product with `window` evenly spaced samples is the
    Savitzky-Golay fit's value at the centre sample (a fixed low-pass: SATN's residual base)."""
    frames = np.arange(window)
    _, weights = _savgol_weights(frames.astype(np.float64), frames, window // 2, window // 2, order)
    return weights


def savgol_rotations(q: np.ndarray, times: np.ndarray, frame_ids: np.ndarray, window: int,
                     order: int, iterations: int = 2) -> np.ndarray:
    """q (T, J, 4) -> (T, J, 4): polynomial fit of tangent vectors at the (smoothed) centre."""
    half = window // 2
    out = np.empty_like(q)
    for t in range(len(q)):
        idx, w = _savgol_weights(times, frame_ids, t, half, order)
        centre = q[t]
        for _ in range(iterations):
            tangents = quat_log(quat_mul(quat_conj(centre)[None], q[idx]))  # (K, J, 3)
            offset = np.tensordot(w, tangents, axes=(0, 0))  # (J, 3)
            centre = quat_mul(centre, quat_exp(offset))
            centre /= np.linalg.norm(centre, axis=-1, keepdims=True)
        out[t] = centre
    return out


def savgol_vectors(x: np.ndarray, times: np.ndarray, frame_ids: np.ndarray, window: int,
                   order: int) -> np.ndarray:
    half = window // 2
    out = np.empty_like(x, dtype=np.float64)
    for t in range(len(x)):
        idx, w = _savgol_weights(times, frame_ids, t, half, order)
        out[t] = np.tensordot(w, x[idx].astype(np.float64), axes=(0, 0))
    return out


# --- per track ---------------------------------------------------------------------------------

def segments(frame_ids: np.ndarray, max_gap: int) -> list[slice]:
    """Split where consecutive frame ids jump by more than max_gap + 1."""
    cuts = np.nonzero(np.diff(frame_ids) > max_gap + 1)[0] + 1
    bounds = np.concatenate([[0], cuts, [len(frame_ids)]])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _times(person: PersonMotion, fps: float) -> np.ndarray:
    ts = person.timestamps.astype(np.float64)
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):
        ts = person.frame_ids / fps  # timestamps unusable: fall back to the nominal rate
    return ts


def filter_rotations(q: np.ndarray, times: np.ndarray, frame_ids: np.ndarray, method: str,
                     params: OneEuroParams | SavGolParams) -> np.ndarray:
    """One segment of sign-continuous unit quaternions (T, J, 4) through `method`."""
    if method == "oneeuro":
        assert isinstance(params, OneEuroParams)
        return one_euro_rotations(q, times, params.min_cutoff, params.beta, params.d_cutoff)
    assert isinstance(params, SavGolParams)
    return savgol_rotations(q, times, frame_ids, params.window, params.order)


def filter_vectors(x: np.ndarray, times: np.ndarray, frame_ids: np.ndarray, method: str,
                   params: OneEuroParams | SavGolParams, translation: bool) -> np.ndarray:
    """One segment of vectors (T, ..., D). One Euro: translations use the translation cutoffs;
    other quantities (shape, camera) a fixed low-pass at the rotation cutoff."""
    if method == "oneeuro":
        assert isinstance(params, OneEuroParams)
        if translation:
            return one_euro_vectors(x, times, params.transl_min_cutoff, params.transl_beta,
                                    params.d_cutoff)
        return one_euro_vectors(x, times, params.min_cutoff, 0.0, params.d_cutoff)
    assert isinstance(params, SavGolParams)
    return savgol_vectors(x, times, frame_ids, params.window, params.order)


def smooth_person(person: PersonMotion, fps: float, method: str,
                  params: OneEuroParams | SavGolParams, max_gap: int = 10) -> PersonMotion:
    """A copy of `person` with pose, translation (and per-frame shape) smoothed."""
    times = _times(person, fps)
    q = axis_angle_to_quat(person.pose)  # (T, 24, 4)
    pose = np.empty_like(person.pose)
    transl = np.empty_like(person.transl)
    betas_pf = None if person.betas_per_frame is None else np.empty_like(person.betas_per_frame)
    for seg in segments(person.frame_ids, max_gap):
        qs = sign_continuous(q[seg])
        ts, ids = times[seg], person.frame_ids[seg]
        q_f = filter_rotations(qs, ts, ids, method, params)
        tr = filter_vectors(person.transl[seg], ts, ids, method, params, translation=True)
        if betas_pf is not None:
            betas_pf[seg] = filter_vectors(person.betas_per_frame[seg], ts, ids, method, params,
                                           translation=False)
        pose[seg] = quat_to_axis_angle(q_f)
        transl[seg] = tr
    return replace(person, pose=pose.astype(np.float32), transl=transl.astype(np.float32),
                   betas_per_frame=betas_pf)


def smooth_result(
    result: MotionResult,
    method: str,
    params: OneEuroParams | SavGolParams | None = None,
    *,
    max_gap: int = 10,
    body_model=None,
) -> MotionResult:
    """Smooth every track. 3D joints are recomputed from the smoothed pose (forward kinematics
    on the track's rest joints, from the NPZ or the body model); the weak-perspective camera,
    boxes and 2D keypoints are observations and are left as they were. A moving camera's
    result is smoothed in its world frame (meshvid/scene/world.py) and returned in camera
    space."""
    from meshvid.scene.kinematics import person_fk

    method = method.lower().replace("-", "").replace("_", "")
    if method not in METHODS:
        raise InputError(f"unknown smoothing method {method!r}; choose {' or '.join(METHODS)}")
    if params is None:
        params = OneEuroParams() if method == "oneeuro" else SavGolParams()
    expected = OneEuroParams if method == "oneeuro" else SavGolParams
    if not isinstance(params, expected):
        raise InputError(f"{method} needs {expected.__name__}, got {type(params).__name__}")
    params.validate()
    if max_gap < 0:
        raise InputError(f"--max-gap must be >= 0 frames, got {max_gap}")
    from meshvid.scene.world import is_moving, result_in_camera, result_in_world

    if is_moving(result):  # smooth the motion in the world, not the camera's own turning
        smoothed = smooth_result(result_in_world(result), method, params, max_gap=max_gap,
                                 body_model=body_model)
        return result_in_camera(smoothed, result.camera)
    persons = []
    for person in result.persons:
        smoothed = smooth_person(person, result.fps, method, params, max_gap)
        if smoothed.joints3d is not None:
            rest = smoothed.rest_joints
            if rest is None:
                rest = _rest_joints(result, person, body_model)
                smoothed = replace(smoothed, rest_joints=rest)
            _, joints = person_fk(smoothed, rest.astype(np.float64))
            smoothed = replace(smoothed, joints3d=joints.astype(np.float32))
        if smoothed.keypoints3d is not None:
            smoothed = replace(smoothed, keypoints3d=_keypoints3d(result, smoothed, body_model))
        persons.append(smoothed)
    note = json.dumps({"method": method, "max_gap": max_gap, **asdict(params)}, sort_keys=True)
    extra = dict(result.extra)
    extra["smoothing"] = f"{extra['smoothing']}; {note}" if "smoothing" in extra else note
    return replace(result, persons=persons, extra=extra)


def _keypoints3d(result: MotionResult, person: PersonMotion, body_model) -> np.ndarray:
    """(T, 17, 3) the mesh's COCO-17 keypoints for the person's (smoothed) motion."""
    import torch

    if body_model is None:
        from meshvid.body import load_body_model

        body_model = load_body_model(result.body_model)
    with torch.no_grad():
        out = body_model(torch.as_tensor(person.pose).float(),
                         torch.as_tensor(person.betas[None]).float(),
                         torch.as_tensor(person.transl).float())
    return out.coco17.cpu().numpy().astype(np.float32)


def _rest_joints(result: MotionResult, person: PersonMotion, body_model) -> np.ndarray:
    import torch

    if body_model is None:
        from meshvid.body import load_body_model

        body_model = load_body_model(result.body_model)
    with torch.no_grad():
        _, joints = body_model.rest_shape(torch.as_tensor(person.betas[None]).float())
    return joints[0].cpu().numpy()
