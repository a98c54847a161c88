"""Diffusion denoisers behind one interface (base.Denoiser) and the DiffC engine that uses them.

Backends: gaussian (analytic Wiener denoiser, numpy only) and diffusers (Stable Diffusion; needs the
`diffusion` extra). Import the backend modules directly so the numpy-only path never imports torch.
"""
