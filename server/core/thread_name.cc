#include "thread_name.h"

#if defined(_WIN32)
#include <windows.h>

#include <string>
#else
#include <pthread.h>

#include <string>
#endif

namespace mfwq::server {

void NameThisThread(const char* name) {
#if defined(_WIN32)
  // SetThreadDescription is Windows 10's (1607 on): looked up, not linked.
  using SetDescription = HRESULT(WINAPI*)(HANDLE, PCWSTR);
  static const auto set = reinterpret_cast<SetDescription>(reinterpret_cast<void*>(
      GetProcAddress(GetModuleHandleW(L"kernel32.dll"), "SetThreadDescription")));
  if (set == nullptr) return;
  const std::string narrow(name);
  const std::wstring wide(narrow.begin(), narrow.end());  // the names are ASCII
  set(GetCurrentThread(), wide.c_str());
#else
  pthread_setname_np(pthread_self(), std::string(name).substr(0, 15).c_str());
#endif
}

}  // namespace mfwq::server
