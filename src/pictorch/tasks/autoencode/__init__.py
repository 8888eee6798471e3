"""Autoencoders (vanilla, convolutional, denoising, sparse, variational) and what they are for.

The public API lives in :mod:`pictorch.tasks.autoencode.api`; the CLI in :mod:`pictorch.tasks.autoencode.cli`.
"""
