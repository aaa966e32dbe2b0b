#!/usr/bin/env python3
"""Talks to a running mfwq-server: lists the operation kinds it offers, submits
an "echo" operation onto the multithreaded platform queue, waits for its
completion and prints it (the HRESULT, bytes transferred, result), as a
client of mfwq.v1.WorkQueues would.

    python3 examples/python/mfwq_echo.py [--server 127.0.0.1:50051] [--data TEXT]

Needs Debian's python3-grpcio, python3-protobuf and protobuf-compiler
(scripts/setup.sh installs them). The message classes are generated from
proto/ by protoc into a temporary folder each time it runs.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import grpc

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
MULTITHREADED = 5  # MFASYNC_CALLBACK_QUEUE_MULTITHREADED


def load_messages(out_dir):
    subprocess.run(["protoc", f"--proto_path={PROTO_DIR}", f"--python_out={out_dir}",
                    "mfwq/v1/mfwq.proto"], check=True)
    sys.path.insert(0, out_dir)
    from mfwq.v1 import mfwq_pb2
    return mfwq_pb2


def unary(channel, pb2, method, request_type, response_type):
    """One unary call of the service, identified to the server as this client."""
    call = channel.unary_unary(f"/mfwq.v1.WorkQueues/{method}",
                               request_serializer=getattr(pb2, request_type).SerializeToString,
                               response_deserializer=getattr(pb2, response_type).FromString)
    return lambda request: call(request, timeout=30, metadata=(("mfwq-client", "echo-example"),))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("MFWQ_SERVER", "127.0.0.1:50051"))
    parser.add_argument("--data", default="hello, work queue")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as generated:
        pb2 = load_messages(generated)
        with grpc.insecure_channel(args.server, options=[("grpc.enable_http_proxy", 0)]) as channel:
            list_kinds = unary(channel, pb2, "ListKinds", "ListKindsRequest", "ListKindsResponse")
            submit = unary(channel, pb2, "Submit", "SubmitRequest", "SubmitResponse")
            wait = unary(channel, pb2, "WaitOperation", "WaitOperationRequest", "Operation")
            try:
                kinds = list_kinds(pb2.ListKindsRequest())
            except grpc.RpcError as e:
                sys.exit(f"mfwq_echo: {args.server}: {e.code().name}: {e.details()}")
            print("kinds:", ", ".join(k.name for k in kinds.kinds))

            request = pb2.SubmitRequest(queue_id=MULTITHREADED, kind="echo")
            request.parameters["data"].bytes_value = args.data.encode()
            operation = submit(request).operation
            print("submitted", operation.id)

            done = wait(pb2.WaitOperationRequest(operation_id=operation.id,
                                                 timeout={"seconds": 20}))
            c = done.completion
            print(f"completed: status {c.status.name} (0x{c.status.code:08X}), "
                  f"{c.bytes_transferred} bytes, result {c.result.decode()!r}")
            return 0 if c.status.code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
