// Fuzzes the journal's record codec, which reads what the disk holds: any
// bytes are read as a blob of operation rows (first byte even) or
// completion rows (odd); what reads is written again and must read back the
// same. And any bytes as encoded parameters, which must round-trip too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "record_codec.h"
#include "value.h"

namespace {

using mfwq::server::journal::CompletionRow;
using mfwq::server::journal::OperationRow;
using mfwq::server::journal::RowReader;
using mfwq::server::journal::RowWriter;

bool Same(const OperationRow& a, const OperationRow& b) {
  return a.number == b.number && a.request_id == b.request_id && a.client == b.client &&
         a.queue == b.queue && a.kind == b.kind && a.parameters == b.parameters &&
         a.priority == b.priority && a.state == b.state && a.submit_time == b.submit_time;
}

bool Same(const CompletionRow& a, const CompletionRow& b) {
  return a.sequence == b.sequence && a.number == b.number && a.status == b.status &&
         a.message == b.message && a.bytes_transferred == b.bytes_transferred &&
         a.result == b.result && a.complete_time == b.complete_time &&
         a.start_time == b.start_time;
}

template <typename Row>
void RoundTrip(std::string_view blob) {
  RowReader reader(blob);
  std::vector<Row> rows;
  while (!reader.done()) {
    Row row;
    if (!reader.Get(&row)) break;  // a damaged row: refused, not crashed on
    rows.push_back(row);
  }
  RowWriter writer;
  for (const Row& row : rows) writer.Put(row);
  const std::string again = writer.bytes();
  RowReader back(again);
  for (const Row& row : rows) {
    Row read;
    if (!back.Get(&read) || !Same(row, read)) std::abort();
  }
  if (!back.done()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view blob(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    RoundTrip<OperationRow>(blob);
  } else {
    RoundTrip<CompletionRow>(blob);
  }
  mfwq::server::Parameters parameters;
  if (mfwq::server::DecodeParameters(blob, &parameters)) {
    const std::string encoded = mfwq::server::EncodeParameters(parameters);
    mfwq::server::Parameters again;
    if (!mfwq::server::DecodeParameters(encoded, &again) ||
        mfwq::server::EncodeParameters(again) != encoded) {
      std::abort();
    }
  }
  return 0;
}
