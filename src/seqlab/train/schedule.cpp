#include "seqlab/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace seqlab::train {

double learning_rate(const config::TrainConfig& cfg, int64_t step) {
  if (cfg.schedule == "constant") return cfg.lr;
  // warmup_cosine: linear warmup from lr/warmup to lr, then cosine decay to min_lr_ratio * lr.
  if (cfg.warmup_steps > 0 && step <= cfg.warmup_steps)
    return cfg.lr * static_cast<double>(step) / static_cast<double>(cfg.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, cfg.steps - cfg.warmup_steps));
  const double progress = std::clamp(static_cast<double>(step - cfg.warmup_steps) / span, 0.0, 1.0);
  const double floor = cfg.min_lr_ratio * cfg.lr;
  return floor + (cfg.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace seqlab::train
