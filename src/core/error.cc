#include "ghostkv/error.h"

#include <cstdio>
#include <cstdlib>

namespace ghostkv {

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "ghostkv: assertion failed: %s at %s:%d %s\n", expr, file, line, msg.c_str());
  std::abort();
}

}  // namespace ghostkv
