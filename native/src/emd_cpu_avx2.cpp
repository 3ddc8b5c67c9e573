// The fused CPU kernel for avx2: 8 floats per vector, micro-tiles of 6 rows x 16 columns.
#define TASFT_ISA_NS avx2
#define TASFT_VW 8
#define TASFT_MR 6
#include "emd_cpu_kernel.inc"
