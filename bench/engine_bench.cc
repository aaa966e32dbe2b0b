// mfwq-engine-bench: the portable engine against asio::thread_pool, side by
// side in one run on one machine, reported as ratios.
//
//   throughput  one producer puts N items, timed until the last has run:
//               platform multithreaded queue  vs  asio::thread_pool(T)
//               private standard queue        vs  asio::thread_pool(1)
//               serial queue over the MT queue vs  asio::strand on thread_pool(T)
//   latency     one item at a time, put -> invoked, p50 and p99
//   lateness    scheduled items (MFScheduleWorkItem) vs asio::steady_timer,
//               how late each runs after its due time, p50 and p99
//
// Rounds alternate between the two sides so both see the same machine.
// Usage: mfwq-engine-bench [--items N] [--rounds R] [--latency-samples S]
//                          [--timers K]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/bind_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <mfwq/com_ptr.h>
#include <mfwq/engine.h>
#include <mfwq/mfapi.h>

namespace {

using Clock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

struct Config {
  int items = 200000;
  int rounds = 5;
  int latency_samples = 20000;
  int timers = 400;
};

// Counts completions; the waiter sleeps on the atomic until all are in.
class Completion {
 public:
  void Expect(int n) { left_.store(n, std::memory_order_relaxed); }
  void Done() {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) left_.notify_one();
  }
  void Wait() {
    for (int v = left_.load(std::memory_order_acquire); v != 0;
         v = left_.load(std::memory_order_acquire)) {
      left_.wait(v, std::memory_order_acquire);
    }
  }

 private:
  std::atomic<int> left_{0};
};

// The MF side's callback: counts a completion, on the queue it names.
class CountingCallback final : public IMFAsyncCallback {
 public:
  CountingCallback(Completion* completion, DWORD queue) : completion_(completion), queue_(queue) {}
  virtual ~CountingCallback() = default;
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** object) override {
    if (IsEqualIID(riid, IID_IMFAsyncCallback) || IsEqualIID(riid, IID_IUnknown)) {
      *object = static_cast<IMFAsyncCallback*>(this);
      AddRef();
      return S_OK;
    }
    *object = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return ++refs_; }
  ULONG STDMETHODCALLTYPE Release() override { return --refs_; }  // owned by the benchmark
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD* flags, DWORD* queue) override {
    *flags = 0;
    *queue = queue_;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult*) override {
    completion_->Done();
    return S_OK;
  }

 private:
  std::atomic<ULONG> refs_{1};
  Completion* completion_;
  DWORD queue_;
};

