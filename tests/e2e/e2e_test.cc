// End-to-end tests: every call of mfwq.v1.WorkQueues against the real
// mfwq-server binary on 127.0.0.1 port 0.
#include "e2e_test.h"

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/time_util.h>

#include "proto/probes.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "proto/reflection_probe.grpc.pb.h"

namespace mfwq::test {

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;

void E2ETest::StartServer() {
  stub_.reset();
  server_.reset();
  std::string error;
  server_ = ServerProcess::Start(data_dir_, ServerArgs(), &error);
  ASSERT_NE(server_, nullptr) << error;
  stub_ = server_->Stub();
}

void E2ETest::TearDown() {
  if (!server_) return;
  stub_.reset();
  EXPECT_EQ(server_->Terminate(), 0) << server_->Log();
}

v1::SubmitRequest E2ETest::Echo(const std::string& data, std::uint32_t queue) const {
  v1::SubmitRequest r;
  r.set_queue_id(queue);
  r.set_kind("echo");
  (*r.mutable_parameters())["data"].set_bytes_value(data);
  return r;
}

v1::SubmitRequest E2ETest::Sleep(milliseconds d, std::uint32_t queue) const {
  v1::SubmitRequest r;
  r.set_queue_id(queue);
  r.set_kind("sleep");
  *(*r.mutable_parameters())["duration"].mutable_duration_value() =
      TimeUtil::MillisecondsToDuration(d.count());
  return r;
}

v1::Operation E2ETest::Submit(const v1::SubmitRequest& request, const std::string& client) {
  v1::SubmitResponse response;
  grpc::Status s = stub_->Submit(Context(client).get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response.operation();
}

v1::Operation E2ETest::WaitDone(const std::string& id, const std::string& client) {
  v1::WaitOperationRequest r;
  r.set_operation_id(id);
  *r.mutable_timeout() = TimeUtil::SecondsToDuration(30);
  v1::Operation op;
  grpc::Status s = stub_->WaitOperation(Context(client, std::chrono::seconds(60)).get(), r, &op);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_COMPLETED) << id;
  return op;
}

v1::Operation E2ETest::WaitForState(const std::string& id, v1::OperationState state,
                                    const std::string& client) {
  v1::GetOperationRequest r;
  r.set_operation_id(id);
  v1::Operation op;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    grpc::Status s = stub_->GetOperation(Context(client).get(), r, &op);
    if (!s.ok() || op.state() == state) break;
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(op.state(), state) << id;
  return op;
}

namespace {

// Reads a WatchCompletions stream.
class Watch {
 public:
  Watch(v1::WorkQueues::Stub& stub, const v1::WatchCompletionsRequest& request,
        const std::string& client = "test-client")
      : context_(Context(client, std::chrono::seconds(120))),
        reader_(stub.WatchCompletions(context_.get(), request)) {}
  ~Watch() {
    if (finished_) return;
    context_->TryCancel();
    v1::Notification n;
    while (reader_->Read(&n)) {
    }
    (void)reader_->Finish();
  }
  // The next notification; false when the stream ended.
  bool Next(v1::Notification* n) { return reader_->Read(n); }
  // The next `count` completions (skipping progress).
  std::vector<v1::Notification> Completions(std::size_t count) {
    std::vector<v1::Notification> out;
    v1::Notification n;
    while (out.size() < count && reader_->Read(&n)) {
      if (n.has_completion()) out.push_back(n);
    }
    return out;
  }
  grpc::Status Finish() {
    finished_ = true;
    return reader_->Finish();
  }
  grpc::ClientContext& context() { return *context_; }
  // Waits for the response headers: true if the server subscribed the
  // stream (it says from where), false if it ended the call instead.
  bool Subscribed() {
    reader_->WaitForInitialMetadata();
    return context_->GetServerInitialMetadata().count("mfwq-subscribed") != 0;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::Notification>> reader_;
  bool finished_ = false;
};

std::string ErrorOf(const grpc::Status& s) {
  return std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message();
}

TEST_F(E2ETest, ASecondServerIsRefusedThePortTheFirstListensOn) {
  // Were the port shared, the kernel would deal connections out between
  // two servers with different journals.
  TempDir other;
  const std::string command = "timeout -k 5 60 " + ServerCommand() + " --listen " +
                              server_->address() + " --data-dir '" + ServerPath(other.path()) +
                              "' 2>&1";
  FILE* out = popen(command.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string text;
  char buffer[512];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, out)) > 0;) text.append(buffer, n);
  const int status = pclose(out);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 1) << text;
  EXPECT_NE(text.find("mfwq-server: listen " + server_->address() + ": cannot listen there"),
            std::string::npos)
      << text;
  v1::ListKindsResponse kinds;
  grpc::Status s = stub_->ListKinds(Context().get(), v1::ListKindsRequest(), &kinds);
  EXPECT_TRUE(s.ok()) << ErrorOf(s);  // the first serves on
}

TEST_F(E2ETest, ACrashWritesTheSignalAndTheStackToTheLog) {
  MFWQ_SKIP_ON_WINDOWS_SERVER("a Windows crash is reported by the system, not by the server");
  const int status = server_->SignalAndWait(SIGSEGV);
  const std::string log = server_->Log();
  server_.reset();  // gone: nothing to stop in TearDown
  EXPECT_NE(status, 0) << log;
  // The failure handler's line (under a sanitizer, the sanitizer's report).
  EXPECT_NE(log.find("SEGV"), std::string::npos) << log;
  EXPECT_TRUE(log.find("@ ") != std::string::npos || log.find("#0 ") != std::string::npos)
      << "no stack: " << log;
}

TEST_F(E2ETest, HealthCheckingAndReflectionAreServed) {
  auto health = grpc::health::v1::Health::NewStub(server_->Channel());
  for (const char* service : {"", "mfwq.v1.WorkQueues"}) {
    grpc::health::v1::HealthCheckRequest r;
    r.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status s = health->Check(Context().get(), r, &response);
    ASSERT_TRUE(s.ok()) << ErrorOf(s);
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(server_->Channel());
  auto context = Context();
  auto stream = reflection->ServerReflectionInfo(context.get());
  grpc::reflection::v1alpha::ServerReflectionRequest r;
  r.set_list_services("*");
  ASSERT_TRUE(stream->Write(r));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.insert(s.name());
  EXPECT_EQ(services.count("mfwq.v1.WorkQueues"), 1u);
  EXPECT_TRUE(stream->Finish().ok());
}

// Reflection v1, which current grpcurl and Postman try first: the services,
// and the file that defines the API with the files it imports.
TEST_F(E2ETest, ReflectionV1IsServed) {
  namespace r1 = grpc::reflection::v1;
  auto reflection = r1::ServerReflection::NewStub(server_->Channel());
  auto context = Context();
  auto stream = reflection->ServerReflectionInfo(context.get());
  r1::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  r1::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.insert(s.name());
  EXPECT_EQ(services.count("mfwq.v1.WorkQueues"), 1u);
  EXPECT_EQ(services.count("grpc.reflection.v1.ServerReflection"), 1u);

  r1::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("mfwq.v1.WorkQueues");
  ASSERT_TRUE(stream->Write(symbol));
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_file_descriptor_response()) << response.DebugString();
  std::set<std::string> files;
  bool defines_submit = false;
  for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files.insert(file.name());
    for (const auto& service : file.service()) {
      for (const auto& method : service.method()) defines_submit |= method.name() == "Submit";
    }
  }
  EXPECT_EQ(files.count("mfwq/v1/mfwq.proto"), 1u);
  EXPECT_EQ(files.count("google/protobuf/duration.proto"), 1u);
  EXPECT_TRUE(defines_submit);

  r1::ServerReflectionRequest unknown;
  unknown.set_file_containing_symbol("no.such.Service");
  ASSERT_TRUE(stream->Write(unknown));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(E2ETest, TheCatalogListsKindsWithTheirParameters) {
  v1::ListKindsResponse kinds;
  ASSERT_TRUE(stub_->ListKinds(Context().get(), {}, &kinds).ok());
  std::map<std::string, v1::KindDescriptor> by_name;
  for (const auto& k : kinds.kinds()) by_name[k.name()] = k;
  ASSERT_EQ(by_name.count("echo"), 1u);
  ASSERT_EQ(by_name.count("sleep"), 1u);
  ASSERT_EQ(by_name.count("fail"), 1u);
  EXPECT_TRUE(by_name["sleep"].cancellable_while_running());
  ASSERT_EQ(by_name["sleep"].parameters_size(), 1);
  EXPECT_EQ(by_name["sleep"].parameters(0).name(), "duration");
  EXPECT_EQ(by_name["sleep"].parameters(0).type(), v1::VALUE_TYPE_DURATION);
  EXPECT_TRUE(by_name["sleep"].parameters(0).required());
  ASSERT_EQ(by_name["echo"].parameters_size(), 1);
  EXPECT_EQ(by_name["echo"].parameters(0).type(), v1::VALUE_TYPE_BYTES);
  EXPECT_TRUE(by_name["echo"].parameters(0).has_default_value());
}

