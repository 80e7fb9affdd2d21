"""`meshvid infer INPUT`: smooth meshes for every person, an overlay video, NPZ and exports."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from meshvid.cli.common import console, emit_json, make_progress, plural
from meshvid.errors import InputError

RENDER_MODES = ("overlay", "side", "none")


class _RichProgress:
    def __init__(self, progress) -> None:
        self.progress = progress
        self.task = None
        self.started = 0.0

    def start(self, name: str, total: int | None) -> None:
        self.finish()
        self.task = self.progress.add_task(name, total=total, rate="")
        self.started = time.perf_counter()
        self.unit = "fps" if name != "exporting" else ""

    def advance(self, done: int) -> None:
        dt = time.perf_counter() - self.started
        self.progress.update(self.task, completed=done,
                             rate=f"{done / dt:5.1f} {self.unit}" if dt > 0 and self.unit
                             else "")

    def finish(self) -> None:
        """A stage that ended: its bar shows what it did (N/N), whatever the header said."""
        if self.task is None:
            return
        task = self.progress.tasks[-1]
        if task.total is None or task.completed != task.total:
            self.progress.update(self.task, total=task.completed)


def infer(
    input: Path = typer.Argument(None, help="Video file, image folder or single image."),
    output: Path = typer.Option(Path("out/infer"), "-o", "--output", help="Output folder."),
    demo: bool = typer.Option(False, "--demo", help="Run on the shipped demo clip (two people, "
                              "from the sports2d wheel) instead of INPUT."),
    export: str = typer.Option("", "--export", help="Also write these, comma-separated: fbx, "
                               "glb, bvh, blend (the NPZ is always written)."),
    preset: str = typer.Option("blender", "--preset", help="Export axes/units: blender, unity, "
                               "unreal."),
    render: str = typer.Option("overlay", "--render", help="overlay, side (overlay + side "
                               "view) or none."),
    keypoints: bool = typer.Option(False, "--keypoints", help="Draw the 2D keypoints too."),
    body_model: str = typer.Option("anny24", "--body-model", help="anny24 (shipped) or smpl."),
    smpl_dir: Path | None = typer.Option(None, "--smpl-dir", help="Folder with your SMPL files "
                                         "(or $MESHVID_SMPL_DIR)."),
    weights: Path | None = typer.Option(None, "--weights", help="Regressor weights folder or "
                                        "checkpoint (default: weights/dsd_satn_cpu)."),
    detector: Path | None = typer.Option(None, "--detector", help="An ultralytics pose "
                                         "checkpoint (default: YOLO11n-pose)."),
    max_people: int | None = typer.Option(None, "--max-people", min=1, help="Keep the N most "
                                          "prominent people."),
    min_track_len: int = typer.Option(10, "--min-track-len", min=1, help="Drop tracks shorter "
                                      "than this many frames."),
    focal: float | None = typer.Option(None, "--focal", min=1.0, help="Focal length in pixels "
                                       "(default: a 55 degree field of view on the long side)."),
    no_temporal: bool = typer.Option(False, "--no-temporal", help="Single-frame DSD only "
                                     "(skip SATN)."),
    min_height: float = typer.Option(40.0, "--min-height", min=0.0, help="Do not mesh people "
                                     "whose box is lower than this many pixels (median over "
                                     "the track); 0 meshes everyone."),
    camera: str = typer.Option("fit", "--camera", help="fit: the translation is fitted to the "
                               "detector's keypoints (full perspective, depth smoothed per "
                               "track); network: the network's weak-perspective camera only."),
    refine: bool = typer.Option(True, "--refine/--no-refine", help="Fit each track's pose and "
                                "translation to the detector's keypoints over time (pose prior, "
                                "smoothness; docs/infer.md). On by default."),
    crop_ray: bool = typer.Option(True, "--crop-ray/--no-crop-ray", help="Turn the network's "
                                  "body orientation from the crop's viewing ray to the camera "
                                  "(people off the image centre no longer lean; "
                                  "docs/model.md). On by default."),
    flip_test: bool = typer.Option(True, "--flip-test/--no-flip-test", help="Also run the "
                                   "networks on each crop's mirror image and average the two "
                                   "estimates (a second backbone pass; docs/infer.md). On by "
                                   "default."),
    orientation: bool = typer.Option(True, "--orientation-net/--no-orientation-net",
                                     help="Take the body's root orientation from the weights' "
                                     "orientation network when they have one (docs/model.md, "
                                     "\"Root orientation\"). On by default."),
    body_net: bool = typer.Option(True, "--body-net/--no-body-net", help="Average the body's "
                                  "joints with the weights' articulation network when they have "
                                  "one (docs/model.md, \"Articulation network\"). On by default."),
    body_temporal: bool = typer.Option(True, "--body-temporal/--no-body-temporal",
                                       help="Run the articulation network's temporal network "
                                       "(body_satn.safetensors) over each track when the "
                                       "weights have one (docs/model.md, \"Articulation "
                                       "network\"). On by default."),
    root_anchor: bool = typer.Option(False, "--root-anchor", help="With the fit: hold each "
                                     "body's root rotation where the orientation network was "
                                     "trusted (better 3D on down-looking cameras, slightly "
                                     "looser 2D overlay; docs/eval-multiview.md)."),
    shape_weight: float = typer.Option(0.0, "--shape-weight", min=0.0, max=1.0, help="How much "
                                       "of the networks' body shape to keep: 0 (default) the "
                                       "body model's mean adult shape, 1 the shape as predicted "
                                       "(children, unusual builds; docs/infer.md)."),
    keypoint_crop: int | None = typer.Option(None, "--keypoint-crop", min=64, max=1280,
                                             help="Look again at each tracked person: the "
                                             "detector on their crop at this size (e.g. 384), "
                                             "keypoints fused with the first pass's. Off by "
                                             "default: slower (docs/perception.md)."),
    keypoint_flip: bool = typer.Option(False, "--keypoint-flip", help="With --keypoint-crop: "
                                       "that pass also sees each crop mirrored and averages "
                                       "the two (a little closer, twice the pass's time)."),
    mesh_rate: str = typer.Option("model", "--mesh-rate", help="model: the networks run at "
                                  "SATN's 10 fps training rate and the frames between are "
                                  "interpolated (slerp); every: DSD on every frame (slower)."),
    camera_motion: str = typer.Option("auto", "--camera-motion", help="auto: estimate the "
                                      "camera's rotation from the background and use it when "
                                      "the camera moved (a still camera, or a background too "
                                      "bare to track, is left still, saying so); estimate: "
                                      "the same without that fallback; static: assume a "
                                      "still camera (docs/camera-motion.md)."),
    gravity: str = typer.Option("auto", "--gravity", help="Where 'up' comes from for the "
                                "floor and the world frame: lines: the scene's plumb lines "
                                "(walls, poles) when there are enough, else the people's mean "
                                "up; people: always the people; auto: lines when --focal is "
                                "given, else the people (docs/camera-motion.md)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="Only the first N "
                                          "frames."),
    image_fps: float = typer.Option(30.0, "--image-fps", min=0.001, help="Frame rate given to "
                                    "image folders."),
    keep_partial: bool = typer.Option(False, "--keep-partial", help="A truncated or damaged "
                                      "video: use the frames before the damage (with a "
                                      "warning) instead of refusing it."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Recover an animated 3D body mesh for every person in a video."""
    from meshvid.devices import check_device
    from meshvid.export.presets import get_preset
    from meshvid.io.outputs import check_output_dir
    from meshvid.pipeline.infer import InferOptions, run_infer

    if demo:
        from meshvid import assets

        input = assets.sports2d_demo()
    if input is None:
        raise InputError("give a video, an image folder or an image (or --demo)")
    if render not in RENDER_MODES:
        raise InputError(f"--render must be one of {', '.join(RENDER_MODES)}, not {render!r}")
    if camera not in ("fit", "network"):
        raise InputError(f"--camera must be fit or network, not {camera!r}")
    from meshvid.scene.camera_motion import CAMERA_MOTION_MODES

    if camera_motion not in CAMERA_MOTION_MODES:
        raise InputError(f"--camera-motion must be one of {', '.join(CAMERA_MOTION_MODES)}, "
                         f"not {camera_motion!r}")
    from meshvid.scene.vanishing import GRAVITY_MODES

    if gravity not in GRAVITY_MODES:
        raise InputError(f"--gravity must be one of {', '.join(GRAVITY_MODES)}, not {gravity!r}")
    get_preset(preset)
    device = check_device(device)
    exports = tuple(e.strip() for e in export.split(",") if e.strip())
    opts = InferOptions(camera_fit=camera == "fit", refine=refine, min_height=min_height, weights=weights, body_model=body_model, smpl_dir=smpl_dir,
                        detector=detector, max_people=max_people, min_track_len=min_track_len,
                        focal=focal, device=device, temporal=not no_temporal, render=render,
                        keypoints=keypoints, exports=exports, preset=preset,
                        max_frames=max_frames, mesh_rate=mesh_rate, image_fps=image_fps,
                        keep_partial=keep_partial, camera_motion=camera_motion,
                        crop_ray=crop_ray, flip_test=flip_test, orientation_net=orientation,
                        body_net=body_net, body_temporal=body_temporal,
                        root_anchor=root_anchor, shape_weight=shape_weight,
                        keypoint_crop=keypoint_crop, keypoint_flip=keypoint_flip,
                        gravity=gravity)
    if not Path(input).exists():
        raise InputError(f"{input} does not exist: give a video file, an image or an image "
                         "folder")
    check_output_dir(output)  # writable and room, before the long work (created when it starts)
    with make_progress(quiet) as progress:
        bars = _RichProgress(progress)
        result = run_infer(input, output, opts, bars)
        bars.finish()
    summary = result.summary()
    if not result.motion.persons:
        console.print(f"[yellow]warning:[/] no people found in {input}; wrote an empty "
                      f"{result.npz_path}", highlight=False)
    cam = result.camera_motion
    if cam is not None and cam.mode == "fallback":
        console.print(f"[yellow]warning:[/] camera motion: {cam.reason}", highlight=False)
    elif cam is not None and not quiet and not cam.is_static:
        console.print(f"camera motion: turned up to {cam.diagnostics.get('max_angle_deg', 0):.1f}"
                      " deg; root motion and exports are in the world frame", highlight=False)
    if not quiet:
        console.print(f"{plural(len(result.motion.persons), 'person', 'people')}, "
                      f"{plural(result.num_frames, 'frame')} in "
                      f"{result.wall_seconds:.1f} s ({summary['processing_fps']} fps) -> "
                      f"{output}", highlight=False)
    if json_out:
        emit_json(summary)
