"""A joints-only view of the body model for the training losses.

L_3d and L_2d need the regressed LSP-14 / COCO-17 joints, not the mesh. anny24's joint
regressors read ~200 of its 7,000 vertices, so skinning only those (plus the kinematic joints)
gives the same joints ~20x faster — what makes the losses cheap on a CPU. Vertices of the
returned BodyOutput are that subset only. Other body models are used whole.
"""

from __future__ import annotations

import copy

import torch

from meshvid.body.base import BodyModel


def joints_only(body: BodyModel) -> BodyModel:
    from meshvid.body.anny24 import Anny24Body

    if not isinstance(body, Anny24Body):
        return body
    used = ((body.lsp_extra_regressor.abs() > 0).any(0)
            | (body.coco17_regressor.abs() > 0).any(0))
    for name in ("lsp_extra_idx", "coco17_idx"):  # sparse gathers (if the body has them)
        if hasattr(body, name):
            used[getattr(body, name).reshape(-1)] = True
    used = used.nonzero().squeeze(1)
    new_index = torch.full((body.num_vertices,), -1, dtype=torch.long)
    new_index[used] = torch.arange(len(used))
    sub = copy.copy(body)  # shallow: share everything, then replace the vertex buffers
    sub._buffers = dict(body._buffers)
    sub._parameters = dict(body._parameters)
    sub._modules = dict(body._modules)
    sub.v_template = body.v_template[used].clone()
    sub.shapedirs = body.shapedirs[used].clone()
    sub.weights = body.weights[used].clone()
    sub.lsp_extra_regressor = body.lsp_extra_regressor[:, used].clone()
    sub.coco17_regressor = body.coco17_regressor[:, used].clone()
    for name in ("lsp_extra_idx", "coco17_idx"):
        if hasattr(body, name):
            setattr(sub, name, new_index[getattr(body, name)])
    return sub


@torch.no_grad()
def check_equal(body: BodyModel, sub: BodyModel, batch: int = 4) -> float:
    """Largest joint difference (m) between the full and the subset model on random poses."""
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(batch, 24, 3, generator=g) * 0.3
    betas = torch.randn(batch, 10, generator=g)
    a, b = body(pose, betas), sub(pose, betas)
    return float(max((a.lsp14 - b.lsp14).abs().max(), (a.coco17 - b.coco17).abs().max(),
                     (a.joints - b.joints).abs().max()))
