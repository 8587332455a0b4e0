"""TFGNet, the network of the paper, in two profiles (``tiny`` for a CPU, ``full`` at SDXL scale).

Modules, one per network part (names from the paper): ``config`` (presets), ``vq`` (codebook),
``restorer`` (transformer restorer), ``embed`` (CLIP image/text encoders), ``fusion`` (stacked ID
embedding), ``generator`` (latent diffusion sampling), ``losses``, ``tfgnet`` (the whole model and its
folder format) and ``testing`` (random tiny models for tests). Nothing heavy is imported here, so that
``import tfgnet_desk.model`` stays cheap; import the sub-modules you need.
"""


class Cancelled(Exception):
    """Generation was cancelled through the cancel event (checked before every diffusion step).

    Defined here (no heavy imports) so that the GUI can catch it without importing torch.
    """