TEST_F(E2ETest, QueuesAreCreatedLockedListedAndDeleted) {
  v1::ListQueuesResponse all;
  ASSERT_TRUE(stub_->ListQueues(Context().get(), {}, &all).ok());
  std::set<std::uint32_t> platform;
  for (const auto& q : all.queues()) {
    if (q.type() == v1::QUEUE_TYPE_PLATFORM) platform.insert(q.id());
  }
  for (std::uint32_t id : {1u, 2u, 3u, 4u, 5u, 7u}) EXPECT_EQ(platform.count(id), 1u) << id;

  v1::CreateQueueRequest create;
  create.set_type(v1::QUEUE_TYPE_MULTITHREADED);
  create.set_name("transcode");
  (*create.mutable_labels())["farm"] = "a";
  v1::Queue pool;
  ASSERT_TRUE(stub_->CreateQueue(Context().get(), create, &pool).ok());
  EXPECT_NE(pool.id() & 0xFFFF0000u, 0u);
  EXPECT_EQ(pool.type(), v1::QUEUE_TYPE_MULTITHREADED);
  EXPECT_EQ(pool.stats().locks(), 1u);
  EXPECT_EQ(pool.stats().locks_held_by_caller(), 1u);

  v1::CreateQueueRequest serial;
  serial.set_type(v1::QUEUE_TYPE_SERIAL);
  serial.set_target_queue_id(pool.id());
  v1::Queue ordered;
  ASSERT_TRUE(stub_->CreateQueue(Context().get(), serial, &ordered).ok());
  EXPECT_EQ(ordered.target_queue_id(), pool.id());

  v1::ListQueuesRequest by_label;
  (*by_label.mutable_label_selector())["farm"] = "a";
  v1::ListQueuesResponse labelled;
  ASSERT_TRUE(stub_->ListQueues(Context().get(), by_label, &labelled).ok());
  ASSERT_EQ(labelled.queues_size(), 1);
  EXPECT_EQ(labelled.queues(0).name(), "transcode");

  v1::LockQueueRequest lock;
  lock.set_queue_id(pool.id());
  v1::Queue locked;
  ASSERT_TRUE(stub_->LockQueue(Context("other").get(), lock, &locked).ok());
  EXPECT_EQ(locked.stats().locks(), 2u);
  EXPECT_EQ(locked.stats().locks_held_by_caller(), 1u);
  v1::UnlockQueueRequest unlock;
  unlock.set_queue_id(pool.id());
  ASSERT_TRUE(stub_->UnlockQueue(Context("other").get(), unlock, &locked).ok());
  EXPECT_EQ(locked.stats().locks(), 1u);
  grpc::Status s = stub_->UnlockQueue(Context("other").get(), unlock, &locked);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << ErrorOf(s);

  // Work runs on the created queues.
  v1::Operation op = WaitDone(Submit(Echo("x", ordered.id())).id());
  EXPECT_EQ(op.completion().status().code(), kSOk);
  v1::GetQueueRequest get;
  get.set_queue_id(ordered.id());
  v1::Queue stats;
  ASSERT_TRUE(stub_->GetQueue(Context().get(), get, &stats).ok());
  EXPECT_EQ(stats.stats().completed(), 1u);

  v1::DeleteQueueRequest del;
  del.set_queue_id(ordered.id());
  v1::DeleteQueueResponse deleted;
  ASSERT_TRUE(stub_->DeleteQueue(Context().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.locks_released(), 1u);
  s = stub_->GetQueue(Context().get(), get, &stats);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << ErrorOf(s);
  del.set_queue_id(1);
  s = stub_->DeleteQueue(Context().get(), del, &deleted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << ErrorOf(s);
}

TEST_F(E2ETest, DeletingAQueueCanCancelWhatHasNotStarted) {
  v1::CreateQueueRequest create;
  create.set_type(v1::QUEUE_TYPE_STANDARD);
  v1::Queue queue;
  ASSERT_TRUE(stub_->CreateQueue(Context().get(), create, &queue).ok());
  const v1::Operation holder = Submit(Sleep(std::chrono::hours(1), queue.id()));
  WaitForState(holder.id(), v1::OPERATION_STATE_RUNNING);
  std::vector<std::string> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(Submit(Echo("q", queue.id())).id());

  v1::DeleteQueueRequest del;
  del.set_queue_id(queue.id());
  del.set_cancel_pending(true);
  v1::DeleteQueueResponse deleted;
  ASSERT_TRUE(stub_->DeleteQueue(Context().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.locks_released(), 1u);
  EXPECT_EQ(deleted.operations_cancelled(), 3u);
  for (const std::string& id : queued) {
    EXPECT_EQ(WaitDone(id).completion().status().code(), kCancelled);
  }
  // The running one was not touched; it still stops when cancelled.
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(holder.id());
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_EQ(WaitDone(holder.id()).completion().status().code(), kCancelled);
}

TEST_F(E2ETest, AnOperationCompletesWithItsStatusBytesResultAndState) {
  v1::SubmitRequest r = Echo("hello");
  r.set_state("my-state");
  r.set_request_id("req-1");
  v1::Operation submitted = Submit(r);
  EXPECT_FALSE(submitted.id().empty());
  EXPECT_EQ(submitted.owner(), "test-client");
  v1::Operation done = WaitDone(submitted.id());
  const v1::Completion& c = done.completion();
  EXPECT_EQ(c.status().code(), kSOk);
  EXPECT_EQ(c.status().name(), "S_OK");
  EXPECT_EQ(c.bytes_transferred(), 5u);
  EXPECT_EQ(c.result(), "hello");
  EXPECT_EQ(c.state(), "my-state");
  EXPECT_EQ(c.request_id(), "req-1");
  EXPECT_EQ(c.kind(), "echo");
  EXPECT_TRUE(c.has_start_time());
  EXPECT_LE(TimeUtil::TimestampToNanoseconds(c.submit_time()),
            TimeUtil::TimestampToNanoseconds(c.complete_time()));

  // A retry gets the same operation.
  v1::SubmitResponse again;
  ASSERT_TRUE(stub_->Submit(Context().get(), r, &again).ok());
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.operation().id(), submitted.id());

  // Another client sees none of it.
  v1::GetOperationRequest get;
  get.set_operation_id(submitted.id());
  v1::Operation other;
  grpc::Status s = stub_->GetOperation(Context("someone-else").get(), get, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << ErrorOf(s);
}

TEST_F(E2ETest, FailuresCarryTheHResultNumberAndName) {
  v1::SubmitRequest r;
  r.set_queue_id(kMultithreaded);
  r.set_kind("fail");
  (*r.mutable_parameters())["hresult"].set_int_value(0x80004005);
  (*r.mutable_parameters())["message"].set_string_value("it broke");
  v1::Operation done = WaitDone(Submit(r).id());
  EXPECT_EQ(done.completion().status().code(), 0x80004005u);
  EXPECT_EQ(done.completion().status().name(), "E_FAIL");
  EXPECT_EQ(done.completion().message(), "it broke");
}

TEST_F(E2ETest, PriorityThenSubmissionOrderOnStandardAndSerialQueues) {
  v1::CreateQueueRequest create;
  create.set_type(v1::QUEUE_TYPE_STANDARD);
  v1::Queue standard;
  ASSERT_TRUE(stub_->CreateQueue(Context().get(), create, &standard).ok());
  create.set_type(v1::QUEUE_TYPE_SERIAL);
  create.set_target_queue_id(kMultithreaded);
  v1::Queue serial;
  ASSERT_TRUE(stub_->CreateQueue(Context().get(), create, &serial).ok());

  for (const v1::Queue& q : {standard, serial}) {
    std::vector<v1::SubmitRequest> requests;
    const int priorities[] = {0, 5, 0, 5, -3, 1, 9};
    for (int i = 0; i < 7; ++i) {
      v1::SubmitRequest r = Echo("x", q.id());
      r.set_priority(priorities[i]);
      r.set_state(std::to_string(i));
      requests.push_back(r);
    }
    // The queue is held by a running sleep while the others are queued
    // behind it, then released.
    v1::WatchCompletionsRequest w;
    w.add_queue_ids(q.id());
    Watch watch(*stub_, w);
    const v1::Operation hold = Submit(Sleep(std::chrono::hours(1), q.id()));
    WaitForState(hold.id(), v1::OPERATION_STATE_RUNNING);
    std::map<std::string, std::string> names;
    for (const v1::SubmitRequest& r : requests) names[Submit(r).id()] = r.state();
    v1::CancelOperationRequest cancel;
    cancel.set_operation_id(hold.id());
    v1::CancelOperationResponse cancelled;
    ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
    std::vector<std::string> order;
    for (const v1::Notification& n : watch.Completions(requests.size() + 1)) {
      if (n.completion().operation_id() != hold.id()) {
        order.push_back(names[n.completion().operation_id()]);
      }
    }
    // MFPutWorkItem2's priority: higher first, FIFO among equals; on a
    // serial queue too (one at a time, in that order).
    std::vector<std::string> expected = {"6", "1", "3", "5", "0", "2", "4"};
    if (ServerIsWindows()) {
      // Wine's mfplat (docs/windows.md): a standard queue's priorities
      // collapse into three classes, above, at and below 0, FIFO within
      // each; a serial queue ignores them and runs its items in FIFO order.
      expected = q.type() == v1::QUEUE_TYPE_SERIAL
                     ? std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"}
                     : std::vector<std::string>{"1", "3", "5", "6", "0", "2", "4"};
    }
    EXPECT_EQ(order, expected) << q.name();
  }
}

TEST_F(E2ETest, ManyOperationsRunOnAMultithreadedQueue) {
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(Submit(Echo(std::to_string(i))).id());
  for (const std::string& id : ids) {
    EXPECT_EQ(WaitDone(id).completion().status().code(), kSOk);
  }
}

TEST_F(E2ETest, AScheduledOperationRunsAfterItsDelayOrIsCancelled) {
  v1::SubmitRequest later = Echo("later");
  *later.mutable_delay() = TimeUtil::MillisecondsToDuration(50);
  v1::Operation op = Submit(later);
  v1::Operation done = WaitDone(op.id());
  EXPECT_EQ(done.completion().status().code(), kSOk);
  EXPECT_GE(TimeUtil::TimestampToNanoseconds(done.completion().start_time()) -
                TimeUtil::TimestampToNanoseconds(done.completion().submit_time()),
            50 * 1000 * 1000);

  *later.mutable_delay() = TimeUtil::SecondsToDuration(3600);
  op = Submit(later);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_SCHEDULED);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(op.id());
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
  EXPECT_TRUE(cancelled.cancelled());
  done = WaitDone(op.id());
  EXPECT_EQ(done.completion().status().code(), kCancelled);
  EXPECT_EQ(done.completion().status().name(), "MF_E_OPERATION_CANCELLED");
  EXPECT_FALSE(done.completion().has_start_time());
  // Cancelling again changes nothing.
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
  EXPECT_FALSE(cancelled.cancelled());
}

TEST_F(E2ETest, OperationsChainThroughEvents) {
  v1::CreateEventRequest create;
  create.set_name("a-done");
  v1::Event event;
  ASSERT_TRUE(stub_->CreateEvent(Context().get(), create, &event).ok());
  EXPECT_FALSE(event.manual_reset());

  v1::SubmitRequest b = Echo("b");
  b.set_wait_event("a-done");
  v1::Operation waiting = Submit(b);
  EXPECT_EQ(waiting.state(), v1::OPERATION_STATE_WAITING);
  v1::ListEventsResponse events;
  ASSERT_TRUE(stub_->ListEvents(Context().get(), {}, &events).ok());
  ASSERT_EQ(events.events_size(), 1);
  EXPECT_EQ(events.events(0).waiting_operations(), 1u);

  v1::SubmitRequest a = Echo("a");
  a.set_signal_event("a-done");
  Submit(a);
  EXPECT_EQ(WaitDone(waiting.id()).completion().status().code(), kSOk);

  // Set and reset by hand, on a manual-reset event.
  create.set_name("gate");
  create.set_manual_reset(true);
  ASSERT_TRUE(stub_->CreateEvent(Context().get(), create, &event).ok());
  v1::SetEventRequest set;
  set.set_name("gate");
  ASSERT_TRUE(stub_->SetEvent(Context().get(), set, &event).ok());
  EXPECT_TRUE(event.signalled());
  v1::ResetEventRequest reset;
  reset.set_name("gate");
  ASSERT_TRUE(stub_->ResetEvent(Context().get(), reset, &event).ok());
  EXPECT_FALSE(event.signalled());

  // Deleting an event cancels what waits on it.
  v1::SubmitRequest c = Echo("c");
  c.set_wait_event("gate");
  v1::Operation stuck = Submit(c);
  v1::DeleteEventRequest del;
  del.set_name("gate");
  v1::DeleteEventResponse deleted;
  ASSERT_TRUE(stub_->DeleteEvent(Context().get(), del, &deleted).ok());
  EXPECT_EQ(deleted.operations_cancelled(), 1u);
  EXPECT_EQ(WaitDone(stuck.id()).completion().status().code(), kCancelled);
}

TEST_F(E2ETest, ARunningSleepIsCancelledAndADeadlineCancelsToo) {
  v1::Operation op = Submit(Sleep(std::chrono::hours(1)));
  WaitForState(op.id(), v1::OPERATION_STATE_RUNNING);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(op.id());
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
  EXPECT_TRUE(cancelled.cancelled());
  v1::Operation done = WaitDone(op.id());
  EXPECT_EQ(done.completion().status().code(), kCancelled);
  EXPECT_TRUE(done.completion().has_start_time());

  v1::SubmitRequest late = Sleep(std::chrono::hours(1));
  *late.mutable_deadline() = TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          (std::chrono::system_clock::now() + milliseconds(100)).time_since_epoch())
          .count());
  done = WaitDone(Submit(late).id());
  EXPECT_EQ(done.completion().status().code(), kCancelled);
  EXPECT_NE(done.completion().message().find("deadline"), std::string::npos)
      << done.completion().message();
}

