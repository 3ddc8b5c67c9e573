package org.tasft.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

class C10dErrorsTest {
    private static final String GLOO_CLOSED = "[/src/gloo/transport/tcp/pair.cc:547] Connection closed by peer "
            + "[127.0.0.1]:1234\nException raised from ...";

    @Test
    void aCppExceptionArrivesAsExactlyRuntimeException() {
        // The premise of the classification: the presets' JNI keeps no C++ type, only what().
        RuntimeException e = assertThrows(RuntimeException.class, () -> torch.ones(2).view(3));
        assertSame(RuntimeException.class, e.getClass());
        assertTrue(C10dErrors.fromNative(e));
        assertFalse(C10dErrors.isCommunicationFailure(e, null), e.getMessage());
        assertFalse(C10dErrors.fromNative(new IllegalStateException("x")));
    }

    @Test
    void aNativeErrorAboutTheConnectionIsACommunicationFailure() {
        assertTrue(C10dErrors.isCommunicationFailure(new RuntimeException(GLOO_CLOSED), null));
        assertTrue(C10dErrors.isCommunicationFailure(new RuntimeException("NCCL communicator was aborted"), null));
        assertTrue(C10dErrors.isCommunicationFailure(new RuntimeException("[../pair.cc:100] Timed out waiting "
                + "1000ms for recv operation to complete"), null));
        // wrapped by Java code: the cause still tells
        assertTrue(C10dErrors.isCommunicationFailure(new IllegalStateException("backward failed",
                new RuntimeException(GLOO_CLOSED)), null));
    }

    @Test
    void javaExceptionsAreClassifiedByTypeNotByTheirWords() {
        // this rank's own errors, even when their text happens to name a library
        assertFalse(C10dErrors.isCommunicationFailure(new IllegalArgumentException("--dist-backend nccl: this "
                + "process sees no CUDA device"), null));
        assertFalse(C10dErrors.isCommunicationFailure(new IllegalStateException("rank 1: injected fault"), null));
        // ours, already diagnosed, anywhere in the causes
        assertTrue(C10dErrors.isCommunicationFailure(new IllegalStateException("x", new RankFailureException(
                "rank 0: ... failed", List.of(1), null)), null));
    }

    @Test
    void ncclsStatusDecidesWithoutText() {
        IllegalStateException own = new IllegalStateException("no words here");
        assertTrue(C10dErrors.isCommunicationFailure(own, torch.ErrorType.COMM_ERROR));
        assertTrue(C10dErrors.isCommunicationFailure(own, torch.ErrorType.TIMEOUT));
        assertTrue(C10dErrors.isCommunicationFailure(own, torch.ErrorType.REMOTE_ERROR));
        assertFalse(C10dErrors.isCommunicationFailure(own, torch.ErrorType.SUCCESS));
    }

    @Test
    void glooMessagesLoseTheirSourcePath() {
        assertEquals("Connection closed by peer [127.0.0.1]:1234", C10dErrors.shortMessage(
                new RuntimeException("[/src/gloo/transport/tcp/pair.cc:547] Connection closed by peer "
                        + "[127.0.0.1]:1234\nmore")));
    }

    @Test
    void oneLineKeepsTheFirstLineOrTheClassName() {
        assertEquals("first", C10dErrors.oneLine(new RuntimeException("  first \n second")));
        assertEquals("IllegalStateException", C10dErrors.oneLine(new IllegalStateException()));
    }
}
