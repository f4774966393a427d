#include "common/run/downlink.h"

#include "common/compress/sparse_codec.h"

namespace ef21 {

DownlinkKind ChooseDownlink(DownlinkMode mode, bool in_sync, int64_t delta_bytes,
                            int64_t dense_bytes) {
  switch (mode) {
    case DownlinkMode::kDense:
      return DownlinkKind::kDense;
    case DownlinkMode::kDelta:
      return in_sync ? DownlinkKind::kDelta : DownlinkKind::kResync;
    case DownlinkMode::kAuto:
      if (in_sync) return delta_bytes <= dense_bytes ? DownlinkKind::kDelta : DownlinkKind::kDense;
      return 2 * delta_bytes <= dense_bytes ? DownlinkKind::kResync : DownlinkKind::kDense;
  }
  return DownlinkKind::kDense;
}

DownlinkKind AttachDownlink(DownlinkMode mode) {
  return mode == DownlinkMode::kDense ? DownlinkKind::kDense : DownlinkKind::kResync;
}

DownlinkSizes MeasureDownlink(uint64_t round, int64_t dim, double stepsize, bool diagnostics,
                              const RoundDelta& delta, ValueType type) {
  DownlinkSizes sizes;
  sizes.dense = RoundStartWireBytes(round, dim, stepsize, diagnostics);
  sizes.resync = ResyncRoundStartWireBytes(round, dim, stepsize, diagnostics);
  // The parts' sizes are counted in place: no copy of the sum (d-sized at worst) is made or kept.
  sizes.delta =
      DeltaRoundStartWireBytes(round, stepsize, diagnostics, delta.sum, type, delta.scale);
  return sizes;
}

SteadyDownlink::SteadyDownlink(DownlinkMode mode, int64_t dim, ValueType type)
    : mode_(mode), dim_(dim), type_(type) {}

int64_t SteadyDownlink::Start(double stepsize, bool diagnostics) {
  last_kind_ = AttachDownlink(mode_);
  in_sync_ = InSyncAfter(last_kind_);
  return last_kind_ == DownlinkKind::kDense
             ? RoundStartWireBytes(0, dim_, stepsize, diagnostics)
             : ResyncRoundStartWireBytes(0, dim_, stepsize, diagnostics);
}

int64_t SteadyDownlink::Next(uint64_t round, double stepsize, bool diagnostics,
                             const RoundDelta& delta) {
  if (mode_ == DownlinkMode::kDense) return RoundStartWireBytes(round, dim_, stepsize, diagnostics);
  const DownlinkSizes sizes = MeasureDownlink(round, dim_, stepsize, diagnostics, delta, type_);
  last_kind_ = ChooseDownlink(mode_, in_sync_, sizes.delta, sizes.dense);
  in_sync_ = InSyncAfter(last_kind_);
  return sizes.Of(last_kind_);
}

}  // namespace ef21
