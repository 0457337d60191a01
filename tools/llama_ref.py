"""NumPy reference of llama2.c's run.c: checkpoint and tokenizer readers, forward pass, BPE
encode/decode and sampling, all in float32 like the C code.

This is the oracle the unikernel is tested against: the tests run the image under QEMU on fixed
prompts and require the same greedy tokens as this module.  It follows run.c step by step
(RMSNorm eps 1e-5, RoPE on (i, i+1) pairs, grouped-query attention with a KV cache, SwiGLU,
tied or separate classifier, xorshift64* sampling) so that it also reproduces llama2.c's own
output for public checkpoints such as stories260K.

Generation semantics (shared with the unikernel, documented in docs/tinyllama.md): the prompt is
encoded with BOS and the dummy-prefix space; ``steps`` is the number of tokens generated after
the prompt; generation stops early at BOS or EOS or when the position reaches seq_len.

CLI: ``python -m bareflow.tools.llama_ref --model M --tokenizer T --prompt "..." --steps N``
"""
from __future__ import annotations

import argparse
import struct
import sys
from dataclasses import dataclass

import numpy as np

BOS = 1
EOS = 2
HEADER = struct.Struct("<7i")
MAX_DIM = 1 << 16


class FormatError(ValueError):
    """A checkpoint or tokenizer file that does not follow llama2.c's format."""


@dataclass(frozen=True)
class Config:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int  # always positive here; ``shared`` tells the sign in the file
    seq_len: int
    shared: bool

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.dim * self.n_kv_heads // self.n_heads

    def n_floats(self) -> int:
        """Number of float32 values that follow the header in a version-0 file."""
        d, h, l, v, s, kv = self.dim, self.hidden_dim, self.n_layers, self.vocab_size, self.seq_len, self.kv_dim
        n = v * d + l * d + l * d * d + 2 * l * kv * d + l * d * d + l * d + 3 * l * h * d + d
        n += 2 * s * self.head_size // 2
        if not self.shared:
            n += v * d
        return n


