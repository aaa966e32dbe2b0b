// The mfwq command-line tool, run as a program against the real server:
// its output, --json, and exit codes.
//
// The tool under test is the one this build made, or the one the
// environment names in MFWQ_TEST_CLI: a Windows one (mfwq.exe) runs under
// Wine, against a Linux server or (MFWQ_TEST_SERVER, server_process.h) a
// Windows one.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "server_process.h"

namespace mfwq::test {
namespace {

// The command line that starts the tool under test, for a shell.
std::string CliCommand() {
  const char* named = std::getenv("MFWQ_TEST_CLI");
  const std::string binary = named != nullptr && *named != '\0' ? named : MFWQ_CLI_BINARY;
  if (binary.size() > 4 && binary.compare(binary.size() - 4, 4, ".exe") == 0) {
    return std::string(MFWQ_WINE_RUN) + " " + binary;
  }
  return binary;
}

// `text` with the \r of each \r\n removed (a Windows program's text mode).
std::string WithoutCarriageReturns(std::string text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i]);
  }
  return out;
}

struct Result {
  int exit_code;
  std::string out;  // standard output and error
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = ServerProcess::Start(dir_.path() + "/data", {}, &error);
    ASSERT_NE(server_, nullptr) << error;
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->Terminate(), 0) << server_->Log();
    }
  }
  // Runs `mfwq ARGS` (with MFWQ_SERVER naming the test's server).
  Result Mfwq(const std::string& args, const std::string& server = "") const {
    const std::string command = "MFWQ_SERVER=" + (server.empty() ? server_->address() : server) +
                                " " + CliCommand() + " " + args + " 2>&1";
    Result run{-1, ""};
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    char buffer[4096];
    std::size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = WithoutCarriageReturns(std::move(run.out));
    return run;
  }
  // Runs `mfwq ARGS` and expects its exit code and `text` in what it printed.
  void ExpectRun(const std::string& args, int exit_code, const std::string& text,
                 const std::string& server = "") const {
    Result run = Mfwq(args, server);
    EXPECT_EQ(run.exit_code, exit_code) << args << "\n" << run.out;
    EXPECT_NE(run.out.find(text), std::string::npos) << args << ": no \"" << text << "\"\n"
                                                     << run.out;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CliTest, SubmitAndWaitExitsWithTheOperationsOutcome) {
  ExpectRun("submit echo --param data=hello --wait", 0, "echo: S_OK (0x00000000), 5 bytes");

  Result failed = Mfwq("submit fail --param hresult=0x80004005 --param message=boom --wait");
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_NE(failed.out.find("E_FAIL (0x80004005)"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("boom"), std::string::npos) << failed.out;

  Result json = Mfwq("--json submit echo --param data=x --queue 1 --wait");
  EXPECT_EQ(json.exit_code, 0) << json.out;
  EXPECT_NE(json.out.find("\"status\":{\"code\":0,\"name\":\"S_OK\"}"), std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"queue_id\":1"), std::string::npos) << json.out;

  Result list = Mfwq("ops list --kind echo");
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_EQ(list.out.rfind("ID", 0), 0u) << list.out;
  EXPECT_NE(list.out.find("op-0000000000000003  echo  1      completed"), std::string::npos)
      << list.out;
}

TEST_F(CliTest, QueuesEventsKindsAndWatch) {
  // The id is MF's: 0x10000 for the first private queue of the portable
  // engine, 0x50001 with Wine's mfplat.
  ExpectRun("queues create serial --target 5 --name ordered --label farm=a", 0,
            ServerIsWindows() ? "0x50001  serial  ordered" : "0x10000  serial  ordered");
  Result listed = Mfwq("--json queues list --label farm=a");
  EXPECT_NE(listed.out.find("\"name\":\"ordered\""), std::string::npos) << listed.out;

  EXPECT_EQ(Mfwq("events create go").exit_code, 0);
  Result waiting = Mfwq("submit echo --wait-event go");
  EXPECT_NE(waiting.out.find("waiting"), std::string::npos) << waiting.out;
  EXPECT_EQ(Mfwq("events set go").exit_code, 0);
  Result watched = Mfwq("watch --count 1");
  EXPECT_EQ(watched.exit_code, 0) << watched.out;
  EXPECT_EQ(watched.out.rfind("1 op-0000000000000001 echo: S_OK", 0), 0u) << watched.out;

  Result kinds = Mfwq("kinds");
  EXPECT_NE(kinds.out.find("--param duration=<duration> (required)"), std::string::npos)
      << kinds.out;
  EXPECT_EQ(Mfwq("catalog").out, kinds.out);
}

