// <mfwq/mfapi.h>: the Media Foundation work-queue API.
//
// On Windows this header is the operating system's own API: it includes
// <windows.h>, <mfapi.h>, <mferror.h> and <mfobjects.h>, and programs link
// mfplat and mfuuid.
//
// Everywhere else it declares the same names with Microsoft's spelling,
// signatures, values and struct layouts, implemented by mfwq's portable
// engine (library mfwq::engine). Code written against MF's work queues builds
// against this header unchanged and behaves as it does on Windows.
//
// Only the work-queue subset of MF is declared: the platform, work queues
// (platform, private, serial), async results and callbacks, scheduled,
// waiting and periodic items, and the event-handle functions that hEvent and
// waiting items need.
#ifndef MFWQ_MFAPI_H_
#define MFWQ_MFAPI_H_

#if defined(_WIN32)

#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00  // Windows 10: MFPutWorkItem2, serial queues
#endif
#ifndef WINVER
#define WINVER _WIN32_WINNT
#endif
#include <windows.h>
#include <mfapi.h>
#include <mferror.h>
#include <mfobjects.h>

#else  // !_WIN32: the portable engine

#ifndef __cplusplus
#error "<mfwq/mfapi.h> declares COM interfaces and needs C++"
#endif

#include <cstdint>
#include <cstring>

// ---------------------------------------------------------------------------
// Base types, sized as on Windows (LLP64: LONG and ULONG are 32 bits).
typedef std::int32_t LONG;
typedef std::uint32_t ULONG;
typedef std::uint32_t DWORD;
typedef int BOOL;
typedef unsigned int UINT;
typedef std::int64_t INT64;
typedef std::uint64_t UINT64;
typedef std::uintptr_t ULONG_PTR;
typedef LONG HRESULT;
typedef void* HANDLE;
typedef void* PVOID;
typedef void* LPVOID;
typedef const wchar_t* LPCWSTR;
typedef UINT64 MFWORKITEM_KEY;

#define STDMETHODCALLTYPE
#define WINAPI
#define CALLBACK
#define STDMETHODIMP HRESULT STDMETHODCALLTYPE
#define STDMETHODIMP_(type) type STDMETHODCALLTYPE
#define STDMETHOD(method) virtual HRESULT STDMETHODCALLTYPE method
#define STDMETHOD_(type, method) virtual type STDMETHODCALLTYPE method
#define STDAPI extern "C" HRESULT STDAPICALLTYPE
#define STDAPICALLTYPE

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define INFINITE 0xFFFFFFFFu
#define WAIT_OBJECT_0 0x00000000u
#define WAIT_ABANDONED 0x00000080u
#define WAIT_TIMEOUT 0x00000102u
#define WAIT_FAILED 0xFFFFFFFFu
#define INVALID_HANDLE_VALUE reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(-1))

// ---------------------------------------------------------------------------
// HRESULTs.
#define _HRESULT_TYPEDEF_(sc) static_cast<HRESULT>(sc)
#define SUCCEEDED(hr) (static_cast<HRESULT>(hr) >= 0)
#define FAILED(hr) (static_cast<HRESULT>(hr) < 0)

#define S_OK _HRESULT_TYPEDEF_(0x00000000L)
#define S_FALSE _HRESULT_TYPEDEF_(0x00000001L)
#define E_NOTIMPL _HRESULT_TYPEDEF_(0x80004001L)
#define E_NOINTERFACE _HRESULT_TYPEDEF_(0x80004002L)
#define E_POINTER _HRESULT_TYPEDEF_(0x80004003L)
#define E_ABORT _HRESULT_TYPEDEF_(0x80004004L)
#define E_ACCESSDENIED _HRESULT_TYPEDEF_(0x80070005L)
#define E_FAIL _HRESULT_TYPEDEF_(0x80004005L)
#define E_UNEXPECTED _HRESULT_TYPEDEF_(0x8000FFFFL)
#define E_OUTOFMEMORY _HRESULT_TYPEDEF_(0x8007000EL)
#define E_HANDLE _HRESULT_TYPEDEF_(0x80070006L)
#define E_INVALIDARG _HRESULT_TYPEDEF_(0x80070057L)

#define MF_E_PLATFORM_NOT_INITIALIZED _HRESULT_TYPEDEF_(0xC00D36B0L)
#define MF_E_NOT_INITIALIZED _HRESULT_TYPEDEF_(0xC00D36B6L)
#define MF_E_UNEXPECTED _HRESULT_TYPEDEF_(0xC00D36BBL)
#define MF_E_NOT_FOUND _HRESULT_TYPEDEF_(0xC00D36D5L)
#define MF_E_BAD_STARTUP_VERSION _HRESULT_TYPEDEF_(0xC00D36E3L)
#define MF_E_OPERATION_CANCELLED _HRESULT_TYPEDEF_(0xC00D36EDL)
#define MF_E_INVALID_WORKQUEUE _HRESULT_TYPEDEF_(0xC00D36FFL)
#define MF_E_SHUTDOWN _HRESULT_TYPEDEF_(0xC00D3E85L)

