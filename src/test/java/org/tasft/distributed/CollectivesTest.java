package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** The backend, the collectives and the bucketed gradient sync in one process (a Gloo group of one rank). */
class CollectivesTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @Test
    void autoPicksNcclForCudaParameters() {
        assertEquals(DistributedOptions.Backend.NCCL, CollectiveBackend.choose(DistributedOptions.Backend.AUTO,
                true));
        assertEquals(DistributedOptions.Backend.GLOO, CollectiveBackend.choose(DistributedOptions.Backend.AUTO,
                false));
        assertEquals(DistributedOptions.Backend.GLOO, CollectiveBackend.choose(DistributedOptions.Backend.GLOO,
                true));
    }

    @Test
    void glooRefusesCudaParameters() {
        try (TCPStore store = LocalStore.open(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CollectiveBackend
                    .create(DistributedOptions.Backend.GLOO, store, LocalStore.rank(0, 1, store), TIMEOUT,
                            new Device("cuda:0")));
            assertEquals("--dist-backend gloo: the parameters are on cuda:0; gloo here reduces CPU tensors (use "
                    + "nccl)", e.getMessage());
        }
    }

    @Test
    void collectivesAreRecordedBeforeTheyRun() {
        try (TCPStore store = LocalStore.open(1)) {
            LaunchEnvironment env = LocalStore.rank(0, 1, store);
            CollectiveBackend backend = CollectiveBackend.create(DistributedOptions.Backend.GLOO, store, env,
                    TIMEOUT, new Device(torch.DeviceType.CPU));
            assertEquals("gloo", backend.name());
            assertNull(backend.errorStatus()); // Gloo keeps no status: its errors are told by their text
            RankRecords records = new RankRecords(store, 0, 1);
            RankHealth health = new RankHealth(records, env, TIMEOUT);
            Collectives collectives = new Collectives(backend, health);

            assertArrayEquals(new double[] {1.5, -2}, collectives.sum(1.5, -2), 0);
            assertEquals("1\tsum of 2 value(s)", records.progress(0));
            assertEquals("sum of 2 value(s)", health.current());

            Tensor w = torch.ones(3);
            w.requires_grad_(true);
            Map<String, Tensor> named = new LinkedHashMap<>();
            named.put("w", w);
            w.mul(torch.arange(new org.bytedeco.pytorch.Scalar(3))).sum().backward();
            GradientSync sync = new BucketedGradientSync(named, 1 << 20, 1, collectives);
            assertEquals("1 gradient bucket(s) of <= 1.0 MiB, 0.0 MiB all-reduced per step", sync.describe());
            sync.average("step 1's gradient all-reduce");
            float[] grad = new float[3];
            w.grad().contiguous().data_ptr_float().get(grad);
            assertArrayEquals(new float[] {0, 1, 2}, grad); // the mean over one rank
            assertEquals("3\tstep 1's gradient all-reduce", records.progress(0)); // after the flags' all-reduce
            sync.close();
        }
    }

    @Test
    void theRendezvousNamesTheRanksThatDidNotJoin() {
        try (TCPStore store = LocalStore.open(3)) {
            LaunchEnvironment env = LocalStore.rank(0, 3, store);
            store.set(StoreKeys.join(2), "elsewhere pid 1");
            RankFailureException e = assertThrows(RankFailureException.class, () -> Rendezvous.join(store, env,
                    Duration.ofSeconds(1)));
            assertEquals(List.of(1), e.ranks());
            assertEquals("rank 0: rank(s) 1 did not join within 1 s (rendezvous store 127.0.0.1:"
                    + LocalStore.port(store) + ", WORLD_SIZE 3)", e.getMessage());
        }
    }
}
