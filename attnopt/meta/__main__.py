import sys

from attnopt.meta.experiments import main

sys.exit(main())
