package org.tasft.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Writes tensors in the safetensors format, as the reference implementation lays it out: the JSON header (metadata
 * first, then the tensors in the caller's order, data offsets back to back) padded with spaces to a multiple of 8
 * bytes, then each tensor's data, contiguous and little-endian. Tensors may be on any device, non-contiguous,
 * require grad or have another floating dtype: each is detached, moved to the CPU, converted and made contiguous,
 * one at a time, while it is written.
 *
 * <p>Every file's metadata carries {@code "format": "pt"} unless the caller gives another format: transformers refuses
 * safetensors files without it.
 */
public final class SafetensorsWriter {
    /** What transformers writes into every shard's metadata. */
    public static final Map<String, String> PT_FORMAT = Map.of("format", "pt");
    /** transformers' {@code max_shard_size} default of {@code "5GB"}. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");
    /** The largest piece of a tensor handed to one write call (a ByteBuffer holds at most 2^31 - 1 bytes). */
    static long writeChunkBytes = 1L << 30;
    private static final SecureRandom RANDOM = new SecureRandom();

    private SafetensorsWriter() {
    }

    /** Writes the tensors in float32 with metadata {@code {"format": "pt"}}. */
    public static void write(Path file, Map<String, Tensor> tensors) {
        write(file, tensors, null, ScalarType.Float);
    }

    /**
     * Writes one safetensors file. It is written under a temporary name in the same folder and renamed over
     * {@code file}: a failure leaves an existing file as it was, and readers that have it open keep their data.
     *
     * @param tensors  the tensors, written in the map's iteration order (use a LinkedHashMap)
     * @param metadata the header's {@code __metadata__}, may be null; {@code "format": "pt"} is added unless present
     * @param dtype    {@code Float} (F32), {@code Half} (F16) or {@code BFloat16} (BF16)
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata, ScalarType dtype) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tensors, "tensors");
        SafetensorsDtype type = SafetensorsDtype.forWriting(Objects.requireNonNull(dtype, "dtype"));
        writeFile(file, plan(file, new ArrayList<>(tensors.entrySet()), type), metadata, type, false);
    }

    /**
     * Writes a checkpoint into {@code dir} the way transformers' {@code save_pretrained} does: tensors go, in order,
     * into shards of at most {@code maxShardBytes} (a tensor larger than that gets a shard of its own), named
     * {@code model-0000K-of-0000N.safetensors}, plus {@code model.safetensors.index.json} with
     * {@code metadata.total_size} and the weight map. When everything fits in one shard, the result is a single
     * {@code model.safetensors} and no index, as transformers writes it. Weight files of an earlier save in
     * {@code dir} ({@code model.safetensors}, the index, {@code model-*-of-*.safetensors}) that this save does not
     * overwrite are deleted, so that the folder cannot mix two checkpoints.
     *
     * @return the files written: the shards in order, then the index (if any)
     */
    public static List<Path> writeSharded(Path dir, Map<String, Tensor> tensors, long maxShardBytes,
            Map<String, String> metadata, ScalarType dtype) {
        return writeSharded(dir, tensors, maxShardBytes, metadata, dtype, false);
    }

    /** {@link #writeSharded(Path, Map, long, Map, ScalarType)} in float32 with the default shard size. */
    public static List<Path> writeSharded(Path dir, Map<String, Tensor> tensors) {
        return writeSharded(dir, tensors, DEFAULT_MAX_SHARD_BYTES, null, ScalarType.Float);
    }

    static List<Path> writeSharded(Path dir, Map<String, Tensor> tensors, long maxShardBytes,
            Map<String, String> metadata, ScalarType dtype, boolean sync) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(tensors, "tensors");
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes: must be > 0, got " + maxShardBytes);
        }
        SafetensorsDtype type = SafetensorsDtype.forWriting(Objects.requireNonNull(dtype, "dtype"));
        List<Planned> all = plan(dir, new ArrayList<>(tensors.entrySet()), type);

        List<List<Planned>> shards = new ArrayList<>();
        List<Planned> current = new ArrayList<>();
        long currentBytes = 0;
        long totalBytes = 0;
        for (Planned p : all) {
            if (!current.isEmpty() && currentBytes + p.bytes > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(p);
            currentBytes += p.bytes;
            totalBytes += p.bytes;
        }
        shards.add(current);

        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot create the folder: " + e, e);
        }
        List<Path> written = new ArrayList<>();
        if (shards.size() == 1) {
            Path file = dir.resolve(Checkpoints.SINGLE_FILE);
            writeFile(file, shards.get(0), metadata, type, sync);
            written.add(file);
        } else {
            TreeMap<String, String> weightMap = new TreeMap<>();
            for (int k = 0; k < shards.size(); k++) {
                String name = String.format("model-%05d-of-%05d.safetensors", k + 1, shards.size());
                Path file = dir.resolve(name);
                writeFile(file, shards.get(k), metadata, type, sync);
                written.add(file);
                for (Planned p : shards.get(k)) {
                    weightMap.put(p.name, name);
                }
            }
            ObjectNode index = SafetensorsFile.JSON.createObjectNode();
            index.putObject("metadata").put("total_size", totalBytes);
            ObjectNode map = index.putObject("weight_map");
            weightMap.forEach(map::put);
            Path indexFile = dir.resolve(Checkpoints.INDEX_FILE);
            writeBytes(indexFile, prettyJson(index), sync);
            written.add(indexFile);
        }
        deleteStaleWeights(dir, written);
        return written;
    }

    /** JSON as Python's {@code json.dumps(indent=2)} writes it (transformers' config and index files), plus "\n". */
    static byte[] prettyJson(JsonNode node) {
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter()
                .withSeparators(Separators.createDefaultInstance()
                        .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                        .withObjectEmptySeparator("")
                        .withArrayEmptySeparator(""));
        printer.indentArraysWith(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"));
        printer.indentObjectsWith(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"));
        ObjectWriter writer = SafetensorsFile.JSON.writer(printer);
        try {
            return (writer.writeValueAsString(node) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree could not be written", e);
        }
    }

    /** Writes a small file whole (atomically, as the safetensors files); with {@code sync}, forces it to disk. */
    static void writeBytes(Path file, byte[] bytes, boolean sync) {
        try {
            replace(file, sync, out -> writeAll(out, ByteBuffer.wrap(bytes)));
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot write: " + e, e);
        }
    }

    /** One tensor about to be written. */
    private record Planned(String name, Tensor tensor, long[] shape, long bytes) {
    }

    /** Checks names and tensors and computes sizes before anything is written. */
    private static List<Planned> plan(Path target, List<Map.Entry<String, Tensor>> entries, SafetensorsDtype type) {
        List<Planned> planned = new ArrayList<>(entries.size());
        for (Map.Entry<String, Tensor> e : entries) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null || name.isEmpty() || name.equals(SafetensorsFile.METADATA_KEY)) {
                throw new IllegalArgumentException(target + ": invalid tensor name " + (name == null ? "null"
                        : "\"" + name + "\""));
            }
            if (t == null || t.isNull() || !t.defined()) {
                throw new IllegalArgumentException(target + ": tensor " + name + " is null or undefined");
            }
            if (!t.is_floating_point()) {
                // integer buffers would silently become floats; weights are always floating point
                throw new IllegalArgumentException(target + ": tensor " + name + " is "
                        + t.scalar_type().intern() + "; only floating-point tensors are written");
            }
            long[] shape = new long[(int) t.dim()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.size(i);
                numel *= shape[i];
            }
            planned.add(new Planned(name, t, shape, Math.multiplyExact(numel, (long) type.bytes)));
        }
        return planned;
    }

    private static void writeFile(Path file, List<Planned> tensors, Map<String, String> metadata,
            SafetensorsDtype type, boolean sync) {
        byte[] header = header(tensors, metadata, type);
        String[] current = {null};
        try {
            replace(file, sync, out -> {
                ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeAll(out, length);
                writeAll(out, ByteBuffer.wrap(header));
                for (Planned p : tensors) {
                    current[0] = p.name;
                    writeTensor(out, p, type);
                }
                current[0] = null;
            });
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(file + ": cannot write" + (current[0] == null ? "" : " tensor " + current[0])
                    + ": " + e.getMessage(), e);
        }
    }

    private interface ChannelWriter {
        void write(FileChannel out) throws IOException;
    }

    /**
     * Writes a new file next to {@code file} and renames it over {@code file}: readers that have the old file open
     * (and mapped) keep reading the old data instead of crashing on a truncated mapping, and a failure leaves the
     * old file as it was.
     */
    private static void replace(Path file, boolean sync, ChannelWriter body) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp-" + randomSuffix());
        boolean done = false;
        try {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                body.write(out);
                if (sync) {
                    out.force(true);
                }
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
        } finally {
            if (!done) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the caller sees the write error; a stray temporary file is the lesser problem
                }
            }
        }
    }

    static String randomSuffix() {
        byte[] b = new byte[6];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static byte[] header(List<Planned> tensors, Map<String, String> metadata, SafetensorsDtype type) {
        ObjectNode root = SafetensorsFile.JSON.createObjectNode();
        Map<String, String> meta = new LinkedHashMap<>();
        if (metadata == null || !metadata.containsKey("format")) {
            meta.putAll(PT_FORMAT);
        }
        if (metadata != null) {
            meta.putAll(metadata);
        }
        ObjectNode metaNode = root.putObject(SafetensorsFile.METADATA_KEY);
        meta.forEach(metaNode::put);
        long offset = 0;
        for (Planned p : tensors) {
            ObjectNode entry = root.putObject(p.name);
            entry.put("dtype", type.name());
            ArrayNode shape = entry.putArray("shape");
            Arrays.stream(p.shape).forEach(shape::add);
            entry.putArray("data_offsets").add(offset).add(offset + p.bytes);
            offset += p.bytes;
        }
        byte[] json;
        try {
            json = SafetensorsFile.JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree could not be written", e);
        }
        // the reference pads with spaces so that the data starts 8-byte aligned
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeTensor(FileChannel out, Planned p, SafetensorsDtype type) throws IOException {
        if (p.bytes == 0) {
            return;
        }
        try (PointerScope scope = new PointerScope()) {
            Tensor c = p.tensor.detach().cpu().to(type.scalarType).contiguous();
            long[] now = new long[(int) c.dim()];
            for (int i = 0; i < now.length; i++) {
                now[i] = c.size(i);
            }
            if (!Arrays.equals(now, p.shape)) {
                throw new IllegalStateException("shape changed while writing: " + Arrays.toString(p.shape) + " -> "
                        + Arrays.toString(now));
            }
            BytePointer data = new BytePointer(c.const_data_ptr());
            for (long off = 0; off < p.bytes; ) {
                long n = Math.min(writeChunkBytes, p.bytes - off);
                data.position(off).limit(off + n);
                writeAll(out, data.asByteBuffer());
                off += n;
            }
        }
    }

    private static void writeAll(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }

    private static void deleteStaleWeights(Path dir, List<Path> written) {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                boolean weights = name.equals(Checkpoints.SINGLE_FILE) || name.equals(Checkpoints.INDEX_FILE)
                        || SHARD_NAME.matcher(name).matches();
                if (weights && !written.contains(f)) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot remove the weight files of an earlier save: " + e, e);
        }
    }
}
