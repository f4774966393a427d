// libFuzzer target: the run-spec reader (proto/codec.h SpecToRunConfig, then RunConfig::Validate
// and the problem-spec comparison the aggregator runs on every Attach) on an arbitrary RunSpec.
// A spec that converts and validates must survive the round trip RunConfig -> RunSpec -> RunConfig.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/run/run_config.h"
#include "ef21/v1/ef21.pb.h"
#include "proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ef21::v1::RunSpec spec;
  if (!spec.ParseFromArray(data, static_cast<int>(size))) return 0;
  ef21::v1::RunSpec reference;
  ef21::RunConfigToSpec(ef21::RunConfig(), &reference);
  (void)ef21::CompareProblemSpecs(spec, reference);
  ef21::RunConfig config;
  if (!ef21::SpecToRunConfig(spec, &config).ok()) return 0;
  if (!config.Validate().ok()) return 0;
  (void)config.ToJson();
  ef21::v1::RunSpec again;
  ef21::RunConfigToSpec(config, &again);
  ef21::RunConfig back;
  if (!ef21::SpecToRunConfig(again, &back).ok()) std::abort();
  if (back.ToJson() != config.ToJson()) std::abort();
  return 0;
}