// A short run: every figure and both ratios are printed, in a table and in
// JSON (speed itself is not asserted: that is what the figures are for).
TEST_F(CliTest, BenchPrintsTheFiguresAndBothRatios) {
  const std::string small = " --ops 300 --latency-samples 20 --rounds 1 --batch 50 --window 100";
  Result table = Mfwq("bench" + small);
  EXPECT_EQ(table.exit_code, 0) << table.out;
  for (const char* line :
       {"bare gRPC echo stream", "mfwq session, batches of <= 50", "mfwq unary submits (8 threads)",
        "bare gRPC ping-pong", "(target >= 1.0x)", "(target <= 1.5x)"}) {
    EXPECT_NE(table.out.find(line), std::string::npos) << line << "\n" << table.out;
  }
  Result json = Mfwq("--json bench" + small);
  EXPECT_EQ(json.exit_code, 0) << json.out;
  for (const char* field : {"\"session_vs_bare_stream\":", "\"single_session_p50_vs_ping_pong\":",
                            "\"bare_stream_msgs_per_s\":", "\"ping_pong_p50_us\":"}) {
    EXPECT_NE(json.out.find(field), std::string::npos) << field << "\n" << json.out;
  }
  EXPECT_NE(table.out.find("(mfwq bench-baseline, a process of its own)"), std::string::npos)
      << table.out;
  Result bad = Mfwq("bench --batch 5000");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--batch: expected 1 to 1000, got 5000"), std::string::npos) << bad.out;
}

// The baseline alone: it prints where it listens and ends with its input.
TEST_F(CliTest, BenchBaselineListensOnLoopbackUntilItsInputEnds) {
  Result run = Mfwq("bench-baseline < /dev/null");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(run.out.rfind("127.0.0.1:", 0), 0u) << run.out;
  EXPECT_GT(std::stoi(run.out.substr(10)), 0) << run.out;
  EXPECT_EQ(run.out.back(), '\n') << run.out;

  ExpectRun("bench-baseline --listen 127.0.0.1:99999 < /dev/null", 2,
            "--listen: expected HOST:PORT with a port from 0 to 65535, got "
            "127.0.0.1:99999");
  // An address of no interface here (TEST-NET-1): binding fails.
  ExpectRun("bench-baseline --listen 192.0.2.1:0 < /dev/null", 3, "cannot listen on 192.0.2.1:0");
  // A port another baseline listens on is refused, not shared. The first
  // serves until its input, a FIFO this test holds open, ends.
  const std::string fifo = dir_.path() + "/baseline-input";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // A writer (so that the shell's open does not block) the first does not inherit.
  const int input = open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(input, 0);
  FILE* first = popen((CliCommand() + " bench-baseline < " + fifo).c_str(), "r");
  ASSERT_NE(first, nullptr);
  char line[128] = {};
  const bool listening = fgets(line, sizeof line, first) != nullptr;
  std::string address(line);
  while (!address.empty() && (address.back() == '\n' || address.back() == '\r')) address.pop_back();
  if (listening) {
    ExpectRun("bench-baseline --listen " + address + " < /dev/null", 3,
              "cannot listen on " + address);
  }
  close(input);  // the first's input ends, and it stops
  EXPECT_EQ(pclose(first), 0);
  EXPECT_TRUE(listening) << "the first bench-baseline printed no address";

  // A baseline that is not there (port 1 refuses) fails the bench at once.
  ExpectRun("bench --baseline 127.0.0.1:1 --ops 10 --latency-samples 1 --rounds 1", 3,
            "cannot reach the baseline echo server at 127.0.0.1:1");
}

TEST_F(CliTest, ErrorsSayWhatWasWrongWithTheirOwnExitCodes) {
  ExpectRun("submit echo --param data=x --queue 0x7777", 3, "NOT_FOUND: queue_id");

  ExpectRun("submit sleep --param duration=soon", 2, "--param duration: expected a duration");

  // A parameter without --param is not silently dropped.
  ExpectRun("submit echo data=x", 2, "unexpected argument \"data=x\"");

  ExpectRun("frobnicate", 2, "unknown command \"frobnicate\"");

  Result help = Mfwq("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Usage: mfwq"), std::string::npos);
  for (const char* command :
       {"kinds", "queues", "submit", "ops", "watch", "events", "bench", "bench-baseline"}) {
    Result own = Mfwq(std::string(command) + " --help");
    EXPECT_EQ(own.exit_code, 0) << command;
    EXPECT_EQ(own.out.rfind(std::string("Usage: mfwq ") + command, 0), 0u) << own.out;
  }

  // A port on which nothing listens (the test's server, stopped).
  const std::string address = server_->address();
  ASSERT_EQ(server_->Terminate(), 0);
  server_.reset();
  ExpectRun("kinds", 3, "cannot reach the server at " + address, address);
}

}  // namespace
}  // namespace mfwq::test