TEST_F(E2ETest, WaitOperationReturnsAtItsTimeoutWithTheOperationAsItIs) {
  v1::Operation op = Submit(Sleep(std::chrono::hours(1)));
  v1::WaitOperationRequest r;
  r.set_operation_id(op.id());
  *r.mutable_timeout() = TimeUtil::MillisecondsToDuration(100);
  v1::Operation now;
  ASSERT_TRUE(stub_->WaitOperation(Context().get(), r, &now).ok());
  EXPECT_NE(now.state(), v1::OPERATION_STATE_COMPLETED);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(op.id());
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
}

// As in google.longrunning: an unset timeout waits until the call's own
// deadline (at most an hour), and an explicit zero returns at once.
TEST_F(E2ETest, WaitOperationWithoutATimeoutWaitsForTheCompletion) {
  v1::CreateEventRequest create;
  create.set_name("go");
  v1::Event event;
  ASSERT_TRUE(stub_->CreateEvent(Context().get(), create, &event).ok());
  v1::SubmitRequest gated = Echo("waited for");
  gated.set_wait_event("go");
  const v1::Operation op = Submit(gated);

  v1::WaitOperationRequest at_once;
  at_once.set_operation_id(op.id());
  *at_once.mutable_timeout() = TimeUtil::MillisecondsToDuration(0);
  v1::Operation now;
  ASSERT_TRUE(stub_->WaitOperation(Context().get(), at_once, &now).ok());
  EXPECT_EQ(now.state(), v1::OPERATION_STATE_WAITING);

  v1::WaitOperationRequest unset;
  unset.set_operation_id(op.id());
  v1::Operation waited;
  grpc::Status waited_status;
  auto context = Context("test-client", std::chrono::seconds(60));
  std::thread waiter([&] { waited_status = stub_->WaitOperation(context.get(), unset, &waited); });
  v1::SetEventRequest set;
  set.set_name("go");
  ASSERT_TRUE(stub_->SetEvent(Context().get(), set, &event).ok());
  waiter.join();
  ASSERT_TRUE(waited_status.ok()) << waited_status.error_message();
  EXPECT_EQ(waited.state(), v1::OPERATION_STATE_COMPLETED);
  EXPECT_EQ(waited.completion().result(), "waited for");
}

