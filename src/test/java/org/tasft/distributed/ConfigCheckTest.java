package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.bytedeco.pytorch.TCPStore;
import org.junit.jupiter.api.Test;

class ConfigCheckTest {
    private static final String MISMATCH = "rank(s) 1 run with other training options than rank 0: every rank must "
            + "get the same command line";

    @Test
    void theVerdictNamesTheRanksThatDifferFromRankZero() {
        assertEquals("ok", ConfigCheck.verdict(List.of("a", "a", "a")));
        assertEquals("2, 4", ConfigCheck.verdict(List.of("a", "a", "b", "a", "b")));
        assertEquals("ok", ConfigCheck.verdict(List.of("a")));
    }

    @Test
    void twoRanksAgreeThenBothFailOnADifference() throws Exception {
        try (TCPStore store = LocalStore.open(2)) {
            Duration timeout = Duration.ofSeconds(10);
            ConfigCheck rank0 = new ConfigCheck(store, 0, 2, timeout);
            ConfigCheck rank1 = new ConfigCheck(store.clone(), 1, 2, timeout);

            CompletableFuture<Void> other = CompletableFuture.runAsync(() -> rank1.check("training options",
                    "lr 1e-4"));
            rank0.check("training options", "lr 1e-4");
            other.get(10, TimeUnit.SECONDS);

            other = CompletableFuture.runAsync(() -> rank1.check("training options", "lr 2e-4"));
            IllegalArgumentException e0 = assertThrows(IllegalArgumentException.class,
                    () -> rank0.check("training options", "lr 1e-4"));
            CompletableFuture<Void> done = other;
            ExecutionException e1 = assertThrows(ExecutionException.class, () -> done.get(10, TimeUnit.SECONDS));
            assertEquals(MISMATCH, e0.getMessage());
            assertInstanceOf(IllegalArgumentException.class, e1.getCause());
            assertEquals(MISMATCH, e1.getCause().getMessage());
        }
    }
}
