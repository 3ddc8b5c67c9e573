package org.tasft.distributed;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.AllreduceOptions;
import org.bytedeco.pytorch.BarrierOptions;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.ReduceOp;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;
import org.bytedeco.pytorch.global.torch;

/**
 * This rank's collectives on the backend, each one recorded in the store before it starts and, when it fails,
 * diagnosed into a {@link RankFailureException} that names the culprit ({@link RankHealth}).
 */
final class Collectives {
    /** A collective's body: starts the operation(s) and waits for them (the backend's timeout applies). */
    @FunctionalInterface
    interface Body {
        void run();
    }

    private final CollectiveBackend backend;
    private final RankHealth health;

    Collectives(CollectiveBackend backend, RankHealth health) {
        this.backend = backend;
        this.health = health;
    }

    CollectiveBackend backend() {
        return backend;
    }

    /** Runs one collective: records that this rank entered it, runs it, names the culprit if it fails. */
    void run(String what, Body body) {
        try {
            health.entering(what);
            body.run();
        } catch (RankFailureException e) {
            throw e;
        } catch (RuntimeException e) {
            throw health.fail(what, e);
        }
    }

    /** Each value summed over the ranks, in float64 (on the backend's device). */
    double[] sum(double... values) {
        Tensor host = torch.empty(new long[] {values.length}, new TensorOptions(torch.ScalarType.Double),
                new MemoryFormatOptional());
        host.data_ptr_double().put(values);
        Tensor t = backend.device().is_cuda() ? host.to(backend.device(), torch.ScalarType.Double) : host;
        sumInPlace("sum of " + values.length + " value(s)", t);
        double[] out = new double[values.length];
        t.cpu().contiguous().data_ptr_double().get(out);
        return out;
    }

    void sumInPlace(String what, Tensor t) {
        run(what, () -> backend.backend().allreduce(new TensorVector(t), sumOp())._wait());
    }

    /** One all-reduce per tensor, all in flight at once (Gloo and NCCL run them in order), then waits for each. */
    void sumAllInPlace(String what, List<Tensor> tensors) {
        run(what, () -> {
            List<Work> works = new ArrayList<>();
            for (Tensor t : tensors) {
                works.add(backend.backend().allreduce(new TensorVector(t), sumOp()));
            }
            for (Work w : works) {
                w._wait();
            }
        });
    }

    /** Rank 0's values into {@code t} on every rank. */
    void broadcastFromRank0(String what, Tensor t) {
        run(what, () -> backend.backend().broadcast(new TensorVector(t), new BroadcastOptions().rootRank(0))._wait());
    }

    void barrier(String what, Duration timeout) {
        BarrierOptions o = new BarrierOptions();
        o.timeout(new Milliseconds(timeout.toMillis()));
        run(what, () -> backend.backend().barrier(o)._wait());
    }

    private static AllreduceOptions sumOp() {
        AllreduceOptions o = new AllreduceOptions();
        o.reduceOp(new ReduceOp(ReduceOp.RedOpType.SUM));
        return o;
    }
}
