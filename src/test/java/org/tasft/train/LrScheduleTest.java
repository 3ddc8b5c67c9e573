package org.tasft.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
    @Test
    void warmupThenCosine() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 1e-3, 2, 10);
        assertEquals(0.0, s.at(0), 1e-15);
        assertEquals(0.5e-3, s.at(1), 1e-15);
        assertEquals(1e-3, s.at(2), 1e-15);
        assertEquals(1e-3 * 0.5 * (1 + Math.cos(Math.PI * 3 / 8)), s.at(5), 1e-15);
        assertEquals(0.5e-3, s.at(6), 1e-15);
        assertEquals(0.0, s.at(10), 1e-15);
    }

    @Test
    void linearAndConstant() {
        LrSchedule l = new LrSchedule(LrSchedule.Kind.LINEAR, 2.0, 0, 4);
        assertEquals(2.0, l.at(0), 1e-15);
        assertEquals(1.5, l.at(1), 1e-15);
        assertEquals(0.5, l.at(3), 1e-15);
        assertEquals(0.0, l.at(7), 1e-15);
        LrSchedule c = new LrSchedule(LrSchedule.Kind.CONSTANT, 3.0, 4, 10);
        assertEquals(1.5, c.at(2), 1e-15);
        assertEquals(3.0, c.at(9), 1e-15);
    }

    @Test
    void parse() {
        assertEquals(LrSchedule.Kind.LINEAR, LrSchedule.Kind.parse(" Linear"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.Kind.parse("exp"));
        assertEquals("--schedule 'exp': expected cosine, linear or constant", e.getMessage());
    }
}
