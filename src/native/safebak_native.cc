// safebak_native: the Linux syscalls Node 20 does not expose (DESIGN §5).
//
// Every call that may sleep in the kernel (I/O, opens, clones, advice that
// can start writeback, statfs that can hang on NFS) runs as an AsyncWorker on
// the libuv pool and returns a Promise; calls that only touch a descriptor's
// flags are synchronous. A failed syscall rejects or throws an Error shaped
// like Node's own system errors: `code` ('EAGAIN'), `errno` (negative, as in
// Node), `syscall` and, where there is one, `path`.

#include <napi.h>
#include <uv.h>

#include "batch_io.h"

#include <fcntl.h>
#include <linux/fs.h>  // FICLONE
#include <sys/ioctl.h>
#include <sys/mman.h>  // memfd_create, MFD_*
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
// Older libc/kernel headers: the ABI is fixed by the kernel (5.6+).
struct open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

namespace {

// Node's own spelling of an errno ('ENOTSUP' for 95, as fs.copyFile reports),
// so callers can treat native and fs errors alike.
std::string ErrnoName(int err) {
  char buf[64];
  uv_err_name_r(-err, buf, sizeof buf);
  return buf;
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& path = "",
                       const std::string& reason = "") {
  std::string code = ErrnoName(err);
  // libc's wording: libuv calls ENOTSUP "operation not supported on socket".
  std::string text = reason;
  if (text.empty()) {
    char buf[128];
    text = strerror_r(err, buf, sizeof buf);  // the GNU variant (_GNU_SOURCE)
    if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  std::string message = code + ": " + text + ", " + syscall;
  if (!path.empty()) message += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, message);
  Napi::Object o = e.Value();
  o.Set("code", Napi::String::New(env, code));
  o.Set("errno", Napi::Number::New(env, -err));
  o.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) o.Set("path", Napi::String::New(env, path));
  return e;
}

// Runs a syscall expression, restarting it on EINTR: a lease break's SIGIO
// may land on any thread. Yields the result or -errno.
#define SYS(expr)                                  \
  ([&]() -> int64_t {                              \
    int64_t r_;                                    \
    do {                                           \
      r_ = static_cast<int64_t>(expr);             \
    } while (r_ < 0 && errno == EINTR);            \
    return r_ < 0 ? -static_cast<int64_t>(errno) : r_; \
  }())

// One blocking syscall (or a short sequence) on the libuv pool. `run` returns
// a non-negative result or -errno and may rename the syscall that failed.
class SyscallWorker : public Napi::AsyncWorker {
 public:
  using Run = std::function<int64_t(std::string& syscall)>;
  using Done = std::function<Napi::Value(Napi::Env, int64_t)>;

  SyscallWorker(Napi::Env env, std::string syscall, std::string path, Run run, Done done = nullptr)
      : Napi::AsyncWorker(env, "safebak_native"),
        deferred_(Napi::Promise::Deferred::New(env)),
        syscall_(std::move(syscall)),
        path_(std::move(path)),
        run_(std::move(run)),
        done_(std::move(done)) {}

  // Keeps a JS object (the target buffer) alive while the pool thread uses it.
  void Keep(Napi::Object object) { kept_ = Napi::Persistent(object); }

  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  void Execute() override { result_ = run_(syscall_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (result_ < 0) {
      deferred_.Reject(ErrnoError(env, static_cast<int>(-result_), syscall_, path_).Value());
    } else {
      deferred_.Resolve(done_ ? done_(env, result_) : Napi::Number::New(env, static_cast<double>(result_)));
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string syscall_;
  std::string path_;
  Run run_;
  Done done_;
  Napi::ObjectReference kept_;
  int64_t result_ = 0;
};

// ---- argument checks (TypeError/RangeError, like Node's validators) ----

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name, bool allowAtFdcwd = false) {
  if (!info[i].IsNumber()) ThrowType(info.Env(), std::string(name) + " must be a file descriptor");
  int64_t v = info[i].As<Napi::Number>().Int64Value();
  if (allowAtFdcwd && v == AT_FDCWD) return AT_FDCWD;
  if (v < 0 || v > INT32_MAX) throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a file descriptor");
  return static_cast<int>(v);
}

int64_t ArgUint(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) ThrowType(info.Env(), std::string(name) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a non-negative integer");
  }
  return static_cast<int64_t>(d);
}

// null/undefined → -1, meaning "use and advance the file position".
int64_t ArgOptOffset(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return -1;
  return ArgUint(info, i, name);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) ThrowType(info.Env(), std::string(name) + " must be a string");
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowType(info.Env(), std::string(name) + " must not contain NUL bytes");
  return s;
}

