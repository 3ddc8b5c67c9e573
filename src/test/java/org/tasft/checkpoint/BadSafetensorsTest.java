package org.tasft.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.tasft.checkpoint.CheckpointTesting.assertCheckpointError;
import static org.tasft.checkpoint.CheckpointTesting.craft;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every way a single safetensors file can be broken gives an error that names the file and the tensor. */
class BadSafetensorsTest {
    private static final String A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
    private static final String B = "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]}";

    @TempDir
    Path dir;

    private Path file(String header, long dataBytes) {
        return craft(dir.resolve("bad.safetensors"), header, dataBytes);
    }

    @Test
    void theHandMadeBaseFileIsValid() {
        try (SafetensorsFile f = SafetensorsFile.open(file("{" + A + "," + B + "}", 40))) {
            assertEquals(2, f.names().size());
            assertEquals(4, f.load("b").numel());
        }
    }

    @Test
    void fileShorterThanTheLengthField() throws IOException {
        Path p = Files.write(dir.resolve("short.safetensors"), new byte[] {1, 2, 3});
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "3 bytes", "shorter than the 8-byte");
    }

    @Test
    void headerLengthPastTheEndOfTheFile() {
        String header = "{" + A + "}";
        Path p = craft(dir.resolve("long.safetensors"), header.length() + 100, header, 24);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "header length " + (header.length() + 100),
                "runs past the end");
    }

    @Test
    void absurdHeaderLength() {
        Path p = craft(dir.resolve("absurd.safetensors"), 1L << 40, "{}", 0);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "absurd");
        Path negative = craft(dir.resolve("negative.safetensors"), -5, "{}", 0);
        assertCheckpointError(() -> SafetensorsFile.open(negative), negative.toString(), "absurd");
    }

    @Test
    void headerThatIsNotJson() {
        Path p = file("{" + A + ", oops}", 24);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "not valid JSON");
        Path trailing = file("{" + A + "} {}", 24);
        assertCheckpointError(() -> SafetensorsFile.open(trailing), trailing.toString(), "not valid JSON");
        Path duplicate = file("{" + A + "," + A + "}", 24);
        assertCheckpointError(() -> SafetensorsFile.open(duplicate), "not valid JSON", "Duplicate field 'a'");
    }

    @Test
    void headerThatIsNotAnObject() {
        Path p = file("[1, 2, 3]", 0);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "not a JSON object", "array");
    }

    @Test
    void entryWithoutDtypeShapeOrOffsets() {
        Path p = file("{" + A + ",\"b\":{\"shape\":[4]}}", 40);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "tensor b", "lacks dtype, data_offsets");
        Path notObject = file("{" + A + ",\"b\":7}", 40);
        assertCheckpointError(() -> SafetensorsFile.open(notObject), "tensor b", "not a JSON object");
        Path badShape = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24);
        assertCheckpointError(() -> SafetensorsFile.open(badShape), "tensor a", "shape [2,-3]");
    }

    @Test
    void unknownDtypeListsTheSupportedOnes() {
        Path p = file("{" + A + ",\"b\":{\"dtype\":\"F99\",\"shape\":[4],\"data_offsets\":[24,40]}}", 40);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "tensor b", "unknown dtype \"F99\"",
                "supported: F32, F16, BF16");
    }

    @Test
    void aSafetensorsDtypeThatIsNotLoadedIsRefusedOnLoadOnly() {
        Path p = file("{" + A + ",\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]}}", 40);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals("I64", f.info("b").dtype());
            assertEquals(6, f.load("a").numel());
            assertCheckpointError(() -> f.load("b"), p.toString(), "tensor b", "I64", "supported: F32, F16, BF16");
        }
    }

    @Test
    void offsetsThatDoNotMatchTheShape() {
        Path p = file("{" + A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,36]}}", 40);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "tensor b", "span 12 bytes",
                "needs 16");
        Path backwards = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,0]}}", 24);
        assertCheckpointError(() -> SafetensorsFile.open(backwards), "tensor a", "data_offsets [24, 0]");
        Path notPair = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
        assertCheckpointError(() -> SafetensorsFile.open(notPair), "tensor a", "not a pair");
    }

    @Test
    void truncatedFileNamesTheTensorAndBothSizes() throws IOException {
        String header = "{" + A + "," + B + "}";
        Path p = file(header, 40);
        byte[] whole = Files.readAllBytes(p);
        Files.write(p, Arrays.copyOf(whole, whole.length - 10));
        long expected = 8 + header.length() + 40;
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "tensor b", "truncated",
                "expected at least " + expected + " bytes, actual " + (expected - 10));
    }

    @Test
    void overlappingTensors() {
        Path p = file("{" + A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}", 40);
        assertCheckpointError(() -> SafetensorsFile.open(p), p.toString(), "tensor b", "overlaps tensor a");
    }

    @Test
    void unknownNamesOnInfoAndLoad() {
        Path p = file("{" + A + "," + B + "}", 40);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertCheckpointError(() -> f.info("c"), p.toString(), "no tensor named c");
            assertCheckpointError(() -> f.load("c"), p.toString(), "no tensor named c");
        }
    }

    @Test
    void mistypedNameGetsItsNeighboursAsAHint() {
        Path p = file("{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertCheckpointError(() -> f.load("model.norm.wieght"), "under model.norm: model.norm.weight");
        }
    }

    @Test
    void loadAfterCloseAndMissingFile() {
        Path p = file("{" + A + "}", 24);
        SafetensorsFile f = SafetensorsFile.open(p);
        f.close();
        assertCheckpointError(() -> f.load("a"), p.toString(), "closed", "tensor a");
        Path missing = dir.resolve("missing.safetensors");
        assertCheckpointError(() -> SafetensorsFile.open(missing), missing.toString(), "no such file");
    }
}
