#include "common/run/gradient_tree.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/run/round_metrics.h"

namespace ef21 {

GradientTree::GradientTree(int64_t clients, int fan_in)
    : clients_(std::max<int64_t>(clients, 1)), fan_in_(std::max(fan_in, 2)) {
  span_.push_back(1);
  root_level_ = 0;
  while (root_level_ == 0 || span_.back() < clients_) {
    const int64_t last = span_.back();
    span_.push_back(last > std::numeric_limits<int64_t>::max() / fan_in_ ? last : last * fan_in_);
    ++root_level_;
  }
}

int64_t GradientTree::NodesAt(int level) const {
  if (level < 0 || level > root_level_) return 0;
  return (clients_ + span_[level] - 1) / span_[level];
}

absl::Status GradientTree::CheckSumNode(TreeNode node) const {
  if (node.level < 1 || node.level > root_level_ || node.index < 0 ||
      node.index >= NodesAt(node.level)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gradient sum of node (level ", node.level, ", index ", node.index,
        ") is not a node of the client tree: ", clients_, " clients, fan-in ", fan_in_,
        ", levels 1..", root_level_, " (level l has ceil(n / ", fan_in_, "^l) nodes)"));
  }
  return absl::OkStatus();
}

int64_t GradientTree::Begin(TreeNode node) const {
  return std::min(node.index * span_[node.level], clients_);
}

int64_t GradientTree::End(TreeNode node) const {
  return std::min((node.index + 1) * span_[node.level], clients_);
}

void GradientTree::Cover(absl::Span<const int64_t> ids, std::vector<TreeNode>* sums,
                         std::vector<int64_t>* leaves) const {
  sums->clear();
  leaves->clear();
  size_t k = 0;
  while (k < ids.size()) {
    // A run of consecutive ids [a, b).
    size_t end = k + 1;
    while (end < ids.size() && ids[end] == ids[end - 1] + 1) ++end;
    int64_t p = ids[k];
    const int64_t b = ids[end - 1] + 1;
    while (p < b) {
      // The highest node starting at p whose clients all lie in [p, b).
      int level = 0;
      while (level < root_level_ && p % span_[level + 1] == 0 &&
             std::min(p + span_[level + 1], clients_) <= b) {
        ++level;
      }
      const TreeNode node{level, p / span_[level]};
      if (level == 0) {
        leaves->push_back(p);
      } else {
        sums->push_back(node);
      }
      p = End(node);
    }
    k = end;
  }
}

void GradientTree::SumChildren(TreeNode node, int64_t dim,
                               absl::FunctionRef<const Vector*(TreeNode)> supplied,
                               absl::FunctionRef<void(int64_t, Vector*)> add_leaf,
                               std::vector<Vector>* scratch, Vector* acc) const {
  const int child_level = node.level - 1;
  const int64_t first = node.index * fan_in_;
  const int64_t last = std::min(first + fan_in_, NodesAt(child_level));
  for (int64_t c = first; c < last; ++c) {
    const TreeNode child{child_level, c};
    if (const Vector* value = supplied(child); value != nullptr) {
      AddGradient(*value, acc);
    } else if (child_level == 0) {
      add_leaf(c, acc);
    } else {
      Vector& partial = (*scratch)[child_level];
      partial.setZero(dim);
      SumChildren(child, dim, supplied, add_leaf, scratch, &partial);
      AddGradient(partial, acc);
    }
  }
}

void GradientTree::Sum(TreeNode top, int64_t dim,
                       absl::FunctionRef<const Vector*(TreeNode)> supplied,
                       absl::FunctionRef<void(int64_t, Vector*)> add_leaf,
                       std::vector<Vector>* scratch, Vector* out) const {
  if (scratch->size() < static_cast<size_t>(root_level_ + 1)) scratch->resize(root_level_ + 1);
  if (const Vector* value = supplied(top); value != nullptr) {
    *out = *value;
    return;
  }
  out->setZero(dim);
  SumChildren(top, dim, supplied, add_leaf, scratch, out);
}

}  // namespace ef21
