package org.tasft.distributed;

import java.util.List;
import java.util.Locale;

import org.bytedeco.pytorch.global.torch;

/**
 * c10d's errors as they reach Java, and the one place that reads their text.
 *
 * <p>The presets' JNI glue catches every C++ exception as {@code std::exception} and throws a plain
 * {@code java.lang.RuntimeException} carrying only its {@code what()}: c10d's {@code DistBackendError},
 * {@code DistNetworkError} and {@code DistStoreError}, Gloo's {@code IoException} and {@code TimeoutException} all
 * arrive as that one class (the presets map no C++ exception type to a Java one), so their type cannot be tested.
 * What can be told without text: {@link RankFailureException} (ours, already diagnosed); whether an exception came
 * from native code at all (JNI throws exactly {@code RuntimeException}, Java code here throws its subclasses); and, for
 * NCCL, the backend's own status ({@code Backend.getError()}: {@code TIMEOUT}, {@code COMM_ERROR},
 * {@code REMOTE_ERROR}). Gloo keeps no such status (c10d's default {@code getError()} throws "does not support"), so for
 * Gloo, and for NCCL errors raised before it records one, only the message tells a lost or late peer from this rank's
 * own error.
 */
final class C10dErrors {
    /**
     * What Gloo, NCCL and the TCPStore write when a peer is gone or late ("Connection closed by peer", "Connection
     * reset", "Timed out waiting ... for recv", "NCCL communicator was aborted"), lower case.
     */
    private static final List<String> COMMUNICATION_WORDS = List.of("gloo", "nccl", "connection", "timed out",
            "peer");

    private C10dErrors() {
    }

    /**
     * Whether {@code error} is a failure to communicate with another rank rather than this rank's own: a
     * {@link RankFailureException} in its causes, a failure status of the backend ({@code backendStatus}, null where
     * the backend keeps none), or a native exception in its causes whose message speaks of the connection.
     */
    static boolean isCommunicationFailure(Throwable error, torch.ErrorType backendStatus) {
        if (backendStatus != null && backendStatus != torch.ErrorType.SUCCESS) {
            return true;
        }
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof RankFailureException || (fromNative(t) && speaksOfCommunication(t.getMessage()))) {
                return true;
            }
        }
        return false;
    }

    /** A C++ exception that crossed JNI: the presets throw exactly {@code RuntimeException} for every one. */
    static boolean fromNative(Throwable t) {
        return t.getClass() == RuntimeException.class;
    }

    // Text, because the type is gone (see the class comment); the only message matching in this package.
    static boolean speaksOfCommunication(String message) {
        String m = String.valueOf(message).toLowerCase(Locale.ROOT);
        return COMMUNICATION_WORDS.stream().anyMatch(m::contains);
    }

    /** The first line of the message; Gloo's start with the C++ source path ("[.../pair.cc:547] "), which goes. */
    static String shortMessage(Throwable e) {
        String m = oneLine(e);
        int close = m.indexOf("] ");
        if (m.startsWith("[") && close > 0) {
            m = m.substring(close + 2);
        }
        return m;
    }

    /** The first line of the message (c10d appends a C++ stack trace), or the class's name when there is none. */
    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().strip();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl).strip();
    }
}
