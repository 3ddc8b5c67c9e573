package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** The bucket layout and the pack / (all-reduce) / unpack round trip, with the all-reduce done by hand. */
class GradientBucketsTest {
    private static Tensor param(long... shape) {
        return torch.zeros(shape, new TensorOptions(torch.ScalarType.Float)).requires_grad_(true);
    }

    @Test
    void bucketsFollowReverseOrderAndTheCap() {
        // 4-byte floats: 100, 300, 50, 1000 elements = 400, 1200, 200, 4000 bytes
        List<Tensor> ps = List.of(param(100), param(3, 100), param(50), param(10, 100));
        List<int[]> layout = GradientBuckets.assign(ps, 1600);
        assertEquals(3, layout.size());
        assertArrayEquals(new int[] {3}, layout.get(0));       // larger than the cap: a bucket of its own
        assertArrayEquals(new int[] {2, 1}, layout.get(1));    // 200 + 1200 <= 1600
        assertArrayEquals(new int[] {0}, layout.get(2));       // + 400 would pass it
        // dtypes never share a bucket
        List<Tensor> mixed = List.of(param(10), torch.zeros(new long[] {10}, new TensorOptions(torch.ScalarType.Double)));
        assertEquals(2, GradientBuckets.assign(mixed, 1L << 20).size());
    }

    @Test
    void packReduceUnpackAveragesAndKeepsUndefinedWhereNoRankHasAGradient() {
        int world = 3;
        List<Map<String, Tensor>> ranks = new ArrayList<>();
        List<GradientBuckets> buckets = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            Map<String, Tensor> named = new LinkedHashMap<>();
            named.put("a", param(2, 3));
            named.put("b", param(5));
            named.put("only-rank-1", param(4));
            named.put("nowhere", param(2));
            torch.manual_seed(r);
            named.get("a").mutable_grad().put(torch.randn(new long[] {2, 3}));
            named.get("b").mutable_grad().put(torch.randn(new long[] {5}));
            if (r == 1) {
                named.get("only-rank-1").mutable_grad().put(torch.full(new long[] {4}, new Scalar(6.0)));
            }
            ranks.add(named);
            buckets.add(new GradientBuckets(named, 24)); // small cap: several buckets
        }
        assertTrue(buckets.get(0).buckets().size() > 1);
        Map<String, Tensor> expected = new LinkedHashMap<>();
        for (String name : List.of("a", "b")) {
            Tensor sum = ranks.get(0).get(name).grad().clone();
            for (int r = 1; r < world; r++) {
                sum = sum.add(ranks.get(r).get(name).grad());
            }
            expected.put(name, sum.div(new Scalar((double) world)));
        }
        // "all-reduce": sum every rank's flags and buffers, give each rank the sums
        Tensor flags = buckets.get(0).definedFlags().clone();
        for (int r = 1; r < world; r++) {
            flags = flags.add(buckets.get(r).definedFlags());
        }
        for (GradientBuckets b : buckets) {
            b.pack();
        }
        int n = buckets.get(0).buckets().size();
        for (int i = 0; i < n; i++) {
            Tensor sum = buckets.get(0).buckets().get(i).flat().clone();
            for (int r = 1; r < world; r++) {
                sum = sum.add(buckets.get(r).buckets().get(i).flat());
            }
            for (GradientBuckets b : buckets) {
                b.buckets().get(i).flat().copy_(sum);
            }
        }
        for (GradientBuckets b : buckets) {
            b.unpack(world, flags);
        }
        for (Map<String, Tensor> named : ranks) {
            for (String name : expected.keySet()) {
                assertEquals(0.0, named.get(name).grad().sub(expected.get(name)).abs().max().item_double(), 1e-6,
                        name);
            }
            // a gradient on one rank only: the mean with zeros elsewhere, now defined everywhere
            assertEquals(2.0, named.get("only-rank-1").grad().max().item_double(), 1e-6);
            assertEquals(2.0, named.get("only-rank-1").grad().min().item_double(), 1e-6);
            assertFalse(named.get("nowhere").grad().defined(), "no rank had a gradient: none after");
        }
    }
}
