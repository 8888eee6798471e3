"""Neural-network building blocks and backbones.

``pictorch.nn.blocks`` holds the lecture building blocks (conv-bn-act, residual and inception blocks,
squeeze-excite, MBConv, unpooling); ``pictorch.nn.backbones`` holds the registered backbones sharing the
:class:`~pictorch.nn.backbones.base.Backbone` interface. Submodules are imported explicitly so that importing
this package stays cheap.
"""
