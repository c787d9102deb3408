// Precompiled header for every seqlab target: LibTorch headers dominate compile time.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
