package org.tasft.model.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tasft.checkpoint.CheckpointException;
import org.tasft.checkpoint.ModelFolderWriter;
import org.tasft.checkpoint.SafetensorsFile;
import org.tasft.model.CausalLm;
import org.tasft.model.LinearLayer;
import org.tasft.model.Models;
import org.tasft.testing.Safetensors;

/** LoRA on the transformers-made tiny fixtures: apply, train, merge, save and load adapters. */
class LoraTest {
    @TempDir
    Path tmp;

    static Path fixture(String name) {
        try {
            return Path.of(LoraTest.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Tensor ids(String name) {
        return Safetensors.load("/fixtures/" + name + "/expected.safetensors").get("input_ids");
    }

    static float[] logits(CausalLm model, Tensor ids) {
        Tensor out = model.forward(ids).detach().contiguous();
        float[] values = new float[(int) out.numel()];
        new FloatPointer(out.data_ptr()).get(values);
        return values;
    }

    static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    /** The default targets of each fixture's architecture: Safety-Tuned-Llamas' q/v for Llama, c_attn for GPT-2. */
    static LoraConfig config(String name, double dropout) {
        List<String> targets = name.contains("gpt2") ? List.of("c_attn") : List.of("q_proj", "v_proj");
        return new LoraConfig(4, 8, dropout, targets);
    }

    /** A few SGD steps on the adapters against a fixed random linear loss on the logits. */
    static void train(Lora lora, Tensor ids, int steps) {
        torch.manual_seed(7);
        Tensor out = lora.model().forward(ids);
        Tensor direction = torch.randn(out.sizes().vec().get());
        SGD sgd = new SGD(lora.trainableParameterVector(), new SGDOptions(0.05));
        for (int i = 0; i < steps; i++) {
            sgd.zero_grad();
            Tensor loss = lora.model().forward(ids).mul(direction).mean();
            loss.backward();
            sgd.step();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-gpt2"})
    void applyKeepsTheLogitsAndAddsAdaptersToTheTargetsOnly(String name) {
        CausalLm model = Models.load(fixture(name));
        float[] before = logits(model, ids(name));
        Set<String> names = model.stateDict().keySet();
        Lora lora = Lora.apply(model, config(name, 0.0), 1);
        assertArrayEquals(before, logits(model, ids(name)), "B = 0: the adapted model computes the base model");
        assertEquals(names, model.stateDict().keySet(), "the state dict holds the base weights only");
        int expected = name.contains("gpt2") ? 2 : 4;
        assertEquals(expected, lora.adapters().size());
        for (Map.Entry<String, LinearLayer> e : model.linearLayers().entrySet()) {
            boolean targeted = name.contains("gpt2") ? e.getKey().endsWith("c_attn")
                    : e.getKey().endsWith("q_proj") || e.getKey().endsWith("v_proj");
            assertEquals(targeted, e.getValue().adapter() != null, e.getKey());
        }
        LoraAdapter first = lora.adapters().values().iterator().next();
        assertArrayEquals(new long[] {4, first.layer().inFeatures()}, first.a().sizes().vec().get());
        assertArrayEquals(new long[] {first.layer().outFeatures(), 4}, first.b().sizes().vec().get());
        double bound = 1 / Math.sqrt(first.layer().inFeatures());
        double maxA = first.a().abs().max().item_double();
        assertTrue(maxA <= bound && maxA > bound / 2, "kaiming-uniform(a=sqrt(5)) range: " + maxA + " vs " + bound);
        assertEquals(0.0, first.b().abs().max().item_double());
        assertEquals(2 * expected, lora.trainableParameters().size());
        // the same seed gives the same A
        CausalLm again = Models.load(fixture(name));
        Lora same = Lora.apply(again, config(name, 0.0), 1);
        assertTrue(same.adapters().values().iterator().next().a().equal(first.a()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-gpt2"})
    void onlyTheAdaptersGetGradients(String name) {
        CausalLm model = Models.load(fixture(name));
        Lora lora = Lora.apply(model, config(name, 0.0), 2);
        torch.manual_seed(3);
        Tensor out = model.forward(ids(name));
        out.mul(torch.randn(out.sizes().vec().get())).sum().backward();
        for (Map.Entry<String, Tensor> p : model.stateDict().entrySet()) {
            assertFalse(p.getValue().requires_grad(), p.getKey() + " is frozen");
            assertFalse(p.getValue().grad().defined(), p.getKey() + " got a gradient");
        }
        for (LoraAdapter a : lora.adapters().values()) {
            assertTrue(a.a().grad().defined(), a.path() + " lora_A has a gradient");
            // with B = 0 the gradient of A is 0; B's is not
            assertTrue(a.b().grad().abs().max().item_double() > 0, a.path() + " lora_B's gradient is not 0");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-gpt2"})
    void trainedAdaptersMergeIntoAPlainCheckpoint(String name) throws IOException {
        CausalLm model = Models.load(fixture(name));
        float[] base = logits(model, ids(name));
        Set<String> names = model.stateDict().keySet();
        Lora lora = Lora.apply(model, config(name, 0.0), 3);
        train(lora, ids(name), 3);
        float[] adapted = logits(model, ids(name));
        assertTrue(maxDiff(base, adapted) > 1e-3, "training the adapters changed the logits: " + maxDiff(base, adapted));

        assertEquals(lora.adapters().size(), Lora.merge(model));
        model.linearLayers().values().forEach(l -> assertNull(l.adapter()));
        float[] merged = logits(model, ids(name));
        assertTrue(maxDiff(adapted, merged) <= 1e-5, "merged == adapted: " + maxDiff(adapted, merged));
        assertEquals(names, model.stateDict().keySet());
        assertThrows(IllegalStateException.class, () -> Lora.merge(model), "nothing left to merge");

        Path out = tmp.resolve("merged");
        Models.save(model, out, fixture(name), ModelFolderWriter.Options.defaults());
        CausalLm reloaded = Models.load(out);
        assertArrayEquals(merged, logits(reloaded, ids(name)), "the saved merged folder gives the same logits");
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-llama", "tiny-gpt2"})
    void adaptersRoundTripInPeftLayout(String name) throws IOException {
        CausalLm model = Models.load(fixture(name));
        Lora lora = Lora.apply(model, config(name, 0.05), 4);
        train(lora, ids(name), 2);
        float[] adapted = logits(model, ids(name));
        Path dir = tmp.resolve("adapter");
        Lora.saveAdapters(model, dir, "tiny/base");
        Lora.saveAdapters(model, dir, "tiny/base"); // replaces the folder atomically
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(dir), files.toList(), "no temporary folders left behind");
        }

        JsonNode c = new ObjectMapper().readTree(dir.resolve("adapter_config.json").toFile());
        assertEquals("LORA", c.get("peft_type").asText());
        assertEquals("CAUSAL_LM", c.get("task_type").asText());
        assertEquals("none", c.get("bias").asText());
        assertEquals("tiny/base", c.get("base_model_name_or_path").asText());
        assertEquals(4, c.get("r").asInt());
        assertTrue(c.get("lora_alpha").isIntegralNumber());
        assertEquals(8, c.get("lora_alpha").asInt());
        assertEquals(0.05, c.get("lora_dropout").asDouble());
        assertEquals(name.contains("gpt2"), c.get("fan_in_fan_out").asBoolean());
        assertEquals(config(name, 0).targetModules().size(), c.get("target_modules").size());
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("adapter_model.safetensors"))) {
            String first = name.contains("gpt2") ? "base_model.model.transformer.h.0.attn.c_attn"
                    : "base_model.model.model.layers.0.self_attn.q_proj";
            assertTrue(f.names().contains(first + ".lora_A.weight"), f.names().toString());
            assertTrue(f.names().contains(first + ".lora_B.weight"), f.names().toString());
            assertEquals(lora.namedParameters().keySet(), f.names());
        }

        CausalLm fresh = Models.load(fixture(name));
        Lora loaded = Lora.loadAdapters(fresh, dir);
        assertEquals(lora.config(), loaded.config());
        assertArrayEquals(adapted, logits(fresh, ids(name)), "reloaded adapters give the same logits");
        assertFalse(fresh.stateDict().values().iterator().next().requires_grad(), "base frozen after loading");
    }

    @Test
    void dropoutAppliesInTrainingModeOnly() {
        CausalLm model = Models.load(fixture("tiny-llama"));
        Lora lora = Lora.apply(model, config("tiny-llama", 0.5), 5);
        try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
            for (LoraAdapter a : lora.adapters().values()) {
                a.b().normal_(0, 0.1, new GeneratorOptional());
            }
        }
        Tensor ids = ids("tiny-llama");
        assertArrayEquals(logits(model, ids), logits(model, ids), "eval mode: deterministic");
        model.module().train(true);
        assertTrue(maxDiff(logits(model, ids), logits(model, ids)) > 0, "train mode: the adapter input is dropped");
        model.module().eval();
    }

    @Test
    void badConfigsAreRejectedWithClearMessages() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(0, 16, "q_proj"))
                .getMessage().contains("rank r must be >= 1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LoraConfig(8, 16, 1.0, List.of("q_proj")))
                .getMessage().contains("lora_dropout"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new LoraConfig(8, 0, 0, List.of("q_proj")))
                .getMessage().contains("lora_alpha"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(8, 16))
                .getMessage().contains("at least one module"));
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(8, 16, " "));

        CausalLm gpt2 = Models.load(fixture("tiny-gpt2"));
        String message = assertThrows(IllegalArgumentException.class,
                () -> Lora.apply(gpt2, LoraConfig.SAFETY_TUNED_LLAMAS, 0)).getMessage();
        assertTrue(message.contains("[q_proj, v_proj] match no linear module") && message.contains("c_attn")
                && message.contains("c_fc"), message);
        assertTrue(gpt2.stateDict().values().iterator().next().requires_grad(), "a refused apply freezes nothing");

        CausalLm llama = Models.load(fixture("tiny-llama"));
        String partial = assertThrows(IllegalArgumentException.class,
                () -> Lora.apply(llama, LoraConfig.of(2, 4, "q_proj", "qproj"), 0)).getMessage();
        assertTrue(partial.contains("[qproj]") && partial.contains("gate_proj"), partial);
        Lora.apply(llama, LoraConfig.SAFETY_TUNED_LLAMAS, 0);
        assertThrows(IllegalArgumentException.class, () -> Lora.apply(llama, LoraConfig.SAFETY_TUNED_LLAMAS, 0),
                "LoRA twice");
        // an adapter folder made for another model does not load
        Path dir = tmp.resolve("llama-adapter");
        Lora.saveAdapters(llama, dir);
        CausalLm other = Models.load(fixture("tiny-gpt2"));
        assertThrows(IllegalArgumentException.class, () -> Lora.loadAdapters(other, dir));
        assertThrows(IllegalStateException.class, () -> Lora.of(other));
        assertThrows(CheckpointException.class, () -> Lora.loadAdapters(other, tmp.resolve("missing")));
    }
}
