#include "operation_kind.h"
#include "client_text.h"

#include <utility>

namespace mfwq::server {

Status OperationKind::Check(const Parameters&) const { return OkStatus(); }

Status ValidateParameters(const KindInfo& info, Parameters* parameters) {
  for (const auto& [name, value] : *parameters) {
    const ParameterInfo* declared = nullptr;
    for (const ParameterInfo& p : info.parameters) {
      if (p.name == name) declared = &p;
    }
    if (declared == nullptr) {
      return InvalidArgument("parameters." + FieldKey(name) + ": kind \"" + info.name +
                             "\" has no such parameter");
    }
    if (TypeOf(value) != declared->type) {
      return InvalidArgument("parameters." + FieldKey(name) + ": expected type " +
                             TypeName(declared->type) + ", got " + TypeName(TypeOf(value)));
    }
  }
  for (const ParameterInfo& p : info.parameters) {
    if (parameters->count(p.name) != 0) continue;
    if (p.required) return InvalidArgument("parameters." + p.name + ": required");
    if (p.default_value) parameters->emplace(p.name, *p.default_value);
  }
  return OkStatus();
}

ComPtr<KindCallback> KindCallback::Create(std::shared_ptr<const OperationKind> kind, DWORD queue) {
  return ComPtr<KindCallback>::Adopt(new KindCallback(std::move(kind), queue));
}

KindCallback::KindCallback(std::shared_ptr<const OperationKind> kind, DWORD queue)
    : kind_(std::move(kind)), queue_(queue) {}

HRESULT KindCallback::GetParameters(DWORD* flags, DWORD* queue) {
  if (flags == nullptr || queue == nullptr) return E_POINTER;
  *flags = 0;
  *queue = queue_;
  return S_OK;
}

HRESULT KindCallback::Invoke(IMFAsyncResult* result) {
  if (result == nullptr) return E_POINTER;
  // The result handed to Invoke is the very Operation that was put.
  auto& op = static_cast<Operation&>(*static_cast<MFASYNCRESULT*>(result));
  OperationObserver* observer = op.observer();
  // Cancelled while it waited (a cancelled waiting item arrives with
  // MF_E_OPERATION_CANCELLED already set): it does not run.
  if (op.cancel_requested() || op.GetStatus() == MF_E_OPERATION_CANCELLED) {
    op.SetStatus(MF_E_OPERATION_CANCELLED);
    if (op.message().empty()) op.SetMessage("cancelled before it started");
  } else if (observer == nullptr || observer->OnStarting(op)) {
    kind_->Run(op);
  }
  if (observer != nullptr) observer->OnCompleted(op);
  return S_OK;
}

Status KindRegistry::Register(std::shared_ptr<const OperationKind> kind) {
  const std::string& name = kind->info().name;
  if (!kinds_.emplace(name, kind).second) {
    return Status(StatusCode::kAlreadyExists, "kind \"" + name + "\" is already registered");
  }
  return OkStatus();
}

std::shared_ptr<const OperationKind> KindRegistry::Find(const std::string& name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : it->second;
}

std::vector<const KindInfo*> KindRegistry::List() const {
  std::vector<const KindInfo*> infos;
  infos.reserve(kinds_.size());
  for (const auto& [name, kind] : kinds_) infos.push_back(&kind->info());
  return infos;
}

}  // namespace mfwq::server
