package org.tasft.train;

import java.util.Locale;

/**
 * The learning rate of optimizer step {@code s} (0-based), as transformers' {@code get_*_schedule_with_warmup}:
 * <pre>
 *   s &lt; warmup:  lr * s / max(1, warmup)                       (the first step has lr 0 when warmup &gt; 0)
 *   otherwise:    p = (s - warmup) / max(1, total - warmup)
 *                 cosine:   lr * max(0, 0.5 (1 + cos(pi p)))
 *                 linear:   lr * max(0, 1 - p)
 *                 constant: lr
 * </pre>
 */
public record LrSchedule(Kind kind, double peak, long warmup, long total) {
    public enum Kind {
        COSINE, LINEAR, CONSTANT;

        public static Kind parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--schedule '" + s + "': expected cosine, linear or constant");
            }
        }
    }

    public double at(long step) {
        if (step < warmup) {
            return peak * step / Math.max(1, warmup);
        }
        double p = (double) (step - warmup) / Math.max(1, total - warmup);
        return switch (kind) {
            case COSINE -> peak * Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * p)));
            case LINEAR -> peak * Math.max(0.0, 1.0 - p);
            case CONSTANT -> peak;
        };
    }
}
