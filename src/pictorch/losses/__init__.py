"""Shared loss functions (adversarial, perceptual, segmentation, ...); submodules are imported explicitly."""
