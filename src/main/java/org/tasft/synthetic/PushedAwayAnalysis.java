package org.tasft.synthetic;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.tasft.data.Batch;
import org.tasft.data.Collator;
import org.tasft.data.EncodedExample;
import org.tasft.data.Example;
import org.tasft.data.ExampleEncoder;
import org.tasft.kernel.EmdKernel;
import org.tasft.model.CausalLm;
import org.tasft.model.HostTensors;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

/**
 * Where a model puts its probability on the tokens of a harmful answer: the base model's compliant answers to the
 * held-out harmful prompts, teacher-forced, and at each of their tokens y the model's next-token distribution p. It
 * measures what TA-SFT's term pushes on: the distance {@code d = ||ehat_y - u||^2} with {@code u = sum_v p_v ehat_v}
 * (the unit input embedding, as the loss uses), the probability of y, the cosine between ehat_y and the most likely
 * token's embedding and between ehat_y and u, and which tokens are most often the most likely. A distribution pushed
 * to the far side of the embedding space (cosines near -1) is one that can only be filled with tokens unrelated to
 * any answer, which is what degenerate text is made of.
 *
 * @param tokens              the harmful answers' tokens measured
 * @param meanDistance        mean d (0: all mass on y; 4: u at -ehat_y)
 * @param meanTargetProb      mean p_y
 * @param meanCosTopToTarget  mean cosine between ehat_y and the embedding of the argmax token
 * @param meanCosExpected     mean cosine between ehat_y and u (0 when u = 0)
 * @param topTokens           the most frequent argmax tokens, "token share" (share of the measured tokens)
 */
public record PushedAwayAnalysis(long tokens, double meanDistance, double meanTargetProb, double meanCosTopToTarget,
                                 double meanCosExpected, List<String> topTokens) {
    private static final int BATCH = 32;

    /** Measures {@code model} on {@code harmful} (harmful prompts with the answers to push away from). */
    public static PushedAwayAnalysis measure(CausalLm model, Tokenizer tokenizer, List<Example> harmful) {
        if (harmful.isEmpty()) {
            throw new IllegalArgumentException("no answers to measure");
        }
        model.module().train(false);
        List<Integer> eos = model.config().eosTokenIds();
        if (eos.isEmpty()) {
            throw new IllegalArgumentException("the model's config.json names no eos_token_id");
        }
        // the answers as trained: the Alpaca template, EOS after the answer (config.json's, as the trainer's folder)
        ExampleEncoder encoder = new ExampleEncoder(tokenizer, PromptTemplate.ALPACA,
                model.config().maxPositionEmbeddings(), eos.get(0));
        Collator collator = new Collator(eos.get(0)); // padding is masked out and ignored: any id will do
        double sumD = 0;
        double sumP = 0;
        double sumCosTop = 0;
        double sumCosU = 0;
        long n = 0;
        Map<Long, Long> argmax = new HashMap<>();
        try (PointerScope outer = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            Tensor ehat = EmdKernel.unitEmbedding(model.inputEmbeddingWeight()).to(torch.ScalarType.Float);
            for (int i = 0; i < harmful.size(); i += BATCH) {
                try (PointerScope scope = new PointerScope()) {
                    List<EncodedExample> enc = encoder.encodeAll(
                            harmful.subList(i, Math.min(harmful.size(), i + BATCH)));
                    Batch b = collator.collate(enc);
                    Device device = model.inputEmbeddingWeight().device();
                    Tensor logits = model.forward(b.inputIds().to(device, torch.ScalarType.Long),
                            b.attentionMask().to(device, torch.ScalarType.Long), null).to(torch.ScalarType.Float);
                    long v = logits.size(2);
                    Tensor targets = Batch.nextTokenTargets(b.labels()).to(device, torch.ScalarType.Long);
                    Tensor flatTargets = targets.view(-1);
                    Tensor keep = flatTargets.ne(new Scalar(Batch.IGNORE_INDEX)).nonzero().view(-1);
                    if (keep.numel() == 0) {
                        continue;
                    }
                    Tensor z = logits.view(-1, v).index_select(0, keep);
                    Tensor y = flatTargets.index_select(0, keep);
                    Tensor p = torch.softmax(z, -1);
                    Tensor u = p.mm(ehat);
                    Tensor ey = ehat.index_select(0, y);
                    Tensor d = rowSum(ey.sub(u).pow(new Scalar(2)));
                    Tensor py = p.gather(1, y.view(-1, 1)).view(-1);
                    Tensor top = p.argmax(new LongOptional(1), false);
                    Tensor cosTop = rowSum(ehat.index_select(0, top).mul(ey));
                    Tensor uNorm = u.norm(new ScalarOptional(new Scalar(2)), new long[] {1}, false)
                            .clamp_min(new Scalar(1e-12));
                    Tensor cosU = rowSum(u.mul(ey)).div(uNorm);
                    float[] dh = HostTensors.floats(d);
                    float[] ph = HostTensors.floats(py);
                    float[] ct = HostTensors.floats(cosTop);
                    float[] cu = HostTensors.floats(cosU);
                    long[] th = new long[(int) top.numel()];
                    top.contiguous().data_ptr_long().get(th);
                    for (int k = 0; k < dh.length; k++) {
                        sumD += dh[k];
                        sumP += ph[k];
                        sumCosTop += ct[k];
                        sumCosU += cu[k];
                        argmax.merge(th[k], 1L, Long::sum);
                    }
                    n += dh.length;
                }
            }
        }
        if (n == 0) {
            throw new IllegalArgumentException("no answer tokens to measure");
        }
        long total = n;
        List<String> top = new ArrayList<>();
        argmax.entrySet().stream().sorted(Map.Entry.<Long, Long>comparingByValue(Comparator.reverseOrder())
                        .thenComparing(Map.Entry.comparingByKey())).limit(5)
                .forEach(e -> top.add(String.format(Locale.ROOT, "%s %.2f",
                        quote(tokenizer.decode(new long[] {e.getKey()}, false)), e.getValue() / (double) total)));
        return new PushedAwayAnalysis(n, sumD / n, sumP / n, sumCosTop / n, sumCosU / n, top);
    }

    /** The base model's would-be compliant answers to the held-out harmful prompts (one per prompt, seeded). */
    public static List<Example> heldOutHarmfulAnswers(SyntheticCorpus corpus, int limit) {
        SplittableRandom r = new SplittableRandom(corpus.seed());
        List<Example> out = new ArrayList<>();
        for (HarmfulRequest q : corpus.evalHarmful().subList(0, Math.min(limit, corpus.evalHarmful().size()))) {
            out.add(Example.harmful(q.prompt(), "", SyntheticCorpus.compliantResponse(r, q)));
        }
        return out;
    }

    private static Tensor rowSum(Tensor t) {
        return t.sum(new long[] {1}, false, new ScalarTypeOptional());
    }

    private static String quote(String token) {
        return "'" + token.replace("\n", "\\n").replace("'", "\\'") + "'";
    }
}
