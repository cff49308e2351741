"""etcdplay: a playground and laboratory for Raft and etcd."""

__version__ = "0.1.0"
