package org.tasft.cli;

/** A bad argument found after parsing (a missing file, an id outside the vocabulary): exit code 2, one line. */
final class UsageException extends RuntimeException {
    UsageException(String message) {
        super(message);
    }

    UsageException(String message, Throwable cause) {
        super(message, cause);
    }
}
