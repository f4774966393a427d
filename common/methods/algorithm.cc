#include "common/methods/algorithm.h"

namespace ef21 {
AlgorithmTraits TraitsOf(Algorithm algorithm) {
  AlgorithmTraits t;
  switch (algorithm) {
    case Algorithm::kEf21:
      break;
    case Algorithm::kNormEf21:
      t.normalized = true;
      break;
    case Algorithm::kEf21Sgdm:
      t.momentum = true;
      break;
    case Algorithm::kNormEf21Sgdm:
      t.normalized = t.momentum = true;
      break;
    case Algorithm::kNormEf21Sgd:
      t.normalized = t.momentum = t.eta_is_one = true;
      break;
    case Algorithm::kNormSgdm:
      t.normalized = t.momentum = t.identity_only = true;
      break;
    case Algorithm::kEf14:
      t.error_feedback_14 = true;
      break;
    case Algorithm::kGd:
      t.identity_only = true;
      break;
    case Algorithm::kNormGd:
      t.normalized = t.identity_only = true;
      break;
  }
  return t;
}

}  // namespace ef21
