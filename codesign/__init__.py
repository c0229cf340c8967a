"""codesign: an open hardware co-design flow for quantized, pruned neural networks."""

__version__ = "0.1.0"
