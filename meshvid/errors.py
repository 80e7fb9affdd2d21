"""Errors that are the user's to fix: the CLI prints their message on one line and exits non-zero.

Anything else that escapes is a bug and keeps its traceback.
"""


class MeshvidError(Exception):
    """An expected failure with a message that says what is wrong and what to do."""

    exit_code = 2


class InputError(MeshvidError):
    """A missing, unreadable, corrupt or empty input."""


class MissingAssetError(MeshvidError):
    """A model file or data set the user must supply (e.g. SMPL) is absent."""


class MissingDependencyError(MeshvidError):
    """An optional dependency (e.g. bpy) is not installed."""
