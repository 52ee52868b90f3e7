#!/usr/bin/python3
"""Reference speed benchmark: a straightforward PyTorch constrained beam search, HF-style.

Same architecture and weights as the C++ engine (reads config.json + model.safetensors of an HF
folder written by `genrec eval --save-model`), same prompts and trie paths (`genrec eval
--export-prompts`). Per step: full-vocabulary logits, log_softmax, a prefix-allowed mask over the
full vocabulary (dict keyed by the generated prefix, as MiniOneRec's processor), HF beam search
(prompts expanded to batch x beams before the prefill, KV cache, top-2B candidates, EOS ends a
hypothesis, length_penalty 0). Prints users/s. Not a test.

usage: /usr/bin/python3 bench_beam_python.py MODEL_DIR PROMPTS_JSON [--batch 8] [--threads 2]
"""
import argparse
import json
import math
import struct
import time

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        buf = bytearray(data[a:b])
        if meta["dtype"] == "F32":
            t = torch.frombuffer(buf, dtype=torch.float32)
        elif meta["dtype"] == "BF16":
            t = (torch.frombuffer(buf, dtype=torch.int16).to(torch.int32) << 16).view(torch.float32)
        else:
            raise SystemExit("unsupported dtype " + meta["dtype"])
        out[name] = t.reshape(meta["shape"]).clone()
    return out


