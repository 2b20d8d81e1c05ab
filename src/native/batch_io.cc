// Batched filesystem work (DESIGN §5): an awaited fs call costs tens
// of microseconds of event-loop time in Node, so a walk and a small-file read
// that took a dozen calls per file would dominate a tree of small files.
// These two calls do the whole per-file sequence on a pool thread:
//
//   scanDir(path)  → every entry of a directory, sorted by name bytes, each
//                    lstat'ed (and readlink'ed for symlinks) relative to an
//                    O_DIRECTORY|O_NOFOLLOW descriptor;
//   readSmallFiles(paths, names, maxBytes, options)
//                  → for each path: open (O_NOFOLLOW|O_NONBLOCK), fstat, an
//                    optional read lease, read whole, fstat again, the lease
//                    re-checked, an optional content re-read (the lease
//                    dropped first), close, SHA-256 of the bytes read, lstat
//                    the path again;
//                    each file read comes back as a finished tar entry under
//                    its name (header, data, padding), all in one buffer. The
//                    caller judges the stability from the two stats and the flags.
//
// Stats come back packed in one BigInt64Array (STAT_FIELDS per stat) so that
// a batch costs a handful of JS allocations, not dozens per file.

#include "batch_io.h"
#include "tar_entry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <uv.h>

namespace safebak {
namespace {

constexpr int STAT_FIELDS = 10;  // dev ino mode nlink uid gid rdev size mtimeNs ctimeNs
constexpr int FLAG_FIELDS = 7;

void PackStat(const struct stat& st, int64_t* out) {
  out[0] = static_cast<int64_t>(st.st_dev);
  out[1] = static_cast<int64_t>(st.st_ino);
  out[2] = st.st_mode;
  out[3] = static_cast<int64_t>(st.st_nlink);
  out[4] = st.st_uid;
  out[5] = st.st_gid;
  out[6] = static_cast<int64_t>(st.st_rdev);
  out[7] = st.st_size;
  out[8] = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  out[9] = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec;
}

std::string ErrName(int err) {
  char buf[64];
  uv_err_name_r(-err, buf, sizeof buf);
  return buf;
}

template <typename F>
int64_t Retry(F f) {
  int64_t r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (int k = 1; k < len; k++) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    // Overlong encodings and surrogates do not round-trip through JS strings either.
    if (len == 2 && c < 0xc2) return false;
    if (len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0)) return false;
    }
    if (len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xf0 && c1 < 0x90) || c > 0xf4 || (c == 0xf4 && c1 >= 0x90)) return false;
    }
    i += len;
  }
  return true;
}

// ---- scanDir ----

struct DirEntry {
  std::string name;
  int err = 0;  // lstat/readlink errno, 0 when fine
  struct stat st {};
  std::string link;
  bool hasLink = false;
};

