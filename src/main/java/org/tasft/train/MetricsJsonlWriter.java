package org.tasft.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * {@code metrics.jsonl}: one {@link StepMetrics#toJson} per line, flushed after every step so that a killed run
 * leaves its steps. A resumed run first rewrites the lines up to its checkpoint (a killed run may have written more
 * after it). Rank 0's alone.
 */
final class MetricsJsonlWriter implements TrainingListener {
    static final String FILE = "metrics.jsonl";
    private static final ObjectWriter LINE = TrainCheckpoint.JSON.writer().without(SerializationFeature.INDENT_OUTPUT);
    private final Path out;
    private final Path file;
    private BufferedWriter writer;

    MetricsJsonlWriter(Path out) {
        this.out = out;
        this.file = out.resolve(FILE);
    }

    @Override
    public void onStart(Trainer trainer) {
        RunFolder.claim(out, FILE); // listed before written: provably ours
        try {
            writer = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            for (StepMetrics m : trainer.metrics()) {
                write(m);
            }
            writer.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    @Override
    public void onStep(Trainer trainer, StepMetrics step) {
        try {
            write(step);
            writer.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    private void write(StepMetrics m) throws IOException {
        writer.write(LINE.writeValueAsString(m.toJson()));
        writer.newLine();
    }

    @Override
    public void close() {
        if (writer == null) {
            return;
        }
        try {
            writer.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        } finally {
            writer = null;
        }
    }
}
