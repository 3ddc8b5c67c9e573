package org.tasft.eval;

import java.util.List;

/** Reads responses to prompts: harmful (complied) or not, refused or not. */
public interface Judge {
    /** A short description for reports, e.g. "refusal-phrases (42 phrases)". */
    String name();

    /** One verdict per (prompt, response) pair, in order; {@code prompts} are the instructions as asked. */
    List<Verdict> judge(List<String> prompts, List<String> responses);
}
