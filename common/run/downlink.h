// What the aggregator sends a worker host to start a round (issue 11's exact delta downlink):
// dense x, a resync (x and g), or the previous round's delta from which the host advances its
// own x and g bit for bit. `--downlink=auto|dense|delta` chooses; the choice for one host depends
// on whether it holds the previous round's state and on the sizes of the candidates.
//
// metrics.csv's downlink column counts, per client, the RoundStarts of a host attached from
// round 0 to the end (SteadyDownlink), so that `ef21 simulate` and the federation agree bit for bit
// whatever reconnects happened; what reconnecting hosts really received is in the aggregator's
// ef21_downlink_bytes_total. All functions are pure; SteadyDownlink is thread-compatible.
#ifndef EF21_COMMON_RUN_DOWNLINK_H_
#define EF21_COMMON_RUN_DOWNLINK_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/enum_names.h"
#include "common/methods/method.h"

namespace ef21 {

enum class DownlinkMode {
  kAuto,   // the delta when it is smaller than dense x, see ChooseDownlink
  kDense,  // dense x every round (no g on hosts)
  kDelta,  // the delta every round; dense only to (re)attach
  kMaxValue = kDelta,
};
// The --downlink names (config.json's "downlink").
inline constexpr auto kDownlinkModeNames =
    MakeEnumNames<DownlinkMode>("downlink mode", {
                                                     {DownlinkMode::kAuto, "auto"},
                                                     {DownlinkMode::kDense, "dense"},
                                                     {DownlinkMode::kDelta, "delta"},
                                                 });
constexpr const auto& NamesOf(DownlinkMode) { return kDownlinkModeNames; }

// What one RoundStart carries: the `kind` label of ef21_downlink_messages_total.
enum class DownlinkKind {
  kDense,   // dense x
  kResync,  // dense x and g
  kDelta,   // the closed round's delta
  kMaxValue = kDelta,
};
inline constexpr auto kDownlinkKindNames =
    MakeEnumNames<DownlinkKind>("downlink kind", {
                                                     {DownlinkKind::kDense, "dense"},
                                                     {DownlinkKind::kResync, "resync"},
                                                     {DownlinkKind::kDelta, "delta"},
                                                 });
constexpr const auto& NamesOf(DownlinkKind) { return kDownlinkKindNames; }
inline constexpr size_t kDownlinkKinds = kDownlinkKindNames.size();

// The message for a host that `in_sync` (holds x and g of the round just closed, so it can take
// the delta), given the byte sizes of the delta and of dense x:
//  - dense: always dense;
//  - delta: the delta when in sync, else a resync;
//  - auto: in sync, the delta unless it is larger than dense x (then dense, and the host leaves
//    sync); out of sync, a resync when the delta is at most half of dense x (the resync's extra
//    g is paid back by the next delta), else dense.
DownlinkKind ChooseDownlink(DownlinkMode mode, bool in_sync, int64_t delta_bytes,
                            int64_t dense_bytes);
// The message for a host that (re)attaches: dense with --downlink=dense, else a resync.
DownlinkKind AttachDownlink(DownlinkMode mode);
// Whether a host that received `kind` holds x and g afterwards.
inline bool InSyncAfter(DownlinkKind kind) { return kind != DownlinkKind::kDense; }

// Wire bytes of the three candidates for round r's RoundStart (r ≥ 1: `delta` closed round r − 1).
struct DownlinkSizes {
  int64_t dense = 0;
  int64_t resync = 0;
  int64_t delta = 0;
  int64_t Of(DownlinkKind kind) const {
    return kind == DownlinkKind::kDense ? dense : kind == DownlinkKind::kResync ? resync : delta;
  }
};
DownlinkSizes MeasureDownlink(uint64_t round, int64_t dim, double stepsize, bool diagnostics,
                              const RoundDelta& delta, ValueType type);

// The downlink of one host attached from round 0 to the end of the run.
class SteadyDownlink {
 public:
  SteadyDownlink(DownlinkMode mode, int64_t dim, ValueType type);
  // Round 0's RoundStart: x^0 (g is zero; a resync carries nothing more).
  int64_t Start(double stepsize, bool diagnostics);
  // Round r's RoundStart after round r − 1 closed with `delta`; returns its bytes.
  int64_t Next(uint64_t round, double stepsize, bool diagnostics, const RoundDelta& delta);
  DownlinkKind last_kind() const { return last_kind_; }
  // Whether the host holds x and g after the last RoundStart (so the next may be a delta).
  bool in_sync() const { return in_sync_; }
  // Continues a resumed run whose open round's RoundStart was of kind `kind`
  // (checkpoints carry it: server/checkpoint.h).
  void Resume(DownlinkKind kind) {
    last_kind_ = kind;
    in_sync_ = InSyncAfter(kind);
  }

 private:
  DownlinkMode mode_;
  int64_t dim_;
  ValueType type_;
  bool in_sync_ = false;
  DownlinkKind last_kind_ = DownlinkKind::kDense;
};

}  // namespace ef21

#endif  // EF21_COMMON_RUN_DOWNLINK_H_
