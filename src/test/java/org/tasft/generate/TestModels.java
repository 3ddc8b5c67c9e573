package org.tasft.generate;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.tasft.model.CausalLm;
import org.tasft.model.ModelConfig;
import org.tasft.model.Models;
import org.tasft.testing.Safetensors;

/** The models the generation tests run on: the plain-Java stand-in and the tiny transformers fixtures. */
final class TestModels {
    private TestModels() {
    }

    static List<String> all() {
        return List.of("toy", "tiny-llama", "tiny-llama-tied", "tiny-gpt2");
    }

    static CausalLm load(String name) {
        if (name.equals("toy")) {
            return new ToyLm(11);
        }
        String dir = "/fixtures/" + name + "/";
        ModelConfig config = ModelConfig.parse(resourceText(dir + "config.json"), name + "/config.json");
        Safetensors weights = Safetensors.load(dir + "model.safetensors");
        return Models.fromTensors(config, weights::get, weights.names());
    }

    private static String resourceText(String resource) {
        try (InputStream in = TestModels.class.getResourceAsStream(resource)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
