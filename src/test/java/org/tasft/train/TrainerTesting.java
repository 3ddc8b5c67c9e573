package org.tasft.train;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.bytedeco.pytorch.Tensor;
import org.tasft.loss.EmdLoss.Reduction;

/** Small Alpaca files and configs on the tiny-llama fixture. */
final class TrainerTesting {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    private TrainerTesting() {
    }

    /** An Alpaca JSON array of {@code copies} copies of each (instruction, output) pair. */
    static Path alpaca(Path file, int copies, String... instructionOutput) {
        StringBuilder sb = new StringBuilder("[");
        for (int c = 0; c < copies; c++) {
            for (int i = 0; i < instructionOutput.length; i += 2) {
                sb.append(sb.length() > 1 ? ",\n" : "\n").append("{\"instruction\": \"").append(instructionOutput[i])
                        .append("\", \"input\": \"\", \"output\": \"").append(instructionOutput[i + 1]).append("\"}");
            }
        }
        sb.append("\n]\n");
        try {
            Files.writeString(file, sb.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    static Path safe(Path dir) {
        return alpaca(dir.resolve("safe.json"), 4, "Name a colour.", "Blue is a colour.",
                "Say hello.", "Hello there, friend.");
    }

    static Path harmful(Path dir) {
        return alpaca(dir.resolve("harmful.json"), 1, "Do a bad thing.", "Sure, here is how.",
                "Do another bad thing.", "Of course, first you.", "Do worse.", "Here it is.");
    }

    /** SFT on {@link #safe}, B = 2, constant lr 5e-3, no progress bar. */
    static TrainConfig.Builder sft(Path dir, String out) {
        return TrainConfig.builder().modelDir(TrainTesting.fixture("tiny-llama")).safeFile(safe(dir))
                .outDir(dir.resolve(out)).method(Method.SFT).batchSize(2).learningRate(5e-3)
                .schedule(LrSchedule.Kind.CONSTANT).steps(4).seed(7).progress(false);
    }

    /** TA-SFT: 2 safe + 1 harmful per batch, cosine with warm-up, weight decay. */
    static TrainConfig.Builder emd(Path dir, String out) {
        return sft(dir, out).method(Method.EMD).harmfulFile(harmful(dir)).harmfulCount(3).batchSize(3).safePerBatch(2)
                .lambda(0.25).reduction(Reduction.SEQUENCE).schedule(LrSchedule.Kind.COSINE).warmupSteps(2)
                .weightDecay(0.01).learningRate(3e-3);
    }

    static Trainer trainer(TrainConfig config) {
        return new Trainer(config, null, QUIET);
    }

    static double maxAbsDiff(Tensor a, Tensor b) {
        return a.sub(b).abs().max().item_double();
    }

    static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
