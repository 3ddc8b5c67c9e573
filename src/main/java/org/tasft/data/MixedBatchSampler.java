package org.tasft.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Random;

/**
 * Draws TA-SFT batches of {@code K} safe and {@code B - K} harmful examples, deterministically from a seed.
 *
 * <p><b>Harmful subset.</b> {@code harmfulCount(N)} keeps the first N harmful examples of one shuffle of the whole
 * harmful list made with {@code selectionSeed} (default: the seed). The shuffle does not depend on N, so with the
 * same list and seed the subsets nest: the 100 examples of a 100-example run are among the 300 of a 300-example run,
 * which are among the 500 of a 500-example run (the paper's data-efficiency sweep compares like with like).
 *
 * <p><b>Epochs.</b> An epoch is one pass over the safe examples: {@code floor(|safe| / K)} steps (the remainder of
 * an epoch's shuffle is dropped, so every batch has exactly K safe examples). Epoch {@code e} shuffles the safe
 * examples with {@code new Random(seed + e)}. The harmful subset, much smaller, is read as an endless stream in
 * cycles, cycle {@code c} being one shuffle of the subset (its seed derived from the seed and c); step {@code g}
 * (counted from the start of training) takes stream items {@code g(B-K) ... g(B-K) + B-K-1}. (A batch can hold
 * one harmful example twice only where a cycle ends inside it: never when B - K divides N.) With no harmful data
 * (or {@code harmfulCount(0)}) every batch is K = B safe examples. With K = 0 (harmful only, e.g. gradient ascent)
 * an epoch is {@code floor(N / B)} steps over the harmful stream.
 *
 * <p><b>Resuming.</b> A batch depends only on the configuration and its {@link Position} (epoch, step in epoch):
 * save {@link #position()} with a checkpoint and {@link #seek} to it (or {@link Builder#startAt}) to get exactly
 * the batches an uninterrupted run would have drawn next.
 *
 * <p><b>Data parallelism.</b> {@link #sharded(int, int)} gives rank r of W the items at positions r, r + W, r + 2W
 * ... of each single-process batch (listed safe first, then harmful); B must be a multiple of W so that every rank
 * gets B / W items. The ranks' parts of a step partition that step's batch. Per-rank batches may hold different
 * numbers of safe and harmful examples: a trainer normalises the losses by counts all-reduced over the ranks.
 *
 * <p>Not thread-safe: one sampler per rank and thread.
 *
 * @param <T> the example type (usually {@link EncodedExample}; anything, the sampler only picks)
 */
public final class MixedBatchSampler<T> {
    /** Where a sampler stands: the epoch and the index in it of the next step; saved to resume. */
    public record Position(long epoch, long step) {
        public Position {
            if (epoch < 0 || step < 0) {
                throw new IllegalArgumentException("position: epoch and step must be >= 0, got " + epoch + ", "
                        + step);
            }
        }

        @Override
        public String toString() {
            return "epoch " + epoch + ", step " + step;
        }
    }

    /** One step's batch (this rank's part of it when sharded). */
    public record Step<T>(Position position, List<T> safe, List<T> harmful) {
        /** The safe examples, then the harmful ones. */
        public List<T> items() {
            List<T> all = new ArrayList<>(safe.size() + harmful.size());
            all.addAll(safe);
            all.addAll(harmful);
            return all;
        }

        public int size() {
            return safe.size() + harmful.size();
        }
    }

    private static final long HARMFUL_CYCLE_SALT = 0x9E3779B97F4A7C15L;

    private final List<T> safe;
    private final List<T> harmfulSubset;
    private final int batchSize;
    private final int safePerBatch;
    private final long seed;
    private final long stepsPerEpoch;
    private final int rank;
    private final int worldSize;

    private long epoch;
    private long step;
    private long cachedEpoch = -1;
    private int[] safeOrder;
    private long cachedCycle = -1;
    private int[] harmfulOrder;

    private MixedBatchSampler(List<T> safe, List<T> harmfulSubset, int batchSize, int safePerBatch, long seed,
            long stepsPerEpoch, int rank, int worldSize, Position start) {
        this.safe = safe;
        this.harmfulSubset = harmfulSubset;
        this.batchSize = batchSize;
        this.safePerBatch = safePerBatch;
        this.seed = seed;
        this.stepsPerEpoch = stepsPerEpoch;
        this.rank = rank;
        this.worldSize = worldSize;
        seek(start);
    }

