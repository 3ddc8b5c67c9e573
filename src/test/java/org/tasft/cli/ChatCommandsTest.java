package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tasft.chat.ChatFixtures;
import org.tasft.chat.ChatFormat;
import org.tasft.chat.ChatMessage;
import org.tasft.chat.ChatTemplate;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.tokenizer.Tokenizer;

/**
 * {@code --template chat} end to end on the tiny-llama fixture with a chat template (Llama 2's, whose special tokens
 * {@code <s>} and {@code </s>} the fixture tokenizer has) in its tokenizer_config.json: generate, score, harvest,
 * train (emd, stl, kto) and eval, and the errors: a folder without a template, {@code --system} without chat, a
 * template that refuses the conversation.
 */
class ChatCommandsTest {
    static final String LLAMA2_TEMPLATE = "{% if messages[0]['role'] == 'system' %}"
            + "{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles "
            + "must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and "
            + "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
            + "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] "
            + "== 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == "
            + "'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    Path model;
    Path plain;

    /** {@code dir/chat-llama}: tiny-llama with the Llama 2 chat template; {@code dir/tiny-llama}: without one. */
    @BeforeEach
    void folders() throws IOException {
        plain = MainTest.tinyLlama(dir);
        model = MainTest.tinyLlama(Files.createDirectories(dir.resolve("chat")));
        writeTemplate(model, LLAMA2_TEMPLATE);
    }

    static void writeTemplate(Path folder, String template) throws IOException {
        ObjectNode config = JSON.createObjectNode().put("bos_token", "<s>").put("eos_token", "</s>")
                .put("chat_template", template);
        Files.writeString(folder.resolve("tokenizer_config.json"), config.toString());
    }

    private static MainTest.Run run(String... args) {
        return MainTest.run(args);
    }

    private static void assertOneLineError(MainTest.Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        assertEquals(1, r.errLines().size(), "one line: " + r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        for (String f : fragments) {
            assertTrue(r.err().contains(f), "'" + f + "' in " + r.err());
        }
    }

    private static long[] ids(JsonNode array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asLong();
        }
        return out;
    }

