package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.tasft.benchmark.BenchmarkSettings;
import org.tasft.experiment.ExperimentPlan;
import org.tasft.train.Method;
import org.tasft.train.TrainConfig;
import picocli.CommandLine;

/**
 * The weights of the harmful term: train has one default, the experiment has none (each method's is chosen on the
 * validation split unless --lambda fixes it), and the default job uses the weight the experiment chose for emd.
 */
class LambdaDefaultTest {
    @Test
    void trainHasOneDefaultTheExperimentChoosesAndTheDefaultJobUsesEmdsChoice() {
        double lambda = TrainConfig.DEFAULT_LAMBDA;
        assertEquals(lambda, Double.parseDouble(TrainConfig.DEFAULT_LAMBDA_TEXT));
        CommandLine cli = new CommandLine(new Main());
        CommandLine train = cli.getSubcommands().get("train");
        assertEquals(lambda, Double.parseDouble(
                GlobalOptionsTest.defaultOf(train, train.getCommandSpec().findOption("--lambda"))));
        CommandLine experiment = cli.getSubcommands().get("experiment");
        assertNull(GlobalOptionsTest.defaultOf(experiment, experiment.getCommandSpec().findOption("--lambda")));
        assertNull(GlobalOptionsTest.defaultOf(experiment, experiment.getCommandSpec().findOption("--beta")));
        assertEquals(BenchmarkSettings.EMD_LAMBDA, BenchmarkSettings.defaults().lambda());
        // the default job's weight is one the full experiment could have chosen for emd
        assertTrue(ExperimentPlan.FULL_GRID.get(Method.EMD).contains(BenchmarkSettings.EMD_LAMBDA));
    }
}