// ---- splice / tee / pipes ----

Napi::Value Splice(const Napi::CallbackInfo& info) {
  int fdIn = ArgFd(info, 0, "fdIn");
  int64_t offIn = ArgOptOffset(info, 1, "offIn");
  int fdOut = ArgFd(info, 2, "fdOut");
  int64_t offOut = ArgOptOffset(info, 3, "offOut");
  size_t len = static_cast<size_t>(ArgUint(info, 4, "len"));
  unsigned flags = info[5].IsUndefined() ? 0 : static_cast<unsigned>(ArgUint(info, 5, "flags"));
  auto* w = new SyscallWorker(info.Env(), "splice", "", [=](std::string&) {
    loff_t in = offIn, out = offOut;
    return SYS(splice(fdIn, offIn < 0 ? nullptr : &in, fdOut, offOut < 0 ? nullptr : &out, len, flags));
  });
  return w->Start();
}

Napi::Value Tee(const Napi::CallbackInfo& info) {
  int fdIn = ArgFd(info, 0, "fdIn");
  int fdOut = ArgFd(info, 1, "fdOut");
  size_t len = static_cast<size_t>(ArgUint(info, 2, "len"));
  unsigned flags = info[3].IsUndefined() ? 0 : static_cast<unsigned>(ArgUint(info, 3, "flags"));
  auto* w = new SyscallWorker(info.Env(), "tee", "", [=](std::string&) { return SYS(tee(fdIn, fdOut, len, flags)); });
  return w->Start();
}

Napi::Value Pipe2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int flags = O_CLOEXEC | (info[0].ToBoolean().Value() ? O_NONBLOCK : 0);
  int fds[2];
  if (pipe2(fds, flags) < 0) throw ErrnoError(env, errno, "pipe2");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Value SetPipeSize(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int64_t size = ArgUint(info, 1, "size");
  if (size > INT32_MAX) throw Napi::RangeError::New(info.Env(), "size is too large");
  int r = fcntl(fd, F_SETPIPE_SZ, static_cast<int>(size));
  if (r < 0) throw ErrnoError(info.Env(), errno, "fcntl(F_SETPIPE_SZ)");
  return Napi::Number::New(info.Env(), r);
}

Napi::Value GetPipeSize(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int r = fcntl(fd, F_GETPIPE_SZ);
  if (r < 0) throw ErrnoError(info.Env(), errno, "fcntl(F_GETPIPE_SZ)");
  return Napi::Number::New(info.Env(), r);
}

// procfs answers from memory, so a synchronous read is fine here.
Napi::Value PipeMaxSize(const Napi::CallbackInfo& info) {
  const char* path = "/proc/sys/fs/pipe-max-size";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "open", path);
  char buf[32] = {0};
  ssize_t n = SYS(read(fd, buf, sizeof buf - 1));
  close(fd);
  if (n < 0) throw ErrnoError(info.Env(), static_cast<int>(-n), "read", path);
  return Napi::Number::New(info.Env(), std::strtod(buf, nullptr));
}

Napi::Value Fionread(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int n = 0;
  if (ioctl(fd, FIONREAD, &n) < 0) throw ErrnoError(info.Env(), errno, "ioctl(FIONREAD)");
  return Napi::Number::New(info.Env(), n);
}

// ---- O_DIRECT ----

Napi::Value OpenDirect(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  auto* w = new SyscallWorker(info.Env(), "open", path, [path](std::string&) {
    return SYS(open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW));
  });
  return w->Start();
}

// O_DIRECT needs the user buffer aligned (Node Buffers are only 8-aligned).
// The default path hands posix_memalign'd memory to a Buffer whose finalizer
// frees it: the exact size, no slack. Builds that define
// NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED (Electron-style sandboxes) cannot wrap
// foreign memory, so there we over-allocate an ArrayBuffer by alignment - 1
// bytes and return an aligned Uint8Array view into it; an ArrayBuffer's
// backing store never moves, so the alignment holds for its lifetime. The JS
// wrapper turns either into a Buffer.
Napi::Value AllocAligned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t size = static_cast<size_t>(ArgUint(info, 0, "size"));
  size_t alignment = info[1].IsUndefined() ? 4096 : static_cast<size_t>(ArgUint(info, 1, "alignment"));
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) {
    throw Napi::RangeError::New(env, "alignment must be a power of two no smaller than a pointer");
  }
