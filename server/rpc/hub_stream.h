// WorkQueuesService::HubStream: what the two streaming reactors (watch and
// session) share. Included by their files only.
//
// Threads: gRPC's callback threads run the reactions (OnReadDone,
// OnWriteDone, OnCancel, OnDone); the hub wakes Pump from the journal
// writer's thread (completions) or an MF worker (progress). Pump never
// blocks: it starts at most one write and returns. Lock order: the
// reactor's mu_, then the subscriber's (a leaf); no lock is held while
// calling gRPC or the table.
#ifndef MFWQ_SERVER_RPC_HUB_STREAM_H_
#define MFWQ_SERVER_RPC_HUB_STREAM_H_

#include <condition_variable>
#include <memory>
#include <string>

#include <mfwq/thread_annotations.h>

#include "convert.h"
#include "service.h"

namespace mfwq::server::rpc {

// Lets a stream reactor be woken from other threads (the hub) and still be
// deleted safely: wakes enter while it is alive; OnDone kills it, waiting
// for wakes in progress.
class Liveness {
 public:
  bool Enter() {
    MutexLock lock(mu_);
    if (dead_) return false;
    ++inside_;
    return true;
  }
  void Leave() {
    MutexLock lock(mu_);
    if (--inside_ == 0) cv_.notify_all();
  }
  void Kill() {
    MutexLock lock(mu_);
    dead_ = true;
    cv_.wait(lock.native(), [this]() MFWQ_REQUIRES(mu_) { return inside_ == 0; });
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  int inside_ MFWQ_GUARDED_BY(mu_) = 0;
  bool dead_ MFWQ_GUARDED_BY(mu_) = false;
};

// What the two streaming reactors share: the caller, its subscription to
// the hub (whose wakes call Pump), its presence, the state of the one write
// in flight, and an end that happens once. `Base` is the gRPC reactor.
template <typename Base>
class WorkQueuesService::HubStream : public Base {
 protected:
  explicit HubStream(WorkQueuesService& service)
      : service_(service), life_(std::make_shared<Liveness>()) {}

  // Writes what there is to write, unless a write is in flight; ends the
  // call when it is over. Called from any thread.
  virtual void Pump() = 0;

  // Counts the stream as client_'s; false, with the call refused, if the
  // client has as many open as it may. Before Subscribe.
  bool Admit() {
    if (Status s = service_.core_.clients.OpenStream(client_); !s.ok()) {
      Refuse(ToGrpcStatus(s));
      return false;
    }
    admitted_ = true;
    return true;
  }

  // Subscribes to the hub with `filter`; returns the hub's last sequence
  // (the stream hears of every completion after it). The hub may call Pump
  // from now on. REQUIRES: admitted.
  std::uint64_t Subscribe(Subscriber::Filter filter) {
    subscriber_ = std::make_shared<Subscriber>(
        std::move(filter), service_.options_.max_buffered_notifications, [this, life = life_] {
          if (!life->Enter()) return;
          Pump();
          life->Leave();
        });
    return service_.core_.hub.Subscribe(subscriber_);
  }

  void OnCancel() override {
    {
      MutexLock lock(mu_);
      broken_ = true;
    }
    Pump();
  }

  void OnDone() override {
    if (subscriber_) service_.core_.hub.Unsubscribe(subscriber_);
    if (admitted_) service_.core_.clients.CloseStream(client_);
    life_->Kill();  // waits for wakes in progress; later ones do nothing
    delete this;
  }

  // Marks the call finished and lets go of `lock` (which holds mu_) to
  // finish it; callers return at once. (The analysis cannot follow a lock
  // passed in: it checks that callers hold mu_, not the body.)
  void FinishLocked(MutexLock& lock, const grpc::Status& status)
      MFWQ_REQUIRES(mu_) MFWQ_NO_THREAD_SAFETY_ANALYSIS {
    finished_ = true;
    lock.Unlock();
    this->Finish(status);
  }

  // Ends the call before it started streaming.
  void Refuse(const grpc::Status& status) {
    MutexLock lock(mu_);
    FinishLocked(lock, status);
  }

  WorkQueuesService& service_;
  const std::shared_ptr<Liveness> life_;
  std::string client_;
  std::shared_ptr<Subscriber> subscriber_;
  bool admitted_ = false;  // counted as the client's stream (set before any other thread sees it)

  Mutex mu_;
  bool busy_ MFWQ_GUARDED_BY(mu_) = false;      // a write is in flight, or Pump is choosing one
  bool finished_ MFWQ_GUARDED_BY(mu_) = false;  // Finish called
  bool broken_ MFWQ_GUARDED_BY(mu_) = false;    // the client went, or a write failed
};

// Replays retained completions after the requested sequence, then streams
}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_HUB_STREAM_H_
