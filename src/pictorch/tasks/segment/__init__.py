"""Segmentation: U-Net (paper or over any backbone), SegNet (max-unpooling with saved indices), FCN.

``pictorch segment train/predict/evaluate/compare``; Python API in :mod:`pictorch.tasks.segment.api`.
"""
