package org.tasft.checkpoint;

/** A checkpoint that cannot be read or written as asked: the message names the file and, where one is, the tensor. */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
