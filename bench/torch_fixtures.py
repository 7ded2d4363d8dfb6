"""Reads the reference fixtures (tests/fixtures/README.md) for PyTorch: raw .bin tensors and safetensors,
each stored as X or gzipped as X.gz. The set is tests/fixtures, or LDM_FIXTURES_DIR as for the tests.
"""
import gzip
import json
import os
import struct

import torch

DTYPES = {"float32": torch.float32, "int32": torch.int32, "F32": torch.float32, "I32": torch.int32,
          "I64": torch.int64}


def fixtures_root():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("LDM_FIXTURES_DIR") or os.path.join(here, "..", "tests", "fixtures")


def _read(path):
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            return f.read()
    raise SystemExit(f"torch fixtures: {path} (or {path}.gz) is missing")


def _tensor(raw, dtype, shape):
    return torch.frombuffer(bytearray(raw), dtype=DTYPES[dtype]).reshape(shape).clone()


class Case:
    """One fixture case folder: `meta`, `tensor(name)`, `scalar(name)`, `state_dict(file)`."""

    def __init__(self, name, root=None):
        self.dir = os.path.join(root or fixtures_root(), name)
        self.meta = json.loads(_read(os.path.join(self.dir, "meta.json")))
        self.config = self.meta["config"]

    def tensor(self, name):
        entry = self.meta["tensors"][name]
        return _tensor(_read(os.path.join(self.dir, entry["file"])), entry["dtype"], entry["shape"])

    def scalar(self, name):
        v = self.meta["scalars"][name]
        return v["value"] if isinstance(v, dict) else v

    def state_dict(self, file):
        """A .safetensors file (relative to the case folder) as {key: tensor}."""
        raw = _read(os.path.normpath(os.path.join(self.dir, file)))
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        body = raw[8 + n:]
        return {k: _tensor(body[v["data_offsets"][0]:v["data_offsets"][1]], v["dtype"], v["shape"])
                for k, v in header.items() if k != "__metadata__"}