class ScanDirWorker : public Napi::AsyncWorker {
 public:
  ScanDirWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env, "safebak_scanDir"), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}

  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override {
    int dfd = static_cast<int>(Retry([&] { return open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }));
    if (dfd < 0) {
      err_ = errno;
      syscall_ = "open";
      return;
    }
    DIR* dir = fdopendir(dfd);
    if (dir == nullptr) {
      err_ = errno;
      syscall_ = "fdopendir";
      close(dfd);
      return;
    }
    for (;;) {
      errno = 0;
      struct dirent* d = readdir(dir);
      if (d == nullptr) {
        if (errno != 0) {
          err_ = errno;
          syscall_ = "readdir";
        }
        break;
      }
      if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
      DirEntry e;
      e.name = d->d_name;
      entries_.push_back(std::move(e));
    }
    if (err_ == 0) {
      // Byte order, the same in every locale: the walk's deterministic order.
      std::sort(entries_.begin(), entries_.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
      for (DirEntry& e : entries_) {
        if (Retry([&] { return fstatat(dfd, e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW); }) < 0) {
          e.err = errno;
          continue;
        }
        if (S_ISLNK(e.st.st_mode)) {
          std::vector<char> buf(static_cast<size_t>(e.st.st_size > 0 ? e.st.st_size : 255) + 1);
          for (;;) {
            ssize_t n = readlinkat(dfd, e.name.c_str(), buf.data(), buf.size());
            if (n < 0) {
              e.err = errno;
              break;
            }
            if (static_cast<size_t>(n) < buf.size()) {
              e.link.assign(buf.data(), static_cast<size_t>(n));
              e.hasLink = true;
              break;
            }
            buf.resize(buf.size() * 2);
          }
        }
      }
    }
    closedir(dir);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (err_ != 0) {
      Napi::Error e = Napi::Error::New(env, ErrName(err_) + ": " + strerror(err_) + ", " + syscall_ + " '" + path_ + "'");
      e.Value().Set("code", Napi::String::New(env, ErrName(err_)));
      e.Value().Set("errno", Napi::Number::New(env, -err_));
      e.Value().Set("syscall", Napi::String::New(env, syscall_));
      e.Value().Set("path", Napi::String::New(env, path_));
      deferred_.Reject(e.Value());
      return;
    }
    // Packed for a cheap crossing: every name in one NUL-joined string, the
    // per-entry numbers in typed arrays, symlink targets in a dense array in
    // entry order. (Sparse JS arrays filled element by element from C++ are
    // slow to read back: a directory of thousands of entries showed it.)
    size_t n = entries_.size();
    std::string joined;
    Napi::Int32Array flags = Napi::Int32Array::New(env, n * 2);  // errno, bits: 1 name not UTF-8, 2 link not UTF-8
    Napi::BigInt64Array stats = Napi::BigInt64Array::New(env, n * STAT_FIELDS);
    std::vector<size_t> linked;
    for (size_t i = 0; i < n; i++) {
      const DirEntry& e = entries_[i];
      if (i > 0) joined.push_back('\0');
      joined += e.name;
      int32_t bits = ValidUtf8(e.name) ? 0 : 1;
      if (e.hasLink) {
        linked.push_back(i);
        if (!ValidUtf8(e.link)) bits |= 2;
      }
      flags.Data()[i * 2] = e.err;
      flags.Data()[i * 2 + 1] = bits;
      if (e.err == 0) PackStat(e.st, stats.Data() + i * STAT_FIELDS);
    }
    Napi::Array links = Napi::Array::New(env, linked.size());
    for (size_t k = 0; k < linked.size(); k++) links.Set(static_cast<uint32_t>(k), Napi::String::New(env, entries_[linked[k]].link));
    Napi::Object result = Napi::Object::New(env);
    result.Set("count", Napi::Number::New(env, static_cast<double>(n)));
    result.Set("names", Napi::String::New(env, joined));
    result.Set("flags", flags);
    result.Set("links", links);
    result.Set("stats", stats);
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  std::vector<DirEntry> entries_;
  int err_ = 0;
  std::string syscall_;
};

// ---- readSmallFiles ----

enum LeaseState : int32_t { kLeaseNone = 0, kLeaseHeld = 1, kLeaseRefused = 2, kLeaseBroken = 3 };
enum PathState : int32_t { kPathSame = 0, kPathVanished = 1, kPathOther = 2 };
enum Recheck : int32_t { kRecheckNone = 0, kRecheckSame = 1, kRecheckDiffers = 2 };

struct SmallFile {
  std::string path;
  std::string name;  // the archive name its header carries
  int err = 0;
  const char* syscall = "";
  bool notRegular = false;
  bool tooLarge = false;
  size_t entryStart = 0;  // where its tar entry begins in the batch's buffer
  size_t headerLength = 0;
  size_t length = 0;  // data bytes read
  struct stat before {};
  struct stat after {};
  int32_t lease = kLeaseNone;
  int32_t pathState = kPathSame;
  int32_t recheck = kRecheckNone;
  unsigned char sha256[32] = {};
};

// Reads until `len` bytes or end of file; -1 with errno on a read error.
// A read that ends exactly at `expected` (the size fstat gave) stops there:
// asking again only to be told "end of file" cost a syscall per file, and
// growth past `expected` changes the size the fstat after the read compares.
ssize_t ReadFull(int fd, char* buf, size_t len, size_t expected) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == expected) break;
  }
  return static_cast<ssize_t>(got);
}

// Bits of what stability.ts's metadataChanges compares: 1 inode or device, 2 size, 4 mtime, 8 ctime.
int32_t ChangedFields(const struct stat& a, const struct stat& b) {
  int32_t bits = 0;
  if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) bits |= 1;
  if (a.st_size != b.st_size) bits |= 2;
  if (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec) bits |= 4;
  if (a.st_ctim.tv_sec != b.st_ctim.tv_sec || a.st_ctim.tv_nsec != b.st_ctim.tv_nsec) bits |= 8;
  return bits;
}

