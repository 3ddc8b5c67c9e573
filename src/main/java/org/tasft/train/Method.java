package org.tasft.train;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A training method: TA-SFT ("emd") or a baseline. The one place that knows what each method needs (harmful data,
 * refusals, a frozen reference model) and which objective trains it; everything else asks it rather than comparing
 * names.
 */
public enum Method {
    /** TA-SFT: SFT on the safe data plus lambda times the EMD term on the harmful data ({@link TaSft}). */
    EMD("emd"),
    /** Plain SFT on the safe data; harmful examples are not used ({@link Sft}). */
    SFT("sft"),
    /** Negative log-unlikelihood of the harmful answers ({@link Nlcl}). */
    NLCL("nlcl"),
    /** Gradient ascent on the harmful answers ({@link GradientAscent}). */
    GA("ga"),
    /** KTO with the harmful answers as undesirable, against a frozen reference model ({@link Kto}). */
    KTO("kto"),
    /** Safety-tuned Llamas: the harmful prompts paired with refusals, learned as safe data with SFT. */
    STL("stl"),
    /**
     * A variant of TA-SFT, not the paper's method: the EMD term pushes a harmful token only while its distance is
     * below {@link TaSft#VARIANT_DISTANCE_CAP} ({@link TaSft}, per-token hinge). It asks whether the degenerate answers
     * of TA-SFT come from pushing the distribution ever further away.
     */
    EMD_CAP("emd-cap");

    private final String id;

    Method(String id) {
        this.id = id;
    }

    /** The name as typed on the command line and written to JSON, CSV, logs and folder names (lowercase). */
    public String id() {
        return id;
    }

    @Override
    public String toString() {
        return id;
    }

    /** Whether it trains on harmful examples, so a run without any is refused (all but sft). */
    public boolean needsHarmful() {
        return this != SFT;
    }

    /** Whether the harmful examples' answers are replaced by refusals ({@link org.tasft.data.StlData}). */
    public boolean usesRefusals() {
        return this == STL;
    }

    /** Whether its objective compares against a frozen copy of the starting model. */
    public boolean needsReference() {
        return this == KTO;
    }

    /** The method whose objective trains it: stl is sft on other data; the others train with their own. */
    public Method trainsWith() {
        return this == STL ? SFT : this;
    }

    /** What the log calls the examples in a batch's harmful slots. */
    public String harmfulSlotName() {
        return usesRefusals() ? "refusal" : "harmful";
    }

    /**
     * Its objective (that of {@link #trainsWith()}), configured from {@code options}; kto's needs
     * {@link Objectives.Options#reference}.
     */
    public Objective objective(Objectives.Options options) {
        return switch (trainsWith()) {
            case EMD -> new TaSft(options.lambda(), options.reduction(), options.embedding(),
                    options.inPlaceGradient(), options.fusedHead());
            case EMD_CAP -> new TaSft(options.lambda(), options.reduction(), options.embedding(),
                    options.inPlaceGradient(), options.fusedHead(), TaSft.VARIANT_DISTANCE_CAP);
            case SFT, STL -> new Sft(options.fusedHead());
            case NLCL -> new Nlcl(options.lambda());
            case GA -> new GradientAscent(options.lambda());
            case KTO -> {
                if (options.reference() == null) {
                    throw new IllegalArgumentException("objective kto needs a frozen reference model "
                            + "(Options.reference)");
                }
                yield new Kto(options.reference(), options.beta(), options.lambdaDesirable(),
                        options.lambdaUndesirable());
            }
        };
    }

    /** The ids of all methods, comma-separated, in declaration order (for messages). */
    public static String ids() {
        return Arrays.stream(values()).map(Method::id).collect(Collectors.joining(", "));
    }

    /**
     * The method called {@code text} (case and surrounding spaces ignored).
     *
     * @throws IllegalArgumentException "unknown method 'x': expected one of emd, sft, ..."
     */
    public static Method parse(String text) {
        String key = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        for (Method m : values()) {
            if (m.id.equals(key)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown method '" + text + "': expected one of " + ids());
    }
}
