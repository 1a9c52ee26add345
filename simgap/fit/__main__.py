import sys

from simgap.fit.cli import main

sys.exit(main())