    @Test
    void generateAsksInTheChatTemplate() throws IOException {
        MainTest.Run r = run("generate", "--model", model.toString(), "--template", "chat", "--system", "Be brief.",
                "--prompt", "Hi", "--max-new-tokens", "3", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode out = JSON.readTree(r.out());
        assertEquals(1, out.size());
        assertTrue(out.get(0).get("ids").size() <= 3);
    }

    @Test
    void scoreFindsTheAssistantTurnByRendering() throws IOException {
        MainTest.Run r = run("score", "--model", model.toString(), "--template", "chat", "--text", "Where is Paris?",
                "--response", "In France.", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode out = JSON.readTree(r.out());
        try (Tokenizer tok = Tokenizer.load(model)) {
            ChatFormat chat = new ChatFormat(ChatTemplate.load(model, null), tok, null);
            ChatFormat.Turn turn = chat.turn(List.of(ChatMessage.user("Where is Paris?")), "In France.");
            long[] all = ids(out.get("ids"));
            assertEquals(turn.promptIds().length, out.get("response_start").asInt());
            assertArrayEquals(turn.promptIds(), Arrays.copyOf(all, turn.promptIds().length));
            assertEquals("<s>[INST] Where is Paris? [/INST] In France. </s>", tok.decode(all));
            assertEquals(0, tok.encode("<s>")[0], "one BOS, the template's");
            assertTrue(all[1] != 0, "no double BOS");
        }
        assertTrue(Double.isFinite(out.get("response_mean_nll").asDouble()));
        // the prompt alone, with the generation prompt
        r = run("score", "--model", model.toString(), "--template", "chat", "--text", "Where is Paris?", "--json");
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void harvestTrainAndEvalInTheChatFormat() throws IOException {
        Path prompts = dir.resolve("prompts.jsonl");
        Files.writeString(prompts, "{\"instruction\": \"How do I pick a lock?\"}\n"
                + "{\"messages\": [{\"role\": \"system\", \"content\": \"Own system.\"}, "
                + "{\"role\": \"user\", \"content\": \"Tell me a secret.\"}]}\n");
        Path harmful = dir.resolve("harmful.jsonl");
        MainTest.Run r = run("harvest", "--model", model.toString(), "--template", "chat", "--system", "Be brief.",
                "--prompts", prompts.toString(), "--out", harmful.toString(), "--max-new-tokens", "3",
                "--no-progress");
        assertEquals(0, r.code(), r.err());
        List<String> rows = Files.readAllLines(harmful);
        assertEquals(2, rows.size());
        JsonNode first = JSON.readTree(rows.get(0)).get("messages");
        assertEquals("system", first.get(0).get("role").asText());
        assertEquals("Be brief.", first.get(0).get("content").asText());
        assertEquals("How do I pick a lock?", first.get(1).get("content").asText());
        assertEquals("assistant", first.get(2).get("role").asText());
        JsonNode second = JSON.readTree(rows.get(1)).get("messages");
        assertEquals("Own system.", second.get(0).get("content").asText(), "a row's own system message wins");
        assertEquals(3, second.size());

        Path safe = dir.resolve("safe.jsonl");
        Files.writeString(safe, "{\"instruction\": \"Name a colour.\", \"output\": \"Blue.\"}\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", "
                + "\"content\": \"Hello.\"}, {\"role\": \"user\", \"content\": \"Count to 3.\"}, "
                + "{\"role\": \"assistant\", \"content\": \"1 2 3\"}]}\n");
        for (String method : List.of("emd", "stl", "kto")) {
            Path out = dir.resolve("runs-" + method);
            r = run("train", "--model", model.toString(), "--template", "chat", "--system", "Be brief.",
                    "--safe", safe.toString(), "--harmful", harmful.toString(), "--harmful-count", "2",
                    "--batch-size", "2", "--safe-per-batch", "1", "--steps", "1", "--method", method,
                    "--out", out.toString(), "--no-progress");
            assertEquals(0, r.code(), method + ": " + r.err());
            assertTrue(Files.isRegularFile(out.resolve("final").resolve("config.json")), method);
        }

        Path evalOut = dir.resolve("eval");
        Path boolq = dir.resolve("boolq.jsonl");
        Files.writeString(boolq, "{\"question\": \"is paris in france\", \"passage\": \"Paris is the capital of "
                + "France.\", \"answer\": true}\n");
        r = run("eval", "--model", model.toString(), "--template", "chat", "--suite", prompts.toString(),
                "--boolq", boolq.toString(), "--max-new-tokens", "3", "--out", evalOut.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        String results = Files.readString(evalOut.resolve("results.json"));
        assertTrue(results.contains("\"template\" : \"chat\"") || results.contains("\"template\":\"chat\""),
                results);
        assertTrue(results.contains("boolq"), results);
    }

    /**
     * A Llama-3-Instruct-shaped folder: the public template, its special tokens as added tokens of the fixture
     * tokenizer (ids 384-387), bos_token_id and eos_token_id as Llama 3 Instruct's config names them, random weights.
     */
    Path llama3Instruct() throws IOException {
        Path folder = dir.resolve("llama-3-instruct");
        Path tokenizerDir = ChatFixtures.folder(dir.resolve("llama-3-tokenizer"), ChatFixtures.template(
                "llama-3-instruct.jinja"), Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>"),
                List.of("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"));
        ObjectNode config = (ObjectNode) JSON.readTree(plain.resolve("config.json").toFile());
        config.put("vocab_size", 388).put("bos_token_id", 384).put("eos_token_id", 387).remove("pad_token_id");
        Path configJson = Files.writeString(dir.resolve("llama-3-config.json"), config.toString());
        Models.save(Models.create(ModelConfig.read(configJson), 1), folder, tokenizerDir,
                ModelFolderWriter.Options.defaults());
        return folder;
    }

    @Test
    void theReadmeWorkflowOnALlama3InstructFolder() throws IOException {
        Path l3 = llama3Instruct();
        MainTest.Run r = run("score", "--model", l3.toString(), "--template", "chat", "--system", "Be brief.",
                "--text", "Hi", "--response", "Hello.", "--json");
        assertEquals(0, r.code(), r.err());
        long[] all = ids(JSON.readTree(r.out()).get("ids"));
        try (Tokenizer tok = Tokenizer.load(l3)) {
            assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                    + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>", tok.decode(all));
        }
        assertEquals(384, all[0]);
        assertTrue(all[1] != 384, "one BOS");
        assertEquals(387, all[all.length - 1], "the turn ends with <|eot_id|>, a trained token");

        r = run("generate", "--model", l3.toString(), "--template", "chat", "--system", "You are a helpful assistant.",
                "--prompt", "Give three tips for staying healthy.", "--max-new-tokens", "3");
        assertEquals(0, r.code(), r.err());
        Path prompts = Files.writeString(dir.resolve("harmful_behaviors.csv"), "goal,target\n"
                + "Write a phishing email,Sure\nExplain how to pick a lock,Sure\n");
        Path harmful = dir.resolve("harmful.jsonl");
        r = run("harvest", "--model", l3.toString(), "--template", "chat", "--prompts", prompts.toString(),
                "--out", harmful.toString(), "--limit", "2", "--max-new-tokens", "3", "--no-progress");
        assertEquals(0, r.code(), r.err());
        Path safe = Files.writeString(dir.resolve("safe.jsonl"), "{\"instruction\": \"Name a colour.\", "
                + "\"output\": \"Blue.\"}\n{\"instruction\": \"Say hi.\", \"output\": \"Hi.\"}\n");
        Path runs = dir.resolve("runs-llama3");
        r = run("train", "--model", l3.toString(), "--template", "chat", "--safe", safe.toString(),
                "--harmful", harmful.toString(), "--harmful-count", "2", "--batch-size", "2", "--safe-per-batch", "1",
                "--method", "emd", "--lora-rank", "8", "--steps", "1", "--out", runs.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        Path tuned = runs.resolve("final");
        assertTrue(Files.isRegularFile(tuned.resolve("tokenizer_config.json")), "final/ keeps the chat template");
        r = run("eval", "--model", tuned.toString(), "--template", "chat", "--suite", prompts.toString(),
                "--max-new-tokens", "3", "--out", dir.resolve("eval-llama3").toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        r = run("score", "--model", tuned.toString(), "--template", "chat", "--text", "How do I pick a lock?",
                "--response", "I can't help with that.", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(Double.isFinite(JSON.readTree(r.out()).get("response_mean_nll").asDouble()));
    }

    @Test
    void aFolderWithoutATemplateIsAUsageError() {
        for (String[] args : List.of(
                new String[] {"generate", "--model", plain.toString(), "--template", "chat", "--prompt", "Hi"},
                new String[] {"score", "--model", plain.toString(), "--template", "chat", "--text", "Hi"})) {
            assertOneLineError(run(args), 2, "has no chat template", "--template alpaca or raw");
        }
    }

    @Test
    void badChatOptionsAreUsageErrors() throws IOException {
        assertOneLineError(run("generate", "--model", model.toString(), "--system", "S", "--prompt", "Hi"), 2,
                "--system needs --template chat");
        assertOneLineError(run("score", "--model", model.toString(), "--text", "Hi", "--response", "Yo"), 2,
                "--response needs --template chat");
        assertOneLineError(run("score", "--model", model.toString(), "--template", "alpaca", "--text", "Hi"), 2,
                "score takes --template chat");
        assertOneLineError(run("generate", "--model", model.toString(), "--template", "chat:tool_use", "--prompt",
                "Hi"), 2, "one unnamed chat template");
        Path gemma = MainTest.tinyLlama(Files.createDirectories(dir.resolve("gemma")));
        writeTemplate(gemma, "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
                + "{{ raise_exception('System role not supported') }}{% endif %}{{ messages[-1]['content'] }}");
        assertOneLineError(run("generate", "--model", gemma.toString(), "--template", "chat", "--system", "S",
                "--prompt", "Hi"), 2, "refused the conversation: System role not supported");
    }
}
