"""`meshvid train --config train/<recipe>.yaml`: thin wrapper over meshvid.train.run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


class _Progress:
    """Feeds the engine's progress callbacks into one rich bar per stage."""

    def __init__(self, progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, step: int, total: int, losses: dict[str, float]) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, rate="")
        loss = f"loss {losses['total']:.4g}" if "total" in losses else ""
        self.progress.update(self.tasks[stage], completed=step, total=total, rate=loss)


def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Recipe YAML (train/cpu.yaml, train/paper.yaml, ...); optional with --toy (a tiny built-in recipe)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/<recipe name>)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a recipe key: --set dsd.epochs=2"),
    stop_after: Optional[str] = typer.Option(None, "--stop-after", help="dsd | features"),
    toy: bool = typer.Option(False, "--toy", help="Smoke run on a tiny built-in toy table (no data needed)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Train DSD (stage 1), pre-compute features (2) and train SATN (3); resumes a stopped run.

    Several processes: torchrun --nproc-per-node N -m meshvid.cli.main train --config ...
    """
    from meshvid.cli.common import console, emit_json, make_progress
    from meshvid.errors import InputError
    from meshvid.train.recipe import apply_overrides, load_recipe, recipe_from_dict
    from meshvid.train.run import run_training

    if stop_after not in (None, "dsd", "features"):
        raise InputError("--stop-after must be dsd or features")
    if config is None and not toy:
        raise InputError("give a recipe with --config (e.g. train/cpu.yaml), or --toy for a "
                         "smoke run on built-in toy data")
    if config is None:
        from meshvid.train.toydata import toy_recipe_dict

        recipe = recipe_from_dict(apply_overrides(toy_recipe_dict(), overrides), "--toy")
    else:
        recipe = load_recipe(config, overrides)
    out_dir = out or Path("runs") / recipe.name
    table = None
    if toy:
        from meshvid.train.toydata import toy_table

        table = toy_table(keypoints_set=recipe.model.dsd.skeleton.joints)
    with make_progress(quiet) as progress:
        summary = run_training(recipe, out_dir, _Progress(progress), table=table,
                               stop_after=stop_after)
    if json_out:
        emit_json(summary)
    elif not quiet:
        console.print(f"trained [bold]{recipe.name}[/] in {summary['seconds']:.0f} s -> "
                      f"{out_dir / 'model.safetensors'}")
