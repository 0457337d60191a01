"""Train a byte-level BPE tokenizer and write it as llama2.c's tokenizer.bin.

Why this layout: llama2.c's run.c encodes by looking every single byte up as a one-character
piece (falling back to ``<0xXX>`` = byte + 3 when it is absent) and then repeatedly merging the
adjacent pair whose concatenation is the highest-scoring piece.  So the vocabulary must hold
(0) ``<unk>``, (1) BOS, (2) EOS, (3..258) the 256 byte pieces, then every character of the corpus
as its own piece (byte-fallback pieces never merge: ``"<0x61>" + "<0x62>"`` is not a piece),
then the learned merges scored so that earlier merges win (score = -rank).

Pre-tokenisation splits text before each space and between letters and other bytes, so no
piece holds a space after its first byte (the encoder in llama_ref.py relies on that to segment
chunk by chunk with a cache) and no piece glues a word to its punctuation.  The dummy
prefix space run.c adds makes the first word look like every other word (" Once").

Usage: ``python -m bareflow.tools.bpe --corpus corpus.txt --out tokenizer.bin --vocab 512``
"""
from __future__ import annotations

import argparse
import collections
import re
import struct
import sys

SPECIALS = [b"<unk>", b"\n<s>\n", b"\n</s>\n"]


CHUNK_RE = re.compile(rb" ?[A-Za-z]+| ?[^A-Za-z ]+| ")


def chunks_of(story: bytes) -> list[bytes]:
    """Split ``" " + story`` into the units merges may not cross: an optional leading space
    then a run of letters, or of other bytes.  So " time" is a piece even though the corpus
    always writes "time," - a prompt that ends in a word then tokenizes like the training text."""
    return CHUNK_RE.findall(b" " + story)


def train(stories: list[bytes], vocab_size: int) -> tuple[list[bytes], list[float]]:
    """Return (pieces, scores) for a vocabulary of exactly ``vocab_size`` entries."""
    freq: collections.Counter[bytes] = collections.Counter()
    for s in stories:
        freq.update(chunks_of(s))
    chars = sorted({bytes([b]) for w in freq for b in w})
    pieces = SPECIALS + [b"<0x%02X>" % i for i in range(256)]
    scores = [0.0] * len(pieces)
    if len(pieces) + len(chars) > vocab_size:
        raise ValueError(f"vocab {vocab_size} too small for {len(chars)} characters")
    for i, c in enumerate(chars):
        pieces.append(c)
        scores.append(-1e6 - i)  # never the result of a merge; the value only orders the file
    words = {w: [bytes([b]) for b in w] for w in freq}
    n_merges = vocab_size - len(pieces)
    for rank in range(n_merges):
        pairs: collections.Counter[tuple[bytes, bytes]] = collections.Counter()
        for w, syms in words.items():
            f = freq[w]
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        # Most frequent pair; ties broken by the bytes themselves so training is deterministic.
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        new = a + b
        if new in pieces:  # can happen via two different splits; keep the vocab unique
            for w, syms in words.items():
                words[w] = _apply(syms, a, b)
            continue
        pieces.append(new)
        scores.append(-float(rank))
        for w, syms in words.items():
            words[w] = _apply(syms, a, b)
    while len(pieces) < vocab_size:  # corpus exhausted: pad with unused unique pieces
        pieces.append(b"<pad%d>" % len(pieces))
        scores.append(-1e9)
    return pieces, scores


def _apply(syms: list[bytes], a: bytes, b: bytes) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(syms):
        if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(syms[i])
            i += 1
    return out


def write_tokenizer(path: str, pieces: list[bytes], scores: list[float]) -> None:
    """llama2.c tokenizer.bin: int32 max_token_length, then (float32 score, int32 len, bytes)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(p) for p in pieces)))
        for p, s in zip(pieces, scores):
            f.write(struct.pack("<fi", s, len(p)))
            f.write(p)


def read_stories(path: str, max_bytes: int) -> list[bytes]:
    with open(path, "rb") as f:
        data = f.read(max_bytes)
    stories = [s.strip() for s in data.split(b"\n\n")]
    return [s for s in stories[:-1] if s]  # the last one may be cut by max_bytes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train llama2.c-compatible byte-level BPE")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--sample-mb", type=float, default=1.0, help="train on the first N MB")
    a = ap.parse_args(argv)
    try:
        stories = read_stories(a.corpus, int(a.sample_mb * 1_000_000))
        pieces, scores = train(stories, a.vocab)
        write_tokenizer(a.out, pieces, scores)
    except (OSError, ValueError) as e:
        print(f"bpe: {e}", file=sys.stderr)
        return 2
    longest = sorted(pieces[259:], key=len)[-8:]
    print(f"bpe: {len(pieces)} pieces from {len(stories)} stories -> {a.out}; longest: {longest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
