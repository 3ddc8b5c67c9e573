package org.tasft.chat;

import java.util.ArrayDeque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.hubspot.jinjava.interpret.Context;

/**
 * Where Jinjava reads a template differently from Jinja without an error, found in the template's source before it is
 * used: what it cannot render as Jinja does is named ({@link #unsupportedFeatures}), and {@code not}'s precedence is
 * made Jinja's by parentheses ({@link #withJinjaNotPrecedence}). Both scan the {@code {{ }}} and {@code {% %}} blocks
 * with string literals left out.
 */
final class JinjaSource {
    private JinjaSource() {
    }

    private static final Pattern FILTER = Pattern.compile("(?<!\\|)\\|\\s*([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern TEST = Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_][A-Za-z0-9_]*)");
    private static final Pattern LOOP_FILTER = Pattern.compile("\\bin\\b.*\\bif\\b");
    private static final Pattern TAG = Pattern.compile("^[-+]?\\s*([A-Za-z_]+)");
    private static final Set<String> BLOCK_TAGS = Set.of("for", "if", "macro", "call", "filter", "generation", "raw");

    /**
     * What a template uses that Jinjava renders differently from Jinja without an error, so it is looked for in the
     * template's {@code {{ }}} and {@code {% %}} blocks (string literals left out) before the template is used:
     * filters ({@code x | name}) and tests ({@code x is name}) Jinjava does not have (it renders them as nothing), a
     * loop filter ({@code {% for x in xs if cond %}}: Jinjava ignores the condition) and a loop's {@code {% else %}}
     * (Jinjava renders it on every iteration).
     */
    static List<String> unsupportedFeatures(String source) {
        Set<String> unsupported = new LinkedHashSet<>();
        String code = codeOutsideStrings(source);
        ArrayDeque<String> open = new ArrayDeque<>();
        for (String block : code.split("\n")) {
            if (!block.startsWith("%")) {
                continue;
            }
            Matcher tag = TAG.matcher(block.substring(1));
            String name = tag.find() ? tag.group(1) : "";
            if (BLOCK_TAGS.contains(name)) {
                open.push(name);
            } else if (name.startsWith("end") && !open.isEmpty()) {
                open.pop();
            } else if (name.equals("else") && "for".equals(open.peek())) {
                unsupported.add("for ... else");
            }
            if (name.equals("for") && LOOP_FILTER.matcher(block).find()) {
                unsupported.add("loop filter (for ... if ...)");
            }
        }
        Context jinjava = HfJinja.JINJAVA.getGlobalContext();
        for (Matcher f = FILTER.matcher(code); f.find(); ) {
            if (jinjava.getFilter(f.group(1)) == null) {
                unsupported.add("filter " + f.group(1));
            }
        }
        for (Matcher t = TEST.matcher(code); t.find(); ) {
            if (jinjava.getExpTest(t.group(1)) == null) {
                unsupported.add("test " + t.group(1));
            }
        }
        return List.copyOf(unsupported);
    }

    /**
     * The template with each {@code not}'s operand in parentheses, so that Jinjava, whose {@code not} binds tighter
     * than {@code ==} (Java EL's rule), reads {@code not x|length == 1} as Jinja does: {@code not ((x|length) == 1)}.
     * The operand runs to the next {@code and}, {@code or}, {@code if}, {@code else} or comma of its own nesting
     * level, or to the end of its bracket or block; {@code is not} and {@code not in} are left alone.
     */
    static String withJinjaNotPrecedence(String source) {
        StringBuilder out = new StringBuilder(source.length() + 16);
        int i = 0;
        while (true) {
            int open = nextBlock(source, i);
            if (open < 0) {
                return out.append(source, i, source.length()).toString();
            }
            String close = source.charAt(open + 1) == '{' ? "}}" : "%}";
            int end = blockEnd(source, open + 2, close);
            out.append(source, i, open + 2).append(parenthesizeNot(source.substring(open + 2, end)));
            i = end;
        }
    }

