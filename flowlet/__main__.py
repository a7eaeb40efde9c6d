import sys

from flowlet.cli import main

sys.exit(main())
