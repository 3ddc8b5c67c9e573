package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.tasft.benchmark.BenchmarkSetup;
import picocli.CommandLine;

/** --cache DIR: the default job's cache root, before -Dtasft.cache and ~/.cache/tasft. */
class TrainCommandCacheTest {
    @Test
    void cacheOptionWinsOverTheProperty() {
        TrainCommand c = new TrainCommand();
        new CommandLine(c).parseArgs("--cache", "/tmp/tasft-cache-x");
        String before = System.getProperty(BenchmarkSetup.CACHE_PROPERTY);
        try {
            System.setProperty(BenchmarkSetup.CACHE_PROPERTY, "/tmp/from-property");
            assertEquals(Path.of("/tmp/tasft-cache-x"), TrainCommand.cacheRoot(c.cache));
            assertEquals(Path.of("/tmp/from-property"), TrainCommand.cacheRoot(null));
        } finally {
            if (before == null) {
                System.clearProperty(BenchmarkSetup.CACHE_PROPERTY);
            } else {
                System.setProperty(BenchmarkSetup.CACHE_PROPERTY, before);
            }
        }
    }
}
