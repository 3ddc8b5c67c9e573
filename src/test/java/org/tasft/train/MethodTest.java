package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

class MethodTest {
    @Test
    void namesAreTheCommandLinesAndParseBack() {
        assertEquals(List.of("emd", "sft", "nlcl", "ga", "kto", "stl", "emd-cap"),
                Arrays.stream(Method.values()).map(Method::id).toList());
        assertEquals("emd, sft, nlcl, ga, kto, stl, emd-cap", Method.ids());
        for (Method m : Method.values()) {
            assertSame(m, Method.parse(m.id()));
            assertSame(m, Method.parse(" " + m.id().toUpperCase() + " "));
            assertEquals(m.id(), m.toString());
        }
        assertThrows(IllegalArgumentException.class, () -> Method.parse(null));
    }

    @Test
    void whatEachMethodNeeds() {
        for (Method m : Method.values()) {
            assertEquals(m != Method.SFT, m.needsHarmful(), m.id());
            assertEquals(m == Method.STL, m.usesRefusals(), m.id());
            assertEquals(m == Method.KTO, m.needsReference(), m.id());
            assertEquals(m == Method.STL ? Method.SFT : m, m.trainsWith(), m.id());
            assertEquals(m == Method.STL ? "refusal" : "harmful", m.harmfulSlotName(), m.id());
        }
        assertFalse(Method.SFT.needsHarmful());
        assertTrue(Method.STL.needsHarmful());
    }
}
