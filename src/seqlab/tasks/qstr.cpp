// Sparse token retrieval tasks qstr, qstr_simple and qsa (spec/tasks.md §4; see qstr.h).
#include "seqlab/tasks/qstr.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace {

// The codebook's seed: fixed per N, independent of every run seed (§4.1 "fixed per N from a
// fixed seed and shared across repetitions").
constexpr uint64_t kCodebookSeed = 0x5157'5354'5200ULL;  // "QSTR"

const std::vector<std::string>& link_names() {
  static const std::vector<std::string> names = {"linear", "linear_sum", "hermite2", "quadnorm",
                                                 "mean"};
  return names;
}

// He₂(z) = (z² − 1)/√2, the normalized second Hermite polynomial (E He₂(Z)² = 1).
double hermite2(double z) {
  return (z * z - 1.0) / std::sqrt(2.0);
}

// Fills `out` (q entries) with q distinct values of {0..N−1}, ascending: a uniform q-subset by
// a partial Fisher–Yates shuffle.
void uniform_subset(Rng& rng, int64_t N, int64_t q, int64_t* out) {
  std::vector<int64_t> pool(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) pool[i] = i;
  for (int64_t j = 0; j < q; ++j) {
    const int64_t pick = j + static_cast<int64_t>(rng.uniform_int(static_cast<uint64_t>(N - j)));
    std::swap(pool[j], pool[pick]);
  }
  std::sort(pool.begin(), pool.begin() + q);
  for (int64_t j = 0; j < q; ++j) out[j] = pool[j];
}

}  // namespace

bool is_qstr_task(const std::string& name) {
  return name == "qstr" || name == "qstr_simple" || name == "qsa";
}

std::vector<std::string> qstr_task_names() {
  return {"qstr", "qstr_simple", "qsa"};
}

std::vector<std::string> qstr_link_names() {
  return link_names();
}

QstrLink qstr_link_from_name(const std::string& name) {
  const auto& n = link_names();
  for (size_t i = 0; i < n.size(); ++i)
    if (n[i] == name) return static_cast<QstrLink>(i);
  throw UserError("task.link = '" + name + "' is not valid (one of: " + join_names(n) + ")");
}

int64_t qstr_embedding_dim(int64_t N) {
  const auto d = static_cast<int64_t>(std::floor(5.0 * std::log(static_cast<double>(N))));
  return d < 1 ? 1 : d;
}

std::vector<double> qstr_codebook(int64_t N) {
  const int64_t de = qstr_embedding_dim(N);
  Rng rng(kCodebookSeed ^ static_cast<uint64_t>(N));
  const double a = 1.0 / std::sqrt(static_cast<double>(de));
  std::vector<double> w(static_cast<size_t>(N * de));
  // Row by row; a row equal to an earlier one is drawn again (seqlab's construction: with small
  // d_e, e.g. 2^8 codes at N = 6, i.i.d. rows repeat often enough to make two positions
  // indistinguishable; 2^{d_e} ≈ N^3.5 codes leave room for every N).
  for (int64_t i = 0; i < N; ++i) {
    auto row = w.begin() + i * de;
    bool repeated = true;
    while (repeated) {
      for (int64_t e = 0; e < de; ++e) row[e] = rng.uniform_int(2) == 0 ? -a : a;
      repeated = false;
      for (int64_t p = 0; p < i && !repeated; ++p)
        repeated = std::equal(row, row + de, w.begin() + p * de);
    }
  }
  return w;
}

std::vector<double> orthonormal_directions(Rng& rng, int64_t q, int64_t d) {
  if (q > d)
    throw UserError("qstr: " + std::to_string(q) + " orthonormal directions do not fit in R^" +
                    std::to_string(d) + " (need task.q <= task.dim)");
  std::vector<double> u(static_cast<size_t>(q * d));
  for (int64_t j = 0; j < q; ++j) {
    double* uj = u.data() + j * d;
    double norm = 0.0;
    while (norm < 1e-8) {  // a Gaussian draw, minus its components along u_0..u_{j−1}
      for (int64_t c = 0; c < d; ++c) uj[c] = rng.normal();
      for (int64_t p = 0; p < j; ++p) {
        const double* up = u.data() + p * d;
        double dot = 0.0;
        for (int64_t c = 0; c < d; ++c) dot += uj[c] * up[c];
        for (int64_t c = 0; c < d; ++c) uj[c] -= dot * up[c];
      }
      norm = 0.0;
      for (int64_t c = 0; c < d; ++c) norm += uj[c] * uj[c];
      norm = std::sqrt(norm);
    }
    for (int64_t c = 0; c < d; ++c) uj[c] /= norm;
  }
  return u;
}

