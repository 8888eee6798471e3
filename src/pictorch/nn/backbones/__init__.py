"""Registered backbones sharing the :class:`Backbone` interface.

Importing this package registers ``small_cnn``, ``resnet18/34/50``, ``vgg11/16/19`` and their ``_bn``
variants in :data:`pictorch.registry.MODELS` (tag ``"backbone"``).
"""

from pictorch.nn.backbones import resnet, small_cnn, vgg
from pictorch.nn.backbones.base import Backbone
from pictorch.nn.backbones.resnet import ResNet
from pictorch.nn.backbones.small_cnn import SmallCNN
from pictorch.nn.backbones.vgg import VGG

__all__ = ["VGG", "Backbone", "ResNet", "SmallCNN", "resnet", "small_cnn", "vgg"]
