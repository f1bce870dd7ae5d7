// Helpers shared by the libFuzzer targets in fuzz/native.
//
// The core reports bad input by throwing tfbundle::Error; that is the expected outcome of most
// inputs, so a target swallows it. Anything else is a finding: another exception escapes to
// libFuzzer (which reports it as a crash), and ASan / UBSan / LeakSanitizer abort on memory errors,
// undefined behaviour and leaks. FUZZ_CHECK states a property that must hold for every input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "status.h"

namespace tfbundle::fuzz {

// Runs fn(); a tfbundle::Error is an expected outcome. Returns whether fn() returned normally.
template <typename Fn>
bool expect_ok_or_error(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    // Every error carries a code and a message; an empty message would tell the user nothing.
    if (e.code() == kOk || e.what()[0] == '\0') {
      std::fprintf(stderr, "tfbundle::Error with code %d and message \"%s\"\n", e.code(), e.what());
      std::abort();
    }
    return false;
  }
}

}  // namespace tfbundle::fuzz

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);     \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