std::vector<double> qstr_targets(const std::vector<double>& x, const std::vector<int64_t>& pointers,
                                 int64_t N, int64_t d, int64_t q, QstrLink link,
                                 const std::vector<double>& u) {
  const int64_t O = link == QstrLink::kMean ? d : 1;
  std::vector<double> y(static_cast<size_t>(N * O), 0.0);
  const double qd = static_cast<double>(q);
  // E‖x_t‖² = d · P(t < N/2) for quadnorm (x_i = 0 for i ≥ N/2; t uniform on {0..N−1}).
  const double first_half = static_cast<double>((N + 1) / 2) / static_cast<double>(N);
  for (int64_t i = 0; i < N; ++i) {
    double* yi = y.data() + i * O;
    for (int64_t j = 0; j < q; ++j) {
      const double* xt = x.data() + pointers[i * q + j] * d;
      switch (link) {
        case QstrLink::kLinear:
        case QstrLink::kLinearSum:
        case QstrLink::kHermite2: {
          const double* uj = u.data() + j * d;
          double z = 0.0;
          for (int64_t c = 0; c < d; ++c) z += uj[c] * xt[c];
          yi[0] += (link == QstrLink::kHermite2 ? hermite2(z) : z) / std::sqrt(qd);
          break;
        }
        case QstrLink::kQuadnorm: {
          double sq = 0.0;
          for (int64_t c = 0; c < d; ++c) sq += xt[c] * xt[c];
          yi[0] +=
              (sq - static_cast<double>(d) * first_half) / std::sqrt(qd * static_cast<double>(d));
          break;
        }
        case QstrLink::kMean:
          for (int64_t c = 0; c < d; ++c) yi[c] += xt[c] / qd;
          break;
      }
    }
  }
  return y;
}

QstrTask::QstrTask(const TaskOptions& options)
    : options_(options), link_(QstrLink::kLinear), d_e_(0) {
  const auto& n = options.name;
  if (!is_qstr_task(n))
    throw UserError("unknown qstr task '" + n + "' (valid: " + join_names(qstr_task_names()) + ")");
  const int64_t N = options.tokens, q = options.q, d = options.dim;
  if (N < 2)
    throw UserError(n + ": task.tokens = " + std::to_string(N) +
                    " must be the prompt length N >= 2");
  if (q < 1) throw UserError(n + ": task.q = " + std::to_string(q) + " must be >= 1");
  if (d < 1) throw UserError(n + ": task.dim = " + std::to_string(d) + " must be >= 1");
  link_ = n == "qsa" ? QstrLink::kMean : qstr_link_from_name(options.link);
  if (n == "qsa" && options.link != "mean" && options.link != "linear")  // linear = the default
    throw UserError("qsa: the target is the mean of the selected tokens (task.link = mean), got '" +
                    options.link + "'");
  if (link_ == QstrLink::kLinear && q != 1)
    throw UserError(n +
                    ": task.link = linear needs task.q = 1 (use linear_sum for q > 1), got q = " +
                    std::to_string(q));
  if (n == "qsa" && q > N)
    throw UserError("qsa: a q-subset of N tokens needs task.q <= task.tokens, got q = " +
                    std::to_string(q) + ", N = " + std::to_string(N));
  if (options.set_encoding != "concat" && options.set_encoding != "sum")
    throw UserError("task.set_encoding = '" + options.set_encoding +
                    "' is not valid (one of: concat, sum)");
  if (options.set_encoding == "sum" && n != "qsa")
    throw UserError(n + ": task.set_encoding = sum applies to qsa only");
  d_e_ = qstr_embedding_dim(N);
  codebook_ = qstr_codebook(N);
  if (link_ == QstrLink::kLinear || link_ == QstrLink::kLinearSum || link_ == QstrLink::kHermite2) {
    Rng rng(options.data_seed);
    u_ = orthonormal_directions(rng, q, d);
  }
  const int64_t pointer_slots = options.set_encoding == "sum" ? 1 : q;
  info_.name = n;
  info_.kind = TaskKind::kRegression;
  info_.readout = Readout::kPerToken;
  info_.input_features = d + (1 + pointer_slots) * d_e_;
  info_.output_dim = link_ == QstrLink::kMean ? d : 1;
  info_.num_classes = info_.output_dim;
  info_.description =
      n == "qsa" ? "q-sparse averaging: the mean of q unit vectors picked by a q-subset (§4.3)"
      : n == "qstr_simple"
          ? "q-sparse token regression, one pointer tuple shared by all positions (§4.1)"
          : "q-sparse token regression: y_i = g(x at the q pointers of token i) (§4.1)";
}

