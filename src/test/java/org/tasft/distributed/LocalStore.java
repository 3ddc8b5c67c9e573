package org.tasft.distributed;

import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;

/** A rendezvous store served by this test JVM on a free port of 127.0.0.1; other "ranks" connect with clone(). */
final class LocalStore {
    private LocalStore() {
    }

    static TCPStore open(int worldSize) {
        TCPStoreOptions o = new TCPStoreOptions();
        o.port((short) 0);
        o.isServer(true);
        o.numWorkers(new SizeTPointer(1).put(worldSize));
        o.waitWorkers(false);
        o.timeout(new Milliseconds(10_000));
        return new TCPStore("127.0.0.1", o);
    }

    static int port(TCPStore store) {
        return store.getPort() & 0xffff;
    }

    static LaunchEnvironment rank(int rank, int worldSize, TCPStore store) {
        return new LaunchEnvironment(rank, worldSize, rank, worldSize, "127.0.0.1", port(store));
    }
}
