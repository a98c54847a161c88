"""HDCompression-style hybrid codec (seed 002): LIC stream + VQ stream, DRVs, VQ-latent correction."""
