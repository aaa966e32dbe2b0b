#include "server_process.h"

#include <fcntl.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace mfwq::test {

const char* ServerBinary() {
  static const char* const binary = [] {
    const char* named = std::getenv("MFWQ_TEST_SERVER");
    return named != nullptr && *named != '\0' ? named : MFWQ_SERVER_BINARY;
  }();
  return binary;
}

bool ServerIsWindows() {
  const std::string binary = ServerBinary();
  return binary.size() > 4 && binary.compare(binary.size() - 4, 4, ".exe") == 0;
}

namespace {

// argv[0..] that start the server under test.
std::vector<std::string> ServerArgv() {
  if (ServerIsWindows()) return {MFWQ_WINE_RUN, ServerBinary()};
  return {ServerBinary()};
}

}  // namespace

std::string ServerCommand() {
  std::string command;
  for (const std::string& arg : ServerArgv()) command += (command.empty() ? "" : " ") + arg;
  return command;
}

std::string ServerPath(const std::string& path) {
  if (!ServerIsWindows() || path.empty() || path[0] != '/') return path;
  std::string windows = "Z:" + path;
  for (char& c : windows) {
    if (c == '/') c = '\\';
  }
  return windows;
}

TempDir::TempDir() {
  std::random_device rd;
  for (;;) {
    char name[64];
    std::snprintf(name, sizeof name, "mfwq-e2e-%08x", static_cast<unsigned>(rd()));
    std::filesystem::path p = std::filesystem::temp_directory_path() / name;
    if (std::filesystem::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::string& data_dir,
                                                    const std::vector<std::string>& args,
                                                    std::string* error) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->log_path_ = data_dir + ".log";
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    *error = "pipe failed";
    return nullptr;
  }
  // No drain time unless a test asks for some: tests end with a SIGTERM.
  std::vector<std::string> argv_s = ServerArgv();
  for (const char* arg : {"--listen", "127.0.0.1:0", "--data-dir"}) argv_s.push_back(arg);
  argv_s.push_back(ServerPath(data_dir));
  argv_s.push_back("--drain-timeout");
  argv_s.push_back("0ms");
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log = open(server->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t pid = fork();
  if (pid == 0) {
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
#endif
    dup2(out[1], 1);
    dup2(log, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(log);
  if (pid < 0) {
    close(out[0]);
    *error = "fork failed";
    return nullptr;
  }
  server->pid_ = pid;
  // Its first line on standard output says where it listens; EOF means it
  // exited.
  std::string line;
  char ch;
  while (read(out[0], &ch, 1) == 1 && ch != '\n') line.push_back(ch);
  close(out[0]);
  if (!line.empty() && line.back() == '\r') line.pop_back();  // a Windows program's text mode
  const std::string prefix = "mfwq-server listening on ";
  if (line.rfind(prefix, 0) != 0) {
    *error = "the server did not start: " + server->Log();
    server->Wait();
    server->pid_ = -1;
    return nullptr;
  }
  server->address_ = line.substr(prefix.size());
  return server;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

std::shared_ptr<grpc::Channel> ServerProcess::Channel() const {
  return grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
}

std::unique_ptr<v1::WorkQueues::Stub> ServerProcess::Stub() const {
  return v1::WorkQueues::NewStub(Channel());
}

int ServerProcess::Wait() {
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int ServerProcess::Terminate() { return SignalAndWait(ServerIsWindows() ? SIGINT : SIGTERM); }

void ServerProcess::Kill() { SignalAndWait(SIGKILL); }

int ServerProcess::SignalAndWait(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  return Wait();
}

std::string ServerProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& client,
                                             std::chrono::milliseconds deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("mfwq-client", client);
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  return context;
}

}  // namespace mfwq::test
