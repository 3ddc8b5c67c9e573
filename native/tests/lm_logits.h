// LM-like peaked logits for the skipping mode's tests and benchmarks (CPU and CUDA: every function is a pure function
// of (seed, row, column), so a device kernel and the host make the same numbers without shipping them around).
//
// A trained LM's next-token distribution is peaked (mean entropy of 1-3 nats) and its vocabulary is ordered by
// frequency, as BPE vocabularies are: most of the mass sits on a few tokens, and the rare (high-id) tail is below
// 1e-6. The generator models that as
//     z[n, v] = ( -zipf_s * log(v + 1)            frequency prior: Zipf over the id, id 0 the most frequent
//                 + noise * eps[n, v]             eps ~ N(0, 1), the context's idiosyncratic preferences
//                 + boost * [v in C_n] ) / T      C_n: `boosted` context tokens of row n, drawn log-uniformly over ids
// with the temperature T chosen by bisection so that the mean entropy of the first rows is `entropy` nats
// (calibrate_temperature). The target of row n is its first context token half of the time (labels are usually
// probable tokens) and otherwise a log-uniform draw (a Zipf-like id).
#ifndef TASFT_LM_LOGITS_H
#define TASFT_LM_LOGITS_H

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__CUDACC__)
#define LM_HD __host__ __device__ __forceinline__
#else
#define LM_HD inline
#endif

namespace lm {

struct Params {
    double zipf_s = 1.5;   // exponent of the frequency prior
    double noise = 1.0;    // std of the per-(row, id) noise
    double boost = 6.0;    // logit boost of the context tokens
    int boosted = 4;       // context tokens per row
    double temperature = 1.0;
    uint64_t seed = 1;
};

LM_HD uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
// Uniform in (0, 1), from 53 bits of a hash of (seed, a, b, stream).
LM_HD double uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t stream) {
    const uint64_t h = mix64(mix64(mix64(seed ^ (stream << 56)) + a) + b);
    return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
LM_HD double normal(uint64_t seed, uint64_t n, uint64_t v) {  // Box-Muller
    const double u1 = uniform(seed, n, v, 1), u2 = uniform(seed, n, v, 2);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
// A log-uniform id in [0, vocab): P(id) ~ 1 / (id + 1).
LM_HD int64_t log_uniform_id(uint64_t seed, uint64_t n, uint64_t j, int64_t vocab) {
    const double u = uniform(seed, n, j, 3);
    int64_t id = (int64_t)floor(exp(u * log((double)vocab + 1.0))) - 1;
    return id < 0 ? 0 : id >= vocab ? vocab - 1 : id;
}
LM_HD int64_t context_token(const Params& p, int64_t n, int j, int64_t vocab) {
    return log_uniform_id(p.seed, (uint64_t)n, (uint64_t)j, vocab);
}
LM_HD double logit(const Params& p, int64_t n, int64_t v, int64_t vocab) {
    double z = -p.zipf_s * log((double)v + 1.0) + p.noise * normal(p.seed, (uint64_t)n, (uint64_t)v);
    for (int j = 0; j < p.boosted; ++j)
        if (context_token(p, n, j, vocab) == v) z += p.boost;
    return z / p.temperature;
}
LM_HD int64_t target(const Params& p, int64_t n, int64_t vocab) {
    if (uniform(p.seed, (uint64_t)n, 0, 4) < 0.5 && p.boosted > 0) return context_token(p, n, 0, vocab);
    return log_uniform_id(p.seed, (uint64_t)n, 1000, vocab);
}

// Entropy (nats) of softmax(row n) in double.
inline double row_entropy(const Params& p, int64_t n, int64_t vocab) {
    std::vector<double> z((size_t)vocab);
    double m = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) m = std::fmax(m, z[(size_t)v] = logit(p, n, v, vocab));
    double s = 0, sz = 0;
    for (int64_t v = 0; v < vocab; ++v) {
        const double e = std::exp(z[(size_t)v] - m);
        s += e;
        sz += e * (z[(size_t)v] - m);
    }
    return std::log(s) - sz / s;  // H = log s - E[z - m]
}
inline double mean_entropy(const Params& p, int64_t vocab, int rows) {
    double h = 0;
    for (int n = 0; n < rows; ++n) h += row_entropy(p, n, vocab);
    return h / rows;
}
// Sets p.temperature so that the mean entropy of rows [0, rows) is `entropy` nats (bisection on log T; the entropy
// of softmax(z / T) grows with T). Returns the mean entropy reached.
inline double calibrate_temperature(Params& p, int64_t vocab, double entropy, int rows = 8) {
    double lo = std::log(1e-3), hi = std::log(1e3);
    for (int it = 0; it < 30; ++it) {  // the bracket is 13.8 wide in log T: 2^-30 of it is plenty
        const double mid = 0.5 * (lo + hi);
        p.temperature = std::exp(mid);
        if (mean_entropy(p, vocab, rows) < entropy) lo = mid;
        else hi = mid;
    }
    p.temperature = std::exp(0.5 * (lo + hi));
    return mean_entropy(p, vocab, rows);
}

}  // namespace lm

#endif