def parse_header(raw: bytes) -> Config:
    """Validate the 7-int header the way the unikernel does, so both reject the same files."""
    if len(raw) < HEADER.size:
        raise FormatError(f"checkpoint too short: {len(raw)} bytes, header needs {HEADER.size}")
    dim, hidden, layers, heads, kv_heads, vocab, seq = HEADER.unpack_from(raw, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    for name, val in (("dim", dim), ("hidden_dim", hidden), ("n_layers", layers), ("n_heads", heads),
                      ("n_kv_heads", kv_heads), ("vocab_size", vocab), ("seq_len", seq)):
        if val <= 0 or val > MAX_DIM:
            raise FormatError(f"checkpoint header: {name}={val} out of range 1..{MAX_DIM}")
    if dim % heads or heads % kv_heads or (dim // heads) % 2:
        raise FormatError(f"checkpoint header: dim={dim} n_heads={heads} n_kv_heads={kv_heads} inconsistent")
    if vocab < 259:
        raise FormatError(f"checkpoint header: vocab_size={vocab} below the 259 reserved tokens")
    return Config(dim, hidden, layers, heads, kv_heads, vocab, seq, shared)


class Weights:
    """The tensors of a version-0 checkpoint, as float32 views in run.c's order."""

    def __init__(self, cfg: Config, flat: np.ndarray) -> None:
        self.cfg = cfg
        d, h, l, v, kv, hs = cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.vocab_size, cfg.kv_dim, cfg.head_size
        off = 0

        def take(*shape: int) -> np.ndarray:
            nonlocal off
            n = int(np.prod(shape))
            arr = flat[off:off + n].reshape(shape)
            off += n
            return arr

        self.tok_emb = take(v, d)
        self.rms_att = take(l, d)
        self.wq = take(l, d, d)
        self.wk = take(l, kv, d)
        self.wv = take(l, kv, d)
        self.wo = take(l, d, d)
        self.rms_ffn = take(l, d)
        self.w1 = take(l, h, d)
        self.w2 = take(l, d, h)
        self.w3 = take(l, h, d)
        self.rms_final = take(d)
        off += cfg.seq_len * hs // 2 * 2  # legacy freq_cis_real/imag, skipped as in run.c
        self.wcls = self.tok_emb if cfg.shared else take(v, d)
        assert off == flat.size


def load_checkpoint(path: str) -> Weights:
    with open(path, "rb") as f:
        raw = f.read()
    return checkpoint_from_bytes(raw)


def checkpoint_from_bytes(raw: bytes) -> Weights:
    cfg = parse_header(raw)
    need = HEADER.size + 4 * cfg.n_floats()
    if len(raw) != need:
        raise FormatError(f"checkpoint size {len(raw)} does not match header (expected {need} bytes)")
    flat = np.frombuffer(raw, dtype="<f4", offset=HEADER.size).astype(np.float32)
    return Weights(cfg, flat)


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------
class Tokenizer:
    """llama2.c's tokenizer.bin: pieces with scores; encode merges the highest-scoring pair first."""

    def __init__(self, pieces: list[bytes], scores: list[float], max_token_length: int) -> None:
        self.pieces = pieces
        self.scores = np.asarray(scores, dtype=np.float32)
        self.max_token_length = max_token_length
        self.lookup: dict[bytes, int] = {}
        for i, p in enumerate(pieces):
            self.lookup.setdefault(p, i)  # run.c's bsearch over sorted pieces: first id for duplicates is not guaranteed; ours are unique
        self._cache: dict[bytes, list[int]] = {}
        self.space_only_leading = all(b" " not in p[1:] for p in pieces if not _is_byte_piece(p))

    @classmethod
    def load(cls, path: str, vocab_size: int) -> "Tokenizer":
        with open(path, "rb") as f:
            raw = f.read()
        return cls.from_bytes(raw, vocab_size)

    @classmethod
    def from_bytes(cls, raw: bytes, vocab_size: int) -> "Tokenizer":
        if len(raw) < 4:
            raise FormatError("tokenizer truncated: no max_token_length")
        (max_len,) = struct.unpack_from("<i", raw, 0)
        if max_len <= 0 or max_len > 1024:
            raise FormatError(f"tokenizer: max_token_length={max_len} out of range")
        off = 4
        pieces: list[bytes] = []
        scores: list[float] = []
        for i in range(vocab_size):
            if off + 8 > len(raw):
                raise FormatError(f"tokenizer truncated at token {i} of {vocab_size}")
            score, n = struct.unpack_from("<fi", raw, off)
            off += 8
            if n < 0 or n > max_len or off + n > len(raw):
                raise FormatError(f"tokenizer: token {i} has bad length {n}")
            pieces.append(raw[off:off + n])
            scores.append(score)
            off += n
        return cls(pieces, scores, max_len)

    def encode(self, text: bytes, bos: bool = True, eos: bool = False) -> list[int]:
        """run.c's encode: BOS, dummy-prefix " " if text is non-empty, bytes, then greedy merges."""
        toks: list[int] = [BOS] if bos else []
        if text:
            if self.space_only_leading:
                # No piece has a space after its first byte, so no merge crosses the boundary
                # before a space: segment chunk by chunk (same result, cacheable).
                whole = b" " + text
                starts = [0] + [i for i in range(1, len(whole)) if whole[i] == 0x20]
                starts.append(len(whole))
                for a, b in zip(starts, starts[1:]):
                    toks.extend(self._encode_chunk(whole[a:b]))
            else:
                # run.c merges over the whole array, BOS included (a "\n<s>\n " piece would merge).
                toks = self._merge(toks + self._initial(b" ") + self._initial(text))
        if eos:
            toks.append(EOS)
        return toks

    def _initial(self, text: bytes) -> list[int]:
        # run.c reads UTF-8 sequences as units; our prompts are ASCII, where that is one byte each.
        out = []
        for b in text:
            i = self.lookup.get(bytes([b]))
            out.append(i if i is not None else b + 3)
        return out

    def _encode_chunk(self, chunk: bytes) -> list[int]:
        got = self._cache.get(chunk)
        if got is None:
            got = self._merge(self._initial(chunk))
            if len(self._cache) < 200_000:
                self._cache[chunk] = got
        return list(got)

    def _merge(self, toks: list[int]) -> list[int]:
        toks = list(toks)
        while True:
            best_score = -1e10
            best_id = -1
            best_idx = -1
            for i in range(len(toks) - 1):
                j = self.lookup.get(self.pieces[toks[i]] + self.pieces[toks[i + 1]])
                if j is not None and self.scores[j] > best_score:
                    best_score = float(self.scores[j])
                    best_id = j
                    best_idx = i
            if best_idx == -1:
                return toks
            toks[best_idx:best_idx + 2] = [best_id]

    def decode_piece(self, prev: int, tok: int) -> bytes:
        """run.c's decode: strip the leading space after BOS, turn <0xXX> into the raw byte."""
        p = self.pieces[tok]
        if prev == BOS and p[:1] == b" ":
            p = p[1:]
        if _is_byte_piece(p):
            return bytes([int(p[3:5], 16)])
        return p

    def printable(self, piece: bytes) -> bytes:
        """run.c's safe_printf: a lone non-printable, non-space byte is not printed."""
        if len(piece) == 1 and not (32 <= piece[0] < 127 or piece[0] in b"\t\n\v\f\r"):
            return b""
        return piece


def _is_byte_piece(p: bytes) -> bool:
    return len(p) == 6 and p[:3] == b"<0x" and p[5:] == b">" and all(c in b"0123456789ABCDEFabcdef" for c in p[3:5])


# ---------------------------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------------------------
def rmsnorm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    ss = np.float32(np.dot(x, x)) / np.float32(x.size) + np.float32(1e-5)
    return (w * (np.float32(1.0) / np.sqrt(ss, dtype=np.float32)) * x).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(), dtype=np.float32)
    return (e / e.sum(dtype=np.float32)).astype(np.float32)


class Transformer:
    """run.c's Transformer with its RunState: one token at a time with a KV cache."""

    def __init__(self, w: Weights) -> None:
        self.w = w
        c = w.cfg
        self.cfg = c
        self.key_cache = np.zeros((c.n_layers, c.seq_len, c.kv_dim), np.float32)
        self.value_cache = np.zeros((c.n_layers, c.seq_len, c.kv_dim), np.float32)
        hs = c.head_size
        i = np.arange(0, c.dim, 2)
        head_dim = (i % hs).astype(np.float32)
        self.freq = (np.float32(1.0) / np.power(np.float32(10000.0), head_dim / np.float32(hs))).astype(np.float32)
        self.rope_k = i < c.kv_dim

    def forward(self, token: int, pos: int) -> np.ndarray:
        c, w = self.cfg, self.w
        hs, kvmul = c.head_size, c.n_heads // c.n_kv_heads
        x = w.tok_emb[token].copy()
        val = np.float32(pos) * self.freq
        fcr, fci = np.cos(val).astype(np.float32), np.sin(val).astype(np.float32)
        for l in range(c.n_layers):
            xb = rmsnorm(x, w.rms_att[l])
            q = w.wq[l] @ xb
            k = w.wk[l] @ xb
            v = w.wv[l] @ xb
            q0, q1 = q[0::2].copy(), q[1::2].copy()
            q[0::2], q[1::2] = q0 * fcr - q1 * fci, q0 * fci + q1 * fcr
            nk = c.kv_dim // 2
            k0, k1 = k[0::2].copy(), k[1::2].copy()
            k[0::2], k[1::2] = k0 * fcr[:nk] - k1 * fci[:nk], k0 * fci[:nk] + k1 * fcr[:nk]
            self.key_cache[l, pos] = k
            self.value_cache[l, pos] = v
            att_out = np.empty(c.dim, np.float32)
            scale = np.sqrt(np.float32(hs), dtype=np.float32)
            for h in range(c.n_heads):
                qh = q[h * hs:(h + 1) * hs]
                kh = (h // kvmul) * hs
                keys = self.key_cache[l, :pos + 1, kh:kh + hs]
                att = softmax((keys @ qh) / scale)
                att_out[h * hs:(h + 1) * hs] = att @ self.value_cache[l, :pos + 1, kh:kh + hs]
            x = (x + w.wo[l] @ att_out).astype(np.float32)
            xb = rmsnorm(x, w.rms_ffn[l])
            h1 = w.w1[l] @ xb
            h3 = w.w3[l] @ xb
            h1 = (h1 * (np.float32(1.0) / (np.float32(1.0) + np.exp(-h1, dtype=np.float32)))).astype(np.float32)
            x = (x + w.w2[l] @ (h1 * h3)).astype(np.float32)
        x = rmsnorm(x, w.rms_final)
        return (w.wcls @ x).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Sampling (run.c's Sampler)
# ---------------------------------------------------------------------------------------------
class Sampler:
    def __init__(self, vocab_size: int, temperature: float, topp: float, seed: int) -> None:
        self.n = vocab_size
        self.temperature = np.float32(temperature)
        self.topp = np.float32(topp)
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def random_u32(self) -> int:
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & 0xFFFFFFFFFFFFFFFF
        s ^= s >> 27
        self.state = s
        return ((s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) >> 32

    def random_f32(self) -> np.float32:
        return np.float32(self.random_u32() >> 8) / np.float32(16777216.0)

    def sample(self, logits: np.ndarray) -> int:
        if self.temperature == 0.0:
            return int(np.argmax(logits))  # first maximum, like run.c's strict '>' scan
        probs = softmax((logits / self.temperature).astype(np.float32))
        coin = self.random_f32()
        if self.topp <= 0 or self.topp >= 1:
            cdf = np.float32(0.0)
            for i in range(self.n):
                cdf = np.float32(cdf + probs[i])
                if coin < cdf:
                    return i
            return self.n - 1
        cutoff = (np.float32(1.0) - self.topp) / np.float32(self.n - 1)
        idx = [i for i in range(self.n) if probs[i] >= cutoff]
        idx.sort(key=lambda i: -probs[i])  # stable: equal probabilities keep index order
        cum = np.float32(0.0)
        last = len(idx) - 1
        for k, i in enumerate(idx):
            cum = np.float32(cum + probs[i])
            if cum > self.topp:
                last = k
                break
        r = np.float32(coin * cum)
        cdf = np.float32(0.0)
        for k in range(last + 1):
            cdf = np.float32(cdf + probs[idx[k]])
            if r < cdf:
                return idx[k]
        return idx[last]


def generate(model: Transformer, tok: Tokenizer, prompt: bytes, steps: int,
             temperature: float = 0.0, topp: float = 0.9, seed: int = 42) -> tuple[list[int], bytes]:
    """Return (generated token ids, printed text) with the unikernel's stopping rules."""
    c = model.cfg
    prompt_toks = tok.encode(prompt, bos=True)
    if len(prompt_toks) > c.seq_len:
        raise ValueError(f"prompt is {len(prompt_toks)} tokens, longer than seq_len {c.seq_len}")
    sampler = Sampler(c.vocab_size, temperature, topp, seed)
    out: list[int] = []
    text = b""
    token = prompt_toks[0]
    pos = 0
    while pos < c.seq_len:
        logits = model.forward(token, pos)
        if pos < len(prompt_toks) - 1:
            nxt = prompt_toks[pos + 1]
        else:
            if len(out) >= steps:
                break
            nxt = sampler.sample(logits)
            if nxt in (BOS, EOS):
                break
            out.append(nxt)
            text += tok.printable(tok.decode_piece(token, nxt))
        pos += 1
        token = nxt
    return out, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="NumPy reference of llama2.c's run.c")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--prompt", default="")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--temp", type=float, default=0.0)
    ap.add_argument("--topp", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    try:
        w = load_checkpoint(a.model)
        tok = Tokenizer.load(a.tokenizer, w.cfg.vocab_size)
        prompt = a.prompt.encode("ascii")
        ids, text = generate(Transformer(w), tok, prompt, a.steps, a.temp, a.topp, a.seed)
    except (OSError, FormatError, ValueError, UnicodeEncodeError) as e:
        print(f"llama_ref: {e}", file=sys.stderr)
        return 2
    print("tokens:", " ".join(map(str, ids)))
    print("text:", text.decode("latin-1"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
