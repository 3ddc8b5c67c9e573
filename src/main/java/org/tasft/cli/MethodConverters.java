package org.tasft.cli;

import org.tasft.train.Method;
import picocli.CommandLine.ITypeConverter;

/** picocli's converters of method names; an unknown name is a one-line error that lists the valid ones. */
final class MethodConverters {
    private MethodConverters() {
    }

    /** train's {@code --method NAME}. */
    static final class Single implements ITypeConverter<Method> {
        @Override
        public Method convert(String value) {
            return parse(value, "--method '" + value + "': expected one of " + Method.ids());
        }
    }

    /** One name of experiment's {@code --methods A,B,...}. */
    static final class Listed implements ITypeConverter<Method> {
        @Override
        public Method convert(String value) {
            return parse(value, "--methods: unknown method '" + value + "' (known: " + Method.ids() + ")");
        }
    }

    private static Method parse(String value, String unknown) {
        try {
            return Method.parse(value);
        } catch (IllegalArgumentException e) {
            throw new OptionValueException(unknown);
        }
    }
}
