"""Independent eager PyTorch implementation of the Qwen2 / Qwen3 causal LM (HF transformers
semantics), used to generate golden fixtures (make_model_goldens.py) and as the eager speed
baseline (bench_eager.py). Runs with Debian's python3-torch (1.13); needs neither transformers
nor safetensors.

Semantics follow transformers' Qwen2ForCausalLM / Qwen3ForCausalLM in eager attention mode:
RMSNorm in fp32, RoPE with rotate_half, grouped-query attention via repeat_kv, softmax in fp32,
SwiGLU MLP, attention bias on q/k/v for Qwen2, per-head q/k RMSNorm for Qwen3, tied or untied
lm_head, and position ids derived from the attention mask (cumsum - 1, clamped at 0) so
left-padded batches match generate().
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(position_ids, head_dim, theta, dtype):
    # position_ids [B, T] -> cos, sin [B, 1, T, D]
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = position_ids.float()[:, :, None] * inv_freq[None, None, :]   # [B, T, D/2]
    emb = torch.cat((freqs, freqs), dim=-1)                              # [B, T, D]
    return emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, H, K, D = cfg["hidden_size"], cfg["num_attention_heads"], \
            cfg["num_key_value_heads"], cfg["head_dim"]
        bias = cfg["attention_bias"]
        self.H, self.K, self.D = H, K, D
        self.q_proj = nn.Linear(C, H * D, bias=bias)
        self.k_proj = nn.Linear(C, K * D, bias=bias)
        self.v_proj = nn.Linear(C, K * D, bias=bias)
        self.o_proj = nn.Linear(H * D, C, bias=False)
        self.qk_norm = cfg["qk_norm"]
        if self.qk_norm:
            self.q_norm = RMSNorm(D, cfg["rms_norm_eps"])
            self.k_norm = RMSNorm(D, cfg["rms_norm_eps"])

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.D)
        k = self.k_proj(x).view(B, T, self.K, self.D)
        v = self.v_proj(x).view(B, T, self.K, self.D).transpose(1, 2)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)                 # [B, H, T, D]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.H // self.K
        k = k.repeat_interleave(rep, dim=1)                         # [B, H, T, D]
        v = v.repeat_interleave(rep, dim=1)
        att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.D) + mask   # [B, H, T, T]
        # fp32 softmax like transformers (fp64 stays fp64 for the goldens)
        att = F.softmax(att, dim=-1, dtype=torch.promote_types(att.dtype, torch.float32))
        att = att.to(q.dtype)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, T, self.H * self.D)
        return self.o_proj(y)


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, I = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(C, I, bias=False)
        self.up_proj = nn.Linear(C, I, bias=False)
        self.down_proj = nn.Linear(I, C, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = Mlp(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class CausalLM(nn.Module):
    """cfg: dict with the HF config.json keys used below (plus derived head_dim, qk_norm,
    attention_bias)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Body(cfg)
        if not cfg["tie_word_embeddings"]:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def head_weight(self):
        if self.cfg["tie_word_embeddings"]:
            return self.model.embed_tokens.weight
        return self.lm_head.weight

    def forward(self, input_ids, attention_mask=None):
        """Returns logits [B, T, V]."""
        B, T = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones(B, T, dtype=torch.long)
        x = self.model.embed_tokens(input_ids)
        pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        cos, sin = rope_cos_sin(pos, self.cfg["head_dim"], self.cfg["rope_theta"], x.dtype)
        neg = torch.finfo(x.dtype).min
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]   # [B, 1, T, T]
        mask = torch.zeros(B, 1, T, T, dtype=x.dtype).masked_fill(~allowed, neg)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        x = self.model.norm(x)
        return F.linear(x, self.head_weight())


def causal_lm_loss(logits, labels):
    """HF loss: shift by one, ignore -100, mean over supervised tokens."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V).float(), labels[:, 1:].reshape(-1),
                           ignore_index=-100)


def make_config(vocab_size, hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads,
                qwen3=False, tie=True, rope_theta=1000000.0, eps=1e-6):
    head_dim = hidden_size // num_heads
    return {
        "architectures": ["Qwen3ForCausalLM" if qwen3 else "Qwen2ForCausalLM"],
        "model_type": "qwen3" if qwen3 else "qwen2",
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": eps,
        "rope_theta": rope_theta,
        "tie_word_embeddings": tie,
        "attention_bias": not qwen3,
        "qk_norm": qwen3,
        "torch_dtype": "float32",
        "use_sliding_window": False,
        "rope_scaling": None,
    }


def hf_config_json(cfg):
    """The config.json transformers would write (derived keys removed where HF has none)."""
    out = {k: v for k, v in cfg.items() if k not in ("qk_norm",)}
    if cfg["model_type"] == "qwen2":
        out.pop("head_dim")
        out.pop("attention_bias")
    return out


def save_safetensors(path, named_tensors):
    """Writes a safetensors file with the standard library (float32 / int64 only)."""
    codes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name in sorted(named_tensors):
        t = named_tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
