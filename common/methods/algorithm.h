// The nine algorithm flags of SPEC §3 and what distinguishes them.
#ifndef EF21_COMMON_METHODS_ALGORITHM_H_
#define EF21_COMMON_METHODS_ALGORITHM_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/base/enum_names.h"

namespace ef21 {

enum class Algorithm {
  kEf21,          // EF21 (Richtárik et al. 2021)
  kNormEf21,      // ||EF21||, the paper's Algorithm 1
  kEf21Sgdm,      // EF21-SGDM (Fatkhullin et al. 2023)
  kNormEf21Sgdm,  // ||EF21-SGDM||, Algorithm 2
  kNormEf21Sgd,   // ||EF21-SGD||: ||EF21-SGDM|| with η = 1
  kNormSgdm,      // ||SGDM|| (NSGD-M): ||EF21-SGDM|| with the identity compressor
  kEf14,          // EF / EF14 (Seide 2014, Stich 2018)
  kGd,            // gradient descent: EF21 with the identity compressor
  kNormGd,        // normalized gradient descent: ||EF21|| with the identity compressor
  kMaxValue = kNormGd,
};

// The --algorithm names (SPEC §3).
inline constexpr auto kAlgorithmNames =
    MakeEnumNames<Algorithm>("algorithm", {
                                              {Algorithm::kEf21, "ef21"},
                                              {Algorithm::kNormEf21, "norm-ef21"},
                                              {Algorithm::kEf21Sgdm, "ef21-sgdm"},
                                              {Algorithm::kNormEf21Sgdm, "norm-ef21-sgdm"},
                                              {Algorithm::kNormEf21Sgd, "norm-ef21-sgd"},
                                              {Algorithm::kNormSgdm, "norm-sgdm"},
                                              {Algorithm::kEf14, "ef14"},
                                              {Algorithm::kGd, "gd"},
                                              {Algorithm::kNormGd, "norm-gd"},
                                          });
constexpr const auto& NamesOf(Algorithm) { return kAlgorithmNames; }
inline absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name) {
  return kAlgorithmNames.Parse(name);
}
inline const char* AlgorithmName(Algorithm algorithm) { return kAlgorithmNames.Name(algorithm); }

struct AlgorithmTraits {
  bool normalized = false;         // x ← x − γ g/‖g‖ instead of x ← x − γ g
  bool momentum = false;           // v ← (1 − η) v + η ∇f_i(x; ξ)
  bool error_feedback_14 = false;  // EF14's client error e_i instead of EF21's g_i
  bool identity_only = false;      // the method is defined with C = identity
  bool eta_is_one = false;         // the method is defined with η = 1
};

AlgorithmTraits TraitsOf(Algorithm algorithm);

}  // namespace ef21

#endif  // EF21_COMMON_METHODS_ALGORITHM_H_
