// The fused LM head's CPU kernel for generic (see emd_cpu_generic.cpp for the vector width and micro-tile).
#define TASFT_ISA_NS generic
#define TASFT_VW 4
#define TASFT_MR 4
#include "head_cpu_kernel.inc"
