"""Datasets and image reading."""

from rdpbench.data.datasets import CLIC2020, DIV2K, Dataset, Folder, HuggingFaceDIV2K, ImageRef, Kodak, Sample
from rdpbench.data.images import load_image

__all__ = ["CLIC2020", "DIV2K", "Dataset", "Folder", "HuggingFaceDIV2K", "ImageRef", "Kodak", "Sample", "load_image"]
