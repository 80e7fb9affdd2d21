"""Resumable training state: model weights + optimiser state + RNG states + counters, written
atomically with no pickle (safetensors for tensors, JSON for the rest).

A checkpoint is three files named by the global step — `step-000123.safetensors` (the model, a
normal meshvid checkpoint with the discriminator), `step-000123.state.safetensors` (optimiser
tensors, RNG states) — and `last.json`, replaced atomically LAST, which points at them. A crash
at any moment leaves `last.json` pointing at a complete checkpoint; older ones are deleted
after the pointer moves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from meshvid.model.checkpoint import atomic_write_bytes, save_checkpoint


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{pid}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith(name + "."):
            continue
        _, pid, field = key.split(".", 2)
        state.setdefault(int(pid), {})[field] = value
    for key, value in meta["scalars"].items():
        pid, field = key.split(".", 1)
        state.setdefault(int(pid), {})[field] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_state(folder: Path, model, optimizers: dict[str, torch.optim.Optimizer],
               counters: dict[str, Any], generators: dict[str, torch.Generator],
               metadata: dict[str, Any] | None = None, keep: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save

    step = int(counters["step"])
    model_path = folder / f"step-{step:07d}.safetensors"
    save_checkpoint(model_path, model, metadata=metadata, include_discriminator=True)
    tensors, opt_meta = {}, {}
    for name, opt in optimizers.items():
        t, m = _flatten_optimizer(name, opt)
        tensors.update(t)
        opt_meta[name] = m
    tensors["rng.torch"] = torch.get_rng_state()
    for name, gen in generators.items():
        tensors[f"rng.gen.{name}"] = gen.get_state()
    state_path = folder / f"step-{step:07d}.state.safetensors"
    atomic_write_bytes(state_path, save(tensors, metadata={"optimizers": json.dumps(opt_meta)}))
    pointer = {"step": step, "model": model_path.name, "state": state_path.name,
               "counters": counters}
    atomic_write_bytes(folder / "last.json", json.dumps(pointer, indent=1).encode())
    # Drop older checkpoints only now that the pointer is on the new one.
    olds = sorted(p for p in folder.glob("step-*.safetensors") if ".state." not in p.name
                  and p.name != model_path.name)
    for old in olds[: max(0, len(olds) - (keep - 1))]:
        old.unlink(missing_ok=True)
        old.with_name(old.name.replace(".safetensors", ".state.safetensors")).unlink(missing_ok=True)
    return model_path


def has_state(folder: Path) -> bool:
    return (folder / "last.json").is_file()


def load_state(folder: Path, model, optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Restore everything saved by `save_state` into the live objects; returns the counters."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    pointer = json.loads((folder / "last.json").read_text())
    state = load_file(str(folder / pointer["model"]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.startswith("dsd.backbone")]:
        raise RuntimeError(f"checkpoint does not match the model: {missing[:3]} {unexpected[:3]}")
    path = folder / pointer["state"]
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        opt_meta = json.loads(f.metadata()["optimizers"])
    for name, opt in optimizers.items():
        _restore_optimizer(name, opt, tensors, opt_meta[name])
    torch.set_rng_state(tensors["rng.torch"])
    for name, gen in generators.items():
        gen.set_state(tensors[f"rng.gen.{name}"])
    return pointer["counters"]