// Batch buffers whose JS Buffer the garbage collector has let go, kept for
// the next batches: a fresh buffer of a few hundred KiB costs a page fault
// per 4 KiB on first touch, a reused one nothing. About as many as there are
// batches in flight at once (a few walk batches of a few native batches).
class BufferPool {
 public:
  struct Block {
    char* data;
    size_t capacity;
  };

  // The largest free block, or an empty one.
  Block Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) return {nullptr, 0};
    auto best = std::max_element(free_.begin(), free_.end(), [](const Block& a, const Block& b) { return a.capacity < b.capacity; });
    Block b = *best;
    free_.erase(best);
    return b;
  }

  void Give(Block b) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (free_.size() < kKeep) {
        free_.push_back(b);
        return;
      }
    }
    free(b.data);
  }

 private:
  static constexpr size_t kKeep = 8;
  std::mutex mutex_;
  std::vector<Block> free_;
};

BufferPool& Pool() {
  static BufferPool* pool = new BufferPool();  // never destroyed: finalizers may run during exit
  return *pool;
}

class ReadSmallFilesWorker : public Napi::AsyncWorker {
 public:
  ReadSmallFilesWorker(Napi::Env env, std::vector<std::string> paths, std::vector<std::string> names, size_t maxBytes, bool lease, bool paranoid,
                       int64_t recentNs)
      : Napi::AsyncWorker(env, "safebak_readSmallFiles"),
        deferred_(Napi::Promise::Deferred::New(env)),
        maxBytes_(maxBytes),
        lease_(lease),
        paranoid_(paranoid),
        recentNs_(recentNs) {
    files_.resize(paths.size());
    for (size_t i = 0; i < paths.size(); i++) {
      files_[i].path = std::move(paths[i]);
      files_[i].name = std::move(names[i]);
    }
  }

  ~ReadSmallFilesWorker() override {
    if (buf_ != nullptr) Pool().Give({buf_, cap_});
  }

  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override {
    BufferPool::Block b = Pool().Take();
    buf_ = b.data;
    cap_ = b.capacity;
    uid_t euid = geteuid();
    for (SmallFile& f : files_) ReadOne(f, euid);
  }

  // Room for `more` bytes past the entries so far; false when memory ran out.
  bool Reserve(size_t more) {
    if (used_ + more <= cap_) return true;
    size_t cap = cap_ == 0 ? 256 * 1024 : cap_;
    while (cap < used_ + more) cap *= 2;
    char* grown = static_cast<char*>(realloc(buf_, cap));
    if (grown == nullptr) return false;
    buf_ = grown;
    cap_ = cap;
    return true;
  }

