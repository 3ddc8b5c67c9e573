// The fused CPU kernel for avx512: 16 floats per vector, micro-tiles of 8 rows x 32 columns.
#define TASFT_ISA_NS avx512
#define TASFT_VW 16
#define TASFT_MR 8
#include "emd_cpu_kernel.inc"
