#include "windows_service.h"

#include <windows.h>
// windows.h first
#include <aclapi.h>
#include <sddl.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <mfwq/thread_annotations.h>

#include "command_line.h"
#include "config.h"
#include "log.h"
#include "os_error.h"
#include "path_rules.h"
#include "serve.h"

namespace mfwq::server {
namespace {

constexpr const char* kDefaultName = "mfwq";

int Fail(const std::string& what, DWORD error) {
  std::fprintf(stderr, "mfwq-server service: %s: %s\n", what.c_str(),
               Win32Error(error).text.c_str());
  return 1;
}

std::filesystem::path ThisProgram() {
  std::wstring path(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n = GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
    if (n < path.size()) {
      path.resize(n);
      return path;
    }
    path.resize(path.size() * 2);
  }
}

std::filesystem::path ProgramData() {
  wchar_t buffer[MAX_PATH];
  const DWORD n = GetEnvironmentVariableW(L"ProgramData", buffer, MAX_PATH);
  if (n > 0 && n < MAX_PATH) return std::filesystem::path(buffer);
  return L"C:\\ProgramData";
}

// The settings a service starts from, before its config file and flags.
Config ServiceDefaults() {
  Config config;
  const std::filesystem::path home = ProgramData() / "mfwq";
  config.data_dir = Narrow((home / "data").wstring());
  config.log_file = Narrow((home / "mfwq-server.log").wstring());
  return config;
}

// Makes %ProgramData%\mfwq, where the service (LocalSystem) reads its config
// file and keeps its journal and log by default, writable by SYSTEM and
// Administrators only, and readable by Users: by default ordinary users may
// create files under ProgramData, and a config file one of them put there
// would choose what the service runs. The error says why it could not.
bool ProtectHome(std::string* error) {
  const std::filesystem::path home = ProgramData() / "mfwq";
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  if (ec) {
    *error = "cannot create " + Narrow(home.wstring()) + ": " + ec.message();
    return false;
  }
  // Protected (no inherited entries): full control for SYSTEM (SY) and
  // Administrators (BA), read and execute for Users (BU), for the folder
  // and all it holds (OICI).
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)", SDDL_REVISION_1,
          &descriptor, nullptr)) {
    *error = "cannot make a security descriptor: " + Win32Error(GetLastError()).text;
    return false;
  }
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = nullptr;
  GetSecurityDescriptorDacl(descriptor, &present, &dacl, &defaulted);
  std::wstring path = home.wstring();
  const DWORD set = SetNamedSecurityInfoW(
      path.data(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
      nullptr, nullptr, dacl, nullptr);
  LocalFree(descriptor);
  if (set != ERROR_SUCCESS) {
    *error = "cannot restrict " + Narrow(path) + ": " + Win32Error(set).text;
    return false;
  }
  return true;
}

// The config file a service reads when given none: beside the executable,
// else under %ProgramData%\mfwq (either may be missing).
std::string ServiceConfigFile() {
  const std::filesystem::path beside = ThisProgram().parent_path() / "mfwq-server.conf";
  std::error_code ignored;
  if (std::filesystem::exists(beside, ignored)) return Narrow(beside.wstring());
  return Narrow((ProgramData() / "mfwq" / "mfwq-server.conf").wstring());
}

// The arguments of `service SUBCOMMAND ...` less --name and --start.
struct ServiceArgs {
  std::string name = kDefaultName;
  DWORD start = SERVICE_AUTO_START;
  std::vector<std::string> settings;  // --config FILE, --KEY VALUE ...
};

bool ParseServiceArgs(int argc, const char* const* argv, ServiceArgs* args, std::string* error) {
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--name" || arg == "--start") && i + 1 >= argc) {
      *error = arg + ": needs a value";
      return false;
    }
    if (arg == "--name") {
      args->name = argv[++i];
      if (args->name.empty() || args->name.find_first_of("/\\") != std::string::npos) {
        *error = "--name: expected a service name without / or \\, got \"" + args->name + "\"";
        return false;
      }
    } else if (arg == "--start") {
      const std::string start = argv[++i];
      if (start == "auto") {
        args->start = SERVICE_AUTO_START;
      } else if (start == "demand") {
        args->start = SERVICE_DEMAND_START;
      } else {
        *error = "--start: expected auto or demand, got \"" + start + "\"";
        return false;
      }
    } else {
      args->settings.push_back(arg);
    }
  }
  return true;
}

