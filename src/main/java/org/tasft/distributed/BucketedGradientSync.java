package org.tasft.distributed;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Tensor;

/**
 * Gradients averaged after the step's backward passes: which parameters have a gradient on any rank (one small
 * all-reduce), then every bucket of {@link GradientBuckets} all-reduced at once, divided by the world size and copied
 * back.
 */
final class BucketedGradientSync implements GradientSync {
    private final GradientBuckets buckets;
    private final long capBytes;
    private final int worldSize;
    private final Collectives collectives;

    BucketedGradientSync(Map<String, Tensor> named, long capBytes, int worldSize, Collectives collectives) {
        this.buckets = new GradientBuckets(named, capBytes);
        this.capBytes = capBytes;
        this.worldSize = worldSize;
        this.collectives = collectives;
    }

    @Override
    public void beforeBackward(boolean lastOfStep) {
    }

    @Override
    public void average(String what) {
        Tensor flags = buckets.definedFlags();
        collectives.sumInPlace(what + " (gradient flags)", flags);
        buckets.pack();
        List<Tensor> flat = new ArrayList<>();
        buckets.forEachBuffer(flat::add);
        collectives.sumAllInPlace(what, flat);
        buckets.unpack(worldSize, flags);
    }

    @Override
    public boolean overlapsBackward() {
        return false;
    }

    @Override
    public long bytesPerStep() {
        return buckets.totalBytes();
    }

    @Override
    public String describe() {
        return buckets.buckets().size() + " gradient bucket(s) of <= " + GradientSync.mib(capBytes) + ", "
                + GradientSync.mib(buckets.totalBytes()) + " all-reduced per step";
    }

    @Override
    public void close() {
    }
}
