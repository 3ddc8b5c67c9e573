// Shared by the CPU and CUDA implementations: argument checks, the per-thread error message, host dtype conversion.
#ifndef TASFT_EMD_INTERNAL_H
#define TASFT_EMD_INTERNAL_H

#include <cstdint>
#include <cstring>
#include "tasft/emd.h"

namespace tasft {

// Formats the message into this thread's error buffer and returns `status`, so callers can `return fail(...)`.
int fail(int status, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void clear_error();

inline bool valid_dtype(int d) { return d == TASFT_FLOAT32 || d == TASFT_BFLOAT16 || d == TASFT_FLOAT16; }
inline int64_t dtype_size(int d) { return d == TASFT_FLOAT32 ? 4 : 2; }

// Checks everything that does not need to dereference a pointer. `function` names the entry point in messages.
// loss_rows is required (rows > 0) unless needs_loss_rows is false.
int check_shapes(const tasft_emd_args* a, const char* function, bool needs_loss_rows = true);

// The vocabulary-parallel entry points. check_slice fills `view`, the slice as tasft_emd_args (vocab = the slice's
// width, loss_rows NULL, grad_logits set for the backward), and checks it and the slice's own fields; `backward`
// selects which outputs / inputs must be there. Neither dereferences a buffer.
int check_slice(const tasft_emd_vp_slice_args* s, bool backward, const char* function, tasft_emd_args* view);
int check_merge(const tasft_emd_vp_merge_args* m, const char* function);
int check_rescale(int64_t rows, int64_t dim, const float* slice_max, const float* global_max,
                  const float* slice_stats, const char* function);
// Checks the skipping options (NULL is fine): threshold in [0, 1], not NaN.
int check_skip(const tasft_emd_skip* skip, const char* function);
// Checks the variant (NULL is fine): cpu_isa a tasft_cpu_isa_id, cuda_kernel a tasft_cuda_kernel_id.
int check_variant(const tasft_emd_variant* variant, const char* function);
// Checks that every target lies in [0, vocab) or equals ignore_index; `targets` must be host memory.
int check_targets(const int64_t* targets, int64_t rows, int64_t vocab, int64_t ignore_index, const char* function);

// The fused LM head (head_common.cpp). check_head checks everything that does not dereference a buffer;
// check_head_rows reads roles and targets (host memory): roles in tasft_head_role, targets of CE / EMD rows in
// [0, vocab) or ignore_index, unit_embedding given when a row is EMD.
int check_head(const tasft_head_args* a, const char* function);
int check_head_rows(const tasft_head_args* a, const int8_t* roles, const int64_t* targets, const char* function);
// A row the head computes: role CE or EMD and a target.
inline bool head_row_active(const tasft_head_args* a, int8_t role, int64_t target) {
    return role != TASFT_HEAD_IGNORE && target != a->ignore_index;
}

// The CPU entry points' thread count and instruction-set choice (emd_cpu.cpp), shared with head_cpu.cpp.
int cpu_threads();
// *isa = the instruction set to run for the variant (NULL: the default), or the failure with its message.
int pick_cpu_isa(const tasft_emd_variant* variant, const char* function, int* isa);

// Host conversions, round-to-nearest-even like PyTorch's.
inline float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
inline float fp16_to_float(uint16_t h) {
    _Float16 x;
    std::memcpy(&x, &h, 2);
    return (float)x;
}
inline uint16_t float_to_fp16(float f) {
    _Float16 h = (_Float16)f;
    uint16_t u;
    std::memcpy(&u, &h, 2);
    return u;
}

}  // namespace tasft

#endif
