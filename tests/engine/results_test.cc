// MFCreateAsyncResult, custom results derived from MFASYNCRESULT, and
// MFInvokeCallback's routing.
#include <atomic>
#include <thread>

#include "test_support.h"

namespace mfwq::test {
namespace {

class Results : public PlatformTest {};

TEST_F(Results, NewResultStartsWithOkStatusZeroBytesNoEvent) {
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  EXPECT_EQ(result->GetStatus(), S_OK);
  auto* r = static_cast<MFASYNCRESULT*>(result.get());
  EXPECT_EQ(r->pCallback, cb.get());
  EXPECT_EQ(r->hrStatusResult, S_OK);
  EXPECT_EQ(r->dwBytesTransferred, 0u);
  EXPECT_EQ(r->hEvent, nullptr);
}

TEST_F(Results, EmptyStateAndObjectGiveEPointer) {
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  IUnknown* out = nullptr;
  EXPECT_EQ(result->GetState(&out), E_POINTER);
  EXPECT_EQ(result->GetObject(&out), E_POINTER);
  EXPECT_EQ(result->GetStateNoAddRef(), nullptr);
}

TEST_F(Results, StateAndObjectAreHeldAndReturned) {
  std::atomic<int> destroyed{0};
  ComPtr<IMFAsyncResult> result;
  {
    auto object = Tracked::Make(&destroyed);
    auto state = Tracked::Make(&destroyed);
    ASSERT_EQ(MFCreateAsyncResult(object.get(), nullptr, state.get(), result.ReleaseAndGetAddressOf()),
              S_OK);
    ComPtr<IUnknown> got_state, got_object;
    ASSERT_EQ(result->GetState(got_state.ReleaseAndGetAddressOf()), S_OK);
    ASSERT_EQ(result->GetObject(got_object.ReleaseAndGetAddressOf()), S_OK);
    EXPECT_EQ(got_state.get(), static_cast<IUnknown*>(state.get()));
    EXPECT_EQ(got_object.get(), static_cast<IUnknown*>(object.get()));
    EXPECT_EQ(result->GetStateNoAddRef(), static_cast<IUnknown*>(state.get()));
  }
  EXPECT_EQ(destroyed.load(), 0);  // the result still holds both
  result.Reset();
  EXPECT_EQ(destroyed.load(), 2);
}

TEST_F(Results, StatusIsTheHrStatusResultMember) {
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  auto* r = static_cast<MFASYNCRESULT*>(result.get());
  EXPECT_EQ(result->SetStatus(MF_E_NOT_FOUND), S_OK);
  EXPECT_EQ(r->hrStatusResult, MF_E_NOT_FOUND);
  r->hrStatusResult = E_ABORT;
  EXPECT_EQ(result->GetStatus(), E_ABORT);
}

TEST_F(Results, QueryInterfaceGivesResultAndUnknown) {
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  ComPtr<IUnknown> unknown;
  ComPtr<IMFAsyncResult> again;
  EXPECT_EQ(result->QueryInterface(IID_IUnknown, reinterpret_cast<void**>(unknown.ReleaseAndGetAddressOf())),
            S_OK);
  EXPECT_EQ(result->QueryInterface(IID_IMFAsyncResult,
                                   reinterpret_cast<void**>(again.ReleaseAndGetAddressOf())),
            S_OK);
  EXPECT_EQ(again.get(), result.get());
  void* none = nullptr;
  EXPECT_EQ(result->QueryInterface(IID_IMFAsyncCallback, &none), E_NOINTERFACE);
  EXPECT_EQ(none, nullptr);
}

// MFPutWorkItemEx hands the very object that was put to Invoke, and what the
// callback writes in MFASYNCRESULT is what the caller reads back.
TEST_F(Results, CustomResultIsTheObjectHandedToInvoke) {
  Gate ran;
  IMFAsyncResult* seen = nullptr;
  auto cb = Callback::Make([&](IMFAsyncResult* result) {
    seen = result;
    auto* r = static_cast<MFASYNCRESULT*>(result);
    r->dwBytesTransferred = 4096;
    result->SetStatus(E_ABORT);
    ran.Open();
  });
  auto custom = CustomResult::Make(cb.get());
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, custom.get()), S_OK);
  ASSERT_TRUE(ran.Wait());
  EXPECT_EQ(seen, static_cast<IMFAsyncResult*>(custom.get()));
  EXPECT_EQ(custom->dwBytesTransferred, 4096u);
  EXPECT_EQ(custom->hrStatusResult, E_ABORT);
}

