"""The compute device a user names with --device, checked before any model loads."""

from __future__ import annotations

import re

from meshvid.errors import DeviceError

_CUDA = re.compile(r"^cuda(:(\d+))?$")


def check_device(name: str) -> str:
    """Validate a --device value: 'cpu', 'cuda' or 'cuda:N' (a GPU that torch can see).

    Args:
        name: the user's value (case-insensitive, surrounding spaces ignored).
    Returns:
        The normalized device string for torch.device (e.g. 'cuda:0').
    Raises:
        DeviceError: an unknown device, or CUDA requested where no usable GPU is visible.
    """
    import torch

    value = str(name).strip().lower()
    if value == "cpu":
        return value
    m = _CUDA.match(value)
    if m is None:
        raise DeviceError(f"--device {name!r} is not supported: use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {value}: no CUDA GPU is available on this machine (torch "
                          f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}): "
                          "use --device cpu")
    index = int(m.group(2) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"--device {value}: this machine has {count} CUDA GPU(s) "
                          f"(cuda:0..cuda:{count - 1})")
    return f"cuda:{index}"
