"""etcdplay: a playground and laboratory for Raft and etcd."""

# First, before any simulator module: decides whether the compiled core or
# the Python source is imported (see etcdplay/native.py).
from etcdplay import native as native

__version__ = "0.1.0"
