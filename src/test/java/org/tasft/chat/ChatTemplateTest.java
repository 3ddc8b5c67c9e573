package org.tasft.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The public chat templates of Llama-2-chat, Llama-3-Instruct, Mistral-Instruct (v0.1/v0.2), Qwen2-Instruct and
 * Gemma-2-it (test resources, verbatim from their tokenizer_config.json) rendered on Jinjava, against the formats
 * their model cards document, written out by hand: single and multi-turn, with and without a system message and the
 * generation prompt; templates that refuse; the Jinja features transformers' environment adds.
 */
class ChatTemplateTest {
    static final Map<String, String> LLAMA2_TOKENS = Map.of("bos_token", "<s>", "eos_token", "</s>");
    static final Map<String, String> LLAMA3_TOKENS = Map.of("bos_token", "<|begin_of_text|>",
            "eos_token", "<|eot_id|>");
    static final Map<String, String> QWEN2_TOKENS = Map.of("eos_token", "<|im_end|>", "pad_token", "<|endoftext|>");
    static final Map<String, String> GEMMA_TOKENS = Map.of("bos_token", "<bos>", "eos_token", "<eos>");

    static final List<ChatMessage> SINGLE = List.of(ChatMessage.user("Hello!"));
    static final List<ChatMessage> WITH_SYSTEM = List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hello!"));
    static final List<ChatMessage> MULTI = List.of(ChatMessage.user("Hi"),
            ChatMessage.assistant("Hello, how can I help?"),
            ChatMessage.user("Tell me a joke."));
    static final List<ChatMessage> MULTI_SYSTEM = with(ChatMessage.system("Be brief."), MULTI);
    static final List<ChatMessage> ANSWERED = List.of(ChatMessage.user("Hello!"), ChatMessage.assistant("Hi there."));

    static ChatTemplate template(String name, Map<String, String> tokens) {
        return ChatTemplate.of(resource(name + ".jinja"), tokens, name);
    }

    static String resource(String name) {
        return ChatFixtures.template(name);
    }

    static List<ChatMessage> with(ChatMessage first, List<ChatMessage> rest) {
        List<ChatMessage> all = new ArrayList<>();
        all.add(first);
        all.addAll(rest);
        return all;
    }

