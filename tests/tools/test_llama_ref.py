"""The NumPy reference (tools/llama_ref.py) against an independent float64 implementation,
the tokenizer against llama2.c's rules, and the committed model/tokenizer files.

No PyTorch: checkpoints come from tools/random_checkpoint.py and the committed images/."""
from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bareflow.tools import corpus, export, llama_ref, random_checkpoint

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "images" / "model.bin"
TOKENIZER = ROOT / "images" / "tokenizer.bin"


@pytest.fixture(scope="module", params=sorted(random_checkpoint.SHAPES))
def random_ck(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    m, t = d / "model.bin", d / "tok.bin"
    random_checkpoint.make(request.param, str(m), str(t), seed=3)
    return request.param, m, t


def forward64(raw: bytes, tokens: list[int]) -> list[np.ndarray]:
    """A deliberately different implementation: float64, explicit loops over heads and
    positions, weights read with struct offsets computed here, RoPE from math.cos/sin."""
    dim, hid, nl, nh, nkv, voc, seq = struct.unpack_from("<7i", raw, 0)
    shared = voc > 0
    voc = abs(voc)
    hs = dim // nh
    kvd = nkv * hs
    f = np.frombuffer(raw, "<f4", offset=28).astype(np.float64)
    p = 0

    def take(n, shape):
        nonlocal p
        a = f[p:p + n].reshape(shape)
        p += n
        return a

    emb = take(voc * dim, (voc, dim))
    ra = take(nl * dim, (nl, dim))
    wq = take(nl * dim * dim, (nl, dim, dim))
    wk = take(nl * kvd * dim, (nl, kvd, dim))
    wv = take(nl * kvd * dim, (nl, kvd, dim))
    wo = take(nl * dim * dim, (nl, dim, dim))
    rf = take(nl * dim, (nl, dim))
    w1 = take(nl * hid * dim, (nl, hid, dim))
    w2 = take(nl * dim * hid, (nl, dim, hid))
    w3 = take(nl * hid * dim, (nl, hid, dim))
    rfin = take(dim, (dim,))
    p += seq * hs
    wcls = emb if shared else take(voc * dim, (voc, dim))
    assert p == f.size

    def norm(x, w):
        return w * x / math.sqrt(sum(v * v for v in x) / len(x) + 1e-5)

    def rot(vec, pos):
        out = vec.copy()
        for i in range(0, len(vec), 2):
            ang = pos / 10000.0 ** ((i % hs) / hs)
            c, s = math.cos(ang), math.sin(ang)
            out[i] = vec[i] * c - vec[i + 1] * s
            out[i + 1] = vec[i] * s + vec[i + 1] * c
        return out

    kc = [[] for _ in range(nl)]
    vc = [[] for _ in range(nl)]
    outs = []
    for pos, tok in enumerate(tokens):
        x = emb[tok].copy()
        for l in range(nl):
            h = norm(x, ra[l])
            q, k, v = rot(wq[l] @ h, pos), rot(wk[l] @ h, pos), wv[l] @ h
            kc[l].append(k)
            vc[l].append(v)
            o = np.zeros(dim)
            for head in range(nh):
                g = head // (nh // nkv)
                sc = np.array([q[head * hs:(head + 1) * hs] @ kk[g * hs:(g + 1) * hs] for kk in kc[l]]) / math.sqrt(hs)
                e = np.exp(sc - sc.max())
                a = e / e.sum()
                o[head * hs:(head + 1) * hs] = sum(a[t] * vc[l][t][g * hs:(g + 1) * hs] for t in range(len(a)))
            x = x + wo[l] @ o
            h = norm(x, rf[l])
            a1 = w1[l] @ h
            x = x + w2[l] @ (a1 / (1 + np.exp(-a1)) * (w3[l] @ h))
        outs.append(wcls @ norm(x, rfin))
    return outs


def test_forward_matches_float64(random_ck):
    name, m, _ = random_ck
    raw = m.read_bytes()
    w = llama_ref.checkpoint_from_bytes(raw)
    tr = llama_ref.Transformer(w)
    toks = [1, 17, 260, 5, 99, 3, 42, 200][: w.cfg.seq_len]
    want = forward64(raw, toks)
    for pos, t in enumerate(toks):
        got = tr.forward(t, pos)
        assert got.dtype == np.float32
        err = np.max(np.abs(got - want[pos])) / (np.max(np.abs(want[pos])) + 1e-9)
        assert err < 2e-5, f"{name} pos {pos}: relative error {err}"
        assert int(np.argmax(got)) == int(np.argmax(want[pos]))


def test_header_validation(random_ck):
    _, m, _ = random_ck
    raw = bytearray(m.read_bytes())
    llama_ref.checkpoint_from_bytes(bytes(raw))
    with pytest.raises(llama_ref.FormatError, match="does not match"):
        llama_ref.checkpoint_from_bytes(bytes(raw[:-4]))
    for field, bad in ((0, 0), (3, -2), (1, 1 << 20), (4, 3)):
        r = bytearray(raw)
        struct.pack_into("<i", r, 4 * field, bad)
        with pytest.raises(llama_ref.FormatError):
            llama_ref.checkpoint_from_bytes(bytes(r))
    with pytest.raises(llama_ref.FormatError, match="too short"):
        llama_ref.checkpoint_from_bytes(b"\0" * 10)


def test_unshared_classifier_sign(tmp_path):
    dims = dict(dim=8, hidden_dim=9, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=300, seq_len=4)
    t = random_checkpoint.random_weights(dims, False, 1)
    export.write_v0(str(tmp_path / "m.bin"), dims, t, shared=False)
    raw = (tmp_path / "m.bin").read_bytes()
    assert struct.unpack_from("<7i", raw)[5] == -300
    w = llama_ref.checkpoint_from_bytes(raw)
    assert not w.cfg.shared and np.array_equal(w.wcls, t["wcls"])


def _tok() -> llama_ref.Tokenizer:
    return llama_ref.Tokenizer.load(str(TOKENIZER), 512)


def test_tokenizer_layout_and_roundtrip():
    tok = _tok()
    assert tok.pieces[0] == b"<unk>" and tok.pieces[1] == b"\n<s>\n" and tok.pieces[2] == b"\n</s>\n"
    assert all(tok.pieces[3 + b] == b"<0x%02X>" % b for b in range(256))
    assert b" " in tok.lookup, "the dummy-prefix space must be a piece"
    assert len(set(tok.pieces)) == len(tok.pieces)
    text = corpus.generate(99, 3000).encode()
    for story in text.split(b"\n\n")[:5]:
        ids = tok.encode(story)
        assert ids[0] == llama_ref.BOS
        dec = b"".join(tok.decode_piece(a, b) for a, b in zip(ids, ids[1:]))
        assert dec == story


def test_encode_is_llama2c_greedy_merge():
    """Chunked (cached) encoding equals the plain whole-string run.c algorithm, byte fallback works."""
    tok = _tok()
    plain = llama_ref.Tokenizer(tok.pieces, list(tok.scores), tok.max_token_length)
    plain.space_only_leading = False
    for s in (b"Once upon a time", b"Tom~and {Lily} \x01 said: \"hi\"", b"x", b"  two  spaces "):
        assert tok.encode(s) == plain.encode(s)
    ids = tok.encode(b"~")
    assert ids[:2] == [1, tok.lookup[b" "]] and ids[2] == ord("~") + 3  # not a piece: byte fallback
    assert tok.encode(b"") == [1]
    # Whole-word pieces win over their parts (merged by score, starting from the dummy space).
    ids = tok.encode(b"Once upon a time")
    assert [tok.pieces[i] for i in ids[1:4]] == [b" Once", b" upon", b" a"]


def test_sampler_rng_is_xorshift64star():
    s = llama_ref.Sampler(512, 1.0, 0.9, seed=42)
    state = 42
    for _ in range(5):
        state ^= state >> 12
        state ^= (state << 25) % 2 ** 64
        state ^= state >> 27
        want = (state * 0x2545F4914F6CDD1D % 2 ** 64) >> 32
        assert s.random_u32() == want
    f = s.random_f32()
    assert 0.0 <= f < 1.0


def test_topp_sampling_stays_in_nucleus():
    logits = np.array([5.0, 4.9, 0.0, -1.0, -3.0] + [-10.0] * 295, np.float32)
    s = llama_ref.Sampler(300, 1.0, 0.9, seed=7)
    got = {s.sample(logits) for _ in range(200)}
    assert got == {0, 1}
    g = llama_ref.Sampler(300, 0.0, 0.9, seed=7)
    assert g.sample(logits) == 0


def test_committed_model_writes_text():
    """The trained model's greedy story is made of corpus words, not noise."""
    w = llama_ref.load_checkpoint(str(MODEL))
    assert (w.cfg.dim, w.cfg.n_layers, w.cfg.n_heads, w.cfg.n_kv_heads, w.cfg.vocab_size) == (64, 5, 8, 4, 512)
    ids, text = llama_ref.generate(llama_ref.Transformer(w), _tok(), b"Once upon a time", 60)
    assert len(ids) >= 30
    vocab = set(corpus.generate(1, 400_000).replace('"', " ").replace(",", " ").replace(".", " ")
                .replace("!", " ").replace("?", " ").split())
    words = text.decode().replace('"', " ").replace(",", " ").replace(".", " ").replace("!", " ").replace("?", " ").split()
    known = sum(wd in vocab for wd in words)
    assert known >= 0.95 * len(words), text


def test_cli_prints_tokens_and_errors_cleanly(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bareflow.tools.llama_ref", "--model", str(MODEL), "--tokenizer",
                        str(TOKENIZER), "--prompt", "Once upon a time", "--steps", "8"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("tokens: ") and len(r.stdout.splitlines()[0].split()) == 9
    r = subprocess.run([sys.executable, "-m", "bareflow.tools.llama_ref", "--model", str(tmp_path / "none.bin"),
                        "--tokenizer", str(TOKENIZER)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.startswith("llama_ref:")
