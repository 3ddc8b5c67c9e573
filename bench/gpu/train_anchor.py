#!/usr/bin/env python3
"""PyTorch anchor of bench/gpu/train-gpu.sh: the same TA-SFT LoRA step as GpuTrainCheck's speed mode, in
transformers + peft on the same card: a Llama-3.1-8B-shaped model (bench/gpu/llama-3.1-8b/config.json) with random
bf16 weights made on the device, LoRA r=16 (alpha 32, dropout 0.05) on q,k,v,o with float32 adapters, activation
checkpointing, a batch of B sequences of T tokens (the last H harmful, prompts of 64 tokens unlabelled),
L = CE(safe) + lambda * -(1/H) sum d over harmful response tokens (the EMD bound with unit input embeddings, fp32
softmax), AdamW on the adapters. Tokens/s over the timed steps (after 2 warm-up steps) and the peak memory.

    python3 bench/gpu/train_anchor.py [--batch 8] [--seq 1024] [--harmful 2] [--steps 5] [--attn sdpa|eager]

Prints one line of key=value results (as GpuTrainCheck does).
"""
import argparse
import json
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "llama-3.1-8b", "config.json"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--harmful", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--lam", type=float, default=0.5)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()

    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model

    dev = torch.device(args.device)
    with open(args.config) as f:
        cfg = LlamaConfig(**json.load(f))
    cfg._attn_implementation = args.attn
    torch.manual_seed(1)
    t0 = time.time()
    with torch.device(dev):
        torch.set_default_dtype(torch.bfloat16)
        model = LlamaForCausalLM(cfg)
        torch.set_default_dtype(torch.float32)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.05,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    for n, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()  # float32 adapters, as tasft keeps them
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    setup = time.time() - t0

    b, t, h = args.batch, args.seq, args.harmful
    g = torch.Generator(device="cpu").manual_seed(5)
    ids = torch.randint(0, cfg.vocab_size, (b, t), generator=g).to(dev)
    labels = ids.clone()
    labels[:, :64] = -100
    targets = torch.full_like(labels, -100)
    targets[:, :-1] = labels[:, 1:]
    emb = model.get_input_embeddings().weight

    def step():
        logits = model(input_ids=ids).logits  # [b, t, V] in bf16
        safe = logits[: b - h].reshape(-1, logits.size(-1))
        safe_t = targets[: b - h].reshape(-1)
        ce = torch.nn.functional.cross_entropy(safe.float(), safe_t, ignore_index=-100)
        harm = logits[b - h:].reshape(-1, logits.size(-1))
        harm_t = targets[b - h:].reshape(-1)
        keep = harm_t != -100
        ehat = torch.nn.functional.normalize(emb.detach().float(), dim=-1).to(emb.dtype)
        p = torch.softmax(harm[keep].float(), dim=-1)
        u = p.to(ehat.dtype) @ ehat
        r = u.float() - ehat[harm_t[keep]].float()
        d = (r * r).sum(-1)
        loss = ce - args.lam * d.sum() / h
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t1 = time.time()
    for _ in range(args.steps):
        loss = step()
    torch.cuda.synchronize()
    sec = (time.time() - t1) / args.steps
    print(f"speed impl=pytorch-{args.attn} device={args.device} dtype=bfloat16 batch={b} seq={t} harmful={h} "
          f"lora_r={args.lora_r} checkpointing=true step_s={sec:.4f} tokens_per_s={b * t / sec:.1f} loss={loss:.5f} "
          f"setup_s={setup:.1f} max_allocated_gib={torch.cuda.max_memory_allocated() / 2**30:.2f} "
          f"max_reserved_gib={torch.cuda.max_memory_reserved() / 2**30:.2f} torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
