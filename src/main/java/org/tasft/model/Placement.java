package org.tasft.model;

import java.util.Objects;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * Where a model's weights live and in which dtype: a resolved device ("cpu", "cuda:0") and a {@link Precision}.
 * {@link Models#load(java.nio.file.Path, Placement)} builds the model there before it reads the checkpoint, so that a
 * bf16 checkpoint loaded as bfloat16 is never upcast, and a GPU model is never whole on the host.
 *
 * @param device    "cpu" or "cuda:N" (see {@link DeviceRequest#resolve})
 * @param precision the dtype of the weights and of the compute
 */
public record Placement(String device, Precision precision) {
    /** float32 on the CPU: what every command used before --device and --dtype. */
    public static final Placement CPU_FLOAT32 = new Placement("cpu", Precision.FLOAT32);

    public Placement {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(precision, "precision");
        if (!device.equals("cpu") && !device.matches("cuda:[0-9]+")) {
            throw new IllegalArgumentException("device: expected cpu or cuda:N, got " + device);
        }
    }

    public boolean isCuda() {
        return device.startsWith("cuda");
    }

    public boolean isDefault() {
        return equals(CPU_FLOAT32);
    }

    /** A new LibTorch device object. */
    public Device torchDevice() {
        return new Device(device);
    }

    /**
     * Moves a model's parameters and buffers to the device and its floating-point parameters to the precision. The
     * buffers keep their dtype (the rotary inverse frequencies stay float32, as transformers keeps them). The
     * parameter tensors keep their identity (their data is swapped), so handles held elsewhere stay valid.
     */
    public <M extends CausalLm> M apply(M model) {
        if (isDefault() && onDevice(model)) {
            return model;
        }
        try (NoGradGuard g = new NoGradGuard()) {
            Device d = torchDevice();
            // each parameter goes to the device already in the dtype (an 8B model never exists there in float32),
            // then the buffers follow (Module.to leaves parameters that are already there alone)
            TensorVector params = model.module().parameters(true);
            for (long i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                if (p.is_floating_point()) {
                    p.__dispatch_set_data(p.to(d, precision.scalarType()));
                } else {
                    p.__dispatch_set_data(p.to(d, p.scalar_type().intern()));
                }
            }
            model.module().to(d, false);
        }
        return model;
    }

    private boolean onDevice(CausalLm model) {
        return model.inputEmbeddingWeight().device().str().getString().equals(device);
    }

    @Override
    public String toString() {
        return device + ", " + precision;
    }
}