#ifndef NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED
  void* p = nullptr;
  int rc = posix_memalign(&p, alignment, size == 0 ? alignment : size);
  if (rc != 0) throw ErrnoError(env, rc, "posix_memalign");
  std::memset(p, 0, size);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(size));
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(p), size, [size](Napi::Env fenv, uint8_t* data) {
    std::free(data);
    Napi::MemoryManagement::AdjustExternalMemory(fenv, -static_cast<int64_t>(size));
  });
#else
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, size + alignment - 1);
  uintptr_t base = reinterpret_cast<uintptr_t>(ab.Data());
  size_t offset = (alignment - base % alignment) % alignment;
  return Napi::Uint8Array::New(env, size, ab, offset);
#endif
}

Napi::Value PreadDirect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  if (!info[1].IsTypedArray()) ThrowType(env, "buffer must be a Buffer or Uint8Array");
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  size_t length = static_cast<size_t>(ArgUint(info, 2, "length"));
  int64_t position = ArgUint(info, 3, "position");
  if (length > ta.ByteLength()) throw Napi::RangeError::New(env, "length exceeds the buffer");
  uint8_t* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  auto* w = new SyscallWorker(env, "pread", "", [=](std::string&) { return SYS(pread(fd, data, length, position)); });
  w->Keep(info[1].As<Napi::Object>());
  return w->Start();
}

// Turns O_DIRECT on or off on an open descriptor (F_SETFL): the archive file
// is written directly in aligned blocks and through the page cache elsewhere.
// Filesystems without direct I/O refuse with EINVAL.
Napi::Value SetDirect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  bool on = info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) throw ErrnoError(env, errno, "fcntl(F_GETFL)");
  int want = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
  if (want != flags && fcntl(fd, F_SETFL, want) < 0) throw ErrnoError(env, errno, "fcntl(F_SETFL)");
  return env.Undefined();
}

// ---- leases ----

Napi::Value SetLease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  std::string kind = ArgString(info, 1, "type");
  int type;
  if (kind == "read") type = F_RDLCK;
  else if (kind == "write") type = F_WRLCK;
  else if (kind == "unlock") type = F_UNLCK;
  else throw Napi::TypeError::New(env, "type must be 'read', 'write' or 'unlock'");
  if (fcntl(fd, F_SETLEASE, type) < 0) throw ErrnoError(env, errno, "fcntl(F_SETLEASE)");
  return env.Undefined();
}

Napi::Value GetLease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int r = fcntl(fd, F_GETLEASE);
  if (r < 0) throw ErrnoError(env, errno, "fcntl(F_GETLEASE)");
  return Napi::String::New(env, r == F_RDLCK ? "read" : r == F_WRLCK ? "write" : "none");
}

// ---- private images: O_TMPFILE, FICLONE, memfd ----

Napi::Value CloneToTmpfile(const Napi::CallbackInfo& info) {
  int src = ArgFd(info, 0, "srcFd");
  std::string dir = ArgString(info, 1, "dirPath");
  auto* w = new SyscallWorker(info.Env(), "open", dir, [src, dir](std::string& syscall) -> int64_t {
    int64_t fd = SYS(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (fd < 0) return fd;
    int64_t r = SYS(ioctl(static_cast<int>(fd), FICLONE, src));
    if (r < 0) {
      close(static_cast<int>(fd));
      syscall = "ioctl(FICLONE)";
      return r;
    }
    return fd;
  });
  return w->Start();
}

Napi::Value OpenTmpfile(const Napi::CallbackInfo& info) {
  std::string dir = ArgString(info, 0, "dirPath");
  auto* w = new SyscallWorker(info.Env(), "open", dir, [dir](std::string&) {
    return SYS(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  });
  return w->Start();
}

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name = ArgString(info, 0, "name");
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "memfd_create");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int64_t seals = ArgUint(info, 1, "seals");
  if (fcntl(fd, F_ADD_SEALS, static_cast<int>(seals)) < 0) throw ErrnoError(info.Env(), errno, "fcntl(F_ADD_SEALS)");
  return info.Env().Undefined();
}

Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0, "fd");
  int r = fcntl(fd, F_GET_SEALS);
  if (r < 0) throw ErrnoError(info.Env(), errno, "fcntl(F_GET_SEALS)");
  return Napi::Number::New(info.Env(), r);
}

