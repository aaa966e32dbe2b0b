#!/usr/bin/env python3
"""A smoke test of mfwq.v1.WorkQueues from Python: a second client, apart from
the C++ one, that drives the real mfwq-server binary over 127.0.0.1.

Usage: smoke_test.py SERVER_BINARY PROTO_DIR [--protoc PROTOC] [--include DIR]

It needs only Debian's python3-grpcio and python3-protobuf and a protoc of the
same Protocol Buffers release as python3-protobuf (Debian's protobuf-compiler).
The message classes are generated from PROTO_DIR into a temporary directory
when the test runs; the service is called through grpc.Channel's
unary_unary / unary_stream / stream_stream, one per method of the service
descriptor, with the classes' SerializeToString and FromString. No gRPC
Python plugin is needed.

Every call has a deadline and every wait a bound; nothing sleeps to
synchronise. Exits 0 when every step passes, 1 otherwise.
"""

import argparse
import glob
import importlib
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import google.protobuf
import grpc

# Deadline of every call, and the server-side bound of WaitOperation (below
# it, so that a wait that times out is told apart from a call that hangs).
CALL_TIMEOUT_S = 30
WAIT_TIMEOUT_S = 20
# Bound on the server's start and on its exit after SIGTERM.
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 60

CLIENT = "python-smoke"
MULTITHREADED_PLATFORM_QUEUE = 5  # MFASYNC_CALLBACK_QUEUE_MULTITHREADED
PRIVATE_QUEUE_MASK = 0xFFFF0000  # MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK
S_OK = 0
E_FAIL = 0x80004005
MF_E_OPERATION_CANCELLED = 0xC00D36ED
GRPC_INVALID_ARGUMENT = 3  # CallError.code inside a session batch

LISTEN_PREFIX = "mfwq-server listening on "


class SmokeFailure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise SmokeFailure(what)


def check_eq(actual, expected, what):
    if actual != expected:
        raise SmokeFailure(f"{what}: expected {expected!r}, got {actual!r}")


# --- Generated code -----------------------------------------------------------


def generate_messages(protoc, proto_dir, includes, out_dir):
    """Runs protoc --python_out over the API's .proto files (proto_dir/mfwq/)
    and imports mfwq.v1.mfwq_pb2 from out_dir."""
    pattern = os.path.join(proto_dir, "mfwq", "**", "*.proto")
    protos = sorted(os.path.relpath(p, proto_dir) for p in glob.glob(pattern, recursive=True))
    check(protos, f"no .proto files under {os.path.join(proto_dir, 'mfwq')}")
    command = [protoc, f"--proto_path={proto_dir}"]
    command += [f"--proto_path={d}" for d in includes]
    command += [f"--python_out={out_dir}"] + protos
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise SmokeFailure(f"{' '.join(command)} failed:\n{result.stderr}")
    sys.path.insert(0, out_dir)
    return importlib.import_module("mfwq.v1.mfwq_pb2")


