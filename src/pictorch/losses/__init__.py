"""Shared losses (a floor: never imports ``pictorch.tasks``). ``perceptual``: content, Gram style, TV."""
