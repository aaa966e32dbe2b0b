// Fuzzes the config parser: any text is read as a config file, and either
// sets the config or is refused with an error naming a line of it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  mfwq::server::Config config;
  const mfwq::server::Status s = mfwq::server::LoadConfigText(&config, text, "fuzz.conf");
  if (!s.ok() && s.message().rfind("fuzz.conf:", 0) != 0) std::abort();  // names no line
  return 0;
}
