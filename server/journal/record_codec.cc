#include "record_codec.h"

namespace mfwq::server::journal {
namespace {

std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// a - b and a + b, wrapping: times of any value round-trip.
std::int64_t Minus(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}
std::int64_t Plus(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

}  // namespace

void RowWriter::Put(const OperationRow& r) {
  Varint(r.number);
  String(r.request_id);
  Repeated(r.client, client_);
  Varint(r.queue);
  Repeated(r.kind, kind_);
  String(r.parameters);
  Varint(ZigZag(r.priority));
  String(r.state);
  Time(r.submit_time);
  seen_ = true;
}

void RowWriter::Put(const CompletionRow& r) {
  Varint(r.sequence);
  Varint(r.number);
  Varint(r.status);
  String(r.message);
  Varint(r.bytes_transferred);
  String(r.result);
  Time(r.complete_time);
  out_.push_back(r.start_time ? 1 : 0);
  if (r.start_time) Varint(ZigZag(Minus(r.complete_time, *r.start_time)));
  seen_ = true;
}

void RowWriter::Clear() {
  out_.clear();
  time_ = 0;
  seen_ = false;
}

void RowWriter::Varint(std::uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void RowWriter::String(std::string_view s) {
  Varint(s.size());
  out_.append(s);
}

void RowWriter::Repeated(std::string_view s, std::string& previous) {
  if (seen_ && s == previous) {
    Varint(0);
  } else {
    Varint(s.size() + 1);
    out_.append(s);
    previous.assign(s);
  }
}

void RowWriter::Time(std::int64_t t) {
  Varint(ZigZag(Minus(t, time_)));
  time_ = t;
}

bool RowReader::Get(OperationRow* r) {
  std::uint64_t priority;
  if (!Varint(&r->number) || !String(&r->request_id) || !Repeated(&r->client, client_) ||
      !Varint(&r->queue) || !Repeated(&r->kind, kind_) || !String(&r->parameters) ||
      !Varint(&priority) || !String(&r->state) || !Time(&r->submit_time)) {
    return false;
  }
  r->priority = UnZigZag(priority);
  seen_ = true;
  return true;
}

bool RowReader::Get(CompletionRow* r) {
  std::uint64_t status, started = 0, took;
  if (!Varint(&r->sequence) || !Varint(&r->number) || !Varint(&status) || status > 0xFFFFFFFFu ||
      !String(&r->message) || !Varint(&r->bytes_transferred) || !String(&r->result) ||
      !Time(&r->complete_time) || !Varint(&started) || started > 1) {
    return false;
  }
  r->status = static_cast<std::uint32_t>(status);
  r->start_time.reset();
  if (started == 1) {
    if (!Varint(&took)) return false;
    r->start_time = Minus(r->complete_time, UnZigZag(took));
  }
  seen_ = true;
  return true;
}

bool RowReader::Varint(std::uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in_.empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in_.front());
    in_.remove_prefix(1);
    *v |= std::uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool RowReader::Bytes(std::uint64_t n, std::string_view* s) {
  if (n > in_.size()) return false;
  *s = in_.substr(0, n);
  in_.remove_prefix(n);
  return true;
}

bool RowReader::String(std::string_view* s) {
  std::uint64_t n;
  return Varint(&n) && Bytes(n, s);
}

bool RowReader::Repeated(std::string_view* s, std::string_view& previous) {
  std::uint64_t n;
  if (!Varint(&n)) return false;
  if (n == 0) {
    if (!seen_) return false;  // nothing to repeat
    *s = previous;
    return true;
  }
  if (!Bytes(n - 1, s)) return false;
  previous = *s;
  return true;
}

bool RowReader::Time(std::int64_t* t) {
  std::uint64_t delta;
  if (!Varint(&delta)) return false;
  time_ = Plus(time_, UnZigZag(delta));
  *t = time_;
  return true;
}

std::int64_t ToNanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Clock::time_point FromNanos(std::int64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace mfwq::server::journal