TEST_F(E2ETest, ListOperationsFiltersAndPages) {
  for (int i = 0; i < 5; ++i) WaitDone(Submit(Echo("e")).id());
  v1::SubmitRequest f;
  f.set_queue_id(kStandard);
  f.set_kind("fail");
  (*f.mutable_parameters())["hresult"].set_int_value(0x80004005);
  WaitDone(Submit(f).id());

  v1::ListOperationsRequest r;
  r.set_kind("echo");
  r.set_page_size(2);
  std::vector<std::string> ids;
  do {
    v1::ListOperationsResponse page;
    ASSERT_TRUE(stub_->ListOperations(Context().get(), r, &page).ok());
    EXPECT_LE(page.operations_size(), 2);
    for (const auto& op : page.operations()) ids.push_back(op.id());
    r.set_page_token(page.next_page_token());
  } while (!r.page_token().empty());
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));

  v1::ListOperationsRequest by_queue;
  by_queue.set_queue_id(kStandard);
  by_queue.add_states(v1::OPERATION_STATE_COMPLETED);
  v1::ListOperationsResponse page;
  ASSERT_TRUE(stub_->ListOperations(Context().get(), by_queue, &page).ok());
  ASSERT_EQ(page.operations_size(), 1);
  EXPECT_EQ(page.operations(0).kind(), "fail");
}

TEST_F(E2ETest, AWatcherResumesFromItsLastSequenceWithNothingLostOrRepeated) {
  std::set<std::string> submitted;
  for (int i = 0; i < 50; ++i) submitted.insert(Submit(Echo(std::to_string(i))).id());
  std::vector<v1::Notification> seen;
  {
    v1::WatchCompletionsRequest w;
    Watch watch(*stub_, w);
    seen = watch.Completions(20);  // then the client goes away
  }
  ASSERT_EQ(seen.size(), 20u);
  for (int i = 0; i < 50; ++i) submitted.insert(Submit(Echo(std::to_string(i))).id());
  v1::WatchCompletionsRequest resume;
  resume.set_after_sequence(seen.back().sequence());
  Watch watch(*stub_, resume);
  for (const v1::Notification& n : watch.Completions(80)) seen.push_back(n);
  ASSERT_EQ(seen.size(), 100u);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ids.insert(seen[i].completion().operation_id());
    if (i > 0) {
      EXPECT_EQ(seen[i].sequence(), seen[i - 1].sequence() + 1);
    }
  }
  EXPECT_EQ(ids, submitted);
}

TEST_F(E2ETest, AWatcherSeesOnlyWhatItsFiltersSelect) {
  v1::Operation on_standard = Submit(Echo("s", kStandard));
  Submit(Echo("m", kMultithreaded));
  v1::Operation last = Submit(Echo("m2", kMultithreaded));
  WaitDone(last.id());
  WaitDone(on_standard.id());

  v1::WatchCompletionsRequest by_queue;
  by_queue.add_queue_ids(kStandard);
  v1::WatchCompletionsRequest by_id;
  by_id.add_operation_ids(last.id());
  {
    Watch watch(*stub_, by_queue);
    auto got = watch.Completions(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].completion().operation_id(), on_standard.id());
  }
  {
    Watch watch(*stub_, by_id);
    auto got = watch.Completions(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].completion().operation_id(), last.id());
  }
  // Another client's watcher sees none of these: its first completion is its own.
  v1::Operation theirs = Submit(Echo("t"), "other-client");
  Watch watch(*stub_, {}, "other-client");
  auto got = watch.Completions(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].completion().operation_id(), theirs.id());
}