void Check(HRESULT hr, const char* what) {
  if (FAILED(hr)) {
    std::fprintf(stderr, "%s failed: 0x%08X\n", what, static_cast<unsigned>(hr));
    std::exit(1);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Items per second for `put_all` (which puts `items`), waited to completion.
double Throughput(int items, Completion& done, const std::function<void()>& put_all) {
  done.Expect(items);
  Clock::time_point start = Clock::now();
  put_all();
  done.Wait();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return items / seconds;
}

struct Pair {
  double mf;
  double baseline;
};

void PrintThroughput(const char* name, const char* baseline_name, Pair p) {
  std::printf("%-34s %12.0f items/s   %-28s %12.0f items/s   ratio %.2f\n", name, p.mf,
              baseline_name, p.baseline, p.mf / p.baseline);
}

Pair MeasureThroughput(const Config& cfg, DWORD queue, asio::thread_pool& pool,
                       bool use_strand) {
  Completion done;
  CountingCallback callback(&done, queue);
  auto strand = asio::make_strand(pool.get_executor());
  std::vector<double> mf, base;
  for (int round = 0; round < cfg.rounds; ++round) {
    mf.push_back(Throughput(cfg.items, done, [&] {
      for (int i = 0; i < cfg.items; ++i) Check(MFPutWorkItem(queue, &callback, nullptr), "MFPutWorkItem");
    }));
    base.push_back(Throughput(cfg.items, done, [&] {
      for (int i = 0; i < cfg.items; ++i) {
        if (use_strand) {
          asio::post(strand, [&done] { done.Done(); });
        } else {
          asio::post(pool, [&done] { done.Done(); });
        }
      }
    }));
  }
  return {Median(mf), Median(base)};
}

struct Latency {
  double p50_us;
  double p99_us;
};

Latency MeasureLatency(int samples, const std::function<void(Completion&)>& put_one) {
  Completion done;
  std::vector<double> us;
  us.reserve(samples);
  for (int i = 0; i < samples; ++i) {
    done.Expect(1);
    Clock::time_point start = Clock::now();
    put_one(done);
    done.Wait();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return {Percentile(us, 0.50), Percentile(us, 0.99)};
}

// The state of each scheduled item: its position in a vector tells its index.
class IndexState final : public IUnknown {
 public:
  virtual ~IndexState() = default;
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID, void** object) override {
    *object = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return 2; }  // owned by the vector
  ULONG STDMETHODCALLTYPE Release() override { return 1; }
};

// Records how late each scheduled item ran after its due time.
class LatenessCallback final : public IMFAsyncCallback {
 public:
  LatenessCallback(Completion* done, std::vector<double>* late_us,
                   std::vector<Clock::time_point>* due, const IndexState* first)
      : done_(done), late_us_(late_us), due_(due), first_(first) {}
  virtual ~LatenessCallback() = default;
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID, void** object) override {
    *object = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override { return 2; }
  ULONG STDMETHODCALLTYPE Release() override { return 1; }
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD* flags, DWORD* queue) override {
    *flags = 0;
    *queue = MFASYNC_CALLBACK_QUEUE_MULTITHREADED;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult* result) override {
    Clock::time_point now = Clock::now();
    auto index = static_cast<std::size_t>(static_cast<const IndexState*>(result->GetStateNoAddRef()) - first_);
    (*late_us_)[index] = std::chrono::duration<double, std::micro>(now - (*due_)[index]).count();
    done_->Done();
    return S_OK;
  }

 private:
  Completion* done_;
  std::vector<double>* late_us_;
  std::vector<Clock::time_point>* due_;
  const IndexState* first_;
};

Latency Summarise(const std::vector<double>& late_us) {
  return {Percentile(late_us, 0.50), Percentile(late_us, 0.99)};
}

void MeasureLateness(const Config& cfg, asio::thread_pool& pool, Latency* mf, Latency* base) {
  // Due times spread over 1..cfg.timers ms from now, 1 ms apart.
  std::vector<Clock::time_point> due(cfg.timers);
  std::vector<double> late(cfg.timers);
  Completion done;

  std::vector<IndexState> states(cfg.timers);
  LatenessCallback callback(&done, &late, &due, states.data());
  done.Expect(cfg.timers);
  Clock::time_point start = Clock::now();
  for (int i = 0; i < cfg.timers; ++i) {
    std::chrono::milliseconds delay(i + 1);
    due[i] = start + delay;
    IMFAsyncResult* result = nullptr;
    Check(MFCreateAsyncResult(nullptr, &callback, &states[i], &result), "MFCreateAsyncResult");
    MFWORKITEM_KEY key = 0;
    Check(MFScheduleWorkItemEx(result, -delay.count(), &key), "MFScheduleWorkItemEx");
    result->Release();
  }
  done.Wait();
  *mf = Summarise(late);

  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  done.Expect(cfg.timers);
  start = Clock::now();
  for (int i = 0; i < cfg.timers; ++i) {
    due[i] = start + std::chrono::milliseconds(i + 1);
    timers.push_back(std::make_unique<asio::steady_timer>(pool, due[i]));
    timers.back()->async_wait([&, i](const std::error_code&) {
      late[i] = std::chrono::duration<double, std::micro>(Clock::now() - due[i]).count();
      done.Done();
    });
  }
  done.Wait();
  *base = Summarise(late);
}

Config ParseArgs(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    auto value = [&](int* out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", argv[i]);
        std::exit(2);
      }
      *out = std::atoi(argv[++i]);
      if (*out <= 0) {
        std::fprintf(stderr, "%s must be a positive integer\n", argv[i - 1]);
        std::exit(2);
      }
    };
    if (!std::strcmp(argv[i], "--items")) {
      value(&cfg.items);
    } else if (!std::strcmp(argv[i], "--rounds")) {
      value(&cfg.rounds);
    } else if (!std::strcmp(argv[i], "--latency-samples")) {
      value(&cfg.latency_samples);
    } else if (!std::strcmp(argv[i], "--timers")) {
      value(&cfg.timers);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--items N] [--rounds R] [--latency-samples S] [--timers K]\n",
                   argv[0]);
      std::exit(!std::strcmp(argv[i], "--help") ? 0 : 2);
    }
  }
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = ParseArgs(argc, argv);
  const unsigned threads = mfwq::PoolThreads(mfwq::GetEngineOptions());
  std::printf("mfwq-engine-bench: %d items x %d rounds (median), %u pool threads, %u hardware threads\n\n",
              cfg.items, cfg.rounds, threads, std::thread::hardware_concurrency());

  Check(MFStartup(MF_VERSION, MFSTARTUP_FULL), "MFStartup");
  asio::thread_pool mt_pool(threads);
  asio::thread_pool one_pool(1);

  DWORD standard = 0, serial = 0;
  Check(MFAllocateWorkQueue(&standard), "MFAllocateWorkQueue");
  Check(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, &serial),
        "MFAllocateSerialWorkQueue");

  std::printf("throughput (put -> invoke, one producer)\n");
  Pair mt = MeasureThroughput(cfg, MFASYNC_CALLBACK_QUEUE_MULTITHREADED, mt_pool, false);
  PrintThroughput("MF multithreaded platform queue", "asio::thread_pool", mt);
  Pair st = MeasureThroughput(cfg, standard, one_pool, false);
  PrintThroughput("MF private standard queue", "asio::thread_pool(1)", st);
  Pair se = MeasureThroughput(cfg, serial, mt_pool, true);
  PrintThroughput("MF serial queue (over MT)", "asio::strand", se);

  std::printf("\nsingle-item latency (put -> invoked, one at a time)\n");
  Completion* current = nullptr;
  struct Forwarding final : public IMFAsyncCallback {
    Completion** target;
    explicit Forwarding(Completion** t) : target(t) {}
    virtual ~Forwarding() = default;
    HRESULT STDMETHODCALLTYPE QueryInterface(REFIID, void** o) override {
      *o = nullptr;
      return E_NOINTERFACE;
    }
    ULONG STDMETHODCALLTYPE AddRef() override { return 2; }
    ULONG STDMETHODCALLTYPE Release() override { return 1; }
    HRESULT STDMETHODCALLTYPE GetParameters(DWORD*, DWORD*) override { return E_NOTIMPL; }
    HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult*) override {
      (*target)->Done();
      return S_OK;
    }
  } forwarding(&current);
  Latency mf_lat = MeasureLatency(cfg.latency_samples, [&](Completion& done) {
    current = &done;
    Check(MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, &forwarding, nullptr), "MFPutWorkItem");
  });
  Latency base_lat = MeasureLatency(cfg.latency_samples, [&](Completion& done) {
    asio::post(mt_pool, [&done] { done.Done(); });
  });
  std::printf("%-34s p50 %7.1f us  p99 %7.1f us   %-18s p50 %7.1f us  p99 %7.1f us   p50 ratio %.2f\n",
              "MF multithreaded platform queue", mf_lat.p50_us, mf_lat.p99_us, "asio::thread_pool",
              base_lat.p50_us, base_lat.p99_us, mf_lat.p50_us / base_lat.p50_us);

  std::printf("\nscheduled-item lateness (%d items due 1..%d ms ahead)\n", cfg.timers, cfg.timers);
  Latency mf_late{}, base_late{};
  MeasureLateness(cfg, mt_pool, &mf_late, &base_late);
  std::printf("%-34s p50 %7.1f us  p99 %7.1f us   %-18s p50 %7.1f us  p99 %7.1f us\n",
              "MFScheduleWorkItem", mf_late.p50_us, mf_late.p99_us, "asio::steady_timer",
              base_late.p50_us, base_late.p99_us);

  Check(MFUnlockWorkQueue(serial), "MFUnlockWorkQueue");
  Check(MFUnlockWorkQueue(standard), "MFUnlockWorkQueue");
  Check(MFShutdown(), "MFShutdown");
  mt_pool.join();
  one_pool.join();

  std::printf("\ntargets: multithreaded throughput ratio >= 1.00 (%s), scheduled p99 lateness < 2 ms (%s)\n",
              mt.mf / mt.baseline >= 1.0 ? "met" : "NOT met", mf_late.p99_us < 2000 ? "met" : "NOT met");
  return 0;
}
