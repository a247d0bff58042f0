#pragma once
// Errors. Two tiers (as in faiss): GKV_ASSERT for bugs (always on, prints the expression and
// file:line, aborts); GKV_CHECK / ghostkv::Error for bad input (files, shapes, options), carrying
// the object's name, the actual and the expected values. Library code never calls exit().
#include <sstream>
#include <stdexcept>
#include <string>

namespace ghostkv {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  os.precision(9);
  (os << ... << args);
  return os.str();
}

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace ghostkv

#define GKV_ASSERT(cond, ...)                                                              \
  do {                                                                                     \
    if (!(cond)) ::ghostkv::assert_fail(#cond, __FILE__, __LINE__, ::ghostkv::str_cat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)

#define GKV_CHECK(cond, ...)                                                  \
  do {                                                                        \
    if (!(cond)) throw ::ghostkv::Error(::ghostkv::str_cat(__VA_ARGS__));     \
  } while (0)
