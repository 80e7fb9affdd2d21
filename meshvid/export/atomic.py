"""Atomic outputs: write to a hidden temporary file in the destination's directory, then
`os.replace` it over the destination. An interrupted or failed export therefore never leaves a
file that looks complete (only a `.name.partial-*` file, removed on the way out when possible).
"""

from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from meshvid.errors import InputError


def partial_path(final: Path) -> Path:
    """A unique temporary sibling of `final` that keeps its extension (exporters check it)."""
    return final.with_name(f".{final.stem}.partial-{os.getpid()}-{secrets.token_hex(3)}{final.suffix}")


_PARTIAL = re.compile(r"^\.(?P<stem>.+)\.partial-\d+-[0-9a-f]+(?P<suffix>(\.[^.]*)?)$")


def final_path(path: str | os.PathLike) -> Path:
    """The output a partial file stands for, for messages (the user knows the final name).

    Args:
        path: a path, e.g. `out/.clip_overlay.partial-12-ab12cd.mp4`.
    Returns:
        The final path (`out/clip_overlay.mp4`); any other path as it is.
    """
    path = Path(path)
    m = _PARTIAL.match(path.name)
    return path.with_name(m["stem"] + m["suffix"]) if m else path


def ensure_parent(final: Path) -> None:
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create output folder {final.parent}: {err.strerror}") from None


@contextmanager
def atomic_output(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `final`, on error it is removed."""
    final = Path(final)
    ensure_parent(final)
    tmp = partial_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written for {final}")
        os.replace(tmp, final)
    except OSError as err:
        if err.filename is None:  # a write through an open handle (disk full): say which file
            err.filename = str(final)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    with atomic_output(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
