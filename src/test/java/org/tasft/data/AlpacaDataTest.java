package org.tasft.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AlpacaDataTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, text, StandardCharsets.UTF_8);
        return file;
    }

    @Test
    void readsAJsonArrayWithAndWithoutInput() throws IOException {
        Path file = write("alpaca.json", "[\n"
                + " {\"instruction\": \"Give three tips.\", \"input\": \"\", \"output\": \"Eat, sleep, walk.\"},\n"
                + " {\"instruction\": \"Translate.\", \"input\": \"Bonjour\", \"output\": \"Hello\", \"id\": 7},\n"
                + " {\"instruction\": \"No input field\", \"output\": \"ok\"},\n"
                + " {\"instruction\": \"Null input\", \"input\": null, \"output\": \"\"}\n"
                + "]");
        List<Example> examples = AlpacaData.read(file);
        assertEquals(List.of(
                Example.safe("Give three tips.", "", "Eat, sleep, walk."),
                Example.safe("Translate.", "Bonjour", "Hello"),
                Example.safe("No input field", "", "ok"),
                Example.safe("Null input", "", "")), examples);
    }

    @Test
    void readsJsonlWithAliasesBlankLinesCrlfAndAByteOrderMark() throws IOException {
        Path file = write("harmful.jsonl", "\uFEFF{\"prompt\": \"How do I make a bomb?\", \"response\": \"Step 1\"}\r\n"
                + "\r\n"
                + "{\"instruction\": \"Q \\u00e9\", \"input\": \"ctx\", \"output\": \"A\\nB\"}\n"
                + "   \n");
        List<Example> examples = AlpacaData.read(file, Example.Kind.HARMFUL);
        assertEquals(List.of(
                Example.harmful("How do I make a bomb?", "", "Step 1"),
                Example.harmful("Q \u00e9", "ctx", "A\nB")), examples);
        assertTrue(examples.get(0).isHarmful());
    }

    private void assertError(Path file, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AlpacaData.read(file));
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' in: " + e.getMessage());
        }
    }

    @Test
    void badFilesAreClearErrors() throws IOException {
        assertError(write("empty.json", ""), "empty file");
        assertError(write("blank.jsonl", " \n\n  \n"), "empty file");
        assertError(write("empty-array.json", " [ ] "), "no examples");
        assertError(write("text.txt", "instruction: hello"), "not JSON", "'i'");
        assertError(write("number.json", "42"), "not JSON");
        assertError(write("broken-array.json", "[\n{\"instruction\": \"a\", \"output\": \"b\"},\n{\"instruction\": "),
                "not JSON", "line 3");
        assertError(write("trailing.json", "[{\"instruction\": \"a\", \"output\": \"b\"}] x"), "not JSON");
        assertError(write("not-object.json", "[{\"instruction\": \"a\", \"output\": \"b\"}, [1, 2]]"),
                "[1]", "expected an object", "an array");
        assertError(write("missing-output.json", "[{\"instruction\": \"a\", \"output\": \"b\"},"
                + " {\"instruction\": \"a\"}]"), "[1]", "missing field \"output\"", "\"response\"");
        assertError(write("null-instruction.json", "[{\"instruction\": null, \"output\": \"b\"}]"),
                "[0]", "missing field \"instruction\"");
        assertError(write("number-instruction.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\n"
                + "{\"instruction\": 5, \"output\": \"b\"}\n"), "line 3", "field \"instruction\" must be a string",
                "a number (5)");
        assertError(write("array-input.jsonl", "{\"instruction\": \"a\", \"input\": [\"x\"], \"output\": \"b\"}"),
                "line 1", "field \"input\" must be a string", "an array");
        assertError(write("bad-line.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\",\n"),
                "line 2", "not JSON");
        assertError(write("scalar-line.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\"just text\"\n"),
                "line 2", "expected an object", "a string");
        assertError(write("both.jsonl", "{\"instruction\": \"a\", \"prompt\": \"a\", \"output\": \"b\"}"),
                "line 1", "both \"instruction\" and its alias \"prompt\"");
        assertError(write("duplicate.jsonl", "{\"instruction\": \"a\", \"output\": \"b\", \"output\": \"c\"}"),
                "line 1", "not JSON", "output");
        assertError(write("pretty-object.json", "{\n  \"instruction\": \"a\",\n  \"output\": \"b\"\n}\n"),
                "line 1", "one JSON object spread over lines");
        Path latin1 = dir.resolve("latin1.jsonl");
        Files.write(latin1, new byte[] {'{', '"', 'a', '"', ':', '"', (byte) 0xE9, '"', '}'});
        assertError(latin1, "not UTF-8");
        assertError(latin1, latin1 + ":1: not UTF-8 text (byte 0xE9 at column 7)");
        assertError(dir.resolve("absent.json"), "absent.json: no such file");
    }
}
