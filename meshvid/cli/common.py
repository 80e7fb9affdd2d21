"""Shared CLI plumbing: consoles, progress bars and the --json summary. Commands stay thin."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Human output goes to stderr so that stdout carries only the --json summary when asked.
# soft_wrap: a message is one line even when stderr is not a terminal (where rich would
# otherwise hard-wrap at 80 columns and split paths in logs).
console = Console(stderr=True, soft_wrap=True)


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 person', '2 people', '0 tracks'."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def make_progress(quiet: bool = False) -> Progress:
    """A rich progress bar (count, rate, ETA); prints nothing at all when quiet (rich's
    Progress would still print a blank line on a non-terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(quiet=True) if quiet else console,
        disable=quiet,
        transient=False,
    )


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Progress]:
    with make_progress(quiet) as progress:
        yield progress


def emit_json(summary: dict[str, Any]) -> None:
    """Write the machine-readable summary to stdout (one JSON document)."""
    sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    sys.stdout.flush()
