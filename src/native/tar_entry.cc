// Tar headers of regular files, encoded on the pool thread that reads the
// files: the batch then hands JS finished entries instead of a
// header to build per file. Every rule here mirrors src/archive/tar-header.ts,
// which stays the reference; test/native/native-header.test.ts compares the two.

#include "tar_entry.h"

#include <cstring>

namespace safebak {
namespace {

constexpr size_t BLOCK = 512;
constexpr int64_t MAX_OCTAL_8 = 07777777;
constexpr int64_t MAX_OCTAL_12 = 077777777777LL;

// ustar needs a name of ASCII (no NUL) bytes.
bool IsAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c == 0 || c >= 0x80) return false;
  }
  return true;
}

// (prefix, name) split as splitUstarName does; false when the name cannot fit.
bool SplitUstarName(const std::string& name, std::string* prefix, std::string* rest) {
  if (!IsAscii(name)) return false;
  size_t len = name.size();
  if (len <= 100) {
    prefix->clear();
    *rest = name;
    return true;
  }
  if (len > 256) return false;
  for (size_t i = len - 101; i < len; i++) {
    if (i > 0 && i <= 155 && name[i] == '/') {
      *prefix = name.substr(0, i);
      *rest = name.substr(i + 1);
      return true;
    }
  }
  return false;
}

// Every UTF-16 unit outside printable ASCII becomes '_', as the TS regex
// replacement does: one per 2- or 3-byte UTF-8 sequence, two per 4-byte one.
std::string Printable(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c >= 0x20 && c <= 0x7e ? static_cast<char>(c) : '_');
      i++;
    } else if (c >= 0xf0) {
      out += "__";
      i += 4;
    } else {
      out.push_back('_');
      i += c >= 0xe0 ? 3 : 2;
    }
  }
  return out;
}

std::string PaxHeaderName(const std::string& name) {
  size_t end = name.size();
  while (end > 0 && name[end - 1] == '/') end--;
  size_t slash = name.rfind('/', end == 0 ? 0 : end - 1);
  size_t begin = slash == std::string::npos || end == 0 ? 0 : slash + 1;
  std::string out = "PaxHeaders/" + Printable(name.substr(begin, end - begin));
  if (out.size() > 100) out.resize(100);
  return out;
}

std::string Digits(int64_t n) { return std::to_string(n); }

// "<len> key=value\n", len counting itself.
std::string PaxRecord(const std::string& key, const std::string& value) {
  std::string rest = " " + key + "=" + value + "\n";
  size_t len = rest.size() + Digits(static_cast<int64_t>(rest.size())).size();
  if (Digits(static_cast<int64_t>(len)).size() != Digits(static_cast<int64_t>(rest.size())).size()) {
    len = rest.size() + Digits(static_cast<int64_t>(len)).size();
  }
  return Digits(static_cast<int64_t>(len)) + rest;
}

// Nine digits of 0 <= ns < 1e9, trailing zeros dropped. Written by hand: snprintf,
// twice per small file, was over 1% of a create's CPU.
std::string Fraction(int64_t ns) {
  char buf[9];
  for (int i = 8; i >= 0; i--) {
    buf[i] = static_cast<char>('0' + ns % 10);
    ns /= 10;
  }
  size_t n = 9;
  while (n > 0 && buf[n - 1] == '0') n--;
  return std::string(buf, n);
}

// formatPaxTime: `sec.nsec`, trailing zeros dropped; before the epoch one negative decimal.
std::string PaxTime(int64_t sec, int64_t nsec) {
  if (nsec == 0) return Digits(sec);
  if (sec < 0) return "-" + Digits(-(sec + 1)) + "." + Fraction(1000000000 - nsec);
  return Digits(sec) + "." + Fraction(nsec);
}

int64_t ClampSeconds(int64_t sec) { return sec < 0 ? 0 : sec > MAX_OCTAL_12 ? MAX_OCTAL_12 : sec; }