    private static int blockEnd(String s, int from, String close) {
        char quote = 0;
        for (int j = from; j < s.length(); j++) {
            char c = s.charAt(j);
            if (quote != 0) {
                if (c == '\\') {
                    j++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (s.startsWith(close, j)) {
                return j;
            }
        }
        return s.length();
    }

    private static String parenthesizeNot(String code) {
        StringBuilder c = new StringBuilder(code);
        for (int at = wordAt(c, "not", 0); at >= 0; at = wordAt(c, "not", at + 3)) {
            if ("is".equals(previousWord(c, at)) || "in".equals(nextWord(c, at + 3))) {
                continue;
            }
            int start = at + 3;
            int end = operandEnd(c, start);
            c.insert(end, ')');
            c.insert(start, " (");
        }
        return c.toString();
    }

    /** Where a not's operand ends: see {@link #withJinjaNotPrecedence}. Trailing white space and -/+ stay out. */
    private static int operandEnd(CharSequence c, int from) {
        int depth = 0;
        char quote = 0;
        int j = from;
        for (; j < c.length(); j++) {
            char ch = c.charAt(j);
            if (quote != 0) {
                if (ch == '\\') {
                    j++;
                } else if (ch == quote) {
                    quote = 0;
                }
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
            } else if (ch == '(' || ch == '[' || ch == '{') {
                depth++;
            } else if (ch == ')' || ch == ']' || ch == '}') {
                if (--depth < 0) {
                    break;
                }
            } else if (depth == 0 && (ch == ',' || isWord(c, j, "and") || isWord(c, j, "or") || isWord(c, j, "if")
                    || isWord(c, j, "else"))) {
                break;
            }
        }
        while (j > from && (Character.isWhitespace(c.charAt(j - 1)) || (j == c.length()
                && (c.charAt(j - 1) == '-' || c.charAt(j - 1) == '+')))) {
            j--;
        }
        return j;
    }

    private static boolean isWord(CharSequence c, int at, String word) {
        int end = at + word.length();
        return end <= c.length() && c.subSequence(at, end).toString().equals(word)
                && (at == 0 || !isIdentifierChar(c.charAt(at - 1)))
                && (end == c.length() || !isIdentifierChar(c.charAt(end)));
    }

    /** The next {@code word} at or after {@code from} outside string literals, or -1. */
    private static int wordAt(CharSequence c, String word, int from) {
        char quote = 0;
        for (int j = 0; j < c.length(); j++) {
            char ch = c.charAt(j);
            if (quote != 0) {
                if (ch == '\\') {
                    j++;
                } else if (ch == quote) {
                    quote = 0;
                }
            } else if (ch == '\'' || ch == '"') {
                quote = ch;
            } else if (j >= from && isWord(c, j, word)) {
                return j;
            }
        }
        return -1;
    }

    private static String previousWord(CharSequence c, int at) {
        int j = at;
        while (j > 0 && Character.isWhitespace(c.charAt(j - 1))) {
            j--;
        }
        int end = j;
        while (j > 0 && isIdentifierChar(c.charAt(j - 1))) {
            j--;
        }
        return c.subSequence(j, end).toString();
    }

    private static String nextWord(CharSequence c, int from) {
        int j = from;
        while (j < c.length() && Character.isWhitespace(c.charAt(j))) {
            j++;
        }
        int start = j;
        while (j < c.length() && isIdentifierChar(c.charAt(j))) {
            j++;
        }
        return c.subSequence(start, j).toString();
    }

    private static boolean isIdentifierChar(char ch) {
        return Character.isLetterOrDigit(ch) || ch == '_';
    }

    /**
     * The code of the template's blocks, each on its own line, starting with its opening's second character ({@code {}
     * or {@code %}), with string literals emptied.
     */
    private static String codeOutsideStrings(String source) {
        StringBuilder code = new StringBuilder();
        int i = 0;
        while (true) {
            int open = nextBlock(source, i);
            if (open < 0) {
                return code.toString();
            }
            String close = source.charAt(open + 1) == '{' ? "}}" : "%}";
            code.append(source.charAt(open + 1));
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
}
