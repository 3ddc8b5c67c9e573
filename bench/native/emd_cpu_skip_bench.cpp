// Skipping mode vs the exact kernel on the CPU (tasft_emd_cpu_skip), on LM-like peaked logits (native/tests/lm_logits.h:
// Zipf-ordered vocabulary, temperature calibrated to a mean entropy in nats). fp32, forward + backward with the gradient
// in place, the logits restored before every run (untimed), median of the runs. Errors against the float64 oracle
// (native/tests/emd_reference.h) on sampled rows.
//
//   emd_cpu_skip_bench [--rows 512] [--vocab 32000] [--dims 64,256] [--entropy 1,2,3] [--thresholds 1e-7,...]
//                      [--runs 5]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "emd_reference.h"
#include "lm_logits.h"
#include "tasft/emd.h"

namespace {

std::vector<double> parse_list(const std::string& s) {
    std::vector<double> out;
    size_t a = 0;
    while (a < s.size()) {
        size_t b = s.find(',', a);
        if (b == std::string::npos) b = s.size();
        out.push_back(std::atof(s.substr(a, b - a).c_str()));
        a = b + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    int64_t rows = 512, vocab = 32000;
    std::vector<double> dims = {64, 256}, entropies = {1, 2, 3}, thresholds = {1e-7, 1e-6, 1e-5, 1e-4};
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--rows") rows = std::atoll(v.c_str());
        else if (k == "--vocab") vocab = std::atoll(v.c_str());
        else if (k == "--dims") dims = parse_list(v);
        else if (k == "--entropy") entropies = parse_list(v);
        else if (k == "--thresholds") thresholds = parse_list(v);
        else if (k == "--runs") runs = std::atoi(v.c_str());
        else {
            std::fprintf(stderr, "emd_cpu_skip_bench: unknown argument %s\n", k.c_str());
            return 2;
        }
    }
    if ((argc - 1) % 2 != 0 || rows < 1 || vocab < 1 || runs < 1) {
        std::fprintf(stderr, "usage: emd_cpu_skip_bench [--rows N] [--vocab V] [--dims D,..] [--entropy H,..] "
                             "[--thresholds t,..] [--runs K]\n");
        return 2;
    }
    std::printf("emd_cpu_skip_bench: isa %s, %d threads, libtasft %s; N=%lld V=%lld fp32, fwd+bwd in place, median of %d\n",
                tasft_cpu_isa(), tasft_cpu_get_num_threads(), tasft_version(), (long long)rows, (long long)vocab, runs);
    // Errors relative to the summed loss of the sampled rows (the batch loss a training step uses; a single peaked row's
    // loss can be 1e-7, where even fp32 rounding is a large relative error); "beyond" counts sampled rows whose true
    // error exceeds their reported bound plus the exact kernel's fp32 tolerance (2e-5 L + 1e-6): it must be 0.
    std::printf("| D | entropy (nats) | threshold | ms | speed-up vs exact | mean skipped mass | sum bound / sum L | "
                "sum true err / sum L | rows beyond bound |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (double dd : dims) {
        const int64_t dim = (int64_t)dd;
        for (double entropy : entropies) {
            lm::Params p;
            p.seed = 7;
            const double h = lm::calibrate_temperature(p, vocab, entropy, 4);
            std::vector<float> logits((size_t)(rows * vocab)), work(logits.size()), emb((size_t)(vocab * dim));
            for (int64_t n = 0; n < rows; ++n)
                for (int64_t v = 0; v < vocab; ++v) logits[(size_t)(n * vocab + v)] = (float)lm::logit(p, n, v, vocab);
            for (int64_t v = 0; v < vocab; ++v) {
                double ss = 0;
                for (int64_t d = 0; d < dim; ++d) {
                    const double x = lm::normal(99, (uint64_t)v, (uint64_t)d);
                    emb[(size_t)(v * dim + d)] = (float)x;
                    ss += x * x;
                }
                for (int64_t d = 0; d < dim; ++d) emb[(size_t)(v * dim + d)] = (float)(emb[(size_t)(v * dim + d)] / std::sqrt(ss));
            }
            std::vector<int64_t> targets((size_t)rows);
            for (int64_t n = 0; n < rows; ++n) targets[(size_t)n] = lm::target(p, n, vocab);
            // float64 oracle on 16 sampled rows
            const int64_t k = std::min<int64_t>(16, rows);
            std::vector<double> sub_logits, e64(emb.begin(), emb.end());
            std::vector<int64_t> sub_targets, sample;
            for (int64_t i = 0; i < k; ++i) {
                const int64_t n = i * rows / k;
                sample.push_back(n);
                sub_targets.push_back(targets[(size_t)n]);
                sub_logits.insert(sub_logits.end(), logits.begin() + n * vocab, logits.begin() + (n + 1) * vocab);
            }
            const ref::Result oracle = ref::emd(sub_logits, k, vocab, vocab, e64, dim, sub_targets, -100);

            std::vector<float> loss((size_t)rows), bound((size_t)rows), mass((size_t)rows);
            double exact_ms = 0;
            std::vector<double> ths = {0.0};
            ths.insert(ths.end(), thresholds.begin(), thresholds.end());
            for (double thr : ths) {
                std::vector<double> ms;
                for (int r = 0; r < runs + 1; ++r) {  // the first run is a warm-up
                    work = logits;
                    tasft_emd_args a{};
                    a.logits = work.data();
                    a.logits_dtype = TASFT_FLOAT32;
                    a.rows = rows;
                    a.vocab = vocab;
                    a.logits_row_stride = vocab;
                    a.unit_embedding = emb.data();
                    a.embedding_dtype = TASFT_FLOAT32;
                    a.dim = dim;
                    a.targets = targets.data();
                    a.ignore_index = -100;
                    a.grad_scale = 1.0f;
                    a.loss_rows = loss.data();
                    a.grad_logits = work.data();
                    tasft_emd_skip sk{};
                    sk.threshold = (float)thr;
                    sk.loss_error_bound = bound.data();
                    sk.skipped_mass = mass.data();
                    const auto t0 = std::chrono::steady_clock::now();
                    const int st = tasft_emd_cpu_skip(&a, &sk);
                    const auto t1 = std::chrono::steady_clock::now();
                    if (st != TASFT_OK) {
                        std::fprintf(stderr, "tasft_emd_cpu_skip: %s\n", tasft_last_error());
                        return 1;
                    }
                    if (r > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
                }
                std::sort(ms.begin(), ms.end());
                const double med = ms[ms.size() / 2];
                if (thr == 0.0) exact_ms = med;
                double mean_mass = 0, sum_bound = 0, sum_err = 0, sum_loss = 0;
                int beyond = 0;
                for (int64_t n = 0; n < rows; ++n) mean_mass += mass[(size_t)n] / (double)rows;
                for (int64_t i = 0; i < k; ++i) {
                    const int64_t n = sample[(size_t)i];
                    const double L = oracle.loss[(size_t)i], err = std::fabs(loss[(size_t)n] - L);
                    sum_bound += bound[(size_t)n];
                    sum_err += err;
                    sum_loss += L;
                    beyond += err > bound[(size_t)n] + 2e-5 * L + 1e-6;
                }
                char thr_text[32];
                std::snprintf(thr_text, sizeof thr_text, thr == 0.0 ? "0 (exact)" : "%g", thr);
                std::printf("| %lld | %.1f (T=%.3f) | %s | %.1f | %.2fx | %.1e | %.1e | %.1e | %d |\n", (long long)dim, h,
                            p.temperature, thr_text, med, exact_ms / med, mean_mass, sum_bound / sum_loss,
                            sum_err / sum_loss, beyond);
                std::fflush(stdout);
            }
        }
    }
    return 0;
}