void WriteOctal(char* block, size_t off, size_t len, int64_t value) {
  // The octal digits (what "%llo" prints), least significant first.
  char reversed[24];
  size_t count = 0;
  uint64_t v = static_cast<uint64_t>(value);
  do {
    reversed[count++] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  } while (v != 0);
  // padStart to the width, then at most `width` characters from the most significant, as the TS writer does.
  size_t width = len - 1;
  size_t pad = count < width ? width - count : 0;
  memset(block + off, '0', pad);
  for (size_t i = 0; pad + i < width; i++) block[off + pad + i] = reversed[count - 1 - i];
  block[off + len - 1] = 0;
}

void WriteChecksum(char* block) {
  memset(block + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < BLOCK; i++) sum += static_cast<unsigned char>(block[i]);
  WriteOctal(block, 148, 7, sum);  // six digits and a NUL
  block[155] = ' ';
}

struct Ustar {
  const std::string* name;
  uint32_t mode;
  int64_t uid;
  int64_t gid;
  uint64_t size;
  int64_t mtimeSec;
  char typeflag;
};

// One ustar block into the zero-filled `block`.
void EncodeUstar(const Ustar& h, char* block) {
  std::string prefix, rest;
  if (SplitUstarName(*h.name, &prefix, &rest)) {
    memcpy(block, rest.data(), rest.size());
    memcpy(block + 345, prefix.data(), prefix.size());
  } else {
    // The pax record carries the real name; the ustar field gets a printable stand-in (its last 100 characters).
    std::string s = Printable(*h.name);
    if (s.size() > 100) s.erase(0, s.size() - 100);
    memcpy(block, s.data(), s.size());
  }
  WriteOctal(block, 100, 8, h.mode & 07777);
  WriteOctal(block, 108, 8, h.uid >= 0 && h.uid <= MAX_OCTAL_8 ? h.uid : 0);
  WriteOctal(block, 116, 8, h.gid >= 0 && h.gid <= MAX_OCTAL_8 ? h.gid : 0);
  WriteOctal(block, 124, 12, static_cast<int64_t>(h.size));
  WriteOctal(block, 136, 12, ClampSeconds(h.mtimeSec));
  block[156] = h.typeflag;
  memcpy(block + 257, "ustar\0" "00", 8);
  WriteChecksum(block);
}

}  // namespace

FileHeader::FileHeader(const std::string& name, const struct stat& st) : name_(name) {
  mode_ = st.st_mode;
  uid_ = st.st_uid;
  gid_ = st.st_gid;
  // The nanoseconds as the packed stat carries them, floor-divided like splitTime.
  int64_t ns = static_cast<int64_t>(static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL + static_cast<uint64_t>(st.st_mtim.tv_nsec));
  mtimeSec_ = ns / 1000000000;
  mtimeNsec_ = ns % 1000000000;
  if (mtimeNsec_ < 0) {
    mtimeSec_ -= 1;
    mtimeNsec_ += 1000000000;
  }
  std::string prefix, rest;
  if (!SplitUstarName(name, &prefix, &rest)) pax_ += PaxRecord("path", name);
  if (uid_ > MAX_OCTAL_8 || uid_ < 0) pax_ += PaxRecord("uid", Digits(uid_));
  if (gid_ > MAX_OCTAL_8 || gid_ < 0) pax_ += PaxRecord("gid", Digits(gid_));
  if (mtimeNsec_ != 0 || mtimeSec_ < 0 || mtimeSec_ > MAX_OCTAL_12) pax_ += PaxRecord("mtime", PaxTime(mtimeSec_, mtimeNsec_));
  length_ = pax_.empty() ? BLOCK : BLOCK + Padded(pax_.size()) + BLOCK;
}

void FileHeader::Write(uint64_t size, char* out) const {
  memset(out, 0, length_);
  Ustar file{&name_, mode_, uid_, gid_, size, mtimeSec_, '0'};
  if (pax_.empty()) {
    EncodeUstar(file, out);
    return;
  }
  std::string paxName = PaxHeaderName(name_);
  memcpy(out + BLOCK, pax_.data(), pax_.size());
  EncodeUstar(Ustar{&paxName, 0644, 0, 0, pax_.size(), ClampSeconds(mtimeSec_), 'x'}, out);
  EncodeUstar(file, out + BLOCK + Padded(pax_.size()));
}

}  // namespace safebak
