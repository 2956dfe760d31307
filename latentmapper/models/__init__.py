"""Model components (diffusers ``ModelMixin`` + ``ConfigMixin``) and the latent fitting that serves them."""

from .dit import DITDecoder, DITDecoderOutput
from .latent_fitting import fit_latent
from .autoencoder import AutoencoderOutput, DescriptorAutoencoder
from .codebook import KeyCodebook, fit_codebook
from .mapper import LatentMapper
from .cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator
from .goembed import GOEmbedEncoder, GOEmbedOutput
from .radiance_decoder import RadianceDecoder

__all__ = [
    "DITDecoder", "DITDecoderOutput", "fit_latent",
    "AutoencoderOutput", "DescriptorAutoencoder", "KeyCodebook", "fit_codebook", "LatentMapper",
    "ImagePool", "PatchDiscriminator", "ResnetGenerator", "GOEmbedEncoder", "GOEmbedOutput",
    "RadianceDecoder",
]
