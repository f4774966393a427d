#include "common/methods/algorithm.h"

#include "absl/strings/str_cat.h"

namespace ef21 {
namespace {

struct Entry {
  Algorithm algorithm;
  const char* name;
};

constexpr Entry kAlgorithms[] = {
    {Algorithm::kEf21, "ef21"},
    {Algorithm::kNormEf21, "norm-ef21"},
    {Algorithm::kEf21Sgdm, "ef21-sgdm"},
    {Algorithm::kNormEf21Sgdm, "norm-ef21-sgdm"},
    {Algorithm::kNormEf21Sgd, "norm-ef21-sgd"},
    {Algorithm::kNormSgdm, "norm-sgdm"},
    {Algorithm::kEf14, "ef14"},
    {Algorithm::kGd, "gd"},
    {Algorithm::kNormGd, "norm-gd"},
};

}  // namespace

absl::StatusOr<Algorithm> ParseAlgorithm(const std::string& name) {
  for (const Entry& e : kAlgorithms) {
    if (name == e.name) return e.algorithm;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown algorithm \"", name,
      "\"; expected ef21, norm-ef21, ef21-sgdm, norm-ef21-sgdm, norm-ef21-sgd, norm-sgdm, ef14, gd "
      "or norm-gd"));
}

const char* AlgorithmName(Algorithm algorithm) {
  for (const Entry& e : kAlgorithms) {
    if (algorithm == e.algorithm) return e.name;
  }
  return "?";
}

AlgorithmTraits TraitsOf(Algorithm algorithm) {
  AlgorithmTraits t;
  switch (algorithm) {
    case Algorithm::kEf21: break;
    case Algorithm::kNormEf21: t.normalized = true; break;
    case Algorithm::kEf21Sgdm: t.momentum = true; break;
    case Algorithm::kNormEf21Sgdm: t.normalized = t.momentum = true; break;
    case Algorithm::kNormEf21Sgd: t.normalized = t.momentum = t.eta_is_one = true; break;
    case Algorithm::kNormSgdm: t.normalized = t.momentum = t.identity_only = true; break;
    case Algorithm::kEf14: t.error_feedback_14 = true; break;
    case Algorithm::kGd: t.identity_only = true; break;
    case Algorithm::kNormGd: t.normalized = t.identity_only = true; break;
  }
  return t;
}

}  // namespace ef21