    public static <T> Builder<T> builder(List<T> safe, List<T> harmful) {
        return new Builder<>(safe, harmful);
    }

    /** Configuration of a {@link MixedBatchSampler}. */
    public static final class Builder<T> {
        private final List<T> safe;
        private final List<T> harmful;
        private int batchSize = -1;
        private Integer safePerBatch;
        private Integer harmfulCount;
        private long seed;
        private Long selectionSeed;
        private Position start = new Position(0, 0);

        private Builder(List<T> safe, List<T> harmful) {
            this.safe = List.copyOf(Objects.requireNonNull(safe, "safe"));
            this.harmful = List.copyOf(harmful == null ? List.of() : harmful);
        }

        /** B, the number of examples per (single-process) batch. Required. */
        public Builder<T> batchSize(int b) {
            this.batchSize = b;
            return this;
        }

        /** K, the safe examples per batch; B - K are harmful. Default: B when there is no harmful data. */
        public Builder<T> safePerBatch(int k) {
            this.safePerBatch = k;
            return this;
        }

        /** N, how many harmful examples to train with: the first N of the seeded shuffle. Default: all. */
        public Builder<T> harmfulCount(int n) {
            this.harmfulCount = n;
            return this;
        }

        public Builder<T> seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** The seed of the harmful-subset shuffle; default: the seed. */
        public Builder<T> selectionSeed(long selectionSeed) {
            this.selectionSeed = selectionSeed;
            return this;
        }

        /** Start at a saved position instead of (epoch 0, step 0). */
        public Builder<T> startAt(Position position) {
            this.start = Objects.requireNonNull(position, "position");
            return this;
        }

        public MixedBatchSampler<T> build() {
            if (batchSize < 1) {
                throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
            }
            int n = harmfulCount == null ? harmful.size() : harmfulCount;
            if (n < 0 || n > harmful.size()) {
                throw new IllegalArgumentException("--harmful-count " + n + " is outside [0, " + harmful.size()
                        + "] (the number of harmful examples)");
            }
            int k;
            if (safePerBatch == null) {
                if (n > 0) {
                    throw new IllegalArgumentException("there is harmful data: give --safe-per-batch (K safe and B - K"
                            + " harmful examples per batch)");
                }
                k = batchSize;
            } else {
                k = safePerBatch;
            }
            if (k < 0 || k > batchSize) {
                throw new IllegalArgumentException("--safe-per-batch " + k + " is outside [0, --batch-size " + batchSize
                        + "]");
            }
            if (k < batchSize && n == 0) {
                throw new IllegalArgumentException("--safe-per-batch " + k + " < --batch-size " + batchSize
                        + " asks for harmful examples, but there are none (--harmful-count 0 or no --harmful)");
            }
            long steps;
            if (k > 0) {
                steps = safe.size() / k;
                if (steps == 0) {
                    throw new IllegalArgumentException(safe.size() + " safe example(s) cannot fill one batch of "
                            + k + " safe examples");
                }
            } else {
                steps = n / batchSize;
                if (steps == 0) {
                    throw new IllegalArgumentException(n + " harmful example(s) cannot fill one batch of "
                            + batchSize);
                }
            }
            List<T> subset = harmfulSubset(harmful, n, selectionSeed == null ? seed : selectionSeed);
            return new MixedBatchSampler<>(safe, subset, batchSize, k, seed, steps, 0, 1, start);
        }
    }

