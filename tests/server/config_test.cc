// The server's configuration: defaults, the file, flags over it, and errors
// that name the key, file and line.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "config.h"

namespace mfwq::server {
namespace {

StatusOr<CommandLine> Parse(std::vector<std::string> args, const Config& defaults = Config(),
                            const std::string& default_file = "") {
  args.insert(args.begin(), "mfwq-server");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), defaults, default_file);
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() / ("mfwq-config-" + std::to_string(rd())))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  std::string path_;
};

TEST_F(ConfigTest, DefaultsAreEmbedded) {
  auto cl = Parse({});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->config.listen, "127.0.0.1:50051");
  EXPECT_EQ(cl->config.data_dir, "./var/mfwq");
  EXPECT_EQ(cl->config.retain_count, 100000u);
}

TEST_F(ConfigTest, TheCommentedExampleInDeployIsValidAndSaysTheDefaults) {
  Config config;
  Status s = LoadConfigFile(&config, MFWQ_SOURCE_DIR "/deploy/mfwq-server.conf");
  ASSERT_TRUE(s.ok()) << s.message();
  const Config defaults;
  EXPECT_EQ(config.listen, defaults.listen);
  EXPECT_EQ(config.data_dir, defaults.data_dir);
  EXPECT_EQ(config.journal_sync, defaults.journal_sync);
  EXPECT_EQ(config.log_level, defaults.log_level);
  EXPECT_EQ(config.drain_timeout, defaults.drain_timeout);
  EXPECT_EQ(config.client_lease, defaults.client_lease);
  EXPECT_EQ(config.retain_count, defaults.retain_count);
  EXPECT_EQ(config.retain_age, defaults.retain_age);
  EXPECT_EQ(config.maintenance_interval, defaults.maintenance_interval);
  EXPECT_EQ(config.max_inflight_per_client, defaults.max_inflight_per_client);
  EXPECT_EQ(config.max_queue_depth, defaults.max_queue_depth);
  EXPECT_EQ(config.max_queues, defaults.max_queues);
  EXPECT_EQ(config.max_queues_per_client, defaults.max_queues_per_client);
  EXPECT_EQ(config.max_serial_chain, defaults.max_serial_chain);
  EXPECT_EQ(config.max_streams_per_client, defaults.max_streams_per_client);
  EXPECT_EQ(config.max_message_bytes, defaults.max_message_bytes);
  EXPECT_EQ(config.max_buffered_notifications, defaults.max_buffered_notifications);
  EXPECT_TRUE(config.file_roots.empty());
  EXPECT_TRUE(config.exec_allow.empty());
}

// Full paths of the system the test runs on (path_rules.h).
#if defined(_WIN32)
const std::string kServed = "C:\\srv\\mfwq", kOther = "C:/tmp/x", kRootA = "C:\\a",
                  kRootB = "\\\\server\\share\\b";
#else
const std::string kServed = "/srv/mfwq", kOther = "/tmp/x", kRootA = "/a", kRootB = "/b";
#endif

TEST_F(ConfigTest, FlagsOverrideTheFileWhereverConfigIsGiven) {
  Write("# a comment\nlisten = 0.0.0.0:6000   # trailing comment\n"
        "data_dir = " + kServed + "\ndrain_timeout = 5s\nfile_root = " + kRootA +
        "\nfile_root = " + kRootB + "\nretain_age = 2d\nlog_file = mfwq.log\n");
  auto cl = Parse({"--data-dir", kOther, "--config", path_, "--listen=127.0.0.1:7"});
  ASSERT_TRUE(cl.ok()) << cl.status().message();
  EXPECT_EQ(cl->config.listen, "127.0.0.1:7");
  EXPECT_EQ(cl->config.data_dir, kOther);
  EXPECT_EQ(cl->config.drain_timeout, std::chrono::seconds(5));
  EXPECT_EQ(cl->config.retain_age, std::chrono::hours(48));
  EXPECT_EQ(cl->config.file_roots, (std::vector<std::string>{kRootA, kRootB}));
  EXPECT_EQ(cl->config.log_file, "mfwq.log");
}

TEST_F(ConfigTest, DefaultsAndADefaultFileComeBeforeTheFlags) {
  Config defaults;
  defaults.data_dir = kServed;
  defaults.drain_timeout = std::chrono::seconds(9);
  Write("drain_timeout = 5s\nretain_count = 7\n");
  auto cl = Parse({"--retain-count", "8"}, defaults, path_);
  ASSERT_TRUE(cl.ok()) << cl.status().message();
  EXPECT_EQ(cl->config.data_dir, kServed);                       // a default
  EXPECT_EQ(cl->config.drain_timeout, std::chrono::seconds(5));  // the default file
  EXPECT_EQ(cl->config.retain_count, 8u);                        // the flag
  // A default file that is not there is no error; --config wins over it.
  cl = Parse({}, defaults, path_ + ".missing");
  ASSERT_TRUE(cl.ok()) << cl.status().message();
  EXPECT_EQ(cl->config.drain_timeout, std::chrono::seconds(9));
  cl = Parse({"--config", path_ + ".missing"}, defaults, path_);
  EXPECT_FALSE(cl.ok());
}

TEST_F(ConfigTest, PathsFollowTheRulesOfThisSystem) {
  EXPECT_EQ(Parse({"--file-root", "relative/path"}).status().message().rfind(
                "--file-root: \"relative/path\" is not a full path", 0),
            0u);
  EXPECT_TRUE(Parse({"--data-dir", "var/here"}).ok());
#if defined(_WIN32)
  EXPECT_NE(Parse({"--data-dir", "/tmp/x"}).status().message().find("has no drive"),
            std::string::npos);
  EXPECT_NE(Parse({"--exec-allow", "C:bin\\x.exe"}).status().message().find("drive C:"),
            std::string::npos);
  EXPECT_NE(Parse({"--log-file", "C:\\logs\\CON"}).status().message().find("device name"),
            std::string::npos);
#else
  EXPECT_NE(Parse({"--exec-allow", "bin/x"}).status().message().find("one starting with /"),
            std::string::npos);
#endif
}

TEST_F(ConfigTest, ErrorsNameTheKeyFileAndLine) {
  Write("listen = 127.0.0.1:1\n\nretain_count = lots\n");
  auto cl = Parse({"--config", path_});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.status().message(),
            path_ + ":3: retain_count: expected a whole number, got \"lots\"");

  Write("colour = red\n");
  cl = Parse({"--config", path_});
  EXPECT_EQ(cl.status().message(), path_ + ":1: colour: no such setting");

  cl = Parse({"--drain-timeout", "soon"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.status().message().rfind("--drain-timeout: expected a duration", 0), 0u)
      << cl.status().message();
  EXPECT_EQ(Parse({"--no-such-flag", "1"}).status().message(), "--no-such-flag: no such setting");
  EXPECT_EQ(Parse({"--listen"}).status().message(), "--listen: needs a value");
  EXPECT_EQ(Parse({"stray"}).status().message(), "stray: not a flag (see --help)");
  EXPECT_FALSE(Parse({"--config", path_ + ".missing"}).ok());
  EXPECT_FALSE(Parse({"--file-root", "relative/path"}).ok());
}

}  // namespace
}  // namespace mfwq::server
