package org.tasft.train;

import java.io.PrintStream;

import org.tasft.distributed.DataParallel;

/** The run's {@code tasft train:} lines (stderr); in a data-parallel job rank 0 alone speaks. */
final class TrainLog {
    private final PrintStream out;
    private final boolean speaks;

    TrainLog(PrintStream out, DataParallel dp) {
        this.out = out;
        this.speaks = dp == null || dp.isWriter();
    }

    void line(String message) {
        if (speaks) {
            out.println("tasft train: " + message);
        }
    }
}
