// Temporary float buffers for kernels, from the cached host allocator, returned on scope exit.
#pragma once

#include <cstddef>
#include <new>

#include "allocator.h"

namespace peftjs {

class Scratch {
 public:
  explicit Scratch(size_t floats) : bytes_(floats * sizeof(float)) {
    ptr_ = static_cast<float*>(host_alloc(bytes_));
    if (ptr_ == nullptr) throw std::bad_alloc();
  }
  ~Scratch() { host_free(ptr_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* data() const { return ptr_; }

 private:
  size_t bytes_;
  float* ptr_;
};

}  // namespace peftjs
