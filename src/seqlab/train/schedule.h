// Learning-rate schedules (protocols.md §2.2: constant; warmup+cosine for longer recipes).
#pragma once
#include <cstdint>

#include "seqlab/config/config.h"

namespace seqlab::train {

// Learning rate for 1-based optimizer step `step`.
double learning_rate(const config::TrainConfig& cfg, int64_t step);

}  // namespace seqlab::train
