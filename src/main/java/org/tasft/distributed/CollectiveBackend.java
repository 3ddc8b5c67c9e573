package org.tasft.distributed;

import java.time.Duration;

import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.global.torch;

/**
 * The c10d backend that runs the collectives, the device of the tensors it reduces, and its name ("gloo", "nccl").
 * Gloo reduces CPU tensors; NCCL, CUDA tensors, and is created only in {@link Nccl}, whose classes load only when
 * NCCL is asked for.
 */
record CollectiveBackend(Backend backend, Device device, String name) {

    /** {@code auto}: NCCL for parameters on a CUDA device, else Gloo. */
    static DistributedOptions.Backend choose(DistributedOptions.Backend asked, boolean cudaParameters) {
        if (asked != DistributedOptions.Backend.AUTO) {
            return asked;
        }
        return cudaParameters ? DistributedOptions.Backend.NCCL : DistributedOptions.Backend.GLOO;
    }

    /**
     * Creates the {@code which} backend (not AUTO) on the store; a parameter device it cannot reduce is an
     * {@link IllegalArgumentException}, c10d's own failures pass through.
     */
    static CollectiveBackend create(DistributedOptions.Backend which, Store store, LaunchEnvironment env,
            Duration timeout, Device paramDevice) {
        Milliseconds ms = new Milliseconds(timeout.toMillis());
        Backend backend;
        Device device;
        if (which == DistributedOptions.Backend.NCCL) {
            backend = Nccl.create(store, env, ms, paramDevice);
            device = paramDevice;
        } else {
            if (paramDevice.is_cuda()) {
                throw new IllegalArgumentException("--dist-backend gloo: the parameters are on " + paramDevice.str()
                        .getString() + "; gloo here reduces CPU tensors (use nccl)");
            }
            ProcessGroupGloo.Options go = new ProcessGroupGloo.Options(ms);
            GlooDeviceVector devices = new GlooDeviceVector();
            devices.push_back(glooDevice(env));
            go.devices(devices);
            backend = new ProcessGroupGloo(store, env.rank(), env.worldSize(), go);
            device = new Device(torch.DeviceType.CPU);
        }
        return new CollectiveBackend(backend, device, backend.getBackendName().getString());
    }

    /**
     * The backend's own failure status, where it keeps one (NCCL: TIMEOUT, COMM_ERROR, REMOTE_ERROR; SUCCESS
     * otherwise), else null (Gloo: c10d's default {@code getError()} throws "does not support getError").
     */
    torch.ErrorType errorStatus() {
        if (!name.equals("nccl")) {
            return null;
        }
        try {
            return backend.getError();
        } catch (RuntimeException e) {
            return null;
        }
    }

    // Which network interface Gloo uses: GLOO_SOCKET_IFNAME as in PyTorch; loopback for a one-machine job on
    // 127.0.0.1; else the address this host's name resolves to.
    private static org.bytedeco.pytorch.gloo.Device glooDevice(LaunchEnvironment env) {
        String ifname = System.getenv("GLOO_SOCKET_IFNAME");
        if (ifname != null && !ifname.isBlank()) {
            return ProcessGroupGloo.createDeviceForInterface(ifname.split(",")[0].trim());
        }
        String addr = env.masterAddr();
        if (addr.equals("127.0.0.1") || addr.equals("localhost") || addr.equals("::1")) {
            return ProcessGroupGloo.createDeviceForHostname("127.0.0.1");
        }
        return ProcessGroupGloo.createDefaultDevice();
    }
}
