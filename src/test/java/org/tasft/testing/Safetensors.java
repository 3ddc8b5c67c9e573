package org.tasft.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Reads test fixtures in the safetensors format (8-byte little-endian header length, a JSON header of
 * {name: {dtype, shape, data_offsets}}, then raw little-endian data) into CPU tensors that own their memory.
 */
public final class Safetensors {
    private final Map<String, Tensor> tensors = new HashMap<>();

    private Safetensors() {
    }

    /** Loads a class-path resource, e.g. {@code /fixtures/emd/cases.safetensors}. */
    public static Safetensors load(String resource) {
        try (InputStream in = Safetensors.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no resource " + resource);
            }
            return parse(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Safetensors parse(byte[] bytes) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = Math.toIntExact(buffer.getLong(0));
        JsonNode header = new ObjectMapper().readTree(new String(bytes, 8, headerLength,
                java.nio.charset.StandardCharsets.UTF_8));
        int dataStart = 8 + headerLength;
        Safetensors result = new Safetensors();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            if (entry.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode info = entry.getValue();
            long[] shape = new long[info.get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = info.get("shape").get(i).asLong();
            }
            int begin = info.get("data_offsets").get(0).asInt();
            int end = info.get("data_offsets").get(1).asInt();
            Tensor t = torch.empty(shape, new TensorOptions(scalarType(info.get("dtype").asText())),
                    new MemoryFormatOptional());
            if (t.numel() * t.element_size() != end - begin) {
                throw new IOException(entry.getKey() + ": " + (end - begin) + " bytes for shape "
                        + info.get("shape"));
            }
            new BytePointer(t.mutable_data_ptr()).put(bytes, dataStart + begin, end - begin);
            result.tensors.put(entry.getKey(), t);
        }
        return result;
    }

    private static ScalarType scalarType(String dtype) {
        return switch (dtype) {
            case "F64" -> ScalarType.Double;
            case "F32" -> ScalarType.Float;
            case "F16" -> ScalarType.Half;
            case "BF16" -> ScalarType.BFloat16;
            case "I64" -> ScalarType.Long;
            case "I32" -> ScalarType.Int;
            default -> throw new IllegalArgumentException("unsupported safetensors dtype " + dtype);
        };
    }

    /** The tensor names, sorted. */
    public java.util.SortedSet<String> names() {
        return new java.util.TreeSet<>(tensors.keySet());
    }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name + " in fixture");
        }
        return t;
    }
}
