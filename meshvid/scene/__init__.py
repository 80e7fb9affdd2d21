"""The scene: camera motion, gravity, the floor and the world frame.

One room for the scene geometry that both the pipeline (`meshvid infer`) and the exporters
use (docs/camera-motion.md):

* `camera_motion`: the camera's rotation per frame from feature tracks on the background;
* `world`: the world frame (gravity up, origin at the first frame's camera) and people moved
  between camera and world;
* `floor`: one floor per result (`meshvid.export.floor` re-exports it);
* `kinematics`: numpy forward kinematics and skinning shared by the floor, the foot lock and
  the export rig;
* `records`: `CameraPath`, the world -> camera extrinsics a result carries;
* `synthetic`: clips filmed by a turning camera with a known rotation (tests, measurements).

numpy and scipy (OpenCV for the feature tracks; torch only where the floor asks the body
model for its rest mesh).
"""
