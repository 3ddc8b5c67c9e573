package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.checkpoint.CheckpointTesting.assertSameValues;
import static org.tasft.checkpoint.CheckpointTesting.craft;
import static org.tasft.checkpoint.CheckpointTesting.fixture;
import static org.tasft.checkpoint.CheckpointTesting.floats;
import static org.tasft.checkpoint.CheckpointTesting.randn;
import static org.tasft.checkpoint.CheckpointTesting.shape;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Writing and reading back: values, dtypes, layouts and the exact bytes of the format. */
class SafetensorsRoundTripTest {
    @TempDir
    Path dir;

    /** Awkward inputs: a transposed view, a leaf that requires grad, a scalar, an empty tensor, a 3-d tensor. */
    private static LinkedHashMap<String, Tensor> awkwardTensors() {
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
        m.put("z.transposed", randn(1, 7, 5).t());
        Tensor leaf = randn(2, 3, 4);
        leaf.requires_grad_(true);
        m.put("a.requires_grad", leaf);
        m.put("scalar", randn(3));
        m.put("empty", torch.empty(new long[] {0, 3}, new TensorOptions(ScalarType.Float),
                new MemoryFormatOptional()));
        m.put("cube", randn(4, 2, 3, 5).mul(new Scalar(100)));
        m.put("bf16.input", randn(5, 9).to(ScalarType.BFloat16));
        return m;
    }

