package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A bad value is reported under the option the user typed (--top-p), never under a field's name (topP). */
class OptionNamesTest {
    /** A Java field name: lower case, then an upper-case letter (topP, maxNewTokens, safePerBatch). */
    private static final Pattern CAMEL_CASE = Pattern.compile("\\b[a-z]+[A-Z][A-Za-z]*\\b");

    @TempDir
    Path dir;
    Path model;
    Path prompts;

    @BeforeEach
    void files() throws IOException {
        model = MainTest.tinyLlama(dir);
        prompts = Files.writeString(dir.resolve("p.jsonl"), "{\"instruction\": \"Say hi.\", \"output\": \"Hi.\"}\n"
                + "{\"instruction\": \"Say bye.\", \"output\": \"Bye.\"}\n");
    }

    private static void assertNamed(MainTest.Run r, String expected) {
        assertEquals(Main.USAGE, r.code(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains(expected), "'" + expected + "' in " + r.err());
        Matcher m = CAMEL_CASE.matcher(r.err());
        assertFalse(m.find(), "a field name in " + r.err());
    }

    private MainTest.Run generate(String... more) {
        String[] head = {"generate", "--model", model.toString(), "--prompt", "hi"};
        return MainTest.run(concat(head, more));
    }

    private MainTest.Run eval(String... more) {
        String[] head = {"eval", "--model", model.toString(), "--suite", prompts.toString(), "--out",
            dir.resolve("e").toString(), "--quiet"};
        return MainTest.run(concat(head, more));
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = new String[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void generateAndEvalName() {
        assertNamed(generate("--top-p", "2"), "--top-p must be in (0, 1], got 2.0");
        assertNamed(generate("--top-p", "0"), "--top-p must be in (0, 1]");
        assertNamed(generate("--max-new-tokens", "-1"), "--max-new-tokens must be >= 0, got -1");
        assertNamed(generate("--temperature", "-1"), "--temperature must be a finite number >= 0");
        assertNamed(eval("--batch-size", "0"), "--batch-size must be >= 1, got 0");
        assertNamed(eval("--max-new-tokens", "0"), "--max-new-tokens must be >= 1, got 0");
        assertNamed(eval("--limit", "-1"), "--limit must be >= 0, got -1");
        assertNamed(eval("--boolq-choices", "Yes,Yes"), "--boolq-choices needs two different");
    }

    @Test
    void experimentAndTrainName() {
        assertNamed(MainTest.run("experiment", "--counts", "0"), "--counts must be >= 1, got 0");
        assertNamed(MainTest.run("experiment", "--steps", "0"), "--steps must be >= 1, got 0");
        assertNamed(MainTest.run("experiment", "--curve-points", "-1"), "--curve-points must be >= 0, got -1");
        assertNamed(MainTest.run("experiment", "--beta", "0"), "--beta must be a finite number > 0");
        assertNamed(MainTest.run("experiment", "--lambda", "NaN"), "--lambda must be a finite number");
        assertNamed(MainTest.run("experiment", "--methods", "emd,dpo"),
                "error: --methods: unknown method 'dpo' (known: emd, sft, nlcl, ga, kto, stl, emd-cap)");
    }
}
