"""Datasets; importing this package registers them in BasicSR's DATASET_REGISTRY."""
from aidn_plugin.data.edge_paired_image_dataset import EdgePairedImageDataset

__all__ = ['EdgePairedImageDataset']