class WorkQueues:
    """The mfwq.v1.WorkQueues service on a channel: an attribute per method of
    the service descriptor, each a call that carries the client's metadata and
    a deadline. Streaming calls return grpc's iterator of responses."""

    def __init__(self, channel, pb2, client):
        service = pb2.DESCRIPTOR.services_by_name["WorkQueues"]
        self._metadata = (("mfwq-client", client),)
        for method in service.methods:
            make = {
                (False, False): channel.unary_unary,
                (False, True): channel.unary_stream,
                (True, False): channel.stream_unary,
                (True, True): channel.stream_stream,
            }[(method.client_streaming, method.server_streaming)]
            # Every request and response type is a top-level message of mfwq.v1.
            request_class = getattr(pb2, method.input_type.name)
            response_class = getattr(pb2, method.output_type.name)
            multicallable = make(
                f"/{service.full_name}/{method.name}",
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            setattr(self, method.name, self._bind(multicallable))

    def _bind(self, multicallable):
        def call(request, timeout=CALL_TIMEOUT_S):
            return multicallable(request, timeout=timeout, metadata=self._metadata)

        return call


# --- The server process ---------------------------------------------------------


class ServerProcess:
    """mfwq-server on 127.0.0.1, port 0, with its own data directory; its log
    (standard error) goes to a file beside it."""

    def __init__(self, binary, work_dir):
        self.log_path = os.path.join(work_dir, "server.log")
        data_dir = os.path.join(work_dir, "data")
        os.mkdir(data_dir)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [binary, "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        try:
            line = self._read_first_line(START_TIMEOUT_S)
            check(
                line.startswith(LISTEN_PREFIX),
                f"the server did not start (first line {line!r}):\n{self.log_tail()}",
            )
            self.address = line[len(LISTEN_PREFIX):]
            check(self.address.startswith("127.0.0.1:"), f"listening on {self.address}")
        except BaseException:
            self.kill()
            raise
        finally:
            self.process.stdout.close()

    def _read_first_line(self, timeout_s):
        """Its first line on standard output; empty when it exits first."""
        give_up = time.monotonic() + timeout_s
        fd = self.process.stdout.fileno()
        data = b""
        while b"\n" not in data:
            remaining = give_up - time.monotonic()
            check(remaining > 0, f"no listening line within {timeout_s} s:\n{self.log_tail()}")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\n", 1)[0].decode("utf-8", "replace")

    def terminate(self):
        """SIGTERM, then its exit status (a signal's number negated)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError as e:
            return f"(no log: {e})"


# --- The steps -------------------------------------------------------------------


class Smoke:
    """The steps, in order. Each records the operations it submits with the
    status their completion must carry, for the final WatchCompletions step."""

    def __init__(self, pb2, stub):
        self.pb2 = pb2
        self.stub = stub
        self.queue_id = None
        self.echo_id = None
        self.expected_status = {}  # operation id -> HRESULT code

    def echo(self, data, queue_id=None, **fields):
        pb2 = self.pb2
        return pb2.SubmitRequest(
            queue_id=queue_id if queue_id is not None else self.queue_id,
            kind="echo",
            parameters={"data": pb2.Value(bytes_value=data)},
            **fields,
        )

    def submit(self, request):
        response = self.stub.Submit(request)
        check(response.operation.id, "Submit returned an operation id")
        return response

    def wait_done(self, operation_id):
        pb2 = self.pb2
        request = pb2.WaitOperationRequest(operation_id=operation_id)
        request.timeout.FromSeconds(WAIT_TIMEOUT_S)
        op = self.stub.WaitOperation(request)
        check_eq(
            pb2.OperationState.Name(op.state),
            "OPERATION_STATE_COMPLETED",
            f"state of {operation_id} after WaitOperation",
        )
        return op

    def step_list_kinds(self):
        kinds = {k.name: k for k in self.stub.ListKinds(self.pb2.ListKindsRequest()).kinds}
        for name in ("echo", "sleep", "fail"):
            check(name in kinds, f"kind {name} in {sorted(kinds)}")
        check(
            any(p.name == "data" for p in kinds["echo"].parameters),
            "echo has a parameter named data",
        )
        return f"{len(kinds)} kinds, echo/sleep/fail among them"

    def step_create_queue(self):
        pb2 = self.pb2
        q = self.stub.CreateQueue(
            pb2.CreateQueueRequest(
                type=pb2.QUEUE_TYPE_MULTITHREADED,
                name="python-smoke-pool",
                labels={"suite": "python-smoke"},
            )
        )
        check(q.id & PRIVATE_QUEUE_MASK, f"a private queue id, got {q.id:#x}")
        check_eq(q.type, pb2.QUEUE_TYPE_MULTITHREADED, "queue type")
        check_eq(q.name, "python-smoke-pool", "queue name")
        check_eq(dict(q.labels), {"suite": "python-smoke"}, "queue labels")
        check_eq(q.stats.locks_held_by_caller, 1, "locks held by the creator")
        self.queue_id = q.id
        return f"queue {q.id:#010x}"

    def step_list_queues(self):
        pb2 = self.pb2
        selected = self.stub.ListQueues(
            pb2.ListQueuesRequest(label_selector={"suite": "python-smoke"})
        )
        check_eq([q.id for q in selected.queues], [self.queue_id], "queues by label")
        # Every page, two queues at a time.
        ids, token = [], ""
        for _ in range(100):
            page = self.stub.ListQueues(pb2.ListQueuesRequest(page_size=2, page_token=token))
            check(len(page.queues) <= 2, "a page holds at most page_size queues")
            ids += [q.id for q in page.queues]
            token = page.next_page_token
            if not token:
                break
        check(not token, "paging ended")
        check(MULTITHREADED_PLATFORM_QUEUE in ids, f"platform queue 5 listed in {ids}")
        check(self.queue_id in ids, "the created queue listed")
        return f"{len(ids)} queues over pages of 2, 1 by label"

    def step_submit_echo_and_retry(self):
        request = self.echo(
            b"hello from python",
            request_id="python-smoke-echo-1",
            state=b"\x00state\xff",
        )
        first = self.submit(request)
        check(not first.deduplicated, "the first submission is not deduplicated")
        check_eq(first.operation.owner, CLIENT, "owner")
        check_eq(first.operation.request_id, "python-smoke-echo-1", "request_id")
        again = self.submit(request)
        check(again.deduplicated, "the retry is deduplicated")
        check_eq(again.operation.id, first.operation.id, "the retry's operation")
        self.echo_id = first.operation.id
        self.expected_status[first.operation.id] = S_OK
        return f"{first.operation.id}, retry deduplicated"

    def step_wait_operation(self):
        completion = self.wait_done(self.echo_id).completion
        check_eq(completion.status.code, S_OK, "status code")
        check_eq(completion.status.name, "S_OK", "status name")
        check_eq(completion.bytes_transferred, len(b"hello from python"), "bytes_transferred")
        check_eq(completion.result, b"hello from python", "result")
        check_eq(completion.state, b"\x00state\xff", "state")
        check_eq(completion.request_id, "python-smoke-echo-1", "completion request_id")
        check(completion.HasField("start_time"), "the operation started")
        check(
            completion.submit_time.ToNanoseconds() <= completion.complete_time.ToNanoseconds(),
            "submitted before completed",
        )
        return f"S_OK, {completion.bytes_transferred} bytes, result and state echoed"

    def step_submit_fail(self):
        pb2 = self.pb2
        op = self.submit(
            pb2.SubmitRequest(
                queue_id=self.queue_id,
                kind="fail",
                parameters={
                    "hresult": pb2.Value(int_value=E_FAIL),
                    "message": pb2.Value(string_value="failing on purpose"),
                },
            )
        ).operation
        completion = self.wait_done(op.id).completion
        check_eq(completion.status.code, E_FAIL, "status code")
        check_eq(completion.status.name, "E_FAIL", "status name")
        check_eq(completion.message, "failing on purpose", "message")
        self.expected_status[op.id] = E_FAIL
        return f"{completion.status.code:#010x} {completion.status.name}"

    def step_event_chain(self):
        pb2 = self.pb2
        for name in ("python-smoke-gate", "python-smoke-chain"):
            event = self.stub.CreateEvent(pb2.CreateEventRequest(name=name))
            check_eq(event.name, name, "event name")
        # first waits on the gate and signals the chain; second waits on the
        # chain: one SetEvent releases both, in that order.
        first = self.submit(
            self.echo(b"first", wait_event="python-smoke-gate", signal_event="python-smoke-chain")
        ).operation
        second = self.submit(self.echo(b"second", wait_event="python-smoke-chain")).operation
        for op in (first, second):
            check_eq(
                pb2.OperationState.Name(op.state), "OPERATION_STATE_WAITING", f"state of {op.id}"
            )
        events = {e.name: e for e in self.stub.ListEvents(pb2.ListEventsRequest()).events}
        check_eq(events["python-smoke-gate"].waiting_operations, 1, "waiting on the gate")
        check_eq(events["python-smoke-chain"].waiting_operations, 1, "waiting on the chain")
        self.stub.SetEvent(pb2.SetEventRequest(name="python-smoke-gate"))
        done_first = self.wait_done(first.id).completion
        done_second = self.wait_done(second.id).completion
        # Only the first's completion sets the chain: the second completing
        # at all shows the first signalled it.
        for completion in (done_first, done_second):
            check_eq(completion.status.code, S_OK, f"status of {completion.operation_id}")
        self.expected_status[first.id] = S_OK
        self.expected_status[second.id] = S_OK
        return "SetEvent released a waiting echo, whose completion released another"

    def step_cancel_scheduled(self):
        pb2 = self.pb2
        request = self.echo(b"never runs")
        request.delay.FromSeconds(3600)
        op = self.submit(request).operation
        check_eq(pb2.OperationState.Name(op.state), "OPERATION_STATE_SCHEDULED", "state")
        cancelled = self.stub.CancelOperation(pb2.CancelOperationRequest(operation_id=op.id))
        check(cancelled.cancelled, "cancelled")
        completion = self.wait_done(op.id).completion
        check_eq(completion.status.code, MF_E_OPERATION_CANCELLED, "status code")
        check_eq(completion.status.name, "MF_E_OPERATION_CANCELLED", "status name")
        check(not completion.HasField("start_time"), "a cancelled scheduled operation never started")
        again = self.stub.CancelOperation(pb2.CancelOperationRequest(operation_id=op.id))
        check(not again.cancelled, "a second cancel finds it completed")
        self.expected_status[op.id] = MF_E_OPERATION_CANCELLED
        return f"{completion.status.code:#010x} {completion.status.name}"

    def step_bad_request(self):
        request = self.echo(b"x")
        request.parameters["data"].string_value = "a string where bytes are due"
        try:
            self.stub.Submit(request)
        except grpc.RpcError as e:
            check_eq(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "status")
            check(
                e.details().startswith("parameters.data"),
                f"the message names the field: {e.details()!r}",
            )
            return f"INVALID_ARGUMENT: {e.details()}"
        raise SmokeFailure("a bytes parameter given as a string was accepted")

    def step_session(self):
        pb2 = self.pb2
        payloads = [b"batch-0", b"batch-1", b"batch-2"]
        batch = pb2.SubmitBatch(requests=[self.echo(p) for p in payloads])
        refused = batch.requests.add()
        refused.CopyFrom(self.echo(b"refused"))
        refused.kind = "no.such.kind"

        # The requests: the batch, then a half-close once its answer is read.
        half_close = queue.Queue()

        def requests():
            yield pb2.SessionRequest(submit=batch)
            half_close.get(timeout=CALL_TIMEOUT_S)

        call = self.stub.Session(requests())
        try:
            first = next(call, None)
            check(first is not None, "an answer to the batch")
            check_eq(first.WhichOneof("response"), "submitted", "the first response")
            results = first.submitted.results
            check_eq(len(results), 4, "one result per request")
            accepted = {}
            for payload, result in zip(payloads, results[:3]):
                check_eq(result.WhichOneof("result"), "accepted", f"result for {payload!r}")
                accepted[result.accepted.operation.id] = payload
            check_eq(results[3].WhichOneof("result"), "error", "result of the unknown kind")
            check_eq(results[3].error.code, GRPC_INVALID_ARGUMENT, "its code")
            check(
                results[3].error.message.startswith("kind"),
                f"its message names the field: {results[3].error.message!r}",
            )
            half_close.put(None)

            completed = {}
            for response in call:  # until the server ends the stream
                check_eq(response.WhichOneof("response"), "notifications", "a later response")
                for n in response.notifications.notifications:
                    if n.WhichOneof("body") != "completion":
                        continue
                    c = n.completion
                    check(c.operation_id not in completed, f"{c.operation_id} reported twice")
                    completed[c.operation_id] = c
            check_eq(call.code(), grpc.StatusCode.OK, "the session's status")
        finally:
            half_close.put(None)
            call.cancel()
        check_eq(set(completed), set(accepted), "the session's completions")
        for op_id, payload in accepted.items():
            check_eq(completed[op_id].status.code, S_OK, f"status of {op_id}")
            check_eq(completed[op_id].result, payload, f"result of {op_id}")
            self.expected_status[op_id] = S_OK
        return f"{len(accepted)} accepted and 1 refused, {len(completed)} completions, then the end"

    def step_watch_completions(self):
        pb2 = self.pb2
        expected = dict(self.expected_status)
        check(expected, "earlier steps submitted operations")
        call = self.stub.WatchCompletions(pb2.WatchCompletionsRequest(after_sequence=0))
        seen, last_sequence = {}, 0
        try:
            for n in call:
                check(n.sequence > last_sequence, f"sequence {n.sequence} after {last_sequence}")
                last_sequence = n.sequence
                if n.WhichOneof("body") != "completion":
                    continue
                op_id = n.completion.operation_id
                check(op_id in expected, f"a completion of this run's operations: {op_id}")
                check(op_id not in seen, f"{op_id} seen twice")
                seen[op_id] = n.completion.status.code
                if len(seen) == len(expected):
                    break
        finally:
            call.cancel()
        check_eq(seen, expected, "completions by operation")
        return f"{len(seen)} completions, in order, up to sequence {last_sequence}"


STEPS = [
    ("ListKinds", Smoke.step_list_kinds),
    ("CreateQueue", Smoke.step_create_queue),
    ("ListQueues", Smoke.step_list_queues),
    ("Submit echo, retry deduplicated", Smoke.step_submit_echo_and_retry),
    ("WaitOperation", Smoke.step_wait_operation),
    ("Submit fail", Smoke.step_submit_fail),
    ("CreateEvent, waiting submits, SetEvent", Smoke.step_event_chain),
    ("CancelOperation of a scheduled operation", Smoke.step_cancel_scheduled),
    ("a bad request", Smoke.step_bad_request),
    ("Session", Smoke.step_session),
    ("WatchCompletions from sequence 0", Smoke.step_watch_completions),
]


class Report:
    """Runs steps, printing one line each (and the traceback of a failure)."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def run(self, name, action):
        """Runs action(), which returns a line of detail; False if it raised."""
        try:
            detail = action()
        except Exception as e:  # a failed check, an RpcError, anything
            self.fail(name, e)
            return False
        self.passed += 1
        print(f"ok    {name}: {detail}", flush=True)
        return True

    def fail(self, name, error):
        self.failed.append(name)
        print(f"FAIL  {name}: {describe(error)}", flush=True)
        traceback.print_exc(file=sys.stdout)


def describe(error):
    if isinstance(error, grpc.RpcError) and hasattr(error, "code"):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"


def run_steps(pb2, address, report):
    # Only ever 127.0.0.1: no proxy, whatever the environment says.
    channel = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
    try:
        def connect():
            grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT_S)
            return address

        if not report.run("connect", connect):
            return
        smoke = Smoke(pb2, WorkQueues(channel, pb2, CLIENT))
        for name, step in STEPS:
            report.run(name, lambda: step(smoke))
    finally:
        channel.close()


def stop(server):
    status = server.terminate()
    check_eq(status, 0, "exit status after SIGTERM")
    return "the server exited with 0"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", help="the mfwq-server binary")
    parser.add_argument("proto_dir", help="the directory holding mfwq/v1/mfwq.proto")
    parser.add_argument("--protoc", default="protoc", help="protoc to generate messages with")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        help="another --proto_path (for google/protobuf/*.proto); repeatable",
    )
    args = parser.parse_args()

    print(
        f"python {sys.version.split()[0]}, grpcio {grpc.__version__}, "
        f"protobuf {google.protobuf.__version__}",
        flush=True,
    )
    report = Report()
    work_dir = tempfile.mkdtemp(prefix="mfwq-python-smoke-")
    server = None
    try:
        try:
            gen_dir = os.path.join(work_dir, "gen")
            os.mkdir(gen_dir)
            pb2 = generate_messages(args.protoc, args.proto_dir, args.include, gen_dir)
            server = ServerProcess(args.server, work_dir)
        except Exception as e:
            report.fail("setup", e)
        else:
            run_steps(pb2, server.address, report)
            report.run("SIGTERM", lambda: stop(server))
    finally:
        if server is not None:
            server.kill()
            if report.failed:
                print(f"--- server log (last lines):\n{server.log_tail()}", flush=True)
        shutil.rmtree(work_dir, ignore_errors=True)
    print(f"smoke: {report.passed} passed, {len(report.failed)} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
