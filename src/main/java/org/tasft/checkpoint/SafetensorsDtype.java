package org.tasft.checkpoint;

import java.util.Arrays;
import java.util.stream.Collectors;

import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The dtypes of the safetensors format. Every one is understood well enough to check a header's sizes; only the
 * floating-point types LLM weights come in ({@link #LOADABLE}) are converted to float32 on load or written.
 */
enum SafetensorsDtype {
    BOOL(1, null),
    U8(1, null),
    I8(1, null),
    F8_E5M2(1, null),
    F8_E4M3(1, null),
    F8_E8M0(1, null),
    I16(2, null),
    U16(2, null),
    F16(2, ScalarType.Half),
    BF16(2, ScalarType.BFloat16),
    I32(4, null),
    U32(4, null),
    F32(4, ScalarType.Float),
    F64(8, null),
    I64(8, null),
    U64(8, null),
    C64(8, null);

    /** What {@code load} converts and {@code SafetensorsWriter} writes. */
    static final String LOADABLE = "F32, F16, BF16";

    final int bytes;
    /** The LibTorch type of the same bits, or null where this project does not read it. */
    final ScalarType scalarType;

    SafetensorsDtype(int bytes, ScalarType scalarType) {
        this.bytes = bytes;
        this.scalarType = scalarType;
    }

    boolean loadable() {
        return scalarType != null;
    }

    /** The dtype of a header entry, or null if the format has no such dtype. */
    static SafetensorsDtype parse(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }

    static String known() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** The safetensors dtype a tensor is written in, for the three LibTorch types this project writes. */
    static SafetensorsDtype forWriting(ScalarType type) {
        // Enums that come back from native code are different Java objects: compare interned values.
        ScalarType t = type.intern();
        if (t == ScalarType.Float) {
            return F32;
        }
        if (t == ScalarType.Half) {
            return F16;
        }
        if (t == ScalarType.BFloat16) {
            return BF16;
        }
        throw new IllegalArgumentException("dtype: only Float (F32), Half (F16) and BFloat16 (BF16) are written, got "
                + t);
    }
}
