#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

const char* structure_name(Structure s) {
  switch (s) {
    case Structure::kIdentity:
      return "identity";
    case Structure::kOrthogonalLTI:
      return "orthogonal LTI";
    case Structure::kScalar:
      return "scalar";
    case Structure::kDiagonal:
      return "diagonal";
    case Structure::kComplexDiagonal:
      return "complex diagonal";
    case Structure::kIdentityMinusRank1:
      return "identity minus rank 1";
    case Structure::kDiagonalPlusRank1:
      return "diagonal plus rank 1";
    case Structure::kDense:
      return "dense";
    case Structure::kLTIDiagonal:
      return "LTI diagonal";
    case Structure::kNotInFramework:
      return "not in framework";
  }
  return "unknown";
}

}  // namespace seqlab::mixers
