// SerialQueue: runs one item at a time, in priority then FIFO order, on a
// target executor (a pool or another serial queue), as
// MFAllocateSerialWorkQueue does.
//
// The next item is released when the current one has run, or, when its
// callback asks for MFASYNC_REPLY_CALLBACK, when the callback calls
// MFInvokeCallback on the result it was handed (see ReplyBook).
//
// A serial queue may target another, to any depth. Nothing here recurses
// along such a chain: an item handed down from queue to queue is forwarded
// by a loop on the thread that submitted it (each queue's Forward, called
// while another Forward runs on the same thread, is queued to that loop),
// and a chain whose queues are each the last owner of the next is released
// by a loop too.
#ifndef MFWQ_ENGINE_SRC_SERIAL_QUEUE_H_
#define MFWQ_ENGINE_SRC_SERIAL_QUEUE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <mfwq/thread_annotations.h>

#include "executor.h"
#include "priority_fifo.h"

namespace mfwq::engine {

class SerialQueue final : public Executor, public std::enable_shared_from_this<SerialQueue> {
 public:
  // `target_id` is the MF id of `target`; the queue holds one lock on it
  // (taken by the caller) and gives it back once retired and drained.
  SerialQueue(std::shared_ptr<Executor> target, DWORD target_id);
  ~SerialQueue() override;

  HRESULT Submit(WorkItem item) override;
  void Retire() override;
  void Stop() override;
  bool Finished() const override;

  // The current item has run (or has been replied to): release the next.
  void OnItemDone();
  // The callback of the item that holds `ticket` replied.
  void OnReply(std::uint64_t ticket);

 private:
  // Hands `item` to the target, and keeps handing the next ones while the
  // target refuses them; called while another Forward runs on this thread,
  // it queues the hand-over for that one's loop and returns. REQUIRES: mu_
  // not held; busy_ set by the caller.
  void Forward(WorkItem item);
  // One hand-over of Forward's loop.
  void ForwardNow(WorkItem item);
  // Marks the current item done; returns the next one to forward, if any.
  bool TakeNext(WorkItem* next);

  // Constant after construction (the destructor moves it out).
  std::shared_ptr<Executor> target_;
  const DWORD target_id_;

  mutable Mutex mu_;
  PriorityFifo queued_ MFWQ_GUARDED_BY(mu_);
  bool busy_ MFWQ_GUARDED_BY(mu_) = false;                // an item is at the target
  std::uint64_t awaited_reply_ MFWQ_GUARDED_BY(mu_) = 0;  // ticket of the item awaiting a reply
  bool accepting_ MFWQ_GUARDED_BY(mu_) = true;
  bool stopped_ MFWQ_GUARDED_BY(mu_) = false;
  bool target_unlocked_ MFWQ_GUARDED_BY(mu_) = false;
};

// Tickets of items on serial queues that wait for a reply. The ticket is kept
// in the result's MFASYNCRESULT::overlapped.Internal (MF reserves
// `overlapped` for the work queue), so MFInvokeCallback on that result can
// find the serial queue to advance instead of invoking the callback again.
// Tickets carry a tag in their top bits, so that a ticket can be told from
// whatever else a caller left in a result's `overlapped` (MF asks callers to
// zero it, but cannot check).
inline constexpr std::uint64_t kTicketTagMask = 0xFFFF'0000'0000'0000ull;
inline constexpr std::uint64_t kTicketTag = 0x6D66'0000'0000'0000ull;  // "mf"

class ReplyBook {
 public:
  std::uint64_t Open(std::weak_ptr<SerialQueue> queue);
  // Removes `ticket`; returns its queue if it was open and the queue lives.
  std::shared_ptr<SerialQueue> Take(std::uint64_t ticket);
  void Close(std::uint64_t ticket);
  bool IsOpen(std::uint64_t ticket);
  void Clear();

 private:
  Mutex mu_;
  std::uint64_t next_ MFWQ_GUARDED_BY(mu_) = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<SerialQueue>> open_ MFWQ_GUARDED_BY(mu_);
};

// Marks `result` as awaiting the reply `ticket`. False when an outer serial
// queue already awaits a reply on it.
bool MarkAwaitingReply(IMFAsyncResult* result, std::uint64_t ticket, ReplyBook& book);
// What `result`'s reply slot holds (0 when unmarked).
std::uint64_t AwaitedReplyTicket(IMFAsyncResult* result);
// Whether a slot value is a reply ticket (open or not).
bool IsReplyTicket(std::uint64_t value);
void ClearReplyMark(IMFAsyncResult* result, std::uint64_t ticket);

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_SERIAL_QUEUE_H_
