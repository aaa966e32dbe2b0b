// SHA-256 against the test vectors of FIPS 180-2 (appendix B) and lengths
// around the padding's block boundaries.
#include "sha256.h"

#include <string>

#include <gtest/gtest.h>

namespace mfwq::server {
namespace {

std::string Hex(std::string_view message) { return DigestHex(Sha256::Of(message)); }

TEST(Sha256, OneBlockMessage) {
  EXPECT_EQ(Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, MultiBlockMessage) {
  EXPECT_EQ(Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, LongMessage) {
  EXPECT_EQ(Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, EmptyMessage) {
  EXPECT_EQ(Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// 55 bytes pad within their block, 56 need another, 64 fill one exactly.
TEST(Sha256, LengthsAroundTheBlockBoundary) {
  EXPECT_EQ(Hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(Hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(Hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Sha256, PiecesGiveTheDigestOfTheWhole) {
  std::string message;
  for (int i = 0; i < 300; ++i) message.push_back(static_cast<char>(i * 7));
  const Sha256::Digest whole = Sha256::Of(message);
  for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 127u}) {
    Sha256 sha;
    for (std::size_t at = 0; at < message.size(); at += piece) {
      sha.Update(std::string_view(message).substr(at, piece));
    }
    EXPECT_EQ(sha.Finish(), whole) << "pieces of " << piece;
  }
}

TEST(Sha256, FinishStartsOver) {
  Sha256 sha;
  sha.Update("something else");
  (void)sha.Finish();
  sha.Update("abc");
  EXPECT_EQ(DigestHex(sha.Finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, DigestBytesAreTheRawDigest) {
  const std::string bytes = DigestBytes(Sha256::Of("abc"));
  ASSERT_EQ(bytes.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0xba);
  EXPECT_EQ(static_cast<unsigned char>(bytes[31]), 0xad);
}

}  // namespace
}  // namespace mfwq::server
