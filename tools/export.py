"""Write llama2.c legacy version-0 checkpoints (the format run.c and the unikernel read).

Layout: 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negated
when the classifier is not shared with the token embedding — seq_len), then float32 tensors in
run.c's order: tok_emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, the two legacy
RoPE tables (cos, sin: seq_len x head_size/2; run.c skips them but they must be present so the
offsets line up), then wcls when unshared.

This module needs only NumPy so random test checkpoints can be written without PyTorch; the CLI
converts a ``train.py`` checkpoint (.pt) and imports torch lazily.
"""
from __future__ import annotations

import argparse
import struct
import sys

import numpy as np

ORDER = ["tok_emb", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final"]


def rope_tables(seq_len: int, head_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The legacy freq_cis_real/imag tables llama2.c's export wrote (theta 10000)."""
    freqs = 1.0 / (10000.0 ** (np.arange(0, head_size, 2, dtype=np.float64) / head_size))
    ang = np.outer(np.arange(seq_len, dtype=np.float64), freqs)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def write_v0(path: str, dims: dict[str, int], t: dict[str, np.ndarray], shared: bool) -> int:
    """Write a version-0 checkpoint; ``t`` maps names in ORDER (+ ``wcls``) to stacked arrays.

    Returns the file size.  Shapes are checked so a wrong tensor can never shift the others.
    """
    d, h, l = dims["dim"], dims["hidden_dim"], dims["n_layers"]
    nh, nkv, v, s = dims["n_heads"], dims["n_kv_heads"], dims["vocab_size"], dims["seq_len"]
    hs, kv = d // nh, d * nkv // nh
    shapes = {
        "tok_emb": (v, d), "rms_att": (l, d), "wq": (l, d, d), "wk": (l, kv, d), "wv": (l, kv, d),
        "wo": (l, d, d), "rms_ffn": (l, d), "w1": (l, h, d), "w2": (l, d, h), "w3": (l, h, d),
        "rms_final": (d,), "wcls": (v, d),
    }
    names = ORDER + ([] if shared else ["wcls"])
    for n in names:
        if tuple(t[n].shape) != shapes[n]:
            raise ValueError(f"tensor {n} has shape {t[n].shape}, expected {shapes[n]}")
    cos, sin = rope_tables(s, hs)
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", d, h, l, nh, nkv, v if shared else -v, s))
        for n in ORDER:
            f.write(np.ascontiguousarray(t[n], dtype="<f4").tobytes())
        f.write(cos.astype("<f4").tobytes())
        f.write(sin.astype("<f4").tobytes())
        if not shared:
            f.write(np.ascontiguousarray(t["wcls"], dtype="<f4").tobytes())
        return f.tell()


def from_torch_state(state: dict, dims: dict[str, int]) -> tuple[dict[str, np.ndarray], bool]:
    """Map train.py's parameter names to the export names (stacking per-layer tensors)."""
    def g(name: str) -> np.ndarray:
        return state[name].detach().cpu().float().numpy()

    l = dims["n_layers"]

    def stack(fmt: str) -> np.ndarray:
        return np.stack([g(fmt.format(i)) for i in range(l)])

    t = {
        "tok_emb": g("tok_embeddings.weight"),
        "rms_att": stack("layers.{}.attention_norm.weight"),
        "wq": stack("layers.{}.attention.wq.weight"),
        "wk": stack("layers.{}.attention.wk.weight"),
        "wv": stack("layers.{}.attention.wv.weight"),
        "wo": stack("layers.{}.attention.wo.weight"),
        "rms_ffn": stack("layers.{}.ffn_norm.weight"),
        "w1": stack("layers.{}.feed_forward.w1.weight"),
        "w2": stack("layers.{}.feed_forward.w2.weight"),
        "w3": stack("layers.{}.feed_forward.w3.weight"),
        "rms_final": g("norm.weight"),
        "wcls": g("output.weight"),
    }
    shared = bool(np.array_equal(t["wcls"], t["tok_emb"]))
    return t, shared


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Export a train.py checkpoint to llama2.c version 0")
    ap.add_argument("checkpoint", help=".pt file written by train.py")
    ap.add_argument("out", help="model.bin to write")
    a = ap.parse_args(argv)
    try:
        import torch  # only the CLI needs it
    except ImportError:
        print("export: PyTorch is needed to read a .pt checkpoint (pip install torch==2.13.0)", file=sys.stderr)
        return 2
    try:
        ck = torch.load(a.checkpoint, map_location="cpu")
        t, shared = from_torch_state(ck["model"], ck["dims"])
        n = write_v0(a.out, ck["dims"], t, shared)
    except (OSError, KeyError, ValueError) as e:
        print(f"export: {e}", file=sys.stderr)
        return 2
    print(f"export: {n} bytes -> {a.out} ({'shared' if shared else 'separate'} classifier)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
