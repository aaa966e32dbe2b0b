// Plain Media Foundation work-queue code: it builds against Windows' mfplat
// or, through <mfwq/mfapi.h>, against mfwq's portable engine.
#include <cstdio>

#include <mfwq/mfapi.h>

// Signals an event when invoked, and reports the queue it asked for.
class Hello final : public IMFAsyncCallback {
 public:
  Hello(DWORD queue, HANDLE done) : queue_(queue), done_(done) {}
  virtual ~Hello() = default;
  STDMETHODIMP QueryInterface(REFIID riid, void** object) override {
    if (!IsEqualIID(riid, IID_IMFAsyncCallback) && !IsEqualIID(riid, IID_IUnknown)) {
      *object = nullptr;
      return E_NOINTERFACE;
    }
    *object = static_cast<IMFAsyncCallback*>(this);
    return S_OK;
  }
  STDMETHODIMP_(ULONG) AddRef() override { return 1; }  // lives on main's stack
  STDMETHODIMP_(ULONG) Release() override { return 1; }
  STDMETHODIMP GetParameters(DWORD* flags, DWORD* queue) override {
    *flags = 0;
    *queue = queue_;
    return S_OK;
  }
  STDMETHODIMP Invoke(IMFAsyncResult* result) override {
    std::printf("invoked on queue 0x%08X, status 0x%08X\n", static_cast<unsigned>(queue_),
                static_cast<unsigned>(result->GetStatus()));
    SetEvent(done_);
    return S_OK;
  }

 private:
  DWORD queue_;
  HANDLE done_;
};

int main() {
  if (FAILED(MFStartup(MF_VERSION, MFSTARTUP_FULL))) return 1;
  DWORD queue = 0;
  HANDLE done = CreateEventW(nullptr, FALSE, FALSE, nullptr);
  HRESULT hr = MFAllocateWorkQueue(&queue);
  Hello hello(queue, done);
  if (SUCCEEDED(hr)) hr = MFPutWorkItem(queue, &hello, nullptr);
  bool ran = SUCCEEDED(hr) && WaitForSingleObject(done, 10000) == WAIT_OBJECT_0;

  MFWORKITEM_KEY key = 0;  // an item due in an hour, cancelled at once
  HRESULT scheduled = MFScheduleWorkItem(&hello, nullptr, -3600 * 1000, &key);
  HRESULT cancelled = SUCCEEDED(scheduled) ? MFCancelWorkItem(key) : scheduled;
  HRESULT again = MFCancelWorkItem(key);  // already cancelled: MF_E_NOT_FOUND

  MFUnlockWorkQueue(queue);
  CloseHandle(done);
  MFShutdown();
  std::printf("ran: %s, cancel: 0x%08X, cancel again: 0x%08X\n", ran ? "yes" : "no",
              static_cast<unsigned>(cancelled), static_cast<unsigned>(again));
  return ran && cancelled == S_OK && again == MF_E_NOT_FOUND ? 0 : 1;
}
