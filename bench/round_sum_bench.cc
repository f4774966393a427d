// The round's Σ_i c_i as the close computes it (SumOnUnion: the union marked one bit per
// coordinate and ranked per 64, no d-sized buffer) against the dense scatter it replaced (a
// d-sized sum and 1-byte marks, the union listed in order of first touch, then scanned or
// sorted), side by side in one run, on three workloads: the memory bench's (d = 10^6, 1,000
// clients, k = 1,000), the downlink bench's (d = 10^6, 16 clients, k = 10^4) and a1a's (d = 123,
// 1,605 clients, top-1). Also the round delta's coding: EncodeRoundDelta from the sum in place
// against the split copies it replaced, and what unpacking the messages a worker-mode aggregator
// keeps packed costs (BM_Unpack). Prints new/old time ratios (below 1: the new one is faster);
// both give the same bits (tests/common/round_sum_test.cc,
// tests/server/wire_size_test.cc).
//
//   build/bin/round_sum_bench [--benchmark_repetitions=3]
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "bench/ratio_reporter.h"
#include "benchmark/benchmark.h"
#include "common/compress/sparse_codec.h"
#include "common/methods/method.h"
#include "proto/codec.h"

namespace ef21 {
namespace {

struct Workload {
  const char* name;
  int64_t d;
  int64_t clients;
  int64_t k;
};
constexpr Workload kWorkloads[] = {
    {"memory_d1e6_n1000_k1000", 1000000, 1000, 1000},
    {"downlink_d1e6_n16_k1e4", 1000000, 16, 10000},
    {"a1a_d123_n1605_k1", 123, 1605, 1},
};

// Each client's k distinct random indices, ascending, with float32 values.
std::vector<SparseVector> Messages(const Workload& w) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int32_t> index(0, static_cast<int32_t>(w.d - 1));
  std::normal_distribution<float> value;
  std::vector<SparseVector> messages(w.clients);
  std::vector<uint8_t> taken(w.d, 0);
  for (SparseVector& c : messages) {
    c.Clear(w.d);
    while (static_cast<int64_t>(c.indices.size()) < w.k) {
      const int32_t j = index(rng);
      if (taken[j]) continue;
      taken[j] = 1;
      c.indices.push_back(j);
    }
    std::sort(c.indices.begin(), c.indices.end());
    for (int32_t j : c.indices) {
      taken[j] = 0;
      c.values.push_back(value(rng));
    }
  }
  return messages;
}

// The close's sum before: a dense scatter into a d-sized buffer.
void ScatterSum(absl::Span<const SparseVector* const> by_client, Vector* dense,
                std::vector<uint8_t>* touched, std::vector<int32_t>* union_indices,
                SparseVector* sum) {
  const int64_t d = sum->dim;
  sum->Clear(d);
  if (dense->size() != d) dense->resize(d);
  if (static_cast<int64_t>(touched->size()) != d) touched->assign(d, 0);
  double* s = dense->data();
  union_indices->clear();
  for (const SparseVector* c : by_client) {
    for (size_t e = 0; e < c->indices.size(); ++e) {
      const int32_t j = c->indices[e];
      if (!(*touched)[j]) {
        (*touched)[j] = 1;
        s[j] = 0.0;
        union_indices->push_back(j);
      }
      s[j] += 1.0 * c->values[e];
    }
  }
  if (static_cast<int64_t>(union_indices->size()) * 16 >= d) {
    union_indices->clear();
    for (int64_t j = 0; j < d; ++j) {
      if ((*touched)[j]) union_indices->push_back(static_cast<int32_t>(j));
    }
  } else {
    std::sort(union_indices->begin(), union_indices->end());
  }
  sum->indices.reserve(union_indices->size());
  sum->values.reserve(union_indices->size());
  for (int32_t j : *union_indices) {
    sum->indices.push_back(j);
    sum->values.push_back(s[j]);
    (*touched)[j] = 0;
  }
}

void BM_Sum(benchmark::State& state, Workload w, bool on_union) {
  const std::vector<SparseVector> messages = Messages(w);
  std::vector<const SparseVector*> by_client;
  for (const SparseVector& c : messages) by_client.push_back(&c);
  SparseVector sum;
  sum.dim = w.d;
  std::vector<uint64_t> marks;
  std::vector<int32_t> ranks;
  Vector dense;
  std::vector<uint8_t> touched;
  std::vector<int32_t> union_indices;
  for (auto _ : state) {
    if (on_union) {
      SumOnUnion(by_client, &marks, &ranks, &sum);
    } else {
      ScatterSum(by_client, &dense, &touched, &union_indices, &sum);
    }
    benchmark::DoNotOptimize(sum.values.data());
  }
}

void BM_Encode(benchmark::State& state, Workload w, bool in_place) {
  const std::vector<SparseVector> messages = Messages(w);
  std::vector<const SparseVector*> by_client;
  for (const SparseVector& c : messages) by_client.push_back(&c);
  RoundDelta delta;
  delta.sum.dim = w.d;
  delta.scale = 0.5;
  std::vector<uint64_t> marks;
  std::vector<int32_t> ranks;
  SumOnUnion(by_client, &marks, &ranks, &delta.sum);
  v1::RoundDelta out;
  for (auto _ : state) {
    if (in_place) {
      EncodeRoundDelta(delta, ValueType::kF32, &out);
    } else {
      SparseVector narrow, wide;
      SplitExactValues(delta.sum, ValueType::kF32, &narrow, &wide);
      EncodeSparseVector(narrow, ValueType::kF32, out.mutable_sum());
      if (wide.nnz() > 0) EncodeSparseVector(wide, ValueType::kF64, out.mutable_sum_wide());
      out.set_scale(delta.scale);
    }
    benchmark::DoNotOptimize(out.sum().index_code().data());
  }
}

// The cost of keeping the round's messages packed (--client-state=worker, float32): unpacking
// every message once. A close of packed messages unpacks each three times (twice for the sum, once
// for the client's state hash) where the decoded ones are read as they are.
void BM_Unpack(benchmark::State& state, Workload w) {
  const std::vector<SparseVector> messages = Messages(w);
  std::vector<PackedSparse> packed(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) Pack(messages[i], &packed[i]);
  SparseVector unpacked;
  for (auto _ : state) {
    for (const PackedSparse& p : packed) {
      (void)Unpack(p, &unpacked);
      benchmark::DoNotOptimize(unpacked.values.data());
    }
  }
}

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) {
  for (const ef21::Workload& w : ef21::kWorkloads) {
    for (const bool on_union : {false, true}) {
      benchmark::RegisterBenchmark(
          (std::string("sum/") + w.name + (on_union ? "/union" : "/scatter")).c_str(), ef21::BM_Sum,
          w, on_union)
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark((std::string("unpack/") + w.name).c_str(), ef21::BM_Unpack, w)
        ->Unit(benchmark::kMicrosecond);
    for (const bool in_place : {false, true}) {
      benchmark::RegisterBenchmark(
          (std::string("encode/") + w.name + (in_place ? "/in_place" : "/split")).c_str(),
          ef21::BM_Encode, w, in_place)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  ef21::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nnew / old real time (below 1: the new one is faster)\n");
  for (const ef21::Workload& w : ef21::kWorkloads) {
    const std::string sum = std::string("sum/") + w.name;
    const std::string encode = std::string("encode/") + w.name;
    const double old_sum = reporter.Nanoseconds(sum + "/scatter");
    const double old_encode = reporter.Nanoseconds(encode + "/split");
    const double on_union = reporter.Nanoseconds(sum + "/union");
    std::printf(
        "%-26s sum: union / scatter %.2f   delta coding: in place / split %.2f   unpacking every "
        "message once / union sum %.2f\n",
        w.name, old_sum > 0 ? on_union / old_sum : 0.0,
        old_encode > 0 ? reporter.Nanoseconds(encode + "/in_place") / old_encode : 0.0,
        on_union > 0 ? reporter.Nanoseconds(std::string("unpack/") + w.name) / on_union : 0.0);
  }
  return 0;
}
