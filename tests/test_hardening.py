"""Issue 17: every expected failure is one line (and a JSON object under --json), outputs are
never mixed between runs, the options the README promises exist, progress tells the truth.

Most tests call the CLI in this process (`cli(...)`) so they take well under a second; the ones
that need a real process (signals, file-size limits) start a small Python snippet.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from meshvid import assets
from meshvid.errors import BusyError, DiskFullError, InputError, MeshvidWarning

REPO = Path(__file__).resolve().parents[1]


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `meshvid ARGS` through the real entry point (meshvid.cli.main.run) in-process:
    (exit code, stdout, stderr)."""
    from meshvid.cli import main

    saved = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM),
             warnings.showwarning, sys.argv)
    sys.argv = ["meshvid", *map(str, args)]
    getattr(main, "_signal_received", []).clear()
    capsys.readouterr()
    try:
        main.run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
        warnings.showwarning, sys.argv = saved[2], saved[3]
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line(code: int, err: str, words: str) -> None:
    assert code != 0
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert words in lines[0], err


def anny_result(frames: int = 12):
    """A small valid anny24 MotionResult (one person walking in front of the camera)."""
    import torch

    from meshvid.body import load_body_model
    from meshvid.export.motion import MotionResult, PersonMotion

    body = load_body_model("anny24")
    rng = np.random.default_rng(0)
    pose = (rng.normal(0, 0.05, (frames, 24, 3))).astype(np.float32)
    betas = np.zeros(10, np.float32)
    transl = np.stack([np.linspace(-0.5, 0.5, frames), np.full(frames, 0.4),
                       np.full(frames, 4.0)], 1).astype(np.float32)
    with torch.no_grad():
        out = body(torch.from_numpy(pose), torch.from_numpy(betas)[None].expand(frames, -1),
                   torch.from_numpy(transl))
        rest = body.rest_shape(torch.from_numpy(betas)[None])[1][0].numpy()
    person = PersonMotion(track_id=1, frame_ids=np.arange(frames), timestamps=np.arange(frames) / 30,
                          pose=pose, betas=betas, transl=transl, joints3d=out.joints.numpy(),
                          rest_joints=rest)
    return MotionResult(persons=[person], fps=30.0, body_model="anny24", image_size=(640, 480),
                        focal_length=600.0, source="synthetic")


@pytest.fixture(scope="module")
def valid_npz(tmp_path_factory) -> Path:
    from meshvid.export.npz import save_npz

    return save_npz(anny_result(), tmp_path_factory.mktemp("npz") / "valid.npz")


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody can write to: a read-only tmpfs as root (root ignores permission bits),
    else chmod 555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)],
                             capture_output=True)
        if res.returncode != 0:
            pytest.skip("root without mount: cannot make a read-only folder")
        yield folder
        subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


# --- --json errors and usage errors --------------------------------------------------------

