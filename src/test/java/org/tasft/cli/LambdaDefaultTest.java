package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.train.TrainConfig;
import picocli.CommandLine;

/** One default weight of the harmful term: train, its builder, the default job and the experiment agree. */
class LambdaDefaultTest {
    @Test
    void trainTheDefaultJobAndTheExperimentShareOneDefaultLambda() {
        double lambda = TrainConfig.DEFAULT_LAMBDA;
        assertEquals(lambda, Double.parseDouble(TrainConfig.DEFAULT_LAMBDA_TEXT));
        CommandLine cli = new CommandLine(new Main());
        for (String command : new String[] {"train", "experiment"}) {
            CommandLine sub = cli.getSubcommands().get(command);
            String text = GlobalOptionsTest.defaultOf(sub, sub.getCommandSpec().findOption("--lambda"));
            assertEquals(lambda, Double.parseDouble(text), command);
        }
        assertEquals(lambda, BenchmarkSettings.defaults().lambda());
    }
}
