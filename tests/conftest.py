import os

import matplotlib

matplotlib.use("Agg")

# Runs launched by tests never draw progress bars into the test log.
os.environ.setdefault("TQDM_DISABLE", "1")
