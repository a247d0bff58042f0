#pragma once
// A whole file mapped read-only (mmap), owned and move-only: the shared base of the safetensors and
// GGUF readers. Errors name the file and what it was expected to be.
#include <cstdint>
#include <string>

namespace ghostkv {

class MappedFile {
 public:
  MappedFile() = default;
  // Maps `path`. Error when it cannot be opened ("cannot open <what>: <errno text>"), is not a regular
  // file, is shorter than min_bytes (the message is `path: too_short`, with the size prepended where
  // too_short contains "{}"), or cannot be mapped.
  MappedFile(const std::string& path, const std::string& what, int64_t min_bytes, const std::string& too_short);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(map_); }
  int64_t size() const { return bytes_; }

 private:
  void release();
  void* map_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace ghostkv