// An answer names what the client does not know (the id and state of
// what it just sent); a retry's answer is the first attempt's operation,
// whole, which may differ from the retry.
TEST_F(E2ETest, ASessionAnswerIsBriefButARetrysIsWhole) {
  auto context = Context();
  auto stream = stub_->Session(context.get());
  v1::SessionRequest first;
  v1::SubmitRequest echo = Echo("hello");
  echo.set_request_id("brief-1");
  *first.mutable_submit()->add_requests() = echo;
  ASSERT_TRUE(stream->Write(first));
  v1::SessionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_submitted());
  ASSERT_EQ(response.submitted().results_size(), 1);
  const v1::SubmitResult& answer = response.submitted().results(0);
  ASSERT_TRUE(answer.has_accepted());
  EXPECT_FALSE(answer.accepted().deduplicated());
  const v1::Operation brief = answer.accepted().operation();
  EXPECT_FALSE(brief.id().empty());
  EXPECT_NE(brief.state(), v1::OPERATION_STATE_UNSPECIFIED);
  EXPECT_TRUE(brief.request_id().empty()) << "the client sent it";
  EXPECT_TRUE(brief.kind().empty()) << "the client sent it";
  EXPECT_FALSE(brief.has_completion()) << "it comes as a notification";
  // Its completion.
  bool completed = false;
  while (!completed && stream->Read(&response)) {
    for (const auto& n : response.notifications().notifications()) {
      completed = completed || n.completion().operation_id() == brief.id();
    }
  }
  ASSERT_TRUE(completed);

  // The same request id again, asking for something else.
  v1::SessionRequest retry;
  v1::SubmitRequest other = Sleep(std::chrono::hours(1));
  other.set_request_id("brief-1");
  *retry.mutable_submit()->add_requests() = other;
  ASSERT_TRUE(stream->Write(retry));
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_submitted());
  ASSERT_EQ(response.submitted().results_size(), 1);
  const v1::SubmitResult& again = response.submitted().results(0);
  ASSERT_TRUE(again.has_accepted());
  EXPECT_TRUE(again.accepted().deduplicated());
  const v1::Operation& whole = again.accepted().operation();
  EXPECT_EQ(whole.id(), brief.id());
  EXPECT_EQ(whole.request_id(), "brief-1");
  EXPECT_EQ(whole.kind(), "echo") << "the first attempt's, not the retry's";
  EXPECT_EQ(whole.queue_id(), echo.queue_id());
  EXPECT_EQ(whole.state(), v1::OPERATION_STATE_COMPLETED);
  EXPECT_TRUE(whole.parameters().empty()) << "parameters are left out";
  ASSERT_TRUE(whole.has_completion());
  EXPECT_EQ(whole.completion().status().code(), 0u);
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << ErrorOf(s);
}

TEST_F(E2ETest, ASessionBatchesSubmitsAndCancelsAndStreamsItsCompletions) {
  auto context = Context();
  auto stream = stub_->Session(context.get());
  v1::SessionRequest submit;
  for (int i = 0; i < 100; ++i) *submit.mutable_submit()->add_requests() = Echo(std::to_string(i));
  v1::SubmitRequest bad = Echo("x");
  bad.set_kind("no.such.kind");
  *submit.mutable_submit()->add_requests() = bad;
  *submit.mutable_submit()->add_requests() = Sleep(std::chrono::hours(1));
  ASSERT_TRUE(stream->Write(submit));

  v1::SessionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_submitted()) << "the answer comes before any completion";
  ASSERT_EQ(response.submitted().results_size(), 102);
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(response.submitted().results(i).has_accepted());
    ids.insert(response.submitted().results(i).accepted().operation().id());
  }
  ASSERT_TRUE(response.submitted().results(100).has_error());
  EXPECT_EQ(response.submitted().results(100).error().code(), 3);  // INVALID_ARGUMENT
  EXPECT_NE(response.submitted().results(100).error().message().find("kind"), std::string::npos);
  const std::string sleeper = response.submitted().results(101).accepted().operation().id();
  ids.insert(sleeper);

  v1::SessionRequest cancel;
  cancel.mutable_cancel()->add_operation_ids(sleeper);
  ASSERT_TRUE(stream->Write(cancel));
  stream->WritesDone();  // the server ends the stream once all are reported

  std::set<std::string> completed;
  bool cancel_answered = false;
  while (stream->Read(&response)) {
    if (response.has_cancelled()) {
      ASSERT_EQ(response.cancelled().results_size(), 1);
      EXPECT_TRUE(response.cancelled().results(0).cancelled());
      cancel_answered = true;
    }
    for (const auto& n : response.notifications().notifications()) {
      if (!n.has_completion()) continue;
      EXPECT_TRUE(completed.insert(n.completion().operation_id()).second) << "twice";
      if (n.completion().operation_id() == sleeper) {
        EXPECT_EQ(n.completion().status().code(), kCancelled);
      }
    }
  }
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << ErrorOf(s);
  EXPECT_TRUE(cancel_answered);
  EXPECT_EQ(completed, ids);
}

