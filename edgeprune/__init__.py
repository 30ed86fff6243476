"""edgeprune: prune CNNs, deploy them to Jetson-class devices, and evaluate what actually runs there.

This module stays free of heavy imports: ``edgeprune.targets`` and ``edgeprune.metrics``
must import with numpy alone (plus the runtime on a device), and importing a
subpackage imports this file first.
"""

__version__ = "0.1.0"

from edgeprune.errors import EdgepruneError

__all__ = ["EdgepruneError", "__version__"]
