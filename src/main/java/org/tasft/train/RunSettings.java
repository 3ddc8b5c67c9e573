package org.tasft.train;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.tasft.chat.ChatSpec;
import org.tasft.chat.ChatTemplate;
import org.tasft.model.lora.LoraConfig;

/**
 * The settings of a training run that change its result, recorded in every checkpoint and compared on resume: a
 * resumed run continues exactly only when they are the same. Keys are the command-line options' names (without the
 * dashes); data files and the model folder count by their content (a SHA-256), not their path, so a moved file is the
 * same file and an edited one is not. Settings that do not change the result (--out, --checkpoint-every, ...) are not
 * recorded.
 */
public final class RunSettings {
    private RunSettings() {
    }

    /** The result-changing settings of {@code c}, in a fixed order. */
    public static Map<String, String> of(TrainConfig c) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("model", modelFingerprint(c.modelDir()));
        s.put("safe", fileHash(c.safeFile()));
        s.put("harmful", c.harmfulFile() == null ? "none" : fileHash(c.harmfulFile()));
        s.put("harmful-count", c.harmfulCount() < 0 ? "all" : Integer.toString(c.harmfulCount()));
        s.put("method", c.method().id());
        s.put("refusals", c.refusalsFile() == null ? "built-in" : fileHash(c.refusalsFile()));
        s.put("lambda", Double.toString(c.lambda()));
        s.put("reduction", c.reduction().name().toLowerCase(java.util.Locale.ROOT));
        s.put("embedding", c.embedding().name().toLowerCase(java.util.Locale.ROOT));
        s.put("beta", Double.toString(c.beta()));
        s.put("batch-size", Integer.toString(c.batchSize()));
        s.put("safe-per-batch", Integer.toString(c.safePerBatch()));
        s.put("max-length", Integer.toString(c.maxLength()));
        s.put("lr", Double.toString(c.learningRate()));
        s.put("weight-decay", Double.toString(c.weightDecay()));
        s.put("warmup-steps", Integer.toString(c.warmupSteps()));
        s.put("schedule", c.schedule().name().toLowerCase(java.util.Locale.ROOT));
        s.put("steps", c.steps() < 0 ? "from --epochs" : Long.toString(c.steps()));
        s.put("epochs", c.steps() < 0 ? Double.toString(c.epochs()) : "unused");
        s.put("grad-accum", Integer.toString(c.gradientAccumulation()));
        s.put("max-grad-norm", Double.toString(c.maxGradNorm()));
        s.put("seed", Long.toString(c.seed()));
        LoraConfig l = c.lora();
        s.put("lora", l == null ? "none" : "r " + l.rank() + ", alpha " + l.alpha() + ", dropout " + l.dropout()
                + ", targets " + String.join(",", l.targetModules()));
        s.put("skip-nonfinite-steps", Boolean.toString(c.skipNonFinite()));
        s.put("template", template(c));
        s.put("system", c.system() == null ? "none" : c.system());
        s.put("dtype", c.placement().precision().id()); // the device is not a setting: a run may resume on another
        return s;
    }

    /** The names {@code --allow-change} accepts. */
    public static Set<String> names() {
        return Set.of("model", "safe", "harmful", "harmful-count", "method", "refusals", "lambda", "reduction",
                "embedding", "beta", "batch-size", "safe-per-batch", "max-length", "lr", "weight-decay",
                "warmup-steps", "schedule", "steps", "epochs", "grad-accum", "max-grad-norm", "seed", "lora",
                "skip-nonfinite-steps", "template", "system", "dtype");
    }

    /**
     * Compares the checkpoint's settings with this run's: a difference is refused, naming the option, unless it is
     * among {@code allowed}; the allowed differences come back as lines to record ("lr 2.0E-5 -> 1.0E-4").
     *
     * @throws IllegalArgumentException a difference that is not allowed
     */
    public static List<String> compare(Path resume, Map<String, String> saved, Map<String, String> now,
            Set<String> allowed) {
        List<String> changes = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        for (Map.Entry<String, String> e : now.entrySet()) {
            String before = saved.get(e.getKey());
            if (before == null || before.equals(e.getValue())) {
                continue; // a setting the checkpoint predates
            }
            String line = "--" + e.getKey() + " " + show(e.getKey(), before) + " -> " + show(e.getKey(), e.getValue());
            if (allowed.contains(e.getKey())) {
                changes.add(line);
            } else {
                refused.add(line);
            }
        }
        if (!refused.isEmpty()) {
            Set<String> names = new TreeSet<>();
            refused.forEach(r -> names.add(r.substring(2, r.indexOf(' '))));
            throw new IllegalArgumentException("--resume " + resume + ": the checkpoint was trained with other "
                    + "settings (" + String.join("; ", refused) + "): give the same values to continue exactly, or "
                    + "--allow-change " + String.join(",", names) + " to continue with the new ones");
        }
        return changes;
    }

    /** The template by content: a template file's and the model's chat template's text count, not their names. */
    private static String template(TrainConfig c) {
        String t = c.template();
        if (ChatSpec.isChat(t)) {
            String source = ChatTemplate.load(c.modelDir(), ChatSpec.of(t, null).templateName()).source();
            MessageDigest md = sha256();
            md.update(source.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return t + " (content " + HexFormat.of().formatHex(md.digest()).substring(0, 12) + ")";
        }
        return t.equals("alpaca") || t.equals("raw") ? t : fileHash(Path.of(t));
    }

    private static String show(String key, String value) {
        // hashes are long; their head tells two files apart in a message
        return value.length() == 64 && value.matches("[0-9a-f]+") ? "(content " + value.substring(0, 12) + ")"
                : value;
    }

    /** SHA-256 of a file's bytes. */
    static String fileHash(Path file) {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * A model folder's identity without reading gigabytes of weights: config.json and tokenizer.json by content, the
     * weight files by name and size.
     */
    static String modelFingerprint(Path dir) {
        MessageDigest md = sha256();
        for (String f : List.of("config.json", "tokenizer.json")) {
            Path p = dir.resolve(f);
            if (Files.isRegularFile(p)) {
                md.update((f + "=" + fileHash(p) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        TreeSet<String> weights = new TreeSet<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "*.safetensors")) {
            for (Path p : s) {
                weights.add(p.getFileName() + "=" + Files.size(p));
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read --model " + dir + ": " + e.getMessage(), e);
        }
        weights.forEach(w -> md.update((w + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