    /**
     * The first {@code n} of {@code harmful} after a shuffle with {@code selectionSeed}; nested in n for a given
     * list and seed. Public so that tools can list the subset a run trained with.
     */
    public static <T> List<T> harmfulSubset(List<T> harmful, int n, long selectionSeed) {
        int[] order = permutation(harmful.size(), new Random(selectionSeed));
        List<T> subset = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            subset.add(harmful.get(order[i]));
        }
        return Collections.unmodifiableList(subset);
    }

    /** Fisher-Yates with java.util.Random, whose sequence the Java specification fixes: the same on every JVM. */
    private static int[] permutation(int n, Random random) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return p;
    }

    /** This sampler's configuration for rank {@code rank} of {@code worldSize}, at the same position. */
    public MixedBatchSampler<T> sharded(int rank, int worldSize) {
        if (this.worldSize != 1) {
            throw new IllegalStateException("already sharded (rank " + this.rank + " of " + this.worldSize + ")");
        }
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is outside [0, worldSize " + worldSize + ")");
        }
        if (batchSize % worldSize != 0) {
            throw new IllegalArgumentException("--batch-size " + batchSize + " is not a multiple of the "
                    + worldSize + " ranks: the ranks would get batches of different sizes");
        }
        return new MixedBatchSampler<>(safe, harmfulSubset, batchSize, safePerBatch, seed, stepsPerEpoch, rank,
                worldSize, position());
    }

    /** The position of the next batch. */
    public Position position() {
        return new Position(epoch, step);
    }

    /** Moves to a saved position: the next batch is the one an uninterrupted run drew there. */
    public void seek(Position position) {
        Objects.requireNonNull(position, "position");
        if (position.step() >= stepsPerEpoch) {
            throw new IllegalArgumentException("position " + position + ": an epoch has " + stepsPerEpoch
                    + " steps with this data and batch configuration");
        }
        this.epoch = position.epoch();
        this.step = position.step();
    }

    /** Draws the next batch (this rank's part of it) and advances. */
    public Step<T> next() {
        Position at = position();
        List<T> safeItems = new ArrayList<>(safePerBatch);
        if (safePerBatch > 0) {
            if (cachedEpoch != epoch) {
                safeOrder = permutation(safe.size(), new Random(seed + epoch));
                cachedEpoch = epoch;
            }
            int base = Math.toIntExact(step * safePerBatch);
            for (int i = 0; i < safePerBatch; i++) {
                safeItems.add(safe.get(safeOrder[base + i]));
            }
        }
        int harmfulPerBatch = batchSize - safePerBatch;
        List<T> harmfulItems = new ArrayList<>(harmfulPerBatch);
        long offset = Math.multiplyExact(Math.addExact(Math.multiplyExact(epoch, stepsPerEpoch), step),
                harmfulPerBatch);
        for (int i = 0; i < harmfulPerBatch; i++) {
            long o = offset + i;
            long cycle = o / harmfulSubset.size();
            if (cycle != cachedCycle) {
                harmfulOrder = permutation(harmfulSubset.size(), new Random(seed ^ (HARMFUL_CYCLE_SALT * (cycle + 1))));
                cachedCycle = cycle;
            }
            harmfulItems.add(harmfulSubset.get(harmfulOrder[(int) (o % harmfulSubset.size())]));
        }
        step++;
        if (step == stepsPerEpoch) {
            step = 0;
            epoch++;
        }
        if (worldSize == 1) {
            return new Step<>(at, Collections.unmodifiableList(safeItems),
                    Collections.unmodifiableList(harmfulItems));
        }
        List<T> mySafe = new ArrayList<>();
        List<T> myHarmful = new ArrayList<>();
        for (int i = rank; i < batchSize; i += worldSize) {
            if (i < safeItems.size()) {
                mySafe.add(safeItems.get(i));
            } else {
                myHarmful.add(harmfulItems.get(i - safeItems.size()));
            }
        }
        return new Step<>(at, Collections.unmodifiableList(mySafe), Collections.unmodifiableList(myHarmful));
    }

    /** Steps per epoch: floor(|safe| / K), or floor(N / B) when K = 0. */
    public long stepsPerEpoch() {
        return stepsPerEpoch;
    }

    public int batchSize() {
        return batchSize;
    }

    public int safePerBatch() {
        return safePerBatch;
    }

    public int harmfulPerBatch() {
        return batchSize - safePerBatch;
    }

    /** The harmful examples trained with (the first N of the seeded shuffle), in that order. */
    public List<T> harmfulSubset() {
        return harmfulSubset;
    }

    public int rank() {
        return rank;
    }

    public int worldSize() {
        return worldSize;
    }
}
