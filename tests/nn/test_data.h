// Small image data sets written by the nn tests: in memory, or as IDX / CIFAR-10 files in a
// temporary directory.
#ifndef EF21_TESTS_NN_TEST_DATA_H_
#define EF21_TESTS_NN_TEST_DATA_H_

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/base/rng.h"
#include "common/nn/image_dataset.h"

namespace ef21 {

// `count` random images of channels × side × side with labels in [0, classes).
inline ImageDataset RandomImages(int64_t count, int64_t channels, int64_t side, int64_t classes,
                                 uint64_t seed) {
  ImageDataset d;
  d.count = count;
  d.channels = channels;
  d.height = side;
  d.width = side;
  d.num_classes = classes;
  CounterRng rng(seed, Purpose::kSynthetic, 0, 0);
  d.pixels.resize(count * d.image_size());
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(rng.NextBelow(256));
  for (int64_t i = 0; i < count; ++i)
    d.labels.push_back(static_cast<int32_t>(rng.NextBelow(classes)));
  return d;
}

inline std::shared_ptr<const ImageData> RandomData(int64_t train, int64_t test, int64_t channels,
                                                   int64_t side, int64_t classes = 10) {
  auto data = std::make_shared<ImageData>();
  data->train = RandomImages(train, channels, side, classes, 1);
  data->test = RandomImages(test, channels, side, classes, 2);
  return data;
}

inline void Put32(std::string* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>((v >> s) & 0xff));
}

// The bytes of an IDX image file and a label file holding `d`.
inline std::string IdxImages(const ImageDataset& d) {
  std::string out;
  Put32(&out, 0x00000803);
  Put32(&out, static_cast<uint32_t>(d.count));
  Put32(&out, static_cast<uint32_t>(d.height));
  Put32(&out, static_cast<uint32_t>(d.width));
  out.append(reinterpret_cast<const char*>(d.pixels.data()), d.pixels.size());
  return out;
}
inline std::string IdxLabels(const ImageDataset& d) {
  std::string out;
  Put32(&out, 0x00000801);
  Put32(&out, static_cast<uint32_t>(d.count));
  for (int32_t l : d.labels) out.push_back(static_cast<char>(l));
  return out;
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
inline void WriteGz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// A fresh empty directory under the test's temporary directory.
inline std::string FreshDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(base != nullptr ? base : "/tmp") + "/ef21_nn_" + name + "_" +
                          std::to_string(::getpid());
  std::string command = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (std::system(command.c_str()) != 0) std::abort();
  return dir;
}

}  // namespace ef21

#endif  // EF21_TESTS_NN_TEST_DATA_H_
