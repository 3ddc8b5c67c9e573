package org.tasft.distributed;

import java.util.List;

/**
 * A collective could not complete because another rank failed, exited or hangs (or the rendezvous never completed).
 * The message names the ranks; {@link #ranks()} lists them (empty when it could not be told which).
 */
public final class RankFailureException extends RuntimeException {
    private final List<Integer> ranks;

    public RankFailureException(String message, List<Integer> ranks, Throwable cause) {
        super(message, cause);
        this.ranks = List.copyOf(ranks);
    }

    /** The ranks blamed: those that reported a failure, else those that did not arrive. */
    public List<Integer> ranks() {
        return ranks;
    }
}
