"""etcdplay agent: etcd members on other machines (docs/agent.md)."""
