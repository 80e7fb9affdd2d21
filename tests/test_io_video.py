"""Streamed video/image I/O: timestamps, rotation, slicing, images, writer, audio, bad inputs."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest

from meshvid import assets
from meshvid.errors import InputError
from meshvid.io import VideoWriter, best_video_codec, open_source
from meshvid.io.loop import write_looped
from meshvid.io.video import display_rotation_cw


def marker_frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A frame whose top-left block brightness encodes its index (survives compression)."""
    img = np.full((h, w, 3), 30, np.uint8)
    img[:16, :16] = 40 + 20 * (i % 10)
    img[-8:, -8:, 0] = 250  # a red corner bottom-right, to see rotations
    return img


def write_clip(path, times, w=64, h=48):
    with VideoWriter(path, fps=10) as wr:
        for i, t in enumerate(times):
            wr.write(marker_frame(i, w, h), t)
    return path


def test_writer_prefers_h264_and_round_trips_vfr_timestamps(tmp_path):
    assert best_video_codec() == "libx264"  # this FFmpeg build has it; mpeg4 is the fallback
    times = [0.0, 0.1, 0.2, 0.5, 0.55, 1.2]  # variable frame rate
    path = write_clip(tmp_path / "vfr.mp4", times)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    src = open_source(path)
    frames = list(src)
    assert [f.index for f in frames] == list(range(6))
    np.testing.assert_allclose([f.timestamp for f in frames], times, atol=2e-3)
    levels = [int(f.image[:16, :16].mean()) for f in frames]
    assert all(abs(lv - (40 + 20 * i)) < 8 for i, lv in enumerate(levels))  # order kept
    assert src.info.width == 64 and src.info.height == 48 and src.info.num_frames == 6


def test_slicing_start_stop(tmp_path):
    path = write_clip(tmp_path / "c.mp4", [i / 10 for i in range(10)])
    frames = list(open_source(path, start=3, stop=7))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[0].timestamp == pytest.approx(0.0)
    assert abs(int(frames[0].image[:16, :16].mean()) - (40 + 60)) < 8  # source frame 3


def _set_display_matrix_90(path_in, path_out):
    """Patch the video track's tkhd matrix to a 90-degree display rotation, as phones write."""
    data = bytearray(path_in.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    off = i + 8 + (32 if version == 1 else 20) + 16  # header, times/ids, reserved/layer/volume
    assert struct.unpack(">9i", data[off:off + 36])[0] == 0x10000  # identity before
    struct.pack_into(">9i", data, off, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path_out.write_bytes(bytes(data))


def test_rotation_metadata_is_applied(tmp_path):
    plain = write_clip(tmp_path / "p.mp4", [0, 0.1, 0.2], w=64, h=32)
    rotated = tmp_path / "r.mp4"
    _set_display_matrix_90(plain, rotated)
    src = open_source(rotated)
    assert src.info.rotation == 90 and (src.info.width, src.info.height) == (32, 64)
    img = next(iter(src)).image
    assert img.shape == (64, 32, 3)
    # clockwise: the bottom-right red corner of the 64x32 frame lands bottom-left
    assert img[-4:, :4, 0].mean() > 200 and img[-4:, -4:, 0].mean() < 100


def test_display_rotation_convention():
    assert display_rotation_cw(-90) == 90  # phone portrait ("rotate=90")
    assert display_rotation_cw(90) == 270
    assert display_rotation_cw(180) == 180 and display_rotation_cw(0) == 0


def test_image_folder_natural_order_and_single_image(tmp_path):
    from PIL import Image

    for i in (10, 2, 1):
        Image.fromarray(marker_frame(i)).save(tmp_path / f"f{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    src = open_source(tmp_path, image_fps=5)
    frames = list(src)
    assert [int(f.image[:16, :16].mean()) for f in frames] == [60, 80, 40]  # 1, 2, 10
    assert [f.timestamp for f in frames] == [0.0, 0.2, 0.4]
    bus = open_source(assets.bus_jpg())
    assert (bus.info.width, bus.info.height, bus.info.num_frames) == (810, 1080, 1)


def test_image_folder_size_mismatch_is_an_input_error(tmp_path):
    from PIL import Image

    Image.fromarray(marker_frame(0)).save(tmp_path / "a.png")
    Image.fromarray(marker_frame(1, w=32)).save(tmp_path / "b.png")
    with pytest.raises(InputError, match="one size"):
        list(open_source(tmp_path))


def test_writer_is_atomic_and_carries_audio(tmp_path):
    out = tmp_path / "o.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, fps=10) as wr:
            wr.write(marker_frame(0))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # nothing left, not even the temporary file

    clip = assets.sports2d_demo()
    src = open_source(clip, stop=15)
    assert src.info.has_audio
    with VideoWriter(out, src.info.fps, audio_from=str(clip)) as wr:
        for f in src:
            wr.write(f.image[::4, ::4], f.timestamp)  # odd sizes are trimmed to even
    with av.open(str(out)) as c:
        kinds = sorted(s.type for s in c.streams)
        assert kinds == ["audio", "video"]
        audio = c.streams.audio[0]
        dur = float(audio.duration * audio.time_base)
        assert 0.4 < dur < 0.7  # cut to the 0.5 s of video, not the whole clip's 7.7 s
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp4"]


def test_looped_clip_is_continuous(tmp_path):
    path = write_clip(tmp_path / "c.mp4", [i / 10 for i in range(5)])
    info = write_looped(path, tmp_path / "long.mp4", seconds=1.2)
    assert info["loops"] == 3
    frames = list(open_source(tmp_path / "long.mp4"))
    assert len(frames) == 15
    assert np.all(np.diff([f.timestamp for f in frames]) > 0.05)


# --- bad inputs: one InputError each ---------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path):
    p = tmp_path / "fake.mp4"
    p.write_text("this is not a video\n" * 100)
    with pytest.raises(InputError, match="cannot read"):
        open_source(p)
    e = tmp_path / "empty.mp4"
    e.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_source(e)
    img = tmp_path / "broken.jpg"
    img.write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(InputError, match="cannot read image"):
        open_source(img)


def test_zero_frame_video(tmp_path):
    p = tmp_path / "zero.mp4"
    with av.open(str(p), "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        c.start_encoding()
    with pytest.raises(InputError):
        open_source(p)


def test_truncated_videos(tmp_path):
    # index at the end (our writer): cut in half, the file no longer opens
    full = write_clip(tmp_path / "full.mp4", [i / 10 for i in range(30)])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match="cannot read"):
        open_source(cut)
    # index at the start (the sports2d clip): opens, then decoding fails midway
    demo = assets.sports2d_demo().read_bytes()
    cut2 = tmp_path / "cut2.mp4"
    cut2.write_bytes(demo[: len(demo) // 5])
    src = open_source(cut2)
    with pytest.raises(InputError, match="corrupt or truncated"):
        for _ in src:
            pass
