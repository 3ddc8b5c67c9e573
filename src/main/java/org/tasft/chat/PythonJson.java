package org.tasft.chat;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * {@code json.dumps} as transformers' chat-template {@code tojson} filter calls it ({@code ensure_ascii=False}):
 * Python's separators ({@code ", "} and {@code ": "}, or {@code ","} between lines with an indent), its string escapes,
 * {@code true}/{@code false}/{@code null}, optional indent and key sorting. Jinjava's own {@code tojson} is compact
 * Jackson output, which would render tool definitions differently from the model's training data.
 */
final class PythonJson {
    private PythonJson() {
    }

    /** Python's {@code str()} of a value: strings as they are, inside containers their repr. */
    static String str(Object value) {
        if (value instanceof String s) {
            return s;
        }
        StringBuilder out = new StringBuilder();
        repr(out, value);
        return out.toString();
    }

    private static void repr(StringBuilder out, Object v) {
        if (v == null) {
            out.append("None");
        } else if (v instanceof Boolean b) {
            out.append(b ? "True" : "False");
        } else if (v instanceof String s) {
            // Python picks double quotes only for a string with a ' and no "
            boolean dq = s.indexOf('\'') >= 0 && s.indexOf('"') < 0;
            char q = dq ? '"' : '\'';
            out.append(q);
            for (char c : s.toCharArray()) {
                switch (c) {
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> out.append(c == q ? "\\" + c : String.valueOf(c));
                }
            }
            out.append(q);
        } else if (v instanceof Double || v instanceof Float) {
            write(out, v, null, false, 0);
        } else if (v instanceof Map<?, ?> map) {
            out.append('{');
            int i = 0;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                out.append(i++ == 0 ? "" : ", ");
                repr(out, e.getKey());
                out.append(": ");
                repr(out, e.getValue());
            }
            out.append('}');
        } else if (v instanceof Collection<?> c) {
            out.append('[');
            int i = 0;
            for (Object o : c) {
                out.append(i++ == 0 ? "" : ", ");
                repr(out, o);
            }
            out.append(']');
        } else {
            out.append(v);
        }
    }

    static String dumps(Object value, Integer indent, boolean sortKeys) {
        StringBuilder out = new StringBuilder();
        write(out, value, indent, sortKeys, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object v, Integer indent, boolean sortKeys, int depth) {
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            out.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity")
                    : d == Math.rint(d) && Math.abs(d) < 1e16 ? (long) d + ".0" : Double.toString(d));
        } else if (v instanceof BigDecimal bd) {
            out.append(bd.toPlainString());
        } else if (v instanceof Number n) {
            out.append(n.toString());
        } else if (v instanceof Map<?, ?> map) {
            List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
            if (sortKeys) {
                entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
            }
            if (entries.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            for (int i = 0; i < entries.size(); i++) {
                separator(out, i, indent, depth + 1);
                string(out, String.valueOf(entries.get(i).getKey()));
                out.append(": ");
                write(out, entries.get(i).getValue(), indent, sortKeys, depth + 1);
            }
            close(out, indent, depth, '}');
        } else if (v instanceof Collection<?> || v instanceof Object[]) {
            List<?> items = v instanceof Object[] a ? List.of(a) : new ArrayList<>((Collection<?>) v);
            if (items.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < items.size(); i++) {
                separator(out, i, indent, depth + 1);
                write(out, items.get(i), indent, sortKeys, depth + 1);
            }
            close(out, indent, depth, ']');
        } else {
            string(out, v.toString());
        }
    }

    private static void separator(StringBuilder out, int i, Integer indent, int depth) {
        if (indent == null) {
            out.append(i == 0 ? "" : ", ");
        } else {
            out.append(i == 0 ? "\n" : ",\n").append(" ".repeat(indent * depth));
        }
    }

    private static void close(StringBuilder out, Integer indent, int depth, char bracket) {
        if (indent != null) {
            out.append('\n').append(" ".repeat(indent * depth));
        }
        out.append(bracket);
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
