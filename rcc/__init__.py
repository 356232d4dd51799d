"""rcc: reverse channel coding (channel simulation) with real bitstreams.

Send a sample of a target q to a receiver who knows only a prior p and a shared seed, in about
KL[q || p] bits, with the bits counted from the bytes actually written.

>>> import rcc
>>> q, p = rcc.Gaussian(1.0, 0.5), rcc.Gaussian(0.0, 1.0)
>>> msg = rcc.PFR().encode(q, p, seed=1234)
>>> x = rcc.PFR().decode(msg.to_bytes(), p, seed=1234)   # == msg.sample, bit for bit
>>> y = rcc.decode(msg.headerless(), p)                  # any method; no checksum
"""

from . import random
from .channel import decode
from .bounds import chunked_dcs_bits, dcs_bits, dcs_bits_equal_variance
from .chunked import ChunkStats, compress, decompress
from .container import DEFAULT_MAX_ELEMENTS, Message, Payload
from .distributions import Gaussian, Laplace, Logistic, Uniform, dinf_bits, kl_bits
from .errors import DecodeError
from .hybrid import Hybrid
from .mrc import MRC
from .orc import ORC
from .pfr import PFR
from .uq import UQ
from .uq_stream import UQStream, UQStreamDecoder

__version__ = "0.1.0"

__all__ = [
    "random",
    "Gaussian",
    "Uniform",
    "Logistic",
    "Laplace",
    "kl_bits",
    "dinf_bits",
    "dcs_bits",
    "dcs_bits_equal_variance",
    "chunked_dcs_bits",
    "Message",
    "Payload",
    "decode",
    "DecodeError",
    "DEFAULT_MAX_ELEMENTS",
    "PFR",
    "ORC",
    "MRC",
    "Hybrid",
    "UQ",
    "UQStream",
    "UQStreamDecoder",
    "compress",
    "decompress",
    "ChunkStats",
]
