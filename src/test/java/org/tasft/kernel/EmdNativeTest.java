package org.tasft.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/** The raw binding: struct layout, status codes and the thread-local error message, without LibTorch. */
class EmdNativeTest {
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
        }
    }
}