// ---- advice, openat2, statfs ----

// Async because DONTNEED starts writeback and WILLNEED reads metadata.
Napi::Value Fadvise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int64_t offset = ArgUint(info, 1, "offset");
  int64_t len = ArgUint(info, 2, "len");
  std::string kind = ArgString(info, 3, "advice");
  int advice;
  if (kind == "dontneed") advice = POSIX_FADV_DONTNEED;
  else if (kind == "sequential") advice = POSIX_FADV_SEQUENTIAL;
  else if (kind == "willneed") advice = POSIX_FADV_WILLNEED;
  else if (kind == "noreuse") advice = POSIX_FADV_NOREUSE;
  else if (kind == "random") advice = POSIX_FADV_RANDOM;
  else if (kind == "normal") advice = POSIX_FADV_NORMAL;
  else throw Napi::TypeError::New(env, "unknown advice '" + kind + "'");
  auto* w = new SyscallWorker(env, "posix_fadvise", "", [=](std::string&) -> int64_t {
    // posix_fadvise returns the error number instead of setting errno.
    int rc = posix_fadvise(fd, offset, len, advice);
    return rc == 0 ? 0 : -static_cast<int64_t>(rc);
  }, [](Napi::Env e, int64_t) { return e.Undefined(); });
  return w->Start();
}

// Starts writeback of [offset, offset + len) without waiting for it: the
// archive's pages go to the disk while the rest is still being made, so the
// final fsync and the read-back find little left to write.
Napi::Value StartWriteback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int64_t offset = ArgUint(info, 1, "offset");
  int64_t len = ArgUint(info, 2, "len");
  auto* w = new SyscallWorker(env, "sync_file_range", "", [=](std::string&) -> int64_t {
    return SYS(sync_file_range(fd, offset, len, SYNC_FILE_RANGE_WRITE));
  }, [](Napi::Env e, int64_t) { return e.Undefined(); });
  return w->Start();
}

// Synchronous: the callers resolve names beneath a directory they already
// hold open, on local filesystems, to refuse escapes; O_CLOEXEC is forced so
// no descriptor leaks into a child.
Napi::Value Openat2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dirfd = ArgFd(info, 0, "dirfd", true);
  std::string path = ArgString(info, 1, "path");
  int64_t flags = ArgUint(info, 2, "flags");
  int64_t mode = info[3].IsUndefined() ? 0 : ArgUint(info, 3, "mode");
  int64_t resolve = info[4].IsUndefined() ? 0 : ArgUint(info, 4, "resolve");
  struct open_how how;
  std::memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  // openat2 refuses (EINVAL) a mode without O_CREAT/O_TMPFILE, unlike openat.
  bool creates = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
  how.mode = creates ? static_cast<uint64_t>(mode) : 0;
  how.resolve = static_cast<uint64_t>(resolve);
  int64_t fd = SYS(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
  if (fd < 0) {
    int err = static_cast<int>(-fd);
    throw ErrnoError(env, err, "openat2", path, err == ENOSYS ? "openat2 is not supported by this kernel (needs Linux 5.6+)" : "");
  }
  return Napi::Number::New(env, static_cast<double>(fd));
}

// Async: statfs on a dead NFS mount can hang for minutes.
Napi::Value StatfsType(const Napi::CallbackInfo& info) {
  std::string path = ArgString(info, 0, "path");
  auto* w = new SyscallWorker(info.Env(), "statfs", path, [path](std::string&) -> int64_t {
    struct statfs s;
    int64_t r = SYS(statfs(path.c_str(), &s));
    // f_type is a 32-bit magic stored in a signed long.
    return r < 0 ? r : static_cast<int64_t>(static_cast<uint32_t>(s.f_type));
  });
  return w->Start();
}

