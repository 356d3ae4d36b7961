"""vitlib: the Vision Transformer of "An Image is Worth 16x16 Words", built to be read.

    from vitlib import ViT, ViTConfig
    model = ViT(ViTConfig.preset("B/16", num_classes=1000))
"""

from .model import ViT, ViTConfig

__all__ = ["ViT", "ViTConfig"]
__version__ = "0.1.0"
