package org.tasft.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tasft.data.Batch;
import org.tasft.data.EncodedExample;
import org.tasft.data.Example;
import org.tasft.data.ExampleEncoder;
import org.tasft.tokenizer.Tokenizer;

/**
 * The five public templates as token ids (the template's special tokens added to the fixture tokenizer): the ids
 * of the documented text (special tokens as their own ids, the text between them as the tokenizer encodes it, no
 * BOS added), and the assistant mask of a training example: exactly the assistant turn's ids carry labels.
 */
class ChatFormatTest {
    record Case(String name, Map<String, String> tokens, List<String> specials, String singlePrompt,
            String answerTurn, boolean system, String endOfTurn) {
    }

    static Stream<Arguments> templates() {
        return Stream.of(
                new Case("llama-2-chat", ChatTemplateTest.LLAMA2_TOKENS, List.of(),
                        "<s>[INST] Hello! [/INST]", " Hi there. </s>", true, "</s>"),
                new Case("llama-3-instruct", ChatTemplateTest.LLAMA3_TOKENS, List.of("<|begin_of_text|>",
                        "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
                        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
                                + "<|start_header_id|>assistant<|end_header_id|>\n\n", "Hi there.<|eot_id|>", true,
                        "<|eot_id|>"),
                new Case("mistral-instruct", ChatTemplateTest.LLAMA2_TOKENS, List.of(),
                        "<s>[INST] Hello! [/INST]", "Hi there.</s>", false, "</s>"),
                new Case("qwen2-instruct", ChatTemplateTest.QWEN2_TOKENS, List.of("<|endoftext|>", "<|im_start|>",
                        "<|im_end|>"), "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                                + "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
                        "Hi there.<|im_end|>\n", true, "<|im_end|>"),
                new Case("gemma-2-it", ChatTemplateTest.GEMMA_TOKENS, List.of("<bos>", "<eos>", "<start_of_turn>",
                        "<end_of_turn>"), "<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n",
                        "Hi there.<end_of_turn>\n", false, "<end_of_turn>"))
                .map(Arguments::of);
    }

    static Tokenizer tokenizer(Path dir, Case c) throws IOException {
        ChatFixtures.folder(dir, ChatTemplateTest.resource(c.name() + ".jinja"), c.tokens(), c.specials());
        return Tokenizer.load(dir);
    }

    /** The ids of a documented text: each special token its id, the text between encoded plainly. */
    static long[] expectedIds(Tokenizer tok, String text, List<String> specials) {
        List<String> all = new ArrayList<>(specials);
        all.addAll(List.of("<s>", "</s>"));
        StringBuilder alternation = new StringBuilder();
        for (String s : all) {
            alternation.append(alternation.length() == 0 ? "" : "|").append(Pattern.quote(s));
        }
        Matcher m = Pattern.compile(alternation.toString()).matcher(text);
        List<Long> ids = new ArrayList<>();
        int at = 0;
        while (m.find()) {
            for (long id : tok.encode(text.substring(at, m.start()))) {
                ids.add(id);
            }
            ids.add(tok.specialTokenId(m.group()).orElseThrow());
            at = m.end();
        }
        for (long id : tok.encode(text.substring(at))) {
            ids.add(id);
        }
        return ids.stream().mapToLong(Long::longValue).toArray();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("templates")
    void promptIdsAreTheDocumentedTextsIds(Case c, @TempDir Path dir) throws IOException {
        try (Tokenizer tok = tokenizer(dir, c)) {
            ChatFormat chat = new ChatFormat(ChatTemplate.load(dir, null), tok, null);
            long[] ids = chat.promptIds(chat.conversation(List.of(), "Hello!", ""));
            assertArrayEquals(expectedIds(tok, c.singlePrompt(), c.specials()), ids);
            assertEquals(c.singlePrompt(), tok.decode(ids));
            assertEquals(List.of(tok.specialTokenId(c.endOfTurn()).orElseThrow()), chat.endOfTurnIds(),
                    "generation stops where the template ends the assistant's turn");
            if (tok.bosId().isPresent() && ids.length > 1) {
                assertTrue(ids[1] != tok.bosId().getAsLong(), "no double BOS");
            }
            // multi-turn, with the template's special tokens as single ids
            List<ChatMessage> multi = ChatTemplateTest.MULTI;
            long[] multiIds = chat.promptIds(multi);
            assertArrayEquals(expectedIds(tok, ChatTemplate.load(dir, null).render(multi, true), c.specials()),
                    multiIds);
            if (c.system()) {
                List<ChatMessage> withSystem = ChatTemplateTest.WITH_SYSTEM;
                assertArrayEquals(expectedIds(tok, ChatTemplate.load(dir, null).render(withSystem, true),
                        c.specials()), chat.promptIds(withSystem));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("templates")
    void theLossCoversExactlyTheAssistantTurn(Case c, @TempDir Path dir) throws IOException {
        try (Tokenizer tok = tokenizer(dir, c)) {
            ChatFormat chat = new ChatFormat(ChatTemplate.load(dir, null), tok, null);
            ExampleEncoder encoder = new ExampleEncoder(tok, chat, 128);
            EncodedExample e = encoder.encode(Example.harmful("Hello!", "", "Hi there."));
            long[] prompt = chat.promptIds(chat.conversation(List.of(), "Hello!", ""));
            assertEquals(prompt.length, e.promptLength());
            assertArrayEquals(prompt, Arrays.copyOf(e.inputIds(), prompt.length), "the ids the model is asked with");
            for (int i = 0; i < e.length(); i++) {
                assertEquals(i < prompt.length ? Batch.IGNORE_INDEX : e.inputIds()[i], e.labels()[i], "label " + i);
            }
            assertEquals(c.answerTurn(), tok.decode(e.responseIds()), "the assistant turn, its end-of-turn included");
            assertEquals(c.singlePrompt() + c.answerTurn(), tok.decode(e.inputIds()));
            assertArrayEquals(expectedIds(tok, c.singlePrompt() + c.answerTurn(), c.specials()), e.inputIds(),
                    "the answered conversation (no generation prompt) as the documented text's ids");

            // multi-turn with a system message (where the template has one): only the last answer is trained
            List<ChatMessage> context = new ArrayList<>();
            if (c.system()) {
                context.add(ChatMessage.system("Be brief."));
            }
            context.add(ChatMessage.user("Hi"));
            context.add(ChatMessage.assistant("Hello, how can I help?"));
            EncodedExample m = encoder.encode(new Example("Hello!", "", "Hi there.", Example.Kind.SAFE, context));
            assertEquals(c.answerTurn(), tok.decode(m.responseIds()));
            List<ChatMessage> asked = new ArrayList<>(context);
            asked.add(ChatMessage.user("Hello!"));
            assertEquals(ChatTemplate.load(dir, null).render(asked, true),
                    tok.decode(Arrays.copyOf(m.inputIds(), m.promptLength())));
        }
    }

    @Test
    void theSystemOptionGoesFirstUnlessTheConversationHasOne(@TempDir Path dir) throws IOException {
        Case c = (Case) templates().findFirst().orElseThrow().get()[0];
        try (Tokenizer tok = tokenizer(dir, c)) {
            ChatFormat chat = new ChatFormat(ChatTemplate.load(dir, null), tok, "Be safe.");
            assertEquals(List.of(ChatMessage.system("Be safe."), ChatMessage.user("a\n\nb")),
                    chat.conversation(List.of(), "a", "b"));
            assertEquals(List.of(ChatMessage.system("Own."), ChatMessage.user("a")),
                    chat.conversation(List.of(ChatMessage.system("Own.")), "a", ""));
            assertEquals("<s>[INST] <<SYS>>\nBe safe.\n<</SYS>>\n\na [/INST]",
                    tok.decode(chat.promptIds(chat.conversation(List.of(), "a", ""))));
        }
    }

    @Test
    void aTemplateThatIsNotPrefixStableIsRefused(@TempDir Path dir) throws IOException {
        ChatFixtures.folder(dir, "{% for m in messages %}{{ m.content }}{% endfor %}"
                + "{% if add_generation_prompt %}<gen>{% endif %}", Map.of(), List.of());
        try (Tokenizer tok = Tokenizer.load(dir)) {
            ChatFormat chat = new ChatFormat(ChatTemplate.load(dir, null), tok, null);
            ChatTemplateException e = assertThrows(ChatTemplateException.class,
                    () -> chat.turn(List.of(ChatMessage.user("Hello!")), "Hi"));
            assertTrue(e.getMessage().contains("is not prefix-stable"), e.getMessage());
        }
    }

    @Test
    void aDoubleBosIsRefused(@TempDir Path dir) throws IOException {
        ChatFixtures.folder(dir, "{{ bos_token }}<s>{% for m in messages %}{{ m.content }}{% endfor %}",
                Map.of("bos_token", "<s>"), List.of());
        try (Tokenizer tok = Tokenizer.load(dir)) {
            ChatFormat chat = new ChatFormat(ChatTemplate.load(dir, null), tok, null);
            ChatTemplateException e = assertThrows(ChatTemplateException.class,
                    () -> chat.promptIds(List.of(ChatMessage.user("Hello!"))));
            assertTrue(e.getMessage().contains("two BOS tokens"), e.getMessage());
        }
    }

    @Test
    void aTextTemplateRefusesChatContext(@TempDir Path dir) throws IOException {
        Case c = (Case) templates().findFirst().orElseThrow().get()[0];
        try (Tokenizer tok = tokenizer(dir, c)) {
            ExampleEncoder alpaca = new ExampleEncoder(tok, 128);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> alpaca.encode(
                    new Example("a", "", "b", Example.Kind.SAFE, List.of(ChatMessage.system("s")))));
            assertTrue(e.getMessage().contains("needs --template chat"), e.getMessage());
        }
    }
}
