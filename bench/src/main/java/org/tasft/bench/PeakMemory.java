package org.tasft.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import org.bytedeco.pytorch.Tensor;
import org.tasft.kernel.EmdKernel;
import org.tasft.loss.NaiveEmdLoss;

/**
 * Extra memory of one forward + backward: the growth of the process's peak resident set over its resident set just
 * before the call, in a JVM of its own (run-jmh.sh starts one per method and shape). A warm-up call on a small
 * problem first loads the code and starts the threads the real call uses, without leaving buffers of the real
 * size in the allocator's caches (a full-size warm-up would let the measured call reuse them and hide its
 * temporaries); then the peak is reset through /proc/self/clear_refs.
 *
 * <p>Usage: {@code PeakMemory fused|naive rows vocab dim}; prints one JSON object.
 */
public final class PeakMemory {
    public static void main(String[] args) throws IOException {
        if (args.length != 4 || !(args[0].equals("fused") || args[0].equals("naive"))) {
            System.err.println("usage: PeakMemory fused|naive rows vocab dim");
            System.exit(2);
        }
        String method = args[0];
        int rows = Integer.parseInt(args[1]), vocab = Integer.parseInt(args[2]), dim = Integer.parseInt(args[3]);
        EmdInputs small = new EmdInputs(16, 1000, dim, 7);
        Object keep = run(method, small, small.logits.clone(), small.logits.clone().requires_grad_(true));
        keep = null;
        EmdInputs in = new EmdInputs(rows, vocab, dim, 42);
        Tensor work = in.logits.clone();
        Tensor leaf = in.logits.clone().requires_grad_(true);
        System.gc();
        Files.writeString(Path.of("/proc/self/clear_refs"), "5");  // resets VmHWM to the current VmRSS
        long before = status("VmHWM");
        keep = run(method, in, work, leaf);
        // The peak cannot fall below the reset value, so the growth is >= 0; 0 means no page beyond what the
        // process already held (a workspace served from the allocator's free lists).
        // The kernel's resident-set counters are per-thread caches synced lazily, so a few hundred KiB of
        // jitter either way is accounting noise; below zero reads as zero.
        long peak = Math.max(before, status("VmHWM"));
        long logitsBytes = (long) rows * vocab * 4;
        System.out.printf(Locale.ROOT,
                "{\"method\": \"%s\", \"rows\": %d, \"vocab\": %d, \"dim\": %d, \"extra_peak_bytes\": %d, "
                        + "\"extra_peak_mib\": %.1f, \"logits_mib\": %.1f}%n",
                method, rows, vocab, dim, (peak - before) * 1024, (peak - before) / 1024.0, logitsBytes / 1048576.0);
        if (keep == null) {
            System.exit(1);
        }
    }

    private static Object run(String method, EmdInputs in, Tensor work, Tensor leaf) {
        if (method.equals("fused")) {
            return EmdKernel.compute(work, in.unitEmbedding, in.targets,
                    EmdKernel.Options.defaults().gradient(EmdKernel.GradientMode.IN_PLACE));
        }
        Tensor loss = NaiveEmdLoss.lossRows(leaf, in.unitEmbedding, in.targets, EmdKernel.DEFAULT_IGNORE_INDEX).sum();
        loss.backward();
        return leaf.grad();
    }

    /** A "kB" field of /proc/self/status. */
    private static long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException(field + " not found in /proc/self/status");
    }
}
