package org.tasft.train;

/** The 8B config of {@link MemoryPlanTest} for tests in other packages. */
public final class MemoryPlanTestAccess {
    public static final String LLAMA_8B = MemoryPlanTest.LLAMA_8B;

    private MemoryPlanTestAccess() {
    }
}
