#include "journal_writer.h"

#include <algorithm>

#include "thread_name.h"

namespace mfwq::server {
namespace {

// The writer spins this long for more work before it sleeps: a server
// answering one operation at a time gets its next request about this soon,
// and a sleeping writer costs that request a thread wake-up.
constexpr auto kSpin = std::chrono::microseconds(200);

// Group commit under load. A commit's cost hardly depends on how many
// completions it holds, and each publishes one message per stream: while
// other operations wait on their queues to run at once (more completions
// are on their way) and no submission waits to be written, the writer
// gathers completions, up to kGather or for at most kLinger.
constexpr auto kLinger = std::chrono::microseconds(200);
constexpr std::size_t kGather = 256;

// Completions written in one commit at most (more wait for the next).
constexpr std::size_t kMaxCompletions = 4096;

constexpr auto kFirstRetry = std::chrono::milliseconds(10);
constexpr auto kLastRetry = std::chrono::seconds(1);

}  // namespace

JournalWriter::JournalWriter(Journal* journal, PublishFn published, HealthFn health,
                             MoreComingFn more_coming)
    : journal_(journal),
      published_(std::move(published)),
      health_(std::move(health)),
      more_coming_(std::move(more_coming)),
      thread_([this] { Run(); }) {}

JournalWriter::~JournalWriter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void JournalWriter::Seed(std::uint64_t last_sequence) {
  MutexLock lock(mu_);
  next_sequence_ = last_sequence + 1;
}

bool JournalWriter::HasWorkLocked() const {
  return !acceptances_.empty() || !withdrawn_.empty() || !completions_.empty() ||
         prune_through_ != 0;
}

void JournalWriter::Accept(std::vector<AcceptedRecord> records, AcceptDone done) {
  bool wake;
  {
    MutexLock lock(mu_);
    acceptances_.push_back({std::move(records), std::move(done)});
    has_work_.store(true, std::memory_order_release);
    wake = sleeping_;
  }
  if (wake) wake_.notify_one();
}

void JournalWriter::Withdraw(OperationNumber number) {
  bool wake;
  {
    MutexLock lock(mu_);
    withdrawn_.push_back(number);
    has_work_.store(true, std::memory_order_release);
    wake = sleeping_;
  }
  if (wake) wake_.notify_one();
}

void JournalWriter::Complete(Pending completion) {
  bool wake;
  {
    MutexLock lock(mu_);
    completions_.push_back(std::move(completion));
    has_work_.store(true, std::memory_order_release);
    // A writer gathering completions wakes once enough are here.
    wake = sleeping_ && (!gathering_ || completions_.size() >= kGather);
  }
  if (wake) wake_.notify_one();
}

void JournalWriter::Prune(std::uint64_t sequence) {
  bool wake;
  {
    MutexLock lock(mu_);
    prune_through_ = std::max(prune_through_, sequence);
    has_work_.store(true, std::memory_order_release);
    wake = sleeping_;
  }
  if (wake) wake_.notify_one();
}

void JournalWriter::NothingMoreComing() {
  bool wake;
  {
    MutexLock lock(mu_);
    wake = gathering_;
  }
  if (wake) wake_.notify_one();
}

void JournalWriter::GiveUpFailedWrites() {
  {
    MutexLock lock(mu_);
    give_up_ = true;
  }
  wake_.notify_one();
}

Status JournalWriter::failure() const {
  MutexLock lock(mu_);
  return failure_;
}

void JournalWriter::Spin() const {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  while (!has_work_.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
}

void JournalWriter::Run() {
  NameThisThread("mfwq-journal");
  // What a failed commit leaves to write again, numbered already.
  std::vector<Published> carried;
  std::vector<OperationNumber> withdrawn;
  std::uint64_t prune = 0;
  auto retry_in = kFirstRetry;

  MutexLock lock(mu_);
  for (;;) {
    if (failing_.load() && (give_up_ || stopping_) && carried.empty() && withdrawn.empty() &&
        prune == 0) {
      // Given up on what failed: nothing to write again, so wait for new
      // work (written once, given up if it fails) or the end.
      if (!HasWorkLocked()) {
        if (stopping_) break;
        wake_.wait(lock.native(),
                   [this]() MFWQ_REQUIRES(mu_) { return HasWorkLocked() || stopping_; });
        if (!HasWorkLocked()) break;
      }
    } else if (failing_.load()) {
      // Written again after a pause (at once if the server is going).
      wake_.wait_for(lock.native(), retry_in,
                     [this]() MFWQ_REQUIRES(mu_) { return stopping_ || give_up_; });
      retry_in = std::min<std::chrono::milliseconds>(retry_in * 2, kLastRetry);
    } else if (!HasWorkLocked()) {
      if (stopping_) break;
      lock.Unlock();
      Spin();
      lock.Lock();
      sleeping_ = true;
      wake_.wait(lock.native(), [this]() MFWQ_REQUIRES(mu_) { return HasWorkLocked() || stopping_; });
      sleeping_ = false;
      if (!HasWorkLocked()) break;  // stopping, with nothing left to write
    }
    // Group commit: while more completions are on their way and no
    // submission waits, wait a little for them to share this commit.
    if (acceptances_.empty() && !completions_.empty() &&
        completions_.size() < kGather && more_coming_ && more_coming_() && !stopping_) {
      gathering_ = sleeping_ = true;
      wake_.wait_for(lock.native(), kLinger, [this]() MFWQ_REQUIRES(mu_) {
        return completions_.size() >= kGather || !acceptances_.empty() || stopping_ ||
               !more_coming_();
      });
      gathering_ = sleeping_ = false;
    }
    std::vector<Acceptance> accepted = std::move(acceptances_);
    acceptances_.clear();
    withdrawn.insert(withdrawn.end(), withdrawn_.begin(), withdrawn_.end());
    withdrawn_.clear();
    prune = std::max(prune, std::exchange(prune_through_, 0));
    std::vector<Published> batch = std::move(carried);
    carried.clear();
    const std::size_t take = std::min(completions_.size(), kMaxCompletions);
    batch.reserve(batch.size() + take);
    for (std::size_t i = 0; i < take; ++i) {
      Pending& p = completions_[i];
      p.record.sequence = next_sequence_++;
      batch.push_back({std::make_shared<const CompletionRecord>(std::move(p.record)),
                       std::move(p.owner)});
    }
    completions_.erase(completions_.begin(), completions_.begin() + static_cast<std::ptrdiff_t>(take));
    has_work_.store(HasWorkLocked(), std::memory_order_release);
    const bool give_up = give_up_ || stopping_;
    lock.Unlock();

    Status status = OkStatus();
    if (journal_ != nullptr) {
      JournalWrite write;
      write.accepted.reserve(accepted.size());
      for (const Acceptance& a : accepted) {
        if (!a.records.empty()) write.accepted.emplace_back(a.records);
      }
      write.withdrawn = withdrawn;
      std::vector<CompletionPtr> completed;
      completed.reserve(batch.size());
      for (const Published& p : batch) completed.push_back(p.completion);
      write.completed = completed;
      write.prune_through = prune;
      status = journal_->Commit(write);
    }
    if (status.ok()) {
      // Healthy again before anyone hears of this commit: a submission
      // made on the news is accepted.
      const bool recovered = failing_.load();
      if (recovered) {
        {
          MutexLock relock(mu_);
          failure_ = OkStatus();
        }
        failing_.store(false, std::memory_order_release);
        retry_in = kFirstRetry;
      }
      withdrawn.clear();
      prune = 0;
      commits_.fetch_add(1);
      for (Acceptance& a : accepted) a.done(status);
      if (!batch.empty()) published_(batch, true);
      if (recovered) health_(OkStatus());
    } else {
      const bool first = !failing_.load();
      {
        MutexLock relock(mu_);
        failure_ = status;
      }
      failing_.store(true, std::memory_order_release);
      for (Acceptance& a : accepted) a.done(status);
      if (first) health_(status);
      if (give_up) {
        // Nobody hears of these: after a restart they are interrupted.
        if (!batch.empty()) published_(batch, false);
        withdrawn.clear();
        prune = 0;
      } else {
        carried = std::move(batch);
      }
    }
    lock.Lock();
    if (give_up && stopping_ && !HasWorkLocked()) break;
  }
}

}  // namespace mfwq::server
