"""PyTorch's half of bench/run-cpu-vs-pytorch.sh: a Llama written here (transformers' eager LlamaForCausalLM:
RMSNorm, rotary embedding, grouped-query attention with a causal mask, SiLU MLP), loaded from the same
model.safetensors, timed the way CpuVsPytorchBenchmark times tasft. One measurement per process.

  anchor.py train DIR THREADS REPS WARMUP BATCH SEQ METHOD [DTYPE]
  anchor.py generate DIR THREADS REPS WARMUP BATCH NEW DTYPE

Training mirrors tasft's objectives on its benchmark batch: the last BATCH/8 sequences are harmful, the first
quarter of each row is prompt (ignored); sft = mean cross-entropy over the safe sequences' targets; emd = that plus
0.5 x L_EMD (reduction "sequence": minus the sum over harmful targets of ||E_p[ehat] - ehat_y||^2 over the number of
harmful sequences, ehat = the unit-norm rows of the input embedding, a constant). bfloat16 training keeps float32
master weights in AdamW, as tasft's JavaAdamW does. After the steps, REPS forward passes alone (the logits with
autograd recording, no loss): "forward SECONDS".
"""
import json, math, resource, struct, sys, time
import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
SIZES = {"F32": 4, "BF16": 2, "F16": 2}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = bytearray(f.read())
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(data, dtype=DTYPES[h["dtype"]], count=(b - a) // SIZES[h["dtype"]],
                                     offset=a).view(h["shape"]) if b > a else torch.empty(h["shape"])
    return out


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights, dtype):
        super().__init__()
        self.cfg = cfg
        self.heads, self.kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim") or cfg["hidden_size"] // self.heads
        self.eps = cfg["rms_norm_eps"]
        self.w = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.to(dtype).clone())
                                         for k, v in weights.items()})
        if "lm_head.weight" not in weights:
            self.w["lm_head__weight"] = self.w["model__embed_tokens__weight"]
        self.inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def norm(self, x, w):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return w * h.to(x.dtype)

    @staticmethod
    def rot(x):
        a, b = x.chunk(2, dim=-1)
        return torch.cat((-b, a), dim=-1)

    def forward(self, ids, cache=None):
        b, s = ids.shape
        past = 0 if cache is None or not cache else cache[0][0].shape[2]
        h = torch.nn.functional.embedding(ids, self.p("model.embed_tokens.weight"))
        pos = torch.arange(past, past + s).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos().to(h.dtype), emb.sin().to(h.dtype)
        mask = torch.full((s, past + s), float("-inf")).triu(past + 1).to(h.dtype)
        for i in range(self.cfg["num_hidden_layers"]):
            L = f"model.layers.{i}."
            x = self.norm(h, self.p(L + "input_layernorm.weight"))
            q = torch.nn.functional.linear(x, self.p(L + "self_attn.q_proj.weight")).view(b, s, -1, self.hd).transpose(1, 2)
            k = torch.nn.functional.linear(x, self.p(L + "self_attn.k_proj.weight")).view(b, s, -1, self.hd).transpose(1, 2)
            v = torch.nn.functional.linear(x, self.p(L + "self_attn.v_proj.weight")).view(b, s, -1, self.hd).transpose(1, 2)
            q, k = q * cos + self.rot(q) * sin, k * cos + self.rot(k) * sin
            if cache is not None:
                if len(cache) > i:
                    k = torch.cat((cache[i][0], k), 2)
                    v = torch.cat((cache[i][1], v), 2)
                    cache[i] = (k, v)
                else:
                    cache.append((k, v))
            rep = self.heads // self.kv
            kr = k.repeat_interleave(rep, 1) if rep > 1 else k
            vr = v.repeat_interleave(rep, 1) if rep > 1 else v
            att = torch.matmul(q, kr.transpose(2, 3)) / math.sqrt(self.hd) + mask
            att = torch.softmax(att, dim=-1, dtype=torch.float32).to(q.dtype)
            o = torch.matmul(att, vr).transpose(1, 2).reshape(b, s, -1)
            h = h + torch.nn.functional.linear(o, self.p(L + "self_attn.o_proj.weight"))
            x = self.norm(h, self.p(L + "post_attention_layernorm.weight"))
            m = torch.nn.functional.silu(torch.nn.functional.linear(x, self.p(L + "mlp.gate_proj.weight"))) \
                * torch.nn.functional.linear(x, self.p(L + "mlp.up_proj.weight"))
            h = h + torch.nn.functional.linear(m, self.p(L + "mlp.down_proj.weight"))
        return torch.nn.functional.linear(self.norm(h, self.p("model.norm.weight")), self.p("lm_head.weight"))