    @Test
    void llama2ChatRendersAsDocumented() {
        ChatTemplate t = template("llama-2-chat", LLAMA2_TOKENS);
        assertEquals("<s>[INST] Hello! [/INST]", t.render(SINGLE, false));
        assertEquals("<s>[INST] Hello! [/INST]", t.render(SINGLE, true), "Llama 2 has no generation prompt");
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello! [/INST]", t.render(WITH_SYSTEM, true));
        assertEquals("<s>[INST] Hi [/INST] Hello, how can I help? </s><s>[INST] Tell me a joke. [/INST]",
                t.render(MULTI, true));
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello, how can I help? </s>"
                + "<s>[INST] Tell me a joke. [/INST]", t.render(MULTI_SYSTEM, false));
        assertEquals("<s>[INST] Hello! [/INST] Hi there. </s>", t.render(ANSWERED, false));
    }

    @Test
    void llama3InstructRendersAsDocumented() {
        ChatTemplate t = template("llama-3-instruct", LLAMA3_TOKENS);
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>",
                t.render(SINGLE, false));
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(SINGLE, true));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(WITH_SYSTEM, true));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello, how can I help?<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", t.render(MULTI_SYSTEM, true));
        // | trim binds to the content only, as in Jinja: "  x \n" -> "x", the header's newlines stay
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>",
                t.render(List.of(ChatMessage.user("  x \n")), false));
    }

    /**
     * Llama 3.1/3.2 Instruct's template: {{- }} and {#- #} white-space control, `is defined` on strftime_now (today's
     * date, as transformers gives it), `not ... is none`, tools left out.
     */
    @Test
    void llama31InstructRendersAsDocumented() {
        ChatTemplate t = template("llama-3.1-instruct", LLAMA3_TOKENS);
        String today = java.time.LocalDate.now().format(java.time.format.DateTimeFormatter.ofPattern("dd MMM yyyy",
                java.util.Locale.ENGLISH));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                + "December 2023\nToday Date: " + today + "\n\nBe brief.<|eot_id|><|start_header_id|>user"
                + "<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                t.render(WITH_SYSTEM, true));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                + "December 2023\nToday Date: " + today + "\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>"
                + "\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>",
                t.render(ANSWERED, false));
    }

    @Test
    void mistralInstructRendersAsDocumented() {
        ChatTemplate t = template("mistral-instruct", LLAMA2_TOKENS);
        assertEquals("<s>[INST] Hello! [/INST]", t.render(SINGLE, true));
        assertEquals("<s>[INST] Hi [/INST]Hello, how can I help?</s>[INST] Tell me a joke. [/INST]",
                t.render(MULTI, false));
        assertEquals("<s>[INST] Hello! [/INST]Hi there.</s>", t.render(ANSWERED, false));
    }

    @Test
    void qwen2InstructRendersAsDocumented() {
        ChatTemplate t = template("qwen2-instruct", QWEN2_TOKENS);
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nHello!<|im_end|>\n", t.render(SINGLE, false));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                + "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", t.render(SINGLE, true));
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
                + "<|im_start|>assistant\n", t.render(WITH_SYSTEM, true));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello, how can I help?<|im_end|>\n<|im_start|>user\nTell me a joke."
                + "<|im_end|>\n<|im_start|>assistant\n", t.render(MULTI, true));
    }

    @Test
    void gemmaRendersAsDocumented() {
        ChatTemplate t = template("gemma-2-it", GEMMA_TOKENS);
        assertEquals("<bos><start_of_turn>user\nHello!<end_of_turn>\n", t.render(SINGLE, false));
        assertEquals("<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n", t.render(SINGLE, true));
        assertEquals("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello, how can I help?"
                + "<end_of_turn>\n<start_of_turn>user\nTell me a joke.<end_of_turn>\n<start_of_turn>model\n",
                t.render(MULTI, true));
    }

    @Test
    void aTemplateThatRaisesIsAClearError() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> template("gemma-2-it", GEMMA_TOKENS).render(WITH_SYSTEM, true));
        assertEquals("the chat template (gemma-2-it) refused the conversation: System role not supported",
                e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> template("llama-2-chat", LLAMA2_TOKENS)
                .render(List.of(ChatMessage.user("a"), ChatMessage.user("b")), true));
        assertTrue(e.getMessage().endsWith("Conversation roles must alternate user/assistant/user/assistant/..."),
                e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> template("mistral-instruct", LLAMA2_TOKENS)
                .render(List.of(ChatMessage.user("a"), new ChatMessage("tool", "b")), true));
        assertTrue(e.getMessage().contains("refused the conversation"), e.getMessage());
    }

    @Test
    void transformersJinjaFeatures() {
        List<ChatMessage> m = List.of(ChatMessage.system(" S "), ChatMessage.user("a b  c"));
        assertEquals("S|A B  C|['a', 'b', 'c']|True|2",
                render("{{ messages[0].content.strip() }}|{{ messages[1].content.upper() }}|"
                        + "{{ messages[1].content.split() }}|{{ messages[1].content.startswith('a') }}|"
                        + "{{ messages | length }}", m));
        // printed values as Python's str(): True/False, repr inside containers, floats with .0
        assertEquals("False|[{'role': 'system', 'content': ' S '}]|1.0|3|it's", render("{{ 1 > 2 }}|"
                + "{{ messages[:1] }}|{{ 1.0 }}|{{ 3 }}|{{ \"it's\" }}", m));
        assertEquals("{\"role\": \"system\", \"content\": \" S \"}", render("{{ messages[0] | tojson }}", m));
        assertEquals("{\n  \"role\": \"user\",\n  \"content\": \"a b  c\"\n}",
                render("{{ messages[1] | tojson(indent=2) }}", m));
        assertEquals("user", render("{% set ns = namespace(last='') %}{% for x in messages %}"
                + "{% set ns.last = x.role %}{% endfor %}{{ ns.last }}", m));
        assertEquals("system", render("{% for x in messages %}{{ x.role }}{% break %}{% endfor %}", m));
        assertEquals("user", render("{% for x in messages %}{% if loop.first %}{% continue %}{% endif %}"
                + "{{ x.role }}{% endfor %}", m));
        assertEquals("yes", render("{% if tools is not defined and bos_token is defined %}yes{% endif %}", m));
        assertTrue(render("{{ strftime_now('%Y') }}", m).matches("\\d{4}"));
        assertEquals("x", render("{% generation %}x{% endgeneration %}", m));
        assertEquals("system|d|role=system;content= S ;", render("{{ messages[0].get('role') }}|"
                + "{{ messages[0].get('x', 'd') }}|{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}",
                m));
        assertEquals("a|b|c", render("{{ '|'.join(messages[1].content.split()) }}", m));
        assertEquals("[\"x\", \"y\"]", render("{{ 'x,y'.split(',') | tojson }}", m),
                "a Python list, not a Java array");
        // Jinja's precedence: not binds looser than ==; iterating a dict gives its keys; {{- }} trims
        assertEquals("True|role,content|x", render("{{ not messages | length == 1 }}|"
                + "{% for k in messages[0] %}{{ k }}{% if not loop.last %},{% endif %}{% endfor %}|  {{- 'x' }}", m));
        // trim_blocks and lstrip_blocks, as transformers compiles templates
        assertEquals("a\nb\n", render("{% if true %}\n  a\n{% endif %}\n  {% if true %}\nb\n{% endif %}", m)
                .replace("  a", "a"));
    }

    @Test
    void aFeatureJinjavaLacksIsNamed() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> render("{{ messages[0].content.zfill(3) }}", SINGLE));
        assertTrue(e.getMessage().contains(".zfill()"), e.getMessage());
        e = assertThrows(ChatTemplateException.class, () -> render("{{ no_such_function(1) }}", SINGLE));
        assertTrue(e.getMessage().contains("no_such_function"), e.getMessage());
        // Jinjava renders an unknown filter or test as nothing: they are refused before rendering
        e = assertThrows(ChatTemplateException.class, () -> render("{% if x is callable %}{{ messages | items "
                + "| first }}{% endif %}{{ '<|im_start|>' }}", SINGLE));
        assertEquals("the chat template (test) uses filter items, test callable, which tasft's Jinja (Jinjava) "
                + "does not render as Jinja does", e.getMessage());
        // Jinjava ignores a loop filter and renders a loop's else on every iteration: refused
        e = assertThrows(ChatTemplateException.class, () -> render("{% for m in messages if m.role == 'user' %}"
                + "{% if m %}{% else %}{% endif %}{% else %}none{% endfor %}", SINGLE));
        assertEquals("the chat template (test) uses loop filter (for ... if ...), for ... else, which tasft's Jinja "
                + "(Jinjava) does not render as Jinja does", e.getMessage());
    }

    static String render(String source, List<ChatMessage> m) {
        return ChatTemplate.of(source, LLAMA2_TOKENS, "test").render(m, false);
    }

    @Test
    void loadsFromAModelFolder(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": {\"content\": \"<s>\"}, "
                + "\"eos_token\": \"</s>\", \"chat_template\": [{\"name\": \"default\", \"template\": "
                + "\"{{ bos_token }}D\"}, {\"name\": \"tool_use\", \"template\": \"{{ eos_token }}T\"}]}");
        assertEquals("<s>D", ChatTemplate.load(dir, null).render(SINGLE, false));
        assertEquals("</s>T", ChatTemplate.load(dir, "tool_use").render(SINGLE, false));
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> ChatTemplate.load(dir, "rag"));
        assertTrue(e.getMessage().contains("no chat template named 'rag' (it has default, tool_use)"),
                e.getMessage());
        Files.writeString(dir.resolve(ChatTemplate.JINJA_FILE), "J{{ eos_token }}\n");
        assertEquals("J</s>", ChatTemplate.load(dir, null).render(SINGLE, false), "the .jinja file wins");
        Files.createDirectories(dir.resolve(ChatTemplate.ADDITIONAL_DIR));
        Files.writeString(dir.resolve(ChatTemplate.ADDITIONAL_DIR).resolve("rag.jinja"), "R");
        assertEquals("R", ChatTemplate.load(dir, "rag").render(SINGLE, false));
    }

    @Test
    void aFolderWithoutATemplateIsAClearError(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> ChatTemplate.load(dir, null));
        assertTrue(e.getMessage().contains("has no chat template"), e.getMessage());
        assertTrue(e.getMessage().contains("--template alpaca or raw"), e.getMessage());
    }
}
