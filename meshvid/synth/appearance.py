"""Skin and clothing-like vertex colours for the body mesh.

Cheap but varied: body regions come from the skinning weights (which joint moves a vertex),
garment edges (sleeve and trouser length, shoe height, hairline) from the rest-pose (T-pose)
coordinates, and patterns (stripes, checks, two-tone, noise) are functions of the rest position,
so a pattern sticks to the body as it moves. Per-vertex low-frequency shading noise stands in
for folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshvid.body.joints import SMPL_24

_J = {n: i for i, n in enumerate(SMPL_24)}
_LEG = [_J[n] for n in ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                        "right_ankle", "left_foot", "right_foot")]
_FOOT = [_J[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
_ARM = [_J[n] for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                        "left_wrist", "right_wrist", "left_hand", "right_hand")]
_HAND = [_J[n] for n in ("left_wrist", "right_wrist", "left_hand", "right_hand")]

# Skin tones from light to dark (sRGB 0-1), a spread like the Monk skin tone scale.
SKIN_TONES = np.array([
    [0.96, 0.87, 0.80], [0.93, 0.81, 0.71], [0.88, 0.74, 0.62], [0.82, 0.66, 0.53],
    [0.74, 0.57, 0.44], [0.63, 0.47, 0.35], [0.52, 0.37, 0.27], [0.42, 0.29, 0.21],
    [0.33, 0.22, 0.16], [0.25, 0.17, 0.13],
])
HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.04], [0.15, 0.10, 0.07], [0.30, 0.20, 0.12], [0.55, 0.40, 0.22],
    [0.80, 0.68, 0.45], [0.60, 0.60, 0.60], [0.45, 0.18, 0.10],
])


@dataclass
class BodyRegions:
    """Per-vertex region masks and rest coordinates of one mesh topology."""

    rest: np.ndarray  # (V, 3) template rest vertices (T-pose)
    leg: np.ndarray  # (V,) bool
    foot: np.ndarray
    arm: np.ndarray
    hand: np.ndarray
    head: np.ndarray
    joints: np.ndarray  # (24, 3) template rest joints

    @classmethod
    def from_body(cls, rest_vertices: np.ndarray, rest_joints: np.ndarray,
                  lbs_weights: np.ndarray) -> "BodyRegions":
        w = np.asarray(lbs_weights, dtype=np.float64)
        rest = np.asarray(rest_vertices, dtype=np.float64)
        joints = np.asarray(rest_joints, dtype=np.float64)
        head = (w[:, _J["head"]] + 0.5 * w[:, _J["neck"]]) > 0.5
        ankle_y = joints[_J["left_ankle"], 1]
        return cls(
            rest=rest,
            leg=w[:, _LEG].sum(1) > 0.5,
            foot=(w[:, _FOOT].sum(1) > 0.5) & (rest[:, 1] < ankle_y + 0.04),
            arm=w[:, _ARM].sum(1) > 0.5,
            hand=w[:, _HAND].sum(1) > 0.5,
            head=head,
            joints=joints,
        )


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A garment colour: many neutrals and dark tones, some saturated ones."""
    kind = rng.random()
    if kind < 0.35:  # greys, black, white
        g = rng.choice([rng.uniform(0.03, 0.2), rng.uniform(0.2, 0.6), rng.uniform(0.6, 0.95)])
        return np.clip(np.full(3, g) + rng.normal(0, 0.02, 3), 0, 1)
    if kind < 0.55:  # denim / navy / khaki / brown
        base = [[0.15, 0.22, 0.38], [0.08, 0.10, 0.22], [0.62, 0.56, 0.40], [0.35, 0.24, 0.15],
                [0.20, 0.28, 0.18]][rng.integers(5)]
        return np.clip(np.asarray(base) * rng.uniform(0.7, 1.3) + rng.normal(0, 0.03, 3), 0, 1)
    h = rng.random()
    s = rng.uniform(0.3, 0.95)
    v = rng.uniform(0.25, 0.95)
    return _hsv_to_rgb(h, s, v)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _pattern(rng: np.random.Generator, rest: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(V, 3) colours of one garment: solid, stripes, checks, two-tone or mottled."""
    kind = rng.choice(["solid", "solid", "stripes", "checks", "twotone", "mottled"])
    n = len(rest)
    out = np.broadcast_to(base, (n, 3)).copy()
    other = _random_colour(rng) if rng.random() < 0.6 else np.clip(base * rng.uniform(0.4, 0.7), 0, 1)
    if kind == "stripes":
        axis = rng.normal(size=3)
        axis[1] += 2.0 * np.sign(rng.normal())  # mostly horizontal stripes
        axis /= np.linalg.norm(axis)
        period = rng.uniform(0.02, 0.12)
        on = (np.floor((rest @ axis) / period) % 2) == 0
        out[on] = other
    elif kind == "checks":
        period = rng.uniform(0.03, 0.1)
        on = ((np.floor(rest[:, 0] / period) + np.floor(rest[:, 1] / period)
               + np.floor(rest[:, 2] / period)) % 2) == 0
        out[on] = 0.5 * (base + other)
    elif kind == "twotone":
        split = rng.uniform(-0.05, 0.3)
        out[rest[:, 1] > split] = other
    elif kind == "mottled":
        out *= (1.0 + 0.25 * _smooth_noise(rng, rest, 3, 12.0))[:, None]
    return out


def _smooth_noise(rng: np.random.Generator, pts: np.ndarray, waves: int, freq: float) -> np.ndarray:
    """Sum of random plane waves: a smooth field in about [-1, 1]."""
    k = rng.normal(size=(waves, 3)) * freq
    phase = rng.uniform(0, 2 * np.pi, waves)
    return np.sin(pts @ k.T + phase).mean(1)


def sample_colors(rng: np.random.Generator, regions: BodyRegions) -> np.ndarray:
    """(V, 3) float32 vertex colours for one person: skin, hair, top, bottom, shoes."""
    rest, j = regions.rest, regions.joints
    n = len(rest)
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.06) + rng.normal(0, 0.015, 3)
    colors = np.broadcast_to(np.clip(skin, 0, 1), (n, 3)).copy()

    # Top: torso always, arms up to the sleeve cut (|x| in the T-pose = distance along the arm).
    shoulder_x = abs(j[_J["left_shoulder"], 0])
    elbow_x = abs(j[_J["left_elbow"], 0])
    wrist_x = abs(j[_J["left_wrist"], 0])
    sleeve = rng.choice([shoulder_x + 0.02, 0.5 * (shoulder_x + elbow_x), elbow_x + 0.03,
                         wrist_x - 0.01, wrist_x - 0.01], p=[0.15, 0.3, 0.1, 0.25, 0.2])
    neck_y = j[_J["neck"], 1]
    top_mask = ~regions.leg & ~regions.head & (rest[:, 1] < neck_y - 0.02)
    top_mask &= ~regions.arm | (np.abs(rest[:, 0]) < sleeve)
    top_mask &= ~regions.hand
    top = _pattern(rng, rest, _random_colour(rng))

    # Bottom: legs down to the trouser cut, plus the pelvis below the waist.
    hip_y = j[_J["left_hip"], 1]
    knee_y = j[_J["left_knee"], 1]
    ankle_y = j[_J["left_ankle"], 1]
    cut = rng.choice([0.5 * (hip_y + knee_y), knee_y - 0.03, 0.5 * (knee_y + ankle_y), ankle_y + 0.01,
                      ankle_y + 0.01], p=[0.15, 0.15, 0.1, 0.35, 0.25])
    waist = hip_y + rng.uniform(0.04, 0.12)
    bottom_mask = (regions.leg | (~regions.arm & ~regions.head & (rest[:, 1] < waist)))
    bottom_mask &= rest[:, 1] > cut
    bottom = _pattern(rng, rest, _random_colour(rng)) if rng.random() < 0.3 else \
        np.broadcast_to(_random_colour(rng), (n, 3))
    colors[top_mask] = top[top_mask]
    colors[bottom_mask] = bottom[bottom_mask]

    # Shoes (or bare feet now and then).
    if rng.random() < 0.9:
        colors[regions.foot] = _random_colour(rng) * rng.uniform(0.5, 1.0)

    # Hair: the top and back of the head above a random hairline (bald now and then).
    if rng.random() < 0.88:
        head_j = j[_J["head"]]
        rel = rest - head_j
        hairline = rng.uniform(0.04, 0.09)
        back = rng.uniform(-0.06, 0.02)
        hair = regions.head & ((rel[:, 1] > hairline) | ((rel[:, 2] < back) & (rel[:, 1] > -0.06)))
        colors[hair] = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2)

    # Fold-like shading variation and a global brightness jitter.
    shade = 1.0 + 0.08 * _smooth_noise(rng, rest, 6, 20.0)
    colors = colors * shade[:, None] * rng.uniform(0.85, 1.1)
    return np.clip(colors, 0.0, 1.0).astype(np.float32)
