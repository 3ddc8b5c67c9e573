// The fused LM head's CPU kernel for avx512 (see emd_cpu_avx512.cpp for the vector width and micro-tile).
#define TASFT_ISA_NS avx512
#define TASFT_VW 16
#define TASFT_MR 8
#include "head_cpu_kernel.inc"
