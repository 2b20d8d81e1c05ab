// Batched filesystem work: one trip to the libuv pool for many files.
#pragma once
#include <napi.h>

namespace safebak {
Napi::Value ScanDir(const Napi::CallbackInfo& info);
Napi::Value ReadSmallFiles(const Napi::CallbackInfo& info);
Napi::Value ReleaseEntries(const Napi::CallbackInfo& info);
}  // namespace safebak
