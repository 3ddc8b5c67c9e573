package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.function.Executable;

/** Helpers of the checkpoint tests: fixtures, seeded tensors, hand-made safetensors files, folder snapshots. */
final class CheckpointTesting {
    private CheckpointTesting() {
    }

    /** A folder or file under src/test/resources/fixtures, e.g. {@code tiny-llama/model.safetensors}. */
    static Path fixture(String relative) {
        URL url = CheckpointTesting.class.getResource("/fixtures/" + relative);
        if (url == null) {
            throw new IllegalArgumentException("no fixture " + relative);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Tensor randn(long seed, long... shape) {
        torch.manual_seed(seed);
        return torch.randn(shape, new TensorOptions(ScalarType.Float));
    }

    /** A small state dict of odd shapes, in a fixed order. */
    static LinkedHashMap<String, Tensor> smallStateDict(long seed) {
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", randn(seed, 11, 8));
        m.put("model.layers.0.self_attn.q_proj.weight", randn(seed + 1, 8, 8));
        m.put("model.layers.0.mlp.up_proj.weight", randn(seed + 2, 5, 8));
        m.put("model.layers.0.input_layernorm.weight", randn(seed + 3, 8));
        m.put("model.norm.weight", randn(seed + 4, 8));
        m.put("lm_head.weight", randn(seed + 5, 11, 8));
        return m;
    }

    static void assertSameValues(Tensor expected, Tensor actual, String what) {
        assertArrayEquals(shape(expected), shape(actual), what + ": shape");
        float[] a = floats(expected);
        float[] b = floats(actual);
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToIntBits(a[i]) != Float.floatToIntBits(b[i])) {
                throw new AssertionError(what + ": element " + i + " is " + b[i] + ", expected " + a[i]);
            }
        }
    }

    static float[] floats(Tensor t) {
        Tensor c = t.detach().to(ScalarType.Float).contiguous();
        float[] out = new float[Math.toIntExact(c.numel())];
        if (out.length > 0) {
            c.data_ptr_float().get(out);
        }
        return out;
    }

    static long[] shape(Tensor t) {
        long[] s = new long[(int) t.dim()];
        for (int i = 0; i < s.length; i++) {
            s[i] = t.size(i);
        }
        return s;
    }

    /** A safetensors file made by hand: the header text as given (no padding), then {@code dataBytes} bytes. */
    static Path craft(Path file, String header, long dataBytes) {
        return craft(file, header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    /** As {@link #craft(Path, String, long)} with a header length field that may lie. */
    static Path craft(Path file, long declaredHeaderLength, String header, long dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(8 + h.length + dataBytes)).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredHeaderLength).put(h);
        for (int i = 0; i < dataBytes; i++) {
            b.put((byte) i);
        }
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** Every file under a folder (relative name -> bytes), to check that a folder is exactly as it was. */
    static Map<String, byte[]> snapshot(Path dir) {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) {
                    files.put(dir.relativize(p).toString(), Files.readAllBytes(p));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }

    static void assertSameFiles(Map<String, byte[]> expected, Map<String, byte[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what + ": file names");
        for (String f : expected.keySet()) {
            assertTrue(Arrays.equals(expected.get(f), actual.get(f)), what + ": " + f + " differs");
        }
    }

    /** Asserts a CheckpointException whose message contains every fragment; returns the message. */
    static String assertCheckpointError(Executable call, String... fragments) {
        CheckpointException e = assertThrows(CheckpointException.class, call);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message \"" + e.getMessage() + "\" lacks \"" + f + "\"");
        }
        return e.getMessage();
    }
}
