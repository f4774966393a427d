// The diagnostic gradients' summation tree (common/run/gradient_tree.h): every client is covered
// once, the nodes are maximal, and the sum has the same bits however the clients are spread over
// hosts that send subtree sums.
#include "common/run/gradient_tree.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/run/round_metrics.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

bool SameBits(const Vector& a, const Vector& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

// Gradients whose sums depend on the order: magnitudes from 1e-8 to 1e8, both signs.
std::vector<Vector> Gradients(int64_t n, int64_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-8, 8);
  std::vector<Vector> g(n, Vector(d));
  for (Vector& v : g) {
    for (int64_t j = 0; j < d; ++j) v[j] = unit(rng) * std::pow(10.0, exponent(rng));
  }
  return g;
}

Vector TreeSum(const GradientTree& tree, const std::vector<Vector>& g,
               const std::vector<NodeSum>& sums) {
  std::vector<Vector> scratch;
  Vector out;
  tree.Sum(
      tree.root(), g[0].size(),
      [&](TreeNode node) -> const Vector* {
        for (const NodeSum& s : sums) {
          if (s.node == node) return s.value;
        }
        return nullptr;
      },
      [&](int64_t i, Vector* acc) { AddGradient(g[i], acc); }, &scratch, &out);
  return out;
}

TEST(GradientTreeTest, LevelsAndNodeRanges) {
  const GradientTree tree(1605);    // a1a's clients
  EXPECT_EQ(tree.root_level(), 3);  // 32^2 = 1024 < 1605 <= 32^3
  EXPECT_EQ(tree.NodesAt(0), 1605);
  EXPECT_EQ(tree.NodesAt(1), 51);
  EXPECT_EQ(tree.NodesAt(2), 2);
  EXPECT_EQ(tree.Begin({2, 1}), 1024);
  EXPECT_EQ(tree.End({2, 1}), 1605);  // clipped to n
  EXPECT_TRUE(tree.CheckSumNode({3, 0}).ok());
  EXPECT_TRUE(tree.CheckSumNode({1, 50}).ok());
  EXPECT_FALSE(tree.CheckSumNode({1, 51}).ok());
  EXPECT_FALSE(tree.CheckSumNode({0, 3}).ok());  // a client's gradient is no sum
  EXPECT_FALSE(tree.CheckSumNode({4, 0}).ok());
  EXPECT_FALSE(tree.CheckSumNode({1, -1}).ok());
  EXPECT_EQ(GradientTree(1).root_level(), 1);  // the root is a sum even of one client
  EXPECT_EQ(GradientTree(32).root_level(), 1);
  EXPECT_EQ(GradientTree(33).root_level(), 2);
}

TEST(GradientTreeTest, CoverTakesEachIdOnceInMaximalNodes) {
  const GradientTree tree(13, /*fan_in=*/2);
  std::vector<TreeNode> sums;
  std::vector<int64_t> leaves;
  // Clients 0 and 3..12: 0 and 3 alone, [4, 8) is node (2, 1), and [8, 13) — node (3, 1),
  // clipped to n — is held whole.
  tree.Cover({0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, &sums, &leaves);
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0], (TreeNode{2, 1}));  // [4, 8)
  EXPECT_EQ(sums[1], (TreeNode{3, 1}));  // [8, 13)
  EXPECT_EQ(leaves, (std::vector<int64_t>{0, 3}));
  // Everything: the root.
  std::vector<int64_t> all(13);
  for (int64_t i = 0; i < 13; ++i) all[i] = i;
  tree.Cover(all, &sums, &leaves);
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0], tree.root());
  EXPECT_TRUE(leaves.empty());
}

TEST(GradientTreeTest, SameBitsHoweverTheClientsAreSpreadOverHosts) {
  const int64_t n = 203, d = 7;
  const std::vector<Vector> g = Gradients(n, d, 11);
  for (int fan_in : {2, 3, 32}) {
    const GradientTree tree(n, fan_in);
    const Vector reference = TreeSum(tree, g, {});
    std::mt19937_64 rng(fan_in);
    for (int trial = 0; trial < 50; ++trial) {
      // Each client goes to one of `hosts` hosts, in contiguous blocks or scattered.
      const int hosts = 1 + static_cast<int>(rng() % 6);
      std::vector<std::vector<int64_t>> held(hosts);
      const bool blocks = trial % 2 == 0;
      for (int64_t i = 0; i < n; ++i) {
        held[blocks ? i * hosts / n : rng() % hosts].push_back(i);
      }
      std::vector<Vector> values;
      std::vector<TreeNode> nodes;
      values.reserve(n);
      for (const std::vector<int64_t>& ids : held) {
        std::vector<TreeNode> sums;
        std::vector<int64_t> leaves;
        tree.Cover(ids, &sums, &leaves);
        for (TreeNode node : sums) {
          // The host sums the node from its own clients' gradients.
          std::vector<Vector> scratch;
          Vector value;
          tree.Sum(
              node, d,
              [&](TreeNode child) -> const Vector* {
                return child.level == 0 ? &g[child.index] : nullptr;
              },
              [](int64_t, Vector*) { ADD_FAILURE() << "a client under a sum is not held"; },
              &scratch, &value);
          values.push_back(value);
          nodes.push_back(node);
        }
      }
      std::vector<NodeSum> sums;
      for (size_t k = 0; k < nodes.size(); ++k) sums.push_back({nodes[k], &values[k]});
      EXPECT_TRUE(SameBits(TreeSum(tree, g, sums), reference))
          << "fan-in " << fan_in << ", trial " << trial << ", " << hosts << " hosts";
    }
  }
}

TEST(GradientTreeTest, OrderMattersSoTheTreeIsNotTheAscendingSumAboveTheFanIn) {
  // Below the fan-in the tree is the plain ascending sum; above, the bits differ somewhere, which
  // is why every summing party must use the tree.
  const std::vector<Vector> g = Gradients(200, 50, 5);
  Vector ascending = Vector::Zero(50);
  for (const Vector& v : g) AddGradient(v, &ascending);
  EXPECT_FALSE(SameBits(TreeSum(GradientTree(200), g, {}), ascending));
  const std::vector<Vector> few(g.begin(), g.begin() + 32);
  Vector few_ascending = Vector::Zero(50);
  for (const Vector& v : few) AddGradient(v, &few_ascending);
  EXPECT_TRUE(SameBits(TreeSum(GradientTree(32), few, {}), few_ascending));
}

}  // namespace
}  // namespace ef21