def objective(model, ids, labels, harmful, method, vocab):
    """tasft's sft / emd loss (see the module text) on the logits of the whole batch."""
    logits = model(ids).float()
    z, y = logits[:, :-1], labels[:, 1:]
    safe = ids.shape[0] - harmful
    loss = torch.nn.functional.cross_entropy(z[:safe].reshape(-1, vocab), y[:safe].reshape(-1), ignore_index=-100)
    if method == "emd":
        ehat = torch.nn.functional.normalize(model.p("model.embed_tokens.weight").detach().float(), dim=-1)
        zh, yh = z[safe:].reshape(-1, vocab), y[safe:].reshape(-1)
        keep = yh != -100
        r = torch.softmax(zh[keep], -1) @ ehat - ehat[yh[keep]]
        loss = loss + 0.5 * -(r * r).sum() / harmful
    elif method != "sft":
        raise SystemExit(f"anchor: no method {method}")
    return loss


def train(model, cfg, reps, warmup, batch, length, method, dtype):
    vocab = cfg["vocab_size"]
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(3, vocab, (batch, length), generator=g)
    labels = ids.clone()
    labels[:, : length // 4] = -100
    harmful = max(1, batch // 8)
    params = list(model.parameters())
    # reduced precision: AdamW on float32 master copies, the parameters overwritten with the rounded result
    masters = [p.detach().float().clone().requires_grad_(True) for p in params] if dtype != torch.float32 else params
    opt = torch.optim.AdamW(masters, lr=1e-4, weight_decay=0.0)
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        t1 = time.perf_counter()
        loss = objective(model, ids, labels, harmful, method, vocab)
        loss.backward()
        if i == 0:
            print(f"loss {loss.item():.5f}")  # tasft's first loss, on the same batch
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        t3 = time.perf_counter()
        if masters is not params:
            for m, p in zip(masters, params):
                m.grad = p.grad.float()
        opt.step()
        if masters is not params:
            with torch.no_grad():
                for m, p in zip(masters, params):
                    p.copy_(m)
        t4 = time.perf_counter()
        if i >= warmup:
            print(f"rep {t4 - t0:.6f}")
            print(f"phases zero {t1 - t0:.6f} forward+backward {t2 - t1:.6f} clip {t3 - t2:.6f} adamw {t4 - t3:.6f}")
    for _ in range(reps):
        t0 = time.perf_counter()
        model(ids)
        print(f"forward {time.perf_counter() - t0:.6f}")


def main():
    mode, d, threads, reps, warmup, batch, length, extra = sys.argv[1:9]
    threads, reps, warmup, batch, length = map(int, (threads, reps, warmup, batch, length))
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{d}/config.json"))
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[
        extra if mode == "generate" else (sys.argv[9] if len(sys.argv) > 9 else "float32")]
    model = Llama(cfg, load_safetensors(f"{d}/model.safetensors"), dtype)
    vocab = cfg["vocab_size"]
    if mode == "train":
        train(model, cfg, reps, warmup, batch, length, extra, dtype)
    else:
        prompts = torch.tensor([[3 + (i * 7919 + j * 104729) % (vocab - 3) for j in range(16)] for i in range(batch)])
        with torch.no_grad():
            for i in range(warmup + reps):
                t0 = time.perf_counter()
                cache, ids, out = [], prompts, []
                for _ in range(length):
                    nxt = model(ids, cache)[:, -1].float().argmax(-1, keepdim=True)
                    out.append(nxt)
                    ids = nxt
                del cache
                if i >= warmup:
                    print(f"rep {time.perf_counter() - t0:.6f}")
        print("tokens " + " ".join(str(int(t)) for t in torch.cat(out, 1)[0, :16]))
    print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


if __name__ == "__main__":
    main()
