"""Transfer-learn and train CNN classifiers: three fine-tuning regimes, evaluation, export, EfficientNet-style
compound scaling. See :mod:`pictorch.tasks.classify.api` for the Python API."""