Batch QstrTask::sample(Rng& rng, int64_t batch, int64_t length) const {
  const int64_t N = options_.tokens, q = options_.q, d = options_.dim, de = d_e_;
  if (length != N)
    throw UserError(options_.name + ": length " + std::to_string(length) +
                    " differs from task.tokens = " + std::to_string(N) +
                    " (the prompt length is fixed; set train.min_length = max_length = " +
                    std::to_string(N) + ")");
  const int64_t F = info_.input_features, O = info_.output_dim;
  const bool qsa = options_.name == "qsa", simple = options_.name == "qstr_simple";
  const bool sum_encoding = options_.set_encoding == "sum";
  // The theory's scaling of the position part by √(d/q) (task.pos_scale; off by default, as in
  // the reference code).
  const double pos = options_.pos_scale ? std::sqrt(double(d) / double(q)) : 1.0;
  std::vector<float> in(static_cast<size_t>(batch * N * F), 0.0f);
  std::vector<float> out(static_cast<size_t>(batch * N * O), 0.0f);
  std::vector<double> x(static_cast<size_t>(N * d));
  std::vector<int64_t> t(static_cast<size_t>(N * q));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < N; ++i) {
      double* xi = x.data() + i * d;
      for (int64_t c = 0; c < d; ++c) xi[c] = rng.normal();
      if (qsa) {  // z_i uniform on the unit sphere S^{d'−1}
        double norm = 0.0;
        for (int64_t c = 0; c < d; ++c) norm += xi[c] * xi[c];
        norm = std::sqrt(norm);
        for (int64_t c = 0; c < d; ++c) xi[c] /= norm;
      } else if (link_ == QstrLink::kQuadnorm && 2 * i >= N) {
        for (int64_t c = 0; c < d; ++c) xi[c] = 0.0;  // x_i := 0 for i ≥ N/2 (§4.1)
      }
    }
    for (int64_t i = 0; i < N; ++i) {
      int64_t* ti = t.data() + i * q;
      if (qsa) {
        uniform_subset(rng, N, q, ti);
      } else if (simple && i > 0) {
        for (int64_t j = 0; j < q; ++j) ti[j] = t[j];  // the tuple of position 0, shared
      } else {
        for (int64_t j = 0; j < q; ++j) ti[j] = static_cast<int64_t>(rng.uniform_int(N));
      }
    }
    const auto y = qstr_targets(x, t, N, d, q, link_, u_);
    float* zb = in.data() + b * N * F;
    for (int64_t i = 0; i < N; ++i) {
      float* zi = zb + i * F;
      for (int64_t c = 0; c < d; ++c) zi[c] = float(x[i * d + c]);
      for (int64_t e = 0; e < de; ++e) zi[d + e] = float(pos * codebook_[i * de + e]);
      for (int64_t j = 0; j < q; ++j) {
        const double* w = codebook_.data() + t[i * q + j] * de;
        float* slot = zi + d + (sum_encoding ? 1 : 1 + j) * de;
        for (int64_t e = 0; e < de; ++e) slot[e] += float(pos * w[e]);
      }
    }
    for (int64_t k = 0; k < N * O; ++k) out[b * N * O + k] = float(y[k]);
  }
  return {torch::from_blob(in.data(), {batch, N, F}, torch::kFloat32).clone(),
          torch::from_blob(out.data(), {batch, N, O}, torch::kFloat32).clone()};
}

}  // namespace seqlab::tasks
