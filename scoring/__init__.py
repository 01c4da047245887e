"""Model training, registry and batch scoring."""

import os

# LightGBM's OpenMP threads busy-wait by default, which makes training and scoring ~10x slower whenever
# another process shares the cores (a scheduler job, the dashboard); passive waiting costs nothing when
# idle. It must be set before lightgbm is first imported, hence here, ahead of every scoring module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
