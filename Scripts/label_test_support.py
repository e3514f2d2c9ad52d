"""Shared by the labeling app's browser and load tests (run as scripts from Scripts/, which puts
this folder on sys.path)."""
import socket


def free_port():
    """A loopback port nothing listens on right now, for a fresh `rlhf label serve`."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
