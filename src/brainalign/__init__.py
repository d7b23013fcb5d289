"""brainalign: measure how well AI model representations predict human fMRI responses."""

__version__ = "0.1.0"
