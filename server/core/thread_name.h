// Names the calling thread, as `top -H`, debuggers and (on Windows) Process
// Explorer show it: at most 15 characters are kept on Linux.
#ifndef MFWQ_SERVER_CORE_THREAD_NAME_H_
#define MFWQ_SERVER_CORE_THREAD_NAME_H_

namespace mfwq::server {

void NameThisThread(const char* name);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_THREAD_NAME_H_
