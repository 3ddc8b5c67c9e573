package org.tasft.generate;

import java.util.List;

import org.tasft.model.CausalLm;

/** The models the generation tests run on: the Java stand-in, and the tiny Hugging Face fixtures once loadable. */
final class TestModels {
    private TestModels() {
    }

    static List<String> all() {
        return List.of("toy");
    }

    static CausalLm load(String name) {
        if (name.equals("toy")) {
            return new ToyLm(11);
        }
        throw new IllegalArgumentException(name);
    }
}