class Qwen2:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.K = cfg.get("num_key_value_heads", self.H)
        self.D = cfg.get("head_dim") or cfg["hidden_size"] // self.H
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta", 10000.0)
        self.inv = 1.0 / (theta ** (torch.arange(0, self.D, 2, dtype=torch.float32) / self.D))
        self.head = w.get("lm_head.weight", w["model.embed_tokens.weight"])

    def lin(self, x, name):
        y = x @ self.w[name + ".weight"].t()
        b = self.w.get(name + ".bias")
        return y + b if b is not None else y

    def norm(self, x, name):
        v = x.pow(2).mean(-1, keepdim=True)
        return self.w[name + ".weight"] * (x * torch.rsqrt(v + self.eps))

    @staticmethod
    def rot(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), -1)

    def forward(self, ids, mask, cache):
        """ids [B,T], mask [B,S] of all positions so far; cache: list of (k, v) or None."""
        B, T = ids.shape
        x = self.w["model.embed_tokens.weight"][ids]
        pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, -T:].float()
        f = pos[..., None] * self.inv
        emb = torch.cat((f, f), -1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        S = mask.shape[1]
        causal = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        allowed = causal[None, None] & mask[:, None, None, :].bool()
        # finite, as HF (finfo.min): fully masked padding rows must not turn into NaN
        bias = torch.zeros(allowed.shape).masked_fill(~allowed, -1e30)
        new_cache = []
        for l in range(self.L):
            p = "model.layers.%d." % l
            h = self.norm(x, p + "input_layernorm")
            q = self.lin(h, p + "self_attn.q_proj").view(B, T, self.H, self.D).transpose(1, 2)
            k = self.lin(h, p + "self_attn.k_proj").view(B, T, self.K, self.D).transpose(1, 2)
            v = self.lin(h, p + "self_attn.v_proj").view(B, T, self.K, self.D).transpose(1, 2)
            q = q * cos + self.rot(q) * sin
            k = k * cos + self.rot(k) * sin
            if cache is not None:
                k = torch.cat((cache[l][0], k), 2)
                v = torch.cat((cache[l][1], v), 2)
            new_cache.append((k, v))
            g = self.H // self.K
            kk, vv = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
            a = torch.softmax(q @ kk.transpose(-1, -2) / math.sqrt(self.D) + bias, -1) @ vv
            x = x + self.lin(a.transpose(1, 2).reshape(B, T, -1), p + "self_attn.o_proj")
            h = self.norm(x, p + "post_attention_layernorm")
            m = torch.nn.functional.silu(self.lin(h, p + "mlp.gate_proj")) * self.lin(h, p + "mlp.up_proj")
            x = x + self.lin(m, p + "mlp.down_proj")
        return self.norm(x, "model.norm"), new_cache


def beam_search(model, prompts, allowed, eos, pad, nb, max_new=16):
    P = len(prompts)
    T = max(len(p) for p in prompts)
    ids = torch.full((P, T), pad, dtype=torch.long)
    mask = torch.zeros((P, T), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, T - len(p):] = torch.tensor(p)
        mask[i, T - len(p):] = 1
    ids, mask = ids.repeat_interleave(nb, 0), mask.repeat_interleave(nb, 0)  # HF: expand, then prefill
    scores = torch.zeros(P, nb)
    scores[:, 1:] = -1e9
    scores = scores.view(-1)
    gen = [[] for _ in range(P * nb)]
    done = [False] * P
    hyps = [[] for _ in range(P)]
    V = model.head.shape[0]
    hidden, cache = model.forward(ids, mask, None)
    for step in range(max_new):
        logp = torch.log_softmax(hidden[:, -1] @ model.head.t(), -1)  # [P*nb, V]
        m = torch.full_like(logp, -1e6)
        for r in range(P * nb):
            ok = allowed.get(tuple(gen[r]))
            if ok:
                m[r, ok] = 0
        cand = (logp + m + scores[:, None]).view(P, nb * V)
        top, idx = cand.topk(2 * nb, -1)
        nscores, ntok, nsrc = [], [], []
        for p in range(P):
            beams = []
            if not done[p]:
                for rank, (s, j) in enumerate(zip(top[p].tolist(), idx[p].tolist())):
                    b, t = divmod(j, V)
                    src = p * nb + b
                    if t == eos:
                        if rank < nb and (len(hyps[p]) < nb or s > hyps[p][-1][0]):
                            hyps[p].append((s, gen[src] + [t]))
                            hyps[p].sort(key=lambda h: -h[0])
                            del hyps[p][nb:]
                    else:
                        beams.append((s, t, src))
                    if len(beams) == nb:
                        break
                if len(hyps[p]) == nb and (not beams or hyps[p][-1][0] >= beams[0][0]):
                    done[p] = True
                while len(beams) < nb:
                    beams.append((-1e9, pad, p * nb))
            if done[p]:
                beams = [(0.0, pad, p * nb)] * nb
            for s, t, src in beams:
                nscores.append(s)
                ntok.append(t)
                nsrc.append(src)
        if all(done):
            break
        src = torch.tensor(nsrc)
        gen = [gen[s] + [t] for s, t in zip(nsrc, ntok)]
        scores = torch.tensor(nscores)
        cache = [(k[src], v[src]) for k, v in cache]
        mask = torch.cat((mask[src], torch.ones(P * nb, 1, dtype=torch.long)), 1)
        hidden, cache = model.forward(torch.tensor(ntok)[:, None], mask, cache)
    return hyps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("prompts")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-samples", type=int, default=-1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = json.load(open(args.model + "/config.json"))
    model = Qwen2(cfg, read_safetensors(args.model + "/model.safetensors"))
    spec = json.load(open(args.prompts))
    prompts = spec["prompts"][: args.max_samples if args.max_samples > 0 else None]
    allowed = {}
    for path in spec["paths"]:
        for i in range(len(path)):
            allowed.setdefault(tuple(path[:i]), set()).add(path[i])
    allowed = {k: sorted(v) for k, v in allowed.items()}
    t0 = time.time()
    out = []
    with torch.no_grad():
        for b in range(0, len(prompts), args.batch):
            out += beam_search(model, prompts[b:b + args.batch], allowed, spec["eos"], spec["pad"], spec["beams"])
    dt = time.time() - t0
    print(json.dumps({"users": len(prompts), "seconds": dt, "users_per_s": len(prompts) / dt,
                      "top1": [h[0][1] for h in out[:3]], "top1_score": [h[0][0] for h in out[:3]]}))


if __name__ == "__main__":
    main()
