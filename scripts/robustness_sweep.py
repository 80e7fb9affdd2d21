#!/usr/bin/env python
"""Robustness sweep (issue 17): bad inputs, bad outputs, interruptions and concurrent runs,
each run through the real `meshvid` entry point in its own process; writes the table of exit
codes and messages to docs/reliability.md.

    python scripts/robustness_sweep.py [--work /tmp/meshvid-sweep] [--only GROUP,...] [--no-4k]
                                       [--case TEXT,...] [--rows-json rows.json]
    python scripts/robustness_sweep.py --merge a.json b.json   # one report from split runs

Groups: options, outputs, npz, inputs, concurrency, signals, startup, memory (a loaded machine
can run two halves in parallel with their own --work and --rows-json, then --merge). `--case`
runs only the rows whose case name contains one of the given texts (while developing; give
--out elsewhere so that the report of a few rows does not replace docs/reliability.md).

Every input is generated here from the sports2d demo clip and ultralytics' bus.jpg (no
download). Read-only folders and the tiny "full disk" are tmpfs mounts when run as root
(otherwise chmod 555, and the full-disk rows use RLIMIT_FSIZE only). Signals are sent when
the run reports that it entered the stage (the sweep's launcher records the stage names the
CLI's progress receives; nothing in meshvid changes for it); for the export stage, when the
Blender worker process is running on its job folder (each signal row has its own TMPDIR, where
the job folder is made). The file-size limit of "a write fails part-way" is measured, not
guessed: a run without the limit gives the sizes of the NPZ (written first) and of the overlay
(written after it), and the limit is set between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The launcher: meshvid's real entry point, plus (for the signal and concurrency rows) a note
# of each progress stage as it starts, and the peak RSS at exit.
BOOT = r"""
import atexit, os, resource, sys
sys.argv = ["meshvid", *sys.argv[1:]]  # what the console script sees
import meshvid.cli.main  # first, as the console script does (its early signal handlers)
stage_file = os.environ.get("SWEEP_STAGE_FILE")
if stage_file:
    from meshvid.cli import infer as _infer
    _start = _infer._RichProgress.start
    def start(self, name, total):
        with open(stage_file, "a") as f:
            f.write(name + "\n")
        return _start(self, name, total)
    _infer._RichProgress.start = start
