"""Fashion-MNIST IDX reader (numpy only; no downloads).

The Debian package dataset-fashion-mnist installs the four gzip IDX files under
/usr/share/datasets/fashion-mnist/. Images come back as uint8 (N, 784), raw
0..255 pixels in row-major order: exactly the bytes the host sends to the board
for a `split` model (group t = pixels [t*G, (t+1)*G)).
"""

import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} bytes of data, found {data.size}")
    return data.reshape(dims)


def load(split, root=DEFAULT_DIR):
    """split: 'train' (60,000) or 't10k' (10,000). Returns (images u8 (N,784), labels u8 (N,))."""
    x = read_idx(os.path.join(root, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"))
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    return x.reshape(x.shape[0], -1), y
