#include "table_clock.h"

#include <algorithm>

#include <mfwq/com_object.h>
#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

namespace mfwq::server {
namespace {

// A function run on an MF timer unless cancelled first.
class TimerCallback final : public ComObject<TimerCallback, IMFAsyncCallback> {
 public:
  explicit TimerCallback(std::function<void()> fn) : fn_(std::move(fn)) {}
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD*, DWORD*) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult*) override {
    fn_();
    return S_OK;
  }

 private:
  friend class ComObject<TimerCallback, IMFAsyncCallback>;
  ~TimerCallback() = default;
  const std::function<void()> fn_;
};

}  // namespace

TableClock::TimerId SystemTableClock::Schedule(Clock::time_point when, std::function<void()> fn) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now()).count();
  auto timer = ComPtr<TimerCallback>::Adopt(new TimerCallback(std::move(fn)));
  MFWORKITEM_KEY key = 0;
  // (MF wants a negative count of milliseconds: at least 1.)
  if (FAILED(MFScheduleWorkItem(timer.get(), nullptr, -std::max<INT64>(1, ms), &key))) return 0;
  return key;
}

void SystemTableClock::Cancel(TimerId id) {
  if (id != 0) MFCancelWorkItem(id);
}

}  // namespace mfwq::server
