"""Trained architectures with their shipped weights and model cards, one folder per family."""
