// The fused CPU kernel for generic: 4 floats per vector, micro-tiles of 4 rows x 8 columns.
#define TASFT_ISA_NS generic
#define TASFT_VW 4
#define TASFT_MR 4
#include "emd_cpu_kernel.inc"
