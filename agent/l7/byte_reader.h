// ByteReader: bounds-checked reads over untrusted bytes for binary protocol parsers. Every read
// reports failure instead of reading past the end; nothing allocates.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace flowscope::agent::l7 {

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ >= data_.size(); }
  std::string_view rest() const { return data_.substr(pos_); }

  bool Skip(size_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }
  bool U8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool U16Be(uint16_t* v) { return Be(v); }
  bool U32Be(uint32_t* v) { return Be(v); }
  bool U64Be(uint64_t* v) { return Be(v); }
  bool U16Le(uint16_t* v) { return Le(v); }
  bool U24Le(uint32_t* v) {
    if (remaining() < 3) return false;
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data() + pos_);
    *v = uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16);
    pos_ += 3;
    return true;
  }
  bool U32Le(uint32_t* v) { return Le(v); }
  bool U64Le(uint64_t* v) { return Le(v); }
  bool Bytes(size_t n, std::string_view* out) {
    if (n > remaining()) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Up to and excluding `delim`; the delimiter is consumed. False if absent.
  bool Until(char delim, std::string_view* out) {
    size_t at = data_.find(delim, pos_);
    if (at == std::string_view::npos) return false;
    *out = data_.substr(pos_, at - pos_);
    pos_ = at + 1;
    return true;
  }

 private:
  template <typename T>
  bool Be(T* v) {
    if (remaining() < sizeof(T)) return false;
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data() + pos_);
    T x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) x = static_cast<T>((x << 8) | p[i]);
    *v = x;
    pos_ += sizeof(T);
    return true;
  }
  template <typename T>
  bool Le(T* v) {
    if (remaining() < sizeof(T)) return false;
    const auto* p = reinterpret_cast<const uint8_t*>(data_.data() + pos_);
    T x = 0;
    for (size_t i = sizeof(T); i-- > 0;) x = static_cast<T>((x << 8) | p[i]);
    *v = x;
    pos_ += sizeof(T);
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace flowscope::agent::l7
