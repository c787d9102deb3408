#include "seqlab/util/rng.h"
