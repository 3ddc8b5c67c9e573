package org.tasft.checkpoint;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * One safetensors file: an 8-byte little-endian header length N, N bytes of JSON header
 * ({@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}}, offsets relative to the end of
 * the header), then the raw little-endian tensor data.
 *
 * <p>Opening reads and checks only the header; the data stays on disk until {@link #load(String)} maps that one
 * tensor's bytes and converts them into a new float32 tensor. Only the asked-for region is mapped (never the whole
 * file), so files over 2 GB work; a tensor over {@link #MAX_CHUNK_BYTES} is mapped and converted in pieces. The
 * checks follow the reference implementation's: a header of at most 100 MB that is a JSON object without duplicate
 * keys, every entry with a known dtype, a shape and offsets whose span is exactly numel * element size, inside the
 * file and not overlapping another tensor's. Every error names the file and, where there is one, the tensor.
 *
 * <p>Thread-safe: loads from several threads may run at once.
 */
public final class SafetensorsFile implements TensorSource {
    /** The reference implementation refuses larger headers; a bigger number means a corrupt or foreign file. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    /** The largest region mapped at once (a MappedByteBuffer holds at most 2^31 - 1 bytes). */
    static final long MAX_CHUNK_BYTES = 1L << 30;
    static final String METADATA_KEY = "__metadata__";

    static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static {
        Loader.load(torch.class);
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            // from_blob reads the file's little-endian bytes as native numbers
            throw new ExceptionInInitializerError("safetensors data is little-endian; this is a big-endian machine");
        }
    }

    /** One header entry; begin and end are absolute file positions. */
    private record Entry(TensorInfo info, SafetensorsDtype dtype, long begin, long end) {
    }

    private final Path file;
    private final FileChannel channel;
    private final long fileSize;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;
    private final long chunkBytes;
    private volatile boolean closed;

    private SafetensorsFile(Path file, FileChannel channel, long fileSize, Map<String, Entry> entries,
            Map<String, String> metadata, long chunkBytes) {
        this.file = file;
        this.channel = channel;
        this.fileSize = fileSize;
        this.entries = entries;
        this.metadata = metadata;
        this.chunkBytes = chunkBytes;
    }

    /** Opens and checks a safetensors file; a {@link CheckpointException} naming the file if it is not valid. */
    public static SafetensorsFile open(Path file) {
        return open(file, MAX_CHUNK_BYTES);
    }

    /** {@link #open(Path)} mapping at most {@code chunkBytes} at a time (the tests use small chunks). */
    static SafetensorsFile open(Path file, long chunkBytes) {
        requireRegularFile(file);
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw openFailure(file, e);
        }
        try {
            long size = channel.size();
            Header header = readHeader(file, channel, size);
            return new SafetensorsFile(file, channel, size, header.entries, header.metadata, chunkBytes);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new CheckpointException(file + ": cannot read: " + e, e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    public Path file() {
        return file;
    }

    /**
     * A folder or a FIFO under a weights file's name is refused before it is opened: opening a FIFO for reading
     * would block until something writes to it, which nothing will.
     */
    static void requireRegularFile(Path file) {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (IOException e) {
            throw openFailure(file, e);
        }
        if (attributes.isDirectory()) {
            throw new CheckpointException(file + ": is a folder, not a safetensors file");
        }
        if (!attributes.isRegularFile()) {
            throw new CheckpointException(file + ": is not a regular file (a FIFO, socket or device), not a "
                    + "safetensors file");
        }
    }

    /** Why {@code file} could not be looked at or opened: the same words for the check and for the open. */
    private static CheckpointException openFailure(Path file, IOException e) {
        if (e instanceof NoSuchFileException) {
            return new CheckpointException(file + ": no such file");
        }
        if (e instanceof AccessDeniedException) {
            return new CheckpointException(file + ": cannot read it: permission denied", e);
        }
        return new CheckpointException(file + ": cannot open: " + e, e);
    }

    /** The header's {@code __metadata__} (e.g. {@code {"format": "pt"}}); empty when there is none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor name, in the order of the tensors' data in the file. */
    @Override
    public Set<String> names() {
        return Collections.unmodifiableSet(entries.keySet());
    }

    @Override
    public TensorInfo info(String name) {
        return entry(name).info;
    }

    /** The bytes of tensor data (sum of the tensors' spans), i.e. what transformers counts as total_size. */
    public long dataBytes() {
        long total = 0;
        for (Entry e : entries.values()) {
            total += e.end - e.begin;
        }
        return total;
    }

    @Override
    public Tensor load(String name) {
        Tensor out = torch.empty(entry(name).info.shape(), new TensorOptions(ScalarType.Float),
                new MemoryFormatOptional());
        try {
            loadInto(name, out);
        } catch (RuntimeException ex) {
            out.close();
            throw ex;
        }
        return out;
    }

    /**
     * Copies the named tensor into {@code target} (its shape; any floating dtype, any device) a chunk of the mapping
     * at a time: a BF16 tensor loaded into a bfloat16 target is never widened, and a GPU target never has a whole
     * host copy.
     */
    @Override
    public void loadInto(String name, Tensor target) {
        Entry e = entry(name);
        if (!e.dtype.loadable()) {
            throw new CheckpointException(file + ": tensor " + name + " has dtype " + e.dtype
                    + ", which cannot be loaded; supported: " + SafetensorsDtype.LOADABLE);
        }
        if (closed) {
            throw new CheckpointException(file + ": closed; cannot load tensor " + name);
        }
        long numel = e.info.numel();
        if (target.numel() != numel || !target.is_contiguous()) {
            throw new IllegalArgumentException("target for " + name + ": expected a contiguous tensor of " + numel
                    + " elements, got " + target.numel());
        }
        if (numel == 0) {
            return;
        }
        long elementsPerChunk = Math.max(1, chunkBytes / e.dtype.bytes);
        try (PointerScope scope = new PointerScope()) {
            // touching a mapping past the end of a file that shrank kills the process (SIGBUS) in native code
            if (channel.size() < e.end) {
                throw new CheckpointException(file + ": tensor " + name + ": the file was truncated after it was"
                        + " opened: expected at least " + e.end + " bytes, actual " + channel.size());
            }
            Tensor flat = target.view(numel);
            TensorOptions sourceType = new TensorOptions(e.dtype.scalarType);
            for (long done = 0; done < numel; ) {
                long n = Math.min(elementsPerChunk, numel - done);
                MappedByteBuffer region = channel.map(FileChannel.MapMode.READ_ONLY,
                        e.begin + done * e.dtype.bytes, n * e.dtype.bytes);
                try {
                    Tensor source = torch.from_blob(new BytePointer(region), new long[] {n}, sourceType);
                    // copy_ converts to the target's dtype and device; the result never points into the mapping
                    flat.narrow(0, done, n).copy_(source);
                } finally {
                    Unmapper.unmap(region);
                }
                done += n;
            }
        } catch (CheckpointException ex) {
            throw ex;
        } catch (IOException | RuntimeException ex) {
            if (closed) {
                throw new CheckpointException(file + ": closed while loading tensor " + name, ex);
            }
            throw new CheckpointException(file + ": cannot read tensor " + name + ": " + ex, ex);
        }
    }

    /** Closes the file; tensors already loaded are independent of it and stay valid. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(channel);
    }

    @Override
    public String location() {
        return file.toString();
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + file + ", " + entries.size() + " tensors]";
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new CheckpointException(file + ": no tensor named " + name + " (" + entries.size()
                    + " tensors in the file" + nearbyNames(name) + ")");
        }
        return e;
    }

    /** A hint for a mistyped name: names sharing the longest dotted prefix with it. */
    private String nearbyNames(String name) {
        String prefix = name;
        while (!prefix.isEmpty()) {
            int dot = prefix.lastIndexOf('.');
            prefix = dot < 0 ? "" : prefix.substring(0, dot);
            if (prefix.isEmpty()) {
                break;
            }
            List<String> similar = new ArrayList<>();
            for (String n : entries.keySet()) {
                if (n.startsWith(prefix + ".")) {
                    similar.add(n);
                }
            }
            if (!similar.isEmpty()) {
                return "; under " + prefix + ": " + String.join(", ", similar.subList(0, Math.min(5, similar.size())))
                        + (similar.size() > 5 ? ", ..." : "");
            }
        }
        return "";
    }

    private record Header(Map<String, Entry> entries, Map<String, String> metadata) {
    }

    private static Header readHeader(Path file, FileChannel channel, long size) throws IOException {
        if (size < 8) {
            throw new CheckpointException(file + ": not a safetensors file: " + size
                    + " bytes, shorter than the 8-byte header length");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, lengthBytes, 0);
        long headerLength = lengthBytes.getLong(0);
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new CheckpointException(file + ": not a safetensors file: header length "
                    + Long.toUnsignedString(headerLength) + " is absurd (at most " + MAX_HEADER_BYTES + " bytes)");
        }
        if (8 + headerLength > size) {
            throw new CheckpointException(file + ": header length " + headerLength + " runs past the end of the "
                    + size + "-byte file (truncated, or not a safetensors file)");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        readFully(channel, headerBytes, 8);
        JsonNode header;
        try {
            header = JSON.readTree(headerBytes.array());
        } catch (JsonProcessingException e) {
            throw new CheckpointException(file + ": header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (header == null || !header.isObject()) {
            throw new CheckpointException(file + ": header is not a JSON object but "
                    + (header == null ? "empty" : header.getNodeType().toString().toLowerCase()));
        }
        long dataStart = 8 + headerLength;
        Map<String, String> metadata = Map.of();
        List<Entry> list = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            if (field.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, field.getValue());
            } else {
                list.add(parseEntry(file, field.getKey(), field.getValue(), dataStart, size));
            }
        }
        // "file order": by position of the data (the same as header order in files written by the reference or here)
        list.sort(Comparator.comparingLong(Entry::begin));
        Entry previous = null;
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Entry e : list) {
            if (e.end > e.begin) {
                if (previous != null && e.begin < previous.end) {
                    throw new CheckpointException(file + ": tensor " + e.info.name() + " (data_offsets ["
                            + (e.begin - dataStart) + ", " + (e.end - dataStart) + "]) overlaps tensor "
                            + previous.info.name() + " ([" + (previous.begin - dataStart) + ", "
                            + (previous.end - dataStart) + "])");
                }
                previous = e;
            }
            entries.put(e.info.name(), e);
        }
        return new Header(Collections.unmodifiableMap(entries), metadata);
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) {
        if (!node.isObject()) {
            throw new CheckpointException(file + ": " + METADATA_KEY + " is not a JSON object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            // the format says string -> string; other writers' numbers are kept as their JSON text
            metadata.put(f.getKey(), f.getValue().isTextual() ? f.getValue().asText() : f.getValue().toString());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static Entry parseEntry(Path file, String name, JsonNode node, long dataStart, long fileSize) {
        String where = file + ": tensor " + name;
        if (!node.isObject()) {
            throw new CheckpointException(where + ": header entry is not a JSON object");
        }
        JsonNode dtypeNode = node.get("dtype");
        JsonNode shapeNode = node.get("shape");
        JsonNode offsetsNode = node.get("data_offsets");
        List<String> missing = new ArrayList<>();
        if (dtypeNode == null) {
            missing.add("dtype");
        }
        if (shapeNode == null) {
            missing.add("shape");
        }
        if (offsetsNode == null) {
            missing.add("data_offsets");
        }
        if (!missing.isEmpty()) {
            throw new CheckpointException(where + ": header entry lacks " + String.join(", ", missing));
        }
        if (!dtypeNode.isTextual()) {
            throw new CheckpointException(where + ": dtype is not a string: " + dtypeNode);
        }
        SafetensorsDtype dtype = SafetensorsDtype.parse(dtypeNode.asText());
        if (dtype == null) {
            throw new CheckpointException(where + ": unknown dtype " + dtypeNode + "; supported: "
                    + SafetensorsDtype.LOADABLE + " (the safetensors format's dtypes are " + SafetensorsDtype.known()
                    + ")");
        }
        if (!shapeNode.isArray()) {
            throw new CheckpointException(where + ": shape is not an array: " + shapeNode);
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToExactIntegral() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new CheckpointException(where + ": shape " + shapeNode + " is not a list of sizes >= 0");
            }
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw new CheckpointException(where + ": shape " + shapeNode + " has too many elements");
            }
        }
        if (!offsetsNode.isArray() || offsetsNode.size() != 2 || !isOffset(offsetsNode.get(0))
                || !isOffset(offsetsNode.get(1))) {
            throw new CheckpointException(where + ": data_offsets " + offsetsNode
                    + " is not a pair [begin, end] of byte offsets >= 0");
        }
        long begin = offsetsNode.get(0).asLong();
        long end = offsetsNode.get(1).asLong();
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.bytes);
        } catch (ArithmeticException e) {
            throw new CheckpointException(where + ": shape " + shapeNode + " has too many bytes");
        }
        if (end < begin || end - begin != expected) {
            throw new CheckpointException(where + ": data_offsets [" + begin + ", " + end + "] span "
                    + (end - begin) + " bytes, but " + dtype + " " + shapeNode + " needs " + expected);
        }
        if (end > fileSize - dataStart) {
            throw new CheckpointException(where + ": the file is truncated: expected at least " + (dataStart + end)
                    + " bytes, actual " + fileSize + " (the tensor's data ends at byte " + (dataStart + end) + ")");
        }
        return new Entry(new TensorInfo(name, dtype.name(), shape, file), dtype, dataStart + begin, dataStart + end);
    }

    private static boolean isOffset(JsonNode n) {
        return n != null && n.canConvertToExactIntegral() && n.canConvertToLong() && n.asLong() >= 0;
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + (position + buffer.position()));
            }
        }
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // nothing useful to do: the data was read
        }
    }

    /**
     * Unmaps a region right after its copy instead of whenever the garbage collector gets to it, so that loading a
     * large model does not keep every tensor's file pages mapped (and counted as resident). Falls back to the
     * collector where {@code sun.misc.Unsafe.invokeCleaner} is not available.
     */
    private static final class Unmapper {
        private static final Object UNSAFE;
        private static final Method INVOKE_CLEANER;

        static {
            Object unsafe = null;
            Method invokeCleaner = null;
            try {
                Class<?> c = Class.forName("sun.misc.Unsafe");
                Field f = c.getDeclaredField("theUnsafe");
                f.setAccessible(true);
                unsafe = f.get(null);
                invokeCleaner = c.getMethod("invokeCleaner", ByteBuffer.class);
            } catch (ReflectiveOperationException | RuntimeException e) {
                unsafe = null;
                invokeCleaner = null;
            }
            UNSAFE = unsafe;
            INVOKE_CLEANER = invokeCleaner;
        }

        static void unmap(MappedByteBuffer buffer) {
            if (INVOKE_CLEANER == null) {
                return;
            }
            try {
                INVOKE_CLEANER.invoke(UNSAFE, buffer);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // left to the garbage collector
            }
        }
    }
}
