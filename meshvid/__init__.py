"""meshvid: animated 3D human body meshes from monocular video (DSD-SATN)."""

__version__ = "0.1.0"
