package org.tasft.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PromptTemplateTest {
    @Test
    void alpacaWithoutInput() {
        assertEquals("Below is an instruction that describes a task. Write a response that appropriately completes"
                + " the request.\n\n### Instruction:\nGive three tips for staying healthy.\n\n### Response:\n",
                PromptTemplate.ALPACA.format("Give three tips for staying healthy."));
        assertEquals(PromptTemplate.ALPACA.format("x"), PromptTemplate.ALPACA.format("x", ""));
        assertEquals(PromptTemplate.ALPACA.format("x"), PromptTemplate.ALPACA.format("x", null));
    }

    @Test
    void alpacaWithInput() {
        assertEquals("Below is an instruction that describes a task, paired with an input that provides further"
                + " context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                + "Translate to French.\n\n### Input:\nGood morning\n\n### Response:\n",
                PromptTemplate.ALPACA.format("Translate to French.", "Good morning"));
    }

    @Test
    void rawIsTheTextAsIs() {
        assertEquals("  a {input} b\n", PromptTemplate.RAW.format("  a {input} b\n"));
        assertThrows(IllegalArgumentException.class, () -> PromptTemplate.RAW.format("a", "b"));
    }

    @Test
    void placeholdersInsideTheInstructionAreNotExpanded() {
        assertEquals("Q: say {input}\nC: ctx\nA:",
                PromptTemplate.of("t", "Q: {instruction}\nC: {input}\nA:").format("say {input}", "ctx"));
    }

    @Test
    void namedTemplatesAndFiles(@TempDir Path dir) throws IOException {
        assertSame(PromptTemplate.ALPACA, PromptTemplate.named("alpaca"));
        assertSame(PromptTemplate.RAW, PromptTemplate.named("raw"));
        Path file = dir.resolve("t.txt");
        Files.writeString(file, "[INST] {instruction} [/INST]");
        PromptTemplate t = PromptTemplate.named(file.toString());
        assertEquals("[INST] héllo 🙂 [/INST]", t.format("héllo 🙂"));
        assertThrows(IllegalArgumentException.class, () -> t.format("a", "an input it cannot place"));

        Files.writeString(file, "no placeholder");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PromptTemplate.named(file.toString()));
        assertTrue(e.getMessage().contains("{instruction}"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PromptTemplate.named("nonexistent-template"));
        assertTrue(e.getMessage().contains("alpaca, raw"), e.getMessage());
    }
}
