package org.tasft.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Moving the module. LibTorch cannot move parameters to the meta device (set_data refuses it), so the pieces of
 * forward that create tensors (positions, masks, rotary tables) run on meta inputs: a tensor made on the CPU there
 * would meet meta tensors and fail, so a clean run shows they follow the input's device, as they must on CUDA. The
 * whole module moves between dtypes with {@code module().to(...)}; in bfloat16 it gives bfloat16 logits (no float32
 * [tokens, vocab] copy) close to the float32 model's.
 */
class DeviceAndDtypeTest {
    private static ObjectNode config(String kind) {
        return switch (kind) {
            case "gpt2" -> TinyModels.gpt2();
            case "mistral" -> TinyModels.mistral(4, 2, 3);
            default -> {
                ObjectNode c = TinyModels.llama(4, 2);
                ((ObjectNode) c.get("rope_parameters")).put("rope_type", "llama3").put("factor", 8.0)
                        .put("low_freq_factor", 1.0).put("high_freq_factor", 4.0);
                yield c;
            }
        };
    }

    @Test
    void tensorsMadeInForwardFollowTheInputDevice() {
        Device meta = new Device("meta");
        TensorOptions longs = new TensorOptions(ScalarType.Long).device(new org.bytedeco.pytorch.DeviceOptional(meta));
        Tensor ids = torch.zeros(new long[] {2, 5}, longs);
        Tensor mask = torch.ones(new long[] {2, 8}, longs);
        try (NoGradGuard g = new NoGradGuard()) {
            for (Tensor m : new Tensor[] {null, mask}) {
                Tensor pos = CausalAttention.positionIds(ids, m, 3);
                assertEquals(torch.DeviceType.Meta, pos.device().type().intern());
                Tensor allowed = CausalAttention.allowed(m, 3, 5, 2, meta);
                assertEquals(torch.DeviceType.Meta, allowed.device().type().intern());
                assertEquals(8, allowed.size(3));
                Tensor[] cosSin = new RotaryEmbedding(TinyModels.config(config("llama"))).cosSin(pos, ScalarType.Float);
                assertEquals(torch.DeviceType.Meta, cosSin[0].device().type().intern());
                assertEquals(16, cosSin[1].size(2));
            }
            TensorOptions floats = new TensorOptions(ScalarType.Float)
                    .device(new org.bytedeco.pytorch.DeviceOptional(meta));
            Tensor q = torch.zeros(new long[] {2, 4, 5, 16}, floats);
            Tensor kv = torch.zeros(new long[] {2, 2, 8, 16}, floats);
            Tensor out = CausalAttention.attend(q, kv, kv, CausalAttention.allowed(mask, 3, 5, 0, meta), 0.25, false,
                    0.0);
            assertEquals(torch.DeviceType.Meta, out.device().type().intern());
            assertEquals(64, out.size(2));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "mistral", "gpt2"})
    void moduleMovesAndKeepsItsHandles(String kind) {
        CausalLm model = TinyModels.model(config(kind), 1);
        System.gc(); // the container modules must survive a collection (LibTorch calls back into them)
        Tensor ids = TinyModels.ids(3, 2, 6);
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor before = model.forward(ids);
            model.module().to(new Device("cpu"), false);
            model.module().eval();
            assertEquals(0.0, TinyModels.maxAbsDiff(model.forward(ids), before));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gpt2"})
    void bfloat16ModelGivesLogitsInItsOwnDtype(String kind) {
        CausalLm model = TinyModels.model(config(kind), 2);
        System.gc();
        Tensor ids = TinyModels.ids(3, 2, 6);
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor reference = model.forward(ids);
            model.module().to(ScalarType.BFloat16, false);
            assertEquals(ScalarType.BFloat16, model.inputEmbeddingWeight().scalar_type().intern());
            Tensor logits = model.forward(ids);
            assertEquals(ScalarType.BFloat16, logits.scalar_type().intern());
            logits = logits.to(ScalarType.Float);
            double scale = torch.abs(reference).max().item_double();
            double diff = TinyModels.maxAbsDiff(logits, reference);
            assertTrue(diff <= 0.1 * scale, kind + ": bf16 vs fp32 " + diff + " (scale " + scale + ")");
            assertTrue(torch.isfinite(logits).all().item_bool());
        }
    }
}
