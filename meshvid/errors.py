"""Errors that are the user's to fix: the CLI prints their message on one line and exits non-zero.

Anything else that escapes is a bug and keeps its traceback. Each class has a short `code`
(the `"code"` of the `{"error": ..., "code": ...}` object that `--json` prints on stdout), so
scripts can branch on the kind of failure without parsing the message.
"""


class MeshvidError(Exception):
    """An expected failure with a message that says what is wrong and what to do."""

    exit_code = 2
    code = "error"


class InputError(MeshvidError):
    """A missing, unreadable, corrupt or empty input (or an invalid option value)."""

    code = "input"


class MissingAssetError(MeshvidError):
    """A model file or data set the user must supply (e.g. SMPL) is absent."""

    code = "missing_asset"


class MissingDependencyError(MeshvidError):
    """An optional dependency (e.g. bpy) is not installed."""

    code = "missing_dependency"


class OutputError(MeshvidError):
    """An output cannot be written: read-only or missing folder, a directory in the way, the
    output would overwrite the input, the disk is full."""

    code = "output"


class DiskFullError(OutputError):
    """No space left on the output's file system (or a file-size limit reached)."""

    code = "disk_full"


class BusyError(MeshvidError):
    """Another meshvid run is writing the same outputs (one lock per output stem)."""

    code = "busy"


class DeviceError(MeshvidError):
    """The requested compute device (--device) does not exist or is not available here."""

    code = "device"


class ExportError(MeshvidError):
    """An exporter (e.g. the Blender child process) failed; the message carries its last
    meaningful line."""

    code = "export"


class MeshvidWarning(UserWarning):
    """Something the user should know that does not stop the run (printed as one line)."""
