"""Hostile submission socket_out: expect error (report): connects to listeners of the test (TCP, UDP, unix, abstract) and resolves DNS."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    with open(os.path.join(HERE, "targets.json")) as _f:
        TARGETS = json.load(_f)  # paths the test wants attacked; never the secret itself
except OSError:
    TARGETS = {}


class Report(Exception):
    """Carries what the attack found out through the only channel it has: the trial's error text."""


def report(found):
    for width in (None, 300, 100, 40):  # the harness keeps the last 4000 characters of the error text
        text = json.dumps({str(k): v if width is None else _short(v, width) for k, v in found.items()}, default=repr)
        if len(text) < 3000:
            break
    raise Report("REPORT " + text)


def _short(value, width):
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return (value if isinstance(value, str) else repr(value))[:width]


def attempt(fn, *args):
    """'ok: <result>' or '<exception type>: <message>', never raising."""
    try:
        return "ok: " + repr(fn(*args))[:200]
    except BaseException as exc:  # noqa: BLE001 - attack code reports everything
        return f"{type(exc).__name__}: {exc}"[:200]


import socket

import arena


def _tcp(host, port):
    with socket.create_connection((host, port), timeout=2) as conn:
        conn.sendall(b"hello from the sandbox")
        return "connected"


def _udp(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return sock.sendto(b"hello from the sandbox", (host, port))


def _unix(address):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(address)
        sock.sendall(b"hello from the sandbox")
        return "connected"


class Agent(arena.Agent):
    def adapt(self, env):
        port, udp_port = TARGETS.get("tcp_port", 1), TARGETS.get("udp_port", 1)
        found = {}
        for host in ["127.0.0.1", *TARGETS.get("host_ips", [])]:
            found[f"tcp {host}"] = attempt(_tcp, host, port)
            found[f"udp {host}"] = attempt(_udp, host, udp_port)
        found["unix path"] = attempt(_unix, TARGETS.get("unix_path", "/nonexistent"))
        found["unix abstract"] = attempt(_unix, "\0" + TARGETS.get("abstract", "x"))
        found["dns"] = attempt(socket.getaddrinfo, "pypi.org", 443)
        found["interfaces"] = attempt(socket.if_nameindex)
        report(found)

    def act(self, observation, info):
        return 0
