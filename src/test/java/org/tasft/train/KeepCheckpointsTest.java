package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tasft.train.TrainerTesting.sft;
import static org.tasft.train.TrainerTesting.trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.tasft.checkpoint.OutputFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --keep-checkpoints K: only the newest K checkpoint folders stay, deleted only after a new one is complete. */
class KeepCheckpointsTest {
    @TempDir
    Path dir;

    private static List<Long> steps(Path out) {
        return new ArrayList<>(TrainCheckpoint.list(out).keySet());
    }

    @Test
    void keepsTheNewestKAndDeletesOnlyAfterTheNewOneIsComplete() throws IOException {
        TrainConfig config = sft(dir, "run").steps(6).checkpointEvery(1).keepCheckpoints(2).build();
        List<String> atCommit = new ArrayList<>();
        TrainCheckpoint.beforeCommit = partial -> atCommit.add(steps(config.outDir()).toString());
        try {
            trainer(config).run();
        } finally {
            TrainCheckpoint.beforeCommit = p -> { };
        }
        // while checkpoint-N is being committed, the previous two are still there
        assertEquals(List.of("[]", "[1]", "[1, 2]", "[2, 3]", "[3, 4]", "[4, 5]"), atCommit);
        assertEquals(List.of(5L, 6L), steps(config.outDir()));
        assertTrue(Files.isRegularFile(config.outDir().resolve("final/model.safetensors")));
        try (Stream<Path> s = Files.list(config.outDir())) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".")
                    && !p.getFileName().toString().equals(OutputFolder.MANIFEST)), "no leftovers");
        }
        // and the kept ones resume
        TrainConfig longer = config.toBuilder().steps(7).allowChanges(List.of("steps")).build();
        List<StepMetrics> m = new Trainer(longer, config.outDir().resolve("checkpoint-6"), TrainerTesting.QUIET)
                .run();
        assertEquals(7, m.size());
        assertEquals(List.of(6L, 7L), steps(config.outDir()));
    }

    @Test
    void zeroKeepsAll() {
        TrainConfig config = sft(dir, "all").steps(4).checkpointEvery(1).build();
        trainer(config).run();
        assertEquals(List.of(1L, 2L, 3L, 4L), steps(config.outDir()));
    }

    @Test
    void laterCheckpointsOfAResumedRunAreNotCountedAgainstTheNewOnes() {
        TrainConfig first = sft(dir, "run").steps(6).checkpointEvery(1).build();
        trainer(first).run();
        TrainConfig keep2 = first.toBuilder().keepCheckpoints(2).build();
        // resumed from checkpoint-2 and "killed" after step 3: 4..6 of the first run stay untouched
        new Trainer(keep2, first.outDir().resolve("checkpoint-2"), TrainerTesting.QUIET).runUntil(3);
        assertEquals(List.of(2L, 3L, 4L, 5L, 6L), steps(first.outDir()));
        new Trainer(keep2, first.outDir().resolve("checkpoint-3"), TrainerTesting.QUIET).run();
        assertEquals(List.of(5L, 6L), steps(first.outDir()));
    }
}
