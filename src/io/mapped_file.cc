#include "ghostkv/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ghostkv/error.h"

namespace ghostkv {

MappedFile::MappedFile(const std::string& path, const std::string& what, int64_t min_bytes,
                       const std::string& too_short) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  GKV_CHECK(fd >= 0, path, ": cannot open ", what, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(str_cat(path, ": not a regular file"));
  }
  const int64_t file_bytes = int64_t(st.st_size);
  if (file_bytes < min_bytes) {
    ::close(fd);
    std::string msg = too_short;
    if (auto at = msg.find("{}"); at != std::string::npos) msg.replace(at, 2, std::to_string(file_bytes));
    throw Error(str_cat(path, ": ", msg));
  }
  void* m = ::mmap(nullptr, size_t(file_bytes), PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);
  GKV_CHECK(m != MAP_FAILED, path, ": mmap of ", file_bytes, " bytes failed: ", std::strerror(mmap_errno));
  map_ = m;
  bytes_ = file_bytes;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
  if (map_) ::munmap(map_, size_t(bytes_));
  map_ = nullptr;
  bytes_ = 0;
}

MappedFile::MappedFile(MappedFile&& o) noexcept : map_(o.map_), bytes_(o.bytes_) {
  o.map_ = nullptr;
  o.bytes_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    release();
    map_ = o.map_;
    bytes_ = o.bytes_;
    o.map_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

}  // namespace ghostkv
