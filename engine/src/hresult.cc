#include <mfwq/hresult.h>

#include <cstdio>

namespace mfwq {
namespace {

struct Named {
  HRESULT hr;
  const char* name;
};

#define MFWQ_NAMED(x) Named{x, #x}
constexpr Named kNames[] = {
    MFWQ_NAMED(S_OK),
    MFWQ_NAMED(S_FALSE),
    MFWQ_NAMED(E_NOTIMPL),
    MFWQ_NAMED(E_NOINTERFACE),
    MFWQ_NAMED(E_POINTER),
    MFWQ_NAMED(E_ABORT),
    MFWQ_NAMED(E_ACCESSDENIED),
    MFWQ_NAMED(E_FAIL),
    MFWQ_NAMED(E_UNEXPECTED),
    MFWQ_NAMED(E_OUTOFMEMORY),
    MFWQ_NAMED(E_HANDLE),
    MFWQ_NAMED(E_INVALIDARG),
    MFWQ_NAMED(MF_E_PLATFORM_NOT_INITIALIZED),
    MFWQ_NAMED(MF_E_NOT_INITIALIZED),
    MFWQ_NAMED(MF_E_UNEXPECTED),
    MFWQ_NAMED(MF_E_NOT_FOUND),
    MFWQ_NAMED(MF_E_BAD_STARTUP_VERSION),
    MFWQ_NAMED(MF_E_OPERATION_CANCELLED),
    MFWQ_NAMED(MF_E_INVALID_WORKQUEUE),
    MFWQ_NAMED(MF_E_SHUTDOWN),
};
#undef MFWQ_NAMED

}  // namespace

const char* HResultName(HRESULT hr) {
  for (const Named& n : kNames) {
    if (n.hr == hr) return n.name;
  }
  return nullptr;
}

std::string FormatHResult(HRESULT hr) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08X", static_cast<unsigned>(hr));
  const char* name = HResultName(hr);
  return name ? std::string(name) + " (" + hex + ")" : std::string(hex);
}

}  // namespace mfwq
