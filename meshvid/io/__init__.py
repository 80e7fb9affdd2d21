"""Video and image I/O: streamed frame sources and an atomic MP4 writer."""

from meshvid.io.video import ImageSource, VideoSource, open_source
from meshvid.io.writer import VideoWriter, best_video_codec

__all__ = ["ImageSource", "VideoSource", "VideoWriter", "best_video_codec", "open_source"]
