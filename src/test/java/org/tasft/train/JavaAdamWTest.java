package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** JavaAdamW against LibTorch's own C++ AdamW (torch::optim::AdamW) on the same gradients. */
class JavaAdamWTest {
    @Test
    void matchesLibTorchAdamW() {
        torch.manual_seed(3);
        Tensor start = torch.randn(new long[] {4, 5});
        Tensor mine = start.clone().requires_grad_(true);
        Tensor theirs = start.clone().requires_grad_(true);
        JavaAdamW javaAdamW = new JavaAdamW(Map.of("w", mine), 0.05);
        AdamWOptions options = new AdamWOptions(1e-2);
        options.weight_decay().put(0.05);
        AdamW libtorch = new AdamW(new TensorVector(theirs), options);
        for (int step = 0; step < 5; step++) {
            Tensor c = torch.randn(new long[] {4, 5});
            javaAdamW.zeroGrad();
            libtorch.zero_grad();
            mine.mul(c).pow(new org.bytedeco.pytorch.Scalar(2.0)).sum().backward();
            theirs.mul(c).pow(new org.bytedeco.pytorch.Scalar(2.0)).sum().backward();
            javaAdamW.step(1e-2);
            libtorch.step();
            double diff = mine.sub(theirs).abs().max().item_double();
            assertTrue(diff < 1e-6, "step " + step + ": max difference " + diff);
        }
        assertTrue(mine.sub(start).abs().max().item_double() > 1e-3, "the parameters moved");
    }
}
