package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.tasft.data.Batch;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;

/** The tiny-llama fixture, batches for it, and the naive (LibTorch autograd) versions of the losses. */
final class TrainTesting {
    static final long IGNORE = Batch.IGNORE_INDEX;
    static final List<String> PARAMS = List.of("lm_head.weight", "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight");
    static final long VOCAB = 384;
    static final long PAD = 2; // tiny-llama's pad_token_id; its input-embedding row is all zeros

    private TrainTesting() {
    }

    static Path fixture(String name) {
        try {
            return Path.of(TrainTesting.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A fresh tiny-llama (gradients undefined). */
    static CausalLm model() {
        return Models.load(fixture("tiny-llama"));
    }

    /**
     * A batch of 4 sequences of 10 tokens: prompts of 3 tokens (labels -100), responses after; sequence 3 is
     * right-padded over its last 2 tokens (mask 0, labels -100); one harmful target is the pad id (zero embedding
     * row).
     */
    static Batch batch(long seed, boolean[] harmful) {
        torch.manual_seed(seed);
        long b = harmful.length, t = 10;
        TensorOptions i64 = new TensorOptions(ScalarType.Long);
        Tensor ids = torch.randint(3, VOCAB, new long[] {b, t}, i64);
        Tensor mask = torch.ones(new long[] {b, t}, i64);
        Tensor labels = ids.clone();
        labels.narrow(1, 0, 3).fill_(new Scalar(IGNORE));
        if (b > 3) {
            ids.select(0, 3).narrow(0, t - 2, 2).fill_(new Scalar(PAD));
            mask.select(0, 3).narrow(0, t - 2, 2).fill_(new Scalar(0L));
            labels.select(0, 3).narrow(0, t - 2, 2).fill_(new Scalar(IGNORE));
        }
        for (int i = 0; i < b; i++) {
            if (harmful[i]) {
                ids.select(0, i).select(0, 5).fill_(new Scalar(PAD));
                labels.select(0, i).select(0, 5).fill_(new Scalar(PAD));
                break;
            }
        }
        return new Batch(ids, labels, mask, harmful.clone());
    }

    static Map<String, Tensor> params(CausalLm model) {
        return model.stateDict();
    }

    /** Clones of the gradients of {@link #PARAMS}. */
    static Map<String, Tensor> grads(CausalLm model) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        Map<String, Tensor> p = model.stateDict();
        for (String name : PARAMS) {
            Tensor g = p.get(name).grad();
            assertTrue(g.defined(), name + ": no gradient");
            out.put(name, g.clone());
        }
        return out;
    }

    /** ||a - b|| / ||b||. */
    static double relativeError(Tensor a, Tensor b) {
        Tensor bd = b.to(ScalarType.Double);
        return a.to(ScalarType.Double).sub(bd).norm().item_double() / bd.norm().item_double();
    }

    static void assertGradsClose(Map<String, Tensor> actual, Map<String, Tensor> expected, double tol, String what) {
        for (String name : expected.keySet()) {
            double err = relativeError(actual.get(name), expected.get(name));
            assertTrue(err <= tol, what + ": " + name + " gradient relative error " + err + " > " + tol);
            assertTrue(torch.isfinite(actual.get(name)).all().item_bool(), what + ": " + name + " not finite");
        }
    }

    /** Naive pieces on the shifted logits (logits[:, :-1] vs labels[:, 1:], the other way of shifting). */
    record Naive(Tensor logits, Tensor targets, boolean[] harmful) {
        static Naive of(CausalLm model, Batch batch) {
            Tensor logits = model.forward(batch.inputIds(), batch.attentionMask(), null);
            long t = logits.size(1);
            return new Naive(logits.narrow(1, 0, t - 1), batch.labels().narrow(1, 1, t - 1).contiguous(),
                    batch.harmful());
        }

        Tensor index(boolean harmfulSide) {
            long[] idx = java.util.stream.IntStream.range(0, harmful.length).filter(i -> harmful[i] == harmfulSide)
                    .asLongStream().toArray();
            Tensor t = torch.empty(new long[] {idx.length}, new TensorOptions(ScalarType.Long),
                    new org.bytedeco.pytorch.MemoryFormatOptional());
            if (idx.length > 0) {
                t.data_ptr_long().put(idx);
            }
            return t;
        }

        /** [n, V] logits rows of one side (a copy). */
        Tensor rows(boolean harmfulSide) {
            Tensor l = logits.index_select(0, index(harmfulSide));
            return l.reshape(-1, l.size(2));
        }

        Tensor targets(boolean harmfulSide) {
            return targets.index_select(0, index(harmfulSide)).reshape(-1);
        }

        Tensor mask(boolean harmfulSide) {
            return targets(harmfulSide).ne(new Scalar(IGNORE));
        }

        long tokens(boolean harmfulSide) {
            return mask(harmfulSide).sum().item_long();
        }

        /** Mean CE over safe targets (cross_entropy's own ignore_index handling). */
        Tensor sft() {
            return torch.cross_entropy(rows(false), targets(false));
        }

        /** log p(target) per row of one side, 0 at ignored rows (float64). */
        Tensor logp(boolean harmfulSide) {
            Tensor t = targets(harmfulSide);
            Tensor m = mask(harmfulSide);
            Tensor safeT = t.masked_fill(m.logical_not(), new Scalar(0L));
            Tensor lp = rows(harmfulSide).to(ScalarType.Double).log_softmax(1).gather(1, safeT.unsqueeze(1))
                    .squeeze(1);
            return lp.masked_fill(m.logical_not(), new Scalar(0.0));
        }

        /** Sum of log p per sequence [B] (float64). */
        Tensor sequenceLogp() {
            Tensor m = targets.ne(new Scalar(IGNORE));
            Tensor safeT = targets.masked_fill(m.logical_not(), new Scalar(0L));
            Tensor lp = logits.to(ScalarType.Double).log_softmax(2).gather(2, safeT.unsqueeze(2)).squeeze(2);
            return lp.masked_fill(m.logical_not(), new Scalar(0.0)).sum(1);
        }
    }

    /** e / max(||e||, 1e-12), detached, written independently of EmdKernel.unitEmbedding. */
    static Tensor unit(Tensor w) {
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor n = w.detach().norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {1}, true);
            return w.detach().div(n.clamp_min(new Scalar(1e-12))).contiguous();
        }
    }

    static Tensor nllNone(Tensor logits, Tensor targets) {
        return torch.nll_loss(torch.log_softmax(logits, 1), targets, new TensorOptional(), 0, IGNORE);
    }
}
