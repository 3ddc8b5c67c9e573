package org.tasft.distributed;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.BackendOptional;
import org.bytedeco.pytorch.BoolVector;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.ProcessGroup;
import org.bytedeco.pytorch.Reducer;
import org.bytedeco.pytorch.SizeTStringMap;
import org.bytedeco.pytorch.SizeTVector;
import org.bytedeco.pytorch.SizeTVectorVector;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Gradient averaging by c10d's {@code Reducer}, the engine under PyTorch's DistributedDataParallel: it hooks every
 * parameter's gradient accumulator, and during a backward pass that was announced with {@code prepare_for_backward}
 * it copies each gradient into its bucket as soon as it is ready and all-reduces a bucket as soon as it is full, so
 * communication overlaps the rest of the backward pass; the backward call returns once all buckets are reduced and
 * divided by the world size. Backward passes that were not announced (the earlier micro-batches of an accumulated
 * step) only accumulate locally, as under {@code DDP.no_sync()}.
 *
 * <p>Wrapped from the presets: a {@code ProcessGroup} made with {@code ProcessGroup(rank, size)} and
 * {@code setBackend} (the presets' {@code ProcessGroup(Store, rank, size)} constructor aborts the JVM on an
 * intrusive_ptr assertion). Bucket layout as {@link GradientBuckets#assign}; no unused parameters allowed
 * ({@code find_unused_parameters = false}).
 */
final class ReducerGradients implements GradientSync {
    private final Reducer reducer;
    private final ProcessGroup group;
    private final int buckets;
    private final long bytes;
    private final Tensor sentinel;
    private boolean prepared;
    private boolean sentinelHadGrad;
    private long sentinelVersion;
    private long sentinelAddress;

    ReducerGradients(Map<String, Tensor> named, long capBytes, int rank, int worldSize, Backend backend,
            Device device) {
        List<Tensor> params = new ArrayList<>(named.values());
        List<String> names = new ArrayList<>(named.keySet());
        group = new ProcessGroup(rank, worldSize);
        ProcessGroup.BackendType type = backend.getBackendName().getString().equals("nccl")
                ? ProcessGroup.BackendType.NCCL : ProcessGroup.BackendType.GLOO;
        group.setBackend(device.is_cuda() ? torch.DeviceType.CUDA : torch.DeviceType.CPU, type,
                new BackendOptional(backend));
        group.setDefaultBackend(type);
        List<int[]> layout = GradientBuckets.assign(params, capBytes);
        SizeTVector[] indices = new SizeTVector[layout.size()];
        long total = 0;
        for (int b = 0; b < layout.size(); b++) {
            long[] idx = new long[layout.get(b).length];
            for (int j = 0; j < idx.length; j++) {
                idx[j] = layout.get(b)[j];
                Tensor p = params.get(layout.get(b)[j]);
                total += p.numel() * p.element_size();
            }
            indices[b] = new SizeTVector(idx);
        }
        boolean[] sparse = new boolean[params.size()];
        SizeTStringMap paramNames = new SizeTStringMap();
        for (int i = 0; i < names.size(); i++) {
            paramNames.put(i, names.get(i));
        }
        reducer = new Reducer(new TensorVector(params.toArray(new Tensor[0])), new SizeTVectorVector(indices), group,
                new BoolVector(sparse), capBytes, false, false, paramNames, Math.min(capBytes, 1L << 20), false,
                false);
        this.buckets = layout.size();
        this.bytes = total;
        this.sentinel = params.get(0);
    }

    @Override
    public void beforeBackward(boolean lastOfStep) {
        if (lastOfStep) {
            prepareForBackward(); // the earlier micro-batches only accumulate, as under DDP.no_sync()
        }
    }

    /** Before the step's last backward: reduce during it. */
    private void prepareForBackward() {
        reducer.prepare_for_backward(new TensorVector());
        prepared = true;
        Tensor g = sentinel.grad();
        sentinelHadGrad = g != null && g.defined();
        sentinelVersion = sentinelHadGrad ? g._version() : -1;
        sentinelAddress = sentinelHadGrad ? g.unsafeGetTensorImpl().address() : 0;
    }

    /** After the step: the announced backward must have run (and with it the reduction). */
    @Override
    public void average(String what) {
        if (!prepared) {
            throw new IllegalStateException(what + ": no backward pass was announced to the Reducer");
        }
        prepared = false;
        reducer.check_finalized();
        // check_finalized() does not notice an announced backward that never ran (the other ranks would then wait in
        // their reduction, or worse, pair it with this rank's next collective): a reduced backward always rewrites
        // the gradients, so one parameter's gradient tells.
        Tensor g = sentinel.grad();
        boolean ran = g != null && g.defined() && (!sentinelHadGrad || g._version() != sentinelVersion
                || g.unsafeGetTensorImpl().address() != sentinelAddress);
        if (!ran) {
            throw new IllegalStateException(what + ": this rank's last micro-batch had no loss to back-propagate, "
                    + "so the c10d Reducer never ran (e.g. --method sft with --safe-per-batch below the number of "
                    + "ranks leaves a rank without safe examples); use --grad-sync bucketed");
        }
    }

    /** Between {@link #prepareForBackward} and {@link #average}: the backward pass is all-reducing. */
    @Override
    public boolean reducingInBackward() {
        return prepared;
    }

    @Override
    public boolean overlapsBackward() {
        return true;
    }

    int bucketCount() {
        return buckets;
    }

    @Override
    public long bytesPerStep() {
        return bytes;
    }

    @Override
    public String describe() {
        return "c10d Reducer: " + buckets + " bucket(s), " + GradientSync.mib(bytes)
                + " of gradients, overlapped with the backward pass";
    }

    @Override
    public void close() {
        reducer.remove_autograd_hooks();
    }
}