TEST_F(Results, ResultWithoutCallbackSignalsItsEventOnDispatch) {
  MFWQ_SKIP_ON_WINE("calls GetParameters through a NULL pCallback instead of signalling hEvent");
  EventHandle event(false, false);
  auto custom = CustomResult::Make(nullptr, event.get());
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_STANDARD, custom.get()), S_OK);
  EXPECT_TRUE(event.WaitSignalled());
}

TEST_F(Results, CallbacksNeverRunOnTheCallersThread) {
  Gate ran;
  std::thread::id invoked_on;
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    invoked_on = std::this_thread::get_id();
    ran.Open();
  });
  ASSERT_EQ(MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_STANDARD, cb.get(), nullptr), S_OK);
  ASSERT_TRUE(ran.Wait());
  EXPECT_NE(invoked_on, std::this_thread::get_id());
}

// MFInvokeCallback runs Invoke on the queue the callback's GetParameters
// names: on a one-thread private queue, that is the queue's own thread, and
// only after what the queue is already running.
TEST_F(Results, InvokeCallbackRunsOnTheQueueTheCallbackNames) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  QueueBlocker blocker;
  Gate ran;
  std::thread::id invoked_on;
  std::atomic<bool> ran_while_held{false};
  auto cb = Callback::Make(
      [&](IMFAsyncResult*) {
        if (!blocker.released()) ran_while_held = true;
        invoked_on = std::this_thread::get_id();
        ran.Open();
      },
      queue);
  ASSERT_TRUE(blocker.Block(queue));
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  ASSERT_EQ(MFInvokeCallback(result.get()), S_OK);
  blocker.Release();
  ASSERT_TRUE(ran.Wait());
  EXPECT_FALSE(ran_while_held.load());
  EXPECT_EQ(invoked_on, blocker.thread());
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

TEST_F(Results, InvokeCallbackFallsBackToStandardQueueWhenNamedQueueIsGone) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  ASSERT_EQ(MFUnlockWorkQueue(queue), S_OK);  // freed: the id is unusable
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); }, queue);
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  ASSERT_EQ(MFInvokeCallback(result.get()), S_OK);
  EXPECT_TRUE(ran.Wait());
}

TEST_F(Results, GetParametersNotImplementedMeansDefaults) {
  Gate ran;
  auto cb = Callback::MakeWithDefaults([&](IMFAsyncResult*) { ran.Open(); });
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  ASSERT_EQ(MFInvokeCallback(result.get()), S_OK);
  EXPECT_TRUE(ran.Wait());
}

TEST_F(Results, PutWorkItemPassesStateToInvoke) {
  std::atomic<int> destroyed{0};
  Gate ran, released;
  IUnknown* seen_state = nullptr;
  auto cb = Callback::Make([&](IMFAsyncResult* result) {
    ComPtr<IUnknown> state;
    if (SUCCEEDED(result->GetState(state.ReleaseAndGetAddressOf()))) seen_state = state.get();
    ran.Open();
  });
  auto state = Tracked::Make(&destroyed, &released);
  const IUnknown* put_state = state.get();
  ASSERT_EQ(MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, cb.get(), state.get()), S_OK);
  state.Reset();
  ASSERT_TRUE(ran.Wait());
  EXPECT_EQ(seen_state, put_state);
  // Once run, the item lets go of its result and so of the state.
  EXPECT_TRUE(released.Wait());
  EXPECT_EQ(destroyed.load(), 1);
}

}  // namespace
}  // namespace mfwq::test
