// The fixed summation tree of a round's diagnostic gradients (issue 11 item 3): Σ_i ∇f_i(x^r) is
// summed over a tree over client ids 0..n−1 that depends on n alone, so that the simulator, the
// aggregator and any spread of the clients over worker hosts give the same bits. A host holding
// every client of a subtree sends that subtree's sum (WorkerMessage.gradient_sums) instead of its
// clients' dense gradients; the aggregator sums the rest of the tree itself.
//
// The tree: node (level l, index j) covers the clients [j·F^l, (j+1)·F^l) ∩ [0, n), F =
// kGradientTreeFanIn; level 0 are the clients themselves; the root is (D, 0) with D >= 1 the least
// level with F^D >= n. A node's value is +0.0 plus its children's values added in ascending index
// (coordinate by coordinate, as AddGradient does). With n <= F this is the plain ascending sum.
//
// Thread-compatible; the tree itself is immutable.
#ifndef EF21_COMMON_RUN_GRADIENT_TREE_H_
#define EF21_COMMON_RUN_GRADIENT_TREE_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/base/vector.h"

namespace ef21 {

inline constexpr int kGradientTreeFanIn = 32;

struct TreeNode {
  int level = 0;
  int64_t index = 0;
  friend bool operator==(TreeNode a, TreeNode b) {
    return a.level == b.level && a.index == b.index;
  }
};

// A node's value given by its holder (a host's partial sum, or a client's own gradient).
struct NodeSum {
  TreeNode node;
  const Vector* value = nullptr;
};

class GradientTree {
 public:
  explicit GradientTree(int64_t clients, int fan_in = kGradientTreeFanIn);

  int64_t clients() const { return clients_; }
  int fan_in() const { return fan_in_; }
  int root_level() const { return root_level_; }
  // The number of nodes at `level` (0..root_level).
  int64_t NodesAt(int level) const;
  // OK if `node` is a node of the tree with level >= 1 (a partial sum's node); otherwise
  // INVALID_ARGUMENT naming the tree's levels and sizes.
  absl::Status CheckSumNode(TreeNode node) const;
  // The clients the node covers: [Begin, End).
  int64_t Begin(TreeNode node) const;
  int64_t End(TreeNode node) const;

  // The maximal nodes whose clients are all in `ids` (ascending, no repeats), in ascending order:
  // `sums` gets those of level >= 1, `leaves` the ids under none of them.
  void Cover(absl::Span<const int64_t> ids, std::vector<TreeNode>* sums,
             std::vector<int64_t>* leaves) const;

  // The value of `top` (level >= 1) into *out (resized to `dim`). A node's value is `supplied`'s
  // when it returns non-null (a sum a host sent, a client's gradient), else the sum of its
  // children; a client not supplied is added by `add_leaf(i, acc)` (acc += ∇f_i). `scratch` holds
  // one vector per level, reused across calls.
  void Sum(TreeNode top, int64_t dim, absl::FunctionRef<const Vector*(TreeNode)> supplied,
           absl::FunctionRef<void(int64_t, Vector*)> add_leaf, std::vector<Vector>* scratch,
           Vector* out) const;
  TreeNode root() const { return TreeNode{root_level_, 0}; }

 private:
  void SumChildren(TreeNode node, int64_t dim, absl::FunctionRef<const Vector*(TreeNode)> supplied,
                   absl::FunctionRef<void(int64_t, Vector*)> add_leaf, std::vector<Vector>* scratch,
                   Vector* acc) const;

  int64_t clients_;
  int fan_in_;
  int root_level_;
  std::vector<int64_t> span_;  // F^l, saturated
};

}  // namespace ef21

#endif  // EF21_COMMON_RUN_GRADIENT_TREE_H_
