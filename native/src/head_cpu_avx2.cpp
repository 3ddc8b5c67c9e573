// The fused LM head's CPU kernel for avx2 (see emd_cpu_avx2.cpp for the vector width and micro-tile).
#define TASFT_ISA_NS avx2
#define TASFT_VW 8
#define TASFT_MR 6
#include "head_cpu_kernel.inc"