// ---------------------------------------------------------------------------
// GUIDs.
typedef struct _GUID {
  std::uint32_t Data1;
  std::uint16_t Data2;
  std::uint16_t Data3;
  std::uint8_t Data4[8];
} GUID;
typedef GUID IID;
typedef const GUID& REFGUID;
typedef const IID& REFIID;

inline bool IsEqualGUID(REFGUID a, REFGUID b) {
  return std::memcmp(&a, &b, sizeof(GUID)) == 0;
}
#define IsEqualIID(riid1, riid2) IsEqualGUID(riid1, riid2)
inline bool operator==(REFGUID a, REFGUID b) { return IsEqualGUID(a, b); }
inline bool operator!=(REFGUID a, REFGUID b) { return !IsEqualGUID(a, b); }

extern "C" const IID IID_IUnknown;            // 00000000-0000-0000-C000-000000000046
extern "C" const IID IID_IMFAsyncResult;      // ac6b7889-0740-4d51-8619-905994a55cc6
extern "C" const IID IID_IMFAsyncCallback;    // a27003cf-2354-4f2a-8d6a-ab7cff15437e

// ---------------------------------------------------------------------------
// OVERLAPPED and SECURITY_ATTRIBUTES, laid out as in the Windows headers
// (which also use an anonymous union holding an anonymous struct).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
typedef struct _OVERLAPPED {
  ULONG_PTR Internal;
  ULONG_PTR InternalHigh;
  union {
    struct {
      DWORD Offset;
      DWORD OffsetHigh;
    };
    PVOID Pointer;
  };
  HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

typedef struct _SECURITY_ATTRIBUTES {
  DWORD nLength;
  LPVOID lpSecurityDescriptor;
  BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

// ---------------------------------------------------------------------------
// COM interfaces. Like Microsoft's, they have no virtual destructor: objects
// are destroyed by their own Release.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
#endif

struct IUnknown {
  virtual HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** ppvObject) = 0;
  virtual ULONG STDMETHODCALLTYPE AddRef() = 0;
  virtual ULONG STDMETHODCALLTYPE Release() = 0;
};

struct IMFAsyncCallback;

struct IMFAsyncResult : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE GetState(IUnknown** ppunkState) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetStatus() = 0;
  virtual HRESULT STDMETHODCALLTYPE SetStatus(HRESULT hrStatus) = 0;
  virtual HRESULT STDMETHODCALLTYPE GetObject(IUnknown** ppObject) = 0;
  virtual IUnknown* STDMETHODCALLTYPE GetStateNoAddRef() = 0;
};

struct IMFAsyncCallback : public IUnknown {
  virtual HRESULT STDMETHODCALLTYPE GetParameters(DWORD* pdwFlags, DWORD* pdwQueue) = 0;
  virtual HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult* pAsyncResult) = 0;
};

// Any custom IMFAsyncResult must inherit this structure. Fill `overlapped`
// with zeros (the work queue uses it), set pCallback, or set pCallback to
// NULL and hEvent to an event that is signalled when the item is dispatched.
typedef struct tagMFASYNCRESULT : public IMFAsyncResult {
  OVERLAPPED overlapped;
  IMFAsyncCallback* pCallback;
  HRESULT hrStatusResult;
  DWORD dwBytesTransferred;
  HANDLE hEvent;
} MFASYNCRESULT;

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// ---------------------------------------------------------------------------
// Constants.
#define MF_SDK_VERSION 0x0002
#define MF_API_VERSION 0x0070
#define MF_VERSION (MF_SDK_VERSION << 16 | MF_API_VERSION)

#define MFSTARTUP_NOSOCKET 0x1
#define MFSTARTUP_LITE (MFSTARTUP_NOSOCKET)
#define MFSTARTUP_FULL 0

#define MFASYNC_FAST_IO_PROCESSING_CALLBACK 0x00000001
#define MFASYNC_SIGNAL_CALLBACK 0x00000002
#define MFASYNC_BLOCKING_CALLBACK 0x00000004
#define MFASYNC_REPLY_CALLBACK 0x00000008
#define MFASYNC_LOCALIZE_REMOTE_CALLBACK 0x00000010

