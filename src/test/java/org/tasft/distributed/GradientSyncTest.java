package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class GradientSyncTest {
    /** A sync of {@code bytes} per step, with or without overlap: only the summary's arithmetic is under test. */
    private record Fixed(long bytes, boolean overlaps) implements GradientSync {
        @Override
        public void beforeBackward(boolean lastOfStep) {
        }

        @Override
        public void average(String what) {
        }

        @Override
        public boolean overlapsBackward() {
            return overlaps;
        }

        @Override
        public long bytesPerStep() {
            return bytes;
        }

        @Override
        public String describe() {
            return "";
        }

        @Override
        public void close() {
        }
    }

    @Test
    void theSummaryGivesTimePerStepAndBusBandwidth() {
        // 4 steps in 40 ms, 2 MiB each on 2 ranks: a ring all-reduce moves 2 (W - 1) / W of it per rank
        assertEquals("gradient sync: 4 steps, 10.0 ms per step after the backward pass (2.0 MiB per step, 200 MiB/s "
                + "bus bandwidth)", new Fixed(2L << 20, false).summary(4, 40_000_000L, 2));
        assertEquals("gradient sync: 4 steps, 10.0 ms per step after the backward pass (2.0 MiB per step, 300 MiB/s "
                + "bus bandwidth)", new Fixed(2L << 20, false).summary(4, 40_000_000L, 4));
    }

    @Test
    void anOverlappedSyncReportsOnlyTheWaitAfterTheBackwardPass() {
        assertEquals("gradient sync: 2 steps, 1.5 ms per step after the backward pass (24.0 MiB per step, the rest "
                + "overlapped with it)", new Fixed(24L << 20, true).summary(2, 3_000_000L, 8));
    }
}
