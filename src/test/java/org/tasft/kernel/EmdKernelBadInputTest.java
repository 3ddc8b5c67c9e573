package org.tasft.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tasft.kernel.EmdKernel.GradientMode;
import org.tasft.kernel.EmdKernel.Options;
import org.tasft.testing.RandomCase;

/**
 * Every malformed input is an {@link IllegalArgumentException} whose message names the argument, raised before any
 * native code could read out of bounds; the JVM survives and the next valid call works.
 */
class EmdKernelBadInputTest {
    private static final long ROWS = 6;
    private static final long VOCAB = 20;
    private static final long DIM = 4;

    private static final RandomCase GOOD = RandomCase.of(1, ROWS, VOCAB, DIM, 2.0, 0.2);

    private record Call(Tensor logits, Tensor unit, Tensor targets, Options options) {
        static Call good() {
            return new Call(GOOD.logits(), GOOD.unitEmbedding(), GOOD.targets(),
                    Options.defaults().gradient(GradientMode.NEW_TENSOR));
        }

        Call logits(Tensor t) {
            return new Call(t, unit, targets, options);
        }

        Call unit(Tensor t) {
            return new Call(logits, t, targets, options);
        }

        Call targets(Tensor t) {
            return new Call(logits, unit, t, options);
        }

        Call options(Options o) {
            return new Call(logits, unit, targets, o);
        }

        EmdKernel.Result run() {
            return EmdKernel.compute(logits, unit, targets, options);
        }
    }

    private static TensorOptions of(ScalarType type) {
        return new TensorOptions(type);
    }

    private static Tensor targetsWith(long value) {
        Tensor t = GOOD.targets().clone();
        t.narrow(0, 3, 1).fill_(new Scalar(value));
        return t;
    }

    private static Tensor meta(long[] shape, ScalarType type) {
        return torch.empty(shape, of(type).device(new DeviceOptional(new Device("meta"))), new MemoryFormatOptional());
    }

    static Stream<Arguments> badCalls() {
        Stream<Arguments> cases = Stream.of(
            bad("logits float64", "logits", c -> c.logits(c.logits().to(ScalarType.Double))),
            bad("logits int32", "logits", c -> c.logits(c.logits().to(ScalarType.Int))),
            bad("logits 1-D", "logits", c -> c.logits(c.logits().reshape(ROWS * VOCAB))),
            bad("logits 3-D", "logits", c -> c.logits(c.logits().reshape(2, ROWS / 2, VOCAB))),
            bad("logits transposed", "logits", c -> c.logits(c.logits().t().contiguous().t())),
            bad("logits column step 2", "logits",
                c -> c.logits(torch.randn(ROWS, 2 * VOCAB).slice(1, new org.bytedeco.pytorch.LongOptional(0),
                        new org.bytedeco.pytorch.LongOptional(2 * VOCAB), 2))),
            bad("logits rows overlap (expand)", "logits",
                c -> c.logits(c.logits().narrow(0, 0, 1).expand(ROWS, VOCAB))),
            bad("logits empty vocab", "logits", c -> c.logits(c.logits().narrow(1, 0, 0))),
            bad("logits on meta device", "logits", c -> c.logits(meta(new long[] {ROWS, VOCAB}, ScalarType.Float))),
            bad("embedding float64", "unitEmbedding", c -> c.unit(c.unit().to(ScalarType.Double))),
            bad("embedding 1-D", "unitEmbedding", c -> c.unit(c.unit().reshape(VOCAB * DIM))),
            bad("embedding transposed", "unitEmbedding", c -> c.unit(c.unit().t().contiguous().t())),
            bad("embedding vocab mismatch", "unitEmbedding", c -> c.unit(c.unit().narrow(0, 0, VOCAB - 1))),
            bad("embedding on another device", "unitEmbedding",
                c -> c.unit(meta(new long[] {VOCAB, DIM}, ScalarType.Float))),
            bad("targets int32", "targets", c -> c.targets(c.targets().to(ScalarType.Int))),
            bad("targets float", "targets", c -> c.targets(c.targets().to(ScalarType.Float))),
            bad("targets 2-D", "targets", c -> c.targets(c.targets().reshape(2, ROWS / 2))),
            bad("targets rows mismatch", "targets", c -> c.targets(c.targets().narrow(0, 0, ROWS - 1))),
            bad("targets non-contiguous", "targets",
                c -> c.targets(torch.zeros(new long[] {2 * ROWS}, of(ScalarType.Long)).slice(0,
                        new org.bytedeco.pytorch.LongOptional(0), new org.bytedeco.pytorch.LongOptional(2 * ROWS), 2))),
            bad("target == vocab", "targets", c -> c.targets(targetsWith(VOCAB))),
            bad("target -1", "targets", c -> c.targets(targetsWith(-1))),
            bad("target huge", "targets", c -> c.targets(targetsWith(Long.MAX_VALUE))),
            bad("target = ignore index of another convention", "targets",
                c -> c.targets(targetsWith(-100)).options(c.options().ignoreIndex(-1))),
            bad("targets on another device", "targets", c -> c.targets(meta(new long[] {ROWS}, ScalarType.Long))),
            bad("in place over a leaf that requires grad", "logits",
                c -> c.logits(c.logits().clone().requires_grad_(true))
                        .options(c.options().gradient(GradientMode.IN_PLACE))));
        return cases;
    }

