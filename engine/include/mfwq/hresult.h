// Names of HRESULTs, for logs and remote notifications.
// Works with the portable <mfwq/mfapi.h> and on Windows alike.
#ifndef MFWQ_HRESULT_H_
#define MFWQ_HRESULT_H_

#include <string>

#include <mfwq/mfapi.h>

namespace mfwq {

// The symbolic name of `hr` ("S_OK", "MF_E_SHUTDOWN", ...), or nullptr when
// the name is not known.
const char* HResultName(HRESULT hr);

// "MF_E_SHUTDOWN (0xC00D3E85)", or "0x80070002" when the name is not known.
std::string FormatHResult(HRESULT hr);

}  // namespace mfwq

#endif  // MFWQ_HRESULT_H_
