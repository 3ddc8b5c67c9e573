package org.tasft.train;

import java.util.Objects;

import org.tasft.loss.EmdLoss.Reduction;
import org.tasft.model.CausalLm;
import org.tasft.train.TaSft.EmbeddingSource;

/** The objectives' settings; {@link Method#objective} builds a method's objective from them. */
public final class Objectives {
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
     * @param fusedHead         sft / stl / emd: the fused LM head ({@link FusedHead}); default auto
     */
    public record Options(double lambda, Reduction reduction, EmbeddingSource embedding, double beta,
            double lambdaDesirable, double lambdaUndesirable, CausalLm reference, boolean inPlaceGradient,
            FusedHead fusedHead) {
        public Options {
            Objects.requireNonNull(reduction, "reduction");
            Objects.requireNonNull(embedding, "embedding");
            Objects.requireNonNull(fusedHead, "fusedHead");
        }

        public static Options defaults() {
            return new Options(1.0, Reduction.SEQUENCE, EmbeddingSource.INPUT, Kto.DEFAULT_BETA, 1.0, 1.0, null, false,
                    FusedHead.AUTO);
        }

        public Options lambda(double v) {
            return new Options(v, reduction, embedding, beta, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient, fusedHead);
        }

        public Options reduction(Reduction v) {
            return new Options(lambda, v, embedding, beta, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient, fusedHead);
        }

        public Options embedding(EmbeddingSource v) {
            return new Options(lambda, reduction, v, beta, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient, fusedHead);
        }

        public Options beta(double v) {
            return new Options(lambda, reduction, embedding, v, lambdaDesirable,
                    lambdaUndesirable, reference, inPlaceGradient, fusedHead);
        }

        public Options lambdaDesirable(double v) {
            return new Options(lambda, reduction, embedding, beta, v, lambdaUndesirable, reference, inPlaceGradient,
                    fusedHead);
        }

        public Options lambdaUndesirable(double v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable, v, reference, inPlaceGradient,
                    fusedHead);
        }

        public Options inPlaceGradient(boolean v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable, lambdaUndesirable, reference, v,
                    fusedHead);
        }

        public Options fusedHead(FusedHead v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable, lambdaUndesirable, reference,
                    inPlaceGradient, v);
        }

        public Options reference(CausalLm v) {
            return new Options(lambda, reduction, embedding, beta, lambdaDesirable,
                    lambdaUndesirable, v, inPlaceGradient, fusedHead);
        }
    }
}
