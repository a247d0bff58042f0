#pragma once
// Test helper shared by the loader tests: run fn, expect a ghostkv::Error whose message contains
// every one of `parts` (a different exception, or none, is a failure).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "ghostkv/error.h"

namespace ghostkv::test {

inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ghostkv::Error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected ghostkv::Error, nothing thrown";
}

}  // namespace ghostkv::test
