"""Perception: person detection with 2D keypoints, tracking, tracklets and crops.

Heavy imports (ultralytics, torch) happen inside the modules that need them, so importing this
package is cheap; use the submodules directly:
  detector (PoseDetector, choose_imgsz), tracker (OnlineTracker, TrackBuilder, split_on_gaps),
  crops (make_crops: THE crop convention), run (run_tracking), tracks_io (tracks.json),
  draw (tracking video).
"""
