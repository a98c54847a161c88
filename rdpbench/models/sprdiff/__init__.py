"""sprdiff (seed 001): the network (network.py), its frozen parts' loaders (parts.py) and the
trained model on disk (pretrained.py); the codec adapter is rdpbench.codecs.sprdiff."""
