package org.tasft.cli;

import java.util.concurrent.Callable;

import org.tasft.model.Placement;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * What the commands that run a model named on the command line (score, generate, harvest, eval) share: their spec
 * (for the output streams), {@code -h/--help}, the required {@code --model DIR}
 * and {@code --device}/{@code --dtype}. Picocli reads the annotated
 * fields of a superclass as the command's own.
 */
abstract class ModelCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    HelpOption help;

    @Mixin
    ModelOption modelOption;

    @Mixin
    DeviceOptions deviceOptions;

    /** The resolved --device and --dtype, set by {@link #modelFolder()}. */
    Placement placement;

    /** The {@code --model} folder, checked: a usage error when it is missing or not a model folder. */
    ModelFolder modelFolder() {
        placement = deviceOptions.placement(); // a device it cannot have fails first, before any work
        return new ModelFolder(modelOption.dir);
    }
}
