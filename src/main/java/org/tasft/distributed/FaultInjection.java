package org.tasft.distributed;

import java.util.Locale;

/**
 * A test hook: {@code TASFT_FAULT_INJECT="rank=1,step=3,mode=exit"} makes rank 1 fail during its 3rd optimizer step,
 * right before that step's gradient all-reduce, so that tests can check how the other ranks stop. Modes:
 * {@code exit} (the process halts with code 3, as if killed: it tells no one), {@code hang} (it sleeps forever, as if
 * deadlocked), {@code throw} (an exception, which the rank reports to the others before exiting).
 *
 * @param rank the failing rank
 * @param step the 1-based optimizer step during which it fails
 * @param mode exit | hang | throw
 */
record FaultInjection(int rank, long step, String mode) {
    static final String VARIABLE = "TASFT_FAULT_INJECT";
    static final int EXIT_CODE = 3;

    /** The hook from the environment, or null when it is not set. */
    static FaultInjection fromEnvironment() {
        String v = System.getenv(VARIABLE);
        return v == null || v.isBlank() ? null : parse(v);
    }

    static FaultInjection parse(String spec) {
        int rank = -1;
        long step = -1;
        String mode = "exit";
        for (String part : spec.split(",")) {
            String[] kv = part.split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException(VARIABLE + " '" + spec + "': expected rank=R,step=S[,mode=M]");
            }
            switch (kv[0].trim()) {
                case "rank" -> rank = Integer.parseInt(kv[1].trim());
                case "step" -> step = Long.parseLong(kv[1].trim());
                case "mode" -> mode = kv[1].trim().toLowerCase(Locale.ROOT);
                default -> throw new IllegalArgumentException(VARIABLE + ": unknown key '" + kv[0] + "'");
            }
        }
        if (rank < 0 || step < 1 || !(mode.equals("exit") || mode.equals("hang") || mode.equals("throw"))) {
            throw new IllegalArgumentException(VARIABLE + " '" + spec + "': expected rank >= 0, step >= 1, mode "
                    + "exit | hang | throw");
        }
        return new FaultInjection(rank, step, mode);
    }

    /** Fails as configured when this is the rank and {@code stepIndex} (0-based) is the step. */
    void maybeFail(int thisRank, long stepIndex) {
        if (thisRank != rank || stepIndex + 1 != step) {
            return;
        }
        String what = "rank " + rank + ": injected fault (" + VARIABLE + ") at step " + step;
        switch (mode) {
            case "exit" -> {
                System.err.println(what + ": halting with exit code " + EXIT_CODE);
                System.err.flush();
                Runtime.getRuntime().halt(EXIT_CODE);
            }
            case "hang" -> {
                System.err.println(what + ": hanging");
                System.err.flush();
                while (true) {
                    try {
                        Thread.sleep(60_000);
                    } catch (InterruptedException e) {
                        // keep hanging: the point is a rank that does not answer
                    }
                }
            }
            default -> throw new IllegalStateException(what);
        }
    }
}
