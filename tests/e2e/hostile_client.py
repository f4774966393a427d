#!/usr/bin/env python3
"""A hostile ef21 worker for the end-to-end tests and tools/chaos.sh (issue 10).

Built on grpcio (Debian python3-grpcio) and Python classes that protoc (protobuf-compiler) makes
from the project's own proto/ef21/v1/ef21.proto when it starts, into a temporary directory; nothing
is downloaded. It has no credentials, no data and no token: whatever it does must be refused
without changing the run.

  hostile_client.py oversized --target=HOST:PORT --megabytes=N
      Sends one WorkerMessage of N MB (an Update whose gradient holds N MB of doubles) on a Train
      stream and prints "refused CODE: DETAILS" (exit 0), or "accepted" (exit 1).

  hostile_client.py attack --target=HOST:PORT --ids=A-B --seconds=S [--streams=N] [--megabytes=M]
      For S seconds: squats clients A..B (Attach with the run's problem flags as given by
      --problem-flags, a made-up data digest, over and over), floods N streams with malformed
      messages, updates for rounds it never attached to and M MB messages, and holds N silent
      streams open. Prints one line "attack: ..." with the count of each refusal code; exit 0 when
      nothing it sent was accepted (no Welcome ever came), 1 otherwise.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time

import grpc

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = "/ef21.v1.Aggregator/Train"


def load_proto():
    """Generates ef21_pb2 from proto/ef21/v1/ef21.proto with protoc and imports it."""
    out = tempfile.mkdtemp(prefix="ef21-hostile-")
    proto_dir = os.path.join(SOURCE, "proto")
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", out,
                    os.path.join(proto_dir, "ef21", "v1", "ef21.proto")], check=True)
    sys.path.insert(0, out)
    from ef21.v1 import ef21_pb2  # pylint: disable=import-outside-toplevel
    return ef21_pb2


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def oversized_message(megabytes):
    """A WorkerMessage (field 2: Update) whose Update has a packed gradient (field 5) of the size
    asked, written by hand so the client never holds more than the bytes themselves."""
    doubles = megabytes * (1 << 20) // 8
    gradient = struct.pack("<d", 1.0) * doubles
    update = b"\x08\x00" + b"\x10\x00" + b"\x2a" + varint(len(gradient)) + gradient
    return b"\x12" + varint(len(update)) + update


def raw_stream(channel):
    return channel.stream_stream(TRAIN, request_serializer=None, response_deserializer=None)


def send_and_read(channel, messages, timeout):
    """Sends `messages` (bytes) on one Train stream; returns (status code name, details,
    responses read)."""
    responses = 0
    try:
        for _ in raw_stream(channel)(iter(messages), timeout=timeout):
            responses += 1
        return "OK", "", responses
    except grpc.RpcError as err:
        return err.code().name, err.details() or "", responses


def oversized(args):
    channel = grpc.insecure_channel(args.target)
    code, details, _ = send_and_read(channel, [oversized_message(args.megabytes)], 120)
    if code == "OK":
        print("accepted")
        return 1
    print(f"refused {code}: {details}")
    return 0


def parse_flags(text):
    """--problem-flags "--problem=logreg --split=row ...": the RunSpec fields the squatter
    claims (it can read them from the deployment; the data digest it cannot compute)."""
    flags = {}
    for item in text.split():
        name, _, value = item.lstrip("-").partition("=")
        flags[name] = value
    return flags


def attack(args):
    pb = load_proto()
    first, _, last = args.ids.partition("-")
    ids = list(range(int(first), int(last or first) + 1))
    flags = parse_flags(args.problem_flags)
    attach = pb.WorkerMessage()
    attach.attach.client_ids.extend(ids)
    spec = attach.attach.problem
    spec.problem = flags.get("problem", "logreg")
    spec.data = flags.get("data", "")
    spec.split = flags.get("split", "row")
    spec.clients = int(flags.get("clients", "0"))
    spec.batch = int(flags.get("batch", "0"))
    spec.algorithm = flags.get("algorithm", "norm-ef21")
    spec.k = int(flags.get("k", "1"))
    spec.rounds = int(flags.get("rounds", "0"))
    attach.attach.dim = int(flags.get("dim", "0"))
    attach.attach.clients = int(flags.get("clients", "0"))
    attach.attach.data_digest = 0x5EED5EED5EED5EED
    attach.attach.worker_name = "hostile"
    squat = attach.SerializeToString()
    update = pb.WorkerMessage()
    u = update.updates.add()
    u.round = 1
    u.client_id = ids[0]
    u.c.dim = attach.attach.dim or 10
    u.c.values_f64.extend([1.7e308])
    unattached_update = update.SerializeToString()
    garbage = [b"\xff" * 64, b"\x12\xff\xff\xff\xff\x0f", os.urandom(512)]
    big = oversized_message(args.megabytes) if args.megabytes > 0 else None

    channel = grpc.insecure_channel(args.target)
    deadline = time.monotonic() + args.seconds
    codes = {}
    welcomed = []
    lock = threading.Lock()

    def count(code):
        with lock:
            codes[code] = codes.get(code, 0) + 1

    def squatter():
        pb_server = pb.ServerMessage
        while time.monotonic() < deadline:
            try:
                stream = channel.stream_stream(TRAIN, request_serializer=None,
                                               response_deserializer=pb_server.FromString)
                for message in stream(iter([squat]), timeout=5):
                    if message.HasField("welcome"):
                        welcomed.append(message)
                count("OK")
            except grpc.RpcError as err:
                count(err.code().name)

    def flooder(n):
        messages = [garbage[n % len(garbage)], unattached_update]
        if big is not None and n % 4 == 0:
            messages = [big]
        while time.monotonic() < deadline:
            code, _, _ = send_and_read(channel, messages, 5)
            count(code)

    def quiet():
        # Sends nothing until the attack ends, then closes its side.
        while time.monotonic() < deadline:
            time.sleep(0.05)
        yield from ()

    def silent():
        # A stream that says nothing for the whole attack.
        try:
            for _ in raw_stream(channel)(quiet(), timeout=args.seconds + 5):
                pass
            count("OK")
        except grpc.RpcError as err:
            count(err.code().name)

    threads = [threading.Thread(target=squatter)]
    threads += [threading.Thread(target=flooder, args=(n,)) for n in range(args.streams)]
    threads += [threading.Thread(target=silent) for _ in range(args.streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
    print(f"attack on clients {args.ids}: {sum(codes.values())} streams ({summary}); "
          f"{len(welcomed)} welcomed")
    return 1 if welcomed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    o = sub.add_parser("oversized")
    o.add_argument("--target", required=True)
    o.add_argument("--megabytes", type=int, required=True)
    a = sub.add_parser("attack")
    a.add_argument("--target", required=True)
    a.add_argument("--ids", required=True)
    a.add_argument("--seconds", type=float, default=3.0)
    a.add_argument("--streams", type=int, default=4)
    a.add_argument("--megabytes", type=int, default=0)
    a.add_argument("--problem-flags", default="")
    args = parser.parse_args()
    if args.command == "oversized":
        if not 0 < args.megabytes <= 2000:
            parser.error("--megabytes must be in (0, 2000]")
        return oversized(args)
    if not 0 < args.seconds <= 600 or not 0 <= args.streams <= 64:
        parser.error("--seconds must be in (0, 600] and --streams in [0, 64]")
    return attack(args)


if __name__ == "__main__":
    sys.exit(main())
