// The checks the C++ unit tests share: CHECK counts a failure and goes on, EXPECT_ERROR checks
// that a statement throws tfbundle::Error with a code and a part of the message. Each test's main
// returns g_failures != 0.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "status.h"

namespace tfbundle::testing {

inline int g_failures = 0;

inline void expect_error(int code, const std::string& part, const std::function<void()>& fn, int line) {
  try {
    fn();
    std::fprintf(stderr, "line %d: no error (expected code %d)\n", line, code);
    ++g_failures;
  } catch (const Error& e) {
    if (e.code() != code || std::string(e.what()).find(part) == std::string::npos) {
      std::fprintf(stderr, "line %d: got code %d \"%s\", expected code %d with \"%s\"\n", line, e.code(), e.what(),
                   code, part.c_str());
      ++g_failures;
    }
  }
}

}  // namespace tfbundle::testing

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++::tfbundle::testing::g_failures;                                            \
    }                                                                               \
  } while (0)

#define EXPECT_ERROR(code, part, body) ::tfbundle::testing::expect_error(code, part, [&] { body; }, __LINE__)
