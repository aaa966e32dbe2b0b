// SHA-256 (FIPS 180-4), for the file.hash kind. Our own, because the core
// also builds for Windows with mingw-w64, where there is no OpenSSL to link.
//
// Thread-safety: one object is used by one thread at a time.
#ifndef MFWQ_SERVER_CORE_SHA256_H_
#define MFWQ_SERVER_CORE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mfwq::server {

class Sha256 {
 public:
  static constexpr std::size_t kDigestSize = 32;
  using Digest = std::array<std::uint8_t, kDigestSize>;

  Sha256() { Reset(); }

  // Adds `size` bytes at `data` to the message.
  void Update(const void* data, std::size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // The digest of the message given so far; the object then starts over
  // with an empty message.
  Digest Finish();

  static Digest Of(std::string_view data);

 private:
  void Reset();
  void Compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> block_;
  std::size_t block_used_ = 0;
  std::uint64_t message_bytes_ = 0;
};

// The digest as 64 lowercase hex digits.
std::string DigestHex(const Sha256::Digest& digest);
// The digest as its 32 raw bytes.
std::string DigestBytes(const Sha256::Digest& digest);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_SHA256_H_
