// WorkQueuesService: the unary handlers of operations: Submit (answered
// from the journal writer's thread once the operation is durable),
// GetOperation, ListOperations and CancelOperation (answered once the
// completion the cancel made is out). None waits on a gRPC thread.
#include "service.h"
#include "unary_call.h"

namespace mfwq::server::rpc {

// --- Operations ---------------------------------------------------------------

void WorkQueuesService::SubmitMany(
    const std::string& client,
    const google::protobuf::RepeatedPtrField<v1::SubmitRequest>& requests, std::uint64_t session,
    OperationTable::SubmitDone done) {
  // Refusals here share the answers' indexes with what the table answers.
  auto refused = std::make_shared<std::vector<StatusOr<SubmitResult>>>(
      static_cast<std::size_t>(requests.size()), Status(StatusCode::kInternal, "not submitted"));
  std::vector<SubmitSpec> specs;
  auto indexes = std::make_shared<std::vector<std::size_t>>();  // of specs, in `requests`
  specs.reserve(refused->size());
  indexes->reserve(refused->size());
  for (int i = 0; i < requests.size(); ++i) {
    auto spec = FromProto(requests.Get(i), client);
    if (!spec.ok()) {
      (*refused)[static_cast<std::size_t>(i)] = spec.status();
      continue;
    }
    spec->session = session;
    specs.push_back(std::move(spec.value()));
    indexes->push_back(static_cast<std::size_t>(i));
  }
  // A session's answers leave out the parameters (see SubmitResults).
  core_.operations.SubmitBatch(
      std::move(specs), /*brief=*/session != 0,
      [refused, indexes, done = std::move(done)](std::vector<StatusOr<SubmitResult>> submitted) {
        for (std::size_t k = 0; k < submitted.size(); ++k) {
          (*refused)[(*indexes)[k]] = std::move(submitted[k]);
        }
        done(std::move(*refused));
      });
}

WorkQueuesService::Unary* WorkQueuesService::Submit(Ctx* ctx, const v1::SubmitRequest* r,
                                                    v1::SubmitResponse* out) {
  return RunAsync(ctx, [&](const std::string& client, Finisher finish) {
    auto spec = FromProto(*r, client);
    if (!spec.ok()) return finish(spec.status());
    std::vector<SubmitSpec> one;
    one.push_back(std::move(spec.value()));
    // Answered once the journal has it: on the journal writer's thread.
    core_.operations.SubmitBatch(
        std::move(one), /*brief=*/false,
        [out, finish](std::vector<StatusOr<SubmitResult>> results) {
          StatusOr<SubmitResult>& result = results.front();
          if (!result.ok()) return finish(result.status());
          ToProto(result->operation, out->mutable_operation());
          out->set_deduplicated(result->deduplicated);
          finish(OkStatus());
        });
  });
}

WorkQueuesService::Unary* WorkQueuesService::GetOperation(Ctx* ctx,
                                                          const v1::GetOperationRequest* r,
                                                          v1::Operation* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto number = OperationFromProto(r->operation_id(), "operation_id");
    if (!number.ok()) return number.status();
    return Reply(core_.operations.Get(client, *number), out);
  });
}

WorkQueuesService::Unary* WorkQueuesService::ListOperations(Ctx* ctx,
                                                            const v1::ListOperationsRequest* r,
                                                            v1::ListOperationsResponse* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    OperationFilter filter;
    if (r->queue_id() != 0) filter.queue = r->queue_id();
    for (int i = 0; i < r->states_size(); ++i) {
      auto state = FromProto(r->states(i), "states[" + std::to_string(i) + "]");
      if (!state.ok()) return state.status();
      filter.states.push_back(state.value());
    }
    filter.kind = r->kind();
    auto page = core_.operations.List(client, filter, r->page_size(), r->page_token());
    if (!page.ok()) return page.status();
    for (const OperationView& op : page->operations) ToProto(op, out->add_operations());
    out->set_next_page_token(page->next_page_token);
    return OkStatus();
  });
}

void WorkQueuesService::CancelOne(const std::string& client, const std::string& id,
                                  v1::CancelOperationResponse* out, Finisher done) {
  auto number = OperationFromProto(id, "operation_id");
  if (!number.ok()) return done(number.status());
  core_.operations.Cancel(client, *number, [out, done](StatusOr<CancelResult> result) {
    if (!result.ok()) return done(result.status());
    out->set_cancelled(result->cancelled);
    ToProto(result->operation, out->mutable_operation());
    done(OkStatus());
  });
}

WorkQueuesService::Unary* WorkQueuesService::CancelOperation(Ctx* ctx,
                                                             const v1::CancelOperationRequest* r,
                                                             v1::CancelOperationResponse* out) {
  return RunAsync(ctx, [&](const std::string& client, Finisher finish) {
    CancelOne(client, r->operation_id(), out, std::move(finish));
  });
}

}  // namespace mfwq::server::rpc