// Durations and timestamps are checked against their bounds before any
// arithmetic: values past 64-bit nanoseconds used to wrap (584 years slept
// 0.29 s; a deadline in 2263 had "already passed"), and -1 ns was 0.
TEST_F(E2ETest, DurationsAndTimestampsAreCheckedForRangeBeforeArithmetic) {
  struct Case {
    v1::SubmitRequest request;
    std::string message;  // what the error begins with
  };
  std::vector<Case> cases;
  for (std::int64_t seconds : {INT64_C(18446744074), INT64_C(9223372037), INT64_C(315576000000)}) {
    v1::SubmitRequest r = Sleep(milliseconds(1));
    (*r.mutable_parameters())["duration"].mutable_duration_value()->set_seconds(seconds);
    cases.push_back({r, "parameters.duration: more than"});
  }
  v1::SubmitRequest r = Sleep(milliseconds(1));
  (*r.mutable_parameters())["duration"].mutable_duration_value()->set_seconds(25 * 3600);
  cases.push_back({r, "parameters.duration: over 24 hours"});
  r = Sleep(milliseconds(1));
  (*r.mutable_parameters())["duration"].mutable_duration_value()->set_nanos(-1);
  cases.push_back({r, "parameters.duration: negative"});
  r = Echo("x");
  r.mutable_delay()->set_nanos(-1);
  cases.push_back({r, "delay: negative"});
  r = Echo("x");
  r.mutable_delay()->set_seconds(31 * 86400);
  cases.push_back({r, "delay: more than 30 days"});
  r = Echo("x");
  r.mutable_delay()->set_seconds(INT64_C(315576000000));
  cases.push_back({r, "delay: more than 30 days"});
  r = Echo("x");
  r.mutable_deadline()->set_seconds(-62135596800);  // 0001-01-01
  cases.push_back({r, "deadline: already passed"});
  for (const Case& c : cases) {
    v1::SubmitResponse response;
    grpc::Status s = stub_->Submit(Context().get(), c.request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message << ": " << ErrorOf(s);
    EXPECT_EQ(s.error_message().rfind(c.message, 0), 0u) << c.message << ": " << ErrorOf(s);
  }

  // Far deadlines are deadlines that do not come: the operation runs.
  for (std::int64_t seconds : {INT64_C(9246211200) /* 2263-01-01 */,
                               INT64_C(253402300799) /* 9999-12-31T23:59:59Z */}) {
    r = Echo("far");
    r.mutable_deadline()->set_seconds(seconds);
    v1::Operation done = WaitDone(Submit(r).id());
    EXPECT_EQ(done.completion().status().code(), 0u) << seconds << ": " << done.DebugString();
  }
  // The longest delay there is, cancelled.
  r = Echo("later");
  r.mutable_delay()->set_seconds(30 * 86400);
  const std::string later = Submit(r).id();
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(later);
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(WaitDone(later).completion().status().code(), 0xC00D36EDu);  // MF_E_OPERATION_CANCELLED

  // WaitOperation's timeout: -1 ns is negative, more than an hour too long.
  v1::WaitOperationRequest wait;
  wait.set_operation_id(later);
  v1::Operation waited;
  wait.mutable_timeout()->set_nanos(-1);
  grpc::Status s = stub_->WaitOperation(Context().get(), wait, &waited);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << ErrorOf(s);
  EXPECT_EQ(s.error_message(), "timeout: negative");
  wait.mutable_timeout()->set_nanos(0);
  wait.mutable_timeout()->set_seconds(INT64_C(18446744074));
  s = stub_->WaitOperation(Context().get(), wait, &waited);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << ErrorOf(s);
  EXPECT_EQ(s.error_message(), "timeout: more than 1 hour");
}

// A client's strings in errors are cut to a short prefix with their length:
// repeated whole, a 9000-byte event name made a status larger than a
// default client accepts ("received initial metadata size exceeds limit"),
// which failed the call, and the calls in flight on its channel with it.
TEST_F(E2ETest, ErrorsShowAClientsLongStringsCutShort) {
  const std::string long_name(9000, 'e');
  const auto check = [](const grpc::Status& s, grpc::StatusCode code, const std::string& begins) {
    EXPECT_EQ(s.error_code(), code) << ErrorOf(s).substr(0, 300);
    EXPECT_EQ(s.error_message().rfind(begins, 0), 0u) << ErrorOf(s).substr(0, 300);
    EXPECT_LT(s.error_message().size(), 300u);
  };
  v1::SetEventRequest set;
  set.set_name(long_name);
  v1::Event event;
  grpc::Status s = stub_->SetEvent(Context().get(), set, &event);
  check(s, grpc::StatusCode::NOT_FOUND, "name: no event \"eeee");
  EXPECT_NE(s.error_message().find("(9000 bytes)"), std::string::npos) << s.error_message();

  v1::GetOperationRequest get;
  get.set_operation_id(std::string(65536, 'o'));
  v1::Operation op;
  check(stub_->GetOperation(Context().get(), get, &op), grpc::StatusCode::NOT_FOUND,
        "operation_id: no operation \"oooo");

  v1::SubmitRequest r = Echo("x");
  r.set_kind(std::string(9000, 'k'));
  v1::SubmitResponse response;
  check(stub_->Submit(Context().get(), r, &response), grpc::StatusCode::INVALID_ARGUMENT,
        "kind: no kind \"kkkk");
  r = Echo("x");
  (*r.mutable_parameters())[std::string(9000, 'p')].set_int_value(1);
  check(stub_->Submit(Context().get(), r, &response), grpc::StatusCode::INVALID_ARGUMENT,
        "parameters.\"pppp");
  // The channel is fine.
  EXPECT_TRUE(stub_->Submit(Context().get(), Echo("after"), &response).ok());
}

TEST_F(E2ETest, BadRequestsAreRefusedNamingTheField) {
  struct Case {
    v1::SubmitRequest request;
    std::string field;
    grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT;
  };
  std::vector<Case> cases;
  v1::SubmitRequest r = Echo("x");
  r.set_kind("no.such.kind");
  cases.push_back({r, "kind"});
  r = Echo("x");
  r.set_queue_id(0);
  cases.push_back({r, "queue_id"});
  r = Echo("x");
  r.set_queue_id(0x7777);
  cases.push_back({r, "queue_id", grpc::StatusCode::NOT_FOUND});
  r = Echo("x");
  (*r.mutable_parameters())["data"].set_string_value("not bytes");
  cases.push_back({r, "parameters.data"});
  r = Echo("x");
  (*r.mutable_parameters())["colour"].set_string_value("red");
  cases.push_back({r, "parameters.colour"});
  r = Sleep(milliseconds(1));
  r.mutable_parameters()->erase("duration");
  cases.push_back({r, "parameters.duration"});
  r.Clear();
  r.set_queue_id(kStandard);
  r.set_kind("fail");
  (*r.mutable_parameters())["hresult"].set_int_value(0);
  cases.push_back({r, "parameters.hresult"});
  r = Echo("x");
  r.set_wait_event("no-such-event");
  cases.push_back({r, "wait_event", grpc::StatusCode::NOT_FOUND});
  r = Echo("x");
  r.set_signal_event("bad name!");
  cases.push_back({r, "signal_event"});
  r = Echo("x");
  *r.mutable_delay() = TimeUtil::MillisecondsToDuration(-5);
  cases.push_back({r, "delay"});
  r = Echo("x");
  r.mutable_deadline()->set_seconds(1);
  cases.push_back({r, "deadline"});
  r = Echo("x");
  r.set_request_id(std::string(200, 'r'));
  cases.push_back({r, "request_id"});
  r = Echo("x");
  r.set_state(std::string(70000, 's'));
  cases.push_back({r, "state"});
  for (const Case& c : cases) {
    v1::SubmitResponse response;
    grpc::Status s = stub_->Submit(Context().get(), c.request, &response);
    EXPECT_EQ(s.error_code(), c.code) << c.field << ": " << ErrorOf(s);
    EXPECT_EQ(s.error_message().rfind(c.field, 0), 0u) << c.field << ": " << ErrorOf(s);
  }

  v1::Queue queue;
  v1::CreateQueueRequest create;
  grpc::Status s = stub_->CreateQueue(Context().get(), create, &queue);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("type", 0), 0u) << ErrorOf(s);
  create.set_type(v1::QUEUE_TYPE_SERIAL);
  s = stub_->CreateQueue(Context().get(), create, &queue);
  EXPECT_EQ(s.error_message().rfind("target_queue_id", 0), 0u) << ErrorOf(s);

  v1::ListOperationsRequest list;
  list.set_page_size(5000);
  v1::ListOperationsResponse ops;
  s = stub_->ListOperations(Context().get(), list, &ops);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("page_size", 0), 0u) << ErrorOf(s);
  list.set_page_size(0);
  list.set_page_token("garbage");
  s = stub_->ListOperations(Context().get(), list, &ops);
  EXPECT_EQ(s.error_message().rfind("page_token", 0), 0u) << ErrorOf(s);

  v1::WaitOperationRequest wait;
  wait.set_operation_id("op-0000000000000001");
  *wait.mutable_timeout() = TimeUtil::SecondsToDuration(7200);
  v1::Operation op;
  s = stub_->WaitOperation(Context().get(), wait, &op);
  EXPECT_EQ(s.error_message().rfind("timeout", 0), 0u) << ErrorOf(s);

  v1::GetOperationRequest get;
  get.set_operation_id("op-ffffffffffffffff");
  s = stub_->GetOperation(Context().get(), get, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << ErrorOf(s);

  v1::CreateEventRequest event;
  event.set_name("");
  v1::Event e;
  s = stub_->CreateEvent(Context().get(), event, &e);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("name", 0), 0u) << ErrorOf(s);

  // The caller's identity itself.
  v1::ListKindsResponse kinds;
  s = stub_->ListKinds(Context("bad client!").get(), {}, &kinds);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("mfwq-client"), std::string::npos) << ErrorOf(s);

  // A stream from beyond the last sequence.
  v1::WatchCompletionsRequest w;
  w.set_after_sequence(1000000);
  Watch watch(*stub_, w);
  v1::Notification n;
  EXPECT_FALSE(watch.Next(&n));
  s = watch.Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << ErrorOf(s);
  EXPECT_EQ(s.error_message().rfind("after_sequence", 0), 0u) << ErrorOf(s);
}

