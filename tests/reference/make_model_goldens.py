"""Generates the model golden fixtures under tests/fixtures/model/ with the independent eager
reference in qwen2_ref.py (not with the code under test).

  /usr/bin/python3 tests/reference/make_model_goldens.py [OUT_DIR]   (default tests/fixtures/model)

For each variant (qwen2_tiny: untied lm_head, q/k/v bias; qwen3_tiny: tied, q/k RMSNorm) it
writes an HF folder (config.json + model.safetensors, fp32) and goldens.safetensors with:
  ids_a [2, 10], labels_a [2, 10] (-100 = ignored), logits_a [2, 10, V], loss_a [] and
  grad.<param> for a few parameters (gradients of loss_a);
  ids_p [3, 12], mask_p [3, 12] (left padding), logits_p [3, 12, V] (valid where mask_p == 1).
The goldens are computed in float64 from the fp32 weights, so they carry no fp32 rounding.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2_ref  # noqa: E402

GRAD_KEYS = [
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.k_proj.bias",
    "model.layers.0.self_attn.q_norm.weight",
    "model.layers.1.mlp.down_proj.weight",
    "model.layers.1.post_attention_layernorm.weight",
    "model.norm.weight",
    "lm_head.weight",
]


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def make_variant(out_dir, name, qwen3, tie, seed):
    V = 300
    cfg = qwen2_ref.make_config(V, 64, 176, 2, 4, 2, qwen3=qwen3, tie=tie,
                                rope_theta=10000.0 if qwen3 else 1000000.0)
    torch.manual_seed(seed)
    model = qwen2_ref.CausalLM(cfg)
    randomise(model, seed)
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    hf = qwen2_ref.hf_config_json(cfg)
    hf.update({"bos_token_id": 1, "eos_token_id": 2})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(hf, f, indent=2, sort_keys=True)
        f.write("\n")
    weights = {k: v.float() for k, v in model.state_dict().items()}
    qwen2_ref.save_safetensors(os.path.join(folder, "model.safetensors"), weights)

    model = model.double()
    g = torch.Generator().manual_seed(seed + 1)
    ids_a = torch.randint(0, V, (2, 10), generator=g)
    labels_a = ids_a.clone()
    labels_a[0, :4] = -100
    labels_a[1, :2] = -100
    labels_a[1, 7] = -100
    logits_a = model(ids_a)
    loss_a = qwen2_ref.causal_lm_loss(logits_a, labels_a)
    loss_a.backward()
    params = dict(model.named_parameters())

    ids_p = torch.randint(0, V, (3, 12), generator=g)
    mask_p = torch.ones(3, 12, dtype=torch.long)
    mask_p[1, :3] = 0
    mask_p[2, :5] = 0
    ids_p[mask_p == 0] = 2  # pad = eos, like MiniOneRec's SFT collator
    with torch.no_grad():
        logits_p = model(ids_p, mask_p)

    out = {
        "ids_a": ids_a, "labels_a": labels_a, "logits_a": logits_a.detach().float(),
        "loss_a": loss_a.detach().float().reshape(()),
        "ids_p": ids_p, "mask_p": mask_p, "logits_p": logits_p.float(),
    }
    for key in GRAD_KEYS:
        if key in params:
            out["grad." + key] = params[key].grad.float()
    qwen2_ref.save_safetensors(os.path.join(folder, "goldens.safetensors"), out)
    print(f"{name}: loss {loss_a.item():.6f}, {len(out)} golden tensors -> {folder}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "model")
    torch.set_num_threads(1)
    make_variant(out_dir, "qwen2_tiny", qwen3=False, tie=False, seed=1234)
    make_variant(out_dir, "qwen3_tiny", qwen3=True, tie=True, seed=4321)


if __name__ == "__main__":
    main()
