"""GANs: the original GAN, DCGAN and conditional GANs with the lectures' stabilization tricks.

``pictorch gan train|sample|interpolate|arithmetic|evaluate`` (see :mod:`.cli`) and the Python API in
:mod:`.api`. Models are registered as ``gan.mlp_g``, ``gan.mlp_d``, ``gan.dcgan_g``, ``gan.dcgan_d``.
"""