// --- Limits -------------------------------------------------------------------

class LimitsTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--max-inflight-per-client",
            "3",
            "--max-queue-depth",
            "2",
            "--max-message-bytes",
            "4096",
            "--max-buffered-notifications",
            "8"};
  }
};

TEST_F(LimitsTest, EachLimitAnswersResourceExhaustedNamingIt) {
  // Queue depth: two sleeps on one queue fill it.
  std::vector<std::string> held;
  for (int i = 0; i < 2; ++i) held.push_back(Submit(Sleep(std::chrono::hours(1))).id());
  v1::SubmitResponse response;
  grpc::Status s = stub_->Submit(Context().get(), Sleep(std::chrono::hours(1)), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ErrorOf(s);
  EXPECT_NE(s.error_message().find("max_queue_depth"), std::string::npos) << ErrorOf(s);

  // In flight per client: the third operation on another queue is the limit.
  held.push_back(Submit(Sleep(std::chrono::hours(1), kStandard)).id());
  s = stub_->Submit(Context().get(), Sleep(std::chrono::hours(1), kMultithreaded), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ErrorOf(s);
  EXPECT_NE(s.error_message().find("max_inflight_per_client"), std::string::npos) << ErrorOf(s);
  // Another client is not affected by this one's limit.
  EXPECT_TRUE(stub_->Submit(Context("other").get(), Echo("x", kStandard), &response).ok());
  for (const std::string& id : held) {
    v1::CancelOperationRequest cancel;
    cancel.set_operation_id(id);
    v1::CancelOperationResponse cancelled;
    ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
    WaitDone(id);
  }
  // Room again.
  EXPECT_TRUE(stub_->Submit(Context().get(), Echo("x"), &response).ok());

  // Message size.
  s = stub_->Submit(Context().get(), Echo(std::string(8192, 'x')), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ErrorOf(s);
  EXPECT_NE(s.error_message().find("larger than max"), std::string::npos) << ErrorOf(s);
}

// The hostile client's chain: serial queue on serial queue, until the
// server says no (with its default limits); what was made still runs.
// (Before the limit, 40 000 of them and a Submit on the last crashed the
// server: a call per queue on a gRPC thread's stack.)
TEST_F(E2ETest, ASerialChainEndsAtItsLimitAndTheChainStillRuns) {
  std::uint32_t target = kMultithreaded;
  int created = 0;
  grpc::Status s;
  for (; created < 1000; ++created) {
    v1::CreateQueueRequest serial;
    serial.set_type(v1::QUEUE_TYPE_SERIAL);
    serial.set_target_queue_id(target);
    v1::Queue queue;
    s = stub_->CreateQueue(Context().get(), serial, &queue);
    if (!s.ok()) break;
    target = queue.id();
  }
  EXPECT_EQ(created, 16);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << ErrorOf(s);
  EXPECT_NE(s.error_message().find("limit max_serial_chain"), std::string::npos) << ErrorOf(s);
  WaitDone(Submit(Echo("down the chain", target)).id());
}

class StreamLimitTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--max-streams-per-client", "2"};
  }
};

// A client has at most max_streams_per_client streams open; the next is
// refused naming the limit, others' are not, and a closed one makes room.
TEST_F(StreamLimitTest, AClientsOpenStreamsAreLimited) {
  v1::WatchCompletionsRequest w;
  w.set_from_now(true);
  auto first = std::make_unique<Watch>(*stub_, w);
  Watch second(*stub_, w);
  ASSERT_TRUE(first->Subscribed());
  ASSERT_TRUE(second.Subscribed());
  {
    Watch third(*stub_, w);
    EXPECT_FALSE(third.Subscribed());
    grpc::Status s = third.Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ErrorOf(s);
    EXPECT_NE(s.error_message().find("limit max_streams_per_client"), std::string::npos)
        << ErrorOf(s);
  }
  {
    auto context = Context();
    auto session = stub_->Session(context.get());
    v1::SessionResponse response;
    EXPECT_FALSE(session->Read(&response));
    grpc::Status s = session->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ErrorOf(s);
  }
  Watch others(*stub_, w, "other-client");
  EXPECT_TRUE(others.Subscribed());

  // Closed: its count goes once the server is done with it.
  first.reset();
  bool room = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!room && std::chrono::steady_clock::now() < until) {
    Watch again(*stub_, w);
    room = again.Subscribed();
  }
  EXPECT_TRUE(room);
}

TEST_F(LimitsTest, ASessionSplitsItsNotificationsToFitTheMessageSizeLimit) {
  auto context = Context();
  auto stream = stub_->Session(context.get());
  v1::SessionRequest submit;
  for (int i = 0; i < 2; ++i) {
    *submit.mutable_submit()->add_requests() = Echo(std::string(1500, 'a' + i));
  }
  ASSERT_TRUE(stream->Write(submit));
  stream->WritesDone();
  int batches = 0;
  std::set<std::string> completed;
  v1::SessionResponse response;
  while (stream->Read(&response)) {
    if (!response.has_notifications()) continue;
    ++batches;
    for (const auto& n : response.notifications().notifications()) {
      if (n.has_completion()) completed.insert(n.completion().operation_id());
    }
  }
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << ErrorOf(s);
  EXPECT_EQ(completed.size(), 2u);
  // Two 1.5 KB completions do not fit in half of 4 KiB together.
  EXPECT_EQ(batches, 2);
}

TEST_F(LimitsTest, AStalledWatcherIsDroppedAndResumesWithoutLoss) {
  // A watcher that reads nothing while far more completions come than the
  // transport and its buffer of 8 hold.
  // (No BDP probing on its channel: the transport's window stays small.)
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto slow = v1::WorkQueues::NewStub(
      grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args));
  v1::WatchCompletionsRequest w;
  auto context = Context("watcher", std::chrono::seconds(120));
  auto reader = slow->WatchCompletions(context.get(), w);
  const std::string big(1000, 'x');
  std::set<std::string> submitted;
  std::vector<std::string> window;
  for (int i = 0; i < 600; ++i) {
    v1::SubmitResponse response;
    grpc::Status s = stub_->Submit(Context("watcher").get(), Echo(big), &response);
    ASSERT_TRUE(s.ok()) << ErrorOf(s);
    submitted.insert(response.operation().id());
    window.push_back(response.operation().id());
    if (window.size() == 2) {  // stay inside the depth and in-flight limits
      for (const std::string& id : window) WaitDone(id, "watcher");
      window.clear();
    }
  }
  for (const std::string& id : window) WaitDone(id, "watcher");

  std::vector<std::uint64_t> sequences;
  std::set<std::string> seen;
  v1::Notification n;
  while (reader->Read(&n)) {
    sequences.push_back(n.sequence());
    seen.insert(n.completion().operation_id());
  }
  grpc::Status s = reader->Finish();
  ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ErrorOf(s);
  EXPECT_NE(s.error_message().find("max_buffered_notifications"), std::string::npos);
  const std::string resume_at = "after_sequence = " + std::to_string(sequences.back());
  EXPECT_NE(s.error_message().find(resume_at), std::string::npos) << ErrorOf(s);
  ASSERT_LT(seen.size(), submitted.size());

  // Resuming where it stopped gets the rest, once each.
  v1::WatchCompletionsRequest resume;
  resume.set_after_sequence(sequences.back());
  Watch watch(*stub_, resume, "watcher");
  for (const v1::Notification& m : watch.Completions(submitted.size() - seen.size())) {
    EXPECT_EQ(m.sequence(), sequences.back() + 1);
    sequences.push_back(m.sequence());
    EXPECT_TRUE(seen.insert(m.completion().operation_id()).second);
  }
  EXPECT_EQ(seen, submitted);
}

