"""meshvid: animated 3D human body meshes from monocular video (DSD-SATN)."""

import os as _os

# Nothing may be fetched at run time: ultralytics would otherwise pip-install packages on demand
# (e.g. pi-heif the first time Pillow cannot identify a file, through its PIL.Image.open patch).
_os.environ.setdefault("YOLO_AUTOINSTALL", "false")

__version__ = "0.1.0"