rss_file = os.environ.get("SWEEP_RSS_FILE")
if rss_file:
    atexit.register(lambda: open(rss_file, "w").write(
        str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
limit = os.environ.get("SWEEP_FSIZE")
if limit:
    import signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
from meshvid.cli.main import run
run()
"""


@dataclass
class Row:
    group: str
    case: str
    command: str
    code: int | None = None
    message: str = ""
    check: str = ""
    ok: bool = True  # the behaviour the issue asks for (one line, no traceback, clean outputs)
    seconds: float = 0.0


@dataclass
class Sweep:
    work: Path
    rows: list[Row] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)
    rows_json: Path | None = None
    memory: dict | None = None
    cases: list[str] | None = None  # --case: only the rows whose name contains one of these

    def wants(self, case: str) -> bool:
        return self.cases is None or any(c in case for c in self.cases)

    def save(self) -> None:
        if self.rows_json is not None:
            self.rows_json.write_text(json.dumps({"memory": self.memory, "rows": [
                r.__dict__ for r in self.rows]}, indent=1))

    # --- running meshvid ----------------------------------------------------------------
    def start(self, args: list, env: dict | None = None) -> subprocess.Popen:
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        return subprocess.Popen([sys.executable, "-c", BOOT, *map(str, args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=full_env, cwd=self.work)

    def meshvid(self, args: list, env: dict | None = None, timeout: float = 900
                ) -> tuple[int, str, str, float]:
        t0 = time.perf_counter()
        proc = self.start(args, env)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, time.perf_counter() - t0

    def record(self, group: str, case: str, args: list, code: int, out: str, err: str,
               seconds: float, check: str = "", ok: bool | None = None) -> Row:
        message = summarize(err)
        traceback = "Traceback" in err
        n_errors = sum(ln.startswith("error:") for ln in err.splitlines())
        if code not in (0, None) and n_errors != 1 and not traceback:
            check = (f"{n_errors} error lines, not one; " + check).strip("; ")
            ok = False
        if traceback:
            check = ("TRACEBACK; " + check).strip("; ")
            (self.work / "tracebacks.txt").open("a").write(f"== {case}\n{err}\n")
        if "--json" in map(str, args) and code != 0:
            try:
                doc = json.loads(out)
                message += f' (JSON code "{doc["code"]}")'
            except (ValueError, KeyError):
                check = ("no JSON error object; " + check).strip("; ")
                ok = False
        row = Row(group, case, "meshvid " + " ".join(short(a, self.work) for a in args), code,
                  message, check, (not traceback) if ok is None else (ok and not traceback),
                  seconds)
        self.rows.append(row)
        self.save()
        print(f"[{code}] {case}: {message} {('| ' + check) if check else ''}", flush=True)
        return row

    def run(self, group: str, case: str, args: list, *, expect: int | None = None,
            env: dict | None = None, check=None) -> Row | None:
        if not self.wants(case):
            return None
        code, out, err, dt = self.meshvid(args, env)
        note, ok = "", True
        if check is not None:
            note, ok = check()
        if expect is not None and code != expect:
            ok = False
            note = (f"expected exit {expect}; " + note).strip("; ")
        return self.record(group, case, args, code, out, err, dt, note, ok)

    # --- file systems -------------------------------------------------------------------
    def tmpfs(self, name: str, size: str, read_only: bool) -> Path | None:
        path = self.work / name
        path.mkdir(exist_ok=True)
        if os.geteuid() != 0:
            if read_only:
                path.chmod(0o555)
                return path
            return None
        opts = f"size={size}" + (",ro" if read_only else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)]).returncode:
            return None
        self.mounts.append(path)
        return path

    def unmount(self) -> None:
        for path in self.mounts:
            subprocess.run(["umount", str(path)], check=False)


def short(arg, work: Path) -> str:
    text = str(arg)
    text = text.replace(str(work) + "/", "").replace(str(work), ".")
    text = text.replace(str(REPO) + "/", "")
    return f'"{text}"' if " " in text else text


def summarize(err: str) -> str:
    """The line a user reads: the error/warning lines, else the last line (the summary)."""
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    picked = [ln for ln in lines if ln.startswith(("error:", "warning:", "note:"))]
    if not picked:
        picked = [ln for ln in lines if not ln.startswith(("tracking", "meshes", "rendering",
                                                           "exporting", "export "))][-1:]
    text = " / ".join(picked)
    return text.replace("|", "\\|")[:400]


def leftovers(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def listing(folder: Path) -> str:
    if not folder.exists():
        return "folder not created"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    hidden = sorted(p.name for p in folder.iterdir() if p.name.startswith(".")
                    and ".partial-" in p.name)
    return ("files: " + ", ".join(names) if names else "folder empty") + (
        f"; PARTIAL: {', '.join(hidden)}" if hidden else "")


# --- inputs ---------------------------------------------------------------------------------

def make_inputs(work: Path, with_4k: bool) -> dict[str, Path]:
    import av
    import cv2
    from PIL import Image

    from meshvid import assets
    from meshvid.io import VideoWriter
    from meshvid.io.video import open_source

    demo = assets.sports2d_demo()
    inp = work / "inputs"
    inp.mkdir(parents=True, exist_ok=True)
    p: dict[str, Path] = {"demo": demo, "bus": assets.bus_jpg()}

    def small_clip(path: Path, frames: int, size=(640, 360), times=None, step=1) -> Path:
        if path.exists():
            return path
        src = open_source(demo, stop=frames * step)
        with VideoWriter(path, src.info.fps) as w:
            for i, f in enumerate(src):
                if i % step:
                    continue
                t = times[i // step] if times is not None else f.timestamp
                w.write(cv2.resize(f.image, size, interpolation=cv2.INTER_AREA), t)
        return path

    p["clip"] = small_clip(inp / "clip.mp4", 60)
    p["long"] = small_clip(inp / "long.mp4", 150)
    rng = np.random.default_rng(0)
    vfr_times = np.cumsum(rng.choice([1 / 30, 1 / 15, 1 / 24], 60)) - 1 / 30
    p["vfr"] = small_clip(inp / "vfr.mp4", 60, times=vfr_times)
    p["one_frame"] = small_clip(inp / "one_frame.mp4", 1)
    p["tiny"] = small_clip(inp / "tiny64.mp4", 30, size=(64, 64))
    p["unicode"] = inp / "vidéo démo 测试.mp4"
    shutil.copyfile(p["clip"], p["unicode"])

    nobody = inp / "nobody.mp4"
    if not nobody.exists():
        with VideoWriter(nobody, 30) as w:
            for i in range(30):
                img = np.full((360, 640, 3), 90, np.uint8)
                img[150:210, 40 + 10 * i:100 + 10 * i] = (200, 60, 60)
                w.write(img)
    p["nobody"] = nobody

    (inp / "zero.mp4").write_bytes(b"")
    p["zero"] = inp / "zero.mp4"
    (inp / "text.mp4").write_text("this is a text file, not a video\n" * 40)
    p["text"] = inp / "text.mp4"
    data = demo.read_bytes()
    (inp / "truncated.mp4").write_bytes(data[: len(data) // 5])
    p["truncated"] = inp / "truncated.mp4"

    audio_only = inp / "audio_only.m4a"
    if not audio_only.exists():
        with av.open(str(demo)) as src, av.open(str(audio_only), "w", format="mp4") as dst:
            if src.streams.audio:
                out = dst.add_stream_from_template(src.streams.audio[0])
                for packet in src.demux(src.streams.audio[0]):
                    if packet.dts is None:
                        continue
                    packet.stream = out
                    dst.mux(packet)
            else:  # a second of silence, AAC
                out = dst.add_stream("aac", rate=44100)
                frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt",
                                                   layout="mono")
                frame.rate = 44100
                for _ in range(44):
                    for packet in out.encode(frame):
                        dst.mux(packet)
                for packet in out.encode():
                    dst.mux(packet)
    p["audio_only"] = audio_only

    # portrait phone clip: the same pixels with a 90-degree display matrix in the tkhd box
    rotated = inp / "rotated.mp4"
    raw = bytearray(p["clip"].read_bytes())
    i = raw.find(b"tkhd")
    off = i + 8 + (32 if raw[i + 4] == 1 else 20) + 16
    struct.pack_into(">9i", raw, off, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    rotated.write_bytes(bytes(raw))
    p["rotated"] = rotated

    bus = Image.open(p["bus"])
    folder = inp / "mixed_sizes"
    folder.mkdir(exist_ok=True)
    bus.save(folder / "0001.png")
    bus.resize((bus.width // 2, bus.height // 2)).save(folder / "0002.png")
    p["mixed"] = folder
    (inp / "empty_folder").mkdir(exist_ok=True)
    p["empty_folder"] = inp / "empty_folder"
    bus.convert("L").save(inp / "gray.png")
    p["gray"] = inp / "gray.png"
    rgba = bus.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(bus.size))
    rgba.save(inp / "alpha.png")
    p["alpha"] = inp / "alpha.png"
    frames = inp / "frames"
    frames.mkdir(exist_ok=True)
    for k, f in enumerate(open_source(p["clip"], stop=20)):
        Image.fromarray(f.image).save(frames / f"{k + 1}.jpg")
    p["frames"] = frames

    if with_4k:
        clip4k = inp / "clip4k.mp4"
        if not clip4k.exists():
            src = open_source(demo, stop=120)
            with VideoWriter(clip4k, src.info.fps) as w:
                for f in src:
                    w.write(cv2.resize(f.image, (3840, 2160), interpolation=cv2.INTER_LINEAR),
                            f.timestamp)
        p["4k"] = clip4k
    return p


def make_npzs(work: Path, valid: Path) -> dict[str, Path]:
    """Every malformed NPZ the sweep knows, derived from a valid one."""
    folder = work / "npz"
    folder.mkdir(exist_ok=True)
    with np.load(valid, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}

    def save(name: str, arr: dict) -> Path:
        path = folder / name
        with open(path, "wb") as fh:
            np.savez(fh, **arr)
        return path

    out: dict[str, Path] = {}
    (folder / "zero.npz").write_bytes(b"")
    out["zero-byte NPZ"] = folder / "zero.npz"
    (folder / "text.npz").write_text("not a zip\n")
    out["text as NPZ"] = folder / "text.npz"
    blob = valid.read_bytes()
    (folder / "truncated.npz").write_bytes(blob[: len(blob) // 2])
    out["truncated NPZ"] = folder / "truncated.npz"
    out["foreign NPZ (other arrays)"] = save("foreign.npz", {"a": np.zeros(3), "b": np.ones(2)})
    out["newer schema_version"] = save("newer.npz", {**arrays, "schema_version":
                                                     np.array(99, np.int64)})
    out["missing key (pose)"] = save("no_pose.npz", {k: v for k, v in arrays.items()
                                                     if k != "pose"})
    bad = dict(arrays)
    bad["pose"] = arrays["pose"][:, :23]
    out["wrong shape (pose 23 joints)"] = save("shape.npz", bad)
    bad = dict(arrays)
    bad["track_lengths"] = arrays["track_lengths"] + 5
    out["track_lengths disagree with rows"] = save("lengths.npz", bad)
    bad = dict(arrays)
    bad["pose"] = arrays["pose"].copy()
    bad["pose"][3] = np.nan
    out["NaN in pose"] = save("nan.npz", bad)
    bad = dict(arrays)
    bad["fps"] = np.array(0.0)
    out["fps = 0"] = save("fps0.npz", bad)
    path = folder / "pickle.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **{**arrays, "extra_json": np.array([{"x": 1}], dtype=object)})
    out["object array (pickle)"] = path
    bad = dict(arrays)
    bad["frame_id"] = arrays["frame_id"][::-1].copy()
    out["frames out of order"] = save("order.npz", bad)
    return out


# --- the cases ------------------------------------------------------------------------------

def sweep_inputs(s: Sweep, p: dict[str, Path]) -> None:
    o = s.work / "out"
    none = ["--render", "none"]  # rendering only where the input's shape could matter to it
    for case, key, extra in [
        ("zero-byte file", "zero", []), ("text file named .mp4", "text", []),
        ("truncated video", "truncated", none),
        ("truncated video, --keep-partial", "truncated", ["--keep-partial", "--max-frames", "60",
                                                          "--render", "none"]),
        ("audio-only file", "audio_only", []), ("empty folder", "empty_folder", []),
        ("image folder of mixed sizes", "mixed", none),
        ("image folder, --image-fps 12", "frames", ["--image-fps", "12", "--render", "none"]),
        ("grayscale image", "gray", []), ("RGBA image (alpha)", "alpha", []),
        ("1-frame video", "one_frame", []), ("no people", "nobody", none),
        ("64x64 video", "tiny", []), ("rotated (portrait display matrix)", "rotated", []),
        ("variable frame rate", "vfr", ["--render", "none"]),
        ("unicode input and output paths", "unicode", ["--render", "none"]),
    ]:
        dest = o / (key + "_ü" if key == "unicode" else key)
        s.run("inputs", case, ["infer", p[key], "-o", dest, *extra],
              check=lambda dest=dest: (listing(dest), not leftovers(dest)))
    dest = o / "missing"
    s.run("inputs", "missing path", ["infer", s.work / "nope.mp4", "-o", dest, "--json"],
          expect=2, check=lambda: (listing(dest), not dest.exists()))


def sweep_options(s: Sweep, p: dict[str, Path]) -> None:
    o = s.work / "out"
    s.run("options", "--device cuda without a GPU", ["infer", p["bus"], "--device", "cuda",
                                                     "-o", o / "dev"], expect=2)
    s.run("options", "--device tpu", ["infer", p["bus"], "--device", "tpu", "-o", o / "dev",
                                      "--json"], expect=2)
    s.run("options", "--preset bogus (no --export)", ["infer", p["bus"], "--preset", "bogus",
                                                      "-o", o / "dev"], expect=2)
    s.run("options", "unknown option, --json", ["infer", "--frobnicate", "--json"], expect=2)
    s.run("options", "doctor --quiet", ["doctor", "--quiet"], expect=0)
    s.run("options", "bench loop --json --quiet", ["bench", "loop", p["clip"], "-o",
                                                   o / "loop.mp4", "--minutes", "0.1", "--json",
                                                   "--quiet"], expect=0)
    s.run("options", "bench infer --quiet --json", ["bench", "infer", p["tiny"], "--quiet",
                                                    "--json", "--max-frames", "10"], expect=0)
    s.run("options", "train --toy without --config", ["train", "--toy", "--out", o / "toy",
                                                      "--stop-after", "dsd", "--quiet"],
          expect=0)
    s.run("options", "infer --quiet (prints nothing)", ["infer", p["bus"], "-o", o / "quiet",
                                                        "--quiet", "--render", "none"],
          expect=0)


def sweep_outputs(s: Sweep, p: dict[str, Path], valid: Path) -> None:
    o = s.work / "out"
    ro = s.tmpfs("readonly", "1m", read_only=True)
    if ro is not None:
        s.run("outputs", "infer -o read-only folder", ["infer", p["bus"], "-o", ro / "x"],
              expect=2)
        s.run("outputs", "export -f bvh,fbx -o read-only folder",
              ["export", valid, "-f", "bvh,fbx", "-o", ro / "x"], expect=2)
        s.run("outputs", "smooth -o read-only folder", ["smooth", valid, "-o", ro / "x.npz"],
              expect=2)
    s.run("outputs", "smooth -o an existing directory", ["smooth", valid, "-o", o], expect=2)
    s.run("outputs", "smooth -o /nonexistent/dir/x.npz",
          ["smooth", valid, "-o", "/nonexistent/dir/x.npz"], expect=2,
          check=lambda: ("/nonexistent not created" if not Path("/nonexistent").exists()
                         else "CREATED /nonexistent", not Path("/nonexistent").exists()))
    copy = o / "self.npz"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(valid, copy)
    s.run("outputs", "smooth -o onto its own input", ["smooth", copy, "-o", copy], expect=2)
    s.run("outputs", "smooth -o onto its own input --force",
          ["smooth", copy, "-o", copy, "--force"], expect=0)
    full = s.tmpfs("full", "2m", read_only=False)
    if full is not None:
        s.run("outputs", "infer onto a 2 MB tmpfs (full disk, checked first)",
              ["infer", p["clip"], "-o", full / "x", "--json"], expect=2,
              check=lambda: (listing(full / "x"), not (full / "x").exists()))
    if s.wants("infer, a write fails part-way"):
        write_fails_part_way(s, p)
    dest = o / "fsize_smooth"
    dest.mkdir(parents=True, exist_ok=True)
    s.run("outputs", "smooth, the write fails (RLIMIT_FSIZE 4 kB)",
          ["smooth", valid, "-o", dest / "x.npz"], env={"SWEEP_FSIZE": "4096"}, expect=2,
          check=lambda: (listing(dest), not leftovers(dest)))


def manifest_check(dest: Path, stem: str) -> tuple[str, bool]:
    """An interrupted or failed run: its manifest (if any) says `complete: false` and lists
    exactly the files in the folder (complete outputs of finished stages, nothing else)."""
    path = dest / f".{stem}.manifest.json"
    if not path.exists():
        return "no manifest", not dest.exists() or not any(
            not x.name.startswith(".") for x in dest.iterdir())
    doc = json.loads(path.read_text())
    visible = sorted(x.name for x in dest.iterdir() if not x.name.startswith("."))
    ok = doc["complete"] is False and sorted(doc["files"]) == visible
    note = f"manifest complete: {str(doc['complete']).lower()}"
    if sorted(doc["files"]) != visible:
        note += f", LISTS {sorted(doc['files'])} BUT FOLDER HOLDS {visible}"
    return note, ok


def write_fails_part_way(s: Sweep, p: dict[str, Path]) -> None:
    """RLIMIT_FSIZE between the size of what the run writes first (NPZ, JSON summary) and the
    overlay written after them, both measured by a run without the limit: the overlay's write
    fails part-way with EFBIG (handled like ENOSPC)."""
    o = s.work / "out"
    ref = o / "fsize_reference"
    code, _, err, _ = s.meshvid(["infer", p["clip"], "-o", ref, "--quiet"])
    assert code == 0, err
    sizes = {x.name: x.stat().st_size for x in ref.iterdir() if not x.name.startswith(".")}
    first = max(sizes["clip.npz"], sizes["clip.json"])
    overlay = sizes["clip_overlay.mp4"]
    limit = (first + overlay) // 2
    assert overlay - first > 8192, f"overlay {overlay} B barely larger than the NPZ {first} B"
    dest = o / "fsize"
    args = ["infer", p["clip"], "-o", dest, "--json"]
    code, out, err, dt = s.meshvid(args, env={"SWEEP_FSIZE": str(limit)})
    notes, ok = [], code == 2
    if code != 2:
        notes.append("expected exit 2")
    try:
        json_code = json.loads(out).get("code")
    except ValueError:
        json_code = None
    if json_code != "disk_full":
        notes.append(f"JSON code {json_code!r}, expected 'disk_full'")
        ok = False
    visible = sorted(x.name for x in dest.iterdir() if not x.name.startswith(".")) \
        if dest.exists() else []
    if "clip_overlay.mp4" in visible or leftovers(dest):
        ok = False
    note, manifest_ok = manifest_check(dest, "clip")
    ok = ok and manifest_ok
    notes += [f"limit {limit / 1000:.1f} kB, between clip.npz {sizes['clip.npz'] / 1000:.1f} kB "
              f"(written first) and clip_overlay.mp4 {overlay / 1000:.1f} kB (measured without "
              "the limit)", listing(dest), note]
    s.record("outputs", "infer, a write fails part-way (RLIMIT_FSIZE between the NPZ and the "
             "overlay sizes: EFBIG, as ENOSPC)", args, code, out, err, dt, "; ".join(notes), ok)


def wait_for_stage(stage_file: Path, stage: str | None, proc: subprocess.Popen,
                   timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if stage is None:
            return True
        if stage_file.exists() and stage in stage_file.read_text().split():
            return True
        time.sleep(0.05)
    return False


def child_processes(pid: int) -> dict[int, str]:
    """{pid: command line} of the direct children of `pid` (from /proc)."""
    kids = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                kids[int(stat.parent.name)] = cmd
        except (OSError, IndexError, ValueError):
            continue
    return kids


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for_blender(tmpdir: Path, proc: subprocess.Popen, partial_in: Path | None = None,
                     timeout: float = 600) -> list[int]:
    """Wait until the run's Blender worker runs on its job folder (in the run's own TMPDIR)
    and, with `partial_in`, until Blender is writing its partial FBX there; returns the
    worker's pid(s), [] if the run ended first."""
    deadline = time.monotonic() + timeout
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        if not workers:
            jobs = [d for d in tmpdir.glob("meshvid-bpy-*") if (d / "job.json").exists()]
            workers = [pid for pid, cmd in child_processes(proc.pid).items()
                       if "blender_worker" in cmd] if jobs else []
        if workers and (partial_in is None or any(partial_in.glob(".*.partial-*.fbx"))):
            return workers
        time.sleep(0.005 if workers else 0.05)
    return []


def sweep_signals(s: Sweep, p: dict[str, Path], startup_only: bool = False) -> None:
    o = s.work / "out"
    # (stage, seconds after the stage starts, moment of the export stage): "bpy" = the Blender
    # worker has started on its job folder (loading bpy, building the scene); "fbx" = Blender
    # is writing the FBX (its partial file exists; the 150-frame clip, whose FBX takes longer)
    stages = [(None, 4.0, ""), ("tracking", 1.0, ""), ("meshes", 0.3, ""),
              ("rendering", 1.0, ""), ("exporting", 0.5, "bpy"), ("exporting", 0.0, "fbx")]
    moments = {"bpy": " (Blender worker started, loading bpy)",
               "fbx": " (Blender writing the FBX)"}
    for stage, delay, moment in stages[:1] if startup_only else stages:
        for sig in (signal.SIGINT, signal.SIGTERM):
            name = f"{sig.name} during {stage or 'start-up (imports, models)'}" + \
                moments.get(moment, "")
            if not s.wants(name):
                continue
            key = f"{stage}{'_' + moment if moment else ''}_{sig.name}"
            dest = o / f"sig_{key}"
            stage_file = s.work / f"stage_{key}.txt"
            stage_file.unlink(missing_ok=True)
            tmpdir = s.work / f"tmp_{key}"  # this run's TMPDIR: where its Blender job goes
            shutil.rmtree(tmpdir, ignore_errors=True)
            tmpdir.mkdir(parents=True)
            stem = "long" if moment == "fbx" else "clip"
            args = ["infer", p[stem], "-o", dest,
                    *(["--export", "bvh,fbx"] if stage == "exporting" else [])]
            t0 = time.perf_counter()
            proc = s.start(args, {"SWEEP_STAGE_FILE": str(stage_file), "TMPDIR": str(tmpdir)})
            reached = wait_for_stage(stage_file, stage, proc)
            workers: list[int] = []
            if reached and stage == "exporting":
                workers = wait_for_blender(tmpdir, proc, dest if moment == "fbx" else None)
                reached = bool(workers)
            time.sleep(delay)
            partial_at_signal = sorted(x.name for x in dest.glob(".*.partial-*")) \
                if dest.exists() else []
            reached = reached and proc.poll() is None
            if proc.poll() is None:
                proc.send_signal(sig)
            try:
                out, err = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                err += "\n(sweep: did not exit within 300 s of the signal; killed)"
            dt = time.perf_counter() - t0
            tmp_left = sorted(d.name for d in tmpdir.glob("meshvid-bpy-*")) + sorted(
                d.name for d in tmpdir.glob("blender_*"))  # Blender's own session folder
            workers_left = [pid for pid in workers if process_alive(pid)]
            expect = 130 if sig == signal.SIGINT else 143
            note, manifest_ok = manifest_check(dest, stem)
            ok = (reached and proc.returncode == expect and not leftovers(dest)
                  and not tmp_left and not workers_left and manifest_ok)
            check = "; ".join(x for x in [
                listing(dest), note,
                f"at the signal: {', '.join(partial_at_signal)} (removed)"
                if partial_at_signal and not leftovers(dest) else "",
                "" if reached else "STAGE NOT REACHED before the run ended",
                (f"Blender worker (pid {workers[0]}) was running; its job and temp folders "
                 "removed, worker gone" if workers and not tmp_left and not workers_left
                 else ""),
                f"BLENDER TEMP FOLDERS LEFT: {tmp_left}" if tmp_left else "",
                f"BLENDER WORKER STILL RUNNING: {workers_left}" if workers_left else "",
                "" if proc.returncode == expect else f"expected exit {expect}"] if x)
            s.record("signals", name, args, proc.returncode, out, err, dt, check, ok)


def sweep_concurrency(s: Sweep, p: dict[str, Path]) -> None:
    o = s.work / "out"
    if not s.wants("second run into the same -o while the first runs"):
        return sweep_stale(s, p)
    dest = o / "shared"
    stage_file = s.work / "stage_concurrent.txt"
    stage_file.unlink(missing_ok=True)
    args_a = ["infer", p["long"], "-o", dest, "--render", "none"]
    t0 = time.perf_counter()
    first = s.start(args_a, {"SWEEP_STAGE_FILE": str(stage_file)})
    wait_for_stage(stage_file, "tracking", first)
    code, out, err, dt = s.meshvid(["infer", p["long"], "-o", dest, "--json"])
    still_running = first.poll() is None
    s.record("concurrency", "second run into the same -o while the first runs",
             ["infer", p["long"], "-o", dest, "--json"], code, out, err, dt,
             "first run still running" if still_running else "FIRST RUN HAD ENDED",
             ok=code == 2 and still_running)
    out, err = first.communicate(timeout=900)
    s.record("concurrency", "... the first run", args_a, first.returncode, out, err,
             time.perf_counter() - t0, listing(dest), ok=first.returncode == 0)
    sweep_stale(s, p)


def sweep_stale(s: Sweep, p: dict[str, Path]) -> None:
    # a later run with other options: the earlier run's files do not stay beside the new ones
    dest = s.work / "out" / "stale"
    s.run("concurrency", "run 1: --export bvh (overlay + BVH per person)",
          ["infer", p["clip"], "-o", dest, "--export", "bvh"], expect=0,
          check=lambda: (listing(dest), True))
    s.run("concurrency", "run 2 into the same -o: --render none, no export",
          ["infer", p["clip"], "-o", dest, "--render", "none"], expect=0,
          check=lambda: (listing(dest) + " (run 1's overlay and BVHs removed)",
                         sorted(x.name for x in dest.iterdir() if not x.name.startswith("."))
                         == ["clip.json", "clip.npz"]))


def sweep_npz(s: Sweep, valid: Path) -> None:
    o = s.work / "out" / "npz"
    o.mkdir(parents=True, exist_ok=True)
    for case, path in make_npzs(s.work, valid).items():
        s.run("NPZ", f"export: {case}", ["export", path, "-f", "bvh", "-o", o / "e", "--json"])
        s.run("NPZ", f"smooth: {case}", ["smooth", path, "-o", o / "s.npz"])


def sweep_4k(s: Sweep, p: dict[str, Path]) -> dict:
    dest = s.work / "out" / "4k"
    rss_file = s.work / "rss_4k.txt"
    row = s.run("memory", "3840x2160, 120 frames (4 s), --render overlay",
                ["infer", p["4k"], "-o", dest], env={"SWEEP_RSS_FILE": str(rss_file)},
                expect=0)
    if row is None:
        return None
    peak_mb = int(rss_file.read_text()) / 1024 if rss_file.exists() else float("nan")
    row.check = f"peak RSS {peak_mb:.0f} MB (limit 2560 MB); " + listing(dest)
    row.ok = row.ok and peak_mb <= 2560
    return {"peak_rss_mb": round(peak_mb), "seconds": round(row.seconds, 1)}


# --- the report -----------------------------------------------------------------------------

HEADER = """# Reliability: what every bad input, bad output and interruption gives

Produced by `python scripts/robustness_sweep.py` (issue 17), which makes every input below,
runs the real `meshvid` entry point once per row in its own process and records the exit code
and what the user reads (the `error:`/`warning:`/`note:` lines, else the last line). "ok" means
the behaviour asked for: no traceback, exactly one `error:` line for a failed run, a JSON error
object on stdout under `--json`, no partial or stale files, nothing created for a refused run;
for a run stopped part-way also a manifest saying `"complete": false` that lists exactly the
files in the folder, and (signals during the export) the Blender worker gone and its job and
temp folders removed. Run on {when}, on a loaded 2-core machine (times are wall-clock under
load).

Exit codes: 0 success; 2 an expected failure (one line; under `--json` also
`{{"error": ..., "code": ..., "exit_code": ...}}` on stdout, code one of `input`, `usage`,
`output`, `disk_full`, `busy`, `device`, `missing_asset`, `missing_dependency`, `export`,
`interrupted`); 130 SIGINT (Ctrl-C); 143 SIGTERM. After a signal the partial files
(`.<stem>.partial-<pid>-<hex>.<ext>`) and Blender's job folder are removed; complete outputs
of finished stages stay and the run manifest (`.<stem>.manifest.json`) says `"complete":
false`. A run killed with SIGKILL cannot clean up: the next run of the same stem removes its
partial files. How the harsh environments are made: read-only folder = a read-only tmpfs
mount; "full disk, checked first" = a 2 MB tmpfs (the free-space check refuses before any
work); "a write fails part-way" = `RLIMIT_FSIZE` in the child (the kernel's EFBIG, handled
like ENOSPC), because a tmpfs small enough to fill mid-run would fail the up-front check; the
limit is set halfway between the NPZ (written first) and the overlay video (written next), both
measured by a run without the limit, so the overlay's write fails part-way. Signals go to the
meshvid process when it enters the stage (export: once the Blender worker runs on its job
folder, or once Blender's partial FBX exists); each signal row has its own TMPDIR, where
leftover job (`meshvid-bpy-*`) and Blender session (`blender_*`) folders are looked for.
"""


def write_report(s: Sweep, path: Path, memory: dict | None) -> None:
    lines = [HEADER.format(when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))]
    if memory:
        lines.append(f"4K memory: a 3840x2160 clip (the sports2d demo upscaled, 120 frames) "
                     f"peaks at **{memory['peak_rss_mb']} MB** resident (`meshvid infer`, "
                     f"default overlay; {memory['seconds']} s under load); it was 2.72 GB "
                     "before the overlay pass decoded straight to 1920x1080.\n")
    group = None
    for r in s.rows:
        if r.group != group:
            group = r.group
            lines += [f"\n## {group}\n", "| case | command | exit | message | check | ok |",
                      "|---|---|---|---|---|---|"]
        cmd = r.command.replace("|", "\\|")
        lines.append(f"| {r.case} | `{cmd}` | {r.code} | {r.message} | {r.check} | "
                     f"{'ok' if r.ok else '**NO**'} |")
    bad = [r for r in s.rows if not r.ok]
    lines.append(f"\n{len(s.rows)} rows, {len(bad)} not ok"
                 + ("" if not bad else ": " + "; ".join(r.case for r in bad)) + ".\n")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "meshvid-sweep")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    ap.add_argument("--only", default=None, help="comma-separated groups to run")
    ap.add_argument("--no-4k", action="store_true")
    ap.add_argument("--case", default=None, help="comma-separated texts: only the rows whose "
                    "case name contains one of them")
    ap.add_argument("--rows-json", type=Path, default=None)
    ap.add_argument("--merge", type=Path, nargs="+", default=None)
    ap.add_argument("--note", default="", help="a paragraph appended to a merged report")
    args = ap.parse_args()
    if args.merge:
        merged = Sweep(Path("."))
        for path in args.merge:
            doc = json.loads(path.read_text())
            merged.rows += [Row(**r) for r in doc["rows"]]
            merged.memory = merged.memory or doc.get("memory")
        seen: dict[tuple[str, str], Row] = {}
        for r in merged.rows:  # a case run by two halves: the later file wins
            seen[(r.group, r.case)] = r
        merged.rows = list(seen.values())
        order = ["options", "outputs", "inputs", "NPZ", "concurrency", "signals", "memory"]
        merged.rows.sort(key=lambda r: order.index(r.group) if r.group in order else 99)
        write_report(merged, args.out, merged.memory)
        if args.note:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write("\n" + args.note.strip() + "\n")
        print(f"wrote {args.out}: {len(merged.rows)} rows")
        return
    only = set(args.only.split(",")) if args.only else None
    work = args.work.resolve()
    if (work / "out").exists():
        shutil.rmtree(work / "out")
    (work / "out").mkdir(parents=True)
    s = Sweep(work, rows_json=args.rows_json,
              cases=args.case.split(",") if args.case else None)
    p = make_inputs(work, with_4k=not args.no_4k and (only is None or "memory" in only))
    # a valid NPZ from a real run (the small clip, both people)
    valid_dir = work / "valid"
    if not (valid_dir / "clip.npz").exists():
        code, _, err, _ = s.meshvid(["infer", p["clip"], "-o", valid_dir, "--render", "none",
                                     "--quiet"])
        assert code == 0, err
    valid = valid_dir / "clip.npz"
    memory = None
    try:
        groups = {"inputs": lambda: sweep_inputs(s, p), "options": lambda: sweep_options(s, p),
                  "outputs": lambda: sweep_outputs(s, p, valid),
                  "signals": lambda: sweep_signals(s, p),
                  "startup": lambda: sweep_signals(s, p, startup_only=True),
                  "concurrency": lambda: sweep_concurrency(s, p),
                  "npz": lambda: sweep_npz(s, valid)}
        for name, fn in groups.items():
            if name == "startup" and (only is None or "signals" in only):
                continue  # its rows are the first of the signals group's
            if only is None or name in only:
                fn()
        if not args.no_4k and (only is None or "memory" in only):
            memory = s.memory = sweep_4k(s, p)
            s.save()
    finally:
        s.unmount()
    write_report(s, args.out, memory)
    print(f"wrote {args.out}: {len(s.rows)} rows, {sum(not r.ok for r in s.rows)} not ok")


if __name__ == "__main__":
    main()
