"""Random small llama2.c checkpoints (and matching tokenizers) of awkward shapes, for tests.

Why: the trained model has one friendly shape (dim 64, 8/4 heads, hidden 172, tied classifier).
Bugs in GQA indexing, separate classifiers, odd hidden sizes, head sizes that are not a multiple
of the SSE width, or vocabularies of other sizes only show up with other shapes.  The weights are
drawn from a seeded generator with a scale large enough that greedy decoding has clear winners
(no near-ties that float reassociation could flip), so a C-vs-NumPy mismatch means a real bug.

Usage: ``python -m bareflow.tools.random_checkpoint --shape gqa_unshared --out-model m.bin
--out-tokenizer t.bin`` (``--list`` shows the shapes).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

try:
    from bareflow.tools import bpe, corpus, export
except ImportError:  # run as a plain script before the package is installed
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bpe  # type: ignore[no-redef]
    import corpus  # type: ignore[no-redef]
    import export  # type: ignore[no-redef]

# name -> (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len, shared)
SHAPES: dict[str, tuple[int, int, int, int, int, int, int, bool]] = {
    "gqa_unshared": (32, 75, 2, 4, 2, 340, 48, False),   # kv < heads, separate classifier, odd hidden
    "mqa_shared": (48, 97, 3, 6, 1, 400, 40, True),      # one kv head for six query heads
    "hs6_odd": (24, 51, 2, 4, 2, 333, 32, False),        # head size 6: not a multiple of 4
    "mha_tiny": (16, 33, 1, 2, 2, 320, 24, True),        # plain multi-head, smallest sizes
}


def random_weights(dims: dict[str, int], shared: bool, seed: int) -> dict[str, np.ndarray]:
    """Gaussian weights; norms near 1 so every layer matters."""
    rng = np.random.default_rng(seed)
    d, h, l, v = dims["dim"], dims["hidden_dim"], dims["n_layers"], dims["vocab_size"]
    kv = d * dims["n_kv_heads"] // dims["n_heads"]

    def g(*shape: int, std: float) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    t = {
        "tok_emb": g(v, d, std=1.0),
        "rms_att": (1.0 + g(l, d, std=0.1)),
        "wq": g(l, d, d, std=d ** -0.5), "wk": g(l, kv, d, std=d ** -0.5), "wv": g(l, kv, d, std=d ** -0.5),
        "wo": g(l, d, d, std=d ** -0.5),
        "rms_ffn": (1.0 + g(l, d, std=0.1)),
        "w1": g(l, h, d, std=d ** -0.5), "w2": g(l, d, h, std=h ** -0.5), "w3": g(l, h, d, std=d ** -0.5),
        "rms_final": (1.0 + g(d, std=0.1)),
    }
    if not shared:
        t["wcls"] = g(v, d, std=1.0)
    return t


def tokenizer_for(vocab_size: int, seed: int, path: str) -> None:
    """A BPE tokenizer of exactly ``vocab_size`` pieces trained on a small seeded corpus sample."""
    text = corpus.generate(seed, 60_000).encode("ascii")
    stories = [s.strip() for s in text.split(b"\n\n") if s.strip()]
    pieces, scores = bpe.train(stories, vocab_size)
    bpe.write_tokenizer(path, pieces, scores)


def make(shape: str, out_model: str, out_tokenizer: str, seed: int = 7) -> dict[str, int]:
    d, h, l, nh, nkv, v, s, shared = SHAPES[shape]
    dims = dict(dim=d, hidden_dim=h, n_layers=l, n_heads=nh, n_kv_heads=nkv, vocab_size=v, seq_len=s)
    export.write_v0(out_model, dims, random_weights(dims, shared, seed), shared)
    tokenizer_for(v, seed, out_tokenizer)
    return dims


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a random llama2.c checkpoint + tokenizer")
    ap.add_argument("--shape", choices=sorted(SHAPES))
    ap.add_argument("--out-model")
    ap.add_argument("--out-tokenizer")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        for k, val in SHAPES.items():
            print(k, val)
        return 0
    if not (a.shape and a.out_model and a.out_tokenizer):
        print("random_checkpoint: --shape, --out-model and --out-tokenizer are required", file=sys.stderr)
        return 2
    try:
        dims = make(a.shape, a.out_model, a.out_tokenizer, a.seed)
    except (OSError, ValueError) as e:
        print(f"random_checkpoint: {e}", file=sys.stderr)
        return 2
    print(f"random_checkpoint: {a.shape} {dims} -> {a.out_model}, {a.out_tokenizer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
