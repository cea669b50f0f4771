import sys

from deepiri_cli.main import main

sys.exit(main())
