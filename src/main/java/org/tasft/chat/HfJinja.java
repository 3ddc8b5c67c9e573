package org.tasft.chat;

import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
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
 * {@code namespace()} (Jinjava has it), Jinja's behaviour where Jinjava's differs by default (white-space control on
 * expressions and comments, operator precedence, dict iteration, printing as Python), and what transformers adds:
 * the {@code raise_exception(message)} global, {@code strftime_now(format)}, a {@code tojson} filter with Python's
 * {@code json.dumps} output, the {@code {% generation %}} block (rendered as its body), and Python's string methods
 * and {@code dict.get(key, default)} ({@link PythonMethods}). What Jinjava still reads differently is found in the
 * template's source ({@link JinjaSource}).
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

    /**
     * The functions transformers adds, also as variables: Jinjava keeps functions apart from variables, so a
     * template's {@code strftime_now is defined} would be false (and Llama 3.1 would write a fixed date).
     */
    static final Map<String, Object> GLOBALS = Map.of("raise_exception", "raise_exception",
            "strftime_now", "strftime_now");

    private HfJinja() {
    }

    private static Jinjava create() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonMethods()); // before Jinjava's bean resolver, which would call Java's methods
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        // Jinja's semantics where Jinjava keeps its own by default: {{- x }} and {#- #} trim white space, `not a == b`
        // is not (a == b), iterating a dict gives its keys, None stays in a loop
        LegacyOverrides jinja = LegacyOverrides.newBuilder().withUseTrimmingForNotesAndExpressions(true)
                .withParseWhitespaceControlStrictly(true).withUseNaturalOperatorPrecedence(true)
                .withIterateOverMapKeys(true).withEvaluateMapKeys(true).withKeepNullableLoopValues(true).build();
        JinjavaConfig config = JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withLegacyOverrides(jinja).withElResolver(resolver).withInterperterFactory(new PythonPrinting())
                .build();
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
