"""Train BareFlow's TinyLlama on the generated story corpus with PyTorch on one CPU thread.

The architecture is exactly llama2.c's (RMSNorm eps 1e-5, RoPE theta 10000 on adjacent pairs,
grouped-query attention, SwiGLU, tied classifier) so the exported version-0 file runs unchanged
in run.c, in tools/llama_ref.py and in the unikernel.  Everything is seeded (corpus, tokenizer,
init, batch order) and single-threaded, so the same command gives the same weights.

Why these settings: a 260K-parameter model on a synthetic corpus learns grammar and story flow in
a few thousand steps; std 0.02 init matters with tied embeddings (N(0,1) starts at loss ~56); one
thread is much faster than two for matrices this small.

Usage (all steps; takes ~15-20 min on one core):
  python -m bareflow.tools.train --workdir /tmp/llama --out-model images/model.bin \
      --out-tokenizer images/tokenizer.bin
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time

import numpy as np

try:
    from bareflow.tools import bpe, corpus, export, llama_ref
except ImportError:  # run as a plain script before the package is installed
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bpe  # type: ignore[no-redef]
    import corpus  # type: ignore[no-redef]
    import export  # type: ignore[no-redef]
    import llama_ref  # type: ignore[no-redef]

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("train: PyTorch is needed (pip install torch==2.13.0)", file=sys.stderr)
    sys.exit(2)


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (x[2i], x[2i+1]) as run.c does. x: (B, T, H, hs)."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2)


class Attention(nn.Module):
    def __init__(self, d: int, nh: int, nkv: int) -> None:
        super().__init__()
        self.nh, self.nkv, self.hs = nh, nkv, d // nh
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, nkv * self.hs, bias=False)
        self.wv = nn.Linear(d, nkv * self.hs, bias=False)
        self.wo = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q = rope(self.wq(x).view(b, t, self.nh, self.hs), cos, sin)
        k = rope(self.wk(x).view(b, t, self.nkv, self.hs), cos, sin)
        v = self.wv(x).view(b, t, self.nkv, self.hs)
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=2)  # head h uses kv head h // rep, like run.c
        v = v.repeat_interleave(rep, dim=2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(d, h, bias=False)
        self.w2 = nn.Linear(h, d, bias=False)
        self.w3 = nn.Linear(d, h, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, d: int, h: int, nh: int, nkv: int) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(d)
        self.attention = Attention(d, nh, nkv)
        self.ffn_norm = RMSNorm(d)
        self.feed_forward = FeedForward(d, h)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        d, h, nh, nkv = dims["dim"], dims["hidden_dim"], dims["n_heads"], dims["n_kv_heads"]
        self.tok_embeddings = nn.Embedding(dims["vocab_size"], d)
        self.layers = nn.ModuleList(Block(d, h, nh, nkv) for _ in range(dims["n_layers"]))
        self.norm = RMSNorm(d)
        self.output = nn.Linear(d, dims["vocab_size"], bias=False)
        self.output.weight = self.tok_embeddings.weight  # tied: positive vocab_size in the header
        hs = d // nh
        freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2).float() / hs))
        ang = torch.outer(torch.arange(dims["seq_len"]).float(), freqs)
        self.register_buffer("cos", ang.cos()[None, :, None, :], persistent=False)
        self.register_buffer("sin", ang.sin()[None, :, None, :], persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * dims["n_layers"]) if n.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.tok_embeddings(idx)
        for layer in self.layers:
            x = layer(x, self.cos[:, :t], self.sin[:, :t])
        return self.output(self.norm(x))


def tokenize_corpus(path: str, tok: "llama_ref.Tokenizer") -> np.ndarray:
    """Each story as run.c would encode it (BOS, dummy space, merges), concatenated."""
    with open(path, "rb") as f:
        stories = [s.strip() for s in f.read().split(b"\n\n")]
    ids: list[int] = []
    for s in stories:
        if s:
            ids.extend(tok.encode(s, bos=True))
    return np.asarray(ids, dtype=np.int16)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train BareFlow's TinyLlama (corpus -> BPE -> model)")
    ap.add_argument("--workdir", default="/tmp/bareflow-llama")
    ap.add_argument("--out-model", default="images/model.bin")
    ap.add_argument("--out-tokenizer", default="images/tokenizer.bin")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus-mb", type=float, default=8.0)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=172)
    a = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    os.makedirs(a.workdir, exist_ok=True)
    corpus_path = os.path.join(a.workdir, "corpus.txt")
    tok_path = os.path.join(a.workdir, "tokenizer.bin")
    corpus.main(["--out", corpus_path, "--mb", str(a.corpus_mb), "--seed", str(a.seed)])
    bpe.main(["--corpus", corpus_path, "--out", tok_path, "--vocab", "512"])
    tok = llama_ref.Tokenizer.load(tok_path, 512)
    data = tokenize_corpus(corpus_path, tok)
    n_val = len(data) // 50
    train_data, val_data = torch.from_numpy(data[:-n_val].astype(np.int64)), torch.from_numpy(data[-n_val:].astype(np.int64))
    print(f"train: {len(data)} tokens ({len(train_data)} train, {n_val} val)", flush=True)

    dims = dict(dim=a.dim, hidden_dim=a.hidden, n_layers=a.layers, n_heads=a.heads, n_kv_heads=a.kv_heads,
                vocab_size=512, seq_len=a.seq_len)
    model = Llama(dims)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"train: {n_params} parameters, dims {dims}", flush=True)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(a.seed)
    warmup = max(1, a.iters // 20)

    def batch(src: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(src) - a.seq_len - 1, (a.batch,), generator=g)
        x = torch.stack([src[i:i + a.seq_len] for i in ix])
        y = torch.stack([src[i + 1:i + 1 + a.seq_len] for i in ix])
        return x, y

    @torch.no_grad()
    def val_loss() -> float:
        model.eval()
        g = torch.Generator().manual_seed(1234)
        losses = [F.cross_entropy(model(x).view(-1, 512), y.view(-1)).item() for x, y in (batch(val_data, g) for _ in range(8))]
        model.train()
        return sum(losses) / len(losses)

    t0 = time.time()
    for it in range(a.iters):
        lr = a.lr * (it + 1) / warmup if it < warmup else \
            0.1 * a.lr + 0.45 * a.lr * (1 + math.cos(math.pi * (it - warmup) / max(1, a.iters - warmup)))
        for grp in opt.param_groups:
            grp["lr"] = lr
        x, y = batch(train_data, gen)
        loss = F.cross_entropy(model(x).view(-1, 512), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if it % 50 == 0 or it == a.iters - 1:
            msg = f"iter {it} loss {loss.item():.4f} lr {lr:.2e} {time.time() - t0:.0f}s"
            if it % 500 == 0 or it == a.iters - 1:
                msg += f" val {val_loss():.4f}"
            print(msg, flush=True)

    ck = os.path.join(a.workdir, "model.pt")
    torch.save({"model": model.state_dict(), "dims": dims, "args": vars(a)}, ck)
    t, shared = export.from_torch_state(model.state_dict(), dims)
    n = export.write_v0(a.out_model, dims, t, shared)
    if os.path.abspath(tok_path) != os.path.abspath(a.out_tokenizer):
        shutil.copyfile(tok_path, a.out_tokenizer)
    print(f"train: wrote {a.out_model} ({n} bytes) and {a.out_tokenizer} in {time.time() - t0:.0f}s", flush=True)
    w = llama_ref.load_checkpoint(a.out_model)
    ids, text = llama_ref.generate(llama_ref.Transformer(w), tok, b"Once upon a time", 120)
    print("sample: Once upon a time" + text.decode("latin-1"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
