package org.tasft.train;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.train.TaSft.EmbeddingSource;

/** Objectives by name: "emd" (TA-SFT), "sft", "nlcl", "ga", "kto". */
public final class Objectives {
    /** The names {@link #create} knows. */
    public static final List<String> NAMES = List.of("emd", "sft", "nlcl", "ga", "kto");

    private Objectives() {
    }

    /**
     * Settings of the objectives (each takes the ones it uses); immutable, with withers.
     *
     * @param lambda            weight of the harmful-data term (emd, nlcl, ga); default 1
     * @param reduction         emd's normalizer; default {@link Reduction#SEQUENCE} (the paper's)
     * @param embedding         emd's unit embedding source; default {@link EmbeddingSource#INPUT}
     * @param beta              kto's beta; default 0.1
     * @param lambdaDesirable   kto's lambda_D; default 1
     * @param lambdaUndesirable kto's lambda_U; default 1
     * @param reference         kto's frozen reference model (required for kto)
     * @param inPlaceGradient   emd: the kernel's gradient over the logits (see {@link TaSft}); default false
     */
    public record Options(double lambda, Reduction reduction, EmbeddingSource embedding, double beta,
            double lambdaDesirable, double lambdaUndesirable, CausalLm reference, boolean inPlaceGradient) {
        public Options {
            Objects.requireNonNull(reduction, "reduction");
            Objects.requireNonNull(embedding, "embedding");
        }

        public static Options defaults() {
            return new Options(1.0, Reduction.SEQUENCE, EmbeddingSource.INPUT, Kto.DEFAULT_BETA, 1.0, 1.0, null, false);
        }

        public Options lambda(double v) {
            return new Options(v, reduction, embedding, beta, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient);
        }

        public Options reduction(Reduction v) {
            return new Options(lambda, v, embedding, beta, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient);
        }

        public Options embedding(EmbeddingSource v) {
            return new Options(lambda, reduction, v, beta, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient);
        }

        public Options beta(double v) {
            return new Options(lambda, reduction, embedding, v, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient);
        }

        public Options lambdaDesirable(double v) {
            return new Options(lambda, reduction, embedding, beta, v, lambdaUndesirable, reference, inPlaceGradient);
        }

        public Options lambdaUndesirable(double v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable, v, reference, inPlaceGradient);
        }

        public Options inPlaceGradient(boolean v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable, lambdaUndesirable, reference, v);
        }

        public Options reference(CausalLm v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable,
                    lambdaUndesirable, v, inPlaceGradient);
        }
    }

    /** The objective called {@code name} (case-insensitive), configured from {@code options}. */
    public static Objective create(String name, Options options) {
        Objects.requireNonNull(options, "options");
        String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        return switch (key) {
            case "emd" -> new TaSft(options.lambda(), options.reduction(), options.embedding(),
                    options.inPlaceGradient());
            case "sft" -> new Sft();
            case "nlcl" -> new Nlcl(options.lambda());
            case "ga" -> new GradientAscent(options.lambda());
            case "kto" -> {
                if (options.reference() == null) {
                    throw new IllegalArgumentException("objective kto needs a frozen reference model "
                            + "(Options.reference)");
                }
                yield new Kto(options.reference(), options.beta(), options.lambdaDesirable(),
                        options.lambdaUndesirable());
            }
            default -> throw new IllegalArgumentException("unknown objective '" + name + "': expected one of "
                    + String.join(", ", NAMES) + " (emd = TA-SFT; stl is sft on STL data)");
        };
    }
}
