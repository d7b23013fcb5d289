"""Synthetic (demo) datasets: procedural stimuli and brain responses with a known ground truth."""

from brainalign.datasets.synthetic.kind import Synthetic, simulate_brain, simulate_stimuli
from brainalign.datasets.synthetic.simulate import ground_truth, simulate_subject, surface_patches

__all__ = ["Synthetic", "ground_truth", "simulate_brain", "simulate_stimuli", "simulate_subject", "surface_patches"]
