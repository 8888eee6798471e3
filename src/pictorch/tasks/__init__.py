"""Capabilities, one folder each: identify, classify, autoencode, generate, translate, see, stylize, segment.

``MODEL_MODULES`` lists where each task registers its models; the model registry reads this list by name on its
first lookup (:data:`pictorch.registry.MODELS`), so task models are found by name without shared machinery
importing tasks.
"""

MODEL_MODULES = (
    "pictorch.tasks.identify.models",
    "pictorch.tasks.identify.faces",
    "pictorch.tasks.classify.models",
    "pictorch.tasks.autoencode.models",
    "pictorch.tasks.generate.models",
    "pictorch.tasks.translate.models",
    "pictorch.tasks.stylize.models",
    "pictorch.tasks.segment.models",
)
