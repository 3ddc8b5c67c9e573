package org.tasft.chat;

import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import jinjava.javax.el.CompositeELResolver;

/**
 * Jinjava set up as transformers sets up Jinja for chat templates ({@code _compile_jinja_template}): blocks trimmed
 * ({@code trim_blocks}, {@code lstrip_blocks}), loop controls ({@code break}/{@code continue}: Jinjava has them),
 * {@code namespace()} (Jinjava has it), and what transformers adds: the {@code raise_exception(message)} global,
 * {@code strftime_now(format)}, a {@code tojson} filter with Python's {@code json.dumps} output, the
 * {@code {% generation %}} block (rendered as its body), and Python's string methods and
 * {@code dict.get(key, default)} ({@link PythonMethods}).
 */
final class HfJinja {
    /** Thrown by the template's {@code raise_exception(...)}; {@link ChatTemplate} reports its message. */
    static final class Raised extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Raised(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * A feature this Jinja lacks, named. Not an IllegalArgumentException: Jinjava turns those into "Cannot find
     * method", losing the name.
     */
    static final class Unsupported extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unsupported(String message) {
            super(message, null, false, false);
        }
    }

    static final Jinjava JINJAVA = create();

    private HfJinja() {
    }

    private static Jinjava create() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods()); // before Jinjava's bean resolver, which would call Java's methods
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withElResolver(resolver).withInterperterFactory(new PythonPrinting()).build();
        Jinjava j = new Jinjava(config);
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", HfJinja.class,
                "raiseException", Object.class));
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", HfJinja.class,
                "strftimeNow", String.class));
        j.getGlobalContext().registerFilter(new ToJson());
        j.getGlobalContext().registerTag(new Generation());
        return j;
    }

    /**
     * Prints {@code {{ value }}} as Python's {@code str()} does: {@code True}/{@code False}, lists and dicts as their
     * repr ({@code ['a', 'b']}, {@code {'role': 'user'}}), floats with a {@code .0}; Jinjava would print Java's
     * {@code true} and {@code [a, b]}. (None and an undefined value are both null here and print as "".)
     */
    static final class PythonPrinting implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new Printer(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig renderConfig) {
            return new Printer(application, context, renderConfig);
        }
    }

    static final class Printer extends JinjavaInterpreter {
        Printer(JinjavaInterpreter orig) {
            super(orig);
        }

        Printer(Jinjava application, Context context, JinjavaConfig config) {
            super(application, context, config);
        }

        @Override
        public String getAsString(Object value) {
            if (value instanceof Boolean || value instanceof Double || value instanceof Float
                    || value instanceof List<?> || value instanceof Map<?, ?>) {
                return PythonJson.str(value);
            }
            return super.getAsString(value);
        }
    }

    private static final Pattern FILTER = Pattern.compile("(?<!\\|)\\|\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern TEST = Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_][A-Za-z0-9_]*)");

    /**
     * The filters ({@code x | name}) and tests ({@code x is name}) a template uses that Jinjava does not have. Jinjava
     * renders an unknown filter or test as nothing, without an error, so they are looked for in the template's
     * {@code {{ }}} and {@code {% %}} blocks (string literals left out) before it is used.
     */
    static List<String> unknownNames(String source) {
        List<String> unknown = new java.util.ArrayList<>();
        String code = codeOutsideStrings(source);
        Matcher f = FILTER.matcher(code);
        while (f.find()) {
            if (JINJAVA.getGlobalContext().getFilter(f.group(1)) == null && !unknown.contains("filter " + f.group(1))) {
                unknown.add("filter " + f.group(1));
            }
        }
        Matcher t = TEST.matcher(code);
        while (t.find()) {
            if (JINJAVA.getGlobalContext().getExpTest(t.group(1)) == null && !unknown.contains("test " + t.group(1))) {
                unknown.add("test " + t.group(1));
            }
        }
        return unknown;
    }

    /** The code of the template's blocks, each block on its own line, with string literals emptied. */
    private static String codeOutsideStrings(String source) {
        StringBuilder code = new StringBuilder();
        int i = 0;
        while (true) {
            int open = nextBlock(source, i);
            if (open < 0) {
                return code.toString();
            }
            String close = source.charAt(open + 1) == '{' ? "}}" : "%}";
            int j = open + 2;
            char quote = 0;
            while (j < source.length() && (quote != 0 || !source.startsWith(close, j))) {
                char c = source.charAt(j);
                if (quote != 0) {
                    if (c == '\\') {
                        j++;
                    } else if (c == quote) {
                        quote = 0;
                        code.append(c);
                    }
                } else {
                    if (c == '\'' || c == '"') {
                        quote = c;
                    }
                    code.append(c);
                }
                j++;
            }
            code.append('\n');
            i = j + 2;
        }
    }

    private static int nextBlock(String s, int from) {
        int a = s.indexOf("{{", from);
        int b = s.indexOf("{%", from);
        int comment = s.indexOf("{#", from);
        int next = a < 0 ? b : b < 0 ? a : Math.min(a, b);
        if (comment >= 0 && (next < 0 || comment < next)) {
            int end = s.indexOf("#}", comment + 2);
            return end < 0 ? -1 : nextBlock(s, end + 2);
        }
        return next;
    }

    /** {@code raise_exception(message)}: the template refuses the conversation. */
    public static Object raiseException(Object message) {
        throw new Raised(String.valueOf(message));
    }

    /** {@code strftime_now(format)}: the local date and time in a C strftime format (Llama 3.1's "Today Date"). */
    public static String strftimeNow(String format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), format);
    }

    /** {@code tojson(indent=None, sort_keys=False)} as transformers defines it (ensure_ascii=False). */
    static final class ToJson implements AdvancedFilter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
            boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
            for (String k : kwargs.keySet()) {
                if (!List.of("indent", "sort_keys", "ensure_ascii").contains(k)) {
                    throw new Unsupported("the chat template calls tojson(" + k + "=...), which tasft's "
                            + "Jinja does not support (indent, sort_keys)");
                }
            }
            return PythonJson.dumps(var, indent == null ? null : ((Number) indent).intValue(), sortKeys);
        }
    }

    /** transformers' {@code {% generation %}...{% endgeneration %}} (assistant-mask markers): renders its body. */
    static final class Generation implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder out = new StringBuilder();
            for (Node child : tagNode.getChildren()) {
                out.append(child.render(interpreter).getValue());
            }
            return out.toString();
        }
    }
}
