package org.tasft.model;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * A piece of a model that owns one plain LibTorch {@link Module}, where its parameters (and sub-parts' modules) are
 * registered under their Hugging Face names.
 *
 * <p>Every Java object of a registered module must stay reachable while the model lives: LibTorch calls a
 * JavaCPP-made module's virtual methods through its Java object, and {@code to(...)} on the root fails with a
 * NullPointerException once a child's Java object was collected. Parts keep their children, models keep their parts
 * and container modules.
 *
 * <p>Parameter handles are wrapped in {@code new Tensor(...)}: {@code register_parameter} returns a reference into the
 * module's parameter table, which moves when the next parameter is registered (a dangling handle that once showed
 * another module's weight); the copy is a handle of its own on the same tensor, and stays valid when
 * {@code to(device)} swaps the tensor's data.
 */
abstract class Part {
    final Module module = new Module();
    private final List<Part> children = new ArrayList<>();

    Tensor parameter(String name, Tensor value) {
        return new Tensor(module.register_parameter(name, value));
    }

    Tensor buffer(String name, Tensor value) {
        return new Tensor(module.register_buffer(name, value));
    }

    <P extends Part> P child(String name, P part) {
        children.add(part);
        return attach(module, name, part);
    }

    static <P extends Part> P attach(Module parent, String name, P part) {
        parent.register_module(name, part.module);
        return part;
    }
}
