#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace safebak {

// Rounds a length up to whole 512-byte tar blocks.
inline size_t Padded(size_t n) { return (n + 511) / 512 * 512; }

// The header blocks of a regular file's tar entry, byte for byte what
// src/archive/tar-header.ts writes for describeEntry(name, 'file', st, size):
// a pax extended header first when the name, ids or mtime need one.
class FileHeader {
 public:
  FileHeader(const std::string& name, const struct stat& st);

  // Bytes of header blocks: 512, or more with a pax header.
  size_t Length() const { return length_; }

  // Writes the header blocks for `size` data bytes (below 8 GiB: no pax size
  // record, which the callers' 1 GiB limit rules out) into `out`, which must hold Length() bytes.
  void Write(uint64_t size, char* out) const;

 private:
  const std::string& name_;
  uint32_t mode_;
  int64_t uid_;
  int64_t gid_;
  int64_t mtimeSec_;
  int64_t mtimeNsec_;
  bool namePax_;
  std::string pax_;  // the pax records, empty when none is needed
  size_t length_;
};

}  // namespace safebak