// ---- module ----

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, int64_t v) { c.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
  set("SPLICE_F_MOVE", SPLICE_F_MOVE);
  set("SPLICE_F_NONBLOCK", SPLICE_F_NONBLOCK);
  set("SPLICE_F_MORE", SPLICE_F_MORE);
  set("RESOLVE_BENEATH", RESOLVE_BENEATH);
  set("RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS);
  set("RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS);
  set("RESOLVE_NO_XDEV", RESOLVE_NO_XDEV);
  set("O_RDONLY", O_RDONLY);
  set("O_WRONLY", O_WRONLY);
  set("O_RDWR", O_RDWR);
  set("O_CREAT", O_CREAT);
  set("O_EXCL", O_EXCL);
  set("O_DIRECTORY", O_DIRECTORY);
  set("O_NOFOLLOW", O_NOFOLLOW);
  set("O_PATH", O_PATH);
  set("O_CLOEXEC", O_CLOEXEC);
  set("O_DIRECT", O_DIRECT);
  set("O_NONBLOCK", O_NONBLOCK);
  set("O_TMPFILE", O_TMPFILE);
  set("AT_FDCWD", AT_FDCWD);
  set("F_SEAL_SEAL", F_SEAL_SEAL);
  set("F_SEAL_SHRINK", F_SEAL_SHRINK);
  set("F_SEAL_GROW", F_SEAL_GROW);
  set("F_SEAL_WRITE", F_SEAL_WRITE);
  return c;
}

// utimensat(path, mtimeSec, mtimeNsec, nofollow): the exact nanosecond mtime
// (atime now). Node's utimes family goes through libuv, which keeps only
// microseconds. Synchronous: it only updates an inode already in cache.
Napi::Value Utimensat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  if (!info[1].IsNumber() || !info[2].IsNumber()) ThrowType(env, "mtimeSec and mtimeNsec must be numbers");
  int64_t sec = info[1].As<Napi::Number>().Int64Value();
  int64_t nsec = info[2].As<Napi::Number>().Int64Value();
  if (nsec < 0 || nsec > 999999999) throw Napi::RangeError::New(env, "mtimeNsec must be from 0 to 999999999");
  bool nofollow = info[3].ToBoolean().Value();
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_NOW;
  times[1].tv_sec = static_cast<time_t>(sec);
  times[1].tv_nsec = static_cast<long>(nsec);
  int64_t r = SYS(utimensat(AT_FDCWD, path.c_str(), times, nofollow ? AT_SYMLINK_NOFOLLOW : 0));
  if (r < 0) throw ErrnoError(env, static_cast<int>(-r), "utimensat", path);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("splice", Napi::Function::New(env, Splice, "splice"));
  exports.Set("tee", Napi::Function::New(env, Tee, "tee"));
  exports.Set("pipe2", Napi::Function::New(env, Pipe2, "pipe2"));
  exports.Set("setPipeSize", Napi::Function::New(env, SetPipeSize, "setPipeSize"));
  exports.Set("getPipeSize", Napi::Function::New(env, GetPipeSize, "getPipeSize"));
  exports.Set("pipeMaxSize", Napi::Function::New(env, PipeMaxSize, "pipeMaxSize"));
  exports.Set("fionread", Napi::Function::New(env, Fionread, "fionread"));
  exports.Set("openDirect", Napi::Function::New(env, OpenDirect, "openDirect"));
  exports.Set("allocAligned", Napi::Function::New(env, AllocAligned, "allocAligned"));
  exports.Set("preadDirect", Napi::Function::New(env, PreadDirect, "preadDirect"));
  exports.Set("setDirect", Napi::Function::New(env, SetDirect, "setDirect"));
  exports.Set("setLease", Napi::Function::New(env, SetLease, "setLease"));
  exports.Set("getLease", Napi::Function::New(env, GetLease, "getLease"));
  exports.Set("cloneToTmpfile", Napi::Function::New(env, CloneToTmpfile, "cloneToTmpfile"));
  exports.Set("openTmpfile", Napi::Function::New(env, OpenTmpfile, "openTmpfile"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("addSeals", Napi::Function::New(env, AddSeals, "addSeals"));
  exports.Set("getSeals", Napi::Function::New(env, GetSeals, "getSeals"));
  exports.Set("fadvise", Napi::Function::New(env, Fadvise, "fadvise"));
  exports.Set("startWriteback", Napi::Function::New(env, StartWriteback, "startWriteback"));
  exports.Set("openat2", Napi::Function::New(env, Openat2, "openat2"));
  exports.Set("statfsType", Napi::Function::New(env, StatfsType, "statfsType"));
  exports.Set("scanDir", Napi::Function::New(env, safebak::ScanDir, "scanDir"));
  exports.Set("readSmallFiles", Napi::Function::New(env, safebak::ReadSmallFiles, "readSmallFiles"));
  exports.Set("releaseEntries", Napi::Function::New(env, safebak::ReleaseEntries, "releaseEntries"));
  exports.Set("utimensat", Napi::Function::New(env, Utimensat, "utimensat"));
  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(safebak_native, Init)
