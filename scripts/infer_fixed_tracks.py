"""`meshvid infer` with its tracking stage replaced by a saved one, so that two code versions
(or two settings) are compared on the same tracks: on this machine two runs of the same code on
the sports2d demo gave different tracks (2 or 3) in three runs, which hides any other change.

    python scripts/infer_fixed_tracks.py TRACKS.pkl -- infer CLIP -o OUT ...     # records
    python scripts/infer_fixed_tracks.py TRACKS.pkl -- infer CLIP -o OUT2 ...    # replays
    python scripts/infer_fixed_tracks.py --base OLD_CHECKOUT TRACKS.pkl -- infer CLIP -o OUT3

The first run saves its tracking result (pickle; your own file, read back only by this
script); later runs replay it. `--base DIR` imports meshvid from another checkout (e.g.
`git archive HEAD | tar -x -C DIR`) in the same environment.
"""

from __future__ import annotations

import copy
import os
import pickle
import sys


def main(argv: list[str]) -> None:
    if argv[:1] == ["--base"]:
        sys.path.insert(0, argv[1])
        argv = argv[2:]
    if len(argv) < 3 or argv[1] != "--":
        sys.exit(__doc__)
    tracks, rest = argv[0], argv[2:]
    import meshvid.perception.run as perception

    if os.path.exists(tracks):
        with open(tracks, "rb") as fh:
            saved = pickle.load(fh)

        def replay(source, detector, opts, on_frame=None):
            return copy.deepcopy(saved)

        perception.run_tracking = replay
    else:
        original = perception.run_tracking

        def record(*args, **kwargs):
            result = original(*args, **kwargs)
            with open(tracks, "wb") as fh:
                pickle.dump(result, fh)
            return copy.deepcopy(result)

        perception.run_tracking = record
    from meshvid.cli.main import run

    sys.argv = ["meshvid", *rest]
    run()


if __name__ == "__main__":
    main(sys.argv[1:])
