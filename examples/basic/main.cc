// Smallest use of the installed library: synthetic attention inputs, certified elimination with the
// default rotated int8 witness and mass policy δ = 1e-3, and the certificate it returns.
#include <cstdio>

#include "ghostkv/eliminate.h"
#include "ghostkv/synth.h"

int main() {
  ghostkv::SynthSpec spec;
  spec.n_kv = 1024;
  spec.n_q = 8;
  ghostkv::AttnInputs in = ghostkv::make_synthetic(spec);
  ghostkv::validate_inputs(in);
  ghostkv::EliminateOptions opt;  // quant witness, bits 8, policy mass:1e-3
  ghostkv::EliminateResult r = ghostkv::run_eliminate(in, opt);
  std::printf("violations %lld  certificate_failures %lld  elim_rate %.3f  kv_bytes_frac %.3f  mass_bound_max %.2e\n",
              (long long)r.violations, (long long)r.certificate_failures, r.elim_rate.mean, r.kv_bytes_frac,
              r.mass_bound.max);
  return (r.violations == 0 && r.certificate_failures == 0) ? 0 : 1;
}
