"""braze_frames: Braze campaign analytics as tidy dataframes."""

__version__ = "0.1.0"
