"""``python -m braze_frames.cli``: the same program as ``braze-frames``."""

from . import main

main()
