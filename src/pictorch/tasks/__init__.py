"""Capabilities, one folder each: identify, classify, autoencode, generate.

``MODEL_MODULES`` lists where each task registers its models; the top-level :func:`pictorch.create_model`
declares them to the registry (lazily imported on first lookup), so task models are found by name without
shared machinery importing tasks.
"""

MODEL_MODULES = (
    "pictorch.tasks.identify.models",
    "pictorch.tasks.identify.faces",
    "pictorch.tasks.classify.models",
    "pictorch.tasks.autoencode.models",
    "pictorch.tasks.generate.models",
    "pictorch.tasks.segment.models",
)