    private static Arguments bad(String what, String argument, Function<Call, Call> mutation) {
        return Arguments.of(what, argument, mutation);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void isRejectedNamingTheArgument(String what, String argument, Function<Call, Call> mutation) {
        Call call = mutation.apply(Call.good());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run, what);
        assertTrue(e.getMessage().startsWith(argument + ":"), "message names " + argument + ": " + e.getMessage());
    }

    @Test
    void targetsAreNotTouchedWhenRejected() {
        Tensor bad = targetsWith(VOCAB + 3);
        assertThrows(IllegalArgumentException.class, () -> Call.good().targets(bad).run());
        assertEquals(VOCAB + 3, bad.select(0, 3).item_long());
    }

    @Test
    void badScalarsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Options.defaults().gradScale(Float.NaN));
        assertTrue(e.getMessage().startsWith("gradScale:"));
        assertThrows(NullPointerException.class, () -> EmdKernel.compute(null, GOOD.unitEmbedding(),
                GOOD.targets(), Options.defaults()));
        assertThrows(IllegalArgumentException.class, () -> EmdKernel.compute(new Tensor(), GOOD.unitEmbedding(),
                GOOD.targets(), Options.defaults()));
    }

    @Test
    void badVariantOptionsAreRejectedNamingTheOption() {
        for (String bad : new String[] {"sse4", "", "avx-512", null}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Options.defaults().cpuIsa(bad));
            assertTrue(e.getMessage().startsWith("cpuIsa: unknown instruction set '" + bad + "'"), e.getMessage());
        }
        for (String bad : new String[] {"v4", "v0", "tensor", "", "none", null}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Options.defaults().cudaKernel(bad));
            assertTrue(e.getMessage().startsWith("cudaKernel: unknown CUDA kernel '" + bad + "'"), e.getMessage());
            assertTrue(e.getMessage().endsWith("(auto, v1, v2 or v3)"), "the valid names: " + e.getMessage());
        }
        // Every name, in any case and with blanks around it; "default" is AUTO's former name.
        String[][] names = {{"auto", "AUTO"}, {"Auto", "AUTO"}, {"default", "AUTO"}, {" DEFAULT ", "AUTO"},
            {"v1", "V1"}, {"V1 ", "V1"}, {"v2", "V2"}, {"v3", "V3"}, {"V3", "V3"}};
        for (String[] n : names) {
            assertEquals(EmdKernel.CudaKernel.valueOf(n[1]), Options.defaults().cudaKernel(n[0]).cudaKernel(), n[0]);
        }
        for (EmdKernel.CudaKernel k : EmdKernel.CudaKernel.values()) {
            assertEquals(k, EmdKernel.CudaKernel.parse(k.id()), "id() parses back: " + k);
            assertEquals(k, EmdKernel.CudaKernel.ofCode(k.code()), "its tasft_cuda_kernel_id maps back: " + k);
        }
        assertEquals(List.of("auto", "v1", "v2", "v3"),
                Arrays.stream(EmdKernel.CudaKernel.values()).map(EmdKernel.CudaKernel::id).toList());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Options.defaults().cpuIsa((EmdKernel.CpuIsa) null)).getMessage().startsWith("cpuIsa:"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Options.defaults().cudaKernel((EmdKernel.CudaKernel) null)).getMessage()
                .startsWith("cudaKernel:"));
        assertEquals(EmdKernel.CpuIsa.AVX2, Options.defaults().cpuIsa("AVX2").cpuIsa(), "names in any case");
        assertEquals(EmdKernel.CudaKernel.AUTO, Options.defaults().cudaKernel(), "the default");
        // Options keep every other setting when a variant is chosen.
        Options o = Options.defaults().gradScale(0.5f).cpuIsa("generic").ignoreIndex(7).cudaKernel("v1");
        assertEquals(0.5f, o.gradScale());
        assertEquals(7, o.ignoreIndex());
        assertEquals(EmdKernel.CpuIsa.GENERIC, o.cpuIsa());
        assertEquals(EmdKernel.CudaKernel.V1, o.cudaKernel());
    }

    @Test
    void unitEmbeddingRejectsBadInputs() {
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> EmdKernel.unitEmbedding(torch.randn(VOCAB))).getMessage().startsWith("embedding:"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> EmdKernel.unitEmbedding(torch.zeros(new long[] {3, 4}, of(ScalarType.Long))))
                .getMessage().startsWith("embedding:"));
    }

    /** After each rejection, a valid call still works and gives the usual answer. */
    @AfterEach
    void jvmAndKernelStillWork() {
        EmdKernel.Result r = Call.good().run();
        Tensor again = EmdKernel.lossRows(GOOD.logits(), GOOD.unitEmbedding(), GOOD.targets(), RandomCase.IGNORE);
        assertEquals(ROWS, r.lossRows().numel());
        assertTrue(torch.equal(r.lossRows(), again));
    }
}
