"""The classifier's fine-tuning regimes: which parameters ``head``, ``last-k``, ``full`` and ``scratch`` train,
and which BatchNorm layers stay in eval mode because everything around them is frozen (see
:mod:`pictorch.tasks.classify.steps` for what each regime means)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from pictorch.errors import ConfigError

REGIMES = ("head", "last-k", "full", "scratch")

__all__ = ["REGIMES", "RegimePlan", "apply_regime", "classifier_module", "count_params", "frozen_norm_layers",
           "param_names"]


def classifier_module(model: nn.Module) -> nn.Module:
    """The output layer of a backbone (``get_classifier()``)."""
    return model.get_classifier()


def param_names(module: nn.Module, root: nn.Module) -> list[str]:
    """Names (relative to ``root``) of ``module``'s parameters."""
    ids = {id(p) for p in module.parameters()}
    return [n for n, p in root.named_parameters() if id(p) in ids]


@dataclass
class RegimePlan:
    """Which parameters a regime trains.

    Attributes:
        trainable: Names of trained parameters.
        frozen: Names of frozen parameters.
        head: Names of the output layer's parameters (full LR).
        frozen_modules: Modules entirely frozen (their BatchNorm layers stay in eval mode).
    """

    trainable: list[str]
    frozen: list[str]
    head: list[str]
    frozen_modules: list[nn.Module]


def apply_regime(model: nn.Module, regime: str, k: int = 2) -> RegimePlan:
    """Set ``requires_grad`` for ``regime`` and return what is trained.

    The output layer is always trained. ``head`` trains only it; ``last-k`` the last ``k`` groups of
    ``model.stages()``; ``full`` and ``scratch`` everything.
    """
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; known: {', '.join(REGIMES)}")
    head_names = set(param_names(classifier_module(model), model))
    if regime in ("full", "scratch"):
        train_names = {n for n, _ in model.named_parameters()}
        frozen_modules: list[nn.Module] = []
    else:
        stages = model.stages()
        if regime == "head":
            keep: list[nn.Module] = []
            frozen_modules = list(stages)
        else:
            if k > len(stages):
                raise ConfigError(f"--k {k} is more than the {len(stages)} stages of this model "
                                  f"({type(model).__name__}); use --regime full to train everything")
            keep, frozen_modules = list(stages[-k:]), list(stages[:-k])
        train_names = set(head_names)
        for m in keep:
            train_names |= set(param_names(m, model))
    for n, p in model.named_parameters():
        p.requires_grad_(n in train_names)
    names = [n for n, _ in model.named_parameters()]
    return RegimePlan(trainable=[n for n in names if n in train_names],
                      frozen=[n for n in names if n not in train_names],
                      head=[n for n in names if n in head_names], frozen_modules=frozen_modules)


def frozen_norm_layers(model: nn.Module, plan: RegimePlan) -> list[nn.Module]:
    """Normalization layers (BatchNorm...) whose parameters are all frozen: they run in eval mode."""
    frozen = set(plan.frozen)
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._NormBase):
            pnames = [f"{name}.{pn}" if name else pn for pn, _ in m.named_parameters(recurse=False)]
            if all(p in frozen for p in pnames):
                out.append(m)
    return out


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
