#pragma once
// JSON view of an elimination run: the resolved options and every metric of DESIGN §6
// (distributions as {mean, median, p10, p90, min, max} over steps or (query, query head)).
#include <string>

#include "ghostkv/eliminate.h"

namespace ghostkv {

std::string options_json(const EliminateOptions& opt, int indent = -1);
// `inputs_desc` is a JSON object (as text) describing the inputs; may be "{}".
std::string eliminate_result_json(const EliminateResult& res, const EliminateOptions& opt,
                                  const std::string& inputs_desc, int indent = 2);

}  // namespace ghostkv