// The settings as the service would see them, or why they are wrong.
StatusOr<CommandLine> ServiceSettings(const std::vector<std::string>& settings) {
  std::vector<const char*> argv = {"mfwq-server"};
  for (const std::string& s : settings) argv.push_back(s.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), ServiceDefaults(),
                          ServiceConfigFile());
}

// An open service control manager or service handle, closed with it.
class ScHandle {
 public:
  explicit ScHandle(SC_HANDLE handle = nullptr) : handle_(handle) {}
  ~ScHandle() {
    if (handle_ != nullptr) CloseServiceHandle(handle_);
  }
  ScHandle(const ScHandle&) = delete;
  ScHandle& operator=(const ScHandle&) = delete;
  SC_HANDLE get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  SC_HANDLE handle_;
};

int Install(const ServiceArgs& args) {
  auto settings = ServiceSettings(args.settings);
  if (!settings.ok()) {
    std::fprintf(stderr, "mfwq-server service install: %s\n", settings.status().message().c_str());
    return 2;
  }
  // The service starts in System32, not here: relative paths would lead there.
  for (std::size_t i = 0; i + 1 < args.settings.size(); ++i) {
    const std::string& flag = args.settings[i];
    if (flag == "--config" || flag == "--data-dir" || flag == "--log-file") {
      if (Status s = CheckPath(flag, args.settings[i + 1], true); !s.ok()) {
        std::fprintf(stderr, "mfwq-server service install: %s (the service starts in System32)\n",
                     s.message().c_str());
        return 2;
      }
    }
  }
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string&>{"data_dir", settings->config.data_dir},
        {"log_file", settings->config.log_file}}) {
    if (Status s = CheckPath(key, value, true); !value.empty() && !s.ok()) {
      std::fprintf(stderr, "mfwq-server service install: %s (the service starts in System32)\n",
                   s.message().c_str());
      return 2;
    }
  }
  std::vector<std::wstring> run = {L"service", L"run", L"--name", Widen(args.name)};
  for (const std::string& s : args.settings) run.push_back(Widen(s));
  const std::wstring command = JoinCommandLine(ThisProgram().wstring(), run);

  ScHandle manager(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE));
  if (!manager) return Fail("cannot open the service control manager", GetLastError());
  if (std::string error; !ProtectHome(&error)) {
    std::fprintf(stderr, "mfwq-server service install: %s\n", error.c_str());
    return 1;
  }
  const std::wstring name = Widen(args.name);
  const std::wstring display = L"mfwq work queues (" + name + L")";
  ScHandle service(CreateServiceW(manager.get(), name.c_str(), display.c_str(),
                                  SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, args.start,
                                  SERVICE_ERROR_NORMAL, command.c_str(), nullptr, nullptr, nullptr,
                                  nullptr, nullptr));
  if (!service) return Fail("cannot create the service " + args.name, GetLastError());

  std::wstring about =
      L"Media Foundation work queues, served over gRPC (mfwq.v1.WorkQueues) on " +
      Widen(settings->config.listen) + L".";
  SERVICE_DESCRIPTIONW description{about.data()};
  ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_DESCRIPTION, &description);
  // Restarted after a failure: 5 s, 10 s, then 60 s; counted anew after a day.
  SC_ACTION actions[3] = {{SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 10000},
                          {SC_ACTION_RESTART, 60000}};
  SERVICE_FAILURE_ACTIONSW failure{};
  failure.dwResetPeriod = 24 * 3600;
  failure.cActions = 3;
  failure.lpsaActions = actions;
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS, &failure)) {
    const DWORD error = GetLastError();
    DeleteService(service.get());  // not left half installed
    return Fail("cannot set the failure actions of " + args.name, error);
  }
  // ... also when it stops with an error, not only when it crashes.
  SERVICE_FAILURE_ACTIONS_FLAG on_errors{TRUE};
  ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &on_errors);
  // Time to drain at system shutdown.
  const auto drain = std::chrono::duration_cast<std::chrono::milliseconds>(
      settings->config.drain_timeout + std::chrono::seconds(15));
  SERVICE_PRESHUTDOWN_INFO preshutdown{static_cast<DWORD>(drain.count())};
  ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_PRESHUTDOWN_INFO, &preshutdown);
  std::printf("installed service %s: %s\n", args.name.c_str(), Narrow(command).c_str());
  return 0;
}

