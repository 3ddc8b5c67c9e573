package org.tasft.kernel;

/** A failure reported by libtasft other than a bad argument (CUDA error, out of memory), with its status code. */
public class EmdKernelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public EmdKernelException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** One of the {@code EmdNative.TASFT_*} status codes. */
    public int status() {
        return status;
    }
}