def test_json_error_object_on_stdout(capsys, tmp_path):
    code, out, err = cli(capsys, "smooth", tmp_path / "missing.npz", "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["code"] == "input" and doc["exit_code"] == 2 and "missing.npz" in doc["error"]
    assert_one_line(code, err, "missing.npz")
    code, out, err = cli(capsys, "infer", "--no-such-option", "--json")
    assert code == 2 and json.loads(out)["code"] == "usage"
    assert_one_line(code, err, "--no-such-option")


# --- options that exist ----------------------------------------------------------------------

def test_every_command_takes_quiet_and_json():
    import click
    import typer.main

    from meshvid.cli.main import app

    missing = []

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        opts = {o for p in cmd.params for o in p.opts}
        missing.extend(f"{' '.join(path)} {o}" for o in ("--quiet", "--json") if o not in opts)

    walk(typer.main.get_command(app), [])
    assert not missing, missing


def test_device_and_preset_are_checked_first(capsys, tmp_path):
    import torch

    code, _, err = cli(capsys, "infer", assets.bus_jpg(), "--device", "tpu", "-o", tmp_path / "o")
    assert_one_line(code, err, "--device 'tpu' is not supported")
    if not torch.cuda.is_available():
        code, _, err = cli(capsys, "infer", assets.bus_jpg(), "--device", "cuda", "-o",
                           tmp_path / "o")
        assert_one_line(code, err, "no CUDA GPU")
    code, _, err = cli(capsys, "infer", assets.bus_jpg(), "--preset", "bogus", "-o",
                       tmp_path / "o")
    assert_one_line(code, err, "unknown preset 'bogus'")
    assert not (tmp_path / "o").exists()


def test_refused_input_leaves_no_output_folder(capsys, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    code, _, err = cli(capsys, "infer", text, "-o", tmp_path / "new" / "out")
    assert_one_line(code, err, "notes.mp4")
    assert not (tmp_path / "new").exists()


# --- write failures ------------------------------------------------------------------------

def test_smooth_output_checks(capsys, tmp_path, valid_npz, readonly_dir):
    code, _, err = cli(capsys, "smooth", valid_npz, "-o", readonly_dir / "x.npz")
    assert_one_line(code, err, "read-only file system" if os.geteuid() == 0 else "permission")
    code, _, err = cli(capsys, "smooth", valid_npz, "-o", tmp_path)
    assert_one_line(code, err, "is a folder")
    code, _, err = cli(capsys, "smooth", valid_npz, "-o", tmp_path / "nope" / "dir" / "x.npz")
    assert_one_line(code, err, "does not exist")
    assert not (tmp_path / "nope").exists()
    copy = tmp_path / "copy.npz"
    copy.write_bytes(valid_npz.read_bytes())
    before = copy.read_bytes()
    code, _, err = cli(capsys, "smooth", copy, "-o", copy)
    assert_one_line(code, err, "is the input file")
    assert copy.read_bytes() == before
    code, _, err = cli(capsys, "smooth", copy, "-o", copy, "--force", "--quiet")
    assert code == 0 and err == "" and copy.read_bytes() != before


def test_export_into_readonly_folder_is_one_line(capsys, valid_npz, readonly_dir):
    code, out, err = cli(capsys, "export", valid_npz, "-f", "bvh,fbx", "-o", readonly_dir / "x",
                         "--json")
    assert_one_line(code, err, str(readonly_dir))
    assert json.loads(out)["code"] == "output"


def _fake_blender(tmp_path, monkeypatch, body: str) -> None:
    """Point meshvid's Blender worker at a shell script standing in for Blender's Python."""
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    monkeypatch.setenv("MESHVID_BPY_PYTHON", str(fake))


def test_blender_child_failure_is_one_line(capsys, tmp_path, valid_npz, monkeypatch):
    _fake_blender(tmp_path, monkeypatch,
                  "echo 'Traceback (most recent call last):' >&2\n"
                  "echo '  File \"blender_worker.py\", line 1, in <module>' >&2\n"
                  "echo \"PermissionError: [Errno 13] Permission denied: '/x/y.fbx'\" >&2\n"
                  "exit 1\n")
    code, _, err = cli(capsys, "export", valid_npz, "-f", "fbx", "-o", tmp_path / "x", "--quiet")
    assert_one_line(code, err, "Blender export failed (exit 1): PermissionError")
    assert list(tmp_path.glob("*.fbx")) == [] and list(tmp_path.glob(".*partial*")) == []


def test_killed_blender_worker_leaves_no_temp_folder(capsys, tmp_path, valid_npz, monkeypatch):
    # Blender makes its own session folder (blender_XXXXXX) under $TMPDIR and removes it only
    # when it exits normally; a worker killed on Ctrl-C/SIGTERM (or crashing) must not leave it
    import tempfile

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads $TMPDIR again
    _fake_blender(tmp_path, monkeypatch,
                  "mkdir \"${TMPDIR:-/tmp}/blender_fake\" && touch \"${TMPDIR:-/tmp}/blender_fake/x\"\n"
                  "kill -9 $$\n")
    code, _, err = cli(capsys, "export", valid_npz, "-f", "fbx", "-o", tmp_path / "x", "--quiet")
    assert_one_line(code, err, "Blender export failed (exit -9)")
    assert list(tmp.iterdir()) == []


def test_file_size_limit_is_one_line_disk_full(tmp_path, valid_npz):
    # a real write failure: the process may not write files over 4 kB (EFBIG, like ENOSPC)
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
            "from meshvid.cli.main import run\n"
            f"sys.argv = ['meshvid', 'smooth', {str(valid_npz)!r}, '-o', "
            f"{str(tmp_path / 'out.npz')!r}, '--json']\n"
            "run()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "disk full" in res.stderr, res.stderr
    assert f"cannot write {tmp_path / 'out.npz'}: File too large" in res.stderr, res.stderr
    assert json.loads(res.stdout)["code"] == "disk_full"
    assert not (tmp_path / "out.npz").exists() and not list(tmp_path.glob(".*partial*"))


def test_write_error_names_the_final_file_not_the_partial(tmp_path):
    # the encoder fails on its hidden partial file; the user is told which output failed
    import errno

    from meshvid.export.atomic import partial_path
    from meshvid.io.outputs import os_error

    final = tmp_path / "clip_overlay.mp4"
    tmp = partial_path(final)
    err = os_error(OSError(errno.EFBIG, "File too large", str(tmp)))
    assert isinstance(err, DiskFullError)
    assert f"cannot write {final}: File too large" in str(err) and "partial" not in str(err)
    err = os_error(OSError(errno.EROFS, "Read-only file system", str(partial_path(
        tmp_path / "a.b.fbx"))))
    assert f"cannot write {tmp_path / 'a.b.fbx'}:" in str(err)


def test_free_space_is_checked_before_work(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from meshvid.io.outputs import check_output_dir

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(DiskFullError, match="1 MB free"):
        check_output_dir(tmp_path / "o")
    assert not (tmp_path / "o").exists()


# --- one lock per stem, a manifest per run -------------------------------------------------

def test_lock_per_stem_and_manifest_replaces_earlier_runs(tmp_path):
    from meshvid.io.outputs import OutputClaim

    out = tmp_path / "o"
    first = OutputClaim(out, "clip")
    first.begin()
    for name in ("clip.npz", "clip_person_2.bvh"):
        (out / name).write_text("run 1")
        first.add(out / name)
    with pytest.raises(BusyError, match=f"pid {os.getpid()}"):
        OutputClaim(out, "clip").begin()
    OutputClaim(out, "other").begin()  # another stem in the same folder is independent
    first.finish()
    # a partial file of a killed run (its pid no longer exists) is swept too
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / f".clip_overlay.partial-{dead.pid}-abc123.mp4").write_text("junk")
    second = OutputClaim(out, "clip")
    second.begin()
    assert sorted(second.removed) == ["clip.npz", "clip_person_2.bvh"]
    assert not list(out.glob("clip*")) and not list(out.glob(".clip_overlay.partial*"))
    (out / "clip.npz").write_text("run 2")
    second.add(out / "clip.npz")
    second.finish()
    manifest = json.loads((out / ".clip.manifest.json").read_text())
    assert manifest["complete"] and manifest["files"] == ["clip.npz"]


def test_failed_run_before_any_output_leaves_nothing(tmp_path):
    from meshvid.io.outputs import OutputClaim

    claim = OutputClaim(tmp_path / "a" / "b", "clip")
    claim.begin()
    claim.release()  # failed before writing anything
    assert not (tmp_path / "a").exists()


# --- signals ---------------------------------------------------------------------------------

def _start_writer_child(code: str, tmp_path):
    """Run `code` (a meshvid command writing tmp_path/v.mp4) in a child process and wait until
    its partial output file exists."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".v.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".v.partial-*")), "the writer never started"
    return proc


def test_sigterm_removes_partial_files(tmp_path):
    code = "\n".join([
        "import sys, time, numpy as np",
        "import meshvid.cli.main as m",
        "from meshvid.io import VideoWriter",
        "@m.app.command('slow')",
        "def slow(out: str, quiet: bool = False, json: bool = False):",
        "    with VideoWriter(out, fps=10) as w:",
        "        while True:",
        "            w.write(np.zeros((64, 64, 3), np.uint8)); time.sleep(0.02)",
        f"sys.argv = ['meshvid', 'slow', {str(tmp_path / 'v.mp4')!r}]",
        "m.run()",
    ])
    proc = _start_writer_child(code, tmp_path)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


# --- truncated video: --keep-partial -------------------------------------------------------

def test_keep_partial_decodes_what_decodes(tmp_path):
    from meshvid.io.video import open_source

    demo = assets.sports2d_demo().read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo[: len(demo) // 5])
    with pytest.raises(InputError, match="--keep-partial"):
        for _ in open_source(cut):
            pass
    with pytest.warns(MeshvidWarning, match="kept the first"):
        frames = sum(1 for _ in open_source(cut, keep_partial=True))
    assert frames > 10


# --- progress and messages -------------------------------------------------------------------

def test_quiet_prints_nothing_and_long_lines_are_not_wrapped(capsys, tmp_path, valid_npz):
    code, out, err = cli(capsys, "export", valid_npz, "-f", "bvh", "-o", tmp_path / "q" / "x",
                         "--quiet")
    assert code == 0 and out == "" and err == ""
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "x"
    deep.mkdir(parents=True)
    code, _, err = cli(capsys, "smooth", valid_npz, "-o", deep / "smoothed.npz")
    assert code == 0
    assert len(err.splitlines()) == 1 and str(deep / "smoothed.npz") in err, err


def test_progress_bars_finish_with_a_total():
    from meshvid.cli.common import make_progress
    from meshvid.cli.infer import _RichProgress

    with make_progress(quiet=True) as progress:
        bars = _RichProgress(progress)
        bars.start("tracking", 120)  # the header promised 120 frames; 58 decoded
        bars.advance(58)
        bars.start("exporting", None)
        bars.advance(3)
        bars.finish()
        tracking, exporting = progress.tasks
    assert (tracking.completed, tracking.total) == (58, 58)
    assert (exporting.completed, exporting.total) == (3, 3)


def test_infer_messages_count_people_right(capsys, tmp_path, monkeypatch):
    from meshvid.pipeline import infer as pipeline

    result = anny_result(frames=1)

    def fake_run(input_path, outdir, opts, progress):
        progress.start("meshes", 1)
        progress.advance(1)
        return pipeline.InferResult(motion=result, npz_path=Path(outdir) / "x.npz",
                                    video_path=None, export_paths=[], num_frames=1,
                                    seconds=pipeline.StageSeconds(), wall_seconds=1.0)

    monkeypatch.setattr(pipeline, "run_infer", fake_run)
    code, _, err = cli(capsys, "infer", assets.bus_jpg(), "-o", tmp_path / "o")
    assert code == 0, err
    assert "1 person, 1 frame in" in err, err
    code, out, err = cli(capsys, "infer", assets.bus_jpg(), "-o", tmp_path / "o", "--quiet",
                         "--image-fps", "12")
    assert code == 0 and err == "" and out == ""


def test_train_toy_needs_no_config(capsys, tmp_path):
    code, out, err = cli(capsys, "train", "--toy", "--out", tmp_path / "run", "--quiet", "--json",
                         "--stop-after", "dsd")
    assert code == 0, err
    assert json.loads(out)["recipe"] == "toy"
    code, _, err = cli(capsys, "train", "--out", tmp_path / "run2")
    assert_one_line(code, err, "--config")


def test_camera_height_is_never_negative():
    from meshvid.body import load_body_model
    from meshvid.export.presets import get_preset
    from meshvid.export.rig import build_rig

    body = load_body_model("anny24")
    result = anny_result()
    low = build_rig(result, body, get_preset("blender"))
    assert low.notes["camera_height_m"] > 0  # people below the lens: a real height
    result.persons[0].transl[:, 1] = -2.0  # y down: the person stands 2 m up (on a platform)
    high = build_rig(result, body, get_preset("blender"))
    assert "camera_height_m" not in high.notes
    assert 0.5 < high.notes["floor_above_camera_m"] < 2.0


def test_second_signal_forces_exit_and_removes_partials(tmp_path):
    # a run whose code swallows the first interruption (as third-party code may): the second
    # signal removes this process's partial files and exits at once
    code = "\n".join([
        "import sys, time, numpy as np",
        "import meshvid.cli.main as m",
        "from meshvid.io import VideoWriter",
        "from meshvid.io.outputs import check_output_dir",
        "@m.app.command('stubborn')",
        "def stubborn(out: str, quiet: bool = False, json: bool = False):",
        "    from pathlib import Path",
        "    check_output_dir(Path(out).parent)",
        "    w = VideoWriter(out, fps=10)",
        "    while True:",
        "        try:",
        "            w.write(np.zeros((64, 64, 3), np.uint8)); time.sleep(0.02)",
        "        except BaseException:",
        "            pass",
        f"sys.argv = ['meshvid', 'stubborn', {str(tmp_path / 'v.mp4')!r}]",
        "m.run()",
    ])
    proc = _start_writer_child(code, tmp_path)
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None  # swallowed
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and "forced exit" in err, err
    assert list(tmp_path.iterdir()) == []
