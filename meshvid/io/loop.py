"""A long clip made by looping a short one, packet for packet (no re-encoding): quick to make,
bit-identical frames, used to show that memory stays flat with clip length."""

from __future__ import annotations

import math
from pathlib import Path

from meshvid.errors import InputError


def write_looped(src: str | Path, dst: str | Path, seconds: float) -> dict:
    """Repeat `src`'s video stream until it lasts at least `seconds`; write `dst` (mp4)."""
    import av

    from meshvid.export.atomic import atomic_output

    try:
        probe = av.open(str(src))
    except av.FFmpegError as err:
        raise InputError(f"cannot read {src} as a video ({err})") from None
    with probe:
        if not probe.streams.video:
            raise InputError(f"{src} has no video stream")
        vs = probe.streams.video[0]
        tb = vs.time_base
        last_end = 0
        count = 0
        for packet in probe.demux(vs):
            if packet.pts is None:
                continue
            count += 1
            step = packet.duration or 0
            last_end = max(last_end, packet.pts + step)
        if count == 0:
            raise InputError(f"{src} has no video packets")
        rate = vs.average_rate or vs.guessed_rate
        if rate:  # packets often carry no duration: add one frame's worth
            last_end = max(last_end, int(round(count / float(rate) / float(tb))))
    loop_ticks = last_end
    frame_ticks = max(1, loop_ticks // count)
    loops = max(1, math.ceil(seconds / float(loop_ticks * tb)))
    with atomic_output(dst) as tmp:
        with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
            ins = inp.streams.video[0]
            ost = out.add_stream_from_template(ins)
            for k in range(loops):
                inp.seek(0, stream=ins) if k else None
                for packet in inp.demux(ins):
                    if packet.pts is None or packet.dts is None:
                        continue
                    packet.pts += k * loop_ticks
                    packet.dts += k * loop_ticks
                    if not packet.duration:  # else the muxer's edit list cuts the last frame
                        packet.duration = frame_ticks
                    packet.stream = ost
                    out.mux(packet)
    return {"loops": loops, "duration_s": loops * float(loop_ticks * tb), "frames": loops * count}
