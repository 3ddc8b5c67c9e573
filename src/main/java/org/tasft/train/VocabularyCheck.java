package org.tasft.train;

import java.nio.file.Path;
import java.util.List;

import org.tasft.data.EncodedExample;
import org.tasft.model.ModelConfig;

/**
 * The training data's token ids against the model's vocabulary, checked before the model is loaded: a tokenizer
 * that gives ids beyond the embedding's rows would otherwise stop the first step with LibTorch's "index out of range
 * in self". The error names the data file, the example, the id and vocab_size.
 */
final class VocabularyCheck {
    private VocabularyCheck() {
    }

    static void requireInVocabulary(Path modelDir, long padId, List<EncodedExample> safe, Path safeFile,
            List<EncodedExample> harmful, Path harmfulFile) {
        ModelConfig model = ModelConfig.read(modelDir.resolve("config.json"));
        check(model, safe, "--safe " + safeFile);
        check(model, harmful, "--harmful " + harmfulFile);
        model.requireInVocabulary(new long[] {padId}, "the pad id of " + modelDir.resolve("tokenizer.json"));
    }

    private static void check(ModelConfig model, List<EncodedExample> examples, String source) {
        for (int i = 0; i < examples.size(); i++) {
            model.requireInVocabulary(examples.get(i).inputIds(), source + ", example " + (i + 1));
        }
    }
}
