import sys

from litelora.cli.main import main

sys.exit(main())
