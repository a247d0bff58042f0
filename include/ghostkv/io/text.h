#pragma once
// Text inputs: read a whole file as bytes ("-" = standard input; *.xz decompressed with liblzma),
// and SHA-256 (FIPS 180-4) for provenance in manifests and reports.
#include <string>

namespace ghostkv {

std::string read_text_file(const std::string& path);
std::string sha256_hex(const std::string& bytes);

}  // namespace ghostkv