// --- Clients going away -----------------------------------------------------------

class LeaseTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override { return {"--client-lease", "0ms"}; }
};

TEST_F(LeaseTest, ALocksAndEventsAreReleasedWhenItsLastStreamEnds) {
  std::uint32_t queue_id;
  std::string waiting_id;
  {
    // The rig is present while its session is open.
    auto context = Context("rig");
    auto session = stub_->Session(context.get());
    // Once the session answers, the server knows of it.
    v1::SessionRequest hello;
    hello.mutable_submit();
    ASSERT_TRUE(session->Write(hello));
    v1::SessionResponse answer;
    ASSERT_TRUE(session->Read(&answer));
    ASSERT_TRUE(answer.has_submitted());
    v1::CreateQueueRequest create;
    create.set_type(v1::QUEUE_TYPE_STANDARD);
    create.set_name("rig-queue");
    v1::Queue queue;
    ASSERT_TRUE(stub_->CreateQueue(Context("rig").get(), create, &queue).ok());
    queue_id = queue.id();
    v1::CreateEventRequest event;
    event.set_name("rig-event");
    v1::Event e;
    ASSERT_TRUE(stub_->CreateEvent(Context("rig").get(), event, &e).ok());
    v1::SubmitRequest waiting = Echo("w");
    waiting.set_wait_event("rig-event");
    waiting_id = Submit(waiting, "rig").id();
    v1::GetQueueRequest get;
    get.set_queue_id(queue_id);
    ASSERT_TRUE(stub_->GetQueue(Context("observer").get(), get, &queue).ok());
    EXPECT_EQ(queue.stats().locks(), 1u);
    context->TryCancel();  // the rig crashes
    v1::SessionResponse r;
    while (session->Read(&r)) {
    }
    (void)session->Finish();
  }
  // Its lock goes, and with it the queue.
  v1::GetQueueRequest get;
  get.set_queue_id(queue_id);
  v1::Queue queue;
  grpc::Status s;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    s = stub_->GetQueue(Context("observer").get(), get, &queue);
    if (s.ok()) std::this_thread::sleep_for(milliseconds(2));
  } while (s.ok() && std::chrono::steady_clock::now() < give_up);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << ErrorOf(s);
  v1::ListEventsResponse events;
  ASSERT_TRUE(stub_->ListEvents(Context("rig").get(), {}, &events).ok());
  EXPECT_EQ(events.events_size(), 0);
  // What waited on its event does not wait for ever.
  EXPECT_EQ(WaitDone(waiting_id, "rig").completion().status().code(), kCancelled);
}

// --- Restarts and shutdown -----------------------------------------------------------

TEST_F(E2ETest, AfterSigkillInterruptedOperationsCompleteAndRequestIdsStillDeduplicate) {
  v1::SubmitRequest first = Echo("done before");
  first.set_request_id("r-done");
  const v1::Operation done = WaitDone(Submit(first).id());
  v1::SubmitRequest running = Sleep(std::chrono::hours(1));
  running.set_request_id("r-running");
  running.set_state("remember me");
  const v1::Operation interrupted = Submit(running);
  v1::SubmitRequest later = Echo("never ran");
  *later.mutable_delay() = TimeUtil::SecondsToDuration(3600);
  const v1::Operation scheduled = Submit(later);
  WaitForState(interrupted.id(), v1::OPERATION_STATE_RUNNING);

  server_->Kill();
  StartServer();

  v1::Operation after = WaitDone(interrupted.id());
  EXPECT_EQ(after.completion().status().code(), kShutdown);
  EXPECT_EQ(after.completion().status().name(), "MF_E_SHUTDOWN");
  EXPECT_NE(after.completion().message().find("interrupted"), std::string::npos);
  EXPECT_EQ(after.completion().state(), "remember me");
  EXPECT_EQ(WaitDone(scheduled.id()).completion().status().code(), kShutdown);
  v1::Operation kept = WaitDone(done.id());
  EXPECT_EQ(kept.completion().status().code(), kSOk);
  EXPECT_EQ(kept.completion().result(), "done before");

  // Retries still find their operations.
  v1::SubmitResponse retry;
  ASSERT_TRUE(stub_->Submit(Context().get(), running, &retry).ok());
  EXPECT_TRUE(retry.deduplicated());
  EXPECT_EQ(retry.operation().id(), interrupted.id());
  // New operations get new ids.
  const v1::Operation fresh = Submit(Echo("new"));
  EXPECT_GT(fresh.id(), scheduled.id());
  WaitDone(fresh.id());

  // The stream replays everything, in order, each once.
  Watch watch(*stub_, {});
  std::vector<std::string> ids;
  std::uint64_t last = 0;
  for (const v1::Notification& n : watch.Completions(4)) {
    EXPECT_GT(n.sequence(), last);
    last = n.sequence();
    ids.push_back(n.completion().operation_id());
  }
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0], done.id());
  EXPECT_EQ(std::set<std::string>(ids.begin() + 1, ids.begin() + 3),
            (std::set<std::string>{interrupted.id(), scheduled.id()}));
  EXPECT_EQ(ids[3], fresh.id());
}

TEST_F(E2ETest, AfterACleanRestartTheStreamReplaysWhatCameBefore) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(WaitDone(Submit(Echo(std::to_string(i))).id()).id());
  ASSERT_EQ(server_->Terminate(), 0) << server_->Log();
  StartServer();
  // Once the stream is on (its first notification read), a new operation.
  Watch watch(*stub_, {});
  std::vector<std::string> seen;
  for (const v1::Notification& n : watch.Completions(1))
    seen.push_back(n.completion().operation_id());
  const v1::Operation after = Submit(Echo("after"));
  for (const v1::Notification& n : watch.Completions(3)) {
    seen.push_back(n.completion().operation_id());
    EXPECT_EQ(n.sequence(), seen.size());
  }
  ids.push_back(after.id());
  EXPECT_EQ(seen, ids);
}

class ShutdownTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override { return {"--drain-timeout", "300ms"}; }
};

TEST_F(ShutdownTest, SigtermDrainsThenCancelsWhatIsLeftWithJournaledCompletions) {
  const v1::Operation quick = Submit(Sleep(milliseconds(100)));
  const v1::Operation endless = Submit(Sleep(std::chrono::hours(1)));
  WaitForState(endless.id(), v1::OPERATION_STATE_RUNNING);
  EXPECT_EQ(server_->Terminate(), 0) << server_->Log();
  const std::string log = server_->Log();
  EXPECT_NE(log.find("\"event\":\"shutting_down\""), std::string::npos) << log;

  StartServer();
  EXPECT_EQ(WaitDone(quick.id()).completion().status().code(), kSOk);  // drained
  v1::Operation cut = WaitDone(endless.id());
  EXPECT_EQ(cut.completion().status().code(), kShutdown);
  EXPECT_NE(cut.completion().message().find("shutting down"), std::string::npos)
      << cut.completion().message();
}

}  // namespace
}  // namespace mfwq::test
