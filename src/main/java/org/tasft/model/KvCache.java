package org.tasft.model;

/**
 * Keys and values of the positions a model has already seen, per layer, so that generation runs each new token
 * through the model once. Created by {@link CausalLm#newCache()}; one cache serves one batch of sequences.
 */
public interface KvCache {
    /** Number of positions cached so far (the same for every layer and every sequence of the batch). */
    long length();

    /** Forgets everything (length 0). */
    void clear();
}