  void ReadOne(SmallFile& f, uid_t euid) {
    int fd = static_cast<int>(Retry([&] { return open(f.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); }));
    if (fd < 0) {
      f.err = errno;
      f.syscall = "open";
      return;
    }
    if (fstat(fd, &f.before) < 0) {
      f.err = errno;
      f.syscall = "fstat";
      close(fd);
      return;
    }
    if (!S_ISREG(f.before.st_mode)) {
      f.notRegular = true;
      close(fd);
      return;
    }
    if (static_cast<uint64_t>(f.before.st_size) > maxBytes_) {
      f.tooLarge = true;
      close(fd);
      return;
    }
    // A read lease catches a writer opening the file during the read; refused
    // means someone already has it open for writing (DESIGN §6).
    if (lease_ && (euid == 0 || f.before.st_uid == euid)) {
      if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) f.lease = kLeaseHeld;
      else if (errno == EAGAIN) f.lease = kLeaseRefused;
    }
    // The entry is built in place: header blocks, then the data read straight
    // behind them, then the padding. The header depends only on the name and
    // the first fstat (and the length read, which fits its size field).
    FileHeader header(f.name, f.before);
    size_t want = static_cast<size_t>(f.before.st_size) + 1;  // one more byte shows growth
    char* data = nullptr;
    ssize_t got = -1;
    if (Reserve(header.Length() + Padded(want))) {
      data = buf_ + used_ + header.Length();
      got = ReadFull(fd, data, want, want - 1);
    } else {
      errno = ENOMEM;
    }
    if (got < 0) {
      f.err = errno;
      f.syscall = "read";
    } else {
      f.length = static_cast<size_t>(got);
    }
    fstat(fd, &f.after);
    if (f.lease == kLeaseHeld) {
      // A break leaves the lease being downgraded or gone: either way, a writer came.
      int now = fcntl(fd, F_GETLEASE);
      if (now != F_RDLCK) f.lease = kLeaseBroken;
    }
    // Size, mtime or ctime moved between the two fstats (of one descriptor: inode and device cannot), or a short or long read.
    bool moved = f.err == 0 && ((ChangedFields(f.before, f.after) & (2 | 4 | 8)) != 0 || f.length != want - 1);
    if (f.err == 0 && !moved && f.lease != kLeaseBroken && (paranoid_ || f.lease != kLeaseHeld || Recent(f.after))) {
      // Only a second read sees a store to an already-dirty mmap'd page or a write inside one timestamp
      // tick: it is made for a file that was recently modified, hot, or not watched by a lease.
      // A writer that comes meanwhile need not wait for it: the lease goes first.
      if (f.lease == kLeaseHeld) fcntl(fd, F_SETLEASE, F_UNLCK);
      if (again_.size() < want) again_.resize(want);
      ssize_t n = ReadFull(fd, again_.data(), want, want - 1);
      f.recheck = n == static_cast<ssize_t>(f.length) && memcmp(again_.data(), data, f.length) == 0 ? kRecheckSame : kRecheckDiffers;
      fstat(fd, &f.after);
    }
    // Closing drops a lease still held (it belongs to this open file description): no F_UNLCK of its own.
    close(fd);
    // Hashed here, on the pool thread, over the very bytes of the entry: small
    // files' hashing then runs beside the main thread instead of on it.
    if (f.err == 0) {
      unsigned int mdlen = 0;
      if (EVP_Digest(data, f.length, f.sha256, &mdlen, EVP_sha256(), nullptr) != 1 || mdlen != 32) {
        f.err = EIO;
        f.syscall = "sha256";
      }
    }
    if (f.err == 0) {
      header.Write(f.length, buf_ + used_);
      memset(data + f.length, 0, Padded(f.length) - f.length);
      f.entryStart = used_;
      f.headerLength = header.Length();
      used_ += header.Length() + Padded(f.length);
    }
    struct stat now {};
    if (lstat(f.path.c_str(), &now) < 0) f.pathState = kPathVanished;
    else if (now.st_ino != f.before.st_ino || now.st_dev != f.before.st_dev) f.pathState = kPathOther;
  }

  bool Recent(const struct stat& st) const {
    struct timespec ts {};
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
    int64_t m = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    int64_t c = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec;
    return now - m < recentNs_ || now - c < recentNs_;
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    size_t n = files_.size();
    // The entries were built in one buffer, which JS now takes over without a
    // copy: one allocation per batch, nothing per file.
    Napi::Buffer<char> entries;
    if (buf_ == nullptr) {
      entries = Napi::Buffer<char>::New(env, 0);
    } else {
      auto* block = new BufferPool::Block{buf_, cap_};
      entries = Napi::Buffer<char>::NewOrCopy(
          env, buf_, used_,
          [](Napi::Env, char*, BufferPool::Block* b) {
            Pool().Give(*b);
            delete b;
          },
          block);
      buf_ = nullptr;
    }
    Napi::Buffer<unsigned char> digests = Napi::Buffer<unsigned char>::New(env, n * 32);
    // Per file: where its entry starts, its header's length, the data bytes read, the size the first fstat saw.
    Napi::Float64Array spans = Napi::Float64Array::New(env, n * 4);
    // Per file: kind (0 read, 1 not regular, 2 too large), lease, path, recheck, errno, syscall (0 open, 1 fstat, 2 read),
    // and which of the stability fields moved between the two fstats (ChangedFields): JS then
    // compares the packed stats, and builds the reasons, only for a file that moved.
    Napi::Int32Array flags = Napi::Int32Array::New(env, n * FLAG_FIELDS);
    Napi::BigInt64Array stats = Napi::BigInt64Array::New(env, n * STAT_FIELDS * 2);
    for (size_t i = 0; i < n; i++) {
      SmallFile& f = files_[i];
      int32_t* fl = flags.Data() + i * FLAG_FIELDS;
      fl[0] = f.notRegular ? 1 : f.tooLarge ? 2 : 0;
      fl[1] = f.lease;
      fl[2] = f.pathState;
      fl[3] = f.recheck;
      fl[4] = f.err;
      fl[5] = strcmp(f.syscall, "fstat") == 0 ? 1 : strcmp(f.syscall, "read") == 0 ? 2 : strcmp(f.syscall, "sha256") == 0 ? 3 : 0;
      fl[6] = ChangedFields(f.before, f.after);
      memcpy(digests.Data() + i * 32, f.sha256, 32);
      spans.Data()[i * 4] = static_cast<double>(f.entryStart);
      spans.Data()[i * 4 + 1] = static_cast<double>(f.headerLength);
      spans.Data()[i * 4 + 2] = static_cast<double>(f.err == 0 ? f.length : 0);
      spans.Data()[i * 4 + 3] = static_cast<double>(f.before.st_size);
      PackStat(f.before, stats.Data() + i * STAT_FIELDS * 2);
      PackStat(f.after, stats.Data() + i * STAT_FIELDS * 2 + STAT_FIELDS);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("entries", entries);
    result.Set("spans", spans);
    result.Set("digests", digests);
    result.Set("flags", flags);
    result.Set("stats", stats);
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<SmallFile> files_;
  size_t maxBytes_;
  bool lease_;
  bool paranoid_;
  int64_t recentNs_;
  char* buf_ = nullptr;
  size_t cap_ = 0;
  size_t used_ = 0;
  std::vector<char> again_;  // the content re-read, reused across the batch
};

std::string PathArg(const Napi::Value& v, Napi::Env env) {
  if (!v.IsString()) throw Napi::TypeError::New(env, "path must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "path must not contain NUL bytes");
  return s;
}

}  // namespace

Napi::Value ScanDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return (new ScanDirWorker(env, PathArg(info[0], env)))->Start();
}

