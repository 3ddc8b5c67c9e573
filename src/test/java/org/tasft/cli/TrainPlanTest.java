package org.tasft.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tasft train --plan}: the memory plan of a Llama-3.1-8B-shaped model, printed without loading anything. */
class TrainPlanTest {
    @TempDir
    Path dir;

    private Path llama8b() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("llama-8b"));
        Files.writeString(folder.resolve("config.json"), org.tasft.train.MemoryPlanTestAccess.LLAMA_8B);
        return folder; // no weights: --plan reads config.json alone
    }

    @Test
    void plansAnEightBillionLoraStepWithoutWeights() throws IOException {
        MainTest.Run r = MainTest.run("train", "--model", llama8b().toString(), "--plan", "--dtype", "bfloat16",
                "--lora-rank", "16", "--lora-targets", "q_proj,k_proj,v_proj,o_proj", "--batch-size", "8",
                "--max-length", "1024", "--gradient-checkpointing", "--device-memory", "80GiB");
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        assertTrue(out.startsWith("memory plan: llama, 32 layers, hidden 4096, vocab 128256; 8 x 1024 tokens per "
                + "rank, bfloat16, LoRA r 16 on q_proj,k_proj,v_proj,o_proj"), out);
        for (String row : new String[] {"weights", "gradients", "optimizer state", "activations", "logits",
            "peak per rank"}) {
            assertTrue(out.contains("  " + row), row + " missing: " + out);
        }
        assertTrue(out.contains("(with --gradient-checkpointing)"), out);
        assertTrue(out.contains("fits in --device-memory 80.00 GiB"), out);
        assertFalse(Files.exists(dir.resolve("runs")), "nothing is written");
    }

    @Test
    void saysWhenItDoesNotFitAndWhatWould() throws IOException {
        MainTest.Run r = MainTest.run("train", "--model", llama8b().toString(), "--plan", "--dtype", "bfloat16",
                "--lora-rank", "16", "--batch-size", "8", "--max-length", "1024", "--device-memory", "40GiB");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("does NOT fit in --device-memory 40.00 GiB"), r.out());
        assertTrue(r.out().contains("with --gradient-checkpointing it would"), r.out());
    }

    @Test
    void dataParallelRanksSplitTheBatch() throws IOException {
        MainTest.Run r = MainTest.run("train", "--model", llama8b().toString(), "--plan", "--dtype", "bf16",
                "--batch-size", "8", "--max-length", "512", "--nproc-per-node", "4");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("2 x 512 tokens per rank, bfloat16, full fine-tuning, 4 ranks"), r.out());
        assertTrue(r.out().contains("gradient buckets"), r.out());
    }

    @Test
    void badSizesAndMisuseAreUsageErrors() throws IOException {
        MainTest.Run r = MainTest.run("train", "--model", llama8b().toString(), "--plan", "--device-memory", "lots");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--device-memory: not a size: 'lots'"), r.err());
        r = MainTest.run("train", "--model", llama8b().toString(), "--safe", "x.json", "--device-memory", "8G");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--device-memory is for --plan"), r.err());
    }
}
