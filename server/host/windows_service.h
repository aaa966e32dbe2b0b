// mfwq-server as a Windows service (Windows only):
//
//   mfwq-server service install [--name NAME] [--start auto|demand] [SETTINGS]
//   mfwq-server service uninstall [--name NAME]
//   mfwq-server service run [--name NAME] [SETTINGS]
//
// install registers the service with the service control manager
// (CreateServiceW; NAME defaults to "mfwq"), after making %ProgramData%\mfwq
// writable by SYSTEM and Administrators only (ordinary users may create
// files under ProgramData, and the service reads its config there): it runs
// as LocalSystem, starts
// with the system (auto, the default) or when asked (demand), is restarted
// by the manager 5 s, 10 s and then 60 s after it fails (failure actions,
// counted again after a day, also when it stops with an error), and gets a
// preshutdown notice. SETTINGS (--config FILE and --KEY VALUE flags, as for
// a console run) are checked at once and written into the service's
// command line. uninstall stops the service if it runs, then deletes it.
// run is what the manager starts: it connects to it
// (StartServiceCtrlDispatcherW) and serves.
//
// The service's settings: the embedded defaults, with data_dir
// %ProgramData%\mfwq\data and log_file %ProgramData%\mfwq\mfwq-server.log;
// then a config file: --config FILE if given, else mfwq-server.conf beside
// the executable, else %ProgramData%\mfwq\mfwq-server.conf, if there is
// one; then the flags.
//
// States reported: START_PENDING while the journal is restored (with a wait
// hint and a checkpoint every second), RUNNING once the server listens,
// STOP_PENDING on STOP, PRESHUTDOWN or SHUTDOWN (the last where the system
// sends no PRESHUTDOWN: Wine) for as long as the drain takes (the
// checkpoint going on every second), then STOPPED; STOPPED with
// ERROR_BAD_CONFIGURATION when its settings are wrong (the reason in the
// default log file), ERROR_SERVICE_SPECIFIC_ERROR (1) when it could not
// start (the reason in its log). install refuses relative paths for
// --config, data_dir and log_file: the service starts in System32. The
// control handler only records the request and returns at
// once; the drain runs on the service's own thread.
//
// Threads: the dispatcher's (the process' main thread, inside
// StartServiceCtrlDispatcherW), which calls the control handler; the
// service's (ServiceMain), which runs the server; and a reporter that bumps
// the checkpoint while a state is pending.
#ifndef MFWQ_SERVER_HOST_WINDOWS_SERVICE_H_
#define MFWQ_SERVER_HOST_WINDOWS_SERVICE_H_

namespace mfwq::server {

// `mfwq-server service ...`: argv[0] is "service". The exit status: 0, or 1
// (the call failed, the message on standard error) or 2 (a usage error).
int ServiceCommand(int argc, const char* const* argv);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_HOST_WINDOWS_SERVICE_H_
