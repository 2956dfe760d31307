"""LatentMapper: single-view 3D reconstruction into the latent space of Deep Implicit Templates."""

__version__ = "0.1.0"
