package org.tasft.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Name;
import org.junit.jupiter.api.Test;

/** The raw binding: struct layout, status codes and the thread-local error message, without LibTorch. */
class EmdNativeTest {
    private static final Path HEADER = Path.of("native", "include", "tasft", "emd.h");

    /**
     * Every function, struct and enum constant that emd.h declares has its member in EmdNative (same name, same
     * parameter count, every struct field with a getter and a setter, enum constants with the same value), and
     * every native member of EmdNative has its declaration: the mapping cannot fall behind the header unnoticed.
     */
    @Test
    void everyHeaderDeclarationIsMapped() throws IOException {
        assertTrue(Files.isRegularFile(HEADER), HEADER.toAbsolutePath() + " not found (tests run from the project root)");
        String header = Files.readString(HEADER).replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
        List<String> problems = new ArrayList<>();

        // functions: name -> parameter count
        Map<String, Integer> functions = new TreeMap<>();
        Matcher fn = Pattern.compile("\\b(tasft_\\w+)\\s*\\(([^()]*)\\)\\s*;").matcher(header);
        while (fn.find()) {
            String params = fn.group(2).strip();
            functions.put(fn.group(1), params.isEmpty() || params.equals("void") ? 0 : params.split(",").length);
        }
        assertTrue(functions.containsKey("tasft_emd_cpu") && functions.size() > 20, "parsed functions: " + functions);
        Map<String, Integer> javaFunctions = new TreeMap<>();
        for (Method m : EmdNative.class.getDeclaredMethods()) {
            if (Modifier.isNative(m.getModifiers()) && Modifier.isStatic(m.getModifiers())) {
                javaFunctions.put(m.getName(), m.getParameterCount());
            }
        }
        functions.forEach((name, arity) -> {
            Integer mapped = javaFunctions.get(name);
            if (mapped == null) {
                problems.add("emd.h declares " + name + " but EmdNative has no native member of that name");
            } else if (mapped.intValue() != arity) {
                problems.add("EmdNative." + name + " takes " + mapped + " parameters, emd.h declares " + arity);
            }
        });
        javaFunctions.keySet().stream().filter(name -> !functions.containsKey(name)).forEach(name ->
                problems.add("EmdNative." + name + " is native but emd.h declares no such function"));

        // structs: name -> fields
        Map<String, Set<String>> structs = new TreeMap<>();
        Matcher st = Pattern.compile("(?s)typedef\\s+struct\\s*\\{(.*?)\\}\\s*(tasft_\\w+)\\s*;").matcher(header);
        while (st.find()) {
            Set<String> fields = new TreeSet<>();
            for (String declaration : st.group(1).split(";")) {
                for (String declarator : declaration.split(",")) {
                    Matcher last = Pattern.compile("(\\w+)\\s*$").matcher(declarator.strip());
                    if (last.find()) {
                        fields.add(last.group(1));
                    }
                }
            }
            structs.put(st.group(2), fields);
        }
        assertTrue(structs.containsKey("tasft_emd_args") && structs.get("tasft_emd_args").contains("logits_row_stride"),
                "parsed structs: " + structs);
        Map<String, Class<?>> javaStructs = new TreeMap<>();
        for (Class<?> c : EmdNative.class.getDeclaredClasses()) {
            Name name = c.getAnnotation(Name.class);
            if (name != null) {
                javaStructs.put(name.value()[0], c);
            }
        }
        structs.forEach((name, fields) -> {
            Class<?> c = javaStructs.get(name);
            if (c == null) {
                problems.add("emd.h declares struct " + name + " but EmdNative has no @Name(\"" + name + "\") class");
                return;
            }
            Map<String, List<Integer>> accessors = new LinkedHashMap<>();
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isNative(m.getModifiers()) && !m.getName().equals("allocate")) {
                    accessors.computeIfAbsent(m.getName(), k -> new ArrayList<>()).add(m.getParameterCount());
                }
            }
            for (String field : fields) {
                List<Integer> arities = accessors.getOrDefault(field, List.of());
                if (!arities.contains(0) || !arities.contains(1)) {
                    problems.add("EmdNative." + c.getSimpleName() + " (" + name + ") lacks the getter or setter of "
                            + field);
                }
            }
            accessors.keySet().stream().filter(f -> !fields.contains(f)).forEach(f -> problems.add("EmdNative."
                    + c.getSimpleName() + "." + f + " is native but " + name + " has no such field"));
        });
        javaStructs.keySet().stream().filter(name -> !structs.containsKey(name)).forEach(name ->
                problems.add("EmdNative maps struct " + name + " that emd.h does not declare"));

        // enum constants: name -> value, as static final ints of the same name
        Matcher en = Pattern.compile("(?s)typedef\\s+enum\\s*\\{(.*?)\\}\\s*(tasft_\\w+)\\s*;").matcher(header);
        int constants = 0;
        while (en.find()) {
            Matcher constant = Pattern.compile("(TASFT_\\w+)\\s*=\\s*(-?\\d+)").matcher(en.group(1));
            while (constant.find()) {
                constants++;
                try {
                    Field f = EmdNative.class.getField(constant.group(1));
                    int value = f.getInt(null);
                    if (value != Integer.parseInt(constant.group(2))) {
                        problems.add("EmdNative." + constant.group(1) + " = " + value + ", emd.h says "
                                + constant.group(2));
                    }
                } catch (NoSuchFieldException | IllegalAccessException e) {
                    problems.add("emd.h declares " + constant.group(1) + " (" + en.group(2)
                            + ") but EmdNative has no public constant of that name");
                }
            }
        }
        assertTrue(constants >= 15, "parsed " + constants + " enum constants");

        // function-like macros: TASFT_EMD_VP_STATS -> tasftEmdVpStats
        Matcher macro = Pattern.compile("#define\\s+(TASFT_\\w+)\\(").matcher(header);
        while (macro.find()) {
            String[] words = macro.group(1).toLowerCase().split("_");
            StringBuilder camel = new StringBuilder(words[0]);
            Arrays.stream(words).skip(1).forEach(w -> camel.append(Character.toUpperCase(w.charAt(0))).append(w, 1,
                    w.length()));
            if (Arrays.stream(EmdNative.class.getDeclaredMethods()).noneMatch(m -> m.getName().equals(camel.toString()))) {
                problems.add("emd.h defines the macro " + macro.group(1) + " but EmdNative has no " + camel + "()");
            }
        }
        if (!problems.isEmpty()) {
            fail("EmdNative does not match emd.h:\n  " + String.join("\n  ", problems));
        }
    }

    @Test
    void structFieldsRoundTrip() {
        try (EmdNative.EmdArgs args = new EmdNative.EmdArgs();
             FloatPointer logits = new FloatPointer(6);
             LongPointer targets = new LongPointer(2)) {
            args.logits(logits).logits_dtype(EmdNative.TASFT_BFLOAT16).rows(2).vocab(3).logits_row_stride(5)
                    .dim(7).targets(targets).ignore_index(-100).grad_scale(-0.25f).cuda_stream(null);
            assertEquals(logits.address(), args.logits().address());
            assertEquals(EmdNative.TASFT_BFLOAT16, args.logits_dtype());
            assertEquals(2, args.rows());
            assertEquals(3, args.vocab());
            assertEquals(5, args.logits_row_stride());
            assertEquals(7, args.dim());
            assertEquals(targets.address(), args.targets().address());
            assertEquals(-100, args.ignore_index());
            assertEquals(-0.25f, args.grad_scale());
            assertNull(args.cuda_stream());
        }
    }

    @Test
    void outOfRangeTargetIsInvalidArgumentWithMessage() {
        // One row, vocab 2, dim 1: ehat = [[1], [-1]], target 5 is out of range.
        try (EmdNative.EmdArgs args = new EmdNative.EmdArgs();
             FloatPointer logits = new FloatPointer(0f, 0f);
             FloatPointer unit = new FloatPointer(1f, -1f);
             LongPointer targets = new LongPointer(new long[] {5});
             FloatPointer loss = new FloatPointer(1)) {
            args.logits(logits).logits_dtype(EmdNative.TASFT_FLOAT32).rows(1).vocab(2).logits_row_stride(2)
                    .unit_embedding(unit).embedding_dtype(EmdNative.TASFT_FLOAT32).dim(1)
                    .targets(targets).ignore_index(-100).grad_scale(1f).loss_rows(loss)
                    .grad_logits((Pointer) null).expected_embedding(null);
            assertEquals(EmdNative.TASFT_INVALID_ARGUMENT, EmdNative.tasft_emd_cpu(args));
            String message = EmdNative.tasft_last_error();
            assertFalse(message.isEmpty(), "tasft_last_error explains the failure");

            targets.put(0, 1);
            assertEquals(EmdNative.TASFT_OK, EmdNative.tasft_emd_cpu(args));
            // p = (1/2, 1/2): u = 0, r = u - ehat[1] = [1], d = 1
            assertEquals(1.0f, loss.get(0), 1e-6f);
        }
    }

    /** One row, vocab 2, dim 1, ehat = [[1], [-1]], target 1: p = (1/2, 1/2), u = 0, d = 1, as above. */
    private static EmdNative.EmdArgs smallCase(FloatPointer logits, FloatPointer unit, LongPointer targets,
            FloatPointer loss) {
        return new EmdNative.EmdArgs().logits(logits).logits_dtype(EmdNative.TASFT_FLOAT32).rows(1).vocab(2)
                .logits_row_stride(2).unit_embedding(unit).embedding_dtype(EmdNative.TASFT_FLOAT32).dim(1)
                .targets(targets).ignore_index(-100).grad_scale(1f).loss_rows(loss);
    }

    @Test
    void skipAndVariantStructs() {
        try (FloatPointer logits = new FloatPointer(0f, 0f);
             FloatPointer unit = new FloatPointer(1f, -1f);
             LongPointer targets = new LongPointer(new long[] {1});
             FloatPointer loss = new FloatPointer(1);
             FloatPointer bound = new FloatPointer(1);
             FloatPointer mass = new FloatPointer(1);
             EmdNative.EmdArgs args = smallCase(logits, unit, targets, loss);
             EmdNative.EmdSkip skip = new EmdNative.EmdSkip().threshold(0.75f).loss_error_bound(bound)
                     .skipped_mass(mass);
             EmdNative.EmdVariant variant = new EmdNative.EmdVariant()) {
            assertEquals(0.75f, skip.threshold());
            assertEquals(bound.address(), skip.loss_error_bound().address());
            assertEquals(EmdNative.TASFT_CPU_ISA_DEFAULT, variant.cpu_isa(), "zero-initialised: the defaults");
            assertEquals(EmdNative.TASFT_CUDA_KERNEL_AUTO, variant.cuda_kernel());
            assertEquals(EmdNative.TASFT_CUDA_KERNEL_AUTO, EmdNative.TASFT_CUDA_KERNEL_DEFAULT, "the former name");

            // Threshold 0.75 > p = 1/2: both entries skipped, u = 0 all the same; q = 1, bound 2 sqrt(1) 1 + 1 = 3.
            assertEquals(EmdNative.TASFT_OK, EmdNative.tasft_emd_cpu_skip(args, skip), EmdNative.tasft_last_error());
            assertEquals(1.0f, loss.get(0), 1e-6f);
            assertEquals(1.0f, mass.get(0), 1e-6f);
            assertEquals(3.0f, bound.get(0), 1e-5f);

            // Every instruction set this CPU has gives the same loss; the default is one of them.
            int available = 0;
            for (int isa : new int[] {EmdNative.TASFT_CPU_ISA_GENERIC, EmdNative.TASFT_CPU_ISA_AVX2,
                    EmdNative.TASFT_CPU_ISA_AVX512}) {
                variant.cpu_isa(isa);
                if (EmdNative.tasft_cpu_isa_available(isa) == 0) {
                    assertEquals(EmdNative.TASFT_UNSUPPORTED, EmdNative.tasft_emd_cpu_variant(args, null, variant));
                    assertTrue(EmdNative.tasft_last_error().contains("is not available on this CPU"),
                            EmdNative.tasft_last_error());
                    continue;
                }
                available++;
                loss.put(0, -1f);
                assertEquals(EmdNative.TASFT_OK, EmdNative.tasft_emd_cpu_variant(args, null, variant),
                        EmdNative.tasft_last_error());
                assertEquals(1.0f, loss.get(0), 1e-6f);
            }
            assertTrue(available >= 1 && EmdNative.tasft_cpu_isa_available(EmdNative.TASFT_CPU_ISA_GENERIC) == 1);
            assertTrue(List.of("generic", "avx2", "avx512").contains(EmdNative.tasft_cpu_isa()),
                    EmdNative.tasft_cpu_isa());
            assertTrue(List.of("none", "auto", "v1", "v2", "v3", "invalid").contains(EmdNative.tasft_cuda_kernel()),
                    EmdNative.tasft_cuda_kernel());

            // Out-of-range ids are argument errors naming the field.
            variant.cpu_isa(9);
            assertEquals(EmdNative.TASFT_INVALID_ARGUMENT, EmdNative.tasft_emd_cpu_variant(args, skip, variant));
            assertTrue(EmdNative.tasft_last_error().contains("cpu_isa 9"), EmdNative.tasft_last_error());
            variant.cpu_isa(EmdNative.TASFT_CPU_ISA_DEFAULT).cuda_kernel(5);
            assertEquals(EmdNative.TASFT_INVALID_ARGUMENT, EmdNative.tasft_emd_cpu_variant(args, null, variant));
            assertTrue(EmdNative.tasft_last_error().contains("cuda_kernel 5"), EmdNative.tasft_last_error());
            assertTrue(EmdNative.tasft_last_error().contains("(0 auto, 1 v1, 2 v2, 3 v3)"), EmdNative.tasft_last_error());
        }
    }

    /**
     * The CUDA kernel versions through the binding, on any machine: every tasft_cuda_kernel_id is a valid variant
     * (the CPU entry points ignore it), an id past V3 is an argument error before any device is looked at, and
     * tasft_emd_cuda_kernel_choice answers with a status and a message (without CUDA: UNSUPPORTED).
     */
    @Test
    void cudaKernelVariants() {
        assertEquals(List.of(0, 1, 2, 3), List.of(EmdNative.TASFT_CUDA_KERNEL_AUTO, EmdNative.TASFT_CUDA_KERNEL_V1,
                EmdNative.TASFT_CUDA_KERNEL_V2, EmdNative.TASFT_CUDA_KERNEL_V3));
        boolean cudaBuilt = !EmdNative.tasft_cuda_kernel().equals("none");
        try (FloatPointer logits = new FloatPointer(0f, 0f);
             FloatPointer unit = new FloatPointer(1f, -1f);
             LongPointer targets = new LongPointer(new long[] {1});
             FloatPointer loss = new FloatPointer(1);
             EmdNative.EmdArgs args = smallCase(logits, unit, targets, loss);
             EmdNative.EmdVariant variant = new EmdNative.EmdVariant();
             org.bytedeco.javacpp.IntPointer kernel = new org.bytedeco.javacpp.IntPointer(new int[] {-7})) {
            for (int k = EmdNative.TASFT_CUDA_KERNEL_AUTO; k <= EmdNative.TASFT_CUDA_KERNEL_V3; k++) {
                loss.put(0, -1f);
                assertEquals(EmdNative.TASFT_OK, EmdNative.tasft_emd_cpu_variant(args, null, variant.cuda_kernel(k)),
                        EmdNative.tasft_last_error());
                assertEquals(1.0f, loss.get(0), 1e-6f);
            }
            for (int bad : new int[] {4, -1}) {
                variant.cuda_kernel(bad);
                int status = EmdNative.tasft_emd_cuda_kernel_choice(args, null, variant, kernel);
                String message = EmdNative.tasft_last_error();
                if (cudaBuilt) {
                    assertEquals(EmdNative.TASFT_INVALID_ARGUMENT, status, message);
                    assertTrue(message.startsWith("tasft_emd_cuda_kernel_choice: variant->cuda_kernel " + bad
                            + " is not a tasft_cuda_kernel_id"), message);
                } else {
                    assertEquals(EmdNative.TASFT_UNSUPPORTED, status, message);
                    assertTrue(message.contains("without CUDA"), message);
                }
                assertEquals(-7, kernel.get(), "a failed choice leaves *kernel alone");
            }
            if (EmdNative.tasft_cuda_available() == 0) {
                // No device: explicit versions get as far as the device check, never further.
                for (int k = EmdNative.TASFT_CUDA_KERNEL_V1; k <= EmdNative.TASFT_CUDA_KERNEL_V3; k++) {
                    int status = EmdNative.tasft_emd_cuda_kernel_choice(args, null, variant.cuda_kernel(k), kernel);
                    assertTrue(status == EmdNative.TASFT_CUDA_ERROR || status == EmdNative.TASFT_UNSUPPORTED,
                            "v" + k + ": " + status);
                    assertFalse(EmdNative.tasft_last_error().isEmpty());
                }
            }
        }
    }

    @Test
    void normalizeRowsAndVersion() {
        try (FloatPointer m = new FloatPointer(3f, 4f, 0f, 0f)) {
            assertEquals(EmdNative.TASFT_OK, EmdNative.tasft_normalize_rows_cpu(m, m, EmdNative.TASFT_FLOAT32, 2, 2));
            assertEquals(0.6f, m.get(0), 1e-7f);
            assertEquals(0.8f, m.get(1), 1e-7f);
            assertEquals(0f, m.get(2));
        }
        assertTrue(EmdNative.tasft_version().contains("0.1"), EmdNative.tasft_version());
        if (EmdNative.tasft_cuda_available() == 0) {
            assertTrue(EmdNative.tasft_emd_cuda(new EmdNative.EmdArgs()) != EmdNative.TASFT_OK);
            assertTrue(EmdNative.tasft_emd_cuda_skip_async(new EmdNative.EmdArgs(), null) != EmdNative.TASFT_OK);
            assertTrue(EmdNative.tasft_emd_cuda_variant(new EmdNative.EmdArgs(), null, null) != EmdNative.TASFT_OK);
        }
    }
}
