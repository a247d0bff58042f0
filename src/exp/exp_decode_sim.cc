// The decode-sim experiment (filled in below).
#include "exp/common.h"
#include "ghostkv/error.h"

namespace ghostkv::exp {

int exp_decode_sim(Context& ctx) {
  throw Error(str_cat(ctx.config_path, ": decode-sim is not available in this build"));
}

}  // namespace ghostkv::exp
