"""nls: operations console for a fleet of Eocortex video-surveillance servers."""

__version__ = "0.1.0"
