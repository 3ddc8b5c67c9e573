package org.tasft.bench;

import java.util.concurrent.TimeUnit;

import org.bytedeco.pytorch.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.tasft.kernel.EmdKernel;
import org.tasft.loss.NaiveEmdLoss;

/**
 * Forward + backward of the EMD bound in fp32 on the CPU: the fused kernel (gradient written in place over the
 * logits, as the trainer uses it) against the same math in LibTorch ops with autograd ({@link NaiveEmdLoss}:
 * softmax, matmul, squared norm, backward into logits.grad).
 *
 * <p>Each invocation starts from a fresh copy of the logits (copied in an untimed per-invocation setup), so both
 * methods always see the same values.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class EmdKernelBenchmark {
    @org.openjdk.jmh.annotations.Param({"512"})
    public int rows;
    @org.openjdk.jmh.annotations.Param({"32000"})
    public int vocab;
    @org.openjdk.jmh.annotations.Param({"64", "256"})
    public int dim;

    private EmdInputs in;
    private Tensor work;       // logits the fused kernel overwrites with the gradient
    private Tensor leaf;       // logits the naive version differentiates
    private final EmdKernel.Options fusedOptions = EmdKernel.Options.defaults()
            .gradient(EmdKernel.GradientMode.IN_PLACE);

    @Setup(Level.Trial)
    public void setUp() {
        in = new EmdInputs(rows, vocab, dim, 42);
        work = in.logits.clone();
        leaf = in.logits.clone().requires_grad_(true);
    }

    @Setup(Level.Invocation)
    public void freshLogits() {
        work.copy_(in.logits);
        leaf.mutable_grad().reset();  // no accumulation into a previous gradient
    }

    @Benchmark
    public Object fused() {
        return EmdKernel.compute(work, in.unitEmbedding, in.targets, fusedOptions);
    }

    @Benchmark
    public Object naive() {
        Tensor loss = NaiveEmdLoss.lossRows(leaf, in.unitEmbedding, in.targets, EmdKernel.DEFAULT_IGNORE_INDEX).sum();
        loss.backward();
        return leaf.grad();
    }
}
