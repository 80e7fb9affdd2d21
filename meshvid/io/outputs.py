"""Where a command's outputs go: checked before the work starts, locked while it runs, and
listed in a manifest so that the next run into the same place replaces them as a set.

* `check_output_dir` / `check_output_file`: is the destination writable, is there room, is it
  not the input itself? Nothing is created (a refused run leaves no empty folder behind).
* `OutputClaim`: one lock per output stem (`OUTDIR/.<stem>.lock`, an flock held for the run, so
  a second concurrent run into the same place refuses with one line; the lock goes with the
  process, even a killed one) and a run manifest (`OUTDIR/.<stem>.manifest.json`, the files the
  run wrote). When a run starts it removes the files the previous run of that stem listed, and
  the hidden partial files a killed run left, so a folder never holds a mix of two runs.
* `os_error(err)`: an OSError from writing (read-only, permission, disk full, file-size limit,
  a directory in the way) as one readable line (an `OutputError`), or None for anything else.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from pathlib import Path

from meshvid.errors import BusyError, DiskFullError, MeshvidError, OutputError

MANIFEST_FORMAT = "meshvid.run-manifest"
# Below this the run would fail part-way anyway (the NPZ, summaries and encoder buffers).
MIN_FREE_BYTES = 16 * 2**20

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# Folders this process writes into: where remove_own_partials() looks (the CLI's last resort
# when an interrupted run does not unwind in time).
ACTIVE_DIRS: set[Path] = set()


def remove_own_partials() -> list[Path]:
    """Delete this process's hidden partial files (`.<name>.partial-<pid>-<hex>.<ext>`) in
    every folder it was writing to; returns what was removed."""
    removed = []
    for folder in list(ACTIVE_DIRS):
        try:
            for entry in folder.glob(f".*.partial-{os.getpid()}-*"):
                entry.unlink(missing_ok=True)
                removed.append(entry)
        except OSError:
            continue
    return removed
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


def os_error(err: OSError, path: str | os.PathLike | None = None) -> MeshvidError | None:
    """One readable line for an OSError met while writing outputs; None if it is not one of
    those (then it is a bug and keeps its traceback).

    Args:
        err: the error (PyAV's errors are OSErrors with an errno too).
        path: the file or folder being written, when the error does not name it.
    Returns:
        A `DiskFullError`/`OutputError` to raise instead, or None.
    """
    from meshvid.export.atomic import final_path

    where = path or err.filename
    where = f" {final_path(os.fsdecode(where))}" if where else " the output"
    reason = err.strerror or type(err).__name__
    if err.errno in _NO_SPACE:
        return DiskFullError(f"cannot write{where}: {reason} (disk full or a file-size limit): "
                             "free some space or choose another folder with -o")
    if err.errno in _NOT_WRITABLE:
        return OutputError(f"cannot write{where}: {reason}: choose a writable folder with -o")
    if err.errno == errno.EISDIR:
        return OutputError(f"cannot write{where}: it is a directory: give a file name with -o")
    if err.errno == errno.ENOTDIR:
        return OutputError(f"cannot write{where}: a file is in the way of a folder in the path: "
                           "choose another -o")
    return None


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(outdir: str | os.PathLike, need_bytes: int = MIN_FREE_BYTES) -> Path:
    """Refuse early, without creating anything, when OUTDIR cannot hold the outputs.

    OUTDIR may not exist yet (the run creates it): then its nearest existing ancestor must be
    a writable folder. Args: outdir; need_bytes: free space required. Returns: OUTDIR.
    """
    outdir = Path(outdir)
    base = _existing_ancestor(outdir)
    if not base.is_dir():
        what = "is a file" if base == Path(os.path.abspath(outdir)) else f"has a file {base} in the way"
        raise OutputError(f"cannot use {outdir} as the output folder: it {what}: choose "
                          "another -o")
    if not os.access(base, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only_fs(base) else "permission denied"
        raise OutputError(f"cannot write to output folder {outdir} ({reason}): choose a "
                          "writable folder with -o")
    check_free_space(base, need_bytes, shown=outdir)
    ACTIVE_DIRS.add(Path(os.path.abspath(outdir)))
    return outdir


def check_free_space(folder: Path, need_bytes: int, shown: Path | None = None) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need_bytes:
        raise DiskFullError(f"only {free / 2**20:.0f} MB free for {shown or folder} (about "
                            f"{need_bytes / 2**20:.0f} MB needed): free some space or choose "
                            "another folder with -o")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_output_file(path: str | os.PathLike, *, inputs: tuple[str | os.PathLike, ...] = (),
                      force: bool = False) -> Path:
    """A single output file: its folder must exist (it is not created) and be writable, it
    must not be a folder, and it must not be one of `inputs` unless `force`.

    Returns: the path.
    """
    path = Path(path)
    if path.is_dir() or str(path).endswith(("/", os.sep)):
        raise OutputError(f"-o {path} is a folder: give a file name, e.g. "
                          f"{path / 'smoothed.npz'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"the folder {parent} does not exist: create it first or choose "
                          "another -o")
    if not parent.is_dir():
        raise OutputError(f"{parent} is not a folder: choose another -o")
    if not os.access(parent, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only_fs(parent) else "permission denied"
        raise OutputError(f"cannot write {path} ({reason}): choose a writable folder with -o")
    if not force:
        for given in inputs:
            if path.exists() and Path(given).exists() and os.path.samefile(path, given):
                raise OutputError(f"-o {path} is the input file: choose another name (or pass "
                                  "--force to overwrite it)")
    check_free_space(parent, MIN_FREE_BYTES, shown=path)
    ACTIVE_DIRS.add(Path(os.path.abspath(parent)))
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputClaim:
    """The lock and manifest of one output stem in one folder (see the module docstring).

    Use: `claim = OutputClaim(outdir, stem)`; `claim.begin()` when the work starts (creates the
    folder, takes the lock, removes the previous run's files); `claim.add(path)` after each
    file is complete; `claim.finish()` at the end; `claim.release()` always (idempotent).
    """

    def __init__(self, outdir: str | os.PathLike, stem: str) -> None:
        self.outdir = Path(outdir)
        self.stem = stem
        self.lock_path = self.outdir / f".{stem}.lock"
        self.manifest_path = self.outdir / f".{stem}.manifest.json"
        self.files: list[str] = []
        self.removed: list[str] = []
        self._fd: int | None = None
        self._started = 0.0
        self._created: list[Path] = []  # folders begin() made, deepest last
        self._finished = False

    def begin(self, need_bytes: int = MIN_FREE_BYTES) -> None:
        import fcntl

        missing = Path(os.path.abspath(self.outdir))
        while not missing.exists() and missing != missing.parent:
            self._created.insert(0, missing)
            missing = missing.parent
        try:
            self.outdir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise os_error(err, self.outdir) or err from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BusyError(f"another meshvid run (pid {holder}) is writing {self.stem} in "
                            f"{self.outdir}: wait for it to finish or choose another -o") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        ACTIVE_DIRS.add(Path(os.path.abspath(self.outdir)))
        check_free_space(self.outdir, need_bytes)
        self._remove_previous()
        self._started = time.time()
        self._write(complete=False)

    def _remove_previous(self) -> None:
        try:
            old = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            names = [n for n in old.get("files", []) if isinstance(n, str)]
        except (OSError, ValueError, AttributeError):
            names = []
        for name in names:
            target = self.outdir / name
            # only plain names of this stem inside the folder: a foreign manifest cannot reach out
            if "/" in name or os.sep in name or not name.startswith(self.stem):
                continue
            if target.is_file():
                target.unlink()
                self.removed.append(name)
        # hidden partial files of this stem left by a run that was killed (SIGKILL, power loss)
        partial = re.compile(rf"^\.{re.escape(self.stem)}.*\.partial-(\d+)-[0-9a-f]+")
        for entry in self.outdir.iterdir():
            m = partial.match(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                entry.unlink(missing_ok=True)

    def add(self, path: str | os.PathLike | None) -> None:
        """Record a complete output file (no-op for None)."""
        if path is None:
            return
        name = os.path.relpath(Path(path), self.outdir)
        if name not in self.files:
            self.files.append(name)
        if self._fd is not None:
            self._write(complete=False)

    def finish(self) -> None:
        if self._fd is not None:
            self._write(complete=True)
            self._finished = True
        self.release()

    def release(self) -> None:
        """Unlock. A run that failed before writing any file leaves nothing behind: no
        manifest, no lock file, and no folder that it created itself."""
        if self._fd is None:
            return
        if not self._finished and not self.files:
            self.manifest_path.unlink(missing_ok=True)
            self.lock_path.unlink(missing_ok=True)
            for folder in reversed(self._created):
                try:
                    folder.rmdir()  # only when empty
                except OSError:
                    break
        os.close(self._fd)  # releases the flock; a finished run's empty lock file stays
        self._fd = None

    def _write(self, complete: bool) -> None:
        from meshvid.export.atomic import write_text_atomic

        doc = {"format": MANIFEST_FORMAT, "stem": self.stem, "pid": os.getpid(),
               "started": self._started, "complete": complete, "files": self.files}
        write_text_atomic(self.manifest_path, json.dumps(doc, indent=1) + "\n")