#define MFASYNC_CALLBACK_QUEUE_UNDEFINED 0x00000000
#define MFASYNC_CALLBACK_QUEUE_STANDARD 0x00000001
#define MFASYNC_CALLBACK_QUEUE_RT 0x00000002
#define MFASYNC_CALLBACK_QUEUE_IO 0x00000003
#define MFASYNC_CALLBACK_QUEUE_TIMER 0x00000004
#define MFASYNC_CALLBACK_QUEUE_MULTITHREADED 0x00000005
#define MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION 0x00000007
#define MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK 0xFFFF0000
#define MFASYNC_CALLBACK_QUEUE_ALL 0xFFFFFFFF

typedef enum {
  MF_STANDARD_WORKQUEUE = 0,
  MF_WINDOW_WORKQUEUE = 1,
  MF_MULTITHREADED_WORKQUEUE = 2,
} MFASYNC_WORKQUEUE_TYPE;

typedef void(CALLBACK* MFPERIODICCALLBACK)(IUnknown* pContext);

// ---------------------------------------------------------------------------
// Functions.
extern "C" {

// Platform.
HRESULT STDAPICALLTYPE MFStartup(ULONG Version, DWORD dwFlags = MFSTARTUP_FULL);
HRESULT STDAPICALLTYPE MFShutdown(void);
HRESULT STDAPICALLTYPE MFLockPlatform(void);
HRESULT STDAPICALLTYPE MFUnlockPlatform(void);

// Work queues.
HRESULT STDAPICALLTYPE MFAllocateWorkQueue(DWORD* pdwWorkQueue);
HRESULT STDAPICALLTYPE MFAllocateWorkQueueEx(MFASYNC_WORKQUEUE_TYPE WorkQueueType,
                                             DWORD* pdwWorkQueue);
HRESULT STDAPICALLTYPE MFAllocateSerialWorkQueue(DWORD dwWorkQueue, DWORD* pdwWorkQueue);
HRESULT STDAPICALLTYPE MFLockWorkQueue(DWORD dwWorkQueue);
HRESULT STDAPICALLTYPE MFUnlockWorkQueue(DWORD dwWorkQueue);

// Work items.
HRESULT STDAPICALLTYPE MFPutWorkItem(DWORD dwQueue, IMFAsyncCallback* pCallback,
                                     IUnknown* pState);
HRESULT STDAPICALLTYPE MFPutWorkItem2(DWORD dwQueue, LONG Priority,
                                      IMFAsyncCallback* pCallback, IUnknown* pState);
HRESULT STDAPICALLTYPE MFPutWorkItemEx(DWORD dwQueue, IMFAsyncResult* pResult);
HRESULT STDAPICALLTYPE MFPutWorkItemEx2(DWORD dwQueue, LONG Priority, IMFAsyncResult* pResult);

// Results and callbacks.
HRESULT STDAPICALLTYPE MFCreateAsyncResult(IUnknown* punkObject, IMFAsyncCallback* pCallback,
                                           IUnknown* punkState,
                                           IMFAsyncResult** ppAsyncResult);
HRESULT STDAPICALLTYPE MFInvokeCallback(IMFAsyncResult* pAsyncResult);

// Scheduled and waiting items.
HRESULT STDAPICALLTYPE MFScheduleWorkItem(IMFAsyncCallback* pCallback, IUnknown* pState,
                                          INT64 Timeout, MFWORKITEM_KEY* pKey);
HRESULT STDAPICALLTYPE MFScheduleWorkItemEx(IMFAsyncResult* pResult, INT64 Timeout,
                                            MFWORKITEM_KEY* pKey);
HRESULT STDAPICALLTYPE MFCancelWorkItem(MFWORKITEM_KEY Key);
HRESULT STDAPICALLTYPE MFPutWaitingWorkItem(HANDLE hEvent, LONG Priority,
                                            IMFAsyncResult* pResult, MFWORKITEM_KEY* pKey);

// Periodic callbacks.
HRESULT STDAPICALLTYPE MFGetTimerPeriodicity(DWORD* Periodicity);
HRESULT STDAPICALLTYPE MFAddPeriodicCallback(MFPERIODICCALLBACK Callback, IUnknown* pContext,
                                             DWORD* pdwKey);
HRESULT STDAPICALLTYPE MFRemovePeriodicCallback(DWORD dwKey);

// Event handles (kernel32 on Windows). Named events are shared within the
// process. An invalid handle makes these fail (FALSE, WAIT_FAILED), never crash.
HANDLE WINAPI CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset,
                           BOOL bInitialState, LPCWSTR lpName);
BOOL WINAPI SetEvent(HANDLE hEvent);
BOOL WINAPI ResetEvent(HANDLE hEvent);
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
BOOL WINAPI CloseHandle(HANDLE hObject);

}  // extern "C"

#endif  // _WIN32
#endif  // MFWQ_MFAPI_H_