int Uninstall(const ServiceArgs& args) {
  ScHandle manager(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  if (!manager) return Fail("cannot open the service control manager", GetLastError());
  ScHandle service(OpenServiceW(manager.get(), Widen(args.name).c_str(),
                                DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS));
  if (!service) return Fail("cannot open the service " + args.name, GetLastError());
  SERVICE_STATUS status{};
  if (QueryServiceStatus(service.get(), &status) && status.dwCurrentState != SERVICE_STOPPED) {
    std::printf("stopping service %s\n", args.name.c_str());
    // The drain may take a while; the service reports its progress. A stop
    // asked while it starts is refused: asked again until it takes, for at
    // most 10 minutes (deleted anyway, it goes once it stops).
    const ULONGLONG give_up = GetTickCount64() + 10 * 60 * 1000;
    bool asked = false;
    while (QueryServiceStatus(service.get(), &status) &&
           status.dwCurrentState != SERVICE_STOPPED && GetTickCount64() < give_up) {
      if (!asked && status.dwCurrentState != SERVICE_STOP_PENDING) {
        SERVICE_STATUS ignored;
        asked = ControlService(service.get(), SERVICE_CONTROL_STOP, &ignored) != 0;
      }
      Sleep(250);
    }
    if (status.dwCurrentState != SERVICE_STOPPED) {
      std::fprintf(stderr, "mfwq-server service uninstall: %s did not stop; deleting it anyway\n",
                   args.name.c_str());
    }
  }
  if (!DeleteService(service.get())) {
    return Fail("cannot delete the service " + args.name, GetLastError());
  }
  std::printf("uninstalled service %s\n", args.name.c_str());
  return 0;
}

// --- Running under the service control manager ---------------------------

// What ServiceMain needs, set before the dispatcher starts.
struct Service {
  std::wstring name;
  StatusOr<CommandLine> settings = InvalidArgument("not parsed");

  SERVICE_STATUS_HANDLE handle = nullptr;
  Mutex mu;
  std::condition_variable cv;
  SERVICE_STATUS status MFWQ_GUARDED_BY(mu){};
  const char* stop_reason MFWQ_GUARDED_BY(mu) = nullptr;
  bool reporter_stop MFWQ_GUARDED_BY(mu) = false;
};

Service* g_service = nullptr;

void ReportLocked(Service& s, DWORD state, DWORD wait_hint_ms) MFWQ_REQUIRES(s.mu) {
  s.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  const bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  s.status.dwCheckPoint = pending && s.status.dwCurrentState == state ? s.status.dwCheckPoint + 1
                          : pending                                 ? 1
                                                                    : 0;
  s.status.dwCurrentState = state;
  s.status.dwWaitHint = wait_hint_ms;
  s.status.dwControlsAccepted =
      state == SERVICE_RUNNING
          ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_PRESHUTDOWN | SERVICE_ACCEPT_SHUTDOWN
          : 0;
  SetServiceStatus(s.handle, &s.status);
}

void Report(Service& s, DWORD state, DWORD wait_hint_ms) {
  MutexLock lock(s.mu);
  ReportLocked(s, state, wait_hint_ms);
}

DWORD WINAPI OnControl(DWORD control, DWORD, LPVOID, LPVOID context) {
  Service& s = *static_cast<Service*>(context);
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_PRESHUTDOWN:
    case SERVICE_CONTROL_SHUTDOWN: {
      // Recorded and reported; the service's thread drains.
      MutexLock lock(s.mu);
      if (s.stop_reason == nullptr) {
        s.stop_reason = control == SERVICE_CONTROL_STOP          ? "SERVICE_STOP"
                        : control == SERVICE_CONTROL_PRESHUTDOWN ? "SERVICE_PRESHUTDOWN"
                                                                 : "SERVICE_SHUTDOWN";
      }
      ReportLocked(s, SERVICE_STOP_PENDING, 5000);
      s.cv.notify_all();
      return NO_ERROR;
    }
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

// Bumps the checkpoint of a pending state every second until told to stop.
class PendingReporter {
 public:
  explicit PendingReporter(Service& s) : s_(s) {
    {
      MutexLock lock(s_.mu);
      s_.reporter_stop = false;
    }
    thread_ = std::thread([this] {
      MutexLock lock(s_.mu);
      while (!s_.cv.wait_for(lock.native(), std::chrono::seconds(1),
                             [this]() MFWQ_REQUIRES(s_.mu) { return s_.reporter_stop; })) {
        const DWORD state = s_.status.dwCurrentState;
        if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING) {
          ReportLocked(s_, state, 5000);
        }
      }
    });
  }
  ~PendingReporter() {
    {
      MutexLock lock(s_.mu);
      s_.reporter_stop = true;
    }
    s_.cv.notify_all();
    thread_.join();
  }
  PendingReporter(const PendingReporter&) = delete;
  PendingReporter& operator=(const PendingReporter&) = delete;

 private:
  Service& s_;
  std::thread thread_;
};

void WINAPI ServiceMain(DWORD, LPWSTR*) {
  Service& s = *g_service;
  s.handle = RegisterServiceCtrlHandlerExW(s.name.c_str(), OnControl, &s);
  if (s.handle == nullptr) return;
  if (!s.settings.ok()) {
    // Said where someone will look: the default log file.
    const Config defaults = ServiceDefaults();
    std::error_code ignored;
    std::filesystem::create_directories(std::filesystem::path(defaults.log_file).parent_path(),
                                        ignored);
    std::string error;
    LogLine::SetFile(defaults.log_file, &error);
    LogLine("error", "bad_config").Field("reason", s.settings.status().message());
    MutexLock lock(s.mu);
    s.status.dwWin32ExitCode = ERROR_BAD_CONFIGURATION;
    ReportLocked(s, SERVICE_STOPPED, 0);
    return;
  }
  Config config = s.settings->config;
  if (!config.log_file.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(std::filesystem::path(config.log_file).parent_path(),
                                        ignored);
  }
  Status served;
  {
    Report(s, SERVICE_START_PENDING, 30000);
    PendingReporter reporter(s);
    ServeHooks hooks;
    hooks.listening = [&s](const std::string& address) {
      LogLine("info", "service_running").Field("address", address);
      Report(s, SERVICE_RUNNING, 0);
    };
    hooks.wait_for_stop = [&s] {
      MutexLock lock(s.mu);
      s.cv.wait(lock.native(), [&s]() MFWQ_REQUIRES(s.mu) { return s.stop_reason != nullptr; });
      return std::string(s.stop_reason);
    };
    hooks.stopping = [&s, &config] {
      const auto hint =
          std::chrono::duration_cast<std::chrono::milliseconds>(config.drain_timeout).count();
      Report(s, SERVICE_STOP_PENDING, static_cast<DWORD>(hint + 5000));
    };
    served = Serve(config, hooks);
  }
  MutexLock lock(s.mu);
  if (!served.ok()) {
    s.status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
    s.status.dwServiceSpecificExitCode = 1;
  }
  ReportLocked(s, SERVICE_STOPPED, 0);
}

int Run(const ServiceArgs& args) {
  static Service service;
  service.name = Widen(args.name);
  service.settings = ServiceSettings(args.settings);
  g_service = &service;
  SERVICE_TABLE_ENTRYW table[] = {{service.name.data(), ServiceMain}, {nullptr, nullptr}};
  if (!StartServiceCtrlDispatcherW(table)) {
    const DWORD error = GetLastError();
    if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
      std::fprintf(stderr,
                   "mfwq-server service run: this is what the service control manager starts; "
                   "start the service with `sc start %s` or `net start %s`, or run "
                   "mfwq-server without `service run` in a console\n",
                   args.name.c_str(), args.name.c_str());
      return 2;
    }
    return Fail("cannot connect to the service control manager", error);
  }
  return 0;
}

}  // namespace

int ServiceCommand(int argc, const char* const* argv) {
  const std::string usage =
      "usage: mfwq-server service install|uninstall|run [--name NAME] [--start auto|demand] "
      "[--config FILE] [--KEY VALUE]...";
  if (argc < 2) {
    std::fprintf(stderr, "mfwq-server service: %s\n", usage.c_str());
    return 2;
  }
  const std::string command = argv[1];
  ServiceArgs args;
  std::string error;
  if (!ParseServiceArgs(argc - 2, argv + 2, &args, &error)) {
    std::fprintf(stderr, "mfwq-server service %s: %s\n", command.c_str(), error.c_str());
    return 2;
  }
  if (command == "install") return Install(args);
  if (command == "uninstall") return Uninstall(args);
  if (command == "run") return Run(args);
  std::fprintf(stderr, "mfwq-server service: unknown command \"%s\"; %s\n", command.c_str(),
               usage.c_str());
  return 2;
}

}  // namespace mfwq::server
