// Submits an echo operation to an mfwq-server and prints its completion,
// then 1000 more through a Session (batched) and counts them:
//   hello_client [HOST:PORT]     (default: $MFWQ_SERVER, else 127.0.0.1:50051)
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <mfwq/client/client.h>

int main(int argc, char** argv) {
  const char* env = std::getenv("MFWQ_SERVER");
  const char* server = argc > 1 ? argv[1] : env != nullptr ? env : "127.0.0.1:50051";
  auto client = mfwq::client::Client::Connect(server, {.client_name = "hello-client"});
  mfwq::v1::SubmitRequest request;
  request.set_queue_id(5);  // MFASYNC_CALLBACK_QUEUE_MULTITHREADED, on the server
  request.set_kind("echo");
  (*request.mutable_parameters())["data"].set_bytes_value("hello");
  auto completion = client->SubmitAsync(request).get();
  if (!completion.ok()) {
    std::fprintf(stderr, "hello_client: %s\n", completion.status().ToString().c_str());
    return 1;
  }
  std::printf("%s: %s, %llu bytes, result \"%s\"\n", completion->operation_id().c_str(),
              completion->status().name().c_str(),
              static_cast<unsigned long long>(completion->bytes_transferred()),
              completion->result().c_str());

  std::atomic<int> ok{0};
  auto session = client->OpenSession();  // one stream, batched submits
  for (int i = 0; i < 1000; ++i) {
    session->SubmitThen(request, [&ok](absl::StatusOr<mfwq::v1::Completion> c) {
      if (c.ok() && c->status().code() == 0) ++ok;
    });
  }
  const absl::Status closed = session->Close();  // once all 1000 have completed
  std::printf("session: %d of 1000 completed with S_OK; %s\n", ok.load(), closed.ToString().c_str());
  return closed.ok() && ok == 1000 ? 0 : 1;
}