    @Test
    void float32RoundTripIsExactAndKeepsOrder() {
        LinkedHashMap<String, Tensor> tensors = awkwardTensors();
        Path file = dir.resolve("t.safetensors");
        SafetensorsWriter.write(file, tensors);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(f.names()), "names in the order given");
            assertEquals(Map.of("format", "pt"), f.metadata());
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                TensorInfo info = f.info(e.getKey());
                assertEquals("F32", info.dtype());
                assertArrayEquals(shape(e.getValue()), info.shape(), e.getKey());
                assertEquals(file, info.file());
                Tensor loaded = f.load(e.getKey());
                assertEquals(ScalarType.Float, loaded.scalar_type().intern());
                assertTrue(loaded.is_contiguous());
                assertFalse(loaded.requires_grad());
                assertSameValues(e.getValue(), loaded, e.getKey());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Half", "BFloat16"})
    void halfPrecisionRoundTripKeepsTheDtypesPrecision(String dtypeName) {
        ScalarType dtype = ScalarType.valueOf(dtypeName);
        LinkedHashMap<String, Tensor> tensors = awkwardTensors();
        Path file = dir.resolve(dtypeName + ".safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("note", "half"), dtype);
        double eps = dtype == ScalarType.Half ? 0x1p-11 : 0x1p-8;   // unit roundoff of the format
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "note", "half"), f.metadata());
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                assertEquals(dtype == ScalarType.Half ? "F16" : "BF16", f.info(e.getKey()).dtype());
                Tensor loaded = f.load(e.getKey());
                assertEquals(ScalarType.Float, loaded.scalar_type().intern());
                // exactly LibTorch's own rounding to the dtype, and within its precision of the original
                assertSameValues(e.getValue().detach().to(dtype).to(ScalarType.Float), loaded, e.getKey());
                float[] original = floats(e.getValue());
                float[] back = floats(loaded);
                for (int i = 0; i < original.length; i++) {
                    assertTrue(Math.abs(back[i] - original[i]) <= eps * Math.abs(original[i]),
                            e.getKey() + "[" + i + "]: " + back[i] + " vs " + original[i]);
                }
            }
        }
    }

    @Test
    void headerIsPaddedWithSpacesToEightBytesAndListsMetadataFirst() throws IOException {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("b", randn(1, 3));
        tensors.put("a", randn(2, 2, 2));
        Path file = dir.resolve("h.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("step", "7"), ScalarType.Float);
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8, "header length is a multiple of 8");
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{\"format\":\"pt\",\"step\":\"7\"},\"b\":{\"dtype\":\"F32\","
                + "\"shape\":[3],\"data_offsets\":[0,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                + "\"data_offsets\":[12,28]}}"), header);
        assertTrue(header.substring(header.lastIndexOf('}') + 1).isBlank(), "padding is spaces");
        assertEquals(8 + n + 28, bytes.length, "data is contiguous, nothing after it");
        // little-endian float32 of the first element of b
        float first = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getFloat((int) (8 + n));
        assertEquals(floats(tensors.get("b"))[0], first);
    }

    @Test
    void rewritingAFixtureReproducesTheReferenceImplementationsBytes() throws IOException {
        for (String model : List.of("tiny-llama", "tiny-llama-tied", "tiny-gpt2")) {
            Path original = fixture(model + "/model.safetensors");
            LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
            try (SafetensorsFile f = SafetensorsFile.open(original)) {
                for (String name : f.names()) {
                    tensors.put(name, f.load(name));
                }
            }
            Path copy = dir.resolve(model + ".safetensors");
            SafetensorsWriter.write(copy, tensors);
            assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy), model);
        }
    }

    @Test
    void bigTensorsAreMappedAndWrittenInChunks() {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", randn(9, 37, 29));
        tensors.put("v", randn(10, 1001));
        Path whole = dir.resolve("whole.safetensors");
        Path chunked = dir.resolve("chunked.safetensors");
        SafetensorsWriter.write(whole, tensors, null, ScalarType.BFloat16);
        long saved = SafetensorsWriter.writeChunkBytes;
        try {
            SafetensorsWriter.writeChunkBytes = 100;   // not a multiple of the element size on purpose
            SafetensorsWriter.write(chunked, tensors, null, ScalarType.BFloat16);
        } finally {
            SafetensorsWriter.writeChunkBytes = saved;
        }
        try {
            assertArrayEquals(Files.readAllBytes(whole), Files.readAllBytes(chunked));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        try (SafetensorsFile small = SafetensorsFile.open(whole, 64);
                SafetensorsFile big = SafetensorsFile.open(whole)) {
            for (String name : tensors.keySet()) {
                assertSameValues(big.load(name), small.load(name), name + " loaded in 64-byte pieces");
            }
        }
    }

    @Test
    void tensorsPastTwoGigabytesAreReadWithoutMappingTheWholeFile() throws IOException {
        // a sparse file: a 2.25 GB all-zero tensor, then a small one whose data starts past 2^31
        long bigNumel = 9L << 27;   // F16: 2.25 GB
        long bigBytes = bigNumel * 2;
        String header = "{\"big\":{\"dtype\":\"F16\",\"shape\":[" + bigNumel + "],\"data_offsets\":[0," + bigBytes
                + "]},\"tail\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[" + bigBytes + ","
                + (bigBytes + 16) + "]}}";
        Path file = craft(dir.resolve("sparse.safetensors"), header, 0);
        long dataStart = 8 + header.getBytes(StandardCharsets.UTF_8).length;
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(dataStart + bigBytes + 16);
            raf.seek(dataStart + bigBytes);
            ByteBuffer tail = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            tail.putFloat(1.5f).putFloat(-2f).putFloat(3.25f).putFloat(1e-3f);
            raf.write(tail.array());
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.of("big", "tail"), List.copyOf(f.names()));
            assertArrayEquals(new long[] {bigNumel}, f.info("big").shape());
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f, 1e-3f}, floats(f.load("tail")));
        }
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingIsWritten() {
        Path file = dir.resolve("never.safetensors");
        Map<String, Tensor> ints = Map.of("ids", torch.arange(new Scalar(4)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, ints));
        assertTrue(e.getMessage().contains("tensor ids is Long"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, Map.of("__metadata__", randn(1, 2))));
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, Map.of("x", randn(1, 2)), null, ScalarType.Double));
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.writeSharded(dir, Map.of("x", randn(1, 2)), 0, null, ScalarType.Float));
        assertFalse(Files.exists(file));
    }

    @Test
    void overwritingAFileDoesNotDisturbItsReadersAndAFailedWriteKeepsIt() throws IOException {
        Path file = dir.resolve("w.safetensors");
        Tensor first = randn(1, 8, 8);
        SafetensorsWriter.write(file, Map.of("w", first));
        try (SafetensorsFile reader = SafetensorsFile.open(file)) {
            SafetensorsWriter.write(file, Map.of("w", randn(2, 8, 8), "extra", randn(3, 100)));
            // the new file replaced the name, the open reader still sees the old data
            assertSameValues(first, reader.load("w"), "old reader");
        }
        byte[] before = Files.readAllBytes(file);
        LinkedHashMap<String, Tensor> failing = new LinkedHashMap<>();
        failing.put("ok", randn(4, 3));
        failing.put("meta", torch.empty(new long[] {3}, new TensorOptions(ScalarType.Float)
                .device(new DeviceOptional(new Device("meta"))), new MemoryFormatOptional()));
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsWriter.write(file, failing));
        assertTrue(e.getMessage().contains(file + ": cannot write tensor meta"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(file), "the existing file is untouched");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temporary file left");
        }
    }

    @Test
    void aFileTruncatedWhileOpenIsReportedNotMapped() throws IOException {
        Path file = dir.resolve("t.safetensors");
        SafetensorsWriter.write(file, Map.of("w", randn(1, 8, 8)));
        try (SafetensorsFile reader = SafetensorsFile.open(file);
                java.nio.channels.FileChannel c = java.nio.channels.FileChannel.open(file,
                        java.nio.file.StandardOpenOption.WRITE)) {
            c.truncate(c.size() - 4);
            CheckpointException e = assertThrows(CheckpointException.class, () -> reader.load("w"));
            assertTrue(e.getMessage().contains("tensor w: the file was truncated after it was opened"),
                    e.getMessage());
        }
    }

    @Test
    void loadedTensorsOutliveTheFileAndItsMapping() {
        Path file = dir.resolve("o.safetensors");
        Tensor original = randn(5, 64, 64);
        SafetensorsWriter.write(file, Map.of("w", original));
        Tensor loaded;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            loaded = f.load("w");
        }
        assertSameValues(original, loaded, "after close");
        loaded.add_(new Scalar(1));   // owns writable memory
        assertEquals(floats(original)[0] + 1, floats(loaded)[0], 1e-6);
    }
}
