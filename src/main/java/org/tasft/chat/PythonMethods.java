package org.tasft.chat;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's {@code str} methods for chat templates ({@code message['content'].strip()}, {@code .startswith(...)},
 * {@code .split()}), and {@code dict.get(key, default)}. Jinjava would otherwise call the Java method of the same
 * name where one exists (Java's {@code split} takes a regular expression and returns an array; {@code format} is
 * static) and fail on the others, so every method call on a string goes through here: a Python method this class has
 * is computed with Python's semantics, any other is an error naming it, never a silently different prompt.
 */
final class PythonMethods extends ELResolver {
    static final Set<String> METHODS = Set.of("strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize",
            "startswith", "endswith", "split", "replace", "join", "find", "count", "isspace", "isdigit");

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base instanceof Map<?, ?> map && "get".equals(String.valueOf(method)) && params != null
                && params.length == 2) { // Java's Map has get(key) alone
            context.setPropertyResolved(true);
            return map.containsKey(params[0]) ? map.get(params[0]) : params[1];
        }
        if (!(base instanceof String s) || method == null) {
            return null;
        }
        String name = method.toString();
        Object[] args = params == null ? new Object[0] : params;
        Object result = call(s, name, args);
        context.setPropertyResolved(true);
        return result;
    }

    static Object call(String s, String name, Object[] a) {
        switch (name) {
            case "strip":
                return a.length == 0 || a[0] == null ? s.strip() : rstrip(lstrip(s, str(a[0])), str(a[0]));
            case "lstrip":
                return a.length == 0 || a[0] == null ? s.stripLeading() : lstrip(s, str(a[0]));
            case "rstrip":
                return a.length == 0 || a[0] == null ? s.stripTrailing() : rstrip(s, str(a[0]));
            case "upper":
                return s.toUpperCase(Locale.ROOT);
            case "lower":
                return s.toLowerCase(Locale.ROOT);
            case "title":
                return title(s);
            case "capitalize":
                return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT)
                        + s.substring(1).toLowerCase(Locale.ROOT);
            case "startswith":
                return anyOf(a, 1, name).stream().anyMatch(s::startsWith);
            case "endswith":
                return anyOf(a, 1, name).stream().anyMatch(s::endsWith);
            case "split":
                return split(s, a.length > 0 ? a[0] : null, a.length > 1 ? ((Number) a[1]).intValue() : -1);
            case "replace":
                arity(a, 2, name);
                return s.replace(str(a[0]), str(a[1]));
            case "join": {
                arity(a, 1, name);
                List<String> parts = new ArrayList<>();
                for (Object o : (Iterable<?>) a[0]) {
                    parts.add(String.valueOf(o));
                }
                return String.join(s, parts);
            }
            case "find":
                arity(a, 1, name);
                return s.indexOf(str(a[0]));
            case "count": {
                arity(a, 1, name);
                String sub = str(a[0]);
                if (sub.isEmpty()) {
                    return s.length() + 1;
                }
                int n = 0;
                for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
                    n++;
                }
                return n;
            }
            case "isspace":
                return !s.isEmpty() && s.chars().allMatch(Character::isWhitespace);
            case "isdigit":
                return !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            default:
                throw new HfJinja.Unsupported("the chat template calls the string method ." + name + "(), which "
                        + "tasft's Jinja (Jinjava) does not provide (it has: " + String.join(", ",
                                new java.util.TreeSet<>(METHODS)) + ")");
        }
    }

    private static String str(Object o) {
        return String.valueOf(o);
    }

    private static void arity(Object[] a, int n, String name) {
        if (a.length != n) {
            throw new HfJinja.Unsupported("the chat template calls the string method ." + name + "() with "
                    + a.length + " arguments; tasft's Jinja supports " + n);
        }
    }

    private static List<String> anyOf(Object[] a, int n, String name) {
        arity(a, n, name);
        List<String> out = new ArrayList<>();
        if (a[0] instanceof Collection<?> c) {
            c.forEach(o -> out.add(str(o)));
        } else {
            out.add(str(a[0]));
        }
        return out;
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && chars.indexOf(s.charAt(i)) >= 0) {
            i++;
        }
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int j = s.length();
        while (j > 0 && chars.indexOf(s.charAt(j - 1)) >= 0) {
            j--;
        }
        return s.substring(0, j);
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean previousCased = false;
        for (char c : s.toCharArray()) {
            b.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousCased = Character.isLetter(c);
        }
        return b.toString();
    }

    /** Python's split: on runs of white space without a separator, else on the literal separator. */
    private static List<String> split(String s, Object sep, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            String rest = s.stripLeading();
            while (!rest.isEmpty()) {
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(rest);
                    return out;
                }
                int end = 0;
                while (end < rest.length() && !Character.isWhitespace(rest.charAt(end))) {
                    end++;
                }
                out.add(rest.substring(0, end));
                rest = rest.substring(end).stripLeading();
            }
            return out;
        }
        String d = str(sep);
        if (d.isEmpty()) {
            throw new HfJinja.Unsupported("the chat template calls .split('') (empty separator), which Python "
                    + "refuses");
        }
        int from = 0;
        for (int i = s.indexOf(d); i >= 0 && (maxSplit < 0 || out.size() < maxSplit); i = s.indexOf(d, from)) {
            out.add(s.substring(from, i));
            from = i + d.length();
        }
        out.add(s.substring(from));
        return out;
    }

    // Not a property resolver: every property lookup is left to the next resolver.

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
