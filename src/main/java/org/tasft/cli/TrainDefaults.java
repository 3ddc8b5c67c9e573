package org.tasft.cli;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;

import org.tasft.train.TrainConfig;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The defaults of train's options, taken from {@link TrainConfig#defaults()} so that each is written once: picocli
 * applies them and shows them in --help ({@code ${DEFAULT-VALUE}}). Options without an entry have no default.
 */
public final class TrainDefaults implements IDefaultValueProvider {
    private static final Map<String, Object> DEFAULTS = TrainConfig.defaults();

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option)) {
            return null;
        }
        Object value = DEFAULTS.get(option.longestName().replaceFirst("^--", ""));
        return value == null ? null : text(value);
    }

    /** How a default reads on the command line: 2e-5 as 0.00002, 1.0 as 1, enums in lower case. */
    static String text(Object value) {
        if (value instanceof Double d) {
            return BigDecimal.valueOf(d).stripTrailingZeros().toPlainString();
        }
        if (value instanceof Enum<?> e) {
            return e.name().toLowerCase(Locale.ROOT);
        }
        return value.toString();
    }
}
