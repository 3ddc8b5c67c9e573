package org.tasft.harvest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.data.AlpacaData;
import org.tasft.data.Example;
import org.tasft.eval.EvalPrompt;
import org.tasft.eval.PromptSets;
import org.tasft.generate.GenerationOptions;
import org.tasft.generate.Generator;
import org.tasft.model.CausalLm;
import org.tasft.model.Models;
import org.tasft.tokenizer.PromptTemplate;
import org.tasft.tokenizer.Tokenizer;

class HarvestTest {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    @TempDir
    Path dir;

    static Path model() {
        try {
            return Path.of(HarvestTest.class.getResource("/fixtures/tiny-llama").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    private Path prompts() throws IOException {
        return write("prompts.txt", "Do a bad thing.\n\nDo another bad thing.\n  Do worse.  \nAnd worse.\n");
    }

    private static Harvest.Options opts(int maxNew, int batch) {
        return new Harvest.Options(maxNew, batch, 0.0, 1.0, 0, -1);
    }

    @Test
    void readsJsonJsonlCsvAndText() throws IOException {
        Path json = write("a.json", "[{\"instruction\": \"Tell me.\", \"input\": \"ctx\", \"output\": \"ignored\"},"
                + " {\"prompt\": \"Say it.\"}]");
        List<EvalPrompt> p = PromptSets.read(json).prompts();
        assertEquals(2, p.size());
        assertEquals("Tell me.", p.get(0).instruction());
        assertEquals("ctx", p.get(0).input());
        assertEquals("", p.get(1).input());

        Path jsonl = write("b.jsonl", "{\"instruction\": \"One.\"}\n\n{\"prompt\": \"Two.\", \"input\": \"x\"}\n");
        p = PromptSets.read(jsonl).prompts();
        assertEquals(List.of("One.", "Two."), p.stream().map(EvalPrompt::instruction).toList());
        assertEquals(3, p.get(1).line());

        // AdvBench's shape: goal,target; quoting with commas, doubled quotes and a line break inside a field
        Path csv = write("advbench.csv", "goal,target\n"
                + "\"Write a script, that exploits \"\"it\"\"\",\"Sure, here is\"\n"
                + "\n"
                + "\"Two\nlines\",t\n"
                + "Plain goal,Sure\n");
        p = PromptSets.read(csv).prompts();
        assertEquals(List.of("Write a script, that exploits \"it\"", "Two\nlines", "Plain goal"),
                p.stream().map(EvalPrompt::instruction).toList());

        p = PromptSets.read(prompts()).prompts();
        assertEquals(List.of("Do a bad thing.", "Do another bad thing.", "Do worse.", "And worse."),
                p.stream().map(EvalPrompt::instruction).toList());
        assertEquals(4, p.get(2).line());
        // any other extension is text, even if it looks like JSON
        assertEquals("[{\"instruction\": \"Q\"}]", PromptSets.read(write("noext", " [{\"instruction\": \"Q\"}]"))
                .prompts().get(0).instruction());
    }

    @Test
    void badPromptFilesNameTheFileAndLine() throws IOException {
        assertError(dir.resolve("missing.txt"), dir.resolve("missing.txt") + ": no such file");
        Path bad = write("bad.jsonl", "{\"instruction\": \"ok\"}\n{\"instruction\": \n");
        assertError(bad, bad + ":2: malformed JSON");
        Path noColumn = write("nocol.csv", "answer,target\nq,a\n");
        assertError(noColumn, noColumn + ":2: no prompt field");
        Path ragged = write("ragged.csv", "goal,target\na,b\nc,d,e\n");
        assertError(ragged, ragged + ":3: a row of 3 fields");
        Path emptyCell = write("empty.csv", "goal,target\n  ,b\n");
        assertError(emptyCell, emptyCell + ":2: empty prompt");
        Path blank = write("blank.txt", "\n \n");
        assertError(blank, blank + ": no prompts");
        Path latin1 = dir.resolve("latin1.txt");
        Files.write(latin1, new byte[] {'a', (byte) 0xE9, '\n'});
        assertError(latin1, latin1 + ":1: not UTF-8 text (byte 0xE9 at column 2)");
    }

    private static void assertError(Path file, String prefix) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptSets.read(file));
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
    }

    @Test
    void greedyAnswersAreTheModelsOwnAndTrainReadsThem() throws IOException {
        Path out = dir.resolve("sub/harmful.jsonl");
        Harvest.Summary s = Harvest.run(model(), prompts(), out, opts(12, 3), false, false, QUIET);
        assertEquals(4, s.prompts());
        List<Example> read = AlpacaData.read(out, Example.Kind.HARMFUL);
        assertEquals(4, read.size());

        // the oracle: each prompt alone, encoded with the tokenizer's own special tokens, greedy
        CausalLm lm = Models.load(model());
        try (Tokenizer tok = Tokenizer.load(model())) {
            Set<Long> stop = new LinkedHashSet<>(tok.eosIds());
            lm.config().eosTokenIds().forEach(id -> stop.add(id.longValue()));
            GenerationOptions go = GenerationOptions.defaults().maxNewTokens(12)
                    .stopTokens(stop.stream().mapToLong(Long::longValue).toArray());
            List<String> instructions = List.of("Do a bad thing.", "Do another bad thing.", "Do worse.",
                    "And worse.");
            int nonEmpty = 0;
            for (int i = 0; i < 4; i++) {
                long[] ids = tok.encode(PromptTemplate.ALPACA.format(instructions.get(i)), true);
                String expected = tok.decode(new Generator(lm).generate(ids, go).tokens(), true);
                assertEquals(instructions.get(i), read.get(i).instruction());
                assertEquals("", read.get(i).input());
                assertEquals(expected, read.get(i).output(), "answer " + i);
                nonEmpty += expected.isEmpty() ? 0 : 1;
            }
            assertTrue(nonEmpty > 0, "the answers should not all be empty");
        }
        try (Stream<Path> files = Files.list(out.getParent())) {
            assertEquals(List.of("harmful.jsonl"), files.map(p -> p.getFileName().toString()).toList(),
                    "no temporary files left");
        }
    }

    @Test
    void refusesToOverwriteUnlessAskedAndHonoursLimit() throws IOException {
        Path out = write("harmful.jsonl", "{\"instruction\": \"keep me\", \"output\": \"x\"}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Harvest.run(model(), prompts(), out, opts(4, 2), false, false, QUIET));
        assertTrue(e.getMessage().contains("exists; give --overwrite"), e.getMessage());
        assertEquals("keep me", AlpacaData.read(out).get(0).instruction());
        Harvest.run(model(), prompts(), out, new Harvest.Options(4, 2, 0, 1, 0, 2), true, false, QUIET);
        List<Example> read = AlpacaData.read(out);
        assertEquals(2, read.size());
        assertEquals("Do a bad thing.", read.get(0).instruction());
        // a file that appears at the last moment is not replaced either
        Path late = dir.resolve("late.jsonl");
        Files.writeString(late, "theirs");
        e = assertThrows(IllegalArgumentException.class, () -> Harvest.write(late, read, false));
        assertEquals("theirs", Files.readString(late));
    }

    @Test
    void samplingRepeatsWithTheSeedAtAnyBatchSize() throws IOException {
        List<List<String>> runs = new ArrayList<>();
        int[][] settings = {{1, 7}, {3, 7}, {4, 8}};
        for (int[] st : settings) {
            Path out = dir.resolve("s-" + st[0] + "-" + st[1] + ".jsonl");
            Harvest.run(model(), prompts(), out, new Harvest.Options(10, st[0], 1.0, 0.9, st[1], -1), false, false,
                    QUIET);
            runs.add(AlpacaData.read(out).stream().map(Example::output).toList());
        }
        assertEquals(runs.get(0), runs.get(1), "batch size must not change the samples");
        assertNotEquals(runs.get(0), runs.get(2), "another seed should give other samples");
    }

    @Test
    void answersCutByTheContextSayStopContextLimitAndAreNoted() throws IOException {
        // tiny-llama's context is 128 tokens: 127 new tokens after a ~40-token prompt reach it first
        Path out = dir.resolve("o.jsonl");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Harvest.Summary s = Harvest.run(model(), prompts(), out, opts(127, 2), false, false,
                new PrintStream(log, true, StandardCharsets.UTF_8));
        String logged = log.toString(StandardCharsets.UTF_8);
        List<String> stops = Files.readAllLines(out).stream()
                .map(l -> l.replaceAll(".*\"stop\":\"([a-z_]+)\".*", "$1")).toList();
        assertEquals(4, stops.size());
        assertEquals(stops.stream().filter("context_limit"::equals).count(), s.cutAtContext(), stops.toString());
        assertTrue(s.cutAtContext() > 0, stops.toString());
        assertTrue(stops.stream().allMatch(x -> x.equals("context_limit") || x.equals("eos")), stops.toString());
        assertEquals(0, s.cutAtLimit());
        assertTrue(logged.contains("tasft harvest: note: " + s.cutAtContext() + " of 4 answers stopped at the "
                + "model's context limit (128 tokens"), logged);
        assertEquals(4, AlpacaData.read(out, Example.Kind.HARMFUL).size(), "train reads the rows");

        // short answers: no note
        log.reset();
        Harvest.run(model(), prompts(), dir.resolve("short.jsonl"), opts(4, 2), false, false,
                new PrintStream(log, true, StandardCharsets.UTF_8));
        assertFalse(log.toString(StandardCharsets.UTF_8).contains("note"), log.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aPromptThatFillsTheContextIsNamed() throws IOException {
        Path p = write("long.txt", "Short one.\n" + "word ".repeat(200) + "\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Harvest.run(model(), p, dir.resolve("o.jsonl"), opts(8, 2), false, false, QUIET));
        assertTrue(e.getMessage().startsWith(p + ":2: the prompt is "), e.getMessage());
        assertTrue(e.getMessage().contains("fills the model's context of 128"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("o.jsonl")));
    }

    @Test
    void badOptionsNameTheOption() {
        assertThrows(IllegalArgumentException.class, () -> new Harvest.Options(0, 1, 0, 1, 0, -1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Harvest.Options(8, 1, -1, 1, 0, -1));
        assertTrue(e.getMessage().startsWith("--temperature"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Harvest.Options(8, 0, 0, 1, 0, -1));
        assertTrue(e.getMessage().startsWith("--batch-size"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Harvest.Options(8, 1, 0, 1.5, 0, -1));
        assertTrue(e.getMessage().startsWith("--top-p"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Harvest.Options(8, 1, 0, 1, 0, 0));
        assertTrue(e.getMessage().startsWith("--limit"), e.getMessage());
    }
}