// Splits "a\0b\0c" into `count` strings; throws unless there are exactly that many.
std::vector<std::string> SplitJoined(const Napi::Value& v, size_t count, const char* what, Napi::Env env) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string");
  std::string joined = v.As<Napi::String>().Utf8Value();
  std::vector<std::string> out;
  out.reserve(count);
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    size_t end = joined.find('\0', at);
    if ((end == std::string::npos) != (i + 1 == count)) throw Napi::RangeError::New(env, std::string(what) + " must hold one name per file");
    if (end == std::string::npos) end = joined.size();
    out.emplace_back(joined, at, end - at);
    at = end + 1;
  }
  if (count == 0 && !joined.empty()) throw Napi::RangeError::New(env, std::string(what) + " must hold one name per file");
  return out;
}

// readSmallFiles(count: number, paths: string, names: string, maxBytes: number, lease: boolean, paranoid: boolean, recentNs: number)
// `paths` and `names` each hold `count` strings joined by NUL (which no path or
// archive name contains): two string crossings per batch instead of two per file.
Napi::Value ReadSmallFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "count must be a number");
  double count = info[0].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count > 1e6 || count != static_cast<double>(static_cast<size_t>(count))) throw Napi::RangeError::New(env, "bad count");
  std::vector<std::string> paths = SplitJoined(info[1], static_cast<size_t>(count), "paths", env);
  std::vector<std::string> names = SplitJoined(info[2], static_cast<size_t>(count), "names", env);
  if (!info[3].IsNumber()) throw Napi::TypeError::New(env, "maxBytes must be a number");
  double max = info[3].As<Napi::Number>().DoubleValue();
  // The limit also keeps entries clear of the pax size record (8 GiB), which FileHeader does not write.
  if (!(max >= 0) || max > 1073741824.0) throw Napi::RangeError::New(env, "maxBytes must be from 0 to 1 GiB");
  bool lease = info[4].ToBoolean().Value();
  bool paranoid = info[5].ToBoolean().Value();
  int64_t recentNs = info[6].IsNumber() ? info[6].As<Napi::Number>().Int64Value() : 0;
  return (new ReadSmallFilesWorker(env, std::move(paths), std::move(names), static_cast<size_t>(max), lease, paranoid, recentNs))->Start();
}

// releaseEntries(entries: Buffer): detaches a batch's buffer, whose memory
// then goes back to the pool at once instead of whenever the garbage
// collector finds it. Every view of it reads as empty afterwards.
Napi::Value ReleaseEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "entries must be a Buffer");
  Napi::ArrayBuffer ab = info[0].As<Napi::Uint8Array>().ArrayBuffer();
  if (!ab.IsDetached()) ab.Detach();
  return env.Undefined();
}

}  // namespace safebak
