// bfloat16 autocast for one device type, as C functions for prefscope-model's `precision`
// module. tch exposes only at::autocast's legacy switch, which enables CUDA autocast in its
// default dtype, float16; mixed precision in prefscope is bfloat16 (f32 master weights), on
// CUDA and, for tests, on CPU. Each function returns 0, or -1 when libtorch threw (the message
// is then in `err`, NUL-terminated and cut to `err_len`).

#include <ATen/autocast_mode.h>

#include <cstring>
#include <exception>

namespace {

c10::DeviceType device_type(int device) {
  return device == 1 ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
}

void copy_message(const char* what, char* err, int err_len) {
  if (err == nullptr || err_len <= 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}

}  // namespace

extern "C" {

// Enables bfloat16 autocast for `device` (0 = CPU, 1 = CUDA) and returns the previous state in
// `prev_enabled` and `prev_dtype` (a c10::ScalarType code), for `prefscope_autocast_exit`.
int prefscope_autocast_enter(int device, int* prev_enabled, int* prev_dtype, char* err,
                             int err_len) {
  try {
    const c10::DeviceType dt = device_type(device);
    *prev_enabled = at::autocast::is_autocast_enabled(dt) ? 1 : 0;
    *prev_dtype = static_cast<int>(at::autocast::get_autocast_dtype(dt));
    at::autocast::set_autocast_dtype(dt, at::kBFloat16);
    at::autocast::set_autocast_enabled(dt, true);
    at::autocast::increment_nesting();
    return 0;
  } catch (const std::exception& e) {
    copy_message(e.what(), err, err_len);
    return -1;
  }
}

// Restores the state saved by `prefscope_autocast_enter`; the outermost exit clears autocast's
// cache of casted weights (they change at the next optimizer step).
int prefscope_autocast_exit(int device, int prev_enabled, int prev_dtype, char* err,
                            int err_len) {
  try {
    const c10::DeviceType dt = device_type(device);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(dt, prev_enabled != 0);
    at::autocast::set_autocast_dtype(dt, static_cast<c10::ScalarType>(prev_dtype));
    return 0;
  } catch (const std::exception& e) {
    copy_message(e.what(), err, err_len);
    return -1;
  }
}

// 1 when autocast is enabled for `device` with dtype bfloat16, else 0 (for tests).
int prefscope_autocast_is_bf16(int device) {
  const c10::DeviceType dt = device_type(device);
  return at::autocast::is_autocast_enabled(dt) &&
                 at::autocast::get_autocast_dtype(dt) == at::kBFloat16
             ? 1
             : 0;
}

}  // extern "C"
