package org.tasft.model;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Copies between Java arrays and tensors on the model's device (generation, scoring, the classifiers). */
public final class HostTensors {
    private HostTensors() {
    }

    /** An int64 [rows, columns] tensor on {@code device} from row-major values. */
    public static Tensor longs(long[] values, long rows, long columns, Device device) {
        Tensor t = torch.empty(new long[] {rows, columns}, new TensorOptions(ScalarType.Long),
                new MemoryFormatOptional());
        if (values.length > 0) {
            t.data_ptr_long().put(values);
        }
        return device.is_cpu() ? t : t.to(device, ScalarType.Long);
    }

    /** The elements of any float tensor as float32, row-major, copied to the host. */
    public static float[] floats(Tensor t) {
        Tensor host = t.is_cpu() ? t : t.cpu();
        Tensor f = host.to(ScalarType.Float).contiguous();
        float[] out = new float[Math.toIntExact(f.numel())];
        if (out.length > 0) {
            f.data_ptr_float().get(out);
        }
        return out;
    }
}
