package org.tasft.train;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * AdamW written in Java on LibTorch tensors, so that its state (per parameter {@code exp_avg}, {@code exp_avg_sq},
 * and the step count) is ours to save and restore by parameter name. Exactly {@code torch.optim.AdamW}'s update
 * (amsgrad off, non-fused), per parameter with gradient g at step t = step + 1:
 * <pre>
 *   p      *= 1 - lr * weight_decay                   (decoupled weight decay)
 *   m       = beta1 m + (1 - beta1) g
 *   v       = beta2 v + (1 - beta2) g^2
 *   p      -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * </pre>
 * Parameters whose gradient is undefined are skipped (their state is not advanced), as in torch.
 *
 * <p><b>Reduced-precision parameters</b> (bfloat16, float16): the update runs on a float32 master copy of the
 * parameter, with float32 {@code exp_avg}/{@code exp_avg_sq}; the gradient is widened for the update and the
 * parameter is then overwritten with the rounded master (mixed-precision training as apex/DeepSpeed do it: a bf16
 * weight alone would lose every update smaller than its 3 significant digits). Checkpoints hold the parameter
 * (bf16) and the float32 state; a resumed run rebuilds the master from the bf16 weights.
 */
public final class JavaAdamW {
    public static final double BETA1 = 0.9;
    public static final double BETA2 = 0.999;
    public static final double EPS = 1e-8;

    private final Map<String, Tensor> params;
    private final double weightDecay;
    private final Map<String, Tensor> expAvg = new LinkedHashMap<>();
    private final Map<String, Tensor> expAvgSq = new LinkedHashMap<>();
    private final Map<String, Long> steps = new LinkedHashMap<>();
    /** float32 master copies of the reduced-precision parameters (none for float32 ones). */
    private final Map<String, Tensor> masters = new LinkedHashMap<>();

    /** @param params the trainable parameters by name (the tensors themselves, updated in place) */
    public JavaAdamW(Map<String, Tensor> params, double weightDecay) {
        this.params = new LinkedHashMap<>(Objects.requireNonNull(params, "params"));
        this.weightDecay = weightDecay;
        // State is created up front (not lazily inside a step) so that it never belongs to a step's PointerScope.
        for (Map.Entry<String, Tensor> e : this.params.entrySet()) {
            try (NoGradGuard guard = new NoGradGuard()) {
                Tensor p = e.getValue();
                Tensor master = p;
                if (isReduced(p)) {
                    master = p.detach().to(ScalarType.Float, false, true, new MemoryFormatOptional());
                    masters.put(e.getKey(), master);
                }
                expAvg.put(e.getKey(), torch.zeros_like(master));
                expAvgSq.put(e.getKey(), torch.zeros_like(master));
            }
            steps.put(e.getKey(), 0L);
        }
    }

    public Map<String, Tensor> params() {
        return params;
    }

    /** The float32 master copy the update runs on for a reduced-precision parameter, or null for a float32 one. */
    public Tensor master(String name) {
        return masters.get(name);
    }

    private static boolean isReduced(Tensor p) {
        ScalarType t = p.scalar_type().intern();
        return t == ScalarType.BFloat16 || t == ScalarType.Half;
    }

    /** One update with learning rate {@code lr}. */
    public void step(double lr) {
        try (NoGradGuard guard = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                Tensor param = e.getValue();
                Tensor g = param.grad();
                if (g == null || !g.defined()) {
                    continue;
                }
                String name = e.getKey();
                Tensor master = masters.get(name);
                Tensor p = master == null ? param : master;
                if (master != null) {
                    g = g.to(ScalarType.Float);
                }
                Tensor m = expAvg.get(name);
                Tensor v = expAvgSq.get(name);
                long t = steps.merge(name, 1L, Long::sum);
                if (weightDecay != 0) {
                    p.mul_(new Scalar(1.0 - lr * weightDecay));
                }
                m.mul_(new Scalar(BETA1)).add_(g, new Scalar(1.0 - BETA1));
                v.mul_(new Scalar(BETA2)).addcmul_(g, g, new Scalar(1.0 - BETA2));
                double bc1 = 1.0 - Math.pow(BETA1, t);
                double bc2 = 1.0 - Math.pow(BETA2, t);
                Tensor denom = v.sqrt().div_(new Scalar(Math.sqrt(bc2))).add_(new Scalar(EPS));
                p.addcdiv_(m, denom, new Scalar(-lr / bc1));
                if (master != null) {
                    param.copy_(master);
                }
            }
        }
    }

    /** Zeroes every defined gradient (gradients accumulate across backward passes until this is called). */
    public void zeroGrad() {
        for (Tensor p : params.values()) {
            Tensor g = p.grad();
            if (g != null && g.defined()) {
                p.grad().zero_();
            }
        }
    }

    /** The state tensors, named {@code <param>.exp_avg} and {@code <param>.exp_avg_sq}. */
    public Map<String, Tensor> stateTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : expAvg.keySet()) {
            out.put(name + ".exp_avg", expAvg.get(name));
            out.put(name + ".exp_avg_sq", expAvgSq.get(name));
        }
        return out;
    }

    /** The step count of each parameter that has state. */
    public Map<String, Long> stateSteps() {
        return new LinkedHashMap<>(steps);
    }

    /** Replaces the state with a saved one (tensors copied into fresh ones of each parameter's dtype). */
    public void loadState(Map<String, Tensor> tensors, Map<String, Long> savedSteps) {
        for (Map.Entry<String, Long> e : savedSteps.entrySet()) {
            String name = e.getKey();
            Tensor p = params.get(name);
            if (p == null) {
                throw new IllegalArgumentException("optimizer state: no parameter named " + name);
            }
            Tensor m = tensors.get(name + ".exp_avg");
            Tensor v = tensors.get(name + ".exp_avg_sq");
            if (m == null || v == null) {
                throw new IllegalArgumentException("optimizer state: " + name + " lacks exp_avg or exp_avg_sq");
            }
            try (NoGradGuard guard = new NoGradGuard()) {
                expAvg.get(name).copy_(m);
                expAvgSq.get(name).copy_(v);
            }
            steps.put(name, e.getValue());
        }
    }
}
