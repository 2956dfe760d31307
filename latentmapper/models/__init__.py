"""Model components (diffusers ``ModelMixin`` + ``ConfigMixin``) and the latent fitting that serves them."""

from .dit import DITDecoder, DITDecoderOutput
from .latent_fitting import fit_latent
from .autoencoder import AutoencoderOutput, DescriptorAutoencoder
from .mapper import LatentMapper
from .cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator
from .goembed import GOEmbedEncoder, GOEmbedOutput
from .radiance_decoder import RadianceDecoder

# Pipeline folders saved before the codebook moved to ``latentmapper.features`` name this module; diffusers
# loads a component only from a module already imported.
from . import codebook as _codebook_of_older_folders  # noqa: E402, F401

__all__ = [
    "DITDecoder", "DITDecoderOutput", "fit_latent",
    "AutoencoderOutput", "DescriptorAutoencoder", "LatentMapper",
    "ImagePool", "PatchDiscriminator", "ResnetGenerator", "GOEmbedEncoder", "GOEmbedOutput",
    "RadianceDecoder",
]
