"""`meshvid bench model`: parameters, FLOPs and CPU throughput of DSD and SATN."""

from __future__ import annotations

import typer

from meshvid.cli.common import console, emit_json


def bench_model(
    batch: int = typer.Option(16, "--batch", min=1, help="DSD crops per call."),
    size: int = typer.Option(224, "--size", min=32, help="Crop size in pixels."),
    frames: int = typer.Option(4096, "--frames", min=9, help="Tracklet length for SATN's "
                               "sliding mode (windows = frames)."),
    threads: int = typer.Option(2, "--threads", min=1, help="torch.set_num_threads."),
    repeats: int = typer.Option(8, "--repeats", min=1, help="Timed calls per measurement."),
    all_configs: bool = typer.Option(False, "--all", help="Also the learned-skeleton and the "
                                     "paper's ResNet-50 DSD."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No table on stderr."),
) -> None:
    """DSD crops/s and SATN windows/s on this CPU (best and median of --repeats)."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from meshvid.model import bench
    from meshvid.model.config import cpu_config

    torch.set_num_threads(threads)
    dsd_rows, satn_rows = [], []
    configs = bench.dsd_configs()
    names = list(configs) if all_configs else list(configs)[:1]
    for name in names:
        for optimize, bf16 in ((False, False), (True, False), (True, True)):
            row = bench.bench_dsd(bench.dsd_configs()[name], batch, size, repeats, optimize,
                                  bf16)
            dsd_rows.append({"config": name, **row})
    for variant in ("satn", "tcn"):
        for bf16, optimize in ((False, False), (False, True), (True, True)):
            if variant == "tcn" and bf16:
                continue
            cfg = cpu_config()
            cfg.satn.variant = variant
            row = bench.bench_satn(cfg, frames, max(3, repeats // 2), bf16, optimize)
            satn_rows.append(row)
    env = bench.environment()
    if not quiet:
        wide = Console(stderr=True, width=max(console.width, 140))
        t = Table(title=f"DSD, batch {batch}, {size} px, {threads} threads "
                        f"(load average {env['load_average']} on {env['cpus']} cores)")
        for c in ("config", "precision", "optimized", "params", "gflops_per_crop",
                  "crops_per_s_best", "crops_per_s_median"):
            t.add_column(c, justify="right")
        for r in dsd_rows:
            t.add_row(r["config"], r["precision"], str(r["optimized"]),
                      f"{r['params'] / 1e6:.2f} M",
                      str(r["gflops_per_crop"]), str(r["crops_per_s_best"]),
                      str(r["crops_per_s_median"]))
        wide.print(t)
        t = Table(title=f"SATN sliding mode over {frames} frames (one window per frame)")
        for c in ("variant", "precision", "optimized", "params (inference)", "mflops_per_window",
                  "windows_per_s_best", "windows_per_s_median"):
            t.add_column(c, justify="right")
        for r in satn_rows:
            t.add_row(r["variant"], r["precision"], str(r["optimized"]),
                      f"{r['params_inference'] / 1e6:.2f} M", str(r["mflops_per_window"]),
                      str(r["windows_per_s_best"]), str(r["windows_per_s_median"]))
        wide.print(t)
        console.print("optimized = batch-norm folded, native padding, channels-last "
                      "(meshvid.model.inference); bf16 = backbone / attention+TCN in bfloat16 "
                      "autocast, heads in float32. Other jobs on the machine lower every "
                      "number: see the load average.", highlight=False)
    if json_out:
        emit_json({"environment": env, "dsd": dsd_rows, "satn": satn_rows})
