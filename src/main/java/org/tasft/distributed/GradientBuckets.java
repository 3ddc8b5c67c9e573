package org.tasft.distributed;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * Gradient buckets for an all-reduce after the backward pass, as PyTorch DDP lays them out: parameters in REVERSE
 * registration order (roughly the order the backward pass finishes them), grouped by dtype and device, cut into
 * buckets of about {@code capBytes} (a parameter larger than the cap gets a bucket of its own). Each bucket owns one
 * flat buffer, allocated once: per step the gradients are copied in, the bucket is all-reduced (summed), divided by
 * the number of ranks and copied back. Few large messages instead of one per parameter: the per-message latency of a
 * ring all-reduce (2(W-1) hops) is paid once per bucket.
 */
final class GradientBuckets {
    /** One bucket: its parameters, their offsets in the flat buffer, the buffer. */
    record Bucket(List<String> names, int[] indices, List<Tensor> params, long[] offsets, Tensor flat) {
        long bytes() {
            return flat.numel() * flat.element_size();
        }
    }

    private final List<Bucket> buckets = new ArrayList<>();
    private final List<Tensor> params;
    private final Tensor defined;

    GradientBuckets(Map<String, Tensor> named, long capBytes) {
        List<String> names = new ArrayList<>(named.keySet());
        this.params = new ArrayList<>(named.values());
        for (int[] indices : assign(params, capBytes)) {
            buckets.add(bucket(indices, names));
        }
        Tensor first = params.isEmpty() ? torch.zeros(0) : params.get(0);
        this.defined = torch.zeros(new long[] {params.size()}, new TensorOptions(torch.ScalarType.Float))
                .to(first.device(), torch.ScalarType.Float);
    }

    /**
     * The bucket layout: parameter indices in reverse order, grouped by (dtype, device), cut where a bucket would
     * pass {@code capBytes}.
     */
    static List<int[]> assign(List<Tensor> params, long capBytes) {
        Map<String, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = params.size() - 1; i >= 0; i--) {
            Tensor p = params.get(i);
            String key = p.scalar_type().intern() + "@" + p.device().str().getString();
            groups.computeIfAbsent(key, k -> new ArrayList<>()).add(i);
        }
        List<int[]> out = new ArrayList<>();
        for (List<Integer> group : groups.values()) {
            List<Integer> current = new ArrayList<>();
            long bytes = 0;
            for (int i : group) {
                Tensor p = params.get(i);
                long b = p.numel() * p.element_size();
                if (!current.isEmpty() && bytes + b > capBytes) {
                    out.add(current.stream().mapToInt(Integer::intValue).toArray());
                    current = new ArrayList<>();
                    bytes = 0;
                }
                current.add(i);
                bytes += b;
            }
            if (!current.isEmpty()) {
                out.add(current.stream().mapToInt(Integer::intValue).toArray());
            }
        }
        return out;
    }

    private Bucket bucket(int[] indices, List<String> allNames) {
        List<String> names = new ArrayList<>();
        List<Tensor> ps = new ArrayList<>();
        long[] offsets = new long[indices.length + 1];
        for (int j = 0; j < indices.length; j++) {
            Tensor p = params.get(indices[j]);
            names.add(allNames.get(indices[j]));
            ps.add(p);
            offsets[j + 1] = offsets[j] + p.numel();
        }
        Tensor p0 = ps.get(0);
        Tensor flat = torch.empty(new long[] {offsets[indices.length]}, new TensorOptions(p0.scalar_type()),
                new MemoryFormatOptional()).to(p0.device(), p0.scalar_type());
        return new Bucket(List.copyOf(names), indices, List.copyOf(ps), offsets, flat);
    }

    List<Bucket> buckets() {
        return buckets;
    }

    /** Flags (1 = this rank has a gradient) per parameter, in registration order: all-reduce before the buckets. */
    Tensor definedFlags() {
        try (NoGradGuard g = new NoGradGuard()) {
            for (int i = 0; i < params.size(); i++) {
                Tensor grad = params.get(i).grad();
                defined.get(i).fill_(new Scalar(grad != null && grad.defined() ? 1.0 : 0.0));
            }
        }
        return defined;
    }

    /** Copies every gradient into its bucket (zeros where this rank has none). */
    void pack() {
        try (NoGradGuard g = new NoGradGuard()) {
            for (Bucket b : buckets) {
                for (int j = 0; j < b.params().size(); j++) {
                    Tensor slot = b.flat().narrow(0, b.offsets()[j], b.offsets()[j + 1] - b.offsets()[j]);
                    Tensor grad = b.params().get(j).grad();
                    if (grad != null && grad.defined()) {
                        slot.view_as(grad).copy_(grad);
                    } else {
                        slot.zero_();
                    }
                }
            }
        }
    }

    /**
     * Divides the reduced buckets by {@code worldSize} and copies them back into the gradients; {@code anyDefined}
     * (the all-reduced {@link #definedFlags()}) says which parameters had a gradient on some rank: those without
     * stay without, the others get one where they had none.
     */
    void unpack(int worldSize, Tensor anyDefined) {
        try (NoGradGuard g = new NoGradGuard()) {
            float[] flags = new float[params.size()];
            anyDefined.cpu().to(torch.ScalarType.Float).contiguous().data_ptr_float().get(flags);
            for (Bucket b : buckets) {
                b.flat().div_(new Scalar((double) worldSize));
                for (int j = 0; j < b.params().size(); j++) {
                    Tensor p = b.params().get(j);
                    if (flags[b.indices()[j]] == 0f) {
                        continue;
                    }
                    Tensor slot = b.flat().narrow(0, b.offsets()[j], b.offsets()[j + 1] - b.offsets()[j]);
                    Tensor grad = p.grad();
                    if (grad == null || !grad.defined()) {
                        p.mutable_grad().put(torch.zeros_like(p));
                        grad = p.grad();
                    }
                    grad.copy_(slot.view_as(grad));
                }
            }
        }
    }

    /** Runs {@code action} for each bucket's flat buffer (the caller all-reduces them). */
    void forEachBuffer(Consumer<Tensor> action) {
        for (Bucket b : buckets) {
            action.accept(b.flat());
        }
    }

    long totalBytes() {
        long n = 0;
        for (Bucket b : buckets) {
            n += b.bytes();
        }
        return n;
    }
}
