// A minimal JSON object writer for config.json and summary.json: keys in insertion order,
// doubles printed with 17 significant digits so they round-trip, non-finite numbers as null.
#ifndef EF21_COMMON_BASE_JSON_H_
#define EF21_COMMON_BASE_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ef21 {

class JsonObject {
 public:
  void Add(const std::string& key, const std::string& value);
  void Add(const std::string& key, const char* value) { Add(key, std::string(value)); }
  void Add(const std::string& key, double value);
  void Add(const std::string& key, int64_t value);
  void Add(const std::string& key, int value) { Add(key, static_cast<int64_t>(value)); }
  void Add(const std::string& key, bool value);
  void AddNull(const std::string& key);

  // Pretty-printed with two-space indentation and a trailing newline.
  std::string Render() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string JsonQuote(const std::string& s);
// %.17g, or null when not finite.
std::string JsonNumber(double value);

}  // namespace ef21

#endif  // EF21_COMMON_BASE_JSON_H_
