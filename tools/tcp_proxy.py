#!/usr/bin/python3
"""A loopback TCP forwarder that can cut every connection on demand (fault injection for tests).

    tcp_proxy.py --listen 127.0.0.1:0 --target 127.0.0.1:PORT [--max-seconds 600]

Accepts connections on --listen, opens one connection to --target for each and forwards bytes both
ways (half-closes are passed on). Prints to stdout, flushed, one line per event:

    proxy listening on 127.0.0.1:N                 once bound (N is the real port when 0 was asked)
    proxy accepted connection I at t=S.SSSs        the I-th accepted connection (from 1)
    proxy cut C: closed M connections at t=S.SSSs  after SIGUSR1 number C (from 1)

(t: seconds since the proxy started). SIGUSR1 closes every open connection abruptly, both the
accepted and the upstream socket (RST: SO_LINGER with a zero timeout, then close), and the proxy
keeps accepting new connections. SIGTERM/SIGINT end it (exit 0; open connections are reset). It
ends by itself after --max-seconds (exit 3), so a test that forgets it does not leave it running. Only loopback IP
addresses are accepted for --listen and --target (anything else is refused, exit 2). Python 3
standard library only.
"""

import argparse
import asyncio
import ipaddress
import signal
import socket
import struct
import sys
import time

START = time.monotonic()


def parse_loopback(text, what):
    """'127.0.0.1:80' or '[::1]:80' -> (host, port); refuses anything that is not loopback."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{what}: expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{what}: {host!r} is not an IP address (only loopback addresses are allowed)")
    if not address.is_loopback:
        raise ValueError(f"{what}: {host} is not a loopback address; refused")
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"{what}: bad port {port!r}")
    if not 0 <= port_number <= 65535:
        raise ValueError(f"{what}: port {port_number} out of range")
    return str(address), port_number


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def reset_and_close(transport):
    """Closes a transport at once, with RST rather than FIN where the socket allows it."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


class Side(asyncio.Protocol):
    """One socket of a forwarded pair; writes what it reads into its peer."""

    def __init__(self, pair, on_made=None):
        self.pair = pair
        self.on_made = on_made
        self.transport = None
        self.peer = None  # the other Side, once both exist
        self.pending = []  # what arrived before the peer existed
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self):
        self.eof = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            if peer.eof:
                peer.transport.close()
                return False
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
                return True  # keep our write side open for the peer's remaining bytes
        if peer is None:
            return True  # connect_upstream passes the EOF on
        return False

    def connection_lost(self, exc):
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            if exc is None:
                peer.transport.close()  # flushes what is buffered, then FIN
            else:
                reset_and_close(peer.transport)  # pass an abortive close on
        self.pair.forget()

    # Flow control: stop reading from our peer while our own write buffer is full.
    def pause_writing(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class Pair:
    """An accepted connection and its upstream connection."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.downstream = Side(self, on_made=proxy.accepted_made)
        self.upstream = None
        proxy.pairs.add(self)

    def forget(self):
        self.proxy.pairs.discard(self)

    def cut(self):
        reset_and_close(self.downstream.transport)
        if self.upstream is not None:
            reset_and_close(self.upstream.transport)
        self.forget()


class Proxy:
    def __init__(self, target):
        self.target = target
        self.pairs = set()
        self.accepted = 0
        self.cuts = 0
        self.tasks = set()  # the loop keeps only weak references to tasks

    def accept(self):
        return Pair(self).downstream

    def accepted_made(self, down):
        self.accepted += 1
        say(f"proxy accepted connection {self.accepted} at t={time.monotonic() - START:.3f}s")
        # Until there is somewhere to write to. Best effort: asyncio may deliver the first bytes
        # anyway, and data_received keeps them in `pending`.
        down.transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self.connect_upstream(down.pair))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect_upstream(self, pair):
        down = pair.downstream
        loop = asyncio.get_running_loop()
        try:
            _, up = await loop.create_connection(lambda: Side(pair), self.target[0], self.target[1])
        except OSError as e:
            say(f"proxy: cannot connect to {self.target[0]}:{self.target[1]}: {e}")
            reset_and_close(down.transport)
            pair.forget()
            return
        if down.transport is None or down.transport.is_closing() or pair not in self.pairs:
            reset_and_close(up.transport)  # the client went away (or was cut) meanwhile
            return
        pair.upstream = up
        up.peer = down
        down.peer = up
        for data in down.pending:
            up.transport.write(data)
        down.pending = []
        if down.eof:  # the client half-closed before the upstream connection existed
            up.transport.write_eof()
        down.transport.resume_reading()

    def cut_all(self):
        self.cuts += 1
        pairs = list(self.pairs)
        for pair in pairs:
            pair.cut()
        say(f"proxy cut {self.cuts}: closed {len(pairs)} connections at t={time.monotonic() - START:.3f}s")


async def serve(args):
    listen = parse_loopback(args.listen, "--listen")
    target = parse_loopback(args.target, "--target")
    if target[1] == 0:
        raise ValueError("--target: port 0")
    loop = asyncio.get_running_loop()
    proxy = Proxy(target)
    server = await loop.create_server(proxy.accept, listen[0], listen[1], reuse_address=True)
    done = loop.create_future()

    def finish(code):
        if not done.done():
            done.set_result(code)

    # Handlers first: whoever reads the "listening" line may signal at once.
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut_all)
    loop.add_signal_handler(signal.SIGTERM, finish, 0)
    loop.add_signal_handler(signal.SIGINT, finish, 0)
    loop.call_later(args.max_seconds, finish, 3)
    host, port = server.sockets[0].getsockname()[:2]
    say(f"proxy listening on {host if ':' not in host else '[' + host + ']'}:{port}")
    code = await done
    if code == 3:
        say(f"proxy: --max-seconds={args.max_seconds:g} reached; exiting")
    server.close()
    for pair in list(proxy.pairs):
        pair.cut()
    return code


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept on (loopback; port 0 picks one)")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to (loopback)")
    parser.add_argument("--max-seconds", type=float, default=600,
                        help="exit (status 3) after this long (default 600)")
    args = parser.parse_args()
    if not 0 < args.max_seconds <= 86400:
        parser.error("--max-seconds must be in (0, 86400]")
    try:
        return asyncio.run(serve(args))
    except ValueError as e:
        print(f"tcp_proxy: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"tcp_proxy: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
