"""Platform adapters: the adapter protocol and registry, helpers platforms share, the delivery engine (`delivery/`)
and one package per platform."""
