#include "common/base/json.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ef21 {

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<int>(ch));
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.17g", value);
}

void JsonObject::Add(const std::string& key, const std::string& value) {
  fields_.emplace_back(key, JsonQuote(value));
}
void JsonObject::Add(const std::string& key, double value) { fields_.emplace_back(key, JsonNumber(value)); }
void JsonObject::Add(const std::string& key, int64_t value) { fields_.emplace_back(key, absl::StrCat(value)); }
void JsonObject::Add(const std::string& key, bool value) { fields_.emplace_back(key, value ? "true" : "false"); }
void JsonObject::AddNull(const std::string& key) { fields_.emplace_back(key, "null"); }

std::string JsonObject::Render() const {
  std::string out = "{\n";
  for (size_t i = 0; i < fields_.size(); ++i) {
    absl::StrAppend(&out, "  ", JsonQuote(fields_[i].first), ": ", fields_[i].second,
                    i + 1 < fields_.size() ? ",\n" : "\n");
  }
  return out + "}\n";
}

}  // namespace ef21
