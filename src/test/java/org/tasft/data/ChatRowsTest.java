package org.tasft.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.chat.ChatMessage;
import org.tasft.eval.EvalPrompt;
import org.tasft.eval.PromptSets;

/** Chat rows (TRL's {@code messages}) beside Alpaca rows, in training data and in prompt sets. */
class ChatRowsTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void trainingDataTakesChatRows() throws IOException {
        Path file = write("safe.jsonl", "{\"instruction\": \"A\", \"output\": \"B\"}\n"
                + "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, "
                + "{\"role\": \"user\", \"content\": \"Hi\"},"
                + " {\"role\": \"assistant\", \"content\": \"Hello\"}, {\"role\": \"user\", \"content\": \"Q\"},"
                + " {\"role\": \"assistant\", \"content\": \"R\"}]}\n");
        List<Example> examples = AlpacaData.read(file, Example.Kind.HARMFUL);
        assertEquals(Example.harmful("A", "", "B"), examples.get(0));
        assertEquals(new Example("Q", "", "R", Example.Kind.HARMFUL, List.of(ChatMessage.system("S"),
                ChatMessage.user("Hi"), ChatMessage.assistant("Hello"))), examples.get(1));
    }

    @Test
    void badChatRowsNameTheLine() throws IOException {
        assertError("{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}]}",
                "line 1: \"messages\" must end with the \"assistant\" answer");
        assertError("{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}], \"output\": \"R\"}",
                "both \"messages\" and \"output\"");
        assertError("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}",
                "messages[0] must be an object with string \"role\" and \"content\"");
        assertError("{\"messages\": [{\"role\": \"assistant\", \"content\": \"R\"}]}", "has no \"user\" turn");
        assertError("{\"messages\": []}", "must be a non-empty array");
    }

    private void assertError(String row, String fragment) throws IOException {
        Path file = write("bad.jsonl", row + "\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AlpacaData.read(file));
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    }

    @Test
    void stlKeepsTheChatContextOfItsPrompts() {
        Example harmful = new Example("Q", "", "bad", Example.Kind.HARMFUL, List.of(ChatMessage.system("S")));
        Example refusal = StlData.pairWithRefusals(List.of(harmful), List.of("No."), 1).get(0);
        assertEquals(new Example("Q", "", "No.", Example.Kind.SAFE, List.of(ChatMessage.system("S"))), refusal);
    }

    @Test
    void promptSetsTakeChatRows() throws IOException {
        Path file = write("prompts.jsonl", "{\"prompt\": \"P\"}\n"
                + "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, "
                + "{\"role\": \"user\", \"content\": \"Q\"},"
                + " {\"role\": \"assistant\", \"content\": \"ignored\"}], \"label\": \"unsafe\"}\n");
        List<EvalPrompt> prompts = PromptSets.read(file).prompts();
        assertEquals(new EvalPrompt("P", "", "", 1), prompts.get(0));
        assertEquals(new EvalPrompt("Q", "", "unsafe", 2, List.of(ChatMessage.system("S"))), prompts.get(1));
        Path json = write("prompts.json", "[{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}]}]");
        assertEquals("Q", PromptSets.read(json).prompts().get(0).instruction());
    }
}
