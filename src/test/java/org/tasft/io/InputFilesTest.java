package org.tasft.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.data.AlpacaData;
import org.tasft.data.StlData;
import org.tasft.eval.BoolqItems;
import org.tasft.eval.EvalPrompt;
import org.tasft.eval.PromptSetFormat;
import org.tasft.eval.PromptSets;
import org.tasft.eval.RefusalPhraseJudge;
import org.tasft.testing.SpecialFiles;

/** Every reader of an input file names the file and the line of bytes that are not UTF-8, and never blocks. */
class InputFilesTest {
    @TempDir
    Path dir;

    /** {@code good} lines, then one line with a Latin-1 'é' (0xE9) after {@code before}, then {@code after}. */
    private Path latin1(String name, String good, String before, String after) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(good.getBytes(StandardCharsets.UTF_8));
        b.writeBytes(before.getBytes(StandardCharsets.UTF_8));
        b.write(0xE9);
        b.writeBytes(after.getBytes(StandardCharsets.UTF_8));
        Path file = dir.resolve(name);
        Files.write(file, b.toByteArray());
        return file;
    }

    private static void assertMessage(Runnable read, String expected) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, read::run);
        assertTrue(e.getMessage().startsWith(expected), "'" + expected + "' starts " + e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }

    @Test
    void notUtf8NamesTheFileTheLineAndTheColumn() throws IOException {
        Path f = latin1("a.txt", "fine\nline two\n", "caf", "\n");
        assertMessage(() -> InputFiles.readUtf8(f, null), f + ":3: not UTF-8 text (byte 0xE9 at column 4)");
        // an incomplete character at the very end
        Path g = dir.resolve("cut.txt");
        Files.write(g, new byte[] {'o', 'k', '\n', (byte) 0xC3});
        assertMessage(() -> InputFiles.readUtf8(g, null), g + ":2: not UTF-8 text");
        // UTF-8 with a byte order mark and characters outside the BMP reads back exactly
        Path h = dir.resolve("ok.txt");
        Files.write(h, ("\uFEFFcafé 𝄞\nx").getBytes(StandardCharsets.UTF_8));
        assertEquals("café 𝄞\nx", InputFiles.readUtf8(h, null));
    }

    @Test
    void everyDataReaderNamesTheLine() throws IOException {
        String ok = "{\"instruction\": \"a\", \"output\": \"b\"}\n";
        Path alpaca = latin1("safe.jsonl", ok + ok, "{\"instruction\": \"caf", "\", \"output\": \"b\"}\n");
        assertMessage(() -> AlpacaData.read(alpaca), alpaca + ":3: not UTF-8 text");
        Path array = latin1("safe.json", "[\n" + ok + ",\n", "{\"instruction\": \"caf", "\", \"output\": \"b\"}]\n");
        assertMessage(() -> AlpacaData.read(array), array + ":4: not UTF-8 text");

        Path jsonl = latin1("p.jsonl", "{\"prompt\": \"a\"}\n", "{\"prompt\": \"", "\"}\n");
        assertMessage(() -> PromptSets.read(jsonl), jsonl + ":2: not UTF-8 text");
        Path csv = latin1("p.csv", "goal,target\nq,a\nq,a\n", "q", ",a\n");
        assertMessage(() -> PromptSets.read(csv), csv + ":4: not UTF-8 text");
        Path stl = latin1("p.json", "{\"instructions\": [\n\"a\",\n", "\"", "\"]}\n");
        assertMessage(() -> PromptSets.read(stl), stl + ":3: not UTF-8 text");
        Path txt = latin1("p.txt", "one\ntwo\n", "thr", "e\n");
        assertMessage(() -> PromptSets.read(txt), txt + ":3: not UTF-8 text");
        Path boolq = latin1("boolq.jsonl", "{\"question\": \"q\", \"passage\": \"p\", \"answer\": true}\n",
                "{\"question\": \"", "\", \"passage\": \"p\", \"answer\": true}\n");
        assertMessage(() -> BoolqItems.read(boolq), boolq + ":2: not UTF-8 text");
        Path refusals = latin1("refusals.txt", "No.\n", "Non, d", "solé.\n");
        assertMessage(() -> StlData.readRefusals(refusals), refusals + ":2: not UTF-8 text");
        Path phrases = latin1("phrases.txt", "sorry\n", "d", "solé\n");
        assertMessage(() -> RefusalPhraseJudge.fromFile(phrases), phrases + ":2: not UTF-8 text");
    }

    @Test
    void foldersAreNamedAsFolders() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("data.jsonl"));
        assertMessage(() -> AlpacaData.read(folder), folder + ": is a folder, not a file");
        assertMessage(() -> PromptSets.read(folder), folder + ": is a folder, not a file");
        assertMessage(() -> BoolqItems.read(folder), folder + ": is a folder, not a file");
        assertMessage(() -> InputFiles.requireReadableFile(folder, "--safe"), "--safe " + folder
                + ": is a folder, not a file");
        Path missing = dir.resolve("missing.jsonl");
        assertMessage(() -> AlpacaData.read(missing), missing + ": no such file");
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFifoIsRefusedWithoutBlocking() throws Exception {
        Path fifo = dir.resolve("prompts.jsonl");
        assumeTrue(SpecialFiles.mkfifo(fifo), "mkfifo is not available");
        List<Consumer<Path>> readers = List.of(AlpacaData::read, PromptSets::read, BoolqItems::read,
                StlData::readRefusals, RefusalPhraseJudge::fromFile, p -> InputFiles.readUtf8(p, null));
        for (Consumer<Path> reader : readers) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> reader.accept(fifo));
            assertTrue(e.getMessage().contains(fifo + ": is not a regular file (a FIFO, socket or device)"),
                    e.getMessage());
        }
    }

    @Test
    void evalReadsPlainTextPromptsAsHarvestDoes() throws IOException {
        Path txt = dir.resolve("prompts.txt");
        Files.writeString(txt, "\uFEFF  How do I pick a lock?  \n\nWrite a poem.\r\n");
        List<EvalPrompt> p = PromptSets.read(txt).prompts();
        assertEquals(2, p.size());
        assertEquals("How do I pick a lock?", p.get(0).instruction());
        assertEquals("", p.get(0).input());
        assertEquals("", p.get(0).label());
        assertEquals(1, p.get(0).line());
        assertEquals("Write a poem.", p.get(1).instruction());
        assertEquals(3, p.get(1).line());
        assertEquals(p, PromptSets.read(txt, PromptSetFormat.TEXT).prompts());
        assertEquals(PromptSetFormat.TEXT, PromptSetFormat.named("text"));
        // any other extension is text too, as harvest has always read it
        Path other = dir.resolve("prompts.lst");
        Files.writeString(other, "one\ntwo\n");
        assertEquals(2, PromptSets.read(other).size());
        Path blank = dir.resolve("blank.txt");
        Files.writeString(blank, "\n  \n");
        assertMessage(() -> PromptSets.read(blank), blank + ": no prompts");
    }
}
