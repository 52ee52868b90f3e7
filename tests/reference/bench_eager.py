"""Eager PyTorch baseline for `genrec bench model`: the same Qwen2-family architecture
(qwen2_ref.py, transformers' eager semantics: full logits at every position, fp32 cross entropy,
torch.optim.AdamW), timed for forward + backward + AdamW step.

Usage (Debian's torch):
  /usr/bin/python3 tests/reference/bench_eager.py --config CONFIG.json --batch 8 --seq 256 \
      --threads 2 --steps 5 [--json]
CONFIG.json is an HF config.json, e.g. the "config" object of `genrec bench model --json`.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2_ref  # noqa: E402


def load_config(path):
    with open(path) as f:
        hf = json.load(f)
    if "config" in hf and "hidden_size" not in hf:
        hf = hf["config"]
    qwen3 = "Qwen3" in hf.get("architectures", [""])[0] or hf.get("model_type") == "qwen3"
    cfg = qwen2_ref.make_config(
        hf["vocab_size"], hf["hidden_size"], hf["intermediate_size"], hf["num_hidden_layers"],
        hf["num_attention_heads"], hf["num_key_value_heads"], qwen3=qwen3,
        tie=hf.get("tie_word_embeddings", False), rope_theta=hf.get("rope_theta", 1e6),
        eps=hf.get("rms_norm_eps", 1e-6))
    if "head_dim" in hf:
        cfg["head_dim"] = hf["head_dim"]
    if "attention_bias" in hf:
        cfg["attention_bias"] = hf["attention_bias"]
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    model = qwen2_ref.CausalLM(cfg)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            torch.nn.init.zeros_(p)
        elif "norm" in name:
            torch.nn.init.ones_(p)
        else:
            torch.nn.init.normal_(p, std=0.02)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    B, T = args.batch, args.seq
    ids = torch.randint(0, cfg["vocab_size"], (B, T))
    labels = ids.clone()

    def step():
        logits = model(ids)
        loss = qwen2_ref.causal_lm_loss(logits, labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    if args.profile:
        with torch.autograd.profiler.profile() as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    dt = (time.perf_counter() - t0) / args.steps
    cpu = (time.process_time() - c0) / args.steps
    tokens = B * T
    out = {
        "params": params,
        "batch": B, "seq": T, "threads": torch.get_num_threads(),
        "ms_per_step": dt * 1e3,
        "cpu_ms_per_step": cpu * 1e3,
        "tokens_per_s": tokens / dt,
        "gflops": 6.0 * params * tokens / dt / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>14}: {v:.1f}" if isinstance(v, float) else f"{k:>14}: {v}")


if __name__ == "__main__":
    main()
