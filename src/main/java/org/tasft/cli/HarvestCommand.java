package org.tasft.cli;

import java.nio.file.Path;

import org.tasft.harvest.Harvest;
import org.tasft.io.InputFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tasft harvest}: the model's own answers to (toxic) prompts, as a harmful set for {@code train}. */
@Command(name = "harvest",
        description = {"Generate the model's own answers to prompts and write them as an Alpaca JSONL harmful set "
                + "(instruction, input, output) for 'tasft train --harmful'. Prompts: .json/.jsonl "
                + "(Alpaca instruction + input, or Safety-Tuned-Llamas' eval sets), .csv with a prompt or goal column "
                + "(AdvBench), as 'tasft eval' reads them, or chat rows (messages); any other file: one prompt per "
                + "line. "
                + "With --template chat the prompts are asked in the model's own chat template and the rows are chat "
                + "rows (messages: the conversation with the answer last).",
            "Greedy by default; --temperature > 0 samples (the same --seed gives the same file at any --batch-size)."},
        footer = {"", "Examples:",
            "  tasft harvest --model DIR --prompts harmful_behaviors.csv \\",
            "      --out harmful.jsonl --limit 100",
            "  tasft train --model DIR --safe safe.json --harmful harmful.jsonl \\",
            "      --harmful-count 100 --batch-size 8 --safe-per-batch 7 --out runs/emd",
            "  tasft harvest --model DIR --template chat --prompts harmful_behaviors.csv \\",
            "      --out harmful.jsonl     # chat rows (messages) in the model's own chat format"})
final class HarvestCommand extends ModelCommand {
    @Option(names = "--prompts", required = true, paramLabel = "FILE",
            description = "The prompts: .json/.jsonl, .csv (prompt or goal column), else text lines.")
    Path prompts;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The JSONL file to write.")
    Path out;

    @Option(names = "--overwrite", description = "Replace an existing --out.")
    boolean overwrite;

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "128",
            description = "Most tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--batch-size", paramLabel = "B", defaultValue = "8",
            description = "Prompts generated together (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--limit", paramLabel = "N", description = "Only the first N prompts.")
    Integer limit;

    @Mixin
    ProgressOption progress;

    @Mixin
    TemplateOptions templateOptions;

    @Override
    public Integer call() {
        templateOptions.requireOneOf("harvest", "alpaca", "chat");
        Harvest.Options options = new Harvest.Options(maxNewTokens, batchSize, sampling.temperature, sampling.topP,
                sampling.seed, limit == null ? -1 : limit, templateOptions.chatSpec());
        ModelFolder folder = modelFolder();
        if (!folder.hasTokenizer()) {
            throw new UsageException("harvest needs " + modelOption.dir.resolve("tokenizer.json")
                    + ", which does not exist");
        }
        InputFiles.requireReadableFile(prompts, "--prompts"); // missing, a folder, a FIFO, unreadable
        OutputPaths.requireWritableFile("--out", out); // before the model is loaded and the answers generated
        Harvest.run(modelOption.dir, prompts, out, options, overwrite, progress.show(), System.err, placement);
        return 0;
    }
}
