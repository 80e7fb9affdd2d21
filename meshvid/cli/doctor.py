"""`meshvid doctor`: is this machine ready?"""

from __future__ import annotations

import typer
from rich.table import Table

from meshvid.cli.common import console, emit_json


def doctor(
    json_out: bool = typer.Option(False, "--json", help="Print the checks as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", help="No table: only the exit status (0 when "
                               "every required check passes) and the failed checks."),
) -> None:
    """Check torch, the headless renderer, the body model, the detector, video, bpy and SMPL."""
    from meshvid.doctor import as_dicts, run_checks

    checks = run_checks()
    ok = all(c.ok for c in checks if c.required)
    if json_out:
        emit_json({"ok": ok, "checks": as_dicts(checks)})
    elif quiet:
        for c in checks:
            if c.required and not c.ok:
                console.print(f"[red]FAIL[/] {c.name}: {c.detail} ({c.fix})", highlight=False)
    else:
        table = Table(title="meshvid doctor")
        for col in ("check", "status", "detail", "what to do"):
            table.add_column(col)
        for c in checks:
            status = "[green]ok[/]" if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]--[/]")
            table.add_row(c.name, status, c.detail, c.fix)
        console.print(table)
    raise typer.Exit(0 if ok else 1)
