"""Shared losses (a floor: never imports ``pictorch.tasks``); submodules are imported explicitly.

``adversarial``: GAN losses, gradient penalty, label tricks, image pool, ``frozen(D)``. ``perceptual``: content,
Gram style, TV. ``segmentation``: CE/BCE, Dice, Jaccard, Focal, Tversky.
"""
